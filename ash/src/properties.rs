//! Reading device properties and memory budgets through ash.

use {
    crate::convert::{memory_heap_info_from_ash, memory_type_info_from_ash},
    ash::{ext, khr, vk},
    gpu_alloc_types::{DeviceProperties, EnabledFeatures, ExtendedProperties, HeapBudget},
    std::{borrow::Cow, ffi::CStr, fmt, vec::Vec},
};

/// Which entry points read `VkPhysicalDeviceProperties2`,
/// `VkPhysicalDeviceMemoryProperties2` and `VkPhysicalDeviceFeatures2`: they give
/// `maxMemoryAllocationSize` (maintenance3), the memory budget and whether buffer
/// device address is supported.
///
/// Every function of this crate that takes one also takes the `apiVersion` the
/// instance was created with (a `u32`), which means
/// [`Properties2::for_version`] of it.
#[derive(Clone, Copy, Default)]
pub enum Properties2<'a> {
    /// Core Vulkan 1.1 or later: the instance was created with this `apiVersion`
    /// (at least 1.1). Structures of a core version (maintenance3's of 1.1,
    /// buffer device address's of 1.2) are used only when both this and the
    /// physical device's `apiVersion` reach it, as the Vulkan spec asks; a
    /// physical device older than 1.1 is read as with
    /// [`Properties2::Unavailable`].
    Core(u32),
    /// `VK_KHR_get_physical_device_properties2`, enabled on a Vulkan 1.0
    /// instance.
    Khr(&'a khr::get_physical_device_properties2::Instance),
    /// Neither: only Vulkan 1.0 queries are made. `maxMemoryAllocationSize` is
    /// then the size of the largest heap (see
    /// [`AshDeviceProperties::max_memory_allocation_size_reported`]), buffer device
    /// address counts as unsupported and no budget can be read.
    #[default]
    Unavailable,
}

impl Properties2<'_> {
    /// [`Properties2::Core`] when `instance_api_version` (the `apiVersion` the
    /// instance was created with) is 1.1 or later, else
    /// [`Properties2::Unavailable`].
    pub fn for_version(instance_api_version: u32) -> Self {
        if instance_api_version >= vk::API_VERSION_1_1 {
            Properties2::Core(instance_api_version)
        } else {
            Properties2::Unavailable
        }
    }

    /// `self`, or `Unavailable` when core 1.1 queries may not be used with a
    /// physical device of `device_api_version`.
    fn usable_with(self, device_api_version: u32) -> Self {
        match self {
            Properties2::Core(instance)
                if instance.min(device_api_version) < vk::API_VERSION_1_1 =>
            {
                Properties2::Unavailable
            }
            other => other,
        }
    }

    /// The highest core version whose physical-device structures may be chained
    /// for a physical device of `device_api_version` (1.0 through the extension:
    /// its instance has no 1.1).
    fn core_version(self, device_api_version: u32) -> u32 {
        match self {
            Properties2::Core(instance) => instance.min(device_api_version),
            Properties2::Khr(_) | Properties2::Unavailable => vk::API_VERSION_1_0,
        }
    }

    /// # Safety
    ///
    /// `physical_device` comes from `instance`, `self` is not `Unavailable` and
    /// was made for `instance`, and `out`'s chain holds only structures of
    /// versions or extensions the physical device supports.
    unsafe fn properties(
        self,
        instance: &ash::Instance,
        physical_device: vk::PhysicalDevice,
        out: &mut vk::PhysicalDeviceProperties2<'_>,
    ) {
        match self {
            // SAFETY: the caller's contract; Core means the instance has 1.1.
            Properties2::Core(_) => unsafe {
                instance.get_physical_device_properties2(physical_device, out)
            },
            // SAFETY: the caller's contract; the loader was made for `instance`.
            Properties2::Khr(khr) => unsafe {
                khr.get_physical_device_properties2(physical_device, out)
            },
            Properties2::Unavailable => unreachable!("checked by the callers"),
        }
    }

    /// # Safety
    ///
    /// As for [`Properties2::properties`].
    unsafe fn memory_properties(
        self,
        instance: &ash::Instance,
        physical_device: vk::PhysicalDevice,
        out: &mut vk::PhysicalDeviceMemoryProperties2<'_>,
    ) {
        match self {
            // SAFETY: the caller's contract; Core means the instance has 1.1.
            Properties2::Core(_) => unsafe {
                instance.get_physical_device_memory_properties2(physical_device, out)
            },
            // SAFETY: the caller's contract; the loader was made for `instance`.
            Properties2::Khr(khr) => unsafe {
                khr.get_physical_device_memory_properties2(physical_device, out)
            },
            Properties2::Unavailable => unreachable!("checked by the callers"),
        }
    }

    /// # Safety
    ///
    /// As for [`Properties2::properties`].
    unsafe fn features(
        self,
        instance: &ash::Instance,
        physical_device: vk::PhysicalDevice,
        out: &mut vk::PhysicalDeviceFeatures2<'_>,
    ) {
        match self {
            // SAFETY: the caller's contract; Core means the instance has 1.1.
            Properties2::Core(_) => unsafe {
                instance.get_physical_device_features2(physical_device, out)
            },
            // SAFETY: the caller's contract; the loader was made for `instance`.
            Properties2::Khr(khr) => unsafe {
                khr.get_physical_device_features2(physical_device, out)
            },
            Properties2::Unavailable => unreachable!("checked by the callers"),
        }
    }
}

impl From<u32> for Properties2<'_> {
    /// [`Properties2::for_version`].
    fn from(instance_api_version: u32) -> Self {
        Properties2::for_version(instance_api_version)
    }
}

impl fmt::Debug for Properties2<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Properties2::Core(v) => write!(
                f,
                "Core({}.{})",
                vk::api_version_major(v),
                vk::api_version_minor(v)
            ),
            Properties2::Khr(_) => f.write_str("Khr"),
            Properties2::Unavailable => f.write_str("Unavailable"),
        }
    }
}

/// Everything this crate reads about a physical device's memory, in one query
/// ([`extended_device_properties`]), and the features the application said it
/// enabled.
///
/// Build the allocator's inputs from it with
/// [`device_properties`](AshDeviceProperties::device_properties) and
/// [`extended`](AshDeviceProperties::extended).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AshDeviceProperties {
    /// Every memory type and heap with all its bits, and
    /// `bufferImageGranularity`.
    pub extended: ExtendedProperties<'static>,

    /// `maxMemoryAllocationCount`.
    pub max_memory_allocation_count: u32,

    /// `maxMemoryAllocationSize` from `VkPhysicalDeviceMaintenance3Properties`
    /// when the device has maintenance3 (Vulkan 1.1 or `VK_KHR_maintenance3`)
    /// and [`Properties2`] is available; otherwise the size of the largest heap,
    /// which no single allocation can exceed.
    pub max_memory_allocation_size: u64,

    /// Whether [`max_memory_allocation_size`](Self::max_memory_allocation_size)
    /// is the device's `maxMemoryAllocationSize` (`true`) or the largest-heap
    /// fallback (`false`).
    pub max_memory_allocation_size_reported: bool,

    /// `nonCoherentAtomSize`.
    pub non_coherent_atom_size: u64,

    /// Whether the device *supports* the `bufferDeviceAddress` feature (Vulkan
    /// 1.2 or `VK_KHR_buffer_device_address`). Supported is not enabled: see
    /// [`enabled`](Self::enabled).
    pub buffer_device_address_supported: bool,

    /// The features the caller said are enabled on the device it allocates from.
    pub enabled: EnabledFeatures,

    /// Whether the device supports `VK_EXT_memory_budget` and [`Properties2`]
    /// is available, so budgets can be read.
    pub memory_budget_supported: bool,

    /// The budget of each heap at the time of the query, when
    /// [`memory_budget_supported`](Self::memory_budget_supported).
    pub memory_budget: Option<Vec<HeapBudget>>,

    /// The physical device's `apiVersion`.
    pub device_api_version: u32,
}

/// The name of [`AshDeviceProperties`] before it matched the other backends'.
#[doc(hidden)]
pub type AshProperties = AshDeviceProperties;

impl AshDeviceProperties {
    /// The [`DeviceProperties`] for `GpuAllocator::new` and
    /// `GpuAllocator::with_extended_properties`, built through
    /// [`ExtendedProperties::device_properties`].
    ///
    /// `buffer_device_address` is set when the caller said the feature is
    /// [`enabled`](Self::enabled) and the device
    /// [supports](Self::buffer_device_address_supported) it; the allocator then
    /// may allocate with `VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT`.
    pub fn device_properties(&self) -> DeviceProperties<'static> {
        self.extended.device_properties(
            self.max_memory_allocation_count,
            self.max_memory_allocation_size,
            self.non_coherent_atom_size,
            self.enabled.buffer_device_address && self.buffer_device_address_supported,
        )
    }
}

/// Whether `name` is in `extensions`.
fn has_extension(extensions: &[vk::ExtensionProperties], name: &CStr) -> bool {
    extensions
        .iter()
        .any(|e| e.extension_name_as_c_str() == Ok(name))
}

/// Reads the budget of the first `heap_count` heaps.
///
/// # Safety
///
/// `physical_device` comes from `instance`, `properties2` is usable with it and was
/// made for `instance`, and the physical device supports `VK_EXT_memory_budget`.
pub(crate) unsafe fn read_budget(
    instance: &ash::Instance,
    properties2: Properties2<'_>,
    physical_device: vk::PhysicalDevice,
    out: &mut [HeapBudget],
) -> usize {
    let mut budget = vk::PhysicalDeviceMemoryBudgetPropertiesEXT::default();
    let mut memory = vk::PhysicalDeviceMemoryProperties2::default().push_next(&mut budget);
    // SAFETY: the caller's contract; the only chained structure is that of
    // VK_EXT_memory_budget, which the physical device supports.
    unsafe { properties2.memory_properties(instance, physical_device, &mut memory) };
    let heap_count =
        (memory.memory_properties.memory_heap_count as usize).min(vk::MAX_MEMORY_HEAPS);
    let n = heap_count.min(out.len());
    for (i, slot) in out[..n].iter_mut().enumerate() {
        *slot = HeapBudget {
            budget: budget.heap_budget[i],
            usage: budget.heap_usage[i],
        };
    }
    n
}

/// Reads everything this crate knows about the memory of `physical_device`, and
/// keeps the features the caller says it `enabled` on the device the allocator
/// will serve.
///
/// `properties2` says how the instance reads physical-device properties: a
/// [`Properties2`], or the `apiVersion` the instance was created with.
///
/// Returns an error only when `vkEnumerateDeviceExtensionProperties` fails
/// (out of host or device memory).
///
/// # Safety
///
/// - `instance` is a live instance and `physical_device` one of its physical
///   devices.
/// - `properties2` fits the instance: [`Properties2::Core`] (or a version) of 1.1
///   or later only if the instance was created with that `apiVersion`,
///   [`Properties2::Khr`] only with a loader made for this instance with the
///   extension enabled.
/// - What `enabled` claims is enabled on every device the allocator will use
///   with these properties.
pub unsafe fn extended_device_properties<'p>(
    instance: &ash::Instance,
    properties2: impl Into<Properties2<'p>>,
    physical_device: vk::PhysicalDevice,
    enabled: EnabledFeatures,
) -> Result<AshDeviceProperties, vk::Result> {
    let properties2 = properties2.into();
    // SAFETY: the caller guarantees the instance is live and owns the device.
    let base = unsafe { instance.get_physical_device_properties(physical_device) };
    // SAFETY: as above.
    let extensions = unsafe { instance.enumerate_device_extension_properties(physical_device) }?;
    let device_api_version = base.api_version;
    let properties2 = properties2.usable_with(device_api_version);
    let core = properties2.core_version(device_api_version);
    let v11 = core >= vk::API_VERSION_1_1;
    let v12 = core >= vk::API_VERSION_1_2;
    let has_maintenance3 = v11 || has_extension(&extensions, khr::maintenance3::NAME);
    let has_budget = has_extension(&extensions, ext::memory_budget::NAME);
    let has_bda = v12 || has_extension(&extensions, khr::buffer_device_address::NAME);

    // SAFETY: the caller guarantees the instance is live and owns the device.
    let memory = unsafe { instance.get_physical_device_memory_properties(physical_device) };
    let type_count = (memory.memory_type_count as usize).min(vk::MAX_MEMORY_TYPES);
    let heap_count = (memory.memory_heap_count as usize).min(vk::MAX_MEMORY_HEAPS);
    let memory_types: Vec<_> = memory.memory_types[..type_count]
        .iter()
        .map(memory_type_info_from_ash)
        .collect();
    let memory_heaps: Vec<_> = memory.memory_heaps[..heap_count]
        .iter()
        .map(memory_heap_info_from_ash)
        .collect();
    let largest_heap = memory_heaps.iter().map(|h| h.size).max().unwrap_or(0);

    let mut max_memory_allocation_size = None;
    let mut buffer_device_address_supported = false;
    let mut memory_budget = None;
    if !matches!(properties2, Properties2::Unavailable) {
        if has_maintenance3 {
            let mut maintenance3 = vk::PhysicalDeviceMaintenance3Properties::default();
            let mut props = vk::PhysicalDeviceProperties2::default().push_next(&mut maintenance3);
            // SAFETY: the caller's contract; maintenance3's structure is chained
            // only when instance and device have 1.1, or the device has
            // VK_KHR_maintenance3.
            unsafe { properties2.properties(instance, physical_device, &mut props) };
            // A driver that reports 0 reports nothing usable.
            max_memory_allocation_size =
                Some(maintenance3.max_memory_allocation_size).filter(|&size| size != 0);
        }
        if has_bda {
            let mut bda = vk::PhysicalDeviceBufferDeviceAddressFeatures::default();
            let mut features = vk::PhysicalDeviceFeatures2::default().push_next(&mut bda);
            // SAFETY: the caller's contract; the structure is chained only when
            // instance and device have 1.2, or the device has
            // VK_KHR_buffer_device_address.
            unsafe { properties2.features(instance, physical_device, &mut features) };
            buffer_device_address_supported = bda.buffer_device_address == vk::TRUE;
        }
        if has_budget {
            let mut budgets = vec![HeapBudget::default(); heap_count];
            // SAFETY: the caller's contract; the device supports the extension.
            let n = unsafe { read_budget(instance, properties2, physical_device, &mut budgets) };
            budgets.truncate(n);
            memory_budget = Some(budgets);
        }
    }

    Ok(AshDeviceProperties {
        extended: ExtendedProperties::new(
            Cow::Owned(memory_types),
            Cow::Owned(memory_heaps),
            base.limits.buffer_image_granularity,
        ),
        max_memory_allocation_count: base.limits.max_memory_allocation_count,
        max_memory_allocation_size_reported: max_memory_allocation_size.is_some(),
        max_memory_allocation_size: max_memory_allocation_size.unwrap_or(largest_heap),
        non_coherent_atom_size: base.limits.non_coherent_atom_size,
        buffer_device_address_supported,
        enabled,
        memory_budget_supported: memory_budget.is_some(),
        memory_budget,
        device_api_version,
    })
}

/// [`extended_device_properties`] with nothing enabled: the name this crate's
/// first versions used, kept for their callers.
///
/// # Safety
///
/// As for [`extended_device_properties`].
#[doc(hidden)]
pub unsafe fn query_properties(
    instance: &ash::Instance,
    properties2: Properties2<'_>,
    physical_device: vk::PhysicalDevice,
) -> Result<AshDeviceProperties, vk::Result> {
    // SAFETY: the caller's contract is that of `extended_device_properties`, and
    // nothing is claimed enabled.
    unsafe {
        extended_device_properties(
            instance,
            properties2,
            physical_device,
            EnabledFeatures::new(),
        )
    }
}

/// The [`DeviceProperties`] of `physical_device`, with the signature of
/// gpu-alloc-ash 0.7.
///
/// `version` is the `apiVersion` the instance was created with; from 1.1 on,
/// `maxMemoryAllocationSize` comes from maintenance3 (see
/// [`AshDeviceProperties::max_memory_allocation_size`]).
///
/// **`buffer_device_address` is always `false` here**, where gpu-alloc-ash 0.7.0
/// set it when the device *supported* the feature. A physical device cannot tell
/// whether the application *enabled* it on its `VkDevice`, and an allocator told
/// it is enabled when it is not passes `VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT`
/// to Vulkan, which is invalid. A program that enabled `bufferDeviceAddress`
/// says so with [`device_properties_enabled`]:
///
/// ```no_run
/// # use {ash::vk, gpu_alloc_ash::EnabledFeatures};
/// # unsafe fn f(instance: &ash::Instance, version: u32, physical_device: vk::PhysicalDevice)
/// #     -> Result<(), vk::Result> {
/// let props = unsafe {
///     gpu_alloc_ash::device_properties_enabled(
///         instance,
///         version,
///         physical_device,
///         EnabledFeatures::new().with_buffer_device_address(true),
///     )
/// }?;
/// # Ok(()) }
/// ```
///
/// # Safety
///
/// - `instance` is a live instance created with `apiVersion` `version`, and
///   `physical_device` one of its physical devices.
#[deprecated(
    since = "0.7.1",
    note = "reports `buffer_device_address: false` where 0.7.0 reported whether the device \
            supports it; use `device_properties_enabled(instance, version, physical_device, \
            EnabledFeatures::new())`, with `.with_buffer_device_address(true)` if the device \
            was created with bufferDeviceAddress enabled"
)]
pub unsafe fn device_properties(
    instance: &ash::Instance,
    version: u32,
    physical_device: vk::PhysicalDevice,
) -> Result<DeviceProperties<'static>, vk::Result> {
    // SAFETY: the caller's contract is that of `device_properties_enabled`, and
    // nothing is claimed enabled.
    unsafe { device_properties_enabled(instance, version, physical_device, EnabledFeatures::new()) }
}

/// The [`DeviceProperties`] of `physical_device` for `GpuAllocator::new`, with
/// the features `enabled` on the device the allocator will serve:
/// [`extended_device_properties`] then
/// [`AshDeviceProperties::device_properties`].
///
/// # Safety
///
/// As for [`extended_device_properties`].
pub unsafe fn device_properties_enabled<'p>(
    instance: &ash::Instance,
    properties2: impl Into<Properties2<'p>>,
    physical_device: vk::PhysicalDevice,
    enabled: EnabledFeatures,
) -> Result<DeviceProperties<'static>, vk::Result> {
    // SAFETY: the caller's contract is that of `extended_device_properties`.
    let props =
        unsafe { extended_device_properties(instance, properties2, physical_device, enabled) }?;
    Ok(props.device_properties())
}

/// Whether budgets can be read from `physical_device` through `properties2`.
///
/// # Safety
///
/// As for [`extended_device_properties`].
pub(crate) unsafe fn budget_supported<'p>(
    instance: &ash::Instance,
    properties2: Properties2<'p>,
    physical_device: vk::PhysicalDevice,
) -> Result<(Properties2<'p>, bool), vk::Result> {
    // SAFETY: the caller's contract.
    let base = unsafe { instance.get_physical_device_properties(physical_device) };
    let properties2 = properties2.usable_with(base.api_version);
    if matches!(properties2, Properties2::Unavailable) {
        return Ok((properties2, false));
    }
    // SAFETY: the caller's contract.
    let extensions = unsafe { instance.enumerate_device_extension_properties(physical_device) }?;
    Ok((
        properties2,
        has_extension(&extensions, ext::memory_budget::NAME),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties2_for_versions() {
        assert!(matches!(
            Properties2::for_version(vk::API_VERSION_1_0),
            Properties2::Unavailable
        ));
        for v in [
            vk::API_VERSION_1_1,
            vk::API_VERSION_1_2,
            vk::API_VERSION_1_3,
        ] {
            assert!(matches!(Properties2::for_version(v), Properties2::Core(w) if w == v));
        }
        let core12 = Properties2::Core(vk::API_VERSION_1_2);
        // Core queries are not used with a 1.0 physical device.
        assert!(matches!(
            core12.usable_with(vk::API_VERSION_1_0),
            Properties2::Unavailable
        ));
        assert!(matches!(
            core12.usable_with(vk::make_api_version(0, 1, 1, 3)),
            Properties2::Core(_)
        ));
        // Core structures up to the lower of the two versions.
        assert_eq!(
            core12.core_version(vk::API_VERSION_1_3),
            vk::API_VERSION_1_2
        );
        assert_eq!(
            Properties2::Core(vk::API_VERSION_1_3).core_version(vk::API_VERSION_1_1),
            vk::API_VERSION_1_1
        );
        assert_eq!(
            Properties2::Unavailable.core_version(vk::API_VERSION_1_3),
            vk::API_VERSION_1_0
        );
        assert_eq!(format!("{core12:?}"), "Core(1.2)");
        assert!(matches!(
            Properties2::from(vk::API_VERSION_1_3),
            Properties2::Core(v) if v == vk::API_VERSION_1_3
        ));
        assert!(matches!(
            Properties2::from(vk::API_VERSION_1_0),
            Properties2::Unavailable
        ));
        assert_eq!(format!("{:?}", Properties2::default()), "Unavailable");
    }

    #[test]
    fn extension_names_match_exactly() {
        let mut props = vk::ExtensionProperties::default();
        let name = b"VK_EXT_memory_budget\0";
        for (dst, &src) in props.extension_name.iter_mut().zip(name.iter()) {
            *dst = src as core::ffi::c_char;
        }
        let list = [props];
        assert!(has_extension(&list, ext::memory_budget::NAME));
        assert!(!has_extension(&list, khr::maintenance3::NAME));
        assert!(!has_extension(&[], ext::memory_budget::NAME));
    }
}
