//! What the backends share without depending on the allocator: the features an
//! application enabled, a resource's memory requirements and how they become a
//! request, and the forwarding behind every budget-reading device
//! ([`forward_memory_device!`](crate::forward_memory_device)).

#[cfg(doc)]
use crate::{AllocationFlags, MemoryDevice};

/// Optional device features the application *enabled* on the device it allocates
/// from, and that change what the allocator may do.
///
/// A physical device can only tell what it supports; using a feature that was not
/// enabled on the `VkDevice` is invalid, so the application says what it enabled.
/// Everything defaults to off.
///
/// ```
/// use gpu_alloc_types::EnabledFeatures;
///
/// // The device was created with `bufferDeviceAddress` enabled.
/// let enabled = EnabledFeatures::new().with_buffer_device_address(true);
/// assert!(enabled.buffer_device_address);
/// assert_eq!(EnabledFeatures::new(), EnabledFeatures::default());
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct EnabledFeatures {
    /// The `bufferDeviceAddress` feature (Vulkan 1.2 or
    /// `VK_KHR_buffer_device_address`) is enabled on the device, so memory may be
    /// allocated with [`AllocationFlags::DEVICE_ADDRESS`].
    pub buffer_device_address: bool,
}

impl EnabledFeatures {
    /// No optional feature enabled.
    pub const fn new() -> Self {
        EnabledFeatures {
            buffer_device_address: false,
        }
    }

    /// Says whether `bufferDeviceAddress` is enabled on the device.
    pub const fn with_buffer_device_address(mut self, enabled: bool) -> Self {
        self.buffer_device_address = enabled;
        self
    }
}

/// What a resource needs from the memory bound to it, in the terms of a request:
/// the part of an allocation request that the API reports (for Vulkan,
/// `VkMemoryRequirements`).
///
/// Backends build it from their API's requirements; the allocator turns it into a
/// request with the usage through [`FromMemoryRequirements`].
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct MemoryRequirements {
    /// Size in bytes.
    pub size: u64,
    /// Alignment minus one.
    pub align_mask: u64,
    /// Bit `i` set allows memory type `i` (`memoryTypeBits`).
    pub memory_types: u32,
}

impl MemoryRequirements {
    /// Requirements from the values an API reports: `alignment` is the alignment
    /// itself (a power of two), not a mask. An alignment of 0, which no Vulkan
    /// driver reports, reads as 1; one that is not a power of two gives a mask the
    /// allocator refuses.
    ///
    /// ```
    /// use gpu_alloc_types::MemoryRequirements;
    ///
    /// let req = MemoryRequirements::new(1000, 256, 0b101);
    /// assert_eq!((req.size, req.align_mask, req.memory_types), (1000, 255, 0b101));
    /// assert_eq!(MemoryRequirements::new(1, 0, 1).align_mask, 0);
    /// ```
    pub const fn new(size: u64, alignment: u64, memory_types: u32) -> Self {
        let alignment = if alignment == 0 { 1 } else { alignment };
        MemoryRequirements {
            size,
            align_mask: alignment - 1,
            memory_types,
        }
    }
}

/// A request built from a resource's [`MemoryRequirements`] and what the memory
/// is for (`usage`).
///
/// `gpu-alloc` implements it for its `Request` with its `UsageFlags`, so a backend
/// that depends on this crate alone can still turn its API's requirements into a
/// request in one call (`gpu_alloc_ash::request_from_requirements`).
pub trait FromMemoryRequirements<U>: Sized {
    /// The request for memory meeting `requirements`, used as `usage` says.
    fn from_memory_requirements(requirements: MemoryRequirements, usage: U) -> Self;
}

/// Whether a resource needs a memory object of its own, as the API's
/// dedicated requirements say (Vulkan's `VkMemoryDedicatedRequirements`).
/// The two values are those of `gpu_alloc::Dedicated`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DedicatedNeed {
    /// `requiresDedicatedAllocation`: the resource may only be bound to a
    /// memory object allocated for it (`gpu_alloc::Dedicated::Required`, with
    /// the resource as `AllocOptions::dedicated_resource`). Images with
    /// external memory often say so.
    Required,
    /// `prefersDedicatedAllocation` alone: a memory object of its own may be
    /// faster (`gpu_alloc::Dedicated::Preferred`).
    Preferred,
}

impl DedicatedNeed {
    /// The need the two flags of the API say: required wins over preferred;
    /// `None` when neither is set.
    ///
    /// ```
    /// use gpu_alloc_types::DedicatedNeed;
    ///
    /// assert_eq!(DedicatedNeed::from_flags(true, true), Some(DedicatedNeed::Required));
    /// assert_eq!(DedicatedNeed::from_flags(false, true), Some(DedicatedNeed::Preferred));
    /// assert_eq!(DedicatedNeed::from_flags(false, false), None);
    /// ```
    pub fn from_flags(requires: bool, prefers: bool) -> Option<Self> {
        if requires {
            Some(DedicatedNeed::Required)
        } else if prefers {
            Some(DedicatedNeed::Preferred)
        } else {
            None
        }
    }
}

/// A resource's memory requirements and its need of a dedicated memory
/// object: what the backends' `buffer_memory_requirements2` and
/// `image_memory_requirements2` read.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ResourceRequirements {
    /// Size, alignment and allowed memory types.
    pub requirements: MemoryRequirements,
    /// Whether the resource needs a memory object of its own; `None` when the
    /// driver neither requires nor prefers one.
    pub dedicated: Option<DedicatedNeed>,
}

impl ResourceRequirements {
    /// The requirements and the dedicated need.
    pub fn new(requirements: MemoryRequirements, dedicated: Option<DedicatedNeed>) -> Self {
        ResourceRequirements {
            requirements,
            dedicated,
        }
    }

    /// The allocation request for the resource, used as `usage` says. The
    /// dedicated need is not in it: it goes in the allocation's options.
    pub fn request<R, U>(&self, usage: U) -> R
    where
        R: FromMemoryRequirements<U>,
    {
        R::from_memory_requirements(self.requirements, usage)
    }
}

/// Implements [`MemoryDevice`] for a device that is another memory device plus a
/// way to read heap budgets: every memory operation calls the inner device's
/// method with the same arguments, and
/// [`memory_budget`](MemoryDevice::memory_budget) calls a method of the type.
///
/// The backends' budget-reading devices (`AshBudgetDevice`, `EruptBudgetDevice`)
/// are written with it, so the forwarding is written once, here. Memory objects
/// allocated through either device may be freed through the other.
///
/// Name the method that returns the inner device (`inner:`) and the one with
/// the signature and contract of `memory_budget` (`budget:`); lifetimes and type
/// parameters of the impl go in brackets after `impl`. The device reports the
/// inner device's [`allocation_support`](MemoryDevice::allocation_support),
/// or, with `unsafe support: method`, what a method of the type returns (for a
/// device that knows which extensions its application enabled). `unsafe`
/// there is the author's promise, as for
/// [`WithSupport::new`](crate::WithSupport::new): the device was created with
/// everything the method reports, and the inner device's
/// [`allocate_memory_with`](MemoryDevice::allocate_memory_with) sends it.
///
/// (A macro rather than a blanket implementation over a trait: a blanket
/// `impl<T: Trait> MemoryDevice<_> for T` would make downstream impls such as
/// `impl MemoryDevice<MyMemory> for Arc<MyDevice>` conflict with it, which this
/// crate's semver promise does not allow.)
///
/// ```
/// use core::ptr::NonNull;
/// use gpu_alloc_types::{
///     AllocationFlags, DeviceMapError, HeapBudget, MappedMemoryRange, MemoryDevice, OutOfMemory,
/// };
///
/// /// A device with no memory at all.
/// struct Empty;
///
/// impl MemoryDevice<u32> for Empty {
///     unsafe fn allocate_memory(&self, _: u64, _: u32, _: AllocationFlags) -> Result<u32, OutOfMemory> {
///         Err(OutOfMemory::OutOfDeviceMemory)
///     }
///     unsafe fn deallocate_memory(&self, _: u32) {}
///     unsafe fn map_memory(&self, _: &mut u32, _: u64, _: u64) -> Result<NonNull<u8>, DeviceMapError> {
///         Err(DeviceMapError::MapFailed)
///     }
///     unsafe fn unmap_memory(&self, _: &mut u32) {}
///     unsafe fn invalidate_memory_ranges(&self, _: &[MappedMemoryRange<'_, u32>]) -> Result<(), OutOfMemory> {
///         Ok(())
///     }
///     unsafe fn flush_memory_ranges(&self, _: &[MappedMemoryRange<'_, u32>]) -> Result<(), OutOfMemory> {
///         Ok(())
///     }
/// }
///
/// /// A borrowed `Empty`, with a fixed budget of 1 KiB per heap.
/// struct Budgeted<'a>(&'a Empty);
///
/// impl Budgeted<'_> {
///     fn inner(&self) -> &Empty {
///         self.0
///     }
///
///     fn read_budgets(&self, budgets: &mut [HeapBudget]) -> bool {
///         budgets.fill(HeapBudget { budget: 1024, usage: 0 });
///         true
///     }
/// }
///
/// gpu_alloc_types::forward_memory_device! {
///     impl['a] MemoryDevice<u32> for Budgeted<'a> { inner: inner, budget: read_budgets }
/// }
///
/// let mut budgets = [HeapBudget::default(); 2];
/// assert!(Budgeted(&Empty).memory_budget(&mut budgets));
/// assert_eq!(budgets[1].budget, 1024);
/// assert!(!Empty.memory_budget(&mut budgets));
/// // SAFETY: `Empty` allocates nothing, whatever it is asked.
/// let refused = unsafe { Budgeted(&Empty).allocate_memory(1, 0, AllocationFlags::empty()) };
/// assert_eq!(refused, Err(OutOfMemory::OutOfDeviceMemory));
/// ```
#[macro_export]
macro_rules! forward_memory_device {
    (
        impl $([$($generics:tt)*])? MemoryDevice<$memory:ty> for $device:ty {
            inner: $inner:ident,
            budget: $budget:ident $(,)?
        }
    ) => {
        $crate::forward_memory_device! {
            @impl [$($($generics)*)?] $memory, $device, $inner, $budget, inner, $inner
        }
    };
    (
        impl $([$($generics:tt)*])? MemoryDevice<$memory:ty> for $device:ty {
            inner: $inner:ident,
            budget: $budget:ident,
            unsafe support: $support:ident $(,)?
        }
    ) => {
        $crate::forward_memory_device! {
            @impl [$($($generics)*)?] $memory, $device, $inner, $budget, own, $support
        }
    };
    (@support inner, $this:ident, $memory:ty, $inner:ident, $support:ident) => {
        $crate::MemoryDevice::<$memory>::allocation_support($this.$inner())
    };
    (@support own, $this:ident, $memory:ty, $inner:ident, $support:ident) => {
        $this.$support()
    };
    (
        @impl [$($generics:tt)*] $memory:ty, $device:ty, $inner:ident, $budget:ident,
        $mode:ident, $support:ident
    ) => {
        /// Every memory operation is the inner device's, called with the same
        /// arguments, so the caller's promises under each `# Safety` are exactly
        /// the inner device's; budgets are read by this type.
        impl<$($generics)*> $crate::MemoryDevice<$memory> for $device {
            unsafe fn allocate_memory(
                &self,
                size: u64,
                memory_type: u32,
                flags: $crate::AllocationFlags,
            ) -> ::core::result::Result<$memory, $crate::OutOfMemory> {
                // SAFETY: the caller keeps `allocate_memory`'s contract for this
                // device, which is the inner device's: the same call.
                unsafe {
                    $crate::MemoryDevice::<$memory>::allocate_memory(
                        self.$inner(),
                        size,
                        memory_type,
                        flags,
                    )
                }
            }

            unsafe fn deallocate_memory(&self, memory: $memory) {
                // SAFETY: as above; memory of this device is memory of the inner
                // device.
                unsafe { $crate::MemoryDevice::<$memory>::deallocate_memory(self.$inner(), memory) }
            }

            unsafe fn map_memory(
                &self,
                memory: &mut $memory,
                offset: u64,
                size: u64,
            ) -> ::core::result::Result<::core::ptr::NonNull<u8>, $crate::DeviceMapError> {
                // SAFETY: as above.
                unsafe {
                    $crate::MemoryDevice::<$memory>::map_memory(self.$inner(), memory, offset, size)
                }
            }

            unsafe fn unmap_memory(&self, memory: &mut $memory) {
                // SAFETY: as above.
                unsafe { $crate::MemoryDevice::<$memory>::unmap_memory(self.$inner(), memory) }
            }

            unsafe fn invalidate_memory_ranges(
                &self,
                ranges: &[$crate::MappedMemoryRange<'_, $memory>],
            ) -> ::core::result::Result<(), $crate::OutOfMemory> {
                // SAFETY: as above.
                unsafe {
                    $crate::MemoryDevice::<$memory>::invalidate_memory_ranges(self.$inner(), ranges)
                }
            }

            unsafe fn flush_memory_ranges(
                &self,
                ranges: &[$crate::MappedMemoryRange<'_, $memory>],
            ) -> ::core::result::Result<(), $crate::OutOfMemory> {
                // SAFETY: as above.
                unsafe {
                    $crate::MemoryDevice::<$memory>::flush_memory_ranges(self.$inner(), ranges)
                }
            }

            fn allocation_support(&self) -> $crate::AllocationSupport {
                $crate::forward_memory_device!(@support $mode, self, $memory, $inner, $support)
            }

            unsafe fn allocate_memory_with(
                &self,
                size: u64,
                memory_type: u32,
                info: &$crate::AllocateInfo,
            ) -> ::core::result::Result<$memory, $crate::OutOfMemory> {
                // SAFETY: as above; the support the caller kept to is the
                // inner device's, or what the type's author vouched the inner
                // device sends (`unsafe support:`).
                unsafe {
                    $crate::MemoryDevice::<$memory>::allocate_memory_with(
                        self.$inner(),
                        size,
                        memory_type,
                        info,
                    )
                }
            }

            fn memory_budget(&self, budgets: &mut [$crate::HeapBudget]) -> bool {
                self.$budget(budgets)
            }
        }
    };
}

#[cfg(test)]
mod tests;
