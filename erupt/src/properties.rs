//! Device property queries and `VK_EXT_memory_budget`.

use {
    crate::convert::{memory_heap_info, memory_type_info},
    erupt::{vk, ExtendableFrom, InstanceLoader},
    gpu_alloc_types::{DeviceProperties, ExtendedProperties, HeapBudget},
    std::borrow::Cow,
};

const KHR_MAINTENANCE3: &[u8] = b"VK_KHR_maintenance3";
const EXT_MEMORY_BUDGET: &[u8] = b"VK_EXT_memory_budget";

/// Device features the application enabled and the allocator may use.
///
/// A physical device query can only tell what the device *supports*; using a
/// feature the application did not enable on its `VkDevice` is invalid, so the
/// caller states what it enabled. Everything defaults to off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct EnabledFeatures {
    /// The `bufferDeviceAddress` feature (Vulkan 1.2 or
    /// `VK_KHR_buffer_device_address`) is enabled on the device, so memory may be
    /// allocated with `VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT`.
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

/// Everything [`extended_device_properties`] learned about a physical device.
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

    /// Whether the caller said it enabled `bufferDeviceAddress`
    /// ([`EnabledFeatures::buffer_device_address`]).
    pub buffer_device_address: bool,

    /// Whether the physical device supports `VK_EXT_memory_budget` and the
    /// instance can query it, so [`read_heap_budgets`] can work.
    pub memory_budget: bool,
}

impl EruptDeviceProperties {
    /// The [`DeviceProperties`] for `GpuAllocator::new` and
    /// `GpuAllocator::with_extended_properties`.
    pub fn device_properties(&self) -> DeviceProperties<'static> {
        self.extended.device_properties(
            self.max_memory_allocation_count,
            self.max_memory_allocation_size,
            self.non_coherent_atom_size,
            self.buffer_device_address,
        )
    }
}

/// Queries the memory properties and limits of a physical device.
///
/// `buffer_device_address` is `false`: the physical device cannot tell whether
/// the application enabled the feature. Use [`extended_device_properties`] to say
/// it did.
///
/// # Errors
///
/// The error `vkEnumerateDeviceExtensionProperties` returned.
///
/// # Safety
///
/// - `physical_device` was enumerated from `instance`, and `instance` is not
///   destroyed.
pub unsafe fn device_properties(
    instance: &InstanceLoader,
    physical_device: vk::PhysicalDevice,
) -> Result<DeviceProperties<'static>, vk::Result> {
    // SAFETY: forwarded from this function's contract.
    let props =
        unsafe { extended_device_properties(instance, physical_device, EnabledFeatures::new()) }?;
    Ok(props.device_properties())
}

/// Queries everything the allocator can use about a physical device: every
/// memory type and heap with all their bits, `bufferImageGranularity`, the
/// allocation limits and whether `VK_EXT_memory_budget` can be read, together
/// with the features the caller says it enabled.
///
/// # Errors
///
/// The error `vkEnumerateDeviceExtensionProperties` returned.
///
/// # Safety
///
/// - `physical_device` was enumerated from `instance`, and `instance` is not
///   destroyed.
/// - What `enabled` claims is enabled on the device the allocator will serve.
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
        .map(memory_type_info)
        .collect();
    let memory_heaps: Vec<_> = memory
        .memory_heaps
        .iter()
        .take(memory.memory_heap_count as usize)
        .map(memory_heap_info)
        .collect();

    let version = properties.api_version;
    let device_1_1 = vk::make_api_version(
        0,
        vk::api_version_major(version),
        vk::api_version_minor(version),
        0,
    ) >= vk::API_VERSION_1_1;
    let maintenance3 = device_1_1 || has_extension(KHR_MAINTENANCE3);

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
    let largest_heap = memory_heaps.iter().map(|h| h.size).max().unwrap_or(0);

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
        buffer_device_address: enabled.buffer_device_address,
        memory_budget: has_extension(EXT_MEMORY_BUDGET) && can_query_memory_properties2(instance),
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
///   ([`EruptDeviceProperties::memory_budget`]).
pub unsafe fn read_heap_budgets(
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

fn can_query_memory_properties2(instance: &InstanceLoader) -> bool {
    instance.get_physical_device_memory_properties2.is_some()
        || instance
            .get_physical_device_memory_properties2_khr
            .is_some()
}

/// Whether the NUL-terminated `extension_name` of `properties` is `name`.
fn extension_name_is(properties: &vk::ExtensionProperties, name: &[u8]) -> bool {
    let stored = properties
        .extension_name
        .iter()
        .map(|&c| c as u8)
        .take_while(|&c| c != 0);
    stored.eq(name.iter().copied())
}
