//! The quick start of the workspace README, as a program: a buffer gets its
//! memory from gpu-alloc on the first Vulkan device, is written through a
//! mapping and read back, and everything is freed.
//!
//! ```sh
//! cargo run -p gpu-alloc-ash --example quickstart
//! ```
//!
//! Without a Vulkan driver it prints `skipped: no Vulkan driver` and exits 0, or
//! fails when `GPU_ALLOC_REQUIRE_VULKAN=1` is set (as CI does, on lavapipe).
//! The part between the `README` markers is the README's code, word for word
//! (`tests/readme.rs` checks it).

use std::process::ExitCode;

// README: begin
use ash::vk;
use gpu_alloc::{Config, GpuAllocator, UsageFlags};
use gpu_alloc_ash::{
    device_properties_enabled, request_from_requirements, AshMemoryDevice, EnabledFeatures,
};

/// Gives a new buffer memory from gpu-alloc, writes it through a mapping, reads
/// it back, and frees everything. `instance` was created with Vulkan 1.2 and
/// `device` from its `physical_device`.
fn quickstart(
    instance: &ash::Instance,
    physical_device: vk::PhysicalDevice,
    device: &ash::Device,
) -> Result<(), Box<dyn std::error::Error>> {
    // What the allocator needs to know about the device, read once, and which
    // optional features `device` was created with (none here).
    // SAFETY: `physical_device` belongs to `instance`, created with Vulkan 1.2.
    let props = unsafe {
        device_properties_enabled(
            instance,
            vk::API_VERSION_1_2,
            physical_device,
            EnabledFeatures::new(),
        )
    }?;
    let mut allocator = GpuAllocator::new(Config::i_am_prototyping(), props);
    // The device as the allocator sees it (a free cast).
    let memory_device = AshMemoryDevice::wrap(device);

    // A buffer and its memory requirements.
    let data = *b"hello, gpu-alloc";
    let info = vk::BufferCreateInfo::default()
        .size(data.len() as u64)
        .usage(vk::BufferUsageFlags::TRANSFER_SRC);
    // SAFETY: a valid create info.
    let buffer = unsafe { device.create_buffer(&info, None) }?;
    // SAFETY: a live buffer of `device`.
    let requirements = unsafe { device.get_buffer_memory_requirements(buffer) };

    // Requirements -> request -> block, in a memory type the buffer accepts and
    // the host can write (UPLOAD).
    let request = request_from_requirements(&requirements, UsageFlags::UPLOAD);
    // SAFETY: `memory_device` is the device whose properties made the allocator
    // (here and below).
    let mut block = unsafe { allocator.alloc(memory_device, request) }?;

    // Bind the block's range of its memory object to the buffer.
    // SAFETY: the block meets the buffer's requirements; the buffer has no memory.
    unsafe { device.bind_buffer_memory(buffer, *block.memory(), block.offset()) }?;

    // Map, write, flush (a no-op on coherent memory), unmap. `write_bytes` does
    // the same in one call.
    // SAFETY: the device does not use the buffer; the writes stay in the
    // `data.len()` bytes mapped, and the pointer is not used after `unmap`.
    unsafe {
        let ptr = block.map(memory_device, 0, data.len())?;
        std::ptr::copy_nonoverlapping(data.as_ptr(), ptr.as_ptr(), data.len());
        block.flush_range(memory_device, 0, data.len() as u64)?;
        block.unmap(memory_device);
    }
    let mut read = [0; 16];
    // SAFETY: the device does not write the buffer.
    unsafe { block.read_bytes(memory_device, 0, &mut read) }?;
    assert_eq!(read, data);

    // The buffer goes first, then its memory; `cleanup` gives the allocator's
    // empty memory objects back before it is dropped.
    // SAFETY: the buffer is not in use; no block of the allocator is left.
    unsafe {
        device.destroy_buffer(buffer, None);
        allocator.dealloc(memory_device, block);
        allocator.cleanup(memory_device);
    }
    Ok(())
}
// README: end

/// Opens the Vulkan library, makes a Vulkan 1.2 instance and a device on the
/// first physical device, and runs [`quickstart`] on them.
fn main() -> ExitCode {
    use gpu_alloc_tests::vulkan_gate::no_vulkan;

    // SAFETY: loading the Vulkan library runs its initialisation, which is
    // trusted like any driver.
    let entry = match unsafe { ash::Entry::load() } {
        Ok(entry) => entry,
        Err(err) => {
            no_vulkan("quickstart", &err);
            return ExitCode::SUCCESS;
        }
    };
    let app = vk::ApplicationInfo::default().api_version(vk::API_VERSION_1_2);
    let instance_info = vk::InstanceCreateInfo::default().application_info(&app);
    // SAFETY: a valid create info.
    let instance = match unsafe { entry.create_instance(&instance_info, None) } {
        Ok(instance) => instance,
        Err(err) => {
            no_vulkan("quickstart", &err);
            return ExitCode::SUCCESS;
        }
    };
    // SAFETY: a live instance.
    let physical_device = match unsafe { instance.enumerate_physical_devices() } {
        Ok(devices) if !devices.is_empty() => devices[0],
        result => {
            no_vulkan(
                "quickstart",
                &format_args!("no physical device ({result:?})"),
            );
            // SAFETY: nothing was made from the instance.
            unsafe { instance.destroy_instance(None) };
            return ExitCode::SUCCESS;
        }
    };
    // Every physical device has a queue family 0, with at least one queue.
    let priorities = [1.0];
    let queue = vk::DeviceQueueCreateInfo::default()
        .queue_family_index(0)
        .queue_priorities(&priorities);
    let device_info =
        vk::DeviceCreateInfo::default().queue_create_infos(std::slice::from_ref(&queue));
    // SAFETY: `physical_device` belongs to `instance`; a valid create info.
    let device = match unsafe { instance.create_device(physical_device, &device_info, None) } {
        Ok(device) => device,
        Err(err) => {
            eprintln!("quickstart: vkCreateDevice failed: {err}");
            // SAFETY: nothing was made from the instance.
            unsafe { instance.destroy_instance(None) };
            return ExitCode::FAILURE;
        }
    };

    let result = quickstart(&instance, physical_device, &device);
    // SAFETY: `quickstart` destroyed everything it made from the device.
    unsafe {
        device.destroy_device(None);
        instance.destroy_instance(None);
    }
    match result {
        // A leaked block or an allocator dropped without `cleanup` is reported
        // (`gpu_alloc::reported_problems`), and fails the run.
        Ok(()) if gpu_alloc::reported_problems() == 0 => {
            println!("quickstart: wrote and read back a buffer's memory; everything freed");
            ExitCode::SUCCESS
        }
        Ok(()) => {
            eprintln!("quickstart: gpu-alloc reported misuse");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("quickstart: {err}");
            ExitCode::FAILURE
        }
    }
}
