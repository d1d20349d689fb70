//! Block names: a table of the named live blocks, found by the tag a block
//! carries (0 for none), so that leak reports, `stats` and the memory map can
//! say which resource a block belongs to. Unnamed blocks cost one test of
//! their tag when they are freed.

#![deny(unsafe_code)]

use {
    super::GpuAllocator,
    crate::{
        block::{Flavor, MemoryBlock},
        report::report,
        stats::{NamedBlock, NamedRange},
    },
    alloc::{borrow::Cow, collections::BTreeMap, vec::Vec},
    core::fmt::Debug,
};

/// The largest named blocks per heap that `stats` lists.
pub(crate) const NAMED_PER_HEAP: usize = 8;

/// Named blocks shown in the report of an allocator dropped with blocks out.
const NAMED_IN_LEAK_REPORT: usize = 16;

/// A named live block.
#[derive(Debug)]
struct Named {
    name: Cow<'static, str>,
    memory_type: u32,
    offset: u64,
    size: u64,
    /// The shared memory object's key (`SharedMemory::key`), `None` for a
    /// block with a memory object of its own.
    object: Option<usize>,
}

/// The named live blocks of one allocator.
#[derive(Debug, Default)]
pub(crate) struct Names {
    /// The last tag given (tags are never 0).
    last: u32,
    table: BTreeMap<u32, Named>,
}

impl Names {
    /// Forgets the block with tag `tag` (returned or gone).
    #[inline]
    pub(crate) fn forget(&mut self, tag: u32) {
        if tag != 0 {
            self.table.remove(&tag);
        }
    }

    /// A tag no live block has.
    fn next_tag(&mut self) -> u32 {
        loop {
            self.last = self.last.wrapping_add(1);
            if self.last != 0 && !self.table.contains_key(&self.last) {
                return self.last;
            }
        }
    }

    /// Names of the named blocks in the shared memory object `key`, in offset
    /// order.
    pub(crate) fn ranges_in(&self, key: usize) -> Vec<NamedRange> {
        let mut ranges: Vec<NamedRange> = (self.table.values())
            .filter(|named| named.object == Some(key))
            .map(|named| NamedRange {
                offset: named.offset,
                size: named.size,
                name: named.name.clone().into_owned(),
            })
            .collect();
        ranges.sort_by_key(|range| range.offset);
        ranges
    }

    /// The largest named blocks of each heap (`NAMED_PER_HEAP` at most), by
    /// heap then size, largest first; `heap_of` maps a memory type to its heap.
    pub(crate) fn largest(&self, heap_of: impl Fn(u32) -> u32) -> Vec<NamedBlock> {
        let mut all: Vec<NamedBlock> = (self.table.values())
            .map(|named| NamedBlock {
                heap: heap_of(named.memory_type),
                memory_type: named.memory_type,
                size: named.size,
                dedicated: named.object.is_none(),
                name: named.name.clone().into_owned(),
            })
            .collect();
        all.sort_by(|a, b| a.heap.cmp(&b.heap).then(b.size.cmp(&a.size)));
        let mut kept: Vec<NamedBlock> = Vec::new();
        for block in all {
            let same_heap = kept.iter().filter(|k| k.heap == block.heap).count();
            if same_heap < NAMED_PER_HEAP {
                kept.push(block);
            }
        }
        kept
    }

    /// Reports the names of the named blocks still out, when the allocator
    /// goes with blocks out.
    pub(crate) fn report_leaks(&self) {
        if self.table.is_empty() {
            return;
        }
        let mut names: Vec<&str> = (self.table.values())
            .take(NAMED_IN_LEAK_REPORT)
            .map(|named| named.name.as_ref())
            .collect();
        names.sort_unstable();
        let more = self.table.len().saturating_sub(NAMED_IN_LEAK_REPORT);
        report(format_args!(
            "named blocks leaked: {}{}",
            names.join(", "),
            if more > 0 {
                alloc::format!(" and {more} more")
            } else {
                alloc::string::String::new()
            }
        ));
    }
}

impl<M> GpuAllocator<M>
where
    M: Debug + 'static,
{
    /// Names `block`, which this allocator made: leak reports,
    /// [`stats`](Self::stats) (the largest named blocks of each heap) and the
    /// [`memory_map`](Self::memory_map) show the name until the block is
    /// freed. A name given again replaces the one before. Returns `false`,
    /// naming nothing, for a block of another allocator.
    ///
    /// [`AllocOptions::name`](crate::AllocOptions::name) names a block as it
    /// is allocated.
    pub fn set_block_name(
        &mut self,
        block: &mut MemoryBlock<M>,
        name: impl Into<Cow<'static, str>>,
    ) -> bool {
        if block.allocator != self.id {
            return false;
        }
        let object = match &block.flavor {
            Flavor::Shared { memory, .. } => Some(memory.key()),
            Flavor::Dedicated { .. } => None,
        };
        let named = Named {
            name: name.into(),
            memory_type: block.memory_type,
            offset: block.offset,
            size: block.size,
            object,
        };
        let tag = match block.name_tag() {
            0 => self.names.next_tag(),
            tag => tag,
        };
        self.names.table.insert(tag, named);
        block.set_name_tag(tag);
        true
    }

    /// The name of `block` ([`set_block_name`](Self::set_block_name)), if it
    /// has one and this allocator made it.
    pub fn block_name(&self, block: &MemoryBlock<M>) -> Option<&str> {
        if block.allocator != self.id {
            return None;
        }
        let tag = block.name_tag();
        (tag != 0)
            .then(|| self.names.table.get(&tag))
            .flatten()
            .map(|named| named.name.as_ref())
    }
}
