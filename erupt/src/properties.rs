//! Device property queries and `VK_EXT_memory_budget`.

use {
    crate::convert::{memory_heap_info_from_erupt, memory_type_info_from_erupt},
    erupt::{vk, ExtendableFrom, InstanceLoader},
    gpu_alloc_types::{DeviceProperties, EnabledFeatures, ExtendedProperties, HeapBudget},
    std::borrow::Cow,
};

const KHR_MAINTENANCE3: &[u8] = b"VK_KHR_maintenance3";
const KHR_BUFFER_DEVICE_ADDRESS: &[u8] = b"VK_KHR_buffer_device_address";
pub(crate) const EXT_MEMORY_BUDGET: &[u8] = b"VK_EXT_memory_budget";

/// Everything [`extended_device_properties`] learned about a physical device, and
/// the features the application said it enabled.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EruptDeviceProperties {
    /// Memory types with all their property bits, heaps with their flags, and
    /// `bufferImageGranularity`.
    pub extended: ExtendedProperties<'static>,

    /// `maxMemoryAllocationCount`.
    pub max_memory_allocation_count: u32,

    /// `maxMemoryAllocationSize` from `VkPhysicalDeviceMaintenance3Properties`
    /// when the device has maintenance3 (Vulkan 1.1 or `VK_KHR_maintenance3`) and
    /// the instance can query it (Vulkan 1.1 or
    /// `VK_KHR_get_physical_device_properties2`). Otherwise Vulkan states no limit,
    /// and this is the size of the largest heap, which no allocation can exceed
    /// anyway; [`max_memory_allocation_size_reported`] is then `false`.
    ///
    /// [`max_memory_allocation_size_reported`]: Self::max_memory_allocation_size_reported
    pub max_memory_allocation_size: u64,

    /// Whether [`max_memory_allocation_size`](Self::max_memory_allocation_size)
    /// is the driver's maintenance3 value.
    pub max_memory_allocation_size_reported: bool,

    /// `nonCoherentAtomSize`.
    pub non_coherent_atom_size: u64,

    /// Whether the device *supports* the `bufferDeviceAddress` feature (Vulkan
    /// 1.2 on both instance and device, or `VK_KHR_buffer_device_address`) and the
    /// instance can query it. Supported is not enabled: see
    /// [`enabled`](Self::enabled).
    pub buffer_device_address_supported: bool,

    /// The features the caller said are enabled on the device it allocates from.
    pub enabled: EnabledFeatures,

    /// Whether the physical device supports `VK_EXT_memory_budget` and the
    /// instance can query it, so budgets can be read
    /// ([`EruptBudgetDevice`](crate::EruptBudgetDevice)).
    pub memory_budget_supported: bool,

    /// The budget of each heap at the time of the query, when
    /// [`memory_budget_supported`](Self::memory_budget_supported).
    pub memory_budget: Option<Vec<HeapBudget>>,

    /// The physical device's `apiVersion`.
    pub device_api_version: u32,
}

impl EruptDeviceProperties {
    /// The [`DeviceProperties`] for `GpuAllocator::new` and
    /// `GpuAllocator::with_extended_properties`.
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

/// The [`DeviceProperties`] of a physical device, with the signature of
/// gpu-alloc-erupt 0.9.
///
/// **`buffer_device_address` is always `false` here**, where gpu-alloc-erupt
/// 0.9.0 set it when the device *supported* the feature. A physical device
/// cannot tell whether the application *enabled* it on its `VkDevice`, and an
/// allocator told it is enabled when it is not passes
/// `VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT` to Vulkan, which is invalid. A program
/// that enabled `bufferDeviceAddress` says so with [`device_properties_enabled`]:
///
/// ```no_run
/// # use {erupt::{vk, InstanceLoader}, gpu_alloc_erupt::EnabledFeatures};
/// # unsafe fn f(instance: &InstanceLoader, physical_device: vk::PhysicalDevice)
/// #     -> Result<(), vk::Result> {
/// let props = unsafe {
///     gpu_alloc_erupt::device_properties_enabled(
///         instance,
///         physical_device,
///         EnabledFeatures::new().with_buffer_device_address(true),
///     )
/// }?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// The error `vkEnumerateDeviceExtensionProperties` returned.
///
/// # Safety
///
/// - `physical_device` was enumerated from `instance`, and `instance` is not
///   destroyed.
#[deprecated(
    since = "0.9.1",
    note = "reports `buffer_device_address: false` where 0.9.0 reported whether the device \
            supports it; use `device_properties_enabled(instance, physical_device, \
            EnabledFeatures::new())`, with `.with_buffer_device_address(true)` if the device \
            was created with bufferDeviceAddress enabled"
)]
pub unsafe fn device_properties(
    instance: &InstanceLoader,
    physical_device: vk::PhysicalDevice,
) -> Result<DeviceProperties<'static>, vk::Result> {
    // SAFETY: the caller's contract is that of `device_properties_enabled`, and
    // nothing is claimed enabled.
    unsafe { device_properties_enabled(instance, physical_device, EnabledFeatures::new()) }
}

/// The [`DeviceProperties`] of a physical device for `GpuAllocator::new`, with the
/// features `enabled` on the device the allocator will serve:
/// [`extended_device_properties`] then
/// [`EruptDeviceProperties::device_properties`].
///
/// # Errors
///
/// The error `vkEnumerateDeviceExtensionProperties` returned.
///
/// # Safety
///
/// As for [`extended_device_properties`].
pub unsafe fn device_properties_enabled(
    instance: &InstanceLoader,
    physical_device: vk::PhysicalDevice,
    enabled: EnabledFeatures,
) -> Result<DeviceProperties<'static>, vk::Result> {
    // SAFETY: the caller's contract is that of `extended_device_properties`.
    let props = unsafe { extended_device_properties(instance, physical_device, enabled) }?;
    Ok(props.device_properties())
}

/// Queries everything the allocator can use about a physical device: every
/// memory type and heap with all their bits, `bufferImageGranularity`, the
/// allocation limits, buffer device address support and the memory budget,
/// together with the features the caller says it `enabled`.
///
/// # Errors
///
/// The error `vkEnumerateDeviceExtensionProperties` returned.
///
/// # Safety
///
/// - `physical_device` was enumerated from `instance`, and `instance` is not
///   destroyed.
/// - What `enabled` claims is enabled on every device the allocator will use
///   with these properties.
pub unsafe fn extended_device_properties(
    instance: &InstanceLoader,
    physical_device: vk::PhysicalDevice,
    enabled: EnabledFeatures,
) -> Result<EruptDeviceProperties, vk::Result> {
    // SAFETY: `physical_device` belongs to the live `instance` (contract).
    let extensions =
        unsafe { instance.enumerate_device_extension_properties(physical_device, None, None) }
            .result()?;
    let has_extension = |name: &[u8]| extensions.iter().any(|e| extension_name_is(e, name));

    // SAFETY: as above.
    let properties = unsafe { instance.get_physical_device_properties(physical_device) };
    // SAFETY: as above.
    let memory = unsafe { instance.get_physical_device_memory_properties(physical_device) };

    let memory_types: Vec<_> = memory
        .memory_types
        .iter()
        .take(memory.memory_type_count as usize)
        .map(memory_type_info_from_erupt)
        .collect();
    let memory_heaps: Vec<_> = memory
        .memory_heaps
        .iter()
        .take(memory.memory_heap_count as usize)
        .map(memory_heap_info_from_erupt)
        .collect();

    let version = properties.api_version;
    let device_version = vk::make_api_version(
        0,
        vk::api_version_major(version),
        vk::api_version_minor(version),
        0,
    );
    // Core 1.1 structures need 1.1 on both sides, as in the Vulkan spec.
    let maintenance3 = (device_version >= vk::API_VERSION_1_1 && instance.enabled().vk1_1)
        || has_extension(KHR_MAINTENANCE3);
    // Core 1.2 structures need 1.2 on both sides, as in the Vulkan spec.
    let buffer_device_address = (device_version >= vk::API_VERSION_1_2 && instance.enabled().vk1_2)
        || has_extension(KHR_BUFFER_DEVICE_ADDRESS);

    let mut reported_max_size = None;
    if maintenance3 {
        let mut maintenance3 = vk::PhysicalDeviceMaintenance3PropertiesBuilder::new();
        let mut properties2 =
            vk::PhysicalDeviceProperties2Builder::new().extend_from(&mut maintenance3);
        // SAFETY: `physical_device` belongs to the live `instance`; the chain holds
        // only `VkPhysicalDeviceMaintenance3Properties`, valid because the device
        // has Vulkan 1.1 or `VK_KHR_maintenance3`, and it outlives the call.
        if unsafe { physical_device_properties2(instance, physical_device, &mut properties2) } {
            reported_max_size = Some(maintenance3.max_memory_allocation_size);
        }
    }
    let mut buffer_device_address_supported = false;
    if buffer_device_address {
        let mut bda = vk::PhysicalDeviceBufferDeviceAddressFeaturesBuilder::new();
        let mut features2 = vk::PhysicalDeviceFeatures2Builder::new().extend_from(&mut bda);
        // SAFETY: `physical_device` belongs to the live `instance`; the chain holds
        // only `VkPhysicalDeviceBufferDeviceAddressFeatures`, valid because
        // instance and device have Vulkan 1.2 or the device has
        // `VK_KHR_buffer_device_address`, and it outlives the call.
        if unsafe { physical_device_features2(instance, physical_device, &mut features2) } {
            buffer_device_address_supported = bda.buffer_device_address == vk::TRUE;
        }
    }
    let largest_heap = memory_heaps.iter().map(|h| h.size).max().unwrap_or(0);
    let memory_budget_supported =
        has_extension(EXT_MEMORY_BUDGET) && can_query_memory_properties2(instance);
    let memory_budget = memory_budget_supported.then(|| {
        let mut budgets = vec![HeapBudget::default(); memory_heaps.len()];
        // SAFETY: `physical_device` belongs to the live `instance` and supports
        // `VK_EXT_memory_budget`.
        unsafe { read_heap_budgets(instance, physical_device, &mut budgets) };
        budgets
    });

    let limits = &properties.limits;
    Ok(EruptDeviceProperties {
        extended: ExtendedProperties::new(
            Cow::Owned(memory_types),
            Cow::Owned(memory_heaps),
            limits.buffer_image_granularity,
        ),
        max_memory_allocation_count: limits.max_memory_allocation_count,
        max_memory_allocation_size: reported_max_size.unwrap_or(largest_heap),
        max_memory_allocation_size_reported: reported_max_size.is_some(),
        non_coherent_atom_size: limits.non_coherent_atom_size,
        buffer_device_address_supported,
        enabled,
        memory_budget_supported,
        memory_budget,
        device_api_version: version,
    })
}

/// Reads the current budget and usage of every heap from `VK_EXT_memory_budget`
/// into `budgets` (one entry per heap in heap order; extra entries are left as
/// they are) and returns `true`, or returns `false` without touching `budgets`
/// when the instance cannot call `vkGetPhysicalDeviceMemoryProperties2` (neither
/// Vulkan 1.1 nor `VK_KHR_get_physical_device_properties2`).
///
/// # Safety
///
/// - `physical_device` was enumerated from `instance`, and `instance` is not
///   destroyed.
/// - The physical device supports `VK_EXT_memory_budget`
///   ([`EruptDeviceProperties::memory_budget_supported`]).
pub(crate) unsafe fn read_heap_budgets(
    instance: &InstanceLoader,
    physical_device: vk::PhysicalDevice,
    budgets: &mut [HeapBudget],
) -> bool {
    let mut budget = vk::PhysicalDeviceMemoryBudgetPropertiesEXTBuilder::new();
    let mut properties2 =
        vk::PhysicalDeviceMemoryProperties2Builder::new().extend_from(&mut budget);
    let read = if let Some(query) = instance.get_physical_device_memory_properties2 {
        // SAFETY: `query` is `vkGetPhysicalDeviceMemoryProperties2` of the live
        // `instance`, `physical_device` belongs to it, and the chain holds only
        // `VkPhysicalDeviceMemoryBudgetPropertiesEXT`, valid because the device
        // supports the extension (contract); both structs outlive the call.
        unsafe { query(physical_device, &mut *properties2) };
        true
    } else if let Some(query) = instance.get_physical_device_memory_properties2_khr {
        // SAFETY: as above, through the KHR alias.
        unsafe { query(physical_device, &mut *properties2) };
        true
    } else {
        false
    };
    if !read {
        return false;
    }
    let heap_count = (properties2.memory_properties.memory_heap_count as usize).min(16);
    for (i, out) in budgets.iter_mut().take(heap_count).enumerate() {
        *out = HeapBudget {
            budget: budget.heap_budget[i],
            usage: budget.heap_usage[i],
        };
    }
    true
}

/// Calls `vkGetPhysicalDeviceProperties2` (core or KHR) if the instance loaded
/// it; returns whether it did.
///
/// # Safety
///
/// - `physical_device` belongs to the live `instance`.
/// - Every struct chained to `properties` is valid for this device and outlives
///   the call.
unsafe fn physical_device_properties2(
    instance: &InstanceLoader,
    physical_device: vk::PhysicalDevice,
    properties: &mut vk::PhysicalDeviceProperties2,
) -> bool {
    if let Some(query) = instance.get_physical_device_properties2 {
        // SAFETY: forwarded from this function's contract.
        unsafe { query(physical_device, properties) };
        true
    } else if let Some(query) = instance.get_physical_device_properties2_khr {
        // SAFETY: forwarded from this function's contract.
        unsafe { query(physical_device, properties) };
        true
    } else {
        false
    }
}

/// Calls `vkGetPhysicalDeviceFeatures2` (core or KHR) if the instance loaded it;
/// returns whether it did.
///
/// # Safety
///
/// - `physical_device` belongs to the live `instance`.
/// - Every struct chained to `features` is valid for this device and outlives
///   the call.
unsafe fn physical_device_features2(
    instance: &InstanceLoader,
    physical_device: vk::PhysicalDevice,
    features: &mut vk::PhysicalDeviceFeatures2,
) -> bool {
    if let Some(query) = instance.get_physical_device_features2 {
        // SAFETY: forwarded from this function's contract.
        unsafe { query(physical_device, features) };
        true
    } else if let Some(query) = instance.get_physical_device_features2_khr {
        // SAFETY: forwarded from this function's contract.
        unsafe { query(physical_device, features) };
        true
    } else {
        false
    }
}

/// Whether the instance can call `vkGetPhysicalDeviceMemoryProperties2` (core or
/// KHR).
pub(crate) fn can_query_memory_properties2(instance: &InstanceLoader) -> bool {
    instance.get_physical_device_memory_properties2.is_some()
        || instance
            .get_physical_device_memory_properties2_khr
            .is_some()
}

/// Whether the NUL-terminated `extension_name` of `properties` is `name`.
pub(crate) fn extension_name_is(properties: &vk::ExtensionProperties, name: &[u8]) -> bool {
    let stored = properties
        .extension_name
        .iter()
        .map(|&c| c as u8)
        .take_while(|&c| c != 0);
    stored.eq(name.iter().copied())
}
