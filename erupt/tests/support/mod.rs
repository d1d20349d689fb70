//! The instance, device and queue of the erupt suites, with the Khronos
//! validation layer on and every message recorded by a messenger chained to the
//! instance's create info, from `vkCreateInstance` to `vkDestroyInstance`. What
//! the messages mean is decided once for the three backend suites, in
//! `gpu_alloc_tests::backend_support::validation`.

use {
    erupt::{vk, DeviceLoader, EntryLoader, ExtendableFrom, InstanceLoader},
    gpu_alloc::{Config, GpuAllocator},
    gpu_alloc_erupt::{extended_device_properties, EnabledFeatures, EruptDeviceProperties},
    gpu_alloc_tests::{
        backend_support::validation::{DebugMessage, Evidence, MessageLog, Severity},
        vulkan_gate::no_vulkan,
    },
    std::{
        ffi::{c_void, CStr},
        os::raw::c_char,
    },
};
const VALIDATION_LAYER: &CStr = c"VK_LAYER_KHRONOS_validation";
const DEBUG_UTILS: &CStr = c"VK_EXT_debug_utils";
const MEMORY_BUDGET: &CStr = c"VK_EXT_memory_budget";
const EXTERNAL_MEMORY_FD: &CStr = c"VK_KHR_external_memory_fd";
const MEMORY_PRIORITY: &CStr = c"VK_EXT_memory_priority";

/// Whether `name` is among `extensions`.
fn listed(extensions: &[vk::ExtensionProperties], name: &CStr) -> bool {
    extensions.iter().any(|e| {
        // SAFETY: `extension_name` is NUL-terminated.
        unsafe { CStr::from_ptr(e.extension_name.as_ptr()) == name }
    })
}

/// The shared severity of one severity bit.
fn severity(bit: vk::DebugUtilsMessageSeverityFlagBitsEXT) -> Severity {
    type S = vk::DebugUtilsMessageSeverityFlagBitsEXT;
    match bit {
        S::VERBOSE_EXT => Severity::Verbose,
        S::INFO_EXT => Severity::Info,
        S::WARNING_EXT => Severity::Warning,
        // ERROR, or no bit the spec names: a finding rather than dropped.
        _ => Severity::Error,
    }
}

unsafe extern "system" fn on_message(
    severity_bit: vk::DebugUtilsMessageSeverityFlagBitsEXT,
    types: vk::DebugUtilsMessageTypeFlagsEXT,
    data: *const vk::DebugUtilsMessengerCallbackDataEXT,
    user_data: *mut c_void,
) -> vk::Bool32 {
    // SAFETY: the layer passes valid callback data whose strings are
    // NUL-terminated or null, and `user_data` is the `MessageLog` the instance
    // keeps alive (boxed, so its address is stable) until the messenger and the
    // instance are gone.
    let (id, text, log) = unsafe {
        let data = &*data;
        let text = |p: *const c_char| {
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        (
            text(data.p_message_id_name),
            text(data.p_message),
            &*(user_data as *const MessageLog),
        )
    };
    log.record(DebugMessage {
        severity: severity(severity_bit),
        types: format!("{types:?}"),
        id,
        text,
    });
    vk::FALSE
}

/// An instance with the validation layer on and every message collected.
pub struct ValidatedInstance {
    // Field order is drop order: the instance loader goes before the entry
    // loader (erupt checks this).
    pub instance: InstanceLoader,
    _entry: EntryLoader,
    messenger: vk::DebugUtilsMessengerEXT,
    pub messages: Box<MessageLog>,
    /// The test, named in failures.
    test: String,
}

impl ValidatedInstance {
    /// Creates an instance for `api_version`, with the validation layer and a
    /// messenger, or says why there is no usable Vulkan here.
    pub fn new(api_version: u32, test: &str) -> Result<ValidatedInstance, String> {
        let entry = EntryLoader::new().map_err(|e| format!("no Vulkan loader: {e}"))?;
        // SAFETY: plain queries of the loaded entry points.
        let layers = unsafe { entry.enumerate_instance_layer_properties(None) }
            .result()
            .map_err(|e| format!("vkEnumerateInstanceLayerProperties: {e}"))?;
        let has_layer = layers.iter().any(|l| {
            // SAFETY: `layer_name` is NUL-terminated.
            unsafe { CStr::from_ptr(l.layer_name.as_ptr()) == VALIDATION_LAYER }
        });
        if !has_layer {
            return Err("VK_LAYER_KHRONOS_validation is not installed".into());
        }

        let messages: Box<MessageLog> = Box::default();
        let app = vk::ApplicationInfoBuilder::new()
            .application_name(c"gpu-alloc-erupt lavapipe test")
            .api_version(api_version);
        let layer_names = [VALIDATION_LAYER.as_ptr()];
        let extension_names = [DEBUG_UTILS.as_ptr()];
        let messenger_info = vk::DebugUtilsMessengerCreateInfoEXTBuilder::new()
            .message_severity(
                vk::DebugUtilsMessageSeverityFlagsEXT::INFO_EXT
                    | vk::DebugUtilsMessageSeverityFlagsEXT::WARNING_EXT
                    | vk::DebugUtilsMessageSeverityFlagsEXT::ERROR_EXT,
            )
            .message_type(
                vk::DebugUtilsMessageTypeFlagsEXT::GENERAL_EXT
                    | vk::DebugUtilsMessageTypeFlagsEXT::VALIDATION_EXT
                    | vk::DebugUtilsMessageTypeFlagsEXT::PERFORMANCE_EXT,
            )
            .pfn_user_callback(Some(on_message))
            .user_data(&*messages as *const MessageLog as *mut c_void);
        // Chained to the instance info too, so messages of instance creation and
        // destruction are caught.
        let mut creation_messenger = messenger_info;
        let instance_info = vk::InstanceCreateInfoBuilder::new()
            .application_info(&app)
            .enabled_layer_names(&layer_names)
            .enabled_extension_names(&extension_names)
            .extend_from(&mut creation_messenger);
        // SAFETY: the create info and everything it points to outlive the call.
        let instance = unsafe { InstanceLoader::new(&entry, &instance_info) }
            .map_err(|e| format!("vkCreateInstance: {e:?}"))?;
        // SAFETY: the instance enabled VK_EXT_debug_utils; `messages` outlives the
        // messenger (destroyed in `Drop` before the box is freed).
        let messenger = unsafe { instance.create_debug_utils_messenger_ext(&messenger_info, None) }
            .result()
            .map_err(|e| format!("vkCreateDebugUtilsMessengerEXT: {e}"));
        match messenger {
            Ok(messenger) => Ok(ValidatedInstance {
                instance,
                _entry: entry,
                messenger,
                messages,
                test: test.to_owned(),
            }),
            Err(e) => {
                // SAFETY: nothing was created from the instance.
                unsafe { instance.destroy_instance(None) };
                Err(e)
            }
        }
    }

    /// Fails the test unless the layer announced itself as `evidence` says and
    /// nothing failing was recorded so far.
    pub fn assert_no_messages(&self, evidence: Evidence) {
        self.messages.assert_clean(evidence, &self.test);
    }
}

impl Drop for ValidatedInstance {
    fn drop(&mut self) {
        // SAFETY: every object created from the instance is destroyed; the
        // messenger goes before its instance.
        unsafe {
            self.instance
                .destroy_debug_utils_messenger_ext(self.messenger, None);
            self.instance.destroy_instance(None);
        }
        // The chained messenger saw the destruction too (objects left alive are
        // reported there). Not while unwinding: the test already failed.
        if !std::thread::panicking() {
            let what = format!("{} (after destroying the device and instance)", self.test);
            self.messages.assert_clean(Evidence::Instance, &what);
        }
    }
}

/// Instance, device and queue, with every validation message collected.
pub struct Context {
    // Field order is drop order: the device loader goes before the instance
    // (erupt checks this); `Drop` destroys the device first.
    pub device: DeviceLoader,
    pub vi: ValidatedInstance,
    pub physical_device: vk::PhysicalDevice,
    pub queue: vk::Queue,
    pub queue_family: u32,
    pub buffer_device_address: bool,
    pub memory_budget_enabled: bool,
    /// The [`Extras`] the device was created with (those the test asked for
    /// and the device has).
    pub extras: Extras,
}

/// Device extensions and features a test may ask for beyond what every test
/// gets; each is enabled only where the device supports it (the instance has
/// Vulkan 1.2).
pub use gpu_alloc_tests::backend_support::dedicated::DeviceExtras as Extras;

/// What `Context::open_device` made.
struct Opened {
    physical_device: vk::PhysicalDevice,
    queue_family: u32,
    device: DeviceLoader,
    buffer_device_address: bool,
    memory_budget: bool,
    extras: Extras,
}

impl Context {
    /// Creates the context, or says why there is no usable Vulkan here.
    pub fn new(test: &str) -> Option<Context> {
        Self::with_extras(test, Extras::default())
    }

    /// As [`Context::new`], with the [`Extras`] of `wanted` the device has
    /// enabled ([`Context::extras`] says which).
    pub fn with_extras(test: &str, wanted: Extras) -> Option<Context> {
        match Self::try_new(test, wanted) {
            Ok(context) => Some(context),
            Err(why) => {
                no_vulkan(test, &why);
                None
            }
        }
    }

    fn try_new(test: &str, wanted: Extras) -> Result<Context, String> {
        let vi = ValidatedInstance::new(vk::API_VERSION_1_2, test)?;
        let opened = Self::open_device(&vi.instance, wanted)?;
        // SAFETY: the device has a queue 0 in `queue_family`.
        let queue = unsafe { opened.device.get_device_queue(opened.queue_family, 0) };
        Ok(Context {
            device: opened.device,
            vi,
            physical_device: opened.physical_device,
            queue,
            queue_family: opened.queue_family,
            buffer_device_address: opened.buffer_device_address,
            memory_budget_enabled: opened.memory_budget,
            extras: opened.extras,
        })
    }

    /// Picks the first physical device with a transfer-capable queue and creates
    /// a device, with `bufferDeviceAddress`, `VK_EXT_memory_budget` and the
    /// `wanted` extras when the device has them.
    fn open_device(instance: &InstanceLoader, wanted: Extras) -> Result<Opened, String> {
        // SAFETY: plain queries of a live instance.
        let physical_devices = unsafe { instance.enumerate_physical_devices(None) }
            .result()
            .map_err(|e| format!("vkEnumeratePhysicalDevices: {e}"))?;
        for &pd in physical_devices.iter() {
            // SAFETY: `pd` was enumerated from `instance`.
            let families =
                unsafe { instance.get_physical_device_queue_family_properties(pd, None) };
            let Some(family) = families.iter().position(|f| {
                f.queue_flags.intersects(
                    vk::QueueFlags::GRAPHICS | vk::QueueFlags::COMPUTE | vk::QueueFlags::TRANSFER,
                ) && f.queue_count > 0
            }) else {
                continue;
            };
            let family = family as u32;
            // SAFETY: `pd` was enumerated from `instance`.
            let extensions =
                unsafe { instance.enumerate_device_extension_properties(pd, None, None) }
                    .result()
                    .map_err(|e| format!("vkEnumerateDeviceExtensionProperties: {e}"))?;
            let budget = listed(&extensions, MEMORY_BUDGET);
            let has_priority = wanted.memory_priority && listed(&extensions, MEMORY_PRIORITY);
            let mut bda_features = vk::PhysicalDeviceBufferDeviceAddressFeaturesBuilder::new();
            let mut priority_features = vk::PhysicalDeviceMemoryPriorityFeaturesEXTBuilder::new();
            let mut features2 =
                vk::PhysicalDeviceFeatures2Builder::new().extend_from(&mut bda_features);
            if has_priority {
                features2 = features2.extend_from(&mut priority_features);
            }
            // SAFETY: `pd` belongs to the instance, created for Vulkan 1.2; the
            // memory priority structure is chained only where `pd` has the
            // extension.
            unsafe { instance.get_physical_device_features2(pd, &mut features2) };
            let bda = bda_features.buffer_device_address == vk::TRUE;
            let extras = Extras {
                external_memory_fd: wanted.external_memory_fd
                    && listed(&extensions, EXTERNAL_MEMORY_FD),
                memory_priority: priority_features.memory_priority == vk::TRUE,
            };

            let priorities = [1.0];
            let queue_info = [vk::DeviceQueueCreateInfoBuilder::new()
                .queue_family_index(family)
                .queue_priorities(&priorities)];
            let extension_names: Vec<*const c_char> = [
                (budget, MEMORY_BUDGET),
                (extras.external_memory_fd, EXTERNAL_MEMORY_FD),
                (extras.memory_priority, MEMORY_PRIORITY),
            ]
            .iter()
            .filter(|(enabled, _)| *enabled)
            .map(|(_, name)| name.as_ptr())
            .collect();
            let mut enable_bda = vk::PhysicalDeviceBufferDeviceAddressFeaturesBuilder::new()
                .buffer_device_address(bda);
            let mut enable_priority =
                vk::PhysicalDeviceMemoryPriorityFeaturesEXTBuilder::new().memory_priority(true);
            let mut device_info = vk::DeviceCreateInfoBuilder::new()
                .queue_create_infos(&queue_info)
                .enabled_extension_names(&extension_names)
                .extend_from(&mut enable_bda);
            if extras.memory_priority {
                device_info = device_info.extend_from(&mut enable_priority);
            }
            // SAFETY: the create info and everything it points to outlive the call;
            // the features and extensions are supported by `pd`.
            let device = unsafe { DeviceLoader::new(instance, pd, &device_info) }
                .map_err(|e| format!("vkCreateDevice: {e:?}"))?;
            return Ok(Opened {
                physical_device: pd,
                queue_family: family,
                device,
                buffer_device_address: bda,
                memory_budget: budget,
                extras,
            });
        }
        Err("no physical device with a transfer queue".into())
    }

    /// What the allocator is told about the device.
    pub fn properties(&self) -> EruptDeviceProperties {
        let enabled = EnabledFeatures::new().with_buffer_device_address(self.buffer_device_address);
        // SAFETY: the physical device belongs to the instance; `enabled` says
        // exactly what `open_device` enabled.
        unsafe { extended_device_properties(&self.vi.instance, self.physical_device, enabled) }
            .expect("device properties")
    }

    pub fn allocator(&self) -> GpuAllocator<vk::DeviceMemory> {
        let props = self.properties();
        GpuAllocator::with_extended_properties(
            Config::i_am_prototyping(),
            props.device_properties(),
            props.extended.clone(),
        )
    }

    /// Fails the test unless the layer announced itself, on the instance and
    /// in the device's call chain, and said nothing failing so far.
    pub fn assert_no_messages(&self) {
        self.vi.assert_no_messages(Evidence::InstanceAndDevice);
    }

    /// Records commands into a fresh command buffer, submits them and waits.
    pub fn submit(&self, record: impl FnOnce(vk::CommandBuffer)) {
        let d = &self.device;
        // SAFETY: every object is created from this device, used by this one
        // submission, waited for, then destroyed.
        unsafe {
            let pool = d
                .create_command_pool(
                    &vk::CommandPoolCreateInfoBuilder::new().queue_family_index(self.queue_family),
                    None,
                )
                .result()
                .unwrap();
            let cb = d
                .allocate_command_buffers(
                    &vk::CommandBufferAllocateInfoBuilder::new()
                        .command_pool(pool)
                        .level(vk::CommandBufferLevel::PRIMARY)
                        .command_buffer_count(1),
                )
                .result()
                .unwrap()[0];
            d.begin_command_buffer(
                cb,
                &vk::CommandBufferBeginInfoBuilder::new()
                    .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT),
            )
            .result()
            .unwrap();
            record(cb);
            d.end_command_buffer(cb).result().unwrap();
            let fence = d
                .create_fence(&vk::FenceCreateInfoBuilder::new(), None)
                .result()
                .unwrap();
            let cbs = [cb];
            let submit = [vk::SubmitInfoBuilder::new().command_buffers(&cbs)];
            d.queue_submit(self.queue, &submit, fence).result().unwrap();
            d.wait_for_fences(&[fence], true, u64::MAX)
                .result()
                .unwrap();
            d.destroy_fence(fence, None);
            d.destroy_command_pool(pool, None);
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: the tests destroyed every object they created from the device
        // and waited for the queue.
        unsafe {
            self.device.device_wait_idle().result().ok();
            self.device.destroy_device(None);
        }
    }
}

/// The one colour mip level and layer of the tests' images.
pub fn color_range() -> vk::ImageSubresourceRange {
    vk::ImageSubresourceRangeBuilder::new()
        .aspect_mask(vk::ImageAspectFlags::COLOR)
        .level_count(1)
        .layer_count(1)
        .build()
}

/// The barrier that moves `image` (its [`color_range`]) from layout `from`
/// to `to`, after `src_access` and before `dst_access`.
pub fn transition<'a>(
    image: vk::Image,
    from: vk::ImageLayout,
    to: vk::ImageLayout,
    src_access: vk::AccessFlags,
    dst_access: vk::AccessFlags,
) -> vk::ImageMemoryBarrierBuilder<'a> {
    vk::ImageMemoryBarrierBuilder::new()
        .image(image)
        .old_layout(from)
        .new_layout(to)
        .src_access_mask(src_access)
        .dst_access_mask(dst_access)
        .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .subresource_range(color_range())
}
