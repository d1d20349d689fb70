//! Block names: a table of the named live blocks, so that leak reports,
//! `stats` and the memory map can say which resource a block belongs to. A
//! shared block is found by its memory object and offset, a dedicated one by
//! the tag it carries (0 for none); freeing an unnamed block costs one test.

#![deny(unsafe_code)]

use {
    super::GpuAllocator,
    crate::{
        block::{Flavor, MemoryBlock, NameKey},
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
}

/// The named live blocks of one allocator.
#[derive(Debug, Default)]
pub(crate) struct Names {
    /// The last tag given to a dedicated block (tags are never 0).
    last: u32,
    table: BTreeMap<NameKey, Named>,
}

impl Names {
    /// Forgets a named block that is being returned (out of line: the free of
    /// an unnamed block pays one test of its flag, not the table's code).
    #[cold]
    #[inline(never)]
    pub(crate) fn forget(&mut self, key: NameKey) {
        self.table.remove(&key);
    }

    /// Gives the name of the block at `old` to the block at `new` (a block
    /// moved by defragmentation), if it had one.
    pub(crate) fn rekey(&mut self, old: NameKey, new: NameKey) {
        if let Some(mut named) = self.table.remove(&old) {
            if let NameKey::Shared(_, offset) = new {
                named.offset = offset;
            }
            self.table.insert(new, named);
        }
    }

    /// A tag no live dedicated block has.
    fn next_tag(&mut self) -> u32 {
        loop {
            self.last = self.last.wrapping_add(1);
            if self.last != 0 && !self.table.contains_key(&NameKey::Dedicated(self.last)) {
                return self.last;
            }
        }
    }

    /// Names of the named blocks in the shared memory object `key`, in offset
    /// order.
    pub(crate) fn ranges_in(&self, key: usize) -> Vec<NamedRange> {
        // The table orders shared keys by object, then offset.
        let object = NameKey::Shared(key, 0)..=NameKey::Shared(key, u64::MAX);
        (self.table.range(object))
            .map(|(_, named)| NamedRange {
                offset: named.offset,
                size: named.size,
                name: named.name.clone().into_owned(),
            })
            .collect()
    }

    /// The largest named blocks of each heap (`NAMED_PER_HEAP` at most), by
    /// heap then size, largest first; `heap_of` maps a memory type to its heap.
    pub(crate) fn largest(&self, heap_of: impl Fn(u32) -> u32) -> Vec<NamedBlock> {
        let mut all: Vec<NamedBlock> = (self.table.iter())
            .map(|(key, named)| NamedBlock {
                heap: heap_of(named.memory_type),
                memory_type: named.memory_type,
                size: named.size,
                dedicated: matches!(key, NameKey::Dedicated(_)),
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
        let named = Named {
            name: name.into(),
            memory_type: block.memory_type,
            offset: block.offset,
            size: block.size,
        };
        let key = match &mut block.flavor {
            Flavor::Dedicated { name: tag, .. } => {
                if *tag == 0 {
                    *tag = self.names.next_tag();
                }
                NameKey::Dedicated(*tag)
            }
            Flavor::Shared { memory, .. } => NameKey::Shared(memory.key(), block.offset),
        };
        self.names.table.insert(key, named);
        block.named = true;
        true
    }

    /// The name of `block` ([`set_block_name`](Self::set_block_name)), if it
    /// has one and this allocator made it.
    pub fn block_name(&self, block: &MemoryBlock<M>) -> Option<&str> {
        if block.allocator != self.id {
            return None;
        }
        let named = self.names.table.get(&block.name_key())?;
        Some(named.name.as_ref())
    }
}
