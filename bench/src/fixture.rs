//! The real-requirements fixtures (issue 14): what one Vulkan driver asks for the
//! memory of typical renderer resources, read by the `requirements` probe
//! (`bench/src/bin/requirements.rs`) and stored as JSON in
//! `bench/fixtures/requirements/`, one file per driver. The `traces` binary
//! replays level loads and streaming drawn from every file of that folder (or
//! from `--requirements FILE`).
//!
//! A file describes itself: the device and driver, its memory types and heaps,
//! then one entry per resource with the driver's `VkMemoryRequirements` and
//! `VkMemoryDedicatedRequirements` and the gpu-alloc usage the resource would be
//! allocated with.

use {
    serde::{Deserialize, Serialize},
    std::path::{Path, PathBuf},
};

/// The version of the file format, written by the probe and checked on reading.
pub const FORMAT: u32 = 1;

/// The folder of the fixtures in this checkout.
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/requirements");

/// One driver's requirements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fixture {
    /// [`FORMAT`].
    pub format: u32,
    /// The device and driver that answered.
    pub device: DeviceInfo,
    /// `VkPhysicalDeviceMemoryProperties::memoryTypes`, in order.
    pub memory_types: Vec<MemoryTypeInfo>,
    /// `VkPhysicalDeviceMemoryProperties::memoryHeaps`, in order.
    pub memory_heaps: Vec<MemoryHeapInfo>,
    /// One entry per resource the driver could create.
    pub resources: Vec<Resource>,
    /// Resources of the probe's list that the device does not support, and why.
    pub skipped: Vec<Skipped>,
}

/// The device and driver of a fixture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// `deviceName`.
    pub name: String,
    /// `vendorID`.
    pub vendor_id: u32,
    /// `deviceID`.
    pub device_id: u32,
    /// `deviceType`, as Vulkan names it (`DISCRETE_GPU`, `CPU`, ...).
    pub device_type: String,
    /// `apiVersion` as `major.minor.patch`.
    pub api_version: String,
    /// `driverVersion`, raw (its encoding is the vendor's).
    pub driver_version: u32,
    /// `VkPhysicalDeviceDriverProperties::driverName` (Vulkan 1.2 devices).
    pub driver_name: Option<String>,
    /// `VkPhysicalDeviceDriverProperties::driverInfo` (Vulkan 1.2 devices): the
    /// version as the vendor writes it.
    pub driver_info: Option<String>,
    /// `bufferImageGranularity`.
    pub buffer_image_granularity: u64,
    /// `nonCoherentAtomSize`.
    pub non_coherent_atom_size: u64,
    /// `maxMemoryAllocationCount`.
    pub max_memory_allocation_count: u32,
    /// `VkPhysicalDeviceMaintenance3Properties::maxMemoryAllocationSize`.
    pub max_memory_allocation_size: u64,
}

/// One memory type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryTypeInfo {
    /// `heapIndex`.
    pub heap: u32,
    /// `propertyFlags`, raw.
    pub flags: u32,
    /// The names of the bits of `flags` (for readers; `flags` is what counts).
    pub names: Vec<String>,
}

/// One memory heap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryHeapInfo {
    /// `size` in bytes.
    pub size: u64,
    /// `flags`, raw.
    pub flags: u32,
    /// The names of the bits of `flags`.
    pub names: Vec<String>,
}

/// What a resource is, as far as memory placement cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A buffer (linear for `bufferImageGranularity`).
    Buffer,
    /// An image with `VK_IMAGE_TILING_LINEAR`.
    ImageLinear,
    /// An image with `VK_IMAGE_TILING_OPTIMAL`.
    ImageOptimal,
}

/// The gpu-alloc usage a resource is allocated with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Usage {
    /// `UsageFlags::FAST_DEVICE_ACCESS`: render targets, textures, vertex data.
    Device,
    /// `UsageFlags::UPLOAD`: written by the host (staging, uniform buffers).
    Upload,
    /// `UsageFlags::DOWNLOAD`: read back by the host.
    Download,
}

/// One resource and what the driver asks for its memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// What it is, for people: `vertex buffer 1 MiB`, `texture RGBA8 1024x1024 mips`.
    pub name: String,
    /// Buffer, linear or optimal image.
    pub kind: Kind,
    /// The bytes its data takes (buffer size; texels times bytes per texel over
    /// every mip level, layer and sample): the same on every driver, so traces
    /// drawn by it pick the same resources whatever the driver.
    pub nominal_size: u64,
    /// `VkMemoryRequirements::size`.
    pub size: u64,
    /// `VkMemoryRequirements::alignment`.
    pub alignment: u64,
    /// `VkMemoryRequirements::memoryTypeBits`.
    pub memory_type_bits: u32,
    /// `VkMemoryDedicatedRequirements::prefersDedicatedAllocation`.
    pub prefers_dedicated: bool,
    /// `VkMemoryDedicatedRequirements::requiresDedicatedAllocation`.
    pub requires_dedicated: bool,
    /// The usage it is allocated with.
    pub usage: Usage,
}

/// A resource of the probe's list that the device cannot create.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// As in [`Resource::name`].
    pub name: String,
    /// Why (the format, extent, mip, layer or sample limit it exceeds).
    pub why: String,
}

impl Fixture {
    /// Reads a fixture from JSON text and checks it ([`Fixture::check`]).
    pub fn parse(text: &str) -> Result<Self, String> {
        let fixture: Fixture = serde_json::from_str(text).map_err(|e| e.to_string())?;
        fixture.check()?;
        Ok(fixture)
    }

    /// What every fixture must be: this format; at least one resource; every
    /// resource with a non-zero size, a power-of-two alignment and non-zero
    /// `memoryTypeBits` naming only memory types the file lists; every memory
    /// type on a listed heap.
    pub fn check(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!(
                "format {} (this build reads {FORMAT})",
                self.format
            ));
        }
        if self.resources.is_empty() {
            return Err("no resources".into());
        }
        let types = self.memory_types.len();
        if types == 0 || types > 32 {
            return Err(format!("{types} memory types"));
        }
        for (i, t) in self.memory_types.iter().enumerate() {
            if t.heap as usize >= self.memory_heaps.len() {
                return Err(format!("memory type {i} on heap {}, not listed", t.heap));
            }
        }
        let listed = if types == 32 {
            u32::MAX
        } else {
            (1u32 << types) - 1
        };
        for r in &self.resources {
            let bad = if r.size == 0 {
                Some("size 0".to_string())
            } else if !r.alignment.is_power_of_two() {
                Some(format!("alignment {} is not a power of two", r.alignment))
            } else if r.memory_type_bits == 0 {
                Some("memoryTypeBits 0".to_string())
            } else if r.memory_type_bits & !listed != 0 {
                Some(format!(
                    "memoryTypeBits {:#x} names a type past the {types} listed",
                    r.memory_type_bits
                ))
            } else {
                None
            };
            if let Some(bad) = bad {
                return Err(format!("{}: {bad}", r.name));
            }
        }
        Ok(())
    }
}

/// A fixture and the name its traces go by (the file name without `.json`).
#[derive(Clone, Debug)]
pub struct Named {
    /// `lavapipe` for `lavapipe.json`.
    pub name: String,
    /// The requirements.
    pub fixture: Fixture,
}

/// Reads and checks one fixture file.
pub fn load(path: &Path) -> Result<Named, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let fixture = Fixture::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Ok(Named { name, fixture })
}

/// The `.json` files of `dir`, sorted by name (so that runs are in one order).
pub fn files_in(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.extension().is_some_and(|x| x == "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The fixtures named on the command line, or else every file of [`DIR`].
pub fn load_all(files: &[String]) -> Result<Vec<Named>, String> {
    let paths = if files.is_empty() {
        files_in(Path::new(DIR))?
    } else {
        files.iter().map(PathBuf::from).collect()
    };
    paths.iter().map(|p| load(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every fixture in the folder parses and passes [`Fixture::check`]; and,
    /// spelled out here as well: every alignment is a power of two and every
    /// `memoryTypeBits` is non-zero. The folder holds at least lavapipe's.
    #[test]
    fn fixtures_parse() {
        let all = load_all(&[]).expect("the fixtures load");
        assert!(
            all.iter().any(|f| f.name == "lavapipe"),
            "no lavapipe.json in {DIR}"
        );
        for f in &all {
            assert!(!f.fixture.resources.is_empty(), "{}: no resources", f.name);
            for r in &f.fixture.resources {
                assert!(r.alignment.is_power_of_two(), "{}: {}", f.name, r.name);
                assert_ne!(r.memory_type_bits, 0, "{}: {}", f.name, r.name);
                assert!(r.size > 0 && r.nominal_size > 0, "{}: {}", f.name, r.name);
            }
        }
    }

    fn one() -> Fixture {
        let text = std::fs::read_to_string(Path::new(DIR).join("lavapipe.json")).expect("read");
        Fixture::parse(&text).expect("lavapipe.json parses")
    }

    /// What `check` refuses, each on its own.
    #[test]
    fn check_refuses() {
        /// What breaks the fixture, and the words of the refusal.
        type Case = (&'static str, fn(&mut Fixture));
        let cases: [Case; 6] = [
            ("alignment 48 is not a power of two", |f| {
                f.resources[0].alignment = 48
            }),
            ("alignment 0 is not a power of two", |f| {
                f.resources[0].alignment = 0
            }),
            ("memoryTypeBits 0", |f| f.resources[0].memory_type_bits = 0),
            ("size 0", |f| f.resources[0].size = 0),
            ("names a type past", |f| {
                f.resources[0].memory_type_bits = 1 << f.memory_types.len()
            }),
            ("format 2", |f| f.format = 2),
        ];
        assert_eq!(one().check(), Ok(()));
        for (message, break_it) in cases {
            let mut f = one();
            break_it(&mut f);
            match f.check() {
                Err(e) => assert!(e.contains(message), "{message}: {e}"),
                Ok(()) => panic!("{message}: accepted"),
            }
        }
    }
}
