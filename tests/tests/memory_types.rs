//! Which memory type the allocator picks, pinned for every layout of
//! `tests/devices` and a fixed list of usages, each row with its reason.
//!
//! The expected indices were derived by hand from the ranking rules written in
//! the core's docs (`gpu-alloc/src/usage.rs`, "How eligible types are ranked") and
//! the layouts, not copied from what the code returns. In short: eligible types
//! are in the mask, host-visible for host access, not lazily allocated, protected
//! or exotic unless asked; then, first difference deciding: (1) lazily allocated
//! for transient attachments, (2) cached for `DOWNLOAD`, (3) device-local when fast
//! device access is wanted (implied without host access), else not device-local,
//! (4) coherent for host access, (5) not host-visible without host access, (6)
//! uncached for host access without `DOWNLOAD`, (7) fewer property bits, (8) lower
//! index.

use {
    gpu_alloc::{Request, TryAllocError, UsageFlags},
    gpu_alloc_tests::{
        harness::{Harness, Preset, USAGES},
        sim::Layout,
    },
};

/// `(layout, usage, expected memory type, reason)`.
type Row = (&'static str, UsageFlags, u32, &'static str);

#[rustfmt::skip]
const TABLE: &[Row] = &[
    ("amd-renoir-apu-radv", UsageFlags::empty(), 0, "device-local and not host-visible: type 0; the AMD device-coherent types 7..10 are never eligible by default"),
    ("amd-renoir-apu-radv", UsageFlags::FAST_DEVICE_ACCESS, 0, "same as no usage: fast device access is implied"),
    ("amd-renoir-apu-radv", UsageFlags::HOST_ACCESS, 2, "host-visible; not device-local first (rule 3), then uncached (rule 6): system memory 2"),
    ("amd-renoir-apu-radv", UsageFlags::UPLOAD, 2, "write-only host access ranks as HOST_ACCESS: uncached system memory"),
    ("amd-renoir-apu-radv", UsageFlags::DOWNLOAD, 5, "HOST_CACHED first (rule 2): cached system memory 5"),
    ("amd-renoir-apu-radv", UsageFlags::UPLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 3, "device-local first (rule 3) among host-visible: the BAR type 3"),
    ("amd-renoir-apu-radv", UsageFlags::DOWNLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 5, "HOST_CACHED (rule 2) outranks DEVICE_LOCAL (rule 3); no type is both"),
    ("amd-renoir-apu-radv", UsageFlags::TRANSIENT.union(UsageFlags::UPLOAD), 2, "TRANSIENT only picks the strategy: ranks as UPLOAD"),
    ("amd-renoir-apu-radv", UsageFlags::HOST_ACCESS.union(UsageFlags::DOWNLOAD), 5, "ranks as DOWNLOAD: HOST_CACHED first"),
    ("amd-rx470-radv", UsageFlags::empty(), 0, "device-local and not host-visible: type 0 (lowest index of the equal types 0 and 1)"),
    ("amd-rx470-radv", UsageFlags::FAST_DEVICE_ACCESS, 0, "same as no usage: fast device access is implied"),
    ("amd-rx470-radv", UsageFlags::HOST_ACCESS, 2, "host-visible; not device-local first (rule 3), then uncached (rule 6): system memory 2"),
    ("amd-rx470-radv", UsageFlags::UPLOAD, 2, "write-only host access ranks as HOST_ACCESS: uncached system memory"),
    ("amd-rx470-radv", UsageFlags::DOWNLOAD, 5, "HOST_CACHED first (rule 2): cached system memory 5"),
    ("amd-rx470-radv", UsageFlags::UPLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 3, "device-local first (rule 3) among host-visible: the BAR type 3"),
    ("amd-rx470-radv", UsageFlags::DOWNLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 5, "HOST_CACHED (rule 2) outranks DEVICE_LOCAL (rule 3); no type is both"),
    ("amd-rx470-radv", UsageFlags::TRANSIENT.union(UsageFlags::UPLOAD), 2, "TRANSIENT only picks the strategy: ranks as UPLOAD"),
    ("amd-rx470-radv", UsageFlags::HOST_ACCESS.union(UsageFlags::DOWNLOAD), 5, "ranks as DOWNLOAD: HOST_CACHED first"),
    ("amd-rx6600-radv", UsageFlags::empty(), 0, "device-local and not host-visible: type 0; AMD device-coherent types 7..10 not eligible"),
    ("amd-rx6600-radv", UsageFlags::FAST_DEVICE_ACCESS, 0, "same as no usage: fast device access is implied"),
    ("amd-rx6600-radv", UsageFlags::HOST_ACCESS, 2, "host-visible; not device-local first (rule 3), then uncached (rule 6): system memory 2"),
    ("amd-rx6600-radv", UsageFlags::UPLOAD, 2, "write-only host access ranks as HOST_ACCESS: uncached system memory"),
    ("amd-rx6600-radv", UsageFlags::DOWNLOAD, 5, "HOST_CACHED first (rule 2): cached system memory 5"),
    ("amd-rx6600-radv", UsageFlags::UPLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 3, "device-local first (rule 3) among host-visible: the BAR type 3"),
    ("amd-rx6600-radv", UsageFlags::DOWNLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 5, "HOST_CACHED (rule 2) outranks DEVICE_LOCAL (rule 3); no type is both"),
    ("amd-rx6600-radv", UsageFlags::TRANSIENT.union(UsageFlags::UPLOAD), 2, "TRANSIENT only picks the strategy: ranks as UPLOAD"),
    ("amd-rx6600-radv", UsageFlags::HOST_ACCESS.union(UsageFlags::DOWNLOAD), 5, "ranks as DOWNLOAD: HOST_CACHED first"),
    ("amd-rx6600-windows", UsageFlags::empty(), 0, "device-local and not host-visible: type 0; AMD device-coherent types 4..7 not eligible"),
    ("amd-rx6600-windows", UsageFlags::FAST_DEVICE_ACCESS, 0, "same as no usage: fast device access is implied"),
    ("amd-rx6600-windows", UsageFlags::HOST_ACCESS, 1, "host-visible; not device-local first (rule 3), then uncached (rule 6): system memory 1"),
    ("amd-rx6600-windows", UsageFlags::UPLOAD, 1, "write-only host access ranks as HOST_ACCESS: uncached system memory"),
    ("amd-rx6600-windows", UsageFlags::DOWNLOAD, 3, "HOST_CACHED first (rule 2): cached system memory 3"),
    ("amd-rx6600-windows", UsageFlags::UPLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 2, "device-local first (rule 3) among host-visible: the BAR type 2"),
    ("amd-rx6600-windows", UsageFlags::DOWNLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 3, "HOST_CACHED (rule 2) outranks DEVICE_LOCAL (rule 3); no type is both"),
    ("amd-rx6600-windows", UsageFlags::TRANSIENT.union(UsageFlags::UPLOAD), 1, "TRANSIENT only picks the strategy: ranks as UPLOAD"),
    ("amd-rx6600-windows", UsageFlags::HOST_ACCESS.union(UsageFlags::DOWNLOAD), 3, "ranks as DOWNLOAD: HOST_CACHED first"),
    ("apple-m1-moltenvk", UsageFlags::empty(), 0, "device-local, not host-visible; the LAZILY_ALLOCATED type 3 needs TRANSIENT_ATTACHMENT"),
    ("apple-m1-moltenvk", UsageFlags::FAST_DEVICE_ACCESS, 0, "same as no usage"),
    ("apple-m1-moltenvk", UsageFlags::HOST_ACCESS, 1, "both host-visible types are device-local (rule 3 ties); HOST_COHERENT first (rule 4): 1 over non-coherent 2"),
    ("apple-m1-moltenvk", UsageFlags::UPLOAD, 1, "as HOST_ACCESS: coherent 1 over non-coherent 2"),
    ("apple-m1-moltenvk", UsageFlags::DOWNLOAD, 1, "both host-visible types are cached; coherent 1 over 2"),
    ("apple-m1-moltenvk", UsageFlags::UPLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 1, "both device-local; coherent 1 over 2"),
    ("apple-m1-moltenvk", UsageFlags::DOWNLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 1, "both cached and device-local; coherent 1 over 2"),
    ("apple-m1-moltenvk", UsageFlags::TRANSIENT.union(UsageFlags::UPLOAD), 1, "ranks as UPLOAD"),
    ("apple-m1-moltenvk", UsageFlags::HOST_ACCESS.union(UsageFlags::DOWNLOAD), 1, "ranks as DOWNLOAD"),
    ("apple-m3max-moltenvk", UsageFlags::empty(), 0, "device-local, not host-visible; lazily allocated type 2 not eligible"),
    ("apple-m3max-moltenvk", UsageFlags::FAST_DEVICE_ACCESS, 0, "same as no usage"),
    ("apple-m3max-moltenvk", UsageFlags::HOST_ACCESS, 1, "the only host-visible type"),
    ("apple-m3max-moltenvk", UsageFlags::UPLOAD, 1, "the only host-visible type"),
    ("apple-m3max-moltenvk", UsageFlags::DOWNLOAD, 1, "the only host-visible type (cached)"),
    ("apple-m3max-moltenvk", UsageFlags::UPLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 1, "the only host-visible type"),
    ("apple-m3max-moltenvk", UsageFlags::DOWNLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 1, "the only host-visible type"),
    ("apple-m3max-moltenvk", UsageFlags::TRANSIENT.union(UsageFlags::UPLOAD), 1, "the only host-visible type"),
    ("apple-m3max-moltenvk", UsageFlags::HOST_ACCESS.union(UsageFlags::DOWNLOAD), 1, "the only host-visible type"),
    ("intel-adl-gt2-anv", UsageFlags::empty(), 0, "device-local and not host-visible (rule 5)"),
    ("intel-adl-gt2-anv", UsageFlags::FAST_DEVICE_ACCESS, 0, "same as no usage"),
    ("intel-adl-gt2-anv", UsageFlags::HOST_ACCESS, 1, "all device-local, both coherent; uncached 1 over cached 2 (rule 6)"),
    ("intel-adl-gt2-anv", UsageFlags::UPLOAD, 1, "write-only host access: uncached 1 (rule 6)"),
    ("intel-adl-gt2-anv", UsageFlags::DOWNLOAD, 2, "HOST_CACHED first (rule 2): 2"),
    ("intel-adl-gt2-anv", UsageFlags::UPLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 1, "all device-local; uncached 1 (rule 6)"),
    ("intel-adl-gt2-anv", UsageFlags::DOWNLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 2, "HOST_CACHED first (rule 2)"),
    ("intel-adl-gt2-anv", UsageFlags::TRANSIENT.union(UsageFlags::UPLOAD), 1, "ranks as UPLOAD"),
    ("intel-adl-gt2-anv", UsageFlags::HOST_ACCESS.union(UsageFlags::DOWNLOAD), 2, "ranks as DOWNLOAD"),
    ("intel-arc-b60-anv", UsageFlags::empty(), 0, "device-local and not host-visible; lowest index of 0, 1, 4"),
    ("intel-arc-b60-anv", UsageFlags::FAST_DEVICE_ACCESS, 0, "same as no usage"),
    ("intel-arc-b60-anv", UsageFlags::HOST_ACCESS, 2, "not device-local first (rule 3) beats uncached (rule 6): cached system memory 2 over the BAR 3"),
    ("intel-arc-b60-anv", UsageFlags::UPLOAD, 2, "as HOST_ACCESS: system memory 2 (rule 3 before rule 6)"),
    ("intel-arc-b60-anv", UsageFlags::DOWNLOAD, 2, "HOST_CACHED first: 2 (lower index than 5)"),
    ("intel-arc-b60-anv", UsageFlags::UPLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 3, "device-local host-visible: BAR types 3 and 6, lower index"),
    ("intel-arc-b60-anv", UsageFlags::DOWNLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 2, "HOST_CACHED (rule 2) outranks DEVICE_LOCAL; no type is both"),
    ("intel-arc-b60-anv", UsageFlags::TRANSIENT.union(UsageFlags::UPLOAD), 2, "ranks as UPLOAD"),
    ("intel-arc-b60-anv", UsageFlags::HOST_ACCESS.union(UsageFlags::DOWNLOAD), 2, "ranks as DOWNLOAD"),
    ("intel-tgl-gt2-anv", UsageFlags::empty(), 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("intel-tgl-gt2-anv", UsageFlags::FAST_DEVICE_ACCESS, 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("intel-tgl-gt2-anv", UsageFlags::HOST_ACCESS, 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("intel-tgl-gt2-anv", UsageFlags::UPLOAD, 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("intel-tgl-gt2-anv", UsageFlags::DOWNLOAD, 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("intel-tgl-gt2-anv", UsageFlags::UPLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("intel-tgl-gt2-anv", UsageFlags::DOWNLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("intel-tgl-gt2-anv", UsageFlags::TRANSIENT.union(UsageFlags::UPLOAD), 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("intel-tgl-gt2-anv", UsageFlags::HOST_ACCESS.union(UsageFlags::DOWNLOAD), 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("lavapipe-llvm15", UsageFlags::empty(), 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("lavapipe-llvm15", UsageFlags::FAST_DEVICE_ACCESS, 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("lavapipe-llvm15", UsageFlags::HOST_ACCESS, 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("lavapipe-llvm15", UsageFlags::UPLOAD, 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("lavapipe-llvm15", UsageFlags::DOWNLOAD, 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("lavapipe-llvm15", UsageFlags::UPLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("lavapipe-llvm15", UsageFlags::DOWNLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("lavapipe-llvm15", UsageFlags::TRANSIENT.union(UsageFlags::UPLOAD), 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("lavapipe-llvm15", UsageFlags::HOST_ACCESS.union(UsageFlags::DOWNLOAD), 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("llvmpipe-mesa23", UsageFlags::empty(), 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("llvmpipe-mesa23", UsageFlags::FAST_DEVICE_ACCESS, 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("llvmpipe-mesa23", UsageFlags::HOST_ACCESS, 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("llvmpipe-mesa23", UsageFlags::UPLOAD, 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("llvmpipe-mesa23", UsageFlags::DOWNLOAD, 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("llvmpipe-mesa23", UsageFlags::UPLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("llvmpipe-mesa23", UsageFlags::DOWNLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("llvmpipe-mesa23", UsageFlags::TRANSIENT.union(UsageFlags::UPLOAD), 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("llvmpipe-mesa23", UsageFlags::HOST_ACCESS.union(UsageFlags::DOWNLOAD), 0, "the only memory type (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED)"),
    ("nvidia-h200", UsageFlags::empty(), 1, "device-local and not host-visible: type 1; type 0 (no property bits) loses on rule 3"),
    ("nvidia-h200", UsageFlags::FAST_DEVICE_ACCESS, 1, "same as no usage: fast device access is implied"),
    ("nvidia-h200", UsageFlags::HOST_ACCESS, 2, "host-visible; not device-local first (rule 3), then uncached (rule 6): system memory 2"),
    ("nvidia-h200", UsageFlags::UPLOAD, 2, "write-only host access ranks as HOST_ACCESS: uncached system memory"),
    ("nvidia-h200", UsageFlags::DOWNLOAD, 3, "HOST_CACHED first (rule 2): cached system memory 3"),
    ("nvidia-h200", UsageFlags::UPLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 4, "device-local first (rule 3) among host-visible: the BAR type 4"),
    ("nvidia-h200", UsageFlags::DOWNLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 3, "HOST_CACHED (rule 2) outranks DEVICE_LOCAL (rule 3); no type is both"),
    ("nvidia-h200", UsageFlags::TRANSIENT.union(UsageFlags::UPLOAD), 2, "TRANSIENT only picks the strategy: ranks as UPLOAD"),
    ("nvidia-h200", UsageFlags::HOST_ACCESS.union(UsageFlags::DOWNLOAD), 3, "ranks as DOWNLOAD: HOST_CACHED first"),
    ("nvidia-rtx2060super-windows", UsageFlags::empty(), 1, "device-local and not host-visible: type 1; the BAR type 4 is host-visible, so it ranks after"),
    ("nvidia-rtx2060super-windows", UsageFlags::FAST_DEVICE_ACCESS, 1, "same as no usage: fast device access is implied"),
    ("nvidia-rtx2060super-windows", UsageFlags::HOST_ACCESS, 2, "host-visible; not device-local first (rule 3), then uncached (rule 6): system memory 2"),
    ("nvidia-rtx2060super-windows", UsageFlags::UPLOAD, 2, "write-only host access ranks as HOST_ACCESS: uncached system memory"),
    ("nvidia-rtx2060super-windows", UsageFlags::DOWNLOAD, 3, "HOST_CACHED first (rule 2): cached system memory 3"),
    ("nvidia-rtx2060super-windows", UsageFlags::UPLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 4, "device-local first (rule 3) among host-visible: the BAR type 4"),
    ("nvidia-rtx2060super-windows", UsageFlags::DOWNLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 3, "HOST_CACHED (rule 2) outranks DEVICE_LOCAL (rule 3); no type is both"),
    ("nvidia-rtx2060super-windows", UsageFlags::TRANSIENT.union(UsageFlags::UPLOAD), 2, "TRANSIENT only picks the strategy: ranks as UPLOAD"),
    ("nvidia-rtx2060super-windows", UsageFlags::HOST_ACCESS.union(UsageFlags::DOWNLOAD), 3, "ranks as DOWNLOAD: HOST_CACHED first"),
    ("nvidia-rtx3060ti-linux", UsageFlags::empty(), 7, "device-local and not host-visible: type 7; types 0..6 have no property bits"),
    ("nvidia-rtx3060ti-linux", UsageFlags::FAST_DEVICE_ACCESS, 7, "same as no usage: fast device access is implied"),
    ("nvidia-rtx3060ti-linux", UsageFlags::HOST_ACCESS, 8, "host-visible; not device-local first (rule 3), then uncached (rule 6): system memory 8"),
    ("nvidia-rtx3060ti-linux", UsageFlags::UPLOAD, 8, "write-only host access ranks as HOST_ACCESS: uncached system memory"),
    ("nvidia-rtx3060ti-linux", UsageFlags::DOWNLOAD, 9, "HOST_CACHED first (rule 2): cached system memory 9"),
    ("nvidia-rtx3060ti-linux", UsageFlags::UPLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 10, "device-local first (rule 3) among host-visible: the BAR type 10"),
    ("nvidia-rtx3060ti-linux", UsageFlags::DOWNLOAD.union(UsageFlags::FAST_DEVICE_ACCESS), 9, "HOST_CACHED (rule 2) outranks DEVICE_LOCAL (rule 3); no type is both"),
    ("nvidia-rtx3060ti-linux", UsageFlags::TRANSIENT.union(UsageFlags::UPLOAD), 8, "TRANSIENT only picks the strategy: ranks as UPLOAD"),
    ("nvidia-rtx3060ti-linux", UsageFlags::HOST_ACCESS.union(UsageFlags::DOWNLOAD), 9, "ranks as DOWNLOAD: HOST_CACHED first"),

];

/// Rows beyond the fixed usage list: transient attachments, which may use lazily
/// allocated memory.
#[rustfmt::skip]
const EXTRA: &[Row] = &[
    ("apple-m1-moltenvk", UsageFlags::TRANSIENT_ATTACHMENT, 3, "LAZILY_ALLOCATED first for transient attachments (rule 1)"),
    ("apple-m1-moltenvk", UsageFlags::TRANSIENT_ATTACHMENT.union(UsageFlags::UPLOAD), 1, "host access rules out lazily allocated memory: as UPLOAD"),
    ("apple-m3max-moltenvk", UsageFlags::TRANSIENT_ATTACHMENT, 2, "LAZILY_ALLOCATED first (rule 1)"),
    ("nvidia-h200", UsageFlags::TRANSIENT_ATTACHMENT, 1, "no lazily allocated type: as no usage"),
    ("intel-tgl-gt2-anv", UsageFlags::TRANSIENT_ATTACHMENT, 0, "no lazily allocated type: the only type"),
];

/// Allocates a small block with `usage` and every type allowed; returns its type.
fn chosen(harness: &mut Harness, usage: UsageFlags) -> Result<u32, TryAllocError> {
    let request = Request {
        size: 256,
        align_mask: 255,
        usage,
        memory_types: !0,
    };
    let block = harness.try_alloc(request, None)?;
    let ty = block.memory_type();
    harness.dealloc(block);
    Ok(ty)
}

fn check_rows(rows: &[Row]) {
    let mut failures = Vec::new();
    for &(layout, usage, expected, reason) in rows {
        for preset in Preset::ALL {
            let mut harness = Harness::named(layout, preset);
            match chosen(&mut harness, usage) {
                Ok(ty) if ty == expected => {}
                other => failures.push(format!(
                    "{layout} {usage:?} ({preset:?}): expected type {expected} ({reason}), got {other:?}"
                )),
            }
            harness.cleanup();
            harness.device.assert_clean();
        }
    }
    assert!(
        failures.is_empty(),
        "{} wrong choices:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn memory_type_choice_table() {
    check_rows(TABLE);
}

#[test]
fn transient_attachment_rows() {
    check_rows(EXTRA);
}

#[test]
fn table_covers_every_layout_and_usage() {
    for layout in Layout::all() {
        for usage in USAGES {
            let count = TABLE
                .iter()
                .filter(|row| row.0 == layout.name && row.1 == usage)
                .count();
            assert_eq!(count, 1, "{} {usage:?}: {count} rows", layout.name);
        }
    }
    assert_eq!(TABLE.len(), Layout::all().len() * USAGES.len());
}

/// Expected types must make sense on their own: in range and eligible.
#[test]
fn table_rows_are_eligible() {
    for &(name, usage, expected, reason) in TABLE.iter().chain(EXTRA) {
        let layout = Layout::named(name);
        let request = Request {
            size: 1,
            align_mask: 0,
            usage,
            memory_types: !0,
        };
        let eligible = gpu_alloc_tests::harness::eligible_types(&layout, &request, 0);
        assert!(
            eligible.contains(&expected),
            "{name} {usage:?}: {expected} ({reason})"
        );
    }
}

/// AMD device-coherent types are chosen only when allowed, and even then only
/// where nothing plainer ranks first.
#[test]
fn amd_device_coherent_types_need_permission() {
    let only_7 = Request {
        size: 256,
        align_mask: 255,
        usage: UsageFlags::empty(),
        memory_types: 1 << 7,
    };
    let mut harness = Harness::named("amd-rx6600-radv", Preset::Potato);
    assert_eq!(
        harness.try_alloc(only_7, None).err(),
        Some(TryAllocError::NoCompatibleMemoryTypes),
        "type 7 (DEVICE_LOCAL | DEVICE_COHERENT_AMD | DEVICE_UNCACHED_AMD) is not eligible by default"
    );
    harness.allocator.allow_memory_properties(0xC0);
    let block = harness.try_alloc(only_7, None).expect("allowed now");
    assert_eq!(block.memory_type(), 7);
    harness.dealloc(block);
    // With every type allowed, plain device-local memory still ranks first
    // (rule 7: fewer property bits).
    assert_eq!(chosen(&mut harness, UsageFlags::empty()), Ok(0));
    harness.cleanup();
    harness.device.assert_clean();
}

/// No fixture has protected memory: `PROTECTED` finds no type, and plain usages
/// never get a protected type on a layout that has one.
#[test]
fn protected_usage() {
    for layout in Layout::all() {
        let mut harness = Harness::new(layout.clone(), Preset::Potato.config());
        assert_eq!(
            chosen(&mut harness, UsageFlags::PROTECTED),
            Err(TryAllocError::NoCompatibleMemoryTypes),
            "{}",
            layout.name
        );
        harness.device.assert_clean();
    }
    let mut layout = Layout::named("nvidia-h200");
    // Make type 1 protected device-local memory: plain requests move to type 4,
    // protected ones get type 1.
    layout.memory_types[1].flags |= 0x20;
    let mut harness = Harness::new(layout, Preset::Potato.config());
    assert_eq!(chosen(&mut harness, UsageFlags::PROTECTED), Ok(1));
    assert_eq!(chosen(&mut harness, UsageFlags::empty()), Ok(4));
    harness.cleanup();
    harness.device.assert_clean();
}
