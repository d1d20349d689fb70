//! A leak report names the named blocks left when an allocator is dropped
//! (issue 16). Alone in its test binary: the count of reported problems is
//! process-wide, so no other test may report meanwhile.

use {
    gpu_alloc::{reported_problems, AllocOptions, Request, UsageFlags},
    gpu_alloc_tests::{
        harness::{Harness, Preset},
        sim::Layout,
    },
};

/// Problems reported while an allocator holding one live block (named or
/// not) is dropped, and then the block.
fn reports_when_dropped_with_a_block(named: bool) -> usize {
    let layout = Layout::all().into_iter().next().expect("a layout");
    let mut h = Harness::new(layout, Preset::Prototyping.config());
    let request = Request {
        size: 4096,
        align_mask: 255,
        usage: UsageFlags::empty(),
        memory_types: !0,
    };
    let options = if named {
        AllocOptions::new().name("leaked texture")
    } else {
        AllocOptions::new()
    };
    let block = h.try_alloc_with_options(request, options).unwrap();
    let before = reported_problems();
    drop(h);
    drop(block);
    reported_problems() - before
}

#[test]
fn a_leak_report_names_the_named_blocks_left() {
    let unnamed = reports_when_dropped_with_a_block(false);
    let named = reports_when_dropped_with_a_block(true);
    assert!(unnamed >= 1, "the leak itself is reported");
    assert_eq!(
        named,
        unnamed + 1,
        "one more report: the names of the blocks left"
    );
}
