//! Instance, device and command helpers for the lavapipe tests, with the Khronos
//! validation layer and a messenger that records every message, from
//! `vkCreateInstance` (the messenger is chained to its create info) to
//! `vkDestroyInstance`. What the messages mean is decided once for the three
//! backend suites, in `gpu_alloc_tests::backend_support::validation`.

use {
    ash::{ext, vk},
    gpu_alloc::{Config, GpuAllocator},
    gpu_alloc_ash::{
        extended_device_properties, AshDeviceProperties, EnabledFeatures, Properties2,
    },
    gpu_alloc_tests::{
        backend_support::validation::{DebugMessage, Evidence, MessageLog, Severity},
        vulkan_gate::{no_vulkan, vulkan_required},
    },
    std::ffi::{c_void, CStr},
};

pub mod resources;
#[cfg(feature = "tracing")]
pub mod trace;

const VALIDATION_LAYER: &CStr = c"VK_LAYER_KHRONOS_validation";

/// Set to 1 to run without the validation layer where it is not installed even
/// when `GPU_ALLOC_REQUIRE_VULKAN=1` (the GPU machine has no layer).
const ALLOW_NO_VALIDATION_VAR: &str = "GPU_ALLOC_ALLOW_NO_VALIDATION";

/// The shared severity of one severity bit.
fn severity(bits: vk::DebugUtilsMessageSeverityFlagsEXT) -> Severity {
    type S = vk::DebugUtilsMessageSeverityFlagsEXT;
    if bits.contains(S::ERROR) {
        Severity::Error
    } else if bits.contains(S::WARNING) {
        Severity::Warning
    } else if bits.contains(S::INFO) {
        Severity::Info
    } else if bits.contains(S::VERBOSE) {
        Severity::Verbose
    } else {
        // No bit the spec names: count it as a finding rather than drop it.
        Severity::Error
    }
}

/// Where the messenger callback records messages. Boxed so that its address
/// stays put while Vulkan holds it as user data.
type Messages = MessageLog;

unsafe extern "system" fn record_message(
    severity_bits: vk::DebugUtilsMessageSeverityFlagsEXT,
    types: vk::DebugUtilsMessageTypeFlagsEXT,
    data: *const vk::DebugUtilsMessengerCallbackDataEXT<'_>,
    user: *mut c_void,
) -> vk::Bool32 {
    // SAFETY: Vulkan passes a valid callback data pointer, or null, for the
    // duration of the call.
    let data = unsafe { data.as_ref() };
    let string = |s: Option<&CStr>| s.map(|s| s.to_string_lossy().into_owned());
    // SAFETY: `message` is null or a NUL-terminated string, per the spec.
    let text = data.and_then(|d| string(unsafe { d.message_as_c_str() }));
    // SAFETY: `message_id_name` is null or a NUL-terminated string, per the spec.
    let id = data.and_then(|d| string(unsafe { d.message_id_name_as_c_str() }));
    // SAFETY: `user` is the `Messages` box that `Vk` keeps alive until after the
    // messenger and instance are destroyed.
    let messages = unsafe { &*user.cast::<Messages>() };
    messages.record(DebugMessage {
        severity: severity(severity_bits),
        types: format!("{types:?}"),
        id: id.unwrap_or_default(),
        text: text.unwrap_or_default(),
    });
    vk::FALSE
}

/// Info and up: verbose messages are the loader's trace, never findings.
fn messenger_info(messages: &Messages) -> vk::DebugUtilsMessengerCreateInfoEXT<'static> {
    vk::DebugUtilsMessengerCreateInfoEXT::default()
        .message_severity(
            vk::DebugUtilsMessageSeverityFlagsEXT::INFO
                | vk::DebugUtilsMessageSeverityFlagsEXT::WARNING
                | vk::DebugUtilsMessageSeverityFlagsEXT::ERROR,
        )
        .message_type(
            vk::DebugUtilsMessageTypeFlagsEXT::GENERAL
                | vk::DebugUtilsMessageTypeFlagsEXT::VALIDATION
                | vk::DebugUtilsMessageTypeFlagsEXT::PERFORMANCE,
        )
        .pfn_user_callback(Some(record_message))
        .user_data((messages as *const Messages).cast_mut().cast())
}

/// A Vulkan instance and device set up for the tests.
pub struct Vk {
    /// The test, named in failures.
    test: String,
    pub entry: ash::Entry,
    /// `VK_KHR_get_physical_device_properties2` is enabled on the instance.
    pub khr_properties2: bool,
    pub instance: ash::Instance,
    pub instance_version: u32,
    debug_utils: Option<(ext::debug_utils::Instance, vk::DebugUtilsMessengerEXT)>,
    /// Read by the messenger callback through a raw pointer until `Drop`.
    messages: Box<Messages>,
    /// The validation layer is enabled (it must be, unless
    /// `GPU_ALLOC_ALLOW_NO_VALIDATION=1` or Vulkan is optional).
    pub validation: bool,
    pub physical_device: vk::PhysicalDevice,
    pub device_name: String,
    pub device: ash::Device,
    pub queue: vk::Queue,
    pub command_pool: vk::CommandPool,
    /// `bufferDeviceAddress` enabled on `device`.
    pub buffer_device_address: bool,
    /// `VK_EXT_memory_budget` enabled on `device`.
    pub memory_budget_ext: bool,
    /// The optional extensions and features of [`Extras`] that `device` was
    /// created with (those the test asked for and the device has).
    pub extras: Extras,
    pub props: AshDeviceProperties,
}

/// Device extensions and features a test may ask for beyond what every test
/// gets; each is enabled only where the instance and device have Vulkan 1.1
/// and the device supports it.
pub use gpu_alloc_tests::backend_support::dedicated::DeviceExtras as Extras;

/// Which of `wanted` the physical device supports.
///
/// # Safety
///
/// `physical_device` belongs to `instance`, created with Vulkan 1.1 or later.
unsafe fn supported_extras(
    instance: &ash::Instance,
    physical_device: vk::PhysicalDevice,
    wanted: Extras,
) -> Extras {
    // SAFETY: the caller's contract.
    let extensions = unsafe { instance.enumerate_device_extension_properties(physical_device) }
        .unwrap_or_default();
    let has = |name: &CStr| {
        extensions
            .iter()
            .any(|e| e.extension_name_as_c_str() == Ok(name))
    };
    let mut priority = vk::PhysicalDeviceMemoryPriorityFeaturesEXT::default();
    if wanted.memory_priority && has(ext::memory_priority::NAME) {
        let mut features = vk::PhysicalDeviceFeatures2::default().push_next(&mut priority);
        // SAFETY: the caller's contract: a 1.1 instance, one of its physical
        // devices, which has the extension whose structure is chained.
        unsafe { instance.get_physical_device_features2(physical_device, &mut features) };
    }
    Extras {
        external_memory_fd: wanted.external_memory_fd && has(ash::khr::external_memory_fd::NAME),
        memory_priority: priority.memory_priority == vk::TRUE,
    }
}

impl Vk {
    /// Sets everything up, or returns `None` after `no_vulkan` when there is no
    /// driver or no device (which panics under `GPU_ALLOC_REQUIRE_VULKAN=1`).
    pub fn new(test: &str) -> Option<Vk> {
        Self::with_extras(test, Extras::default())
    }

    /// As [`Vk::new`], with the [`Extras`] of `wanted` the device supports
    /// enabled ([`Vk::extras`] says which).
    pub fn with_extras(test: &str, wanted: Extras) -> Option<Vk> {
        // SAFETY: loading the Vulkan library runs its initialisers; the system
        // loader is trusted.
        let entry = match unsafe { ash::Entry::load() } {
            Ok(entry) => entry,
            Err(err) => {
                no_vulkan(test, &err);
                return None;
            }
        };
        // SAFETY: a plain query of a loaded entry.
        let loader_version = match unsafe { entry.try_enumerate_instance_version() } {
            Ok(v) => v.unwrap_or(vk::API_VERSION_1_0),
            Err(err) => {
                no_vulkan(test, &err);
                return None;
            }
        };
        let instance_version = loader_version.min(vk::API_VERSION_1_3);

        // SAFETY: a plain query of a loaded entry.
        let layers = unsafe { entry.enumerate_instance_layer_properties() }.unwrap_or_default();
        let validation = layers
            .iter()
            .any(|l| l.layer_name_as_c_str() == Ok(VALIDATION_LAYER));
        if !validation {
            let allowed = std::env::var(ALLOW_NO_VALIDATION_VAR).is_ok_and(|v| v == "1");
            assert!(
                !vulkan_required() || allowed,
                "{test}: the Khronos validation layer is not installed \
                 (set {ALLOW_NO_VALIDATION_VAR}=1 to run without it)"
            );
            println!("{test}: validation layer absent: running without it");
        }
        // SAFETY: a plain query of a loaded entry.
        let extensions =
            unsafe { entry.enumerate_instance_extension_properties(None) }.unwrap_or_default();
        let has_debug_utils = extensions
            .iter()
            .any(|e| e.extension_name_as_c_str() == Ok(ext::debug_utils::NAME));
        let mut layer_names = Vec::new();
        if validation {
            layer_names.push(VALIDATION_LAYER.as_ptr());
        }
        let mut extension_names = Vec::new();
        if has_debug_utils {
            extension_names.push(ext::debug_utils::NAME.as_ptr());
        }
        // Promoted to 1.1, but still enabled where offered, to test the
        // extension path of the property queries.
        let khr_properties2 = extensions.iter().any(|e| {
            e.extension_name_as_c_str() == Ok(ash::khr::get_physical_device_properties2::NAME)
        });
        if khr_properties2 {
            extension_names.push(ash::khr::get_physical_device_properties2::NAME.as_ptr());
        }

        let messages: Box<Messages> = Box::default();
        let app = vk::ApplicationInfo::default()
            .application_name(c"gpu-alloc-ash tests")
            .api_version(instance_version);
        let mut instance_messenger = messenger_info(&messages);
        let mut info = vk::InstanceCreateInfo::default()
            .application_info(&app)
            .enabled_layer_names(&layer_names)
            .enabled_extension_names(&extension_names);
        if has_debug_utils {
            info = info.push_next(&mut instance_messenger);
        }
        // SAFETY: `info` and everything it points to outlive the call; the
        // messenger's user data is `messages`, kept alive by `Vk`.
        let instance = match unsafe { entry.create_instance(&info, None) } {
            Ok(instance) => instance,
            Err(err) => {
                no_vulkan(test, &err);
                return None;
            }
        };
        let debug_utils = has_debug_utils.then(|| {
            let loader = ext::debug_utils::Instance::new(&entry, &instance);
            // SAFETY: the instance has VK_EXT_debug_utils; the user data outlives
            // the messenger, destroyed in `Drop` before `messages` is dropped.
            let messenger =
                unsafe { loader.create_debug_utils_messenger(&messenger_info(&messages), None) }
                    .expect("create debug messenger");
            (loader, messenger)
        });

        let mut partial = VkPartial {
            entry: Some(entry),
            instance: Some(instance),
            debug_utils,
            messages: Some(messages),
        };
        let instance = partial.instance.as_ref().unwrap();
        // SAFETY: a query of a live instance.
        let physical_devices = unsafe { instance.enumerate_physical_devices() }.unwrap_or_default();
        let Some((physical_device, queue_family)) = physical_devices.iter().find_map(|&pd| {
            // SAFETY: `pd` comes from `instance`.
            let families = unsafe { instance.get_physical_device_queue_family_properties(pd) };
            families
                .iter()
                .position(|f| {
                    f.queue_flags.intersects(
                        vk::QueueFlags::GRAPHICS
                            | vk::QueueFlags::COMPUTE
                            | vk::QueueFlags::TRANSFER,
                    )
                })
                .map(|i| (pd, i as u32))
        }) else {
            no_vulkan(test, &"no physical device with a transfer queue");
            return None;
        };
        // What the device supports, before it exists: nothing is enabled yet.
        // SAFETY: `physical_device` comes from `instance`, created with
        // `instance_version`.
        let supported = unsafe {
            extended_device_properties(
                instance,
                Properties2::for_version(instance_version),
                physical_device,
                EnabledFeatures::new(),
            )
        }
        .expect("query properties");
        // SAFETY: as above.
        let base = unsafe { instance.get_physical_device_properties(physical_device) };
        let device_name = base
            .device_name_as_c_str()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();

        let buffer_device_address = supported.buffer_device_address_supported;
        let memory_budget_ext = supported.memory_budget_supported;
        let mut device_extensions = Vec::new();
        if memory_budget_ext {
            device_extensions.push(ext::memory_budget::NAME.as_ptr());
        }
        if buffer_device_address && supported.device_api_version < vk::API_VERSION_1_2 {
            device_extensions.push(ash::khr::buffer_device_address::NAME.as_ptr());
        }
        let extras = if instance_version >= vk::API_VERSION_1_1
            && supported.device_api_version >= vk::API_VERSION_1_1
        {
            // SAFETY: a 1.1 instance and one of its physical devices.
            unsafe { supported_extras(instance, physical_device, wanted) }
        } else {
            Extras::default()
        };
        if extras.external_memory_fd {
            device_extensions.push(ash::khr::external_memory_fd::NAME.as_ptr());
        }
        if extras.memory_priority {
            device_extensions.push(ext::memory_priority::NAME.as_ptr());
        }
        let priorities = [1.0];
        let queue_info = vk::DeviceQueueCreateInfo::default()
            .queue_family_index(queue_family)
            .queue_priorities(&priorities);
        let mut bda_features =
            vk::PhysicalDeviceBufferDeviceAddressFeatures::default().buffer_device_address(true);
        let mut device_info = vk::DeviceCreateInfo::default()
            .queue_create_infos(std::slice::from_ref(&queue_info))
            .enabled_extension_names(&device_extensions);
        if buffer_device_address {
            device_info = device_info.push_next(&mut bda_features);
        }
        let mut priority_features =
            vk::PhysicalDeviceMemoryPriorityFeaturesEXT::default().memory_priority(true);
        if extras.memory_priority {
            device_info = device_info.push_next(&mut priority_features);
        }
        // SAFETY: `device_info` is valid for `physical_device`: the queue family
        // exists, the extensions and the feature are supported.
        let device = unsafe { instance.create_device(physical_device, &device_info, None) }
            .expect("create device");
        // The allocator's view: what the device was created with.
        // SAFETY: as for `supported`; `bufferDeviceAddress` is enabled on `device`
        // iff `buffer_device_address`.
        let props = unsafe {
            extended_device_properties(
                instance,
                instance_version,
                physical_device,
                EnabledFeatures::new().with_buffer_device_address(buffer_device_address),
            )
        }
        .expect("query properties");
        // SAFETY: the device was created with one queue in `queue_family`.
        let queue = unsafe { device.get_device_queue(queue_family, 0) };
        let pool_info = vk::CommandPoolCreateInfo::default()
            .queue_family_index(queue_family)
            .flags(vk::CommandPoolCreateFlags::RESET_COMMAND_BUFFER);
        // SAFETY: a valid create info for a live device.
        let command_pool =
            unsafe { device.create_command_pool(&pool_info, None) }.expect("command pool");

        Some(Vk {
            test: test.to_owned(),
            entry: partial.entry.take().unwrap(),
            khr_properties2,
            instance: partial.instance.take().unwrap(),
            instance_version,
            debug_utils: partial.debug_utils.take(),
            messages: partial.messages.take().unwrap(),
            validation,
            physical_device,
            device_name,
            device,
            queue,
            command_pool,
            buffer_device_address,
            memory_budget_ext,
            extras,
            props,
        })
    }

    /// An allocator for this device, with everything the backend reads.
    pub fn allocator(&self, config: Config) -> GpuAllocator<vk::DeviceMemory> {
        GpuAllocator::with_extended_properties(
            config,
            self.props.device_properties(),
            self.props.extended.clone(),
        )
    }

    /// Every message recorded since `vkCreateInstance`.
    pub fn log(&self) -> &MessageLog {
        &self.messages
    }

    /// What the layer must have said: its status message at instance creation
    /// and the loader's note that it is in the device's call chain; nothing
    /// when it is not enabled.
    pub fn evidence(&self) -> Evidence {
        if self.validation {
            Evidence::InstanceAndDevice
        } else {
            Evidence::None
        }
    }

    /// Panics unless the layer announced itself and no message that fails
    /// tests was recorded (see `backend_support::validation`). `Drop` checks
    /// again, for the messages of the device's and the instance's destruction.
    pub fn assert_no_validation_messages(&self) {
        self.messages.assert_clean(self.evidence(), &self.test);
    }

    /// Records commands with `record`, submits them and waits.
    pub fn submit(&self, record: impl FnOnce(vk::CommandBuffer)) {
        let info = vk::CommandBufferAllocateInfo::default()
            .command_pool(self.command_pool)
            .level(vk::CommandBufferLevel::PRIMARY)
            .command_buffer_count(1);
        // SAFETY: the pool belongs to the device; used from one thread at a time.
        let cmd = unsafe { self.device.allocate_command_buffers(&info) }.expect("cmd")[0];
        let begin = vk::CommandBufferBeginInfo::default()
            .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
        // SAFETY: `cmd` is a new command buffer of this device.
        unsafe { self.device.begin_command_buffer(cmd, &begin) }.expect("begin");
        record(cmd);
        // SAFETY: `cmd` is recording, then submitted once and waited for before
        // it is freed; nothing else uses the queue.
        unsafe {
            self.device.end_command_buffer(cmd).expect("end");
            let submit = vk::SubmitInfo::default().command_buffers(std::slice::from_ref(&cmd));
            self.device
                .queue_submit(self.queue, &[submit], vk::Fence::null())
                .expect("submit");
            self.device.queue_wait_idle(self.queue).expect("wait");
            self.device.free_command_buffers(self.command_pool, &[cmd]);
        }
    }
}

impl Drop for Vk {
    fn drop(&mut self) {
        // SAFETY: the tests destroy their own buffers, images and memory before
        // dropping `Vk`; everything here is destroyed once, children first, and
        // `messages` outlives the messenger and the instance.
        unsafe {
            let _ = self.device.device_wait_idle();
            self.device.destroy_command_pool(self.command_pool, None);
            self.device.destroy_device(None);
            if let Some((loader, messenger)) = self.debug_utils.take() {
                loader.destroy_debug_utils_messenger(messenger, None);
            }
            self.instance.destroy_instance(None);
        }
        // The chained messenger saw the destruction too (objects left alive are
        // reported there). Not while unwinding: the test already failed.
        if !std::thread::panicking() {
            let what = format!("{} (after destroying the device and instance)", self.test);
            self.messages.assert_clean(self.evidence(), &what);
        }
    }
}

/// Owns what `Vk::new` made so far, so an early return cleans it up.
struct VkPartial {
    entry: Option<ash::Entry>,
    instance: Option<ash::Instance>,
    debug_utils: Option<(ext::debug_utils::Instance, vk::DebugUtilsMessengerEXT)>,
    messages: Option<Box<Messages>>,
}

impl Drop for VkPartial {
    fn drop(&mut self) {
        // SAFETY: whatever is left was not moved into `Vk`: destroy the
        // messenger, then the instance (which has no devices yet), then drop the
        // messages box that both used.
        unsafe {
            if let Some((loader, messenger)) = self.debug_utils.take() {
                loader.destroy_debug_utils_messenger(messenger, None);
            }
            if let Some(instance) = self.instance.take() {
                instance.destroy_instance(None);
            }
        }
        drop(self.messages.take());
        drop(self.entry.take());
    }
}
