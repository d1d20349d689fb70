//! The workload's device on Vulkan through ash and `gpu-alloc-ash`: real buffers
//! and optimal-tiling images with their real memory requirements, bound to the
//! allocator's blocks, and real copies on a queue.

use {
    crate::gpu::{
        whole_image, BufferCopy, BufferPurpose, Gpu, ImageCopy, Requirements, Resource, Shape,
    },
    ash::vk,
    gpu_alloc::{AllocationSupport, HeapBudget, MemoryBlock, MemoryDevice},
    gpu_alloc_ash::{query_properties, AshBudgetDevice, AshProperties, Properties2},
    std::{
        ffi::{c_void, CStr},
        sync::{Mutex, MutexGuard, PoisonError},
    },
};

/// The Khronos validation layer, for `--validate`.
const VALIDATION_LAYER: &CStr = c"VK_LAYER_KHRONOS_validation";

/// Warnings and errors of the validation layer, from the debug messenger.
static VALIDATION_MESSAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The debug messenger's callback: keeps warnings and errors.
unsafe extern "system" fn on_message(
    severity: vk::DebugUtilsMessageSeverityFlagsEXT,
    _types: vk::DebugUtilsMessageTypeFlagsEXT,
    data: *const vk::DebugUtilsMessengerCallbackDataEXT<'_>,
    _user_data: *mut c_void,
) -> vk::Bool32 {
    // SAFETY: the layer passes valid callback data for the call's duration.
    let message = unsafe { data.as_ref() }
        .and_then(|data| {
            // SAFETY: as above; the message is NUL-terminated.
            unsafe { data.message_as_c_str() }
        })
        .map_or_else(String::new, |m| m.to_string_lossy().into_owned());
    eprintln!("validation [{severity:?}]: {message}");
    let mut messages = VALIDATION_MESSAGES
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    messages.push(format!("validation layer [{severity:?}]: {message}"));
    vk::FALSE
}

/// The debug messenger of `--validate` and its loader.
struct Messenger {
    loader: ash::ext::debug_utils::Instance,
    messenger: vk::DebugUtilsMessengerEXT,
}

/// Why Vulkan could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// No Vulkan library, driver or device: the demo may fall back to the
    /// simulated device.
    NoDriver(String),
    /// Vulkan is there but failed.
    Failed(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::NoDriver(why) => write!(f, "no Vulkan driver: {why}"),
            OpenError::Failed(why) => write!(f, "Vulkan: {why}"),
        }
    }
}

/// An instance, the first physical device, a device with one queue, and what
/// `gpu-alloc-ash` read about its memory.
///
/// Shared by the threads of `--threads`: each records into a command pool of
/// its own ([`gpu`](Self::gpu)), and the queue, which Vulkan wants externally
/// synchronized, is behind a lock.
pub struct Ash {
    // Kept alive for as long as the instance: it holds the loaded library.
    _entry: ash::Entry,
    /// With `--validate`; destroyed before the instance.
    messenger: Option<Messenger>,
    instance: ash::Instance,
    physical_device: vk::PhysicalDevice,
    device: ash::Device,
    /// Locked by every `vkQueueSubmit` and `vkDeviceWaitIdle`.
    queue: Mutex<vk::Queue>,
    queue_family: u32,
    /// The `apiVersion` the instance was created with.
    api_version: u32,
    pub properties: AshProperties,
    /// `deviceName (driverName)`.
    pub name: String,
    /// What the device was created with for allocations: dedicated
    /// allocations on Vulkan 1.1, `VK_EXT_memory_priority` and
    /// `VK_EXT_pageable_device_local_memory` where the device has them.
    pub support: AllocationSupport,
}

fn failed(what: &str) -> impl Fn(vk::Result) -> OpenError + '_ {
    move |err| OpenError::Failed(format!("{what}: {err}"))
}

impl Ash {
    /// Opens the first Vulkan device; with `validate`, with the Khronos
    /// validation layer on and its warnings and errors recorded.
    pub fn open(validate: bool) -> Result<Ash, OpenError> {
        // SAFETY: loading the Vulkan library runs its initialisation; the
        // Khronos loader is sound to load.
        let entry = unsafe { ash::Entry::load() }
            .map_err(|err| OpenError::NoDriver(format!("cannot load the Vulkan library: {err}")))?;
        // SAFETY: a global command of a loaded entry.
        let loader_version = unsafe { entry.try_enumerate_instance_version() }
            .map_err(failed("vkEnumerateInstanceVersion"))?
            .unwrap_or(vk::API_VERSION_1_0);
        let api_version = loader_version.min(vk::API_VERSION_1_2);
        let app = vk::ApplicationInfo::default()
            .application_name(c"gpu-alloc-demo")
            .api_version(api_version);
        let (layers, extensions) = if validate {
            // SAFETY: a global command of a loaded entry.
            let available = unsafe { entry.enumerate_instance_layer_properties() }
                .map_err(failed("vkEnumerateInstanceLayerProperties"))?;
            if !available
                .iter()
                .any(|l| l.layer_name_as_c_str() == Ok(VALIDATION_LAYER))
            {
                return Err(OpenError::Failed(
                    "--validate: VK_LAYER_KHRONOS_validation is not installed".into(),
                ));
            }
            (
                vec![VALIDATION_LAYER.as_ptr()],
                vec![ash::ext::debug_utils::NAME.as_ptr()],
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let instance_info = vk::InstanceCreateInfo::default()
            .application_info(&app)
            .enabled_layer_names(&layers)
            .enabled_extension_names(&extensions);
        // SAFETY: a valid create info; the layer and extension (if any) are
        // available (VK_EXT_debug_utils comes with the layer).
        let instance =
            unsafe { entry.create_instance(&instance_info, None) }.map_err(|err| match err {
                vk::Result::ERROR_INCOMPATIBLE_DRIVER => {
                    OpenError::NoDriver("vkCreateInstance: ERROR_INCOMPATIBLE_DRIVER".into())
                }
                err => OpenError::Failed(format!("vkCreateInstance: {err}")),
            })?;
        let messenger = if validate {
            let loader = ash::ext::debug_utils::Instance::new(&entry, &instance);
            let info = vk::DebugUtilsMessengerCreateInfoEXT::default()
                .message_severity(
                    vk::DebugUtilsMessageSeverityFlagsEXT::WARNING
                        | vk::DebugUtilsMessageSeverityFlagsEXT::ERROR,
                )
                .message_type(
                    vk::DebugUtilsMessageTypeFlagsEXT::GENERAL
                        | vk::DebugUtilsMessageTypeFlagsEXT::VALIDATION
                        | vk::DebugUtilsMessageTypeFlagsEXT::PERFORMANCE,
                )
                .pfn_user_callback(Some(on_message));
            // SAFETY: the instance enabled VK_EXT_debug_utils; the callback is a
            // plain function that only touches a static.
            match unsafe { loader.create_debug_utils_messenger(&info, None) } {
                Ok(messenger) => Some(Messenger { loader, messenger }),
                Err(err) => {
                    // SAFETY: nothing was made from the instance.
                    unsafe { instance.destroy_instance(None) };
                    return Err(OpenError::Failed(format!(
                        "vkCreateDebugUtilsMessengerEXT: {err}"
                    )));
                }
            }
        } else {
            None
        };
        // From here on the instance (and messenger) must be destroyed on every
        // error path.
        let destroy = |err| {
            // SAFETY: called once, on an error path where the instance is live
            // and everything made from it but the messenger was destroyed.
            unsafe {
                if let Some(m) = &messenger {
                    m.loader.destroy_debug_utils_messenger(m.messenger, None);
                }
                instance.destroy_instance(None);
            }
            err
        };
        // SAFETY: a live instance.
        let physical_devices = unsafe { instance.enumerate_physical_devices() }
            .map_err(failed("vkEnumeratePhysicalDevices"))
            .map_err(destroy)?;
        let Some(&physical_device) = physical_devices.first() else {
            return Err(destroy(OpenError::NoDriver(
                "no Vulkan device found".into(),
            )));
        };
        // SAFETY: the physical device belongs to the instance.
        let device_props = unsafe { instance.get_physical_device_properties(physical_device) };
        let device_name = device_props
            .device_name_as_c_str()
            .map(CStr::to_string_lossy)
            .unwrap_or_default()
            .into_owned();
        // SAFETY: as above.
        let families =
            unsafe { instance.get_physical_device_queue_family_properties(physical_device) };
        let transfer =
            vk::QueueFlags::GRAPHICS | vk::QueueFlags::COMPUTE | vk::QueueFlags::TRANSFER;
        let Some(queue_family) = families
            .iter()
            .position(|f| f.queue_flags.intersects(transfer) && f.queue_count > 0)
        else {
            return Err(destroy(OpenError::Failed("no queue can copy".into())));
        };
        let queue_family = queue_family as u32;
        // SAFETY: as above.
        let extensions = unsafe { instance.enumerate_device_extension_properties(physical_device) }
            .map_err(failed("vkEnumerateDeviceExtensionProperties"))
            .map_err(destroy)?;
        let has = |name: &CStr| {
            extensions
                .iter()
                .any(|e| e.extension_name_as_c_str() == Ok(name))
        };
        let core_1_1 =
            api_version >= vk::API_VERSION_1_1 && device_props.api_version >= vk::API_VERSION_1_1;
        // Memory priorities need the extension and its feature, read through
        // vkGetPhysicalDeviceFeatures2 (Vulkan 1.1); pageable device-local
        // memory needs priorities.
        let mut priority_features = vk::PhysicalDeviceMemoryPriorityFeaturesEXT::default();
        let mut pageable_features =
            vk::PhysicalDevicePageableDeviceLocalMemoryFeaturesEXT::default();
        let priority_ext = ash::ext::memory_priority::NAME;
        let pageable_ext = ash::ext::pageable_device_local_memory::NAME;
        if core_1_1 && has(priority_ext) {
            let mut features = vk::PhysicalDeviceFeatures2::default()
                .push_next(&mut priority_features)
                .push_next(&mut pageable_features);
            // SAFETY: Vulkan 1.1 on instance and physical device; the chain
            // holds structures of extensions the device lists (the pageable
            // one is left untouched by a driver without it).
            unsafe { instance.get_physical_device_features2(physical_device, &mut features) };
        }
        let priority = priority_features.memory_priority == vk::TRUE;
        let pageable = priority
            && has(pageable_ext)
            && pageable_features.pageable_device_local_memory == vk::TRUE;
        let mut enabled: Vec<*const std::ffi::c_char> = Vec::new();
        let budget = ash::ext::memory_budget::NAME;
        if has(budget) {
            enabled.push(budget.as_ptr());
        }
        if priority {
            enabled.push(priority_ext.as_ptr());
        }
        if pageable {
            enabled.push(pageable_ext.as_ptr());
        }
        let mut enable_priority =
            vk::PhysicalDeviceMemoryPriorityFeaturesEXT::default().memory_priority(true);
        let mut enable_pageable = vk::PhysicalDevicePageableDeviceLocalMemoryFeaturesEXT::default()
            .pageable_device_local_memory(true);
        let support = AllocationSupport::new()
            .dedicated(core_1_1)
            .priority(priority)
            .pageable(pageable);
        let priorities = [1.0];
        let queue_info = vk::DeviceQueueCreateInfo::default()
            .queue_family_index(queue_family)
            .queue_priorities(&priorities);
        let mut device_info = vk::DeviceCreateInfo::default()
            .queue_create_infos(std::slice::from_ref(&queue_info))
            .enabled_extension_names(&enabled);
        if priority {
            device_info = device_info.push_next(&mut enable_priority);
        }
        if pageable {
            device_info = device_info.push_next(&mut enable_pageable);
        }
        // SAFETY: a valid create info: one queue of an existing family, only
        // extensions the device lists, features it reports with their
        // extensions enabled.
        let device = unsafe { instance.create_device(physical_device, &device_info, None) }
            .map_err(failed("vkCreateDevice"))
            .map_err(destroy)?;
        // SAFETY: the family was asked for with one queue.
        let queue = unsafe { device.get_device_queue(queue_family, 0) };
        // SAFETY: the instance was created with `api_version`, which
        // `for_version` turns into the matching `Properties2`.
        let properties = unsafe {
            query_properties(
                &instance,
                Properties2::for_version(api_version),
                physical_device,
            )
        };
        let properties = match properties {
            Ok(properties) => properties,
            Err(err) => {
                // SAFETY: nothing was created from the device.
                unsafe { device.destroy_device(None) };
                return Err(destroy(OpenError::Failed(format!(
                    "reading memory properties: {err}"
                ))));
            }
        };
        Ok(Ash {
            _entry: entry,
            messenger,
            instance,
            physical_device,
            device,
            queue: Mutex::new(queue),
            queue_family,
            api_version,
            properties,
            name: device_name,
            support,
        })
    }

    /// The queue, for a call that needs it externally synchronized.
    fn lock_queue(&self) -> MutexGuard<'_, vk::Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The workload's device on this Vulkan device, with a command pool, command
    /// buffer and fence of its own: one per thread.
    pub fn gpu(&self) -> Result<AshGpu<'_>, String> {
        // SAFETY: the instance, physical device and device live as long as `self`;
        // `Properties2` fits the instance's `apiVersion`.
        let memory = unsafe {
            AshBudgetDevice::new(
                &self.instance,
                Properties2::for_version(self.api_version),
                self.physical_device,
                &self.device,
            )
        }
        .map_err(|err| format!("reading device extensions: {err}"))?;
        let pool_info = vk::CommandPoolCreateInfo::default()
            .queue_family_index(self.queue_family)
            .flags(vk::CommandPoolCreateFlags::RESET_COMMAND_BUFFER);
        // SAFETY: a valid create info for a family the device has a queue of.
        let pool = unsafe { self.device.create_command_pool(&pool_info, None) }
            .map_err(|err| format!("vkCreateCommandPool: {err}"))?;
        let memory = DemoDevice {
            budget: memory,
            support: self.support,
        };
        let mut gpu = AshGpu {
            vk: self,
            memory,
            pool,
            cmd: vk::CommandBuffer::null(),
            fence: vk::Fence::null(),
            recording: false,
        };
        let alloc_info = vk::CommandBufferAllocateInfo::default()
            .command_pool(pool)
            .level(vk::CommandBufferLevel::PRIMARY)
            .command_buffer_count(1);
        // SAFETY: a live pool of this device.
        gpu.cmd = unsafe { self.device.allocate_command_buffers(&alloc_info) }
            .map_err(|err| format!("vkAllocateCommandBuffers: {err}"))?[0];
        // SAFETY: a valid create info.
        gpu.fence = unsafe {
            self.device
                .create_fence(&vk::FenceCreateInfo::default(), None)
        }
        .map_err(|err| format!("vkCreateFence: {err}"))?;
        Ok(gpu)
    }
}

impl Drop for Ash {
    fn drop(&mut self) {
        // SAFETY: every object made from the device was destroyed by `AshGpu`'s
        // drop (it borrows `self`, so it is gone); the device is idle.
        unsafe {
            self.device.destroy_device(None);
            if let Some(m) = &self.messenger {
                m.loader.destroy_debug_utils_messenger(m.messenger, None);
            }
            self.instance.destroy_instance(None);
        }
    }
}

/// A buffer or an image.
#[derive(Debug)]
pub enum Handle {
    Buffer(vk::Buffer),
    Image(vk::Image),
}

/// The allocator's device: gpu-alloc-ash's budget device, reporting what the
/// device was created with for allocations (gpu-alloc-ash cannot see it).
pub struct DemoDevice<'a> {
    budget: AshBudgetDevice<'a>,
    support: AllocationSupport,
}

impl<'a> DemoDevice<'a> {
    fn budget_device(&self) -> &AshBudgetDevice<'a> {
        &self.budget
    }

    fn read_budgets(&self, budgets: &mut [HeapBudget]) -> bool {
        self.budget.memory_budget(budgets)
    }

    fn support(&self) -> AllocationSupport {
        self.support
    }
}

gpu_alloc::forward_memory_device! {
    impl['a] MemoryDevice<vk::DeviceMemory> for DemoDevice<'a> {
        inner: budget_device,
        budget: read_budgets,
        // `Ash::open` enabled what `support` names (with its features), and
        // gpu-alloc-ash's `allocate_memory_with` sends all of it.
        unsafe support: support,
    }
}

/// [`Gpu`] on a Vulkan device: one command pool with one command buffer, one
/// fence; used by one thread at a time.
pub struct AshGpu<'a> {
    vk: &'a Ash,
    memory: DemoDevice<'a>,
    pool: vk::CommandPool,
    cmd: vk::CommandBuffer,
    fence: vk::Fence,
    /// `cmd` is being recorded.
    recording: bool,
}

impl Drop for AshGpu<'_> {
    fn drop(&mut self) {
        let device = &self.vk.device;
        // SAFETY: after waiting for the device to be idle (with the queue
        // locked, as vkDeviceWaitIdle wants) nothing uses the pool (and its
        // command buffer) or the fence; null handles are ignored.
        unsafe {
            let queue = self.vk.lock_queue();
            let _ = device.device_wait_idle();
            drop(queue);
            device.destroy_fence(self.fence, None);
            device.destroy_command_pool(self.pool, None);
        }
    }
}

/// Every mip level of a colour image.
fn all_mips() -> vk::ImageSubresourceRange {
    vk::ImageSubresourceRange {
        aspect_mask: vk::ImageAspectFlags::COLOR,
        base_mip_level: 0,
        level_count: vk::REMAINING_MIP_LEVELS,
        base_array_layer: 0,
        layer_count: 1,
    }
}

/// Vulkan's copies of `regions`, tightly packed in the buffer.
fn image_regions(regions: &[ImageCopy]) -> Vec<vk::BufferImageCopy> {
    regions
        .iter()
        .map(|r| vk::BufferImageCopy {
            buffer_offset: r.buffer_offset,
            buffer_row_length: 0,
            buffer_image_height: 0,
            image_subresource: vk::ImageSubresourceLayers {
                aspect_mask: vk::ImageAspectFlags::COLOR,
                mip_level: r.mip,
                base_array_layer: 0,
                layer_count: 1,
            },
            image_offset: vk::Offset3D {
                x: r.x as i32,
                y: r.y as i32,
                z: 0,
            },
            image_extent: vk::Extent3D {
                width: r.width,
                height: r.height,
                depth: 1,
            },
        })
        .collect()
}

impl AshGpu<'_> {
    fn device(&self) -> &ash::Device {
        &self.vk.device
    }

    /// The command buffer, begun if it was not.
    fn cmd(&mut self) -> vk::CommandBuffer {
        if !self.recording {
            let info = vk::CommandBufferBeginInfo::default()
                .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
            // SAFETY: the command buffer is in the initial state (new or reset
            // after its last submission completed).
            unsafe { self.device().begin_command_buffer(self.cmd, &info) }
                .expect("vkBeginCommandBuffer");
            self.recording = true;
        }
        self.cmd
    }

    fn buffer(resource: &Resource<Self>) -> vk::Buffer {
        match resource.handle {
            Handle::Buffer(buffer) => buffer,
            Handle::Image(_) => panic!("a buffer was expected"),
        }
    }

    fn image(resource: &Resource<Self>) -> vk::Image {
        match resource.handle {
            Handle::Image(image) => image,
            Handle::Buffer(_) => panic!("an image was expected"),
        }
    }

    /// Records a global memory barrier between transfer writes and `dst`.
    fn memory_barrier(&mut self, dst_stage: vk::PipelineStageFlags, dst_access: vk::AccessFlags) {
        let cmd = self.cmd();
        let barrier = vk::MemoryBarrier::default()
            .src_access_mask(vk::AccessFlags::TRANSFER_WRITE)
            .dst_access_mask(dst_access);
        // SAFETY: a command buffer being recorded; a valid barrier.
        unsafe {
            self.device().cmd_pipeline_barrier(
                cmd,
                vk::PipelineStageFlags::TRANSFER,
                dst_stage,
                vk::DependencyFlags::empty(),
                &[barrier],
                &[],
                &[],
            )
        };
    }

    /// Records a layout transition of every mip level after transfer writes.
    fn transition(
        &mut self,
        image: vk::Image,
        old: vk::ImageLayout,
        new: vk::ImageLayout,
        dst_access: vk::AccessFlags,
    ) {
        let cmd = self.cmd();
        let barrier = vk::ImageMemoryBarrier::default()
            .src_access_mask(vk::AccessFlags::TRANSFER_WRITE)
            .dst_access_mask(dst_access)
            .old_layout(old)
            .new_layout(new)
            .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .image(image)
            .subresource_range(all_mips());
        // SAFETY: a command buffer being recorded; the image is live.
        unsafe {
            self.device().cmd_pipeline_barrier(
                cmd,
                vk::PipelineStageFlags::TRANSFER,
                vk::PipelineStageFlags::TRANSFER,
                vk::DependencyFlags::empty(),
                &[],
                &[],
                &[barrier],
            )
        };
    }
}

impl<'a> Gpu for AshGpu<'a> {
    type Memory = vk::DeviceMemory;
    type Device = DemoDevice<'a>;
    type Handle = Handle;

    fn memory_device(&self) -> &DemoDevice<'a> {
        &self.memory
    }

    fn create(&mut self, shape: Shape) -> Result<(Handle, Requirements), String> {
        let device = self.device();
        let core_1_1 = self.vk.api_version >= vk::API_VERSION_1_1
            && self.vk.properties.device_api_version >= vk::API_VERSION_1_1;
        let mut dedicated = vk::MemoryDedicatedRequirements::default();
        let mut requirements2 = vk::MemoryRequirements2::default().push_next(&mut dedicated);
        let (handle, requirements) = match shape {
            Shape::Buffer { size, purpose } => {
                let usage = match purpose {
                    BufferPurpose::Mesh => {
                        vk::BufferUsageFlags::VERTEX_BUFFER
                            | vk::BufferUsageFlags::INDEX_BUFFER
                            | vk::BufferUsageFlags::TRANSFER_DST
                            | vk::BufferUsageFlags::TRANSFER_SRC
                    }
                    BufferPurpose::Staging => vk::BufferUsageFlags::TRANSFER_SRC,
                    BufferPurpose::Readback => vk::BufferUsageFlags::TRANSFER_DST,
                };
                let info = vk::BufferCreateInfo::default()
                    .size(size)
                    .usage(usage)
                    .sharing_mode(vk::SharingMode::EXCLUSIVE);
                // SAFETY: a valid create info.
                let buffer = unsafe { device.create_buffer(&info, None) }
                    .map_err(|err| format!("vkCreateBuffer: {err}"))?;
                let requirements = if core_1_1 {
                    let info = vk::BufferMemoryRequirementsInfo2::default().buffer(buffer);
                    // SAFETY: a live buffer; Vulkan 1.1 on instance and device.
                    unsafe { device.get_buffer_memory_requirements2(&info, &mut requirements2) };
                    requirements2.memory_requirements
                } else {
                    // SAFETY: a live buffer.
                    unsafe { device.get_buffer_memory_requirements(buffer) }
                };
                (Handle::Buffer(buffer), requirements)
            }
            Shape::Image {
                width,
                height,
                mips,
            } => {
                let info = vk::ImageCreateInfo::default()
                    .image_type(vk::ImageType::TYPE_2D)
                    .format(vk::Format::R8G8B8A8_UNORM)
                    .extent(vk::Extent3D {
                        width,
                        height,
                        depth: 1,
                    })
                    .mip_levels(mips)
                    .array_layers(1)
                    .samples(vk::SampleCountFlags::TYPE_1)
                    .tiling(vk::ImageTiling::OPTIMAL)
                    .usage(
                        vk::ImageUsageFlags::SAMPLED
                            | vk::ImageUsageFlags::TRANSFER_DST
                            | vk::ImageUsageFlags::TRANSFER_SRC,
                    )
                    .sharing_mode(vk::SharingMode::EXCLUSIVE)
                    .initial_layout(vk::ImageLayout::UNDEFINED);
                // SAFETY: a valid create info (RGBA8 optimal images with these
                // usages are required to be supported).
                let image = unsafe { device.create_image(&info, None) }
                    .map_err(|err| format!("vkCreateImage: {err}"))?;
                let requirements = if core_1_1 {
                    let info = vk::ImageMemoryRequirementsInfo2::default().image(image);
                    // SAFETY: a live image; Vulkan 1.1 on instance and device.
                    unsafe { device.get_image_memory_requirements2(&info, &mut requirements2) };
                    requirements2.memory_requirements
                } else {
                    // SAFETY: a live image.
                    unsafe { device.get_image_memory_requirements(image) }
                };
                (Handle::Image(image), requirements)
            }
        };
        let prefers_dedicated = dedicated.prefers_dedicated_allocation == vk::TRUE
            || dedicated.requires_dedicated_allocation == vk::TRUE;
        let resource = match &handle {
            Handle::Buffer(buffer) => gpu_alloc_ash::dedicated_buffer(*buffer),
            Handle::Image(image) => gpu_alloc_ash::dedicated_image(*image),
        };
        Ok((
            handle,
            Requirements {
                size: requirements.size,
                align: requirements.alignment.max(1),
                type_bits: requirements.memory_type_bits,
                prefers_dedicated,
                requires_dedicated: dedicated.requires_dedicated_allocation == vk::TRUE,
                // Sent with a dedicated memory object only on Vulkan 1.1,
                // where the device declares it can (`AshGpu::memory_device`).
                resource: core_1_1.then_some(resource),
            },
        ))
    }

    unsafe fn bind(
        &mut self,
        handle: &mut Handle,
        block: &MemoryBlock<vk::DeviceMemory>,
    ) -> Result<(), String> {
        let device = self.device();
        // SAFETY: the caller guarantees the block fits the resource's requirements
        // and the resource is unbound.
        let result = unsafe {
            match *handle {
                Handle::Buffer(buffer) => {
                    device.bind_buffer_memory(buffer, *block.memory(), block.offset())
                }
                Handle::Image(image) => {
                    device.bind_image_memory(image, *block.memory(), block.offset())
                }
            }
        };
        result.map_err(|err| format!("binding memory: {err}"))
    }

    unsafe fn destroy(&mut self, handle: Handle) {
        let device = self.device();
        // SAFETY: the caller guarantees no command uses the resource.
        unsafe {
            match handle {
                Handle::Buffer(buffer) => device.destroy_buffer(buffer, None),
                Handle::Image(image) => device.destroy_image(image, None),
            }
        }
    }

    fn copy_buffer(&mut self, src: &Resource<Self>, dst: &Resource<Self>, regions: &[BufferCopy]) {
        let cmd = self.cmd();
        let regions: Vec<vk::BufferCopy> = regions
            .iter()
            .map(|r| vk::BufferCopy {
                src_offset: r.src,
                dst_offset: r.dst,
                size: r.len,
            })
            .collect();
        // SAFETY: a command buffer being recorded; both buffers are live and
        // bound, the regions lie inside them and do not overlap.
        unsafe {
            self.device()
                .cmd_copy_buffer(cmd, Self::buffer(src), Self::buffer(dst), &regions)
        };
    }

    fn copy_buffer_to_image(
        &mut self,
        src: &Resource<Self>,
        dst: &Resource<Self>,
        regions: &[ImageCopy],
    ) {
        let image = Self::image(dst);
        // The old content is discarded: the copies overwrite the regions that
        // are checked.
        self.transition(
            image,
            vk::ImageLayout::UNDEFINED,
            vk::ImageLayout::TRANSFER_DST_OPTIMAL,
            vk::AccessFlags::TRANSFER_WRITE,
        );
        let cmd = self.cmd();
        // SAFETY: a command buffer being recorded; the buffer holds the regions,
        // which lie inside the image; the image is live, bound and in
        // TRANSFER_DST_OPTIMAL.
        unsafe {
            self.device().cmd_copy_buffer_to_image(
                cmd,
                Self::buffer(src),
                image,
                vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                &image_regions(regions),
            )
        };
        self.transition(
            image,
            vk::ImageLayout::TRANSFER_DST_OPTIMAL,
            vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
            vk::AccessFlags::TRANSFER_READ,
        );
    }

    fn copy_image_to_buffer(
        &mut self,
        src: &Resource<Self>,
        dst: &Resource<Self>,
        regions: &[ImageCopy],
    ) {
        let cmd = self.cmd();
        // SAFETY: a command buffer being recorded; the image was uploaded (so it
        // is in TRANSFER_SRC_OPTIMAL), the regions lie inside it and the buffer
        // holds them.
        unsafe {
            self.device().cmd_copy_image_to_buffer(
                cmd,
                Self::image(src),
                vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                Self::buffer(dst),
                &image_regions(regions),
            )
        };
    }

    fn copy_whole(
        &mut self,
        src: &Resource<Self>,
        dst: &Handle,
        _dst_block: &MemoryBlock<vk::DeviceMemory>,
    ) {
        match (src.shape, dst) {
            (Shape::Buffer { size, .. }, Handle::Buffer(buffer)) => {
                let cmd = self.cmd();
                let region = vk::BufferCopy {
                    src_offset: 0,
                    dst_offset: 0,
                    size,
                };
                // SAFETY: a command buffer being recorded; both buffers are live,
                // bound and `size` bytes long.
                unsafe {
                    self.device()
                        .cmd_copy_buffer(cmd, Self::buffer(src), *buffer, &[region])
                };
            }
            (
                Shape::Image {
                    width,
                    height,
                    mips,
                },
                Handle::Image(image),
            ) => {
                let image = *image;
                // The new image holds nothing yet.
                self.transition(
                    image,
                    vk::ImageLayout::UNDEFINED,
                    vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                    vk::AccessFlags::TRANSFER_WRITE,
                );
                let regions: Vec<vk::ImageCopy> = whole_image(width, height, mips)
                    .iter()
                    .map(|r| {
                        let layers = vk::ImageSubresourceLayers {
                            aspect_mask: vk::ImageAspectFlags::COLOR,
                            mip_level: r.mip,
                            base_array_layer: 0,
                            layer_count: 1,
                        };
                        vk::ImageCopy {
                            src_subresource: layers,
                            src_offset: vk::Offset3D::default(),
                            dst_subresource: layers,
                            dst_offset: vk::Offset3D::default(),
                            extent: vk::Extent3D {
                                width: r.width,
                                height: r.height,
                                depth: 1,
                            },
                        }
                    })
                    .collect();
                let cmd = self.cmd();
                // SAFETY: a command buffer being recorded; both images are live,
                // bound and of the same create info; the source was uploaded (so
                // it is in TRANSFER_SRC_OPTIMAL), the new one was just moved to
                // TRANSFER_DST_OPTIMAL; the regions are whole mip levels.
                unsafe {
                    self.device().cmd_copy_image(
                        cmd,
                        Self::image(src),
                        vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                        image,
                        vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                        &regions,
                    )
                };
                self.transition(
                    image,
                    vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                    vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                    vk::AccessFlags::TRANSFER_READ,
                );
            }
            _ => panic!("a copy between a buffer and an image"),
        }
    }

    fn barrier(&mut self) {
        self.memory_barrier(
            vk::PipelineStageFlags::TRANSFER,
            vk::AccessFlags::TRANSFER_READ | vk::AccessFlags::TRANSFER_WRITE,
        );
    }

    fn submit_and_wait(&mut self) -> Result<(), String> {
        if !self.recording {
            return Ok(());
        }
        self.memory_barrier(vk::PipelineStageFlags::HOST, vk::AccessFlags::HOST_READ);
        let device = &self.vk.device;
        // SAFETY: the command buffer is being recorded.
        unsafe { device.end_command_buffer(self.cmd) }
            .map_err(|err| format!("vkEndCommandBuffer: {err}"))?;
        self.recording = false;
        let cmds = [self.cmd];
        let submit = vk::SubmitInfo::default().command_buffers(&cmds);
        let queue = self.vk.lock_queue();
        // SAFETY: an executable command buffer whose resources are all live; the
        // fence is unsignalled; the queue is locked.
        unsafe { device.queue_submit(*queue, &[submit], self.fence) }
            .map_err(|err| format!("vkQueueSubmit: {err}"))?;
        drop(queue);
        // SAFETY: the fence was just submitted.
        unsafe { device.wait_for_fences(&[self.fence], true, u64::MAX) }
            .map_err(|err| format!("vkWaitForFences: {err}"))?;
        // SAFETY: the submission is complete, so neither fence nor command
        // buffer is in use.
        unsafe {
            device
                .reset_fences(&[self.fence])
                .map_err(|err| format!("vkResetFences: {err}"))?;
            device
                .reset_command_buffer(self.cmd, vk::CommandBufferResetFlags::empty())
                .map_err(|err| format!("vkResetCommandBuffer: {err}"))?;
        }
        Ok(())
    }

    fn live_memory_objects(&self) -> Option<usize> {
        None
    }

    fn violations(&self) -> Vec<String> {
        let messages = VALIDATION_MESSAGES.lock();
        messages.unwrap_or_else(|e| e.into_inner()).clone()
    }
}
