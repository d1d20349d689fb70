//! Which errors a request may get: the exact documented error for a request no
//! memory type can serve, and otherwise only a failure that has a cause the
//! model can name.

use {
    crate::sim::Layout,
    gpu_alloc::{AllocationError, Request, TryAllocError, UsageFlags},
};

/// Failures the simulated device injected (see `sim::Stats`), or injected
/// during one call when taken as a difference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Injected {
    /// Failed `allocate_memory` calls.
    pub allocs: u64,
    /// Failed `map_memory` calls.
    pub maps: u64,
}

impl Injected {
    /// Whether nothing was injected.
    pub fn none(self) -> bool {
        self == Injected::default()
    }
}

/// What one allocation call met on the device, and what the model knew before
/// it: the causes a refusal may have.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Causes {
    /// Failures injected during the call.
    pub(crate) injected: Injected,
    /// Device calls during the call that failed because the host could not
    /// back a memory object (`sim::Stats::backing_failures`).
    pub(crate) host_failures: u64,
    /// Whether some eligible type's heap surely has room (see [`roomy`]).
    pub(crate) room: bool,
    /// Whether heaps and the object limit are shrunk to a few MiB and objects.
    pub(crate) tight: bool,
    /// Whether the allocator was given a budget reading.
    pub(crate) budgets: bool,
    /// Whether no block was live before the call.
    pub(crate) empty: bool,
}

/// The error a request must get whatever the state: zero size, a bad
/// alignment mask, `DEVICE_ADDRESS` without the feature, no eligible memory
/// type, or too large for every eligible one (the core's documented order).
pub(crate) fn invalid(
    layout: &Layout,
    request: &Request,
    eligible: &[u32],
) -> Option<TryAllocError> {
    if request.size == 0 {
        Some(TryAllocError::ZeroSize)
    } else if request.align_mask.wrapping_add(1) & request.align_mask != 0 {
        Some(TryAllocError::InvalidAlignMask {
            align_mask: request.align_mask,
        })
    } else if request.usage.contains(UsageFlags::DEVICE_ADDRESS) && !layout.buffer_device_address {
        Some(TryAllocError::DeviceAddressNotEnabled)
    } else if eligible.is_empty() {
        Some(TryAllocError::NoCompatibleMemoryTypes)
    } else {
        too_large(layout, request, eligible)
    }
}

/// The `TooLarge` error a request must get when it is larger than any eligible
/// type can ever hold (its heap size or `max_memory_allocation_size`, after
/// rounding to whole atoms in non-coherent memory).
pub(crate) fn too_large(
    layout: &Layout,
    request: &Request,
    eligible: &[u32],
) -> Option<TryAllocError> {
    let (mut size, mut max, mut fits) = (0u64, 0u64, false);
    for &ty in eligible {
        let flags = layout.type_flags(ty);
        let non_coherent = flags & 0x2 != 0 && flags & 0x4 == 0;
        let rounded = if non_coherent {
            let mask = layout.non_coherent_atom_size - 1;
            request
                .size
                .checked_add(mask)
                .map_or(u64::MAX, |s| s & !mask)
        } else {
            request.size
        };
        let heap = layout.memory_heaps[layout.type_heap(ty) as usize].size;
        let max_object = heap.min(layout.max_memory_allocation_size);
        size = size.max(rounded);
        max = max.max(max_object);
        fits |= rounded <= max_object;
    }
    (!fits).then_some(TryAllocError::TooLarge { size, max })
}

/// Whether a heap holding `used` bytes of `heap_size` surely has room for
/// `size` more: at most half full with the request, twice over, and a largest
/// chunk (an eighth of the heap) added.
pub(crate) fn roomy(used: u64, heap_size: u64, size: u64) -> bool {
    size.checked_mul(2)
        .and_then(|twice| twice.checked_add(used))
        .and_then(|total| total.checked_add(heap_size / 8))
        .is_some_and(|total| total <= heap_size / 2)
}

/// The errors a valid request (one [`invalid`] has no error for) may get, each
/// for a cause: an injected `allocate_memory` failure may end as
/// `OutOfDeviceMemory` (when no other type or smaller object serves) and an
/// injected `map_memory` failure as `MapFailed`; a new object the simulated
/// device could not back with host memory as `OutOfHostMemory`. Besides: with tight heaps and object limits,
/// running out of room or objects, unless the allocator holds no block and has
/// no budget (then it must make room by freeing its empty memory objects);
/// with a budget, running out of room; and a large request that may not fit
/// beside the live blocks (224 MiB heaps on some NVIDIA layouts). Nothing
/// else: the simulated device fails nothing on its own here. An empty list
/// means the request must be served.
pub(crate) fn refusals(causes: &Causes) -> Vec<TryAllocError> {
    let mut expected = Vec::new();
    let mut out_of_memory = causes.injected.allocs > 0;
    if causes.injected.maps > 0 {
        expected.push(TryAllocError::MapFailed);
    }
    if causes.host_failures > 0 {
        expected.push(TryAllocError::OutOfHostMemory);
    }
    if causes.tight {
        if !causes.empty || causes.budgets {
            out_of_memory = true;
            expected.push(TryAllocError::TooManyObjects);
        }
    } else {
        out_of_memory |= causes.budgets || (!causes.room && !causes.empty);
    }
    if out_of_memory {
        expected.push(TryAllocError::OutOfDeviceMemory);
    }
    expected
}

/// Whether `error` (`Ok`: a `TryAllocError`, `Err`: a legacy
/// `AllocationError`) is one of `expected`.
pub(crate) fn is_expected(
    error: Result<TryAllocError, AllocationError>,
    expected: &[TryAllocError],
) -> bool {
    match error {
        Ok(e) => expected.contains(&e),
        Err(e) => expected.iter().any(|&t| AllocationError::from(t) == e),
    }
}
