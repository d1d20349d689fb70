//! A program written against the documented API of gpu-alloc-ash 0.7.0 (with
//! gpu-alloc 0.6 and ash 0.38): the crate docs' example (instance, properties,
//! device, `GpuAllocator`, `alloc`, `write_bytes`, `dealloc`, through
//! `AshMemoryDevice::wrap` and through `AsRef<AshMemoryDevice>`), and the flag
//! conversions. It runs on the first Vulkan device and checks what it wrote.

use {
    ash::vk,
    gpu_alloc::{Config, GpuAllocator, MemoryBlock, Request, UsageFlags},
    gpu_alloc_ash::{
        device_properties, memory_properties_from_ash, memory_properties_to_ash, AshMemoryDevice,
    },
    std::error::Error,
};

/// Allocates a small host-visible block and writes `data` into it, through any
/// device the 0.7 docs allow: `&ash::Device` or `AshMemoryDevice::wrap(&device)`.
fn upload(
    allocator: &mut GpuAllocator<vk::DeviceMemory>,
    device: &impl AsRef<AshMemoryDevice>,
    data: &[u8],
) -> Result<MemoryBlock<vk::DeviceMemory>, Box<dyn Error>> {
    let device = device.as_ref();
    // SAFETY: `device` is the device the allocator's properties describe.
    let mut block = unsafe {
        allocator.alloc(
            device,
            Request {
                size: data.len() as u64,
                align_mask: 1,
                usage: UsageFlags::HOST_ACCESS,
                memory_types: !0,
            },
        )
    }?;
    // SAFETY: the same device; nothing else uses the new block.
    unsafe { block.write_bytes(device, 0, data) }?;
    Ok(block)
}

pub fn main() -> Result<(), Box<dyn Error>> {
    // SAFETY: loading the Vulkan library runs its initialisers; the system
    // loader is trusted.
    let entry = unsafe { ash::Entry::load() }?;
    // SAFETY: a plain query of a loaded entry.
    let version = unsafe { entry.try_enumerate_instance_version() }?.unwrap_or(vk::API_VERSION_1_0);
    let app = vk::ApplicationInfo::default()
        .engine_name(c"GpuAlloc")
        .engine_version(1)
        .application_name(c"GpuAllocApp")
        .application_version(1)
        .api_version(version);
    // SAFETY: a valid create info.
    let instance = unsafe {
        entry.create_instance(
            &vk::InstanceCreateInfo::default().application_info(&app),
            None,
        )
    }?;

    // SAFETY: `instance` is live, here and below.
    let physical_devices = unsafe { instance.enumerate_physical_devices() }?;
    let physical_device = *physical_devices.first().ok_or("no physical device")?;

    // SAFETY: the instance was created with `version` and owns the device.
    let props = unsafe { device_properties(&instance, version, physical_device) }?;
    // SAFETY: as above.
    let memory = unsafe { instance.get_physical_device_memory_properties(physical_device) };
    assert_eq!(props.memory_types.len(), memory.memory_type_count as usize);
    for (ours, theirs) in props
        .memory_types
        .iter()
        .zip(memory.memory_types_as_slice())
    {
        let known = memory_properties_to_ash(memory_properties_from_ash(theirs.property_flags));
        assert_eq!(
            ours.props,
            memory_properties_from_ash(theirs.property_flags)
        );
        assert_eq!(ours.heap, theirs.heap_index);
        assert!(theirs.property_flags.contains(known));
    }

    let priorities = [0f32];
    let queue = vk::DeviceQueueCreateInfo::default()
        .queue_family_index(0)
        .queue_priorities(&priorities);
    // SAFETY: queue family 0 exists on every Vulkan device.
    let device = unsafe {
        instance.create_device(
            physical_device,
            &vk::DeviceCreateInfo::default().queue_create_infos(std::slice::from_ref(&queue)),
            None,
        )
    }?;

    let config = Config::i_am_potato();
    let mut allocator = GpuAllocator::new(config, props);

    let data = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    let mut block = upload(&mut allocator, AshMemoryDevice::wrap(&device), &data)?;
    let mut back = [0u8; 10];
    // SAFETY: the block's device; the GPU never touched it.
    unsafe { block.read_bytes(AshMemoryDevice::wrap(&device), 0, &mut back) }?;
    assert_eq!(back, data);
    // SAFETY: the block's device; nothing uses the block.
    unsafe { allocator.dealloc(AshMemoryDevice::wrap(&device), block) }

    // `ash::Device` also implements `AsRef<AshMemoryDevice>`.
    let mut block = upload(&mut allocator, &device, &data)?;
    let memory_device: &AshMemoryDevice = device.as_ref();
    let mut back = [0u8; 10];
    // SAFETY: as above.
    unsafe { block.read_bytes(memory_device, 0, &mut back) }?;
    assert_eq!(back, data);
    // SAFETY: as above.
    unsafe { allocator.dealloc(memory_device, block) }

    // SAFETY: every block is freed; nothing made from the device or instance is
    // left.
    unsafe {
        allocator.cleanup(AshMemoryDevice::wrap(&device));
        device.destroy_device(None);
        instance.destroy_instance(None);
    }
    println!("gpu-alloc-ash 0.7 program: wrote and read back 2 blocks");
    Ok(())
}
