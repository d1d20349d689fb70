//! Errors of allocation and mapping.

#![deny(unsafe_code)]

use gpu_alloc_types::{DeviceMapError, ExternalMemoryHandleTypes, OutOfMemory};

/// Why an allocation failed (the error of [`GpuAllocator::alloc`]).
///
/// [`GpuAllocator::try_alloc`] returns the more precise [`TryAllocError`], which
/// converts into this type.
///
/// [`GpuAllocator::alloc`]: crate::GpuAllocator::alloc
/// [`GpuAllocator::try_alloc`]: crate::GpuAllocator::try_alloc
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AllocationError {
    /// No acceptable heap has room (or the device said so). Free memory of those
    /// heaps, call [`cleanup`](crate::GpuAllocator::cleanup), or request fewer bytes.
    /// Also returned for a request larger than any acceptable heap can ever hold.
    #[error("device memory exhausted")]
    OutOfDeviceMemory,

    /// Host memory exhausted (or mapping a new memory object failed). Free host
    /// memory and retry.
    #[error("host memory exhausted")]
    OutOfHostMemory,

    /// No memory type allowed by `Request::memory_types` can serve the request's
    /// usage, or the request itself is invalid (zero size, an `align_mask` that is
    /// not `2^n - 1`, `DEVICE_ADDRESS` without the feature). Fix the request; use
    /// [`try_alloc`](crate::GpuAllocator::try_alloc) to learn which.
    #[error("no compatible memory type for the request, or an invalid request")]
    NoCompatibleMemoryTypes,

    /// The device's limit on live memory objects is reached. Free memory (dedicated
    /// blocks first) or raise the `Config` thresholds so fewer objects are needed.
    #[error("reached the limit on the number of device memory objects")]
    TooManyObjects,
}

impl From<OutOfMemory> for AllocationError {
    fn from(err: OutOfMemory) -> Self {
        match err {
            OutOfMemory::OutOfDeviceMemory => AllocationError::OutOfDeviceMemory,
            OutOfMemory::OutOfHostMemory => AllocationError::OutOfHostMemory,
        }
    }
}

/// Why an allocation failed, precisely (the error of
/// [`GpuAllocator::try_alloc`](crate::GpuAllocator::try_alloc)).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum TryAllocError {
    /// Every acceptable heap is full (by the allocator's accounting, the heap budget
    /// or the device's answer). Free memory of those heaps, call
    /// [`cleanup`](crate::GpuAllocator::cleanup), or request fewer bytes.
    #[error("device memory exhausted")]
    OutOfDeviceMemory,

    /// Host memory exhausted. Free host memory and retry.
    #[error("host memory exhausted")]
    OutOfHostMemory,

    /// Mapping a new host-visible memory object failed (no host address space).
    /// Free or unmap other host-visible memory and retry.
    #[error("mapping a new memory object failed")]
    MapFailed,

    /// No memory type allowed by `Request::memory_types` can serve the usage. Widen
    /// the mask or change the usage.
    #[error("no memory type allowed by the request's mask can serve its usage")]
    NoCompatibleMemoryTypes,

    /// The device's limit on live memory objects is reached. Free memory (dedicated
    /// blocks first) or raise the `Config` thresholds so fewer objects are needed.
    #[error("reached the limit on the number of device memory objects")]
    TooManyObjects,

    /// `Request::size` is zero. Request at least one byte.
    #[error("requested size is zero")]
    ZeroSize,

    /// `Request::align_mask` is not of the form `2^n - 1`. Pass the alignment minus one.
    #[error("align_mask {align_mask:#x} is not 2^n - 1")]
    InvalidAlignMask {
        /// The mask that was passed.
        align_mask: u64,
    },

    /// The request is larger than any acceptable memory type can ever hold: its heap
    /// size or `max_memory_allocation_size`. Split the resource.
    #[error("requested {size} bytes, but at most {max} fit in one memory object")]
    TooLarge {
        /// The requested size (after rounding to the non-coherent atom size).
        size: u64,
        /// The largest size any acceptable memory type can hold.
        max: u64,
    },

    /// `UsageFlags::DEVICE_ADDRESS` was requested but `DeviceProperties::buffer_device_address`
    /// is false. Enable the feature on the device and say so in the properties.
    #[error("DEVICE_ADDRESS usage requested but buffer device address is not enabled")]
    DeviceAddressNotEnabled,

    /// The block requires a dedicated memory object for its resource
    /// ([`Dedicated::Required`](crate::Dedicated::Required) with
    /// [`AllocOptions::dedicated_resource`](crate::AllocOptions::dedicated_resource)),
    /// but the device cannot send the resource with the allocation. Enable
    /// Vulkan 1.1 or `VK_KHR_dedicated_allocation` and say so in the device's
    /// `AllocationSupport`.
    #[error("a dedicated allocation for a resource was required, but the device cannot send one")]
    DedicatedNotSupported,

    /// The block asks for export handle types the device cannot export. Enable
    /// the external memory extensions of those types and say so in the
    /// device's `AllocationSupport`.
    #[error("export as {requested:?} requested, but the device exports only {supported:?}")]
    ExportNotSupported {
        /// The handle types asked for.
        requested: ExternalMemoryHandleTypes,
        /// The handle types the device supports.
        supported: ExternalMemoryHandleTypes,
    },

    /// [`AllocOptions::pool`](crate::AllocOptions::pool) names a pool that
    /// was destroyed, or one of another allocator.
    #[error("the pool was destroyed or belongs to another allocator")]
    UnknownPool,

    /// The request's `memory_types` mask excludes the memory type of the pool
    /// it asks for. Create the pool for a memory type the resource allows.
    #[error("the request does not allow the pool's memory type {memory_type}")]
    PoolTypeNotAllowed {
        /// The pool's memory type.
        memory_type: u32,
    },

    /// Every memory object the pool may have is made and none has room
    /// ([`PoolOptions::max_objects`](crate::PoolOptions::max_objects)). Free
    /// blocks of the pool (evict), or allocate elsewhere.
    #[error("the pool is full: its {max_objects} memory objects have no room")]
    PoolFull {
        /// The pool's limit on memory objects.
        max_objects: u32,
    },

    /// A block of a pool shares the pool's memory objects: it cannot require
    /// a memory object of its own ([`Dedicated::Required`](crate::Dedicated::Required))
    /// or export types (give those to the pool, [`PoolOptions::export`](crate::PoolOptions::export)).
    #[error("a block of a pool cannot require a dedicated memory object or export types")]
    DedicatedInPool,
}

impl From<TryAllocError> for AllocationError {
    fn from(err: TryAllocError) -> Self {
        match err {
            TryAllocError::OutOfDeviceMemory
            | TryAllocError::TooLarge { .. }
            | TryAllocError::PoolFull { .. } => AllocationError::OutOfDeviceMemory,
            TryAllocError::OutOfHostMemory | TryAllocError::MapFailed => {
                AllocationError::OutOfHostMemory
            }
            TryAllocError::TooManyObjects => AllocationError::TooManyObjects,
            TryAllocError::NoCompatibleMemoryTypes
            | TryAllocError::ZeroSize
            | TryAllocError::InvalidAlignMask { .. }
            | TryAllocError::DeviceAddressNotEnabled
            | TryAllocError::DedicatedNotSupported
            | TryAllocError::ExportNotSupported { .. }
            | TryAllocError::UnknownPool
            | TryAllocError::PoolTypeNotAllowed { .. }
            | TryAllocError::DedicatedInPool => AllocationError::NoCompatibleMemoryTypes,
        }
    }
}

impl From<OutOfMemory> for TryAllocError {
    fn from(err: OutOfMemory) -> Self {
        match err {
            OutOfMemory::OutOfDeviceMemory => TryAllocError::OutOfDeviceMemory,
            OutOfMemory::OutOfHostMemory => TryAllocError::OutOfHostMemory,
        }
    }
}

impl From<DeviceMapError> for TryAllocError {
    fn from(err: DeviceMapError) -> Self {
        match err {
            DeviceMapError::OutOfDeviceMemory => TryAllocError::OutOfDeviceMemory,
            DeviceMapError::OutOfHostMemory => TryAllocError::OutOfHostMemory,
            DeviceMapError::MapFailed => TryAllocError::MapFailed,
        }
    }
}

/// Why mapping, flushing or invalidating a block failed.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum MapError {
    /// Device memory exhausted. Free device memory and retry.
    #[error("device memory exhausted")]
    OutOfDeviceMemory,

    /// Host memory exhausted. Free host memory and retry.
    #[error("host memory exhausted")]
    OutOfHostMemory,

    /// The block's memory type is not host-visible. Allocate with
    /// `UsageFlags::HOST_ACCESS` (or `UPLOAD` / `DOWNLOAD`) to map it.
    #[error("the block's memory is not host-visible")]
    NonHostVisible,

    /// Mapping failed for an implementation-specific reason (for Vulkan, usually no
    /// host address space), or the requested range does not lie inside the block.
    /// Check the range; otherwise unmap other memory and retry.
    #[error("mapping failed, or the range lies outside the block")]
    MapFailed,

    /// The block is already mapped. Unmap it first, or use the pointer you have.
    #[error("the block is already mapped")]
    AlreadyMapped,
}

impl From<DeviceMapError> for MapError {
    fn from(err: DeviceMapError) -> Self {
        match err {
            DeviceMapError::OutOfDeviceMemory => MapError::OutOfDeviceMemory,
            DeviceMapError::OutOfHostMemory => MapError::OutOfHostMemory,
            DeviceMapError::MapFailed => MapError::MapFailed,
        }
    }
}

impl From<OutOfMemory> for MapError {
    fn from(err: OutOfMemory) -> Self {
        match err {
            OutOfMemory::OutOfDeviceMemory => MapError::OutOfDeviceMemory,
            OutOfMemory::OutOfHostMemory => MapError::OutOfHostMemory,
        }
    }
}
