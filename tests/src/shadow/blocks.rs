//! The record of live blocks per memory object, the checks every new block
//! passes, and the retention bound on empty memory objects.

use {
    crate::{
        harness::wants_host,
        sim::{Layout, LiveObject, SimMemory},
    },
    gpu_alloc::{
        AllocationFlags, Dedicated, MemoryBlock, MemoryPropertyFlags, Request, ResourceKind,
        UsageFlags,
    },
    std::collections::{BTreeMap, BTreeSet},
};

/// A pool of shared memory objects, as the core's docs define it (memory type
/// x strategy x resource class): the strategy is the transient one or not, and
/// linear and optimal resources have classes of their own only where the
/// `bufferImageGranularity` is above 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pool {
    memory_type: u32,
    transient: bool,
    class: u8,
}

/// Bytes of a pool's live blocks: now, and the most since the start or the
/// last cleanup (its high-water mark).
#[derive(Clone, Copy, Debug, Default)]
struct PoolBytes {
    used: u64,
    high: u64,
}

/// Where the live blocks are, per memory object.
#[derive(Debug)]
pub(crate) struct Placements {
    /// `bufferImageGranularity` of the device (at least 1).
    granularity: u64,
    /// `(memory id, offset) -> (end, resource kind)` of every live block.
    occupied: BTreeMap<(u64, u64), (u64, ResourceKind)>,
    /// Memory objects of `Dedicated::Required` blocks.
    required: BTreeSet<u64>,
    /// Every pool that placed a block, and its bytes.
    pools: BTreeMap<Pool, PoolBytes>,
}

/// A new block, as [`Placements::place`] needs it.
pub(crate) struct NewBlock<'a> {
    pub(crate) block: &'a MemoryBlock<SimMemory>,
    pub(crate) request: &'a Request,
    pub(crate) dedicated: Option<Dedicated>,
    pub(crate) kind: ResourceKind,
}

impl Placements {
    pub(crate) fn new(granularity: u64) -> Self {
        Placements {
            granularity: granularity.max(1),
            occupied: BTreeMap::new(),
            required: BTreeSet::new(),
            pools: BTreeMap::new(),
        }
    }

    fn pool(&self, block: &MemoryBlock<SimMemory>, request: &Request, kind: ResourceKind) -> Pool {
        let class = match kind {
            _ if self.granularity == 1 => 0,
            ResourceKind::Linear => 1,
            ResourceKind::Optimal => 2,
            // `Unknown` (and any kind added later): class 0.
            _ => 0,
        };
        Pool {
            memory_type: block.memory_type(),
            transient: request.usage.contains(UsageFlags::TRANSIENT),
            class,
        }
    }

    /// Checks that a new block overlaps no live block of its memory object,
    /// shares no granularity page with a block of another resource kind (or
    /// of unknown kind), is not placed next to a `Dedicated::Required` block
    /// and, when required dedicated, is dedicated and alone; then records it.
    pub(crate) fn place(&mut self, new: &NewBlock<'_>) {
        let block = new.block;
        let (id, offset, kind) = (block.memory().id(), block.offset(), new.kind);
        let end = offset + block.size();
        let granularity = self.granularity;
        let mut shared = false;
        for (&(_, o), &(e, k)) in self.occupied.range((id, 0)..=(id, u64::MAX)) {
            shared = true;
            assert!(
                e <= offset || o >= end,
                "block {offset}..{end} ({kind:?}) overlaps block {o}..{e} ({k:?}) of memory {id}"
            );
            let may_share = k == kind && k != ResourceKind::Unknown;
            if !may_share {
                let (a0, a1) = (offset / granularity, (end - 1) / granularity);
                let (b0, b1) = (o / granularity, (e - 1) / granularity);
                assert!(
                    a1 < b0 || b1 < a0,
                    "{kind:?} at {offset}..{end} and {k:?} at {o}..{e} share a {granularity}-byte \
                     page of memory {id}"
                );
            }
        }
        assert!(
            !self.required.contains(&id),
            "block placed in the memory object of a Dedicated::Required block"
        );
        if new.dedicated == Some(Dedicated::Required) {
            assert!(
                !shared,
                "Dedicated::Required block shares its memory object"
            );
            assert!(
                block.is_dedicated(),
                "Dedicated::Required block not dedicated"
            );
            self.required.insert(id);
        }
        self.occupied.insert((id, offset), (end, kind));
        if !block.is_dedicated() {
            let pool = self.pool(block, new.request, kind);
            let bytes = self.pools.entry(pool).or_default();
            bytes.used += block.size();
            bytes.high = bytes.high.max(bytes.used);
        }
    }

    /// Forgets a block that is being freed.
    pub(crate) fn remove(
        &mut self,
        block: &MemoryBlock<SimMemory>,
        request: &Request,
        kind: ResourceKind,
    ) {
        let id = block.memory().id();
        self.occupied.remove(&(id, block.offset()));
        self.required.remove(&id);
        if !block.is_dedicated() {
            let pool = self.pool(block, request, kind);
            self.pools.get_mut(&pool).expect("counted when placed").used -= block.size();
        }
    }

    /// Forgets the high-water marks beyond the current use (a cleanup).
    pub(crate) fn reset_high_water(&mut self) {
        for bytes in self.pools.values_mut() {
            bytes.high = bytes.used;
        }
    }

    /// The documented retention: an emptied memory object stays only while the
    /// rest of its pool holds less than the pool's high-water mark, or no other
    /// empty object of the pool stays, so a pool keeps at most its high-water
    /// mark plus one object in empty objects; a dedicated object goes with its
    /// block. Per memory type, the bytes of memory objects that hold no live
    /// block stay under the sum of its pools' high-water marks plus one of the
    /// largest such objects per pool.
    pub(crate) fn check_retention(&self, types: usize, objects: &[LiveObject]) {
        let mut empty_bytes = vec![0u64; types];
        let mut largest = vec![0u64; types];
        for object in objects {
            if self
                .occupied
                .range((object.id, 0)..=(object.id, u64::MAX))
                .next()
                .is_none()
            {
                let ty = object.memory_type as usize;
                empty_bytes[ty] += object.size;
                largest[ty] = largest[ty].max(object.size);
            }
        }
        for ty in 0..types {
            let pools: Vec<(&Pool, &PoolBytes)> = self
                .pools
                .iter()
                .filter(|(pool, _)| pool.memory_type == ty as u32)
                .collect();
            let highs: u64 = pools.iter().map(|(_, bytes)| bytes.high).sum();
            let bound = highs + pools.len() as u64 * largest[ty];
            assert!(
                empty_bytes[ty] <= bound,
                "memory type {ty} keeps {} bytes in empty memory objects, over the retention \
                 bound of {bound} (pools and their bytes: {pools:?})",
                empty_bytes[ty]
            );
        }
    }

    /// The ids of the memory objects that hold a live block.
    pub(crate) fn holding(&self) -> BTreeSet<u64> {
        self.occupied.keys().map(|&(id, _)| id).collect()
    }
}

/// Checks a new block against its request and its memory object: the type is
/// eligible (`eligible` lists the types that are) and, when `best` is known,
/// the one the documented ranking picks; the properties are the type's, host
/// access gets `HOST_VISIBLE`, `DEVICE_ADDRESS` an object with the flag; the
/// block is large enough, aligned, inside its object, and in non-coherent
/// memory atom-aligned and atom-sized (or at the object's end).
pub(crate) fn check_block(
    layout: &Layout,
    object: &LiveObject,
    new: &NewBlock<'_>,
    eligible: &[u32],
    best: Option<u32>,
) {
    let (block, request) = (new.block, new.request);
    let ty = block.memory_type();
    assert!(
        eligible.contains(&ty),
        "request {request:?} served from type {ty} (flags {:#x}); eligible: {eligible:?}",
        layout.type_flags(ty)
    );
    if let Some(best) = best {
        assert_eq!(
            ty, best,
            "request {request:?} served from type {ty}, the documented ranking picks {best}"
        );
    }
    assert_eq!(
        block.props().bits(),
        (layout.type_flags(ty) & 0xFF) as u8,
        "props of the block are not those of its type {ty}"
    );
    if wants_host(request.usage) {
        assert!(block.props().contains(MemoryPropertyFlags::HOST_VISIBLE));
    }
    assert_eq!(object.memory_type, ty, "memory object of another type");
    if request.usage.contains(UsageFlags::DEVICE_ADDRESS) {
        assert!(
            object.flags.contains(AllocationFlags::DEVICE_ADDRESS),
            "DEVICE_ADDRESS block in an object allocated without the flag"
        );
    }
    check_extent(layout, object, block, request);
}

/// Checks where a new block lies: large enough, aligned, inside its memory
/// object, and whole atoms (or up to the object's end) in non-coherent memory.
fn check_extent(
    layout: &Layout,
    object: &LiveObject,
    block: &MemoryBlock<SimMemory>,
    request: &Request,
) {
    let (offset, size) = (block.offset(), block.size());
    assert!(
        size >= request.size,
        "block of {size} bytes for {request:?}"
    );
    assert_eq!(
        offset & request.align_mask,
        0,
        "offset {offset} for {request:?}"
    );
    let end = offset.checked_add(size).expect("block end overflows");
    assert!(
        end <= object.size,
        "block {offset}+{size} outside its memory object of {} bytes",
        object.size
    );
    let props = block.props();
    if props.contains(MemoryPropertyFlags::HOST_VISIBLE)
        && !props.contains(MemoryPropertyFlags::HOST_COHERENT)
    {
        let atom = layout.non_coherent_atom_size;
        assert_eq!(offset % atom, 0, "non-coherent block offset {offset}");
        assert!(
            size % atom == 0 || end == object.size,
            "non-coherent block {offset}+{size} neither atom-sized nor at the object's end"
        );
    }
}
