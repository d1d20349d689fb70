//! The cell that a shared memory object lives in, and the pointers its blocks
//! keep to it: the one place where blocks and their allocator share ownership.
//! Every `unsafe` of that sharing is here, with the invariant it keeps.

#[cfg(not(loom))]
use core::sync::atomic::{AtomicIsize, Ordering};
#[cfg(loom)]
use loom::sync::atomic::{AtomicIsize, Ordering};
use {
    alloc::boxed::Box,
    core::{fmt, marker::PhantomData, mem::ManuallyDrop, ptr::NonNull},
};

/// Host address of a mapped memory object.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MappedPtr(pub(crate) NonNull<u8>);

// SAFETY: the pointer addresses device memory mapped into the process, which no
// thread owns; every access through it goes through `&mut MemoryBlock` methods or
// raw pointers the caller synchronises, so moving the address between threads is sound.
unsafe impl Send for MappedPtr {}
// SAFETY: as above; `&MappedPtr` only allows copying the address.
unsafe impl Sync for MappedPtr {}

/// What a shared memory object's heap cell holds.
struct Shared<M> {
    memory: M,
    /// Blocks placed in the object that are still alive, once the allocator has
    /// let go of the object ([`SharedMemory::orphan`]); before that, minus the
    /// blocks abandoned so far (dropped without `dealloc`, or handed to another
    /// allocator), so it is never positive. The party that brings it to zero
    /// after the allocator let go frees the cell.
    outstanding: AtomicIsize,
}

/// A shared memory object, owned by its chunk and kept at a fixed heap address so
/// that the blocks placed in it can point at it ([`MemoryRef`]) without touching
/// a reference count on every allocation and free (an atomic count per block
/// would cost a large share of a short allocation).
///
/// Invariant: `ptr` comes from `Box::into_raw` (through `Box::leak`) and is freed
/// exactly once: by `into_inner` or `Drop` when no block of the object exists
/// (the pool calls them only for chunks without live blocks), or, for an object
/// whose blocks outlive the allocator, by whichever of [`orphan`](Self::orphan)
/// and [`MemoryRef::abandon`] brings `outstanding` to zero.
pub(crate) struct SharedMemory<M> {
    ptr: NonNull<Shared<M>>,
    _owns: PhantomData<Shared<M>>,
}

impl<M> SharedMemory<M> {
    pub(crate) fn new(memory: M) -> Self {
        let cell = Box::new(Shared {
            memory,
            outstanding: AtomicIsize::new(0),
        });
        SharedMemory {
            ptr: NonNull::from(Box::leak(cell)),
            _owns: PhantomData,
        }
    }

    /// What tells this object from every other live one (its cell's address):
    /// for matching a block's object with the memory map's.
    pub(crate) fn key(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// A pointer for a block placed in this memory object.
    #[inline]
    pub(crate) fn share(&self) -> MemoryRef<M> {
        MemoryRef {
            ptr: self.ptr,
            _shares: PhantomData,
        }
    }

    /// The memory object back. Only for an object with no block alive or
    /// abandoned (its sub-allocator is empty).
    pub(crate) fn into_inner(self) -> M {
        let this = ManuallyDrop::new(self);
        // SAFETY: `ptr` came from `Box::leak` and is freed only here or in `drop`
        // (which `ManuallyDrop` prevents) while no block exists, per the invariant.
        unsafe { Box::from_raw(this.ptr.as_ptr()) }.memory
    }

    /// Lets go of an object that still has `live` blocks (handed out and not
    /// returned to the allocator, some perhaps abandoned already): the last of
    /// them to go frees it, or this call if all are gone already.
    pub(crate) fn orphan(self, live: u64) {
        let this = ManuallyDrop::new(self);
        let live = isize::try_from(live).unwrap_or(isize::MAX);
        // SAFETY: the cell is alive: only `orphan` (called once, consuming the
        // owner) or the block that brings `outstanding` to zero after it frees it.
        let cell = unsafe { this.ptr.as_ref() };
        let before = cell.outstanding.fetch_add(live, Ordering::AcqRel);
        if before + live == 0 {
            // SAFETY: every block of the object was abandoned: none will touch
            // the cell again, and this is the one party that frees it.
            drop(unsafe { Box::from_raw(this.ptr.as_ptr()) });
        }
    }
}

impl<M> Drop for SharedMemory<M> {
    fn drop(&mut self) {
        // SAFETY: as in `into_inner`: the pool drops a `SharedMemory` only when no
        // block of it exists (it calls `orphan` otherwise).
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

impl<M: fmt::Debug> fmt::Debug for SharedMemory<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.share().fmt(f)
    }
}

// SAFETY: the object is shared with blocks that may live on other threads, like
// an `Arc<M>`: moving the owner or sharing it across threads needs `M: Send + Sync`.
unsafe impl<M: Send + Sync> Send for SharedMemory<M> {}
// SAFETY: as above.
unsafe impl<M: Send + Sync> Sync for SharedMemory<M> {}

/// A block's pointer to the shared memory object it lives in (see [`SharedMemory`]).
pub(crate) struct MemoryRef<M> {
    ptr: NonNull<Shared<M>>,
    _shares: PhantomData<Shared<M>>,
}

/// Copying the pointer is sound: it says nothing about who owns the cell, which
/// `SharedMemory`'s invariant settles.
impl<M> Clone for MemoryRef<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for MemoryRef<M> {}

impl<M> MemoryRef<M> {
    #[inline]
    pub(crate) fn get(&self) -> &M {
        // SAFETY: the cell outlives every block placed in it (`SharedMemory`'s
        // invariant), and it is only ever accessed through shared references.
        unsafe { &self.ptr.as_ref().memory }
    }

    /// [`SharedMemory::key`] of the object this points at.
    pub(crate) fn key(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Records that the block holding this pointer is gone without returning to
    /// its allocator; frees the object's cell if the allocator let go of it and
    /// this was its last block. The pointer must not be used afterwards.
    pub(crate) fn abandon(&self) {
        // SAFETY: the block is alive, so the cell is (see `SharedMemory`).
        let cell = unsafe { self.ptr.as_ref() };
        if cell.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            // SAFETY: the allocator let go of the object (only then is the count
            // positive) and this was its last block: nobody else holds the cell.
            drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
        }
    }
}

impl<M: fmt::Debug> fmt::Debug for MemoryRef<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

// SAFETY: like `Arc<M>`: the block and the allocator may read the object from
// different threads, so both `Send` and `Sync` need `M: Send + Sync`.
unsafe impl<M: Send + Sync> Send for MemoryRef<M> {}
// SAFETY: as above.
unsafe impl<M: Send + Sync> Sync for MemoryRef<M> {}

/// What a block placed in a shared memory object keeps of it: the object and
/// its mapping (made once, when the object was created, for host-visible types).
#[derive(Debug)]
pub(crate) struct ObjectRef<M> {
    pub(crate) memory: MemoryRef<M>,
    pub(crate) base: Option<MappedPtr>,
}

impl<M> Clone for ObjectRef<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for ObjectRef<M> {}

/// The hand-over of an object between its allocator ([`SharedMemory::orphan`])
/// and the blocks that outlive it ([`MemoryRef::abandon`]), model-checked by
/// loom over every interleaving: `RUSTFLAGS="--cfg loom" cargo test --release
/// -p gpu-alloc --lib shared::model` (TESTING.md).
#[cfg(all(test, loom))]
mod model {
    use {
        super::SharedMemory,
        ::loom::{
            sync::{
                atomic::{AtomicUsize, Ordering::SeqCst},
                Arc,
            },
            thread,
        },
    };

    /// A memory handle that counts its drops.
    #[derive(Debug)]
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    /// `blocks` blocks abandoned on threads of their own, `before` of them
    /// before the allocator lets go (in order), the rest racing with it: the
    /// object is dropped exactly once, and never while a block still holds it.
    fn hand_over(blocks: usize, before: usize) {
        ::loom::model(move || {
            let drops = Arc::new(AtomicUsize::new(0));
            let owner = SharedMemory::new(Counted(drops.clone()));
            let refs: alloc::vec::Vec<_> = (0..blocks).map(|_| owner.share()).collect();
            for r in &refs[..before] {
                assert_eq!(drops.load(SeqCst), 0, "dropped under a live block");
                r.abandon();
            }
            let racing: alloc::vec::Vec<_> = refs[before..]
                .iter()
                .map(|&r| {
                    let drops = drops.clone();
                    thread::spawn(move || {
                        // The block still holds the object: it must be there.
                        assert_eq!(drops.load(SeqCst), 0, "dropped under a live block");
                        assert_eq!(r.get().0.load(SeqCst), 0);
                        r.abandon();
                    })
                })
                .collect();
            owner.orphan(blocks as u64);
            for t in racing {
                t.join().unwrap();
            }
            assert_eq!(
                drops.load(SeqCst),
                1,
                "dropped {} times",
                drops.load(SeqCst)
            );
        });
    }

    #[test]
    fn two_blocks_race_the_allocator() {
        hand_over(2, 0);
    }

    #[test]
    fn one_block_gone_before_one_racing() {
        hand_over(2, 1);
    }

    #[test]
    fn every_block_gone_before_the_allocator_lets_go() {
        hand_over(2, 2);
    }

    #[test]
    fn three_blocks_race_the_allocator() {
        hand_over(3, 0);
    }
}
