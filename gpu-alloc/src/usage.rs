//! Usage flags and how they pick a memory type.
//!
//! # Which memory types are eligible
//!
//! A memory type can serve a request when all of these hold:
//! - its index is set in `Request::memory_types`;
//! - if the usage has `HOST_ACCESS`, `UPLOAD` or `DOWNLOAD`, it is `HOST_VISIBLE`;
//! - it is `PROTECTED` exactly when the usage has [`UsageFlags::PROTECTED`];
//! - it is `LAZILY_ALLOCATED` only if the usage has
//!   [`UsageFlags::TRANSIENT_ATTACHMENT`] and no host access;
//! - it has no property bit the allocator does not understand for general use
//!   (`DEVICE_COHERENT_AMD`, `DEVICE_UNCACHED_AMD`, and any bit above the low byte of
//!   `VkMemoryPropertyFlags` such as `RDMA_CAPABLE_NV`), unless the caller allowed
//!   those bits with [`GpuAllocator::allow_memory_properties`].
//!
//! # How eligible types are ranked
//!
//! Eligible types are tried best first; when one's heap is full the next is tried.
//! A usage "wants host access" when it has `HOST_ACCESS`, `UPLOAD` or `DOWNLOAD`;
//! it "wants fast device access" when it has `FAST_DEVICE_ACCESS` or does not want
//! host access. Types are compared on these rules, in order, the first difference
//! deciding:
//! 1. `TRANSIENT_ATTACHMENT`: `LAZILY_ALLOCATED` types first.
//! 2. `DOWNLOAD`: `HOST_CACHED` types first (host reads of uncached memory are
//!    very slow).
//! 3. Fast device access wanted: `DEVICE_LOCAL` types first. Otherwise, with host
//!    access: types that are *not* `DEVICE_LOCAL` first, keeping scarce
//!    device-local host-visible memory for those who ask for it.
//! 4. Host access wanted: `HOST_COHERENT` types first (no flushes needed).
//! 5. No host access wanted: types that are *not* `HOST_VISIBLE` first.
//! 6. Host access without `DOWNLOAD`: types that are *not* `HOST_CACHED` first
//!    (write-combined memory suits sequential writes).
//! 7. Fewer property bits first (no properties nobody asked for).
//! 8. Lower index first (the order the driver advertises).
//!
//! [`GpuAllocator::allow_memory_properties`]: crate::GpuAllocator::allow_memory_properties

#![deny(unsafe_code)]

use {
    alloc::vec::Vec,
    gpu_alloc_types::{MemoryPropertyFlags, MemoryTypeInfo},
};

bitflags::bitflags! {
    /// What a requested block will be used for. The allocator picks a memory type
    /// from these (see the [module docs](crate#choosing-a-memory-type)).
    #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
    #[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
    pub struct UsageFlags: u8 {
        /// Prefer memory the device accesses fastest. Implied when the usage asks
        /// for no host access.
        const FAST_DEVICE_ACCESS = 0x01;

        /// The host will map the memory: only `HOST_VISIBLE` types are chosen.
        const HOST_ACCESS = 0x02;

        /// The host will read data the device wrote: `HOST_CACHED` memory is
        /// strongly preferred. Implies `HOST_ACCESS`.
        const DOWNLOAD = 0x04;

        /// The host will write data for the device. Without `DOWNLOAD`, the host is
        /// assumed to write only, and uncached (write-combined) memory is preferred.
        /// Implies `HOST_ACCESS`.
        const UPLOAD = 0x08;

        /// The block lives briefly (for example a staging buffer for one batch), so
        /// a faster strategy with less bookkeeping is used. Holding such blocks for
        /// long wastes memory.
        const TRANSIENT = 0x10;

        /// Resources bound to the memory will have their device address queried.
        /// Needs `DeviceProperties::buffer_device_address`.
        const DEVICE_ADDRESS = 0x20;

        /// The block backs a transient attachment: `LAZILY_ALLOCATED` memory types
        /// become eligible, and are preferred.
        const TRANSIENT_ATTACHMENT = 0x40;

        /// The block must be protected memory: only `PROTECTED` types are eligible.
        const PROTECTED = 0x80;
    }
}

impl UsageFlags {
    fn host_access(self) -> bool {
        self.intersects(UsageFlags::HOST_ACCESS | UsageFlags::UPLOAD | UsageFlags::DOWNLOAD)
    }

    fn fast_device_access(self) -> bool {
        self.contains(UsageFlags::FAST_DEVICE_ACCESS) || !self.host_access()
    }
}

/// Property bits that make a type ineligible unless explicitly allowed.
pub(crate) const EXOTIC_BITS: u32 = !0x3Fu32;

/// Whether a memory type can serve `usage` (mask and size aside).
pub(crate) fn eligible(usage: UsageFlags, info: &MemoryTypeInfo, allowed_exotic: u32) -> bool {
    let props = info.props();
    let exotic = info.raw_flags & EXOTIC_BITS;
    if exotic & !allowed_exotic != 0 {
        return false;
    }
    if usage.host_access() && !props.contains(MemoryPropertyFlags::HOST_VISIBLE) {
        return false;
    }
    if usage.contains(UsageFlags::PROTECTED) != props.contains(MemoryPropertyFlags::PROTECTED) {
        return false;
    }
    if props.contains(MemoryPropertyFlags::LAZILY_ALLOCATED)
        && (!usage.contains(UsageFlags::TRANSIENT_ATTACHMENT) || usage.host_access())
    {
        return false;
    }
    true
}

/// Ranking key of a memory type for `usage`: smaller is better. Follows the rules
/// in the module docs, in order.
fn rank(usage: UsageFlags, index: u32, info: &MemoryTypeInfo) -> impl Ord {
    let props = info.props();
    let has = |flag| props.contains(flag);
    let host = usage.host_access();
    let fast = usage.fast_device_access();
    let lazily = usage.contains(UsageFlags::TRANSIENT_ATTACHMENT)
        && !has(MemoryPropertyFlags::LAZILY_ALLOCATED);
    let uncached_for_download =
        usage.contains(UsageFlags::DOWNLOAD) && !has(MemoryPropertyFlags::HOST_CACHED);
    let wrong_locality = if fast {
        !has(MemoryPropertyFlags::DEVICE_LOCAL)
    } else {
        host && has(MemoryPropertyFlags::DEVICE_LOCAL)
    };
    let incoherent_for_host = host && !has(MemoryPropertyFlags::HOST_COHERENT);
    let visible_for_device = !host && has(MemoryPropertyFlags::HOST_VISIBLE);
    let cached_for_upload =
        host && !usage.contains(UsageFlags::DOWNLOAD) && has(MemoryPropertyFlags::HOST_CACHED);
    (
        (
            lazily,
            uncached_for_download,
            wrong_locality,
            incoherent_for_host,
        ),
        (visible_for_device, cached_for_upload),
        info.raw_flags.count_ones(),
        index,
    )
}

/// Eligible memory types for every usage, best first.
#[derive(Clone, Debug)]
pub(crate) struct MemoryForUsage {
    /// `ranked[usage.bits()]` lists the eligible type indices for `usage`, best
    /// first, following the rules in the module docs.
    ranked: Vec<Vec<u8>>,
    /// `best[usage.bits()]` is `ranked[usage.bits()][0]`, or `u8::MAX` when no
    /// type is eligible: the allocation fast path's one lookup.
    best: [u8; 256],
}

impl MemoryForUsage {
    pub(crate) fn new(types: &[MemoryTypeInfo], allowed_exotic: u32) -> Self {
        let ranked: Vec<Vec<u8>> = (0..=u8::MAX)
            .map(|bits| {
                let usage = UsageFlags::from_bits_retain(bits);
                let mut list: Vec<u8> = (0..types.len() as u8)
                    .filter(|&i| eligible(usage, &types[i as usize], allowed_exotic))
                    .collect();
                list.sort_by_key(|&i| rank(usage, u32::from(i), &types[i as usize]));
                list
            })
            .collect();
        let mut best = [u8::MAX; 256];
        for (best, list) in best.iter_mut().zip(&ranked) {
            *best = list.first().copied().unwrap_or(u8::MAX);
        }
        MemoryForUsage { ranked, best }
    }

    /// Eligible type indices for `usage`, best first (the request mask not applied).
    pub(crate) fn types(&self, usage: UsageFlags) -> &[u8] {
        &self.ranked[usize::from(usage.bits())]
    }

    /// The type the allocator's short path takes for `usage` within the type
    /// mask `allowed`: the best one, or else the first the mask allows.
    #[inline(always)]
    pub(crate) fn first_allowed(&self, usage: UsageFlags, allowed: u32) -> Option<u8> {
        let mut ty = self.best(usage);
        if ty >= 32 || allowed & (1 << ty) == 0 {
            ty = *self
                .types(usage)
                .iter()
                .find(|&&ty| allowed & (1 << ty) != 0)?;
        }
        Some(ty)
    }

    /// The best eligible type for `usage` (`types(usage)[0]`), or `u8::MAX`.
    #[inline(always)]
    pub(crate) fn best(&self, usage: UsageFlags) -> u8 {
        self.best[usize::from(usage.bits())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(raw_flags: u32) -> MemoryTypeInfo {
        MemoryTypeInfo { heap: 0, raw_flags }
    }

    // Memory types of an NVIDIA H200, as read off the device.
    fn h200() -> Vec<MemoryTypeInfo> {
        [0x0, 0x1, 0x6, 0xE, 0x7].into_iter().map(info).collect()
    }

    #[test]
    fn h200_choices() {
        let m = MemoryForUsage::new(&h200(), 0);
        let first = |u| m.types(u)[0];
        assert_eq!(
            first(UsageFlags::empty()),
            1,
            "device-local, not host-visible"
        );
        assert_eq!(first(UsageFlags::FAST_DEVICE_ACCESS), 1);
        assert_eq!(first(UsageFlags::HOST_ACCESS), 2, "system memory, uncached");
        assert_eq!(first(UsageFlags::UPLOAD), 2);
        assert_eq!(
            first(UsageFlags::UPLOAD | UsageFlags::FAST_DEVICE_ACCESS),
            4,
            "BAR"
        );
        assert_eq!(first(UsageFlags::DOWNLOAD), 3, "cached");
        assert_eq!(
            first(UsageFlags::DOWNLOAD | UsageFlags::FAST_DEVICE_ACCESS),
            3
        );
        // Fallback order for device-only memory: device-local host-visible next.
        assert_eq!(m.types(UsageFlags::empty()), &[1, 4, 0, 2, 3]);
    }

    #[test]
    fn exotic_types_need_permission() {
        let types = [info(0x1 | 0x100), info(0x1 | 0x40 | 0x80), info(0x1 | 0x20)];
        let m = MemoryForUsage::new(&types, 0);
        assert!(m.types(UsageFlags::empty()).is_empty());
        assert_eq!(m.types(UsageFlags::PROTECTED), &[2]);
        let m = MemoryForUsage::new(&types, 0x100);
        assert_eq!(m.types(UsageFlags::empty()), &[0]);
    }

    #[test]
    fn lazily_allocated_only_for_transient_attachments() {
        let types = [info(0x1), info(0x1 | 0x10)];
        let m = MemoryForUsage::new(&types, 0);
        assert_eq!(m.types(UsageFlags::empty()), &[0]);
        assert_eq!(m.types(UsageFlags::TRANSIENT_ATTACHMENT), &[1, 0]);
    }
}
