//! The Vulkan rows: this project through `gpu-alloc-ash`, gpu-allocator 0.28 and
//! VMA (vk-mem 0.5, `vma` feature) on the first Vulkan device.
//!
//! Device allocations are counted by wrapping `vkAllocateMemory` and
//! `vkFreeMemory` in the `ash::Device` dispatch table that all three use, so
//! every row is counted the same way.

use {
    crate::{
        run,
        sim::{config_ours, usage_ours},
        trace::{Req, Trace, Usage},
        BenchAlloc, DeviceCounters, RunResult,
    },
    ash::vk::{self, Handle},
    std::{
        collections::HashMap,
        ffi::{c_void, CStr},
        sync::Mutex,
        time::Duration,
    },
};

/// The driver's own entry points, called by the wrappers: those of the device of
/// the live [`Context`] (replaced by each new one: the Vulkan library may be
/// unloaded and loaded again at another address in between).
static REAL: Mutex<Option<(vk::PFN_vkAllocateMemory, vk::PFN_vkFreeMemory)>> = Mutex::new(None);

fn real() -> (vk::PFN_vkAllocateMemory, vk::PFN_vkFreeMemory) {
    REAL.lock()
        .unwrap_or_else(|e| e.into_inner())
        .expect("wrappers are installed after REAL is set")
}

#[derive(Default)]
struct Counts {
    allocations: u64,
    frees: u64,
    live_bytes: u64,
    peak_bytes: u64,
    sizes: Option<HashMap<u64, u64>>,
}

static COUNTS: Mutex<Counts> = Mutex::new(Counts {
    allocations: 0,
    frees: 0,
    live_bytes: 0,
    peak_bytes: 0,
    sizes: None,
});

fn counts() -> std::sync::MutexGuard<'static, Counts> {
    COUNTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// `vkAllocateMemory` that counts successful allocations and their bytes.
///
/// # Safety
/// The contract of `vkAllocateMemory`.
unsafe extern "system" fn allocate_memory(
    device: vk::Device,
    info: *const vk::MemoryAllocateInfo<'_>,
    callbacks: *const vk::AllocationCallbacks<'_>,
    memory: *mut vk::DeviceMemory,
) -> vk::Result {
    let real = real().0;
    // SAFETY: the caller keeps the contract of vkAllocateMemory; we forward as is.
    let result = unsafe { real(device, info, callbacks, memory) };
    if result == vk::Result::SUCCESS {
        // SAFETY: on success `info` was valid and `memory` holds the new handle.
        let (size, handle) = unsafe { ((*info).allocation_size, (*memory).as_raw()) };
        let mut c = counts();
        c.allocations += 1;
        c.live_bytes += size;
        c.peak_bytes = c.peak_bytes.max(c.live_bytes);
        c.sizes
            .get_or_insert_with(HashMap::new)
            .insert(handle, size);
    }
    result
}

/// `vkFreeMemory` that keeps the live byte count.
///
/// # Safety
/// The contract of `vkFreeMemory`.
unsafe extern "system" fn free_memory(
    device: vk::Device,
    memory: vk::DeviceMemory,
    callbacks: *const vk::AllocationCallbacks<'_>,
) {
    if memory != vk::DeviceMemory::null() {
        let mut c = counts();
        let size = c
            .sizes
            .get_or_insert_with(HashMap::new)
            .remove(&memory.as_raw());
        c.live_bytes -= size.unwrap_or(0);
        c.frees += u64::from(size.is_some());
    }
    let real = real().1;
    // SAFETY: the caller keeps the contract of vkFreeMemory; we forward as is.
    unsafe { real(device, memory, callbacks) }
}

fn device_counters() -> DeviceCounters {
    let c = counts();
    DeviceCounters {
        allocations: c.allocations,
        frees: c.frees,
        live_bytes: c.live_bytes,
        peak_bytes: c.peak_bytes,
    }
}

/// Starts a new peak for the next row.
fn reset_peak() {
    let mut c = counts();
    c.peak_bytes = c.live_bytes;
}

/// An instance and a device with counted memory calls.
pub(crate) struct Context {
    _entry: ash::Entry,
    instance: ash::Instance,
    physical_device: vk::PhysicalDevice,
    device: ash::Device,
    props: gpu_alloc_ash::AshProperties,
    /// `memoryTypeBits` of a typical buffer: the mask every request uses.
    memory_types: u32,
    name: String,
}

const API: u32 = vk::API_VERSION_1_2;

impl Context {
    /// Opens the first Vulkan device, or says why not.
    pub(crate) fn new() -> Result<Self, String> {
        // SAFETY: loading the Vulkan library runs its initialisation; nothing else
        // in this process loads it concurrently.
        let entry = unsafe { ash::Entry::load() }.map_err(|e| format!("no Vulkan loader ({e})"))?;
        let app = vk::ApplicationInfo::default().api_version(API);
        // SAFETY: a valid create info.
        let instance = unsafe {
            entry.create_instance(
                &vk::InstanceCreateInfo::default().application_info(&app),
                None,
            )
        }
        .map_err(|e| format!("vkCreateInstance failed: {e}"))?;
        // SAFETY: a live instance.
        let physical = unsafe { instance.enumerate_physical_devices() }.unwrap_or_default();
        let Some(&physical_device) = physical.first() else {
            // SAFETY: nothing was made from the instance.
            unsafe { instance.destroy_instance(None) };
            return Err("no Vulkan device".into());
        };
        // SAFETY: a physical device of the instance.
        let properties = unsafe { instance.get_physical_device_properties(physical_device) };
        let name = properties
            .device_name_as_c_str()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let priorities = [1.0];
        let queue = vk::DeviceQueueCreateInfo::default().queue_priorities(&priorities);
        let info = vk::DeviceCreateInfo::default().queue_create_infos(std::slice::from_ref(&queue));
        // SAFETY: a valid create info for a physical device of the instance.
        let plain = unsafe { instance.create_device(physical_device, &info, None) }
            .map_err(|e| format!("vkCreateDevice failed: {e}"))?;
        *REAL.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((plain.fp_v1_0().allocate_memory, plain.fp_v1_0().free_memory));
        let get = instance.fp_v1_0().get_device_proc_addr;
        let handle = plain.handle();
        let load = |name: &CStr| {
            if name == c"vkAllocateMemory" {
                allocate_memory as *const c_void
            } else if name == c"vkFreeMemory" {
                free_memory as *const c_void
            } else {
                // SAFETY: a live device and a NUL-terminated name.
                unsafe { get(handle, name.as_ptr()) }
                    .map_or(std::ptr::null(), |f| f as *const c_void)
            }
        };
        // SAFETY: every other entry point comes from the driver for this device;
        // the two wrappers have the same signatures as what they replace.
        let device = unsafe { ash::Device::load_with(load, handle) };
        // SAFETY: the instance has API version `API` and owns the physical device.
        let props = unsafe {
            gpu_alloc_ash::query_properties(
                &instance,
                gpu_alloc_ash::Properties2::Core(API),
                physical_device,
            )
        }
        .map_err(|e| format!("property query failed: {e}"))?;
        let buffer_info = vk::BufferCreateInfo::default().size(1 << 16).usage(
            vk::BufferUsageFlags::TRANSFER_SRC
                | vk::BufferUsageFlags::TRANSFER_DST
                | vk::BufferUsageFlags::UNIFORM_BUFFER
                | vk::BufferUsageFlags::STORAGE_BUFFER
                | vk::BufferUsageFlags::VERTEX_BUFFER
                | vk::BufferUsageFlags::INDEX_BUFFER,
        );
        // SAFETY: a valid create info; the buffer is destroyed right after.
        let memory_types = unsafe {
            let buffer = device
                .create_buffer(&buffer_info, None)
                .map_err(|e| e.to_string())?;
            let bits = device
                .get_buffer_memory_requirements(buffer)
                .memory_type_bits;
            device.destroy_buffer(buffer, None);
            bits
        };
        Ok(Context {
            _entry: entry,
            instance,
            physical_device,
            device,
            props,
            memory_types,
            name,
        })
    }

    pub(crate) fn device_name(&self) -> String {
        format!(
            "{} ({} memory types, buffer memoryTypeBits {:#x})",
            self.name,
            self.props.extended.memory_types.len(),
            self.memory_types
        )
    }

    /// Runs `trace` on every Vulkan row.
    pub(crate) fn run_rows(&mut self, trace: &Trace, limit: Duration) -> Vec<RunResult> {
        let mut out = Vec::new();
        reset_peak();
        let mut ours = OursVk {
            device: &self.device,
            memory_types: self.memory_types,
            alloc: gpu_alloc::GpuAllocator::with_extended_properties(
                config_ours(trace.family),
                self.props.device_properties(),
                self.props.extended.clone(),
            ),
        };
        out.push(run(OURS_VK, &mut ours, trace, limit));
        drop(ours);

        reset_peak();
        match gpu_allocator::vulkan::Allocator::new(&gpu_allocator::vulkan::AllocatorCreateDesc {
            instance: self.instance.clone(),
            device: self.device.clone(),
            physical_device: self.physical_device,
            debug_settings: Default::default(),
            buffer_device_address: false,
            allocation_sizes: Default::default(),
        }) {
            Ok(alloc) => {
                let mut row = GpuAllocatorVk {
                    alloc,
                    memory_types: self.memory_types,
                };
                out.push(run(GPU_ALLOCATOR, &mut row, trace, limit));
            }
            Err(e) => println!("gpu-allocator row skipped: {e}"),
        }

        #[cfg(feature = "vma")]
        {
            reset_peak();
            match vma::Vma::new(self, trace.family) {
                Ok(mut row) => out.push(run(vma::VMA, &mut row, trace, limit)),
                Err(e) => println!("VMA row skipped: {e}"),
            }
        }
        out
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: every allocator made from the device is gone; nothing runs on it.
        unsafe {
            let _ = self.device.device_wait_idle();
            self.device.destroy_device(None);
            self.instance.destroy_instance(None);
        }
    }
}

/// Row names of the Vulkan rows.
pub(crate) const OURS_VK: &str = "gpu-alloc (ours) vk";
pub(crate) const GPU_ALLOCATOR: &str = "gpu-allocator 0.28 vk";

/// This project through `gpu-alloc-ash`.
struct OursVk<'a> {
    device: &'a ash::Device,
    memory_types: u32,
    alloc: gpu_alloc::GpuAllocator<vk::DeviceMemory>,
}

impl BenchAlloc for OursVk<'_> {
    type Block = gpu_alloc::MemoryBlock<vk::DeviceMemory>;

    fn alloc(&mut self, req: &Req) -> Option<Self::Block> {
        let request = gpu_alloc::Request {
            size: req.size,
            align_mask: req.align - 1,
            usage: usage_ours(req.usage),
            memory_types: self.memory_types,
        };
        let device = gpu_alloc_ash::AshMemoryDevice::wrap(self.device);
        // SAFETY: the device whose properties made the allocator.
        unsafe { self.alloc.alloc(device, request) }.ok()
    }

    fn free(&mut self, block: Self::Block) {
        let device = gpu_alloc_ash::AshMemoryDevice::wrap(self.device);
        // SAFETY: the block came from this allocator and device; nothing is bound.
        unsafe { self.alloc.dealloc(device, block) }
    }

    fn device(&self) -> DeviceCounters {
        device_counters()
    }

    fn finish(&mut self) {
        // SAFETY: the same device as every allocation.
        unsafe {
            self.alloc
                .cleanup(gpu_alloc_ash::AshMemoryDevice::wrap(self.device))
        }
    }
}

/// gpu-allocator 0.28 with its default block sizes.
struct GpuAllocatorVk {
    alloc: gpu_allocator::vulkan::Allocator,
    memory_types: u32,
}

impl BenchAlloc for GpuAllocatorVk {
    type Block = gpu_allocator::vulkan::Allocation;

    fn alloc(&mut self, req: &Req) -> Option<Self::Block> {
        use gpu_allocator::MemoryLocation as L;
        let location = match req.usage {
            Usage::Device => L::GpuOnly,
            Usage::Upload | Usage::Staging => L::CpuToGpu,
            Usage::Download => L::GpuToCpu,
        };
        self.alloc
            .allocate(&gpu_allocator::vulkan::AllocationCreateDesc {
                name: "bench",
                requirements: vk::MemoryRequirements {
                    size: req.size,
                    alignment: req.align,
                    memory_type_bits: self.memory_types,
                },
                location,
                linear: true,
                allocation_scheme: gpu_allocator::vulkan::AllocationScheme::GpuAllocatorManaged,
            })
            .ok()
    }

    fn free(&mut self, block: Self::Block) {
        self.alloc.free(block).expect("gpu-allocator free");
    }

    fn device(&self) -> DeviceCounters {
        device_counters()
    }
}

#[cfg(feature = "vma")]
mod vma {
    use {
        super::{device_counters, Context},
        crate::{
            trace::{Family, Req, Usage, ONE_BLOCK},
            BenchAlloc, DeviceCounters,
        },
        ash::vk,
        std::sync::Arc,
        vk_mem::Alloc as _,
    };

    pub(crate) const VMA: &str = "VMA (vk-mem 0.5) vk";

    /// VMA with its defaults, or for the one-block trace a custom pool of one
    /// 10,240,000-byte block (the published case).
    pub(crate) struct Vma {
        // Field order: the pool is destroyed before the allocator.
        pool: Option<vk_mem::AllocatorPool>,
        alloc: Arc<vk_mem::Allocator>,
        memory_types: u32,
    }

    impl Vma {
        pub(crate) fn new(ctx: &Context, family: Family) -> Result<Self, String> {
            let mut info =
                vk_mem::AllocatorCreateInfo::new(&ctx.instance, &ctx.device, ctx.physical_device);
            info.vulkan_api_version = super::API;
            // SAFETY: live instance, device and physical device that outlive the
            // allocator (the context is dropped after every row).
            let alloc =
                Arc::new(unsafe { vk_mem::Allocator::new(info) }.map_err(|e| e.to_string())?);
            let pool = if family == Family::OneBlock {
                let create = create_info(Usage::Device, ctx.memory_types);
                // SAFETY: a live allocator.
                let memory_type_index =
                    unsafe { alloc.find_memory_type_index(ctx.memory_types, &create) }
                        .map_err(|e| e.to_string())?;
                let pool_info = vk_mem::PoolCreateInfo {
                    memory_type_index,
                    block_size: ONE_BLOCK,
                    max_block_count: 1,
                    ..Default::default()
                };
                Some(alloc.create_pool(&pool_info).map_err(|e| e.to_string())?)
            } else {
                None
            };
            Ok(Vma {
                pool,
                alloc,
                memory_types: ctx.memory_types,
            })
        }
    }

    fn create_info(usage: Usage, memory_types: u32) -> vk_mem::AllocationCreateInfo {
        use vk::MemoryPropertyFlags as F;
        let (required_flags, preferred_flags) = match usage {
            Usage::Device => (F::empty(), F::DEVICE_LOCAL),
            Usage::Upload | Usage::Staging => (F::HOST_VISIBLE, F::HOST_COHERENT),
            Usage::Download => (F::HOST_VISIBLE, F::HOST_CACHED),
        };
        vk_mem::AllocationCreateInfo {
            usage: vk_mem::MemoryUsage::Unknown,
            required_flags,
            preferred_flags,
            memory_type_bits: memory_types,
            ..Default::default()
        }
    }

    impl BenchAlloc for Vma {
        type Block = vk_mem::Allocation;

        fn alloc(&mut self, req: &Req) -> Option<Self::Block> {
            let reqs = vk::MemoryRequirements {
                size: req.size,
                alignment: req.align,
                memory_type_bits: self.memory_types,
            };
            let info = create_info(req.usage, self.memory_types);
            // SAFETY: valid requirements and create info for a live allocator.
            unsafe {
                match &self.pool {
                    Some(pool) => pool.allocate_memory(&reqs, &info),
                    None => self.alloc.allocate_memory(&reqs, &info),
                }
            }
            .ok()
        }

        fn free(&mut self, mut block: Self::Block) {
            // SAFETY: the allocation came from this allocator; nothing is bound.
            unsafe { self.alloc.free_memory(&mut block) }
        }

        fn device(&self) -> DeviceCounters {
            device_counters()
        }
    }
}
