//! gpu-alloc-gfx on a real Vulkan driver (lavapipe in CI) through
//! gfx-backend-vulkan 0.9, with the Khronos validation layer on: every
//! validation message fails the test.
//!
//! How validation is observed: gfx-backend-vulkan enables
//! `VK_LAYER_KHRONOS_validation` in debug builds (release builds here set
//! `VK_INSTANCE_LAYERS` instead) and installs a `VK_EXT_debug_utils` messenger
//! for every severity and type, which forwards each message to the `log` crate.
//! These tests install a `log` logger that turns those records back into
//! messages and keeps every one, from the context's creation to its drop, in a
//! `MessageLog`; what the messages mean is decided once for the three backend
//! suites, in `gpu_alloc_tests::backend_support::validation`. Every test checks
//! the log after dropping its context.
//!
//! The messenger is created right after `vkCreateInstance` and destroyed right
//! before `vkDestroyInstance`, so messages about instance creation and
//! destruction themselves are out of reach, the layer's status message among
//! them. The layer's announcement these tests require is therefore the
//! loader's note, sent at `vkCreateDevice`, that it inserted the layer into the
//! device's call chain. `a_validation_error_is_caught` provokes known errors to
//! prove the path works.
//!
//! Without a Vulkan driver or the validation layer, the tests print
//! `skipped: no Vulkan driver` and pass, unless `GPU_ALLOC_REQUIRE_VULKAN=1`.

/// The `tracing` check shared by the three backend suites.
#[cfg(feature = "tracing")]
#[path = "../../ash/tests/support/trace.rs"]
mod trace;

use {
    back::Backend as Vulkan,
    gfx_backend_vulkan as back,
    gpu_alloc::{Config, GpuAllocator, MemoryBlock, Request, ResourceKind, UsageFlags},
    gpu_alloc_gfx::{device_properties, extended_device_properties, GfxMemoryDevice},
    gpu_alloc_tests::{
        backend_support::{
            alloc_block, assert_blocks_apart, assert_reads_back, churn_synthetic,
            cleanup_and_check, copy_between_mapped, host_visible_type, pattern,
            validation::{provoke_validation_errors, DebugMessage, Evidence, MessageLog, Severity},
            Counting, ROUND_TRIP_BUFFER_SIZES, ROUND_TRIP_IMAGE_EXTENTS,
        },
        vulkan_gate::no_vulkan,
    },
    gpu_alloc_types::{AllocationFlags, HeapBudget, MemoryDevice, OutOfMemory},
    hal::{
        adapter::Adapter,
        buffer, command, format, image,
        memory::{Barrier, Dependencies, Requirements, SparseFlags},
        pool::CommandPoolCreateFlags,
        prelude::*,
        pso::PipelineStage,
        queue::QueueGroup,
    },
    std::{
        cell::RefCell,
        iter,
        sync::{Mutex, MutexGuard, OnceLock},
    },
};

type Memory = <Vulkan as hal::Backend>::Memory;
type VkDevice = <Vulkan as hal::Backend>::Device;

/// Keeps the records of gfx-backend-vulkan's debug messenger (and its own
/// log records) as messages.
struct Capture {
    log: MessageLog,
}

/// Id given to gfx-backend-vulkan's own log records.
const GFX_OWN_RECORD: &str = "gfx-backend-vulkan";

/// A record of gfx-backend-vulkan as a message. Its messenger logs
/// `"\n{types} [{id} (0x{number:x})] : {message}"` (then the labels and objects
/// of the message, one per line) at the level of the message's severity
/// (verbose as `Trace`). Any other record is gfx-backend-vulkan's own: its
/// errors and warnings count as such; the rest (`info`: an optional extension
/// it did not find; `debug`: the extensions it found) are its own progress
/// notes, kept as verbose.
fn to_message(level: log::Level, text: &str) -> DebugMessage {
    let parsed = text
        .trim_start()
        .split_once(" [")
        .and_then(|(types, rest)| {
            let (id_and_number, message) = rest.split_once("] : ")?;
            let (id, _number) = id_and_number.rsplit_once(" (0x")?;
            let types_ok = types
                .split(" | ")
                .all(|t| ["GENERAL", "VALIDATION", "PERFORMANCE"].contains(&t));
            types_ok.then_some((types, id, message))
        });
    match parsed {
        Some((types, id, message)) => DebugMessage {
            severity: match level {
                log::Level::Error => Severity::Error,
                log::Level::Warn => Severity::Warning,
                log::Level::Info => Severity::Info,
                log::Level::Debug | log::Level::Trace => Severity::Verbose,
            },
            types: types.to_owned(),
            id: id.to_owned(),
            text: message.trim_end().to_owned(),
        },
        None => DebugMessage {
            severity: match level {
                log::Level::Error => Severity::Error,
                log::Level::Warn => Severity::Warning,
                _ => Severity::Verbose,
            },
            types: format!("log {level}"),
            id: GFX_OWN_RECORD.to_owned(),
            text: text.trim().to_owned(),
        },
    }
}

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with("gfx_backend_vulkan")
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let text = record.args().to_string();
            if std::env::var_os("GPU_ALLOC_SHOW_LOG").is_some() {
                eprintln!("log [{}] {}", record.level(), text.trim());
            }
            self.log.record(to_message(record.level(), &text));
        }
    }

    fn flush(&self) {}
}

/// The messages of the current test (the tests take turns: [`serial`]).
fn capture() -> &'static MessageLog {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    &CAPTURE
        .get_or_init(|| {
            let capture: &'static Capture = Box::leak(Box::new(Capture {
                log: MessageLog::default(),
            }));
            log::set_logger(capture).expect("no other logger in this test binary");
            log::set_max_level(log::LevelFilter::Trace);
            capture
        })
        .log
}

/// The log records are global, so the tests take turns.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Fails the test unless the loader inserted the layer into the device's call
/// chain and nothing failing was recorded since the context was created. Call
/// after dropping the context.
fn assert_no_messages(test: &str) {
    capture().assert_clean(Evidence::Device, test);
}

/// Instance, adapter, device and a transfer queue.
struct Context {
    // Field order is drop order: device and queues before the instance.
    queue_group: RefCell<QueueGroup<Vulkan>>,
    device: VkDevice,
    adapter: Adapter<Vulkan>,
    _instance: back::Instance,
}

impl Context {
    /// Creates the context; every message from here on is kept for the test
    /// (those left by an earlier test that failed are dropped).
    fn new(test: &str) -> Option<Context> {
        capture().clear();
        if !cfg!(debug_assertions) && std::env::var_os("VK_INSTANCE_LAYERS").is_none() {
            // gfx-backend-vulkan enables the layer in debug builds only.
            std::env::set_var("VK_INSTANCE_LAYERS", "VK_LAYER_KHRONOS_validation");
        }
        let instance = match back::Instance::create("gpu-alloc-gfx lavapipe test", 1) {
            Ok(instance) => instance,
            Err(e) => {
                no_vulkan(test, &format!("gfx-backend-vulkan: {e:?}"));
                return None;
            }
        };
        let missing_layer = capture()
            .messages()
            .iter()
            .any(|m| m.id == GFX_OWN_RECORD && m.text.contains("Unable to find layer"));
        if missing_layer {
            no_vulkan(test, &"VK_LAYER_KHRONOS_validation is not installed");
            return None;
        }
        let Some((adapter, family)) = instance.enumerate_adapters().into_iter().find_map(|a| {
            let family = a
                .queue_families
                .iter()
                .position(|f| f.queue_type().supports_transfer())?;
            Some((a, family))
        }) else {
            no_vulkan(test, &"no adapter with a transfer queue");
            return None;
        };
        // SAFETY: the family belongs to the adapter; one queue is asked for.
        let gpu = unsafe {
            adapter.physical_device.open(
                &[(&adapter.queue_families[family], &[1.0])],
                hal::Features::empty(),
            )
        };
        let mut gpu = match gpu {
            Ok(gpu) => gpu,
            Err(e) => {
                no_vulkan(test, &format!("opening the device: {e:?}"));
                return None;
            }
        };
        Some(Context {
            queue_group: RefCell::new(gpu.queue_groups.pop().expect("one queue group")),
            device: gpu.device,
            adapter,
            _instance: instance,
        })
    }

    fn allocator(&self) -> GpuAllocator<Memory> {
        let props = extended_device_properties(&self.adapter);
        GpuAllocator::with_extended_properties(
            Config::i_am_prototyping(),
            props.device_properties(),
            props.extended.clone(),
        )
    }

    /// Records commands into a fresh command buffer, submits them and waits.
    fn submit(&self, record: impl FnOnce(&mut <Vulkan as hal::Backend>::CommandBuffer)) {
        let d = &self.device;
        let mut queue_group = self.queue_group.borrow_mut();
        // SAFETY: every object is created from this device, used by this one
        // submission, waited for, then destroyed.
        unsafe {
            let mut pool = d
                .create_command_pool(queue_group.family, CommandPoolCreateFlags::empty())
                .unwrap();
            let mut cmd = pool.allocate_one(command::Level::Primary);
            cmd.begin_primary(command::CommandBufferFlags::ONE_TIME_SUBMIT);
            record(&mut cmd);
            cmd.finish();
            let mut fence = d.create_fence(false).unwrap();
            queue_group.queues[0].submit(
                iter::once(&cmd),
                iter::empty(),
                iter::empty(),
                Some(&mut fence),
            );
            assert!(d.wait_for_fence(&fence, u64::MAX).unwrap());
            d.destroy_fence(fence);
            pool.free(iter::once(cmd));
            d.destroy_command_pool(pool);
        }
    }
}

/// `Request` for a resource's real memory requirements, through the backend's
/// one call.
fn request(reqs: &Requirements, usage: UsageFlags) -> Request {
    gpu_alloc_gfx::request_from_requirements(reqs, usage)
}

/// The device the tests allocate through.
type Dev<'a> = Counting<'a, GfxMemoryDevice<Vulkan>>;

/// Records a barrier that makes transfer writes to buffers visible to host
/// reads.
///
/// # Safety
///
/// - `cmd` is recording.
unsafe fn transfer_to_host_barrier(cmd: &mut <Vulkan as hal::Backend>::CommandBuffer) {
    // SAFETY: the caller's contract; the barrier names no resource.
    unsafe {
        cmd.pipeline_barrier(
            PipelineStage::TRANSFER..PipelineStage::HOST,
            Dependencies::empty(),
            iter::once(Barrier::AllBuffers(
                buffer::Access::TRANSFER_WRITE..buffer::Access::HOST_READ,
            )),
        )
    }
}

/// A buffer bound to a block of the allocator.
struct Buffer {
    buffer: <Vulkan as hal::Backend>::Buffer,
    block: MemoryBlock<Memory>,
}

fn create_buffer(
    device: &VkDevice,
    alloc: &mut GpuAllocator<Memory>,
    dev: &Dev<'_>,
    size: u64,
    usage: buffer::Usage,
    mem_usage: UsageFlags,
) -> Buffer {
    // SAFETY: the buffer is created from the device, bound once to a block
    // allocated with its real requirements, and destroyed by `destroy_buffer`
    // before the block is freed.
    unsafe {
        let mut buffer = device
            .create_buffer(size, usage, SparseFlags::empty())
            .unwrap();
        let reqs = device.get_buffer_requirements(&buffer);
        let block = alloc_block(alloc, dev, request(&reqs, mem_usage), ResourceKind::Linear);
        assert_eq!(block.offset() & (reqs.alignment - 1), 0);
        assert_ne!(reqs.type_mask & (1 << block.memory_type()), 0);
        device
            .bind_buffer_memory(block.memory(), block.offset(), &mut buffer)
            .unwrap();
        Buffer { buffer, block }
    }
}

fn destroy_buffer(device: &VkDevice, alloc: &mut GpuAllocator<Memory>, dev: &Dev<'_>, b: Buffer) {
    // SAFETY: the GPU work using the buffer has completed.
    unsafe {
        device.destroy_buffer(b.buffer);
        alloc.dealloc(dev, b.block);
    }
}

fn color_range() -> image::SubresourceRange {
    image::SubresourceRange {
        aspects: format::Aspects::COLOR,
        level_start: 0,
        level_count: Some(1),
        layer_start: 0,
        layer_count: Some(1),
    }
}

fn region(w: u32, h: u32) -> command::BufferImageCopy {
    command::BufferImageCopy {
        buffer_offset: 0,
        buffer_width: w,
        buffer_height: h,
        image_layers: image::SubresourceLayers {
            aspects: format::Aspects::COLOR,
            level: 0,
            layers: 0..1,
        },
        image_offset: image::Offset::ZERO,
        image_extent: image::Extent {
            width: w,
            height: h,
            depth: 1,
        },
    }
}

#[test]
fn buffers_and_images_round_trip_through_the_gpu() {
    let _turn = serial();
    let Some(cx) = Context::new("buffers_and_images_round_trip_through_the_gpu") else {
        return;
    };
    let device: &VkDevice = &cx.device;
    let dev = Counting::new(GfxMemoryDevice::<Vulkan>::wrap(device));
    let mut alloc = cx.allocator();
    let transfer = buffer::Usage::TRANSFER_SRC | buffer::Usage::TRANSFER_DST;

    let mut buffer_jobs = Vec::new();
    for (i, &size) in ROUND_TRIP_BUFFER_SIZES.iter().enumerate() {
        let data = pattern(i as u64, size as usize);
        let mut upload = create_buffer(
            device,
            &mut alloc,
            &dev,
            size,
            buffer::Usage::TRANSFER_SRC,
            UsageFlags::UPLOAD | UsageFlags::TRANSIENT,
        );
        // SAFETY: the device does not use the buffer yet.
        unsafe { upload.block.write_bytes(&dev, 0, &data) }.unwrap();
        let device_local = create_buffer(
            device,
            &mut alloc,
            &dev,
            size,
            transfer,
            UsageFlags::FAST_DEVICE_ACCESS,
        );
        let download = create_buffer(
            device,
            &mut alloc,
            &dev,
            size,
            buffer::Usage::TRANSFER_DST,
            UsageFlags::DOWNLOAD,
        );
        buffer_jobs.push((data, upload, device_local, download));
    }

    let mut image_jobs = Vec::new();
    for (i, &(w, h)) in ROUND_TRIP_IMAGE_EXTENTS.iter().enumerate() {
        let size = u64::from(w) * u64::from(h) * 4;
        let data = pattern(1000 + i as u64, size as usize);
        let mut upload = create_buffer(
            device,
            &mut alloc,
            &dev,
            size,
            buffer::Usage::TRANSFER_SRC,
            UsageFlags::UPLOAD,
        );
        // SAFETY: the device does not use the buffer yet.
        unsafe { upload.block.write_bytes(&dev, 0, &data) }.unwrap();
        // SAFETY: the image is created from the device, bound once to a block
        // allocated with its real requirements, and destroyed after use.
        let (image, block) = unsafe {
            let mut image = device
                .create_image(
                    image::Kind::D2(w, h, 1, 1),
                    1,
                    format::Format::Rgba8Uint,
                    image::Tiling::Optimal,
                    image::Usage::TRANSFER_SRC | image::Usage::TRANSFER_DST,
                    SparseFlags::empty(),
                    image::ViewCapabilities::empty(),
                )
                .unwrap();
            let reqs = device.get_image_requirements(&image);
            let request = request(&reqs, UsageFlags::FAST_DEVICE_ACCESS);
            let block = alloc_block(&mut alloc, &dev, request, ResourceKind::Optimal);
            assert_eq!(block.offset() & (reqs.alignment - 1), 0);
            device
                .bind_image_memory(block.memory(), block.offset(), &mut image)
                .unwrap();
            (image, block)
        };
        let download = create_buffer(
            device,
            &mut alloc,
            &dev,
            size,
            buffer::Usage::TRANSFER_DST,
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

    cx.submit(|cmd| {
        // SAFETY: every resource is live and bound; the barriers order the copies.
        unsafe {
            cmd.pipeline_barrier(
                PipelineStage::TOP_OF_PIPE..PipelineStage::TRANSFER,
                Dependencies::empty(),
                image_jobs
                    .iter()
                    .map(|(_, _, (image, ..), _)| Barrier::Image {
                        states: (image::Access::empty(), image::Layout::Undefined)
                            ..(
                                image::Access::TRANSFER_WRITE,
                                image::Layout::TransferDstOptimal,
                            ),
                        target: image,
                        range: color_range(),
                        families: None,
                    }),
            );
            for (data, upload, device_local, _) in &buffer_jobs {
                cmd.copy_buffer(
                    &upload.buffer,
                    &device_local.buffer,
                    iter::once(command::BufferCopy {
                        src: 0,
                        dst: 0,
                        size: data.len() as u64,
                    }),
                );
            }
            for (_, upload, (image, _, w, h), _) in &image_jobs {
                cmd.copy_buffer_to_image(
                    &upload.buffer,
                    image,
                    image::Layout::TransferDstOptimal,
                    iter::once(region(*w, *h)),
                );
            }
            cmd.pipeline_barrier(
                PipelineStage::TRANSFER..PipelineStage::TRANSFER,
                Dependencies::empty(),
                iter::once(Barrier::AllBuffers(
                    buffer::Access::TRANSFER_WRITE..buffer::Access::TRANSFER_READ,
                ))
                .chain(image_jobs.iter().map(|(_, _, (image, ..), _)| {
                    Barrier::Image {
                        states: (
                            image::Access::TRANSFER_WRITE,
                            image::Layout::TransferDstOptimal,
                        )
                            ..(
                                image::Access::TRANSFER_READ,
                                image::Layout::TransferSrcOptimal,
                            ),
                        target: image,
                        range: color_range(),
                        families: None,
                    }
                })),
            );
            for (data, _, device_local, download) in &buffer_jobs {
                cmd.copy_buffer(
                    &device_local.buffer,
                    &download.buffer,
                    iter::once(command::BufferCopy {
                        src: 0,
                        dst: 0,
                        size: data.len() as u64,
                    }),
                );
            }
            for (_, _, (image, _, w, h), download) in &image_jobs {
                cmd.copy_image_to_buffer(
                    image,
                    image::Layout::TransferSrcOptimal,
                    &download.buffer,
                    iter::once(region(*w, *h)),
                );
            }
            transfer_to_host_barrier(cmd);
        }
    });

    for (data, upload, device_local, mut download) in buffer_jobs {
        let what = format!("buffer of {} bytes", data.len());
        // SAFETY: the GPU work completed.
        unsafe { assert_reads_back(&dev, &mut download.block, &data, &what) };
        for b in [upload, device_local, download] {
            destroy_buffer(device, &mut alloc, &dev, b);
        }
    }
    for (data, upload, (image, block, w, h), mut download) in image_jobs {
        let what = format!("image {w}x{h}");
        // SAFETY: the GPU work completed.
        unsafe { assert_reads_back(&dev, &mut download.block, &data, &what) };
        // SAFETY: the GPU work completed.
        unsafe {
            device.destroy_image(image);
            alloc.dealloc(&dev, block);
        }
        destroy_buffer(device, &mut alloc, &dev, upload);
        destroy_buffer(device, &mut alloc, &dev, download);
    }
    // SAFETY: a fresh allocator for this device, counted from the start; every
    // block is freed.
    unsafe { cleanup_and_check(&mut alloc, &dev) };
    drop(cx);
    assert_no_messages("buffers_and_images_round_trip_through_the_gpu");
}

/// Maps memory objects through the backend, writes, flushes, lets the GPU copy,
/// invalidates and reads back, with ranges aligned to `nonCoherentAtomSize` the
/// way non-coherent memory needs them.
#[test]
fn flush_and_invalidate_through_the_backend() {
    let _turn = serial();
    let Some(cx) = Context::new("flush_and_invalidate_through_the_backend") else {
        return;
    };
    let props = extended_device_properties(&cx.adapter);
    let device = GfxMemoryDevice::wrap(&cx.device);
    let d = &cx.device;
    let atom = props.non_coherent_atom_size;
    let size = 64 * atom.max(64);
    let usage = buffer::Usage::TRANSFER_SRC | buffer::Usage::TRANSFER_DST;
    // SAFETY: created from the device; destroyed at the end.
    let (mut src, mut dst) = unsafe {
        (
            d.create_buffer(size, usage, SparseFlags::empty()).unwrap(),
            d.create_buffer(size, usage, SparseFlags::empty()).unwrap(),
        )
    };
    // SAFETY: a live buffer of this device.
    let reqs = unsafe { d.get_buffer_requirements(&src) };
    let host_type = host_visible_type(&props.extended.memory_types, reqs.type_mask)
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
        d.bind_buffer_memory(&src_mem, 0, &mut src).unwrap();
        d.bind_buffer_memory(&dst_mem, 0, &mut dst).unwrap();
        let sizes = (object_size, size, atom);
        copy_between_mapped(device, &mut src_mem, &mut dst_mem, sizes, || {
            cx.submit(|cmd| {
                cmd.copy_buffer(
                    &src,
                    &dst,
                    iter::once(command::BufferCopy {
                        src: 0,
                        dst: 0,
                        size,
                    }),
                );
                transfer_to_host_barrier(cmd);
            })
        });
        d.destroy_buffer(src);
        d.destroy_buffer(dst);
        device.deallocate_memory(src_mem);
        device.deallocate_memory(dst_mem);
    }
    drop(cx);
    assert_no_messages("flush_and_invalidate_through_the_backend");
}

/// Thousands of allocations of many sizes and usages, freed in a scrambled
/// order; afterwards no memory object is left on the device.
#[test]
fn churn_then_cleanup_leaves_no_memory_object() {
    let _turn = serial();
    let Some(cx) = Context::new("churn_then_cleanup_leaves_no_memory_object") else {
        return;
    };
    let dev = Counting::new(GfxMemoryDevice::wrap(&cx.device));
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
    drop(cx);
    assert_no_messages("churn_then_cleanup_leaves_no_memory_object");
}

/// The queried properties match what gfx-hal reports, and what gfx-hal cannot
/// express is refused.
#[test]
fn properties_match_the_adapter() {
    let _turn = serial();
    let Some(cx) = Context::new("properties_match_the_adapter") else {
        return;
    };
    let props = extended_device_properties(&cx.adapter);
    let memory = cx.adapter.physical_device.memory_properties();
    let limits = cx.adapter.physical_device.properties().limits;
    let ext = &props.extended;
    assert_eq!(ext.memory_types.len(), memory.memory_types.len());
    assert_eq!(ext.memory_heaps.len(), memory.memory_heaps.len());
    for (ours, theirs) in ext.memory_types.iter().zip(&memory.memory_types) {
        assert_eq!(ours.heap as usize, theirs.heap_index);
        assert_eq!(u32::from(theirs.properties.bits()), ours.raw_flags);
    }
    for (ours, theirs) in ext.memory_heaps.iter().zip(&memory.memory_heaps) {
        assert_eq!(ours.size, theirs.size);
        assert_eq!(u32::from(theirs.flags.bits()), ours.flags.bits());
    }
    assert_eq!(
        ext.buffer_image_granularity,
        limits.buffer_image_granularity
    );
    assert_eq!(
        props.non_coherent_atom_size,
        limits.non_coherent_atom_size as u64
    );
    assert_eq!(
        u64::from(props.max_memory_allocation_count),
        (limits.max_memory_allocation_count as u64).min(u64::from(u32::MAX))
    );
    let largest_heap = memory.memory_heaps.iter().map(|h| h.size).max().unwrap();
    assert_eq!(props.max_memory_allocation_size, largest_heap);
    let plain = device_properties(&cx.adapter);
    assert!(!plain.buffer_device_address);
    assert_eq!(plain.memory_types.len(), ext.memory_types.len());
    // The gpu-alloc-gfx 0.3 names give the same.
    let old = gpu_alloc_gfx::gfx_device_properties(&cx.adapter);
    assert_eq!(old.memory_types.len(), plain.memory_types.len());
    assert_eq!(
        gpu_alloc_gfx::gfx_extended_device_properties(&cx.adapter),
        props
    );
    eprintln!(
        "properties: {} types, {} heaps, max size {:#x} (largest heap), atom {}, \
         granularity {}",
        ext.memory_types.len(),
        ext.memory_heaps.len(),
        props.max_memory_allocation_size,
        props.non_coherent_atom_size,
        ext.buffer_image_granularity,
    );

    let device = GfxMemoryDevice::wrap(&cx.device);
    // SAFETY: type 0 exists; the request is refused before reaching the driver.
    let refused = unsafe { device.allocate_memory(256, 0, AllocationFlags::DEVICE_ADDRESS) };
    assert_eq!(refused.err(), Some(OutOfMemory::OutOfDeviceMemory));
    let mut budgets = vec![HeapBudget::default(); ext.memory_heaps.len()];
    assert!(!device.memory_budget(&mut budgets), "gfx-hal has no budget");
    drop(cx);
    assert_no_messages("properties_match_the_adapter");
}

/// The capture itself works: two flushes that break valid-usage rules (of an
/// unmapped memory object, and at an offset that is not a multiple of
/// `nonCoherentAtomSize`), made through the backend, are each reported
/// through gfx-backend-vulkan's messenger and `log`.
#[test]
fn a_validation_error_is_caught() {
    let _turn = serial();
    let Some(cx) = Context::new("a_validation_error_is_caught") else {
        return;
    };
    let props = extended_device_properties(&cx.adapter);
    let device = GfxMemoryDevice::wrap(&cx.device);
    let host_type =
        host_visible_type(&props.extended.memory_types, !0).expect("a host-visible memory type");
    // SAFETY: a host-visible type of this device and its atom size; the drivers
    // this runs on (lavapipe) ignore flushes of coherent memory.
    let provoked =
        unsafe { provoke_validation_errors(device, host_type, props.non_coherent_atom_size) };
    capture().assert_caught(&provoked);
    drop(cx);
    assert_no_messages("a_validation_error_is_caught");
}

/// With the `tracing` feature, every call of the memory device logs an event
/// (`cargo test -p gpu-alloc-gfx --features tracing`).
#[cfg(feature = "tracing")]
#[test]
fn tracing_logs_device_calls() {
    let _turn = serial();
    let Some(cx) = Context::new("tracing_logs_device_calls") else {
        return;
    };
    let props = extended_device_properties(&cx.adapter);
    let host_type =
        host_visible_type(&props.extended.memory_types, !0).expect("a host-visible memory type");
    trace::device_calls_are_logged(GfxMemoryDevice::wrap(&cx.device), host_type);
    drop(cx);
    assert_no_messages("tracing_logs_device_calls");
}
