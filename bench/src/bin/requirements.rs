//! `requirements`: reads what a Vulkan driver asks for the memory of typical
//! renderer resources (issue 14) and writes it as a fixture of the bench
//! (`bench/fixtures/requirements/`, format in `gpu_alloc_bench::fixture`).
//!
//! For each resource of a fixed list (buffers of 256 B to 256 MiB, sampled
//! textures with and without mips, render targets, depth, 3D, cube and array
//! images, two linear images) it creates the buffer or image, without memory,
//! reads `vkGetBufferMemoryRequirements2` / `vkGetImageMemoryRequirements2` with
//! `VkMemoryDedicatedRequirements` chained, and destroys it. It needs only the
//! Vulkan loader and a driver of Vulkan 1.1 or later; no layer, no extension.
//!
//! ```text
//! requirements [--device N] [--list] [--out FILE]
//! ```

use {
    ash::vk,
    gpu_alloc_bench::fixture::{
        DeviceInfo, Fixture, Kind, MemoryHeapInfo, MemoryTypeInfo, Resource, Skipped, Usage, FORMAT,
    },
    gpu_alloc_tests::kit::cli::{self, lexopt, number, value, Command},
    std::ffi::CStr,
};

const USAGE: &str = "\
usage: requirements [--device N] [--list] [--out FILE]
Reads the memory requirements (vkGet*MemoryRequirements2 with
VkMemoryDedicatedRequirements) of typical renderer resources on a
Vulkan 1.1+ device and writes them as JSON, a fixture of the bench's
real-requirements traces (bench/fixtures/requirements/). --device N
probes the N-th physical device (default: the first discrete GPU, else
the first integrated, else the first); --list prints the devices and
exits; --out FILE writes the JSON there instead of stdout. Needs only
the Vulkan loader and a driver. -h, --help prints this.";

#[derive(Debug, Default)]
struct Options {
    device: Option<usize>,
    list: bool,
    out: Option<String>,
}

fn parse_args(mut parser: lexopt::Parser) -> Result<Command<Options>, lexopt::Error> {
    use lexopt::Arg::{Long, Short};
    let mut opts = Options::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("device") => opts.device = Some(number(&mut parser, "--device")?),
            Long("list") => opts.list = true,
            Long("out") => opts.out = Some(value(&mut parser)?),
            Short('h') | Long("help") => return Ok(Command::Help),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Command::Run(opts))
}

fn main() {
    let opts = cli::args_or_exit(USAGE, parse_args);
    std::process::exit(run(&opts));
}

/// Probes and writes; the exit code: 0 (also when skipped for lack of a
/// driver), 1 when Vulkan fails past the loader or the file cannot be written.
fn run(opts: &Options) -> i32 {
    let vk = match Vulkan::open() {
        Ok(vk) => vk,
        Err(why) => {
            gpu_alloc_tests::vulkan_gate::no_vulkan("requirements", &why);
            return 0;
        }
    };
    let devices = vk.devices();
    if devices.is_empty() {
        gpu_alloc_tests::vulkan_gate::no_vulkan("requirements", &"no physical device");
        return 0;
    }
    if opts.list {
        for (i, d) in devices.iter().enumerate() {
            println!("{i}: {} ({:?}, Vulkan {})", d.name, d.ty, version(d.api));
        }
        return 0;
    }
    let index = match opts.device {
        Some(i) if i < devices.len() => i,
        Some(i) => {
            eprintln!("error: no device {i} ({} found; see --list)", devices.len());
            return 1;
        }
        None => pick(&devices),
    };
    let chosen = &devices[index];
    eprintln!(
        "probing device {index}: {} (Vulkan {})",
        chosen.name,
        version(chosen.api)
    );
    let fixture = match vk.probe(chosen) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    if let Err(e) = fixture.check() {
        eprintln!("error: the driver's answers fail the fixture's checks: {e}");
        return 1;
    }
    eprintln!(
        "{} resources read, {} not supported",
        fixture.resources.len(),
        fixture.skipped.len()
    );
    let mut text = serde_json::to_string_pretty(&fixture).expect("a fixture serializes");
    text.push('\n');
    match &opts.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("error: cannot write {path}: {e}");
                return 1;
            }
            eprintln!("wrote {path}");
        }
        None => print!("{text}"),
    }
    0
}

/// The default device: the first discrete GPU, else the first integrated one,
/// else the first.
fn pick(devices: &[PhysicalDevice]) -> usize {
    [
        vk::PhysicalDeviceType::DISCRETE_GPU,
        vk::PhysicalDeviceType::INTEGRATED_GPU,
    ]
    .iter()
    .find_map(|&ty| devices.iter().position(|d| d.ty == ty))
    .unwrap_or(0)
}

fn version(v: u32) -> String {
    format!(
        "{}.{}.{}",
        vk::api_version_major(v),
        vk::api_version_minor(v),
        vk::api_version_patch(v)
    )
}

/// The loader and an instance.
struct Vulkan {
    _entry: ash::Entry,
    instance: ash::Instance,
    /// The instance's `apiVersion`: 1.1 up to 1.3, as high as the loader allows.
    api: u32,
}

/// A physical device as listed.
struct PhysicalDevice {
    handle: vk::PhysicalDevice,
    name: String,
    ty: vk::PhysicalDeviceType,
    api: u32,
}

impl Vulkan {
    fn open() -> Result<Self, String> {
        // SAFETY: loading the Vulkan library runs its initialisation; nothing
        // else in this process loads it.
        let entry = unsafe { ash::Entry::load() }.map_err(|e| format!("no Vulkan loader ({e})"))?;
        // SAFETY: a loaded entry; `None` means a 1.0 loader.
        let loader = unsafe { entry.try_enumerate_instance_version() }
            .map_err(|e| format!("vkEnumerateInstanceVersion failed: {e}"))?
            .unwrap_or(vk::API_VERSION_1_0);
        if loader < vk::API_VERSION_1_1 {
            return Err(format!(
                "the loader is Vulkan {}; 1.1 needed",
                version(loader)
            ));
        }
        let api = loader.min(vk::API_VERSION_1_3);
        let app = vk::ApplicationInfo::default()
            .application_name(c"gpu-alloc requirements probe")
            .api_version(api);
        // SAFETY: a valid create info.
        let instance = unsafe {
            entry.create_instance(
                &vk::InstanceCreateInfo::default().application_info(&app),
                None,
            )
        }
        .map_err(|e| format!("vkCreateInstance failed: {e}"))?;
        Ok(Vulkan {
            _entry: entry,
            instance,
            api,
        })
    }

    fn devices(&self) -> Vec<PhysicalDevice> {
        // SAFETY: a live instance.
        let handles = unsafe { self.instance.enumerate_physical_devices() }.unwrap_or_default();
        handles
            .into_iter()
            .map(|handle| {
                // SAFETY: a physical device of the instance.
                let p = unsafe { self.instance.get_physical_device_properties(handle) };
                PhysicalDevice {
                    handle,
                    name: cstr(p.device_name_as_c_str()),
                    ty: p.device_type,
                    api: p.api_version,
                }
            })
            .collect()
    }

    /// Every resource of [`resources_to_probe`] on `pd`.
    fn probe(&self, pd: &PhysicalDevice) -> Result<Fixture, String> {
        if pd.api < vk::API_VERSION_1_1 {
            return Err(format!(
                "{} is Vulkan {}; 1.1 needed",
                pd.name,
                version(pd.api)
            ));
        }
        let info = self.device_info(pd);
        let device = Device::new(&self.instance, pd.handle)?;
        let mut resources = Vec::new();
        let mut skipped = Vec::new();
        for spec in resources_to_probe() {
            match device.requirements(&self.instance, pd.handle, &spec) {
                Ok(r) => resources.push(r),
                Err(why) => {
                    eprintln!("  {}: not supported ({why})", spec.name);
                    skipped.push(Skipped {
                        name: spec.name,
                        why,
                    });
                }
            }
        }
        // SAFETY: a physical device of the instance.
        let memory = unsafe {
            self.instance
                .get_physical_device_memory_properties(pd.handle)
        };
        Ok(Fixture {
            format: FORMAT,
            device: info,
            memory_types: memory
                .memory_types_as_slice()
                .iter()
                .map(|t| MemoryTypeInfo {
                    heap: t.heap_index,
                    flags: t.property_flags.as_raw(),
                    names: flag_names(&format!("{:?}", t.property_flags)),
                })
                .collect(),
            memory_heaps: memory
                .memory_heaps_as_slice()
                .iter()
                .map(|h| MemoryHeapInfo {
                    size: h.size,
                    flags: h.flags.as_raw(),
                    names: flag_names(&format!("{:?}", h.flags)),
                })
                .collect(),
            resources,
            skipped,
        })
    }

    fn device_info(&self, pd: &PhysicalDevice) -> DeviceInfo {
        let with_driver = self.api >= vk::API_VERSION_1_2 && pd.api >= vk::API_VERSION_1_2;
        let mut maintenance3 = vk::PhysicalDeviceMaintenance3Properties::default();
        let mut driver = vk::PhysicalDeviceDriverProperties::default();
        let mut props = vk::PhysicalDeviceProperties2::default().push_next(&mut maintenance3);
        if with_driver {
            props = props.push_next(&mut driver);
        }
        // SAFETY: a physical device of the instance; the chained structures are
        // core in the versions of both the instance and the device.
        unsafe {
            self.instance
                .get_physical_device_properties2(pd.handle, &mut props)
        };
        let p = props.properties;
        DeviceInfo {
            name: cstr(p.device_name_as_c_str()),
            vendor_id: p.vendor_id,
            device_id: p.device_id,
            device_type: format!("{:?}", p.device_type),
            api_version: version(p.api_version),
            driver_version: p.driver_version,
            driver_name: with_driver.then(|| cstr(driver.driver_name_as_c_str())),
            driver_info: with_driver.then(|| cstr(driver.driver_info_as_c_str())),
            buffer_image_granularity: p.limits.buffer_image_granularity,
            non_coherent_atom_size: p.limits.non_coherent_atom_size,
            max_memory_allocation_count: p.limits.max_memory_allocation_count,
            max_memory_allocation_size: maintenance3.max_memory_allocation_size,
        }
    }
}

impl Drop for Vulkan {
    fn drop(&mut self) {
        // SAFETY: every device made from the instance is gone.
        unsafe { self.instance.destroy_instance(None) };
    }
}

fn cstr(s: Result<&CStr, std::ffi::FromBytesUntilNulError>) -> String {
    s.map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `DEVICE_LOCAL | HOST_VISIBLE` (ash's `Debug`) as `["DEVICE_LOCAL", "HOST_VISIBLE"]`.
fn flag_names(debug: &str) -> Vec<String> {
    debug
        .split(" | ")
        .map(str::trim)
        .filter(|n| !n.is_empty() && *n != "(empty)")
        .map(String::from)
        .collect()
}

/// A logical device with one queue, no extension and no feature.
struct Device(ash::Device);

impl Device {
    fn new(instance: &ash::Instance, pd: vk::PhysicalDevice) -> Result<Self, String> {
        let priorities = [1.0];
        let queue = vk::DeviceQueueCreateInfo::default()
            .queue_family_index(0)
            .queue_priorities(&priorities);
        let info = vk::DeviceCreateInfo::default().queue_create_infos(std::slice::from_ref(&queue));
        // SAFETY: a physical device of the instance; every device has queue family 0.
        unsafe { instance.create_device(pd, &info, None) }
            .map(Device)
            .map_err(|e| format!("vkCreateDevice failed: {e}"))
    }

    /// The requirements of `spec`, or why the device cannot create it.
    fn requirements(
        &self,
        instance: &ash::Instance,
        pd: vk::PhysicalDevice,
        spec: &Spec,
    ) -> Result<Resource, String> {
        let mut dedicated = vk::MemoryDedicatedRequirements::default();
        let mut out = vk::MemoryRequirements2::default().push_next(&mut dedicated);
        let (kind, nominal_size) = match &spec.what {
            What::Buffer { usage, size } => {
                let info = vk::BufferCreateInfo::default().size(*size).usage(*usage);
                // SAFETY: a valid create info; the buffer is destroyed below.
                let buffer = unsafe { self.0.create_buffer(&info, None) }
                    .map_err(|e| format!("vkCreateBuffer: {e}"))?;
                // SAFETY: a live buffer of this device; `out` chains only core
                // 1.1 structures.
                unsafe {
                    self.0.get_buffer_memory_requirements2(
                        &vk::BufferMemoryRequirementsInfo2::default().buffer(buffer),
                        &mut out,
                    );
                    self.0.destroy_buffer(buffer, None);
                }
                (Kind::Buffer, *size)
            }
            What::Image(image) => {
                image.supported(instance, pd)?;
                let info = image.create_info();
                // SAFETY: a valid create info the device supports (checked
                // above); the image is destroyed below.
                let handle = unsafe { self.0.create_image(&info, None) }
                    .map_err(|e| format!("vkCreateImage: {e}"))?;
                // SAFETY: a live image of this device; `out` chains only core
                // 1.1 structures.
                unsafe {
                    self.0.get_image_memory_requirements2(
                        &vk::ImageMemoryRequirementsInfo2::default().image(handle),
                        &mut out,
                    );
                    self.0.destroy_image(handle, None);
                }
                let kind = if image.tiling == vk::ImageTiling::LINEAR {
                    Kind::ImageLinear
                } else {
                    Kind::ImageOptimal
                };
                (kind, image.nominal_size())
            }
        };
        let r = out.memory_requirements;
        Ok(Resource {
            name: spec.name.clone(),
            kind,
            nominal_size,
            size: r.size,
            alignment: r.alignment,
            memory_type_bits: r.memory_type_bits,
            prefers_dedicated: dedicated.prefers_dedicated_allocation == vk::TRUE,
            requires_dedicated: dedicated.requires_dedicated_allocation == vk::TRUE,
            usage: spec.usage,
        })
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // SAFETY: every buffer and image made from the device is destroyed.
        unsafe { self.0.destroy_device(None) };
    }
}

/// One resource to probe.
struct Spec {
    name: String,
    what: What,
    usage: Usage,
}

enum What {
    Buffer {
        usage: vk::BufferUsageFlags,
        size: u64,
    },
    Image(Image),
}

struct Image {
    ty: vk::ImageType,
    format: vk::Format,
    extent: vk::Extent3D,
    /// Mip levels: 1, or the full chain.
    mips: u32,
    layers: u32,
    samples: vk::SampleCountFlags,
    tiling: vk::ImageTiling,
    usage: vk::ImageUsageFlags,
    flags: vk::ImageCreateFlags,
}

impl Image {
    fn create_info(&self) -> vk::ImageCreateInfo<'static> {
        vk::ImageCreateInfo::default()
            .flags(self.flags)
            .image_type(self.ty)
            .format(self.format)
            .extent(self.extent)
            .mip_levels(self.mips)
            .array_layers(self.layers)
            .samples(self.samples)
            .tiling(self.tiling)
            .usage(self.usage)
            .sharing_mode(vk::SharingMode::EXCLUSIVE)
            .initial_layout(vk::ImageLayout::UNDEFINED)
    }

    /// Whether the device can make this image: format, tiling and usage, and the
    /// extent, mip, layer and sample limits for them.
    fn supported(&self, instance: &ash::Instance, pd: vk::PhysicalDevice) -> Result<(), String> {
        // SAFETY: a physical device of the instance; valid enums and flags.
        let limits = unsafe {
            instance.get_physical_device_image_format_properties(
                pd,
                self.format,
                self.ty,
                self.tiling,
                self.usage,
                self.flags,
            )
        }
        .map_err(|e| format!("{:?} {:?} {:?}: {e}", self.format, self.tiling, self.usage))?;
        let e = self.extent;
        let m = limits.max_extent;
        if e.width > m.width || e.height > m.height || e.depth > m.depth {
            return Err(format!("extent over {}x{}x{}", m.width, m.height, m.depth));
        }
        if self.mips > limits.max_mip_levels {
            return Err(format!("{} mips over {}", self.mips, limits.max_mip_levels));
        }
        if self.layers > limits.max_array_layers {
            return Err(format!(
                "{} layers over {}",
                self.layers, limits.max_array_layers
            ));
        }
        if !limits.sample_counts.contains(self.samples) {
            return Err(format!("{:?} samples not supported", self.samples));
        }
        Ok(())
    }

    /// Texels times bytes per texel, over every mip, layer and sample.
    fn nominal_size(&self) -> u64 {
        let texel = match self.format {
            vk::Format::R16G16B16A16_SFLOAT => 8,
            _ => 4, // RGBA8, D32
        };
        let e = self.extent;
        let texels: u64 = (0..self.mips)
            .map(|l| {
                let d = |x: u32| u64::from((x >> l).max(1));
                d(e.width) * d(e.height) * d(e.depth)
            })
            .sum();
        texels * u64::from(self.layers) * u64::from(self.samples.as_raw()) * texel
    }
}

/// `256 B`, `4 KiB`, `64 MiB`.
fn size_name(size: u64) -> String {
    match size {
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

/// The full mip chain of the largest dimension.
fn full_mips(largest: u32) -> u32 {
    32 - largest.leading_zeros()
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// The resources every fixture lists, in this order.
fn resources_to_probe() -> Vec<Spec> {
    use vk::{BufferUsageFlags as B, Format as F, ImageUsageFlags as I};
    let mut out = Vec::new();
    let buffer_sizes = [256, 4 * KIB, 64 * KIB, MIB, 16 * MIB, 64 * MIB, 256 * MIB];
    let buffers: [(&str, B, Usage, u64); 6] = [
        (
            "vertex",
            B::VERTEX_BUFFER | B::TRANSFER_DST,
            Usage::Device,
            256 * MIB,
        ),
        (
            "index",
            B::INDEX_BUFFER | B::TRANSFER_DST,
            Usage::Device,
            256 * MIB,
        ),
        ("uniform", B::UNIFORM_BUFFER, Usage::Upload, 64 * KIB),
        (
            "storage",
            B::STORAGE_BUFFER | B::TRANSFER_SRC | B::TRANSFER_DST,
            Usage::Device,
            256 * MIB,
        ),
        ("staging", B::TRANSFER_SRC, Usage::Upload, 256 * MIB),
        ("readback", B::TRANSFER_DST, Usage::Download, 256 * MIB),
    ];
    for (what, usage_flags, usage, largest) in buffers {
        for &size in buffer_sizes.iter().filter(|&&s| s <= largest) {
            out.push(Spec {
                name: format!("{what} buffer {}", size_name(size)),
                what: What::Buffer {
                    usage: usage_flags,
                    size,
                },
                usage,
            });
        }
    }
    let image = |ty, format, (w, h, d): (u32, u32, u32), mips, layers, usage| Image {
        ty,
        format,
        extent: vk::Extent3D {
            width: w,
            height: h,
            depth: d,
        },
        mips,
        layers,
        samples: vk::SampleCountFlags::TYPE_1,
        tiling: vk::ImageTiling::OPTIMAL,
        usage,
        flags: vk::ImageCreateFlags::empty(),
    };
    let mut push = |name: String, image: Image, usage| {
        out.push(Spec {
            name,
            what: What::Image(image),
            usage,
        })
    };
    let formats = [
        (F::R8G8B8A8_UNORM, "RGBA8"),
        (F::R16G16B16A16_SFLOAT, "RGBA16F"),
    ];
    let d2 = vk::ImageType::TYPE_2D;
    // Sampled textures, with the full mip chain (made with blits) and without.
    for (format, fname) in formats {
        for side in [64, 128, 256, 512, 1024, 2048, 4096] {
            for with_mips in [true, false] {
                let (mips, usage, suffix) = if with_mips {
                    (
                        full_mips(side),
                        I::SAMPLED | I::TRANSFER_DST | I::TRANSFER_SRC,
                        " mips",
                    )
                } else {
                    (1, I::SAMPLED | I::TRANSFER_DST, "")
                };
                push(
                    format!("texture {fname} {side}x{side}{suffix}"),
                    image(d2, format, (side, side, 1), mips, 1, usage),
                    Usage::Device,
                );
            }
        }
    }
    // Render targets and depth buffers, sampled afterwards.
    let targets = [
        (
            F::R8G8B8A8_UNORM,
            "RGBA8",
            I::COLOR_ATTACHMENT,
            "render target",
        ),
        (
            F::R16G16B16A16_SFLOAT,
            "RGBA16F",
            I::COLOR_ATTACHMENT,
            "render target",
        ),
        (F::D32_SFLOAT, "D32", I::DEPTH_STENCIL_ATTACHMENT, "depth"),
    ];
    for (format, fname, attachment, what) in targets {
        for (w, h) in [
            (512, 512),
            (1024, 1024),
            (1920, 1080),
            (2048, 2048),
            (4096, 4096),
        ] {
            push(
                format!("{what} {fname} {w}x{h}"),
                image(d2, format, (w, h, 1), 1, 1, attachment | I::SAMPLED),
                Usage::Device,
            );
        }
    }
    // Multisampled targets, resolved (not sampled).
    for (format, fname, attachment, what) in [targets[0], targets[2]] {
        let mut msaa = image(d2, format, (1920, 1080, 1), 1, 1, attachment);
        msaa.samples = vk::SampleCountFlags::TYPE_4;
        push(
            format!("{what} {fname} 1920x1080 4x MSAA"),
            msaa,
            Usage::Device,
        );
    }
    // 3D, cube and array images.
    let d3 = vk::ImageType::TYPE_3D;
    let sampled = I::SAMPLED | I::TRANSFER_DST;
    push(
        "volume RGBA8 128x128x128".into(),
        image(d3, F::R8G8B8A8_UNORM, (128, 128, 128), 1, 1, sampled),
        Usage::Device,
    );
    push(
        "volume RGBA16F 64x64x64".into(),
        image(
            d3,
            F::R16G16B16A16_SFLOAT,
            (64, 64, 64),
            1,
            1,
            sampled | I::STORAGE,
        ),
        Usage::Device,
    );
    let mut cube = image(
        d2,
        F::R16G16B16A16_SFLOAT,
        (1024, 1024, 1),
        full_mips(1024),
        6,
        sampled | I::TRANSFER_SRC,
    );
    cube.flags = vk::ImageCreateFlags::CUBE_COMPATIBLE;
    push(
        "cube map RGBA16F 1024x1024 mips".into(),
        cube,
        Usage::Device,
    );
    push(
        "texture array RGBA8 1024x1024x16 mips".into(),
        image(
            d2,
            F::R8G8B8A8_UNORM,
            (1024, 1024, 1),
            full_mips(1024),
            16,
            sampled | I::TRANSFER_SRC,
        ),
        Usage::Device,
    );
    push(
        "shadow cascades D32 2048x2048x4".into(),
        image(
            d2,
            F::D32_SFLOAT,
            (2048, 2048, 1),
            1,
            4,
            I::DEPTH_STENCIL_ATTACHMENT | I::SAMPLED,
        ),
        Usage::Device,
    );
    // Linear images: a host-written texture and a screenshot read back.
    let mut upload = image(d2, F::R8G8B8A8_UNORM, (256, 256, 1), 1, 1, I::TRANSFER_SRC);
    upload.tiling = vk::ImageTiling::LINEAR;
    push("linear upload RGBA8 256x256".into(), upload, Usage::Upload);
    let mut readback = image(
        d2,
        F::R8G8B8A8_UNORM,
        (1920, 1080, 1),
        1,
        1,
        I::TRANSFER_DST,
    );
    readback.tiling = vk::ImageTiling::LINEAR;
    push(
        "linear readback RGBA8 1920x1080".into(),
        readback,
        Usage::Download,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list: unique names, uniform buffers small only, full mip chains.
    #[test]
    fn resource_list() {
        let list = resources_to_probe();
        let mut names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), list.len(), "duplicate names");
        assert!(names.contains(&"uniform buffer 64 KiB"));
        assert!(!names.contains(&"uniform buffer 1 MiB"));
        assert!(names.contains(&"staging buffer 256 MiB"));
        assert_eq!(full_mips(4096), 13);
        assert_eq!(full_mips(1), 1);
    }
}
