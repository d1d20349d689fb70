use super::*;
use alloc::collections::BTreeMap;

/// Every size up to `SLAB_MAX` and alignment up to 4 KiB: a class's slot holds
/// the request, is a multiple of its alignment, loses at most a quarter, and one
/// slot size has one index.
#[test]
fn classes_hold_and_align_their_requests() {
    let mut index_of_slot = BTreeMap::new();
    for align_log in 0..=12 {
        let align_mask = (1u64 << align_log) - 1;
        for size in (1..=SLAB_MAX)
            .step_by(7)
            .chain([16, 128, 129, 4096, SLAB_MAX])
        {
            let Some((index, slot)) = class_of(size, align_mask) else {
                // Refused only when the alignment is large for the size, the size
                // tiny (and not a multiple of 16), or the aligned size too large.
                let aligned = align_up(size, align_mask).unwrap();
                assert!(
                    align_mask + 1 > size / 8 || size < 64 || aligned > SLAB_MAX,
                    "{size} {align_mask} refused"
                );
                continue;
            };
            assert!(index < CLASS_COUNT && index != 7, "{size}: index {index}");
            assert!(
                slot >= size && slot - size <= size / 4,
                "{size}: slot {slot}"
            );
            assert_eq!(slot & align_mask, 0, "{size} {align_mask}: slot {slot}");
            assert_eq!(slot % 16, 0);
            assert!(slab_align_mask(slot) >= align_mask);
            assert_eq!(*index_of_slot.entry(slot).or_insert(index), index);
        }
    }
    // Distinct slots, distinct indices.
    let mut seen = BTreeMap::new();
    for (&slot, &index) in &index_of_slot {
        assert_eq!(seen.insert(index, slot), None, "index {index} shared");
    }
    assert_eq!(class_of(SLAB_MAX + 1, 0), None);
    assert_eq!(class_of(100, 8191), None, "8 KiB slot for 100 bytes");
}

/// The lookup tables give what the formula gives, for every size and alignment.
#[test]
fn class_tables_match_the_formula() {
    for align_log in 0..=15 {
        let align_mask = (1u64 << align_log) - 1;
        for size in 1..=SLAB_MAX + 16 {
            assert_eq!(
                class_of(size, align_mask),
                class_of_by_formula(size, align_mask),
                "size {size}, align mask {align_mask}"
            );
        }
    }
}

#[test]
fn slots_fit_the_room() {
    assert_eq!(slots_for(16, 0, u64::MAX), Some(8));
    assert_eq!(slots_for(16, 1, u64::MAX), Some(16));
    assert_eq!(slots_for(16, 3, u64::MAX), Some(64));
    assert_eq!(slots_for(16, 30, u64::MAX), Some(64));
    assert_eq!(slots_for(SLAB_MAX, 5, u64::MAX), Some(16));
    assert_eq!(slots_for(4096, 5, 64 * 1024), Some(16));
    assert_eq!(slots_for(4096, 0, 16 * 1024), None);
}

fn range(chunk: u32, offset: u64, slot: u64, slots: u32) -> SlabRange {
    SlabRange {
        chunk,
        offset,
        size: slot * u64::from(slots),
        handle: chunk * 1000 + offset as u32,
    }
}

/// Fill two slabs, free in another order: no slot is handed out twice, emptied
/// slabs stay in their class and are reused, their bytes are counted per memory
/// object, and they come out when asked (per object, or all).
#[test]
fn slots_are_unique_and_empty_slabs_stay() {
    let mut slabs = Slabs::new();
    let (class, slot) = class_of(1000, 15).unwrap();
    assert!(slabs.add(class, slot, 8, range(0, 0, slot, 8), ()));
    let mut blocks = Vec::new();
    while let Some(b) = slabs.alloc(class, 1000) {
        blocks.push(b);
        slabs.check_invariants();
    }
    assert_eq!(blocks.len(), 8);
    assert!(slabs.add(class, slot, 8, range(1, 8192, slot, 8), ()));
    for _ in 0..4 {
        blocks.push(slabs.alloc(class, 1000).unwrap());
    }
    let mut offsets: Vec<(u32, u64)> = blocks.iter().map(|&(p, ())| (p.chunk, p.offset)).collect();
    offsets.sort_unstable();
    offsets.dedup();
    assert_eq!(offsets.len(), 12, "a slot handed out twice");
    assert_eq!(slabs.block_bytes(), 12 * 1000);
    // Empty the first slab: it stays, counted as empty in memory object 0.
    let mut emptied = Vec::new();
    for &(Placement { handle, .. }, ()) in &blocks[..8] {
        match slabs.free(handle, 1000) {
            SlabFree::Done => {}
            SlabFree::Emptied { chunk } => emptied.push(chunk),
        }
        slabs.check_invariants();
    }
    assert_eq!(emptied, [0]);
    assert_eq!((slabs.empty_in(0), slabs.empty_in(1)), (slot * 8, 0));
    assert!(slabs.has_empty());
    // The next blocks of the class fill the slabs again, the empty one too.
    let refill: Vec<_> = (0..12).map(|_| slabs.alloc(class, 1000).unwrap()).collect();
    assert!(slabs.alloc(class, 1000).is_none(), "both slabs are full");
    assert_eq!(slabs.empty_in(0), 0);
    assert!(!slabs.has_empty());
    slabs.check_invariants();
    // Empty both; another class's slab stays in use.
    let (other, other_slot) = class_of(200, 15).unwrap();
    assert!(slabs.add(other, other_slot, 8, range(2, 0, other_slot, 8), ()));
    let (
        Placement {
            handle: other_handle,
            ..
        },
        (),
    ) = slabs.alloc(other, 200).unwrap();
    let mut emptied: Vec<u32> = refill
        .iter()
        .chain(&blocks[8..])
        .filter_map(
            |&(Placement { handle, .. }, ())| match slabs.free(handle, 1000) {
                SlabFree::Done => None,
                SlabFree::Emptied { chunk } => Some(chunk),
            },
        )
        .collect();
    emptied.sort_unstable();
    assert_eq!(emptied, [0, 1]);
    slabs.check_invariants();
    // Per memory object, then all: the used slab of the other class stays.
    assert_eq!(slabs.take_empty_in(1), [range(1, 8192, slot, 8)]);
    assert_eq!(slabs.empty_in(1), 0);
    assert_eq!(slabs.take_empty(), [range(0, 0, slot, 8)]);
    assert_eq!(slabs.take_empty(), []);
    assert_eq!(slabs.bytes(), other_slot * 8);
    assert_eq!(
        slabs.free(other_handle, 200),
        SlabFree::Emptied { chunk: 2 }
    );
    assert_eq!(slabs.take_empty(), [range(2, 0, other_slot, 8)]);
    assert_eq!((slabs.bytes(), slabs.block_bytes()), (0, 0));
    assert!(slabs.is_empty());
    slabs.check_invariants();
}
