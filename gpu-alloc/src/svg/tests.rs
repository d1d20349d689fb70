//! Tests of the SVG memory map: well-formed output, one row per object.

use {
    crate::stats::{
        AllocatorStats, HeapStats, MapRange, MemoryMap, MemoryObjectMap, MemoryTypeStats,
        ObjectKind,
    },
    alloc::{string::String, vec, vec::Vec},
    gpu_alloc_types::{HeapBudget, MemoryPropertyFlags},
};

fn heap(heap: u32, size: u64, objects: u32, budget: Option<HeapBudget>) -> HeapStats {
    HeapStats {
        heap,
        size,
        limit: size,
        budget,
        memory_objects: objects,
        reserved: 3 << 20,
        used: 1 << 20,
        blocks: 4,
        free: 2 << 20,
        largest_free: 1 << 20,
        fragmentation: 0.5,
    }
}

fn memory_type(memory_type: u32, heap: u32, props: MemoryPropertyFlags) -> MemoryTypeStats {
    MemoryTypeStats {
        memory_type,
        heap,
        props,
        memory_objects: 2,
        dedicated_objects: 1,
        reserved: 3 << 20,
        used: 1 << 20,
        blocks: 4,
        free: 2 << 20,
        largest_free: 1 << 20,
        fragmentation: 0.5,
    }
}

fn object(
    memory_type: u32,
    heap: u32,
    kind: ObjectKind,
    ranges: &[(u64, bool)],
) -> MemoryObjectMap {
    let mut offset = 0;
    let ranges: Vec<MapRange> = ranges
        .iter()
        .map(|&(size, used)| {
            let range = MapRange { offset, size, used };
            offset += size;
            range
        })
        .collect();
    MemoryObjectMap {
        memory_type,
        heap,
        kind,
        resource: crate::ResourceKind::Unknown,
        size: offset,
        ranges,
        named: Vec::new(),
        pool: None,
    }
}

/// Two heaps, three memory types (one without objects), every kind of object,
/// free ranges both wide and too narrow to see.
fn sample() -> MemoryMap {
    let heaps = vec![
        heap(
            0,
            8 << 30,
            4,
            Some(HeapBudget {
                budget: 7 << 30,
                usage: 3 << 20,
            }),
        ),
        heap(1, 16 << 30, 1, None),
        heap(2, 256 << 20, 0, None),
    ];
    let memory_types = vec![
        memory_type(
            0,
            1,
            MemoryPropertyFlags::HOST_VISIBLE | MemoryPropertyFlags::HOST_COHERENT,
        ),
        memory_type(1, 0, MemoryPropertyFlags::DEVICE_LOCAL),
        memory_type(2, 1, MemoryPropertyFlags::empty()),
    ];
    let objects = vec![
        object(
            1,
            0,
            ObjectKind::General,
            &[(4096, true), (16, false), (1 << 20, true), (1 << 22, false)],
        ),
        object(1, 0, ObjectKind::General, &[(8 << 20, false)]),
        object(
            0,
            1,
            ObjectKind::Transient,
            &[(1 << 20, true), (7 << 20, false)],
        ),
    ];
    let dedicated = vec![
        (1, 0, 64 << 20, ObjectKind::Dedicated),
        (1, 0, 32 << 20, ObjectKind::Imported),
    ];
    MemoryMap {
        stats: AllocatorStats {
            heaps,
            memory_types,
            memory_objects: 5,
            reserved: 6 << 20,
            used: 2 << 20,
            blocks: 8,
            remaining_allocations: 4091,
            cached: 0,
            hints_dropped: 0,
            budget_refreshes: 0,
            named_blocks: Vec::new(),
            pools: Vec::new(),
            defrag: Default::default(),
            movable_blocks: 0,
        },
        objects,
        dedicated,
    }
}

/// Checks that every tag is closed in order and returns the number of elements
/// by name. A small XML reader: enough for what `to_svg` writes (no comments,
/// no CDATA, attribute values without `>`).
fn check_tags(svg: &str) -> Vec<(String, usize)> {
    let mut stack: Vec<&str> = Vec::new();
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("unterminated tag") + start;
        let tag = &rest[start + 1..end];
        assert!(!tag.contains('<'), "`<` inside a tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name), "mismatched closing tag </{name}>");
        } else {
            let name = tag
                .split_whitespace()
                .next()
                .expect("empty tag")
                .trim_end_matches('/');
            match counts.iter_mut().find(|(n, _)| n == name) {
                Some((_, count)) => *count += 1,
                None => counts.push((name.into(), 1)),
            }
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        // Text between tags must not hold a bare `>` or `&`.
        let next = rest[end + 1..]
            .find('<')
            .map_or(rest.len(), |n| n + end + 1);
        let text = &rest[end + 1..next];
        let bare_amp = text.match_indices('&').any(|(at, _)| {
            !["&lt;", "&gt;", "&amp;", "&quot;", "&apos;"]
                .iter()
                .any(|e| text[at..].starts_with(e))
        });
        assert!(!text.contains('>') && !bare_amp, "unescaped text: {text}");
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
    counts
}

fn count(counts: &[(String, usize)], name: &str) -> usize {
    counts
        .iter()
        .find(|(n, _)| n == name)
        .map_or(0, |(_, c)| *c)
}

#[test]
fn well_formed_with_one_row_per_object() {
    let map = sample();
    let svg = map.to_svg();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.ends_with("</svg>\n"));
    let counts = check_tags(&svg);
    assert_eq!(count(&counts, "svg"), 1);
    assert_eq!(
        svg.matches(r#"<g class="row""#).count(),
        5,
        "one row per object"
    );
    assert!(
        !svg.contains("NaN") && !svg.contains("inf"),
        "bad number in {svg}"
    );
    // Headers name the heaps and the memory types' properties.
    for text in [
        "Heap 0",
        "Heap 1",
        "Heap 2",
        "DEVICE_LOCAL",
        "HOST_VISIBLE | HOST_COHERENT",
    ] {
        assert!(svg.contains(text), "missing {text}");
    }
    // Type 2 holds no object: no header for it.
    assert!(!svg.contains("Type 2:"));
    assert!(svg.contains("no memory objects"), "heap 2 is empty");
    assert!(svg.contains("budget 7.00 GiB"));
    // The 16-byte hole is drawn as a 1-pixel sliver.
    assert!(svg.contains(super::SLIVER));
    // A transient object shows how far its bump pointer went.
    assert!(
        svg.contains(">12% bumped · 7.00 MiB free past it<"),
        "{svg}"
    );
    // Legend.
    for name in ["general", "transient", "dedicated", "imported", "free"] {
        assert!(svg.contains(name), "legend lacks {name}");
    }
}

#[test]
fn rows_grouped_by_heap_then_type() {
    let svg = sample().to_svg();
    let heap0 = svg.find("Heap 0").unwrap();
    let heap1 = svg.find("Heap 1").unwrap();
    let type1 = svg.find("Type 1:").unwrap();
    let type0 = svg.find("Type 0:").unwrap();
    assert!(heap0 < type1 && type1 < heap1 && heap1 < type0);
    // The dedicated rows come after the shared rows of their type.
    let general = svg.find(">general 5.00 MiB<").expect("general row");
    let dedicated = svg.find(">dedicated 64.0 MiB<").expect("dedicated row");
    let imported = svg.find(">imported 32.0 MiB<").expect("imported row");
    assert!(general < dedicated && dedicated < imported && imported < heap1);
}

#[test]
fn empty_map() {
    let mut map = sample();
    map.objects.clear();
    map.dedicated.clear();
    let svg = map.to_svg();
    check_tags(&svg);
    assert_eq!(svg.matches(r#"<g class="row""#).count(), 0);
    map.stats.heaps.clear();
    map.stats.memory_types.clear();
    check_tags(&map.to_svg());
}

#[test]
fn byte_labels() {
    use super::Bytes;
    let cases = [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.00 KiB"),
        (64 << 10, "64.0 KiB"),
        (312 << 20, "312 MiB"),
        ((7 << 30) + (512 << 20), "7.50 GiB"),
    ];
    for (bytes, text) in cases {
        assert_eq!(alloc::format!("{}", Bytes(bytes)), text);
    }
}

#[test]
fn titles_are_escaped() {
    let svg = sample().to_svg_with_title("R&D <GPU> \"x\" 'y'\u{7}");
    check_tags(&svg);
    assert!(svg.contains("R&amp;D &lt;GPU&gt; &quot;x&quot; &apos;y&apos; "));
    assert!(sample().to_svg().contains(">gpu-alloc memory map<"));
}

/// A user pool's objects are drawn in the pool colour and name their pool
/// (escaped) right of the bar, whether used or empty.
#[test]
fn pool_rows_name_their_pool() {
    let mut map = sample();
    let mut used = object(1, 0, ObjectKind::Pool, &[(3 << 20, true), (1 << 20, false)]);
    used.pool = Some("level <geometry> & co".into());
    let mut empty = object(0, 1, ObjectKind::Pool, &[(2 << 20, false)]);
    empty.pool = Some("frame uploads".into());
    map.objects.extend([used, empty]);
    let svg = map.to_svg();
    check_tags(&svg);
    assert_eq!(svg.matches(r#"<g class="row""#).count(), 7);
    assert!(svg.contains(">pool 4.00 MiB<"), "{svg}");
    assert!(
        svg.contains(
            ">&quot;level &lt;geometry&gt; &amp; co&quot; · 75% used · 1.00 MiB free in 1 range<"
        ),
        "{svg}"
    );
    assert!(
        svg.contains(">&quot;frame uploads&quot; · empty (kept for reuse)<"),
        "{svg}"
    );
    assert!(svg.contains(super::colour(ObjectKind::Pool)));
    assert!(svg.contains("user pool"), "legend lacks the pool");
    // Objects of no pool name none.
    assert_eq!(svg.matches("&quot; · ").count(), 2);
}
