//! Device memory layouts read from the JSON fixtures in `tests/devices/`.
//!
//! The format is described in `tests/devices/README.md` (a copy of
//! `shared/devices/README.md`): one object per file with the heaps, the memory
//! types in index order and the limits the allocator must respect.

use {
    gpu_alloc_types::{
        DeviceProperties, ExtendedProperties, HeapBudget, MemoryHeapFlags, MemoryHeapInfo,
        MemoryTypeInfo,
    },
    serde::Deserialize,
    std::{
        borrow::Cow,
        fmt,
        path::{Path, PathBuf},
    },
};

/// The directory that holds the layout fixtures.
pub const DEVICES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/devices");

/// One memory heap of a layout.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct HeapLayout {
    /// Size of the heap in bytes.
    pub size: u64,
    /// `VkMemoryHeapFlags` bits.
    pub flags: u32,
    /// `heapBudget` from `VK_EXT_memory_budget`; 0 where the source has none.
    #[serde(default)]
    pub budget: u64,
    /// `heapUsage` from `VK_EXT_memory_budget` (memory other users already hold);
    /// 0 where the source has none.
    #[serde(default)]
    pub usage: u64,
}

/// One memory type of a layout.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct TypeLayout {
    /// Index of the heap the type draws from.
    pub heap: u32,
    /// `VkMemoryPropertyFlags` bits, including bits above the low byte.
    pub flags: u32,
}

/// A device memory layout: heaps, memory types and limits.
///
/// Every field is public so that a test can shrink a heap or a limit before it
/// builds a [`SimDevice`](super::SimDevice) from the layout.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Layout {
    /// File stem of the fixture (`nvidia-h200` for `nvidia-h200.json`); empty for
    /// layouts parsed from a string without a name.
    #[serde(skip)]
    pub name: String,
    /// Device name as the source reports it.
    pub device: String,
    /// Driver and API version.
    #[serde(default)]
    pub driver: String,
    /// Where the numbers come from.
    #[serde(default)]
    pub source: String,
    /// Memory heaps in index order.
    pub memory_heaps: Vec<HeapLayout>,
    /// Memory types in index order.
    pub memory_types: Vec<TypeLayout>,
    /// `nonCoherentAtomSize`.
    pub non_coherent_atom_size: u64,
    /// `bufferImageGranularity`.
    pub buffer_image_granularity: u64,
    /// `maxMemoryAllocationCount`.
    pub max_memory_allocation_count: u32,
    /// `maxMemoryAllocationSize`.
    pub max_memory_allocation_size: u64,
    /// Device extensions that concern memory, where the source lists them.
    #[serde(default)]
    pub memory_extensions: Vec<String>,
    /// Whether the simulated application enabled the buffer device address
    /// feature. Not part of the fixtures (it is an application choice); `false`
    /// unless a test sets it.
    #[serde(default)]
    pub buffer_device_address: bool,
}

/// Why a layout could not be loaded.
#[derive(Debug)]
pub enum LayoutError {
    /// The file could not be read.
    Io(PathBuf, std::io::Error),
    /// The JSON does not match the format.
    Json(String, serde_json::Error),
    /// The JSON parses but describes an impossible device.
    Invalid(String, String),
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::Io(path, err) => write!(f, "cannot read {}: {err}", path.display()),
            LayoutError::Json(name, err) => write!(f, "layout {name}: bad JSON: {err}"),
            LayoutError::Invalid(name, why) => write!(f, "layout {name}: {why}"),
        }
    }
}

impl std::error::Error for LayoutError {}

impl Layout {
    /// Parses a layout from JSON text and checks that it is consistent.
    pub fn parse(name: &str, json: &str) -> Result<Layout, LayoutError> {
        let mut layout: Layout =
            serde_json::from_str(json).map_err(|e| LayoutError::Json(name.to_owned(), e))?;
        layout.name = name.to_owned();
        layout
            .validate()
            .map_err(|why| LayoutError::Invalid(name.to_owned(), why))?;
        Ok(layout)
    }

    /// Loads one layout file. Its name is the file stem.
    pub fn load(path: impl AsRef<Path>) -> Result<Layout, LayoutError> {
        let path = path.as_ref();
        let json =
            std::fs::read_to_string(path).map_err(|e| LayoutError::Io(path.to_owned(), e))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Layout::parse(&name, &json)
    }

    /// Every fixture in `tests/devices/*.json`, sorted by name.
    ///
    /// # Panics
    ///
    /// If the directory cannot be read or a fixture is malformed: the fixtures are
    /// part of the test suite, so a broken one must fail loudly.
    pub fn all() -> Vec<Layout> {
        let dir = Path::new(DEVICES_DIR);
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot read layout directory {}: {e}", dir.display()));
        let mut paths: Vec<PathBuf> = entries
            .map(|entry| {
                entry
                    .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
                    .path()
            })
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        paths.sort();
        let layouts: Vec<Layout> = paths
            .iter()
            .map(|path| Layout::load(path).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        assert!(!layouts.is_empty(), "no layouts in {}", dir.display());
        layouts
    }

    /// The fixture `tests/devices/{name}.json`.
    ///
    /// # Panics
    ///
    /// If there is no such fixture or it is malformed.
    pub fn named(name: &str) -> Layout {
        Layout::load(Path::new(DEVICES_DIR).join(format!("{name}.json")))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Checks what the allocator and the simulated device take for granted.
    fn validate(&self) -> Result<(), String> {
        if self.memory_heaps.is_empty() || self.memory_heaps.len() > 16 {
            return Err(format!(
                "{} heaps (1 to 16 allowed)",
                self.memory_heaps.len()
            ));
        }
        if self.memory_types.is_empty() || self.memory_types.len() > 32 {
            return Err(format!(
                "{} memory types (1 to 32 allowed)",
                self.memory_types.len()
            ));
        }
        for (index, ty) in self.memory_types.iter().enumerate() {
            if ty.heap as usize >= self.memory_heaps.len() {
                return Err(format!("memory type {index} uses missing heap {}", ty.heap));
            }
        }
        for (name, value) in [
            ("non_coherent_atom_size", self.non_coherent_atom_size),
            ("buffer_image_granularity", self.buffer_image_granularity),
        ] {
            if !value.is_power_of_two() {
                return Err(format!("{name} = {value} is not a power of two"));
            }
        }
        if self.max_memory_allocation_count == 0 || self.max_memory_allocation_size == 0 {
            return Err("zero allocation limits".to_owned());
        }
        Ok(())
    }

    /// The memory types as [`MemoryTypeInfo`], all property bits kept.
    pub fn memory_type_infos(&self) -> Vec<MemoryTypeInfo> {
        self.memory_types
            .iter()
            .map(|t| MemoryTypeInfo {
                heap: t.heap,
                raw_flags: t.flags,
            })
            .collect()
    }

    /// The heaps as [`MemoryHeapInfo`].
    pub fn memory_heap_infos(&self) -> Vec<MemoryHeapInfo> {
        self.memory_heaps
            .iter()
            .map(|h| MemoryHeapInfo {
                size: h.size,
                flags: MemoryHeapFlags::from_bits_retain(h.flags),
            })
            .collect()
    }

    /// The extended properties of the layout (every property bit, heap flags,
    /// `buffer_image_granularity`).
    pub fn extended_properties(&self) -> ExtendedProperties<'static> {
        ExtendedProperties::new(
            Cow::Owned(self.memory_type_infos()),
            Cow::Owned(self.memory_heap_infos()),
            self.buffer_image_granularity,
        )
    }

    /// The device properties of the layout, built through
    /// [`ExtendedProperties::device_properties`] as the backends build theirs.
    pub fn device_properties(&self) -> DeviceProperties<'static> {
        self.extended_properties().device_properties(
            self.max_memory_allocation_count,
            self.max_memory_allocation_size,
            self.non_coherent_atom_size,
            self.buffer_device_address,
        )
    }

    /// The budgets of the heaps, if the layout has any non-zero `budget` or
    /// `usage` (otherwise the device behaves as without `VK_EXT_memory_budget`).
    pub fn heap_budgets(&self) -> Option<Vec<HeapBudget>> {
        let any = self
            .memory_heaps
            .iter()
            .any(|h| h.budget != 0 || h.usage != 0);
        any.then(|| {
            self.memory_heaps
                .iter()
                .map(|h| HeapBudget {
                    budget: h.budget,
                    usage: h.usage,
                })
                .collect()
        })
    }

    /// Property bits of memory type `index`.
    ///
    /// # Panics
    ///
    /// If there is no such type.
    pub fn type_flags(&self, index: u32) -> u32 {
        self.memory_types[index as usize].flags
    }

    /// Heap of memory type `index`.
    ///
    /// # Panics
    ///
    /// If there is no such type.
    pub fn type_heap(&self, index: u32) -> u32 {
        self.memory_types[index as usize].heap
    }

    /// The largest heap size, in bytes.
    pub fn largest_heap(&self) -> u64 {
        self.memory_heaps.iter().map(|h| h.size).max().unwrap_or(0)
    }
}
