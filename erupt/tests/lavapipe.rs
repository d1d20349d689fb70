//! gpu-alloc-erupt on a real Vulkan driver (lavapipe in CI) with the Khronos
//! validation layer on: every validation message fails the test, and so does a
//! run in which the layer never announced itself. The messenger is chained to
//! the instance's create info, so it records everything from `vkCreateInstance`
//! to `vkDestroyInstance`; what the messages mean is decided once for the three
//! backend suites, in `gpu_alloc_tests::backend_support::validation`.
//! `a_validation_error_is_caught` proves that the messages arrive.
//!
//! Without a Vulkan loader, a device or the validation layer, the tests print
//! `skipped: no Vulkan driver` and pass, unless `GPU_ALLOC_REQUIRE_VULKAN=1`.

/// The `tracing` check shared by the three backend suites.
#[cfg(feature = "tracing")]
#[path = "../../ash/tests/support/trace.rs"]
mod trace;

use {
    erupt::{vk, DeviceLoader, EntryLoader, ExtendableFrom, InstanceLoader},
    gpu_alloc::{Config, GpuAllocator, MemoryBlock, Request, ResourceKind, UsageFlags},
    gpu_alloc_erupt::{
        device_properties_enabled, extended_device_properties, EnabledFeatures, EruptBudgetDevice,
        EruptDeviceProperties, EruptMemoryDevice,
    },
    gpu_alloc_tests::{
        backend_support::{
            alloc_block, assert_blocks_apart, assert_reads_back, churn_synthetic,
            cleanup_and_check, copy_between_mapped, host_visible_type, pattern,
            validation::{provoke_validation_errors, DebugMessage, Evidence, MessageLog, Severity},
            Counting, ROUND_TRIP_BUFFER_SIZES, ROUND_TRIP_IMAGE_EXTENTS,
        },
        vulkan_gate::no_vulkan,
    },
    gpu_alloc_types::{AllocationFlags, HeapBudget, MemoryDevice},
    std::{
        ffi::{c_void, CStr},
        os::raw::c_char,
    },
};

const VALIDATION_LAYER: &CStr = c"VK_LAYER_KHRONOS_validation";
const DEBUG_UTILS: &CStr = c"VK_EXT_debug_utils";
const MEMORY_BUDGET: &CStr = c"VK_EXT_memory_budget";

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
struct ValidatedInstance {
    // Field order is drop order: the instance loader goes before the entry
    // loader (erupt checks this).
    instance: InstanceLoader,
    _entry: EntryLoader,
    messenger: vk::DebugUtilsMessengerEXT,
    messages: Box<MessageLog>,
    /// The test, named in failures.
    test: String,
}

impl ValidatedInstance {
    /// Creates an instance for `api_version`, with the validation layer and a
    /// messenger, or says why there is no usable Vulkan here.
    fn new(api_version: u32, test: &str) -> Result<ValidatedInstance, String> {
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
    fn assert_no_messages(&self, evidence: Evidence) {
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
struct Context {
    // Field order is drop order: the device loader goes before the instance
    // (erupt checks this); `Drop` destroys the device first.
    device: DeviceLoader,
    vi: ValidatedInstance,
    physical_device: vk::PhysicalDevice,
    queue: vk::Queue,
    queue_family: u32,
    buffer_device_address: bool,
    memory_budget_enabled: bool,
}

impl Context {
    /// Creates the context, or says why there is no usable Vulkan here.
    fn new(test: &str) -> Option<Context> {
        match Self::try_new(test) {
            Ok(context) => Some(context),
            Err(why) => {
                no_vulkan(test, &why);
                None
            }
        }
    }

    fn try_new(test: &str) -> Result<Context, String> {
        let vi = ValidatedInstance::new(vk::API_VERSION_1_2, test)?;
        let (physical_device, queue_family, device, bda, budget) = Self::open_device(&vi.instance)?;
        // SAFETY: the device has a queue 0 in `queue_family`.
        let queue = unsafe { device.get_device_queue(queue_family, 0) };
        Ok(Context {
            device,
            vi,
            physical_device,
            queue,
            queue_family,
            buffer_device_address: bda,
            memory_budget_enabled: budget,
        })
    }

    /// Picks the first physical device with a transfer-capable queue and creates
    /// a device, with `bufferDeviceAddress` and `VK_EXT_memory_budget` when the
    /// device has them.
    #[allow(clippy::type_complexity)]
    fn open_device(
        instance: &InstanceLoader,
    ) -> Result<(vk::PhysicalDevice, u32, DeviceLoader, bool, bool), String> {
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
            let budget = extensions.iter().any(|e| {
                // SAFETY: `extension_name` is NUL-terminated.
                unsafe { CStr::from_ptr(e.extension_name.as_ptr()) == MEMORY_BUDGET }
            });
            let mut bda_features = vk::PhysicalDeviceBufferDeviceAddressFeaturesBuilder::new();
            let mut features2 =
                vk::PhysicalDeviceFeatures2Builder::new().extend_from(&mut bda_features);
            // SAFETY: `pd` belongs to the instance, created for Vulkan 1.2.
            unsafe { instance.get_physical_device_features2(pd, &mut features2) };
            let bda = bda_features.buffer_device_address == vk::TRUE;

            let priorities = [1.0];
            let queue_info = [vk::DeviceQueueCreateInfoBuilder::new()
                .queue_family_index(family)
                .queue_priorities(&priorities)];
            let extension_names: Vec<*const c_char> = if budget {
                vec![MEMORY_BUDGET.as_ptr()]
            } else {
                vec![]
            };
            let mut enable_bda = vk::PhysicalDeviceBufferDeviceAddressFeaturesBuilder::new()
                .buffer_device_address(bda);
            let device_info = vk::DeviceCreateInfoBuilder::new()
                .queue_create_infos(&queue_info)
                .enabled_extension_names(&extension_names)
                .extend_from(&mut enable_bda);
            // SAFETY: the create info and everything it points to outlive the call;
            // the feature and extension are supported by `pd`.
            let device = unsafe { DeviceLoader::new(instance, pd, &device_info) }
                .map_err(|e| format!("vkCreateDevice: {e:?}"))?;
            return Ok((pd, family, device, bda, budget));
        }
        Err("no physical device with a transfer queue".into())
    }

    /// What the allocator is told about the device.
    fn properties(&self) -> EruptDeviceProperties {
        let enabled = EnabledFeatures::new().with_buffer_device_address(self.buffer_device_address);
        // SAFETY: the physical device belongs to the instance; `enabled` says
        // exactly what `open_device` enabled.
        unsafe { extended_device_properties(&self.vi.instance, self.physical_device, enabled) }
            .expect("device properties")
    }

    fn allocator(&self) -> GpuAllocator<vk::DeviceMemory> {
        let props = self.properties();
        GpuAllocator::with_extended_properties(
            Config::i_am_prototyping(),
            props.device_properties(),
            props.extended.clone(),
        )
    }

    /// Fails the test unless the layer announced itself, on the instance and
    /// in the device's call chain, and said nothing failing so far.
    fn assert_no_messages(&self) {
        self.vi.assert_no_messages(Evidence::InstanceAndDevice);
    }

    /// Records commands into a fresh command buffer, submits them and waits.
    fn submit(&self, record: impl FnOnce(vk::CommandBuffer)) {
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

/// `Request` for a resource's real memory requirements, through the backend's
/// one call.
fn request(reqs: &vk::MemoryRequirements, usage: UsageFlags) -> Request {
    gpu_alloc_erupt::request_from_requirements(reqs, usage)
}

/// The device the tests allocate through.
type Dev<'a> = Counting<'a, EruptMemoryDevice>;

/// Records a barrier that makes transfer writes visible to host reads.
///
/// # Safety
///
/// - `cb` is a command buffer of `device` in the recording state.
unsafe fn transfer_to_host_barrier(device: &DeviceLoader, cb: vk::CommandBuffer) {
    let to_host = [vk::MemoryBarrierBuilder::new()
        .src_access_mask(vk::AccessFlags::TRANSFER_WRITE)
        .dst_access_mask(vk::AccessFlags::HOST_READ)];
    // SAFETY: the caller's contract; the barrier names no resource.
    unsafe {
        device.cmd_pipeline_barrier(
            cb,
            vk::PipelineStageFlags::TRANSFER,
            vk::PipelineStageFlags::HOST,
            vk::DependencyFlags::empty(),
            &to_host,
            &[],
            &[],
        )
    }
}

/// A buffer bound to a block of the allocator.
struct Buffer {
    buffer: vk::Buffer,
    block: MemoryBlock<vk::DeviceMemory>,
}

fn create_buffer(
    cx: &Context,
    alloc: &mut GpuAllocator<vk::DeviceMemory>,
    dev: &Dev<'_>,
    size: u64,
    usage: vk::BufferUsageFlags,
    mem_usage: UsageFlags,
) -> Buffer {
    // SAFETY: the buffer is created from the context's device, bound once to a
    // block allocated with its real requirements, and destroyed by
    // `destroy_buffer` before the block is freed.
    unsafe {
        let buffer = cx
            .device
            .create_buffer(
                &vk::BufferCreateInfoBuilder::new()
                    .size(size)
                    .usage(usage)
                    .sharing_mode(vk::SharingMode::EXCLUSIVE),
                None,
            )
            .result()
            .unwrap();
        let reqs = cx.device.get_buffer_memory_requirements(buffer);
        let block = alloc_block(alloc, dev, request(&reqs, mem_usage), ResourceKind::Linear);
        assert_eq!(block.offset() & (reqs.alignment - 1), 0);
        assert_ne!(reqs.memory_type_bits & (1 << block.memory_type()), 0);
        cx.device
            .bind_buffer_memory(buffer, *block.memory(), block.offset())
            .result()
            .unwrap();
        Buffer { buffer, block }
    }
}

fn destroy_buffer(
    cx: &Context,
    alloc: &mut GpuAllocator<vk::DeviceMemory>,
    dev: &Dev<'_>,
    b: Buffer,
) {
    // SAFETY: the GPU work using the buffer has completed.
    unsafe {
        cx.device.destroy_buffer(b.buffer, None);
        alloc.dealloc(dev, b.block);
    }
}

#[test]
fn buffers_and_images_round_trip_through_the_gpu() {
    let Some(cx) = Context::new("buffers_and_images_round_trip_through_the_gpu") else {
        return;
    };
    let dev = Counting::new(EruptMemoryDevice::wrap(&cx.device));
    let mut alloc = cx.allocator();
    let transfer = vk::BufferUsageFlags::TRANSFER_SRC | vk::BufferUsageFlags::TRANSFER_DST;

    // Buffer -> buffer: upload staging -> device-local -> download staging.
    let mut buffer_jobs = Vec::new();
    for (i, &size) in ROUND_TRIP_BUFFER_SIZES.iter().enumerate() {
        let data = pattern(i as u64, size as usize);
        let mut upload = create_buffer(
            &cx,
            &mut alloc,
            &dev,
            size,
            vk::BufferUsageFlags::TRANSFER_SRC,
            UsageFlags::UPLOAD | UsageFlags::TRANSIENT,
        );
        // SAFETY: the device does not use the buffer yet.
        unsafe { upload.block.write_bytes(&dev, 0, &data) }.unwrap();
        // Every other device-local buffer asks for a device address, which needs
        // the DEVICE_ADDRESS allocation flag (validation checks the binding).
        let (usage, mem_usage) = if cx.buffer_device_address && i % 2 == 0 {
            (
                transfer | vk::BufferUsageFlags::SHADER_DEVICE_ADDRESS,
                UsageFlags::FAST_DEVICE_ACCESS | UsageFlags::DEVICE_ADDRESS,
            )
        } else {
            (transfer, UsageFlags::FAST_DEVICE_ACCESS)
        };
        let device_local = create_buffer(&cx, &mut alloc, &dev, size, usage, mem_usage);
        if usage.contains(vk::BufferUsageFlags::SHADER_DEVICE_ADDRESS) {
            // SAFETY: the buffer is bound to memory allocated with DEVICE_ADDRESS.
            let address = unsafe {
                cx.device.get_buffer_device_address(
                    &vk::BufferDeviceAddressInfoBuilder::new().buffer(device_local.buffer),
                )
            };
            assert_ne!(address, 0);
        }
        let download = create_buffer(
            &cx,
            &mut alloc,
            &dev,
            size,
            vk::BufferUsageFlags::TRANSFER_DST,
            UsageFlags::DOWNLOAD,
        );
        buffer_jobs.push((data, upload, device_local, download));
    }

    // Buffer -> optimal-tiling image -> buffer.
    let format = vk::Format::R8G8B8A8_UINT;
    let mut image_jobs = Vec::new();
    for (i, &(w, h)) in ROUND_TRIP_IMAGE_EXTENTS.iter().enumerate() {
        let size = u64::from(w) * u64::from(h) * 4;
        let data = pattern(1000 + i as u64, size as usize);
        let mut upload = create_buffer(
            &cx,
            &mut alloc,
            &dev,
            size,
            vk::BufferUsageFlags::TRANSFER_SRC,
            UsageFlags::UPLOAD,
        );
        // SAFETY: the device does not use the buffer yet.
        unsafe { upload.block.write_bytes(&dev, 0, &data) }.unwrap();
        // SAFETY: the image is created from the context's device, bound once to a
        // block allocated with its real requirements, destroyed after use.
        let (image, block) = unsafe {
            let image = cx
                .device
                .create_image(
                    &vk::ImageCreateInfoBuilder::new()
                        .image_type(vk::ImageType::_2D)
                        .format(format)
                        .extent(vk::Extent3D {
                            width: w,
                            height: h,
                            depth: 1,
                        })
                        .mip_levels(1)
                        .array_layers(1)
                        .samples(vk::SampleCountFlagBits::_1)
                        .tiling(vk::ImageTiling::OPTIMAL)
                        .usage(
                            vk::ImageUsageFlags::TRANSFER_SRC | vk::ImageUsageFlags::TRANSFER_DST,
                        )
                        .sharing_mode(vk::SharingMode::EXCLUSIVE)
                        .initial_layout(vk::ImageLayout::UNDEFINED),
                    None,
                )
                .result()
                .unwrap();
            let reqs = cx.device.get_image_memory_requirements(image);
            let request = request(&reqs, UsageFlags::FAST_DEVICE_ACCESS);
            let block = alloc_block(&mut alloc, &dev, request, ResourceKind::Optimal);
            assert_eq!(block.offset() & (reqs.alignment - 1), 0);
            cx.device
                .bind_image_memory(image, *block.memory(), block.offset())
                .result()
                .unwrap();
            (image, block)
        };
        let download = create_buffer(
            &cx,
            &mut alloc,
            &dev,
            size,
            vk::BufferUsageFlags::TRANSFER_DST,
            UsageFlags::DOWNLOAD,
        );
        image_jobs.push((data, upload, (image, block, w, h), download));
    }
    alloc.check_invariants();
    // Buffers and optimal-tiling images never share a granularity page.
    let buffers = buffer_jobs
        .iter()
        .flat_map(|(_, u, l, d)| [&u.block, &l.block, &d.block])
        .chain(
            image_jobs
                .iter()
                .flat_map(|(_, u, _, d)| [&u.block, &d.block]),
        )
        .map(|block| (block, ResourceKind::Linear));
    let images = image_jobs
        .iter()
        .map(|(_, _, (_, block, ..), _)| (block, ResourceKind::Optimal));
    assert_blocks_apart(alloc.buffer_image_granularity(), buffers.chain(images));

    let d = &cx.device;
    let color = vk::ImageSubresourceRangeBuilder::new()
        .aspect_mask(vk::ImageAspectFlags::COLOR)
        .level_count(1)
        .layer_count(1)
        .build();
    let layers = vk::ImageSubresourceLayersBuilder::new()
        .aspect_mask(vk::ImageAspectFlags::COLOR)
        .layer_count(1)
        .build();
    let transition = |image, from, to, src_access, dst_access| {
        vk::ImageMemoryBarrierBuilder::new()
            .image(image)
            .old_layout(from)
            .new_layout(to)
            .src_access_mask(src_access)
            .dst_access_mask(dst_access)
            .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .subresource_range(color)
    };
    cx.submit(|cb| {
        // SAFETY: every resource is live and bound; the barriers order the copies.
        unsafe {
            let to_dst: Vec<_> = image_jobs
                .iter()
                .map(|(_, _, (image, ..), _)| {
                    transition(
                        *image,
                        vk::ImageLayout::UNDEFINED,
                        vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                        vk::AccessFlags::empty(),
                        vk::AccessFlags::TRANSFER_WRITE,
                    )
                })
                .collect();
            d.cmd_pipeline_barrier(
                cb,
                vk::PipelineStageFlags::TOP_OF_PIPE,
                vk::PipelineStageFlags::TRANSFER,
                vk::DependencyFlags::empty(),
                &[],
                &[],
                &to_dst,
            );
            for (data, upload, device_local, _) in &buffer_jobs {
                let region = [vk::BufferCopyBuilder::new().size(data.len() as u64)];
                d.cmd_copy_buffer(cb, upload.buffer, device_local.buffer, &region);
            }
            for (_, upload, (image, _, w, h), _) in &image_jobs {
                let region = [vk::BufferImageCopyBuilder::new()
                    .image_subresource(layers)
                    .image_extent(vk::Extent3D {
                        width: *w,
                        height: *h,
                        depth: 1,
                    })];
                d.cmd_copy_buffer_to_image(
                    cb,
                    upload.buffer,
                    *image,
                    vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                    &region,
                );
            }
            let to_src: Vec<_> = image_jobs
                .iter()
                .map(|(_, _, (image, ..), _)| {
                    transition(
                        *image,
                        vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                        vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                        vk::AccessFlags::TRANSFER_WRITE,
                        vk::AccessFlags::TRANSFER_READ,
                    )
                })
                .collect();
            let written = [vk::MemoryBarrierBuilder::new()
                .src_access_mask(vk::AccessFlags::TRANSFER_WRITE)
                .dst_access_mask(vk::AccessFlags::TRANSFER_READ)];
            d.cmd_pipeline_barrier(
                cb,
                vk::PipelineStageFlags::TRANSFER,
                vk::PipelineStageFlags::TRANSFER,
                vk::DependencyFlags::empty(),
                &written,
                &[],
                &to_src,
            );
            for (data, _, device_local, download) in &buffer_jobs {
                let region = [vk::BufferCopyBuilder::new().size(data.len() as u64)];
                d.cmd_copy_buffer(cb, device_local.buffer, download.buffer, &region);
            }
            for (_, _, (image, _, w, h), download) in &image_jobs {
                let region = [vk::BufferImageCopyBuilder::new()
                    .image_subresource(layers)
                    .image_extent(vk::Extent3D {
                        width: *w,
                        height: *h,
                        depth: 1,
                    })];
                d.cmd_copy_image_to_buffer(
                    cb,
                    *image,
                    vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                    download.buffer,
                    &region,
                );
            }
            transfer_to_host_barrier(d, cb);
        }
    });

    for (data, upload, device_local, mut download) in buffer_jobs {
        let what = format!("buffer of {} bytes", data.len());
        // SAFETY: the GPU work completed.
        unsafe { assert_reads_back(&dev, &mut download.block, &data, &what) };
        for b in [upload, device_local, download] {
            destroy_buffer(&cx, &mut alloc, &dev, b);
        }
    }
    for (data, upload, (image, block, w, h), mut download) in image_jobs {
        let what = format!("image {w}x{h}");
        // SAFETY: the GPU work completed.
        unsafe { assert_reads_back(&dev, &mut download.block, &data, &what) };
        // SAFETY: the GPU work completed.
        unsafe {
            cx.device.destroy_image(image, None);
            alloc.dealloc(&dev, block);
        }
        destroy_buffer(&cx, &mut alloc, &dev, upload);
        destroy_buffer(&cx, &mut alloc, &dev, download);
    }
    // SAFETY: a fresh allocator for this device, counted from the start; every
    // block is freed.
    unsafe { cleanup_and_check(&mut alloc, &dev) };
    cx.assert_no_messages();
}

/// Maps a memory object through the backend, writes, flushes, lets the GPU
/// copy, invalidates and reads back, with ranges aligned to
/// `nonCoherentAtomSize` the way non-coherent memory needs them.
#[test]
fn flush_and_invalidate_through_the_backend() {
    let Some(cx) = Context::new("flush_and_invalidate_through_the_backend") else {
        return;
    };
    let props = cx.properties();
    let device = EruptMemoryDevice::wrap(&cx.device);
    let atom = props.non_coherent_atom_size.max(1);
    let size = 64 * atom.max(64);
    // SAFETY: created from the context's device; destroyed at the end.
    let (src, dst) = unsafe {
        let info = vk::BufferCreateInfoBuilder::new()
            .size(size)
            .usage(vk::BufferUsageFlags::TRANSFER_SRC | vk::BufferUsageFlags::TRANSFER_DST)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        (
            cx.device.create_buffer(&info, None).result().unwrap(),
            cx.device.create_buffer(&info, None).result().unwrap(),
        )
    };
    // SAFETY: a live buffer of this device.
    let reqs = unsafe { cx.device.get_buffer_memory_requirements(src) };
    let host_type = host_visible_type(&props.extended.memory_types, reqs.memory_type_bits)
        .expect("a host-visible memory type");
    let object_size = reqs.size.max(size);
    // SAFETY: a valid type, a size within limits, no flags; each object is freed
    // below after the GPU work completed.
    let (mut src_mem, mut dst_mem) = unsafe {
        (
            device
                .allocate_memory(object_size, host_type, AllocationFlags::empty())
                .unwrap(),
            device
                .allocate_memory(object_size, host_type, AllocationFlags::empty())
                .unwrap(),
        )
    };
    // SAFETY: both objects are live, host-visible, unmapped and of a type the
    // buffers accept; the copy is waited for, and the buffers are destroyed
    // before their memory is freed.
    unsafe {
        cx.device
            .bind_buffer_memory(src, src_mem, 0)
            .result()
            .unwrap();
        cx.device
            .bind_buffer_memory(dst, dst_mem, 0)
            .result()
            .unwrap();
        let sizes = (object_size, size, atom);
        copy_between_mapped(device, &mut src_mem, &mut dst_mem, sizes, || {
            cx.submit(|cb| {
                let region = [vk::BufferCopyBuilder::new().size(size)];
                cx.device.cmd_copy_buffer(cb, src, dst, &region);
                transfer_to_host_barrier(&cx.device, cb);
            })
        });
        cx.device.destroy_buffer(src, None);
        cx.device.destroy_buffer(dst, None);
        device.deallocate_memory(src_mem);
        device.deallocate_memory(dst_mem);
    }
    cx.assert_no_messages();
}

/// Thousands of allocations of many sizes and usages, freed in a scrambled
/// order; afterwards no memory object is left on the device.
#[test]
fn churn_then_cleanup_leaves_no_memory_object() {
    let Some(cx) = Context::new("churn_then_cleanup_leaves_no_memory_object") else {
        return;
    };
    let dev = Counting::new(EruptMemoryDevice::wrap(&cx.device));
    let mut alloc = cx.allocator();
    // SAFETY: a fresh allocator for this device, counted from the start.
    let stats = unsafe { churn_synthetic(&mut alloc, &dev) };
    eprintln!(
        "churn: {} blocks from {} device allocations, at most {} memory objects live \
         at once, {} tags checked",
        stats.blocks_allocated,
        dev.allocations.get(),
        stats.peak_objects,
        stats.tags_checked
    );
    cx.assert_no_messages();
}

/// The queried properties match the device, and the budget is readable exactly
/// when `VK_EXT_memory_budget` is there.
#[test]
fn properties_and_budget() {
    let Some(cx) = Context::new("properties_and_budget") else {
        return;
    };
    let props = cx.properties();
    // SAFETY: plain queries of a live physical device.
    let (raw, limits) = unsafe {
        (
            cx.vi
                .instance
                .get_physical_device_memory_properties(cx.physical_device),
            cx.vi
                .instance
                .get_physical_device_properties(cx.physical_device)
                .limits,
        )
    };
    let ext = &props.extended;
    assert_eq!(ext.memory_types.len(), raw.memory_type_count as usize);
    assert_eq!(ext.memory_heaps.len(), raw.memory_heap_count as usize);
    for (ours, theirs) in ext.memory_types.iter().zip(raw.memory_types.iter()) {
        assert_eq!(ours.raw_flags, theirs.property_flags.bits());
        assert_eq!(ours.heap, theirs.heap_index);
    }
    for (ours, theirs) in ext.memory_heaps.iter().zip(raw.memory_heaps.iter()) {
        assert_eq!(ours.size, theirs.size);
        assert_eq!(ours.flags.bits(), theirs.flags.bits());
    }
    assert_eq!(
        ext.buffer_image_granularity,
        limits.buffer_image_granularity
    );
    assert_eq!(props.non_coherent_atom_size, limits.non_coherent_atom_size);
    assert_eq!(
        props.max_memory_allocation_count,
        limits.max_memory_allocation_count
    );
    // The instance is Vulkan 1.2, so maintenance3 is always readable.
    assert!(props.max_memory_allocation_size_reported);
    assert!(props.max_memory_allocation_size > 0);
    assert_ne!(props.max_memory_allocation_size, u64::MAX);
    assert_eq!(
        props.buffer_device_address_supported,
        cx.buffer_device_address
    );
    assert_eq!(
        props.enabled.buffer_device_address,
        cx.buffer_device_address
    );
    let device_props = props.device_properties();
    assert_eq!(device_props.buffer_device_address, cx.buffer_device_address);
    assert_eq!(device_props.memory_types.len(), ext.memory_types.len());
    // Claimed enabled where the device does not support it: never passed on.
    if !props.buffer_device_address_supported {
        let mut claimed = props.clone();
        claimed.enabled = EnabledFeatures::new().with_buffer_device_address(true);
        assert!(!claimed.device_properties().buffer_device_address);
    }
    #[allow(deprecated)] // gpu-alloc-erupt 0.9's function, kept and deprecated.
    // SAFETY: the physical device belongs to the instance.
    let plain =
        unsafe { gpu_alloc_erupt::device_properties(&cx.vi.instance, cx.physical_device) }.unwrap();
    assert!(!plain.buffer_device_address, "supported is not enabled");
    // SAFETY: as above; the device has bufferDeviceAddress iff the context says so.
    let enabled = unsafe {
        device_properties_enabled(
            &cx.vi.instance,
            cx.physical_device,
            EnabledFeatures::new().with_buffer_device_address(cx.buffer_device_address),
        )
    }
    .unwrap();
    assert_eq!(enabled.buffer_device_address, cx.buffer_device_address);
    assert_eq!(
        props.device_api_version,
        // SAFETY: as above.
        unsafe {
            cx.vi
                .instance
                .get_physical_device_properties(cx.physical_device)
        }
        .api_version
    );
    eprintln!(
        "properties: {} types, {} heaps, max size {:#x}, atom {}, granularity {}, bda {}, budget {}",
        ext.memory_types.len(),
        ext.memory_heaps.len(),
        props.max_memory_allocation_size,
        props.non_coherent_atom_size,
        ext.buffer_image_granularity,
        props.buffer_device_address_supported,
        props.memory_budget_supported
    );

    assert_eq!(props.memory_budget_supported, cx.memory_budget_enabled);
    assert_eq!(props.memory_budget.is_some(), cx.memory_budget_enabled);
    // SAFETY: the device was created from this physical device of this instance.
    let budget_device =
        unsafe { EruptBudgetDevice::new(&cx.vi.instance, cx.physical_device, &cx.device) }.unwrap();
    assert_eq!(budget_device.budget_supported(), cx.memory_budget_enabled);
    let mut budgets = vec![HeapBudget::default(); ext.memory_heaps.len()];
    assert!(!EruptMemoryDevice::wrap(&cx.device).memory_budget(&mut budgets));
    let mut alloc = cx.allocator();
    if cx.memory_budget_enabled {
        assert!(budget_device.memory_budget(&mut budgets));
        for (heap, b) in ext.memory_heaps.iter().zip(&budgets) {
            assert!(b.budget > 0 && b.budget <= heap.size, "{b:?} of {heap:?}");
        }
        let listed = budget_device.heap_budgets().expect("budgets");
        assert_eq!(listed.len(), ext.memory_heaps.len());
        assert!(listed.iter().all(|b| b.budget > 0));
        let at_query = props.memory_budget.as_ref().expect("budgets at the query");
        assert_eq!(at_query.len(), ext.memory_heaps.len());
        assert!(at_query.iter().all(|b| b.budget > 0));
        assert!(alloc.update_budget(&budget_device));
        eprintln!("budgets: {budgets:?}");
    } else {
        let untouched = [HeapBudget {
            budget: 7,
            usage: 7,
        }; 2];
        let mut budgets = untouched;
        assert!(!budget_device.memory_budget(&mut budgets));
        assert_eq!(budgets, untouched);
        assert!(budget_device.heap_budgets().is_none());
        assert!(!alloc.update_budget(&budget_device));
        eprintln!("VK_EXT_memory_budget is not supported here: no budget to read");
    }
    // The budget device allocates and frees like the plain one.
    let host_type = host_visible_type(&ext.memory_types, !0).expect("a host-visible memory type");
    // SAFETY: a valid type index, a small non-zero size, no flags; freed once.
    unsafe {
        let memory = budget_device
            .allocate_memory(256, host_type, AllocationFlags::empty())
            .unwrap();
        EruptMemoryDevice::wrap(&cx.device).deallocate_memory(memory);
    }
    cx.assert_no_messages();
}

/// The capture itself works: two flushes that break valid-usage rules (of an
/// unmapped memory object, and at an offset that is not a multiple of
/// `nonCoherentAtomSize`), made through the backend, are each reported.
#[test]
fn a_validation_error_is_caught() {
    let Some(cx) = Context::new("a_validation_error_is_caught") else {
        return;
    };
    let props = cx.properties();
    let device = EruptMemoryDevice::wrap(&cx.device);
    let host_type =
        host_visible_type(&props.extended.memory_types, !0).expect("a host-visible memory type");
    // SAFETY: a host-visible type of this device and its atom size; the drivers
    // this runs on (lavapipe) ignore flushes of coherent memory.
    let provoked =
        unsafe { provoke_validation_errors(device, host_type, props.non_coherent_atom_size) };
    cx.vi.messages.assert_caught(&provoked);
    cx.assert_no_messages();
}

/// On an instance that can call neither `vkGetPhysicalDeviceProperties2` nor its
/// KHR alias (Vulkan 1.0, no extension), maintenance3 is out of reach: the size
/// limit falls back to the largest heap, and no budget can be read.
#[test]
fn vulkan_1_0_instance_falls_back_to_the_largest_heap() {
    let test = "vulkan_1_0_instance_falls_back_to_the_largest_heap";
    let vi = match ValidatedInstance::new(vk::API_VERSION_1_0, test) {
        Ok(vi) => vi,
        Err(why) => {
            no_vulkan(test, &why);
            return;
        }
    };
    assert!(vi.instance.get_physical_device_properties2.is_none());
    assert!(vi.instance.get_physical_device_properties2_khr.is_none());
    // SAFETY: a plain query of a live instance.
    let physical_devices = unsafe { vi.instance.enumerate_physical_devices(None) }
        .result()
        .unwrap();
    for &pd in physical_devices.iter() {
        // SAFETY: `pd` was enumerated from the instance.
        let props = unsafe { extended_device_properties(&vi.instance, pd, EnabledFeatures::new()) }
            .unwrap();
        let largest_heap = props.extended.memory_heaps.iter().map(|h| h.size).max();
        assert!(!props.max_memory_allocation_size_reported);
        assert_eq!(Some(props.max_memory_allocation_size), largest_heap);
        assert!(!props.memory_budget_supported);
        assert!(props.memory_budget.is_none());
        assert!(!props.buffer_device_address_supported);
    }
    vi.assert_no_messages(Evidence::Instance);
}

/// With the `tracing` feature, every call of the memory device logs an event
/// (`cargo test -p gpu-alloc-erupt --features tracing`).
#[cfg(feature = "tracing")]
#[test]
fn tracing_logs_device_calls() {
    let Some(cx) = Context::new("tracing_logs_device_calls") else {
        return;
    };
    let props = cx.properties();
    let host_type =
        host_visible_type(&props.extended.memory_types, !0).expect("a host-visible memory type");
    trace::device_calls_are_logged(EruptMemoryDevice::wrap(&cx.device), host_type);
    cx.assert_no_messages();
}
