//! Two-level segregated fit (TLSF): O(1) allocation and free on 64-bit offsets.
//!
//! Free ranges sit in size classes: the first level is the power of two of the
//! size, the second splits each power of two into [`SL_COUNT`] linear steps. Two
//! bitmaps say which classes hold a free range, so finding a class whose every
//! range fits is a couple of bit scans. Allocation searches the class of
//! `size + align_mask`, rounded up to a class boundary, so any range found fits
//! with any alignment; the padding in front of the aligned offset (unless it is
//! small enough to stay in the block's node) and the tail after the block go back
//! to the free lists as ranges of their own. Freeing merges a range with its free
//! physical neighbours.
//!
//! Every range, free or used, is a node in an arena and in a doubly linked list
//! in offset order (the physical list); free nodes are also in a doubly linked list
//! per size class. A used node's arena index is the handle the allocator keeps in
//! the block, so freeing needs no search.

use alloc::vec::Vec;
use {
    super::{size_class, size_class_at_least, SubAllocator, SL_BITS, SL_COUNT},
    crate::align::align_up,
};

/// First-level classes: sizes below `SL_COUNT` share class 0, then one per power.
const FL_COUNT: usize = 64 - SL_BITS as usize + 1;
/// No node.
const NIL: u32 = u32::MAX;
/// Alignment padding up to this many bytes stays in the block's node instead of
/// becoming a free node of its own: it saves a split on allocation and a merge
/// on free, and a range this small seldom serves a general block before its
/// neighbour frees (`BENCHMARKS.md`, "Cheaper aligned placement": 8-16 fewer
/// instructions per alloc+free on the churn and level traces, the same bytes on
/// every trace; larger limits save more instructions and hold more memory).
pub(crate) const KEEP_PADDING: u64 = 64;
/// Free nodes examined when no class guarantees a fit.
const NEAR_FIT_PROBES: usize = 8;

#[derive(Clone, Copy, Debug)]
struct Node {
    offset: u64,
    size: u64,
    /// Physical neighbours: `prev_phys.offset + prev_phys.size == offset`, and
    /// `offset + size == next_phys.offset`; `NIL` at either end of the object.
    prev_phys: u32,
    next_phys: u32,
    /// Neighbours in the free list of this node's class (free nodes only).
    prev_free: u32,
    next_free: u32,
    free: bool,
    /// The class `class_of(size)` of a free node, stored when it is linked so
    /// that unlinking it needs no recomputation (stale in used nodes).
    fl: u8,
    sl: u8,
}

impl Node {
    /// Whether the range holds `size` bytes aligned to `align_mask + 1`.
    fn holds(&self, size: u64, align_mask: u64) -> bool {
        align_up(self.offset, align_mask)
            .and_then(|aligned| aligned.checked_add(size))
            .is_some_and(|end| end <= self.offset + self.size)
    }
}

/// The class of a range of `size` bytes, as `(fl, sl)`: the class whose ranges
/// are all at least `size` rounded down to a class boundary ([`size_class`]).
#[inline(always)]
fn class_of(size: u64) -> (usize, usize) {
    let class = size_class(size);
    (
        (class >> SL_BITS) as usize,
        (class as usize) & (SL_COUNT - 1),
    )
}

/// The smallest class whose every range holds `size` bytes, or `None` past the
/// largest class ([`size_class_at_least`]).
#[inline(always)]
fn class_at_least(size: u64) -> Option<(usize, usize)> {
    let class = size_class_at_least(size)?;
    Some((
        (class >> SL_BITS) as usize,
        (class as usize) & (SL_COUNT - 1),
    ))
}

/// The segregated free lists: one doubly linked list of free nodes per class,
/// and the bitmaps that say which lists are non-empty.
#[derive(Debug)]
struct FreeLists {
    /// Bit `fl` is set iff `sl_bitmap[fl] != 0`.
    fl_bitmap: u64,
    /// Bit `sl` of `sl_bitmap[fl]` is set iff `heads[fl][sl] != NIL`.
    sl_bitmap: [u32; FL_COUNT],
    /// First free node of each class; every free node of class `(fl, sl)` is in the
    /// list starting at `heads[fl][sl]`, and no other node is. Only the first
    /// levels up to the one of the capacity exist (no range is larger), so that
    /// a new object's lists are small to make and to move.
    heads: Vec<[u32; SL_COUNT]>,
}

impl FreeLists {
    /// Marks the node at `index` free and puts it first in its class's list.
    #[inline(always)]
    fn push(&mut self, nodes: &mut [Node], index: u32) {
        let node = &mut nodes[index as usize];
        let (fl, sl) = class_of(node.size);
        let head = self.heads[fl][sl];
        // `fl < FL_COUNT = 60` and `sl < SL_COUNT = 32` fit in a byte.
        (node.fl, node.sl) = (fl as u8, sl as u8);
        node.free = true;
        node.prev_free = NIL;
        node.next_free = head;
        if head != NIL {
            nodes[head as usize].prev_free = index;
        }
        self.heads[fl][sl] = index;
        self.sl_bitmap[fl] |= 1 << sl;
        self.fl_bitmap |= 1 << fl;
    }

    /// Takes the free node at `index` out of its class's list and marks it used.
    #[inline(always)]
    fn remove(&mut self, nodes: &mut [Node], index: u32) {
        let node = &mut nodes[index as usize];
        debug_assert!(node.free);
        node.free = false;
        let (prev, next) = (node.prev_free, node.next_free);
        if prev != NIL {
            nodes[prev as usize].next_free = next;
        } else {
            let (fl, sl) = (usize::from(node.fl), usize::from(node.sl));
            self.heads[fl][sl] = next;
            if next == NIL {
                self.sl_bitmap[fl] &= !(1 << sl);
                if self.sl_bitmap[fl] == 0 {
                    self.fl_bitmap &= !(1 << fl);
                }
            }
        }
        if next != NIL {
            nodes[next as usize].prev_free = prev;
        }
    }

    /// The highest non-empty class: the one of the largest free range.
    #[inline(always)]
    fn highest(&self) -> Option<(usize, usize)> {
        if self.fl_bitmap == 0 {
            return None;
        }
        let fl = 63 - self.fl_bitmap.leading_zeros() as usize;
        Some((fl, 31 - self.sl_bitmap[fl].leading_zeros() as usize))
    }

    /// First non-empty class at or above `(fl, sl)`.
    #[inline(always)]
    fn find_class(&self, fl: usize, sl: usize) -> Option<(usize, usize)> {
        let sl_map = self.sl_bitmap[fl] & (!0u32).checked_shl(sl as u32).unwrap_or(0);
        if sl_map != 0 {
            return Some((fl, sl_map.trailing_zeros() as usize));
        }
        let fl_map = self.fl_bitmap & (!0u64).checked_shl(fl as u32 + 1).unwrap_or(0);
        if fl_map == 0 {
            return None;
        }
        let fl = fl_map.trailing_zeros() as usize;
        Some((fl, self.sl_bitmap[fl].trailing_zeros() as usize))
    }
}

#[derive(Debug)]
pub(crate) struct Tlsf {
    capacity: u64,
    /// Arena of nodes; a slot is live iff it is not in `spare`.
    nodes: Vec<Node>,
    /// Indices of dead arena slots, reused first.
    spare: Vec<u32>,
    lists: FreeLists,
    /// Bytes of the live blocks (the padding their nodes keep in front of
    /// them is counted in `padding`, not here).
    used: u64,
    /// Live used nodes.
    live: u32,
    /// Alignment padding kept inside used nodes, in front of their blocks.
    padding: u64,
}

/// Stores `node` in a dead slot of the arena, or a new one; returns its index.
#[inline(always)]
fn new_node(nodes: &mut Vec<Node>, spare: &mut Vec<u32>, node: Node) -> u32 {
    match spare.pop() {
        Some(index) => {
            nodes[index as usize] = node;
            index
        }
        None => {
            nodes.push(node);
            (nodes.len() - 1) as u32
        }
    }
}

impl Tlsf {
    /// Splits the node at `index` so that it keeps its first `size` bytes; the rest
    /// becomes a new node after it, returned (not linked into a free list).
    #[inline(always)]
    fn split(&mut self, index: u32, size: u64) -> u32 {
        let node = &mut self.nodes[index as usize];
        let rest = Node {
            offset: node.offset + size,
            size: node.size - size,
            prev_phys: index,
            next_phys: node.next_phys,
            prev_free: NIL,
            next_free: NIL,
            free: false,
            fl: 0,
            sl: 0,
        };
        node.size = size;
        let after = rest.next_phys;
        let rest = new_node(&mut self.nodes, &mut self.spare, rest);
        self.nodes[index as usize].next_phys = rest;
        if after != NIL {
            self.nodes[after as usize].prev_phys = rest;
        }
        rest
    }

    /// Merges the node at `next` into its physical predecessor `index`.
    #[inline(always)]
    fn absorb_next(&mut self, index: u32, next: u32) {
        let (size, after) = {
            let absorbed = &self.nodes[next as usize];
            (absorbed.size, absorbed.next_phys)
        };
        let node = &mut self.nodes[index as usize];
        node.size += size;
        node.next_phys = after;
        if after != NIL {
            self.nodes[after as usize].prev_phys = index;
        }
        self.spare.push(next);
    }

    /// Takes a free node that can hold `size` bytes at `align_mask`, or `None`.
    #[inline(always)]
    fn take_fitting(&mut self, size: u64, align_mask: u64) -> Option<u32> {
        // Every range of a class at least `size + align_mask` fits whatever its offset.
        if let Some((fl, sl)) = size.checked_add(align_mask).and_then(class_at_least) {
            if let Some((fl, sl)) = self.lists.find_class(fl, sl) {
                let index = self.lists.heads[fl][sl];
                self.lists.remove(&mut self.nodes, index);
                return Some(index);
            }
        }
        self.take_near_fit(size, align_mask)
    }

    /// Near-full objects: a node of the class holding `size` itself may still fit.
    /// Looks at a bounded number of them, keeping the search O(1).
    #[cold]
    fn take_near_fit(&mut self, size: u64, align_mask: u64) -> Option<u32> {
        let index = self.near_fit(size, align_mask)?;
        self.lists.remove(&mut self.nodes, index);
        Some(index)
    }

    /// The node [`take_near_fit`](Self::take_near_fit) takes, left in place.
    fn near_fit(&self, size: u64, align_mask: u64) -> Option<u32> {
        let (fl, sl) = class_of(size);
        let (fl, sl) = self.lists.find_class(fl, sl)?;
        let mut index = self.lists.heads[fl][sl];
        for _ in 0..NEAR_FIT_PROBES {
            if index == NIL {
                break;
            }
            let node = &self.nodes[index as usize];
            if node.holds(size, align_mask) {
                return Some(index);
            }
            index = node.next_free;
        }
        None
    }

    /// Places `size` bytes at `align_mask` in the free node at `index`, taken
    /// off its free list already and known to hold them: the padding in front
    /// (unless kept in the block's node) and the tail become free nodes of
    /// their own. Returns the block's offset and handle.
    #[inline(always)]
    fn carve(&mut self, mut index: u32, size: u64, align_mask: u64) -> (u64, u32) {
        let (offset, node_size) = {
            let node = &self.nodes[index as usize];
            (node.offset, node.size)
        };
        let aligned = align_up(offset, align_mask).expect("the node holds the block");
        let mut remaining = node_size;
        // The bytes the block's node keeps: the block and any padding kept in front.
        let mut kept = size;
        let padding = aligned - offset;
        if padding <= KEEP_PADDING {
            self.padding += padding;
            kept += padding;
        } else {
            // The padding in front stays free as a node of its own.
            let block = self.split(index, padding);
            self.lists.push(&mut self.nodes, index);
            remaining -= padding;
            index = block;
        }
        if remaining > kept {
            let rest = self.split(index, kept);
            self.lists.push(&mut self.nodes, rest);
        }
        self.used += size;
        self.live += 1;
        (aligned, index)
    }
}

impl SubAllocator for Tlsf {
    /// General blocks are long-lived resources: a general pool gives back what
    /// its blocks no longer use after a few hundred blocks went (the streaming
    /// of the real-requirements traces in `BENCHMARKS.md` held up to 10% more
    /// memory with epochs four times as long).
    fn min_epoch() -> u64 {
        128
    }

    fn best_fit_objects() -> bool {
        true
    }

    fn new(capacity: u64) -> Self {
        let mut tlsf = Tlsf {
            capacity,
            nodes: Vec::new(),
            spare: Vec::new(),
            lists: FreeLists {
                fl_bitmap: 0,
                sl_bitmap: [0; FL_COUNT],
                heads: alloc::vec![[NIL; SL_COUNT]; if capacity > 0 { class_of(capacity).0 + 1 } else { 0 }],
            },
            used: 0,
            live: 0,
            padding: 0,
        };
        if capacity > 0 {
            tlsf.nodes.push(Node {
                offset: 0,
                size: capacity,
                prev_phys: NIL,
                next_phys: NIL,
                prev_free: NIL,
                next_free: NIL,
                free: false,
                fl: 0,
                sl: 0,
            });
            tlsf.lists.push(&mut tlsf.nodes, 0);
        }
        tlsf
    }

    #[inline(always)]
    fn alloc(&mut self, size: u64, align_mask: u64) -> Option<(u64, u32)> {
        debug_assert!(size > 0);
        let index = self.take_fitting(size, align_mask)?;
        Some(self.carve(index, size, align_mask))
    }

    /// Walks the physical list from offset 0 (O(ranges): planning only).
    fn alloc_lowest(&mut self, size: u64, align_mask: u64, below: u64) -> Option<(u64, u32)> {
        debug_assert!(size > 0);
        let mut index = self.first()?;
        loop {
            let node = &self.nodes[index as usize];
            if align_up(node.offset, align_mask)? >= below {
                return None;
            }
            if node.free && node.holds(size, align_mask) {
                self.lists.remove(&mut self.nodes, index);
                return Some(self.carve(index, size, align_mask));
            }
            if node.next_phys == NIL {
                return None;
            }
            index = node.next_phys;
        }
    }

    #[inline(always)]
    fn free(&mut self, offset: u64, size: u64, handle: u32) {
        let mut index = handle;
        let (prev, next) = {
            let node = &self.nodes[index as usize];
            debug_assert!(
                !node.free && node.offset <= offset && node.offset + node.size == offset + size
            );
            self.padding -= node.size - size;
            (node.prev_phys, node.next_phys)
        };
        self.used -= size;
        self.live -= 1;
        if next != NIL && self.nodes[next as usize].free {
            self.lists.remove(&mut self.nodes, next);
            self.absorb_next(index, next);
        }
        if prev != NIL && self.nodes[prev as usize].free {
            self.lists.remove(&mut self.nodes, prev);
            self.absorb_next(prev, index);
            index = prev;
        }
        self.lists.push(&mut self.nodes, index);
    }

    fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn used(&self) -> u64 {
        self.used
    }

    fn live_ranges(&self) -> u64 {
        u64::from(self.live)
    }

    fn can_alloc(&self, size: u64, align_mask: u64) -> bool {
        let sure = size.checked_add(align_mask).and_then(class_at_least);
        sure.is_some_and(|(fl, sl)| self.lists.find_class(fl, sl).is_some())
            || self.near_fit(size, align_mask).is_some()
    }

    #[inline(always)]
    fn free_summary(&self) -> u32 {
        self.lists
            .highest()
            .map_or(0, |(fl, sl)| (fl * SL_COUNT + sl + 1) as u32)
    }

    fn largest_free(&self) -> u64 {
        let Some((fl, sl)) = self.lists.highest() else {
            return 0;
        };
        let mut largest = 0;
        let mut index = self.lists.heads[fl][sl];
        while index != NIL {
            let node = &self.nodes[index as usize];
            largest = largest.max(node.size);
            index = node.next_free;
        }
        largest
    }

    fn for_each_range(&self, f: &mut dyn FnMut(u64, u64, bool)) {
        let Some(mut index) = self.first() else {
            return;
        };
        loop {
            let node = &self.nodes[index as usize];
            f(node.offset, node.size, !node.free);
            if node.next_phys == NIL {
                break;
            }
            index = node.next_phys;
        }
    }

    fn check_invariants(&self) {
        let spare: alloc::collections::BTreeSet<u32> = self.spare.iter().copied().collect();
        assert_eq!(
            spare.len(),
            self.spare.len(),
            "a spare slot is listed twice"
        );
        // The physical list covers 0..capacity with no gap and no two free neighbours.
        let mut free_nodes = 0usize;
        let mut used = 0u64;
        let mut live = 0u32;
        let mut expected_offset = 0u64;
        let mut prev = NIL;
        let mut index = self.first().unwrap_or(NIL);
        let mut visited = 0usize;
        while index != NIL {
            assert!(
                !spare.contains(&index),
                "a dead node is in the physical list"
            );
            let node = &self.nodes[index as usize];
            assert_eq!(
                node.offset, expected_offset,
                "gap or overlap in the physical list"
            );
            assert!(node.size > 0, "empty node");
            assert_eq!(node.prev_phys, prev, "broken prev_phys link");
            if node.free {
                free_nodes += 1;
                if prev != NIL {
                    assert!(!self.nodes[prev as usize].free, "two free neighbours");
                }
            } else {
                used += node.size;
                live += 1;
            }
            expected_offset += node.size;
            prev = index;
            index = node.next_phys;
            visited += 1;
        }
        assert_eq!(
            expected_offset, self.capacity,
            "the physical list does not end at capacity"
        );
        assert_eq!(
            visited + spare.len(),
            self.nodes.len(),
            "a live node is unreachable"
        );
        assert_eq!(used, self.used + self.padding, "used bytes differ");
        assert_eq!(live, self.live, "live count differs");
        // Every free node is in the list of its class, and the bitmaps match the heads.
        let mut listed = 0usize;
        for fl in 0..FL_COUNT {
            assert_eq!(
                self.lists.fl_bitmap >> fl & 1 == 1,
                self.lists.sl_bitmap[fl] != 0,
                "fl bitmap"
            );
            if fl >= self.lists.heads.len() {
                assert_eq!(self.lists.sl_bitmap[fl], 0, "a class above the capacity");
                continue;
            }
            for sl in 0..SL_COUNT {
                let head = self.lists.heads[fl][sl];
                assert_eq!(
                    self.lists.sl_bitmap[fl] >> sl & 1 == 1,
                    head != NIL,
                    "sl bitmap"
                );
                let mut prev = NIL;
                let mut index = head;
                while index != NIL {
                    let node = &self.nodes[index as usize];
                    assert!(node.free, "a used node in a free list");
                    assert_eq!(class_of(node.size), (fl, sl), "a node in the wrong class");
                    assert_eq!(
                        (usize::from(node.fl), usize::from(node.sl)),
                        (fl, sl),
                        "a free node's stored class is stale"
                    );
                    assert_eq!(node.prev_free, prev, "broken prev_free link");
                    listed += 1;
                    prev = index;
                    index = node.next_free;
                }
            }
        }
        assert_eq!(listed, free_nodes, "free nodes missing from the free lists");
    }
}

impl Tlsf {
    /// The node at offset 0, if the object is not empty.
    fn first(&self) -> Option<u32> {
        if self.capacity == 0 {
            return None;
        }
        // Node 0 is created first and stays the first: merges keep the lower node.
        debug_assert_eq!(self.nodes[0].offset, 0);
        Some(0)
    }
}

#[cfg(test)]
mod tests;
