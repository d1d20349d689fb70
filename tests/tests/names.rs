//! Block names (issue 16): a block named when allocated (`AllocOptions::name`)
//! or later (`set_block_name`) shows in `stats` (the largest named blocks of
//! each heap), in the memory map (its object's named ranges, and the SVG's
//! tooltips) and through `block_name`, until it is freed; on every layout,
//! shared and dedicated blocks alike.

use {
    gpu_alloc::{AllocOptions, Dedicated, Request, UsageFlags},
    gpu_alloc_tests::{
        harness::{Harness, Preset},
        sim::Layout,
    },
};

fn request(size: u64, usage: UsageFlags) -> Request {
    Request {
        size,
        align_mask: 255,
        usage,
        memory_types: !0,
    }
}

#[test]
fn names_show_in_stats_and_the_memory_map_until_the_block_is_freed() {
    for layout in Layout::all() {
        let name = layout.name.clone();
        let mut h = Harness::new(layout, Preset::Prototyping.config());
        let device = UsageFlags::FAST_DEVICE_ACCESS;
        let mut blocks = Vec::new();
        // Ten named shared blocks of growing size, one unnamed, one named
        // dedicated block, one named later with a string made at run time.
        for i in 0..10u64 {
            let options = AllocOptions::new().name("mesh");
            blocks.push(
                h.try_alloc_with_options(request(4096 * (i + 1), device), options)
                    .unwrap(),
            );
        }
        let unnamed = h.try_alloc(request(8192, device), None).unwrap();
        let dedicated = AllocOptions::new()
            .dedicated(Dedicated::Required)
            .name("render target");
        let target = h
            .try_alloc_with_options(request(3 << 20, device), dedicated)
            .unwrap();
        let mut texture = h.try_alloc(request(100_000, device), None).unwrap();
        let texture_name = format!("texture <{}> & co", blocks.len());
        assert!(h
            .allocator
            .set_block_name(&mut texture, texture_name.clone()));

        assert_eq!(h.allocator.block_name(&blocks[3]), Some("mesh"), "{name}");
        assert_eq!(h.allocator.block_name(&unnamed), None, "{name}");
        assert_eq!(
            h.allocator.block_name(&target),
            Some("render target"),
            "{name}"
        );
        assert_eq!(
            h.allocator.block_name(&texture),
            Some(texture_name.as_str())
        );

        let stats = h.allocator.stats();
        let heap = h.device.properties().memory_types[target.memory_type() as usize].heap;
        let listed: Vec<_> = stats
            .named_blocks
            .iter()
            .filter(|b| b.heap == heap)
            .collect();
        assert_eq!(listed.len(), 8, "{name}: eight per heap at most");
        assert_eq!(listed[0].name, "render target", "{name}: the largest first");
        assert!(listed[0].dedicated);
        assert!(
            listed.windows(2).all(|w| w[0].size >= w[1].size),
            "{name}: by size"
        );
        assert!(listed.iter().any(|b| b.name == texture_name), "{name}");

        let map = h.allocator.memory_map();
        let mut named_ranges: Vec<_> = map.objects.iter().flat_map(|o| o.named.iter()).collect();
        named_ranges.sort_by_key(|r| r.size);
        assert_eq!(named_ranges.len(), 11, "{name}: the shared named blocks");
        for block in &blocks {
            assert!(
                named_ranges.iter().any(|r| r.name == "mesh"
                    && r.offset == block.offset()
                    && r.size == block.size()),
                "{name}: block at {} in the map",
                block.offset()
            );
        }
        let svg = map.to_svg();
        assert!(
            svg.contains("texture &lt;10&gt; &amp; co at offset"),
            "{name}: the name, escaped, in a tooltip"
        );

        // Freed blocks lose their names; a name given again replaces the old.
        assert!(h.allocator.set_block_name(&mut texture, "texture, renamed"));
        assert_eq!(h.allocator.block_name(&texture), Some("texture, renamed"));
        h.dealloc(target);
        for block in blocks.drain(..) {
            h.dealloc(block);
        }
        let stats = h.allocator.stats();
        assert_eq!(
            stats.named_blocks.len(),
            1,
            "{name}: {:?}",
            stats.named_blocks
        );
        assert_eq!(stats.named_blocks[0].name, "texture, renamed");
        h.dealloc(texture);
        h.dealloc(unnamed);
        assert!(h.allocator.stats().named_blocks.is_empty(), "{name}");
        assert!(h
            .allocator
            .memory_map()
            .objects
            .iter()
            .all(|o| o.named.is_empty()));
        h.cleanup();
        h.device.assert_clean();
    }
}

#[test]
fn a_block_of_another_allocator_takes_no_name() {
    let layout = Layout::all().into_iter().next().expect("a layout");
    let mut a = Harness::new(layout.clone(), Preset::Prototyping.config());
    let mut b = Harness::new(layout, Preset::Prototyping.config());
    let mut block = a
        .try_alloc(request(4096, UsageFlags::empty()), None)
        .unwrap();
    assert!(!b.allocator.set_block_name(&mut block, "stolen"));
    assert_eq!(b.allocator.block_name(&block), None);
    assert_eq!(a.allocator.block_name(&block), None);
    assert!(b.allocator.stats().named_blocks.is_empty());
    a.dealloc(block);
    a.cleanup();
    b.cleanup();
}
