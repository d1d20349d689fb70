//! Vulkan instance and device for the soak run: the first device with a transfer
//! queue, the Khronos validation layer when installed, and a debug-utils
//! messenger that records every message.

use {
    ash::{ext, vk},
    gpu_alloc_ash::{query_properties, AshProperties, Properties2},
    std::{
        ffi::{c_void, CStr},
        sync::Mutex,
    },
};

const VALIDATION_LAYER: &CStr = c"VK_LAYER_KHRONOS_validation";

/// Messages recorded by the messenger: `(is a warning or error, text)`.
type Messages = Mutex<Vec<(bool, String)>>;

unsafe extern "system" fn on_message(
    severity: vk::DebugUtilsMessageSeverityFlagsEXT,
    _types: vk::DebugUtilsMessageTypeFlagsEXT,
    data: *const vk::DebugUtilsMessengerCallbackDataEXT<'_>,
    user: *mut c_void,
) -> vk::Bool32 {
    // SAFETY: Vulkan passes null or a callback data pointer valid for the call.
    let text = unsafe { data.as_ref() }
        // SAFETY: `message` is null or a NUL-terminated string, per the spec.
        .and_then(|d| unsafe { d.message_as_c_str() })
        .map(|m| m.to_string_lossy().into_owned())
        .unwrap_or_default();
    let failing = severity.intersects(
        vk::DebugUtilsMessageSeverityFlagsEXT::WARNING
            | vk::DebugUtilsMessageSeverityFlagsEXT::ERROR,
    );
    // SAFETY: `user` is the `Messages` box that `Gpu` keeps alive until after the
    // messenger and the instance are destroyed.
    let messages = unsafe { &*user.cast::<Messages>() };
    if let Ok(mut messages) = messages.lock() {
        messages.push((failing, text));
    }
    vk::FALSE
}

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
        .pfn_user_callback(Some(on_message))
        .user_data((messages as *const Messages).cast_mut().cast())
}

/// Instance, device, one queue, one command buffer and a fence.
pub struct Gpu {
    _entry: ash::Entry,
    pub instance: ash::Instance,
    debug_utils: Option<(ext::debug_utils::Instance, vk::DebugUtilsMessengerEXT)>,
    /// Read by the callback through a raw pointer until the instance is gone.
    messages: Box<Messages>,
    /// The validation layer is on and its messages reach the messenger.
    pub validation: bool,
    pub device_name: String,
    pub device: ash::Device,
    pub queue: vk::Queue,
    pub pool: vk::CommandPool,
    pub cmd: vk::CommandBuffer,
    pub fence: vk::Fence,
    pub props: AshProperties,
    destroyed: bool,
}

impl Gpu {
    /// Sets everything up; `Err` says why there is no usable Vulkan device.
    pub fn new() -> Result<Gpu, String> {
        // SAFETY: loading the Vulkan library runs its initialisers; the system
        // loader is trusted.
        let entry = unsafe { ash::Entry::load() }.map_err(|e| e.to_string())?;
        // SAFETY: a plain query of a loaded entry.
        let version = unsafe { entry.try_enumerate_instance_version() }
            .map_err(|e| e.to_string())?
            .unwrap_or(vk::API_VERSION_1_0)
            .min(vk::API_VERSION_1_3);
        // SAFETY: plain queries of a loaded entry.
        let layers = unsafe { entry.enumerate_instance_layer_properties() }.unwrap_or_default();
        let validation = layers
            .iter()
            .any(|l| l.layer_name_as_c_str() == Ok(VALIDATION_LAYER));
        // SAFETY: as above.
        let extensions =
            unsafe { entry.enumerate_instance_extension_properties(None) }.unwrap_or_default();
        let debug_utils = extensions
            .iter()
            .any(|e| e.extension_name_as_c_str() == Ok(ext::debug_utils::NAME));
        let layer_names: Vec<_> = validation
            .then_some(VALIDATION_LAYER.as_ptr())
            .into_iter()
            .collect();
        let extension_names: Vec<_> = debug_utils
            .then_some(ext::debug_utils::NAME.as_ptr())
            .into_iter()
            .collect();
        let messages: Box<Messages> = Box::default();
        let app = vk::ApplicationInfo::default()
            .application_name(c"gpu-alloc-soak")
            .api_version(version);
        let mut instance_messenger = messenger_info(&messages);
        let mut info = vk::InstanceCreateInfo::default()
            .application_info(&app)
            .enabled_layer_names(&layer_names)
            .enabled_extension_names(&extension_names);
        if debug_utils {
            info = info.push_next(&mut instance_messenger);
        }
        // SAFETY: `info` and what it points to outlive the call; the messenger's
        // user data is `messages`, which `Gpu` keeps alive past the instance.
        let instance =
            unsafe { entry.create_instance(&info, None) }.map_err(|e| format!("instance: {e}"))?;
        let debug_utils = debug_utils.then(|| {
            let loader = ext::debug_utils::Instance::new(&entry, &instance);
            // SAFETY: the instance has VK_EXT_debug_utils; `messages` outlives the
            // messenger, destroyed in `destroy`.
            let messenger =
                unsafe { loader.create_debug_utils_messenger(&messenger_info(&messages), None) }
                    .expect("create debug messenger");
            (loader, messenger)
        });
        // SAFETY: a query of a live instance.
        let physical = unsafe { instance.enumerate_physical_devices() }.unwrap_or_default();
        let found = physical.iter().find_map(|&pd| {
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
        });
        let Some((physical_device, family)) = found else {
            // SAFETY: nothing was created from the instance but the messenger.
            unsafe {
                if let Some((loader, messenger)) = &debug_utils {
                    loader.destroy_debug_utils_messenger(*messenger, None);
                }
                instance.destroy_instance(None);
            }
            return Err("no physical device with a transfer queue".into());
        };
        // SAFETY: `physical_device` comes from `instance`, made with `version`.
        let props = unsafe {
            query_properties(
                &instance,
                Properties2::for_version(version),
                physical_device,
            )
        }
        .map_err(|e| format!("properties: {e:?}"))?;
        // SAFETY: as above.
        let base = unsafe { instance.get_physical_device_properties(physical_device) };
        let device_name = base
            .device_name_as_c_str()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let priorities = [1.0];
        let queue_info = vk::DeviceQueueCreateInfo::default()
            .queue_family_index(family)
            .queue_priorities(&priorities);
        let device_info =
            vk::DeviceCreateInfo::default().queue_create_infos(std::slice::from_ref(&queue_info));
        // SAFETY: the queue family exists; no extensions or features are enabled.
        let device = unsafe { instance.create_device(physical_device, &device_info, None) }
            .map_err(|e| format!("device: {e}"))?;
        // SAFETY: the device has one queue in `family`.
        let queue = unsafe { device.get_device_queue(family, 0) };
        let pool_info = vk::CommandPoolCreateInfo::default()
            .queue_family_index(family)
            .flags(vk::CommandPoolCreateFlags::RESET_COMMAND_BUFFER);
        // SAFETY: valid create infos for a live device.
        let (pool, cmd, fence) = unsafe {
            let pool = device
                .create_command_pool(&pool_info, None)
                .expect("command pool");
            let alloc = vk::CommandBufferAllocateInfo::default()
                .command_pool(pool)
                .level(vk::CommandBufferLevel::PRIMARY)
                .command_buffer_count(1);
            let cmd = device.allocate_command_buffers(&alloc).expect("cmd")[0];
            let fence = device
                .create_fence(&vk::FenceCreateInfo::default(), None)
                .expect("fence");
            (pool, cmd, fence)
        };
        let validation = validation && debug_utils.is_some();
        Ok(Gpu {
            _entry: entry,
            instance,
            debug_utils,
            messages,
            validation,
            device_name,
            device,
            queue,
            pool,
            cmd,
            fence,
            props,
            destroyed: false,
        })
    }

    /// Records commands with `record`, submits them, waits for the fence.
    pub fn submit(&self, record: impl FnOnce(vk::CommandBuffer)) {
        let d = &self.device;
        let begin = vk::CommandBufferBeginInfo::default()
            .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
        // SAFETY: `cmd` is idle (the last submission was waited for) and used from
        // this thread only; the fence is unsignalled, then waited for and reset.
        unsafe {
            d.reset_command_buffer(self.cmd, vk::CommandBufferResetFlags::empty())
                .expect("reset");
            d.begin_command_buffer(self.cmd, &begin).expect("begin");
            record(self.cmd);
            d.end_command_buffer(self.cmd).expect("end");
            let submit = vk::SubmitInfo::default().command_buffers(std::slice::from_ref(&self.cmd));
            d.queue_submit(self.queue, &[submit], self.fence)
                .expect("submit");
            d.wait_for_fences(&[self.fence], true, u64::MAX)
                .expect("wait");
            d.reset_fences(&[self.fence]).expect("reset fence");
        }
    }

    /// `(warnings and errors, all messages)` recorded so far.
    pub fn message_counts(&self) -> (usize, usize) {
        let messages = self.messages.lock().unwrap();
        (messages.iter().filter(|m| m.0).count(), messages.len())
    }

    /// Every message recorded so far, with its severity class.
    pub fn all_messages(&self) -> Vec<(bool, String)> {
        self.messages.lock().unwrap().clone()
    }

    /// The warnings and errors recorded so far.
    pub fn failing_messages(&self) -> Vec<String> {
        let messages = self.messages.lock().unwrap();
        messages
            .iter()
            .filter(|m| m.0)
            .map(|m| m.1.clone())
            .collect()
    }

    /// Destroys the device and instance (the layer reports leaked Vulkan objects
    /// then); the messages stay readable.
    pub fn destroy(&mut self) {
        if std::mem::replace(&mut self.destroyed, true) {
            return;
        }
        // SAFETY: the caller destroyed its buffers and freed its memory; every
        // object is destroyed once, children first, and `messages` outlives the
        // messenger and the instance.
        unsafe {
            let _ = self.device.device_wait_idle();
            self.device.destroy_fence(self.fence, None);
            self.device.destroy_command_pool(self.pool, None);
            self.device.destroy_device(None);
            if let Some((loader, messenger)) = self.debug_utils.take() {
                loader.destroy_debug_utils_messenger(messenger, None);
            }
            self.instance.destroy_instance(None);
        }
    }
}

impl Drop for Gpu {
    fn drop(&mut self) {
        self.destroy();
    }
}
