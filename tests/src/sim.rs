//! A simulated device that implements [`MemoryDevice`] for any [`Layout`] and
//! checks every rule the allocator must keep.
//!
//! - Memory objects are [`SimMemory`] handles with a process-wide unique id.
//! - Host-visible memory is backed by real, zeroed bytes (allocated on first use,
//!   so large objects that are never touched cost nothing), so data written
//!   through a mapping reads back.
//! - Memory types without `HOST_COHERENT` are simulated as truly non-coherent:
//!   the host writes to one copy and the "device" sees another, and only
//!   `flush_memory_ranges` / `invalidate_memory_ranges` move bytes between them.
//!   A missing or misplaced flush therefore corrupts data visibly.
//! - Every rule of the `# Safety` lists of [`MemoryDevice`] is checked. A broken
//!   rule is recorded as a [`Violation`] and, unless disabled with
//!   [`SimDevice::with_panic_on_violation`], panics with a message that names the
//!   rule.
//! - [`Faults`] injects `allocate_memory` and `map_memory` failures,
//!   deterministically for a seed.

mod fault;
mod layout;

pub use self::{
    fault::Faults,
    layout::{HeapLayout, Layout, LayoutError, TypeLayout, DEVICES_DIR},
};

use {
    gpu_alloc_types::{
        AllocateInfo, AllocationFlags, AllocationSupport, DedicatedResource, DeviceMapError,
        DeviceProperties, ExtendedProperties, HeapBudget, MappedMemoryRange, MemoryDevice,
        MemoryPropertyFlags, OutOfMemory,
    },
    std::{
        collections::{BTreeMap, BTreeSet},
        fmt,
        ptr::NonNull,
        sync::{
            atomic::{AtomicU64, Ordering},
            Mutex, MutexGuard, PoisonError,
        },
    },
};

/// Source of memory object ids, shared by every simulated device so that an
/// object of one device is never mistaken for an object of another.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Alignment of the bytes behind a mapping (Vulkan guarantees at least
/// `minMemoryMapAlignment`, 64 on every known driver; a page is stricter).
const BACKING_ALIGN: usize = 4096;

/// A memory object of a [`SimDevice`].
///
/// Deliberately not `Clone`: the allocator must not duplicate memory handles.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SimMemory {
    id: u64,
    memory_type: u32,
    size: u64,
}

impl SimMemory {
    /// Unique id of the object (unique across every simulated device).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Index of the memory type the object was allocated from.
    pub fn memory_type(&self) -> u32 {
        self.memory_type
    }

    /// Size of the object in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
}

/// A rule of the [`MemoryDevice`] contract that a caller broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The device method that was called.
    pub call: &'static str,
    /// Which rule was broken, with the values involved.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.call, self.message)
    }
}

/// Call counters of a [`SimDevice`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Calls to `allocate_memory`, failed ones included.
    pub allocate_calls: u64,
    /// Calls to `allocate_memory` that returned a memory object.
    pub allocations: u64,
    /// `allocate_memory` calls failed by [`Faults`].
    pub injected_alloc_failures: u64,
    /// Of `injected_alloc_failures`, those drawn by [`Faults::alloc_rate`] (the
    /// others were forced by [`Faults::fail_next_allocs`]).
    pub rate_alloc_failures: u64,
    /// `allocate_memory` calls failed because a heap reached the capacity set
    /// with [`SimDevice::set_heap_capacity`].
    pub capacity_failures: u64,
    /// Calls to `deallocate_memory`.
    pub deallocate_calls: u64,
    /// Calls to `map_memory`, failed ones included.
    pub map_calls: u64,
    /// `map_memory` calls failed by [`Faults`].
    pub injected_map_failures: u64,
    /// Of `injected_map_failures`, those drawn by [`Faults::map_rate`] (the
    /// others were forced by [`Faults::fail_next_maps`]).
    pub rate_map_failures: u64,
    /// Calls to `unmap_memory`.
    pub unmap_calls: u64,
    /// Calls to `flush_memory_ranges`.
    pub flush_calls: u64,
    /// Calls to `invalidate_memory_ranges`.
    pub invalidate_calls: u64,
    /// Calls to `memory_budget`.
    pub budget_calls: u64,
    /// `map_memory`, `flush_memory_ranges` and `invalidate_memory_ranges` calls
    /// that failed with `OutOfHostMemory`: the host could not back the object.
    pub backing_failures: u64,
    /// Most memory objects alive at once.
    pub peak_live_objects: u64,
}

/// A live memory object, as [`SimDevice::live_objects`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveObject {
    /// Unique id (see [`SimMemory::id`]).
    pub id: u64,
    /// Memory type index.
    pub memory_type: u32,
    /// Heap index.
    pub heap: u32,
    /// Size in bytes.
    pub size: u64,
    /// Flags it was allocated with.
    pub flags: AllocationFlags,
    /// `(offset, size)` of the current mapping, if mapped.
    pub mapped: Option<(u64, u64)>,
    /// What it was allocated with beyond size, type and flags (through
    /// `allocate_memory_with`; flags as above).
    pub info: AllocateInfo,
}

/// A buffer or image of the simulated device, made by
/// [`SimDevice::create_resource`]: what a dedicated allocation is checked
/// against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimResource {
    /// The handle the allocator is given.
    pub handle: DedicatedResource,
    /// Its memory requirements' size: a dedicated object must be exactly this.
    pub size: u64,
    /// Its memory requirements' memory types.
    pub memory_types: u32,
}

/// Zeroed bytes owned by the device, freed on drop.
///
/// Allocated with the system allocator's natural alignment and aligned by hand:
/// `alloc_zeroed` with an alignment above the natural one writes every byte,
/// while the natural one uses `calloc`, which leaves large untouched allocations
/// to the OS's lazily committed zero pages.
struct Backing {
    /// The allocation: `len + BACKING_ALIGN` bytes, alignment [`NATURAL_ALIGN`].
    base: NonNull<u8>,
    /// The first [`BACKING_ALIGN`]-aligned byte of the allocation; `len` bytes
    /// follow it inside the allocation.
    ptr: NonNull<u8>,
    len: usize,
}

/// An alignment every system allocator gives without extra work.
const NATURAL_ALIGN: usize = 8;

// SAFETY: `Backing` owns its allocation exclusively, like a `Box<[u8]>`; the
// pointer is dereferenced by the device only while it holds its state mutex, and
// by the holder of a mapping under the `MemoryDevice` contract.
unsafe impl Send for Backing {}

impl Backing {
    /// Allocates `len` zeroed bytes; `None` if the host cannot.
    fn zeroed(len: u64) -> Option<Backing> {
        let len = usize::try_from(len).ok().filter(|&len| len > 0)?;
        let layout = Backing::layout(len)?;
        // SAFETY: `layout` has a non-zero size (filtered above).
        let base = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
        let pad = base.as_ptr().align_offset(BACKING_ALIGN);
        assert!(
            pad < BACKING_ALIGN,
            "aligning a byte pointer always succeeds"
        );
        // SAFETY: `pad + len < BACKING_ALIGN + len`, the allocation's size.
        let ptr = unsafe { base.add(pad) };
        Some(Backing { base, ptr, len })
    }

    fn layout(len: usize) -> Option<std::alloc::Layout> {
        let size = len.checked_add(BACKING_ALIGN)?;
        std::alloc::Layout::from_size_align(size, NATURAL_ALIGN).ok()
    }

    /// Pointer to byte `offset`.
    ///
    /// # Panics
    ///
    /// If `offset > len`.
    fn at(&self, offset: u64) -> *mut u8 {
        let offset = usize::try_from(offset).expect("offset fits usize");
        assert!(
            offset <= self.len,
            "offset {offset} past {} bytes",
            self.len
        );
        // SAFETY: `offset <= len`, so the result is inside the allocation or one
        // past its end.
        unsafe { self.ptr.as_ptr().add(offset) }
    }
}

impl Drop for Backing {
    fn drop(&mut self) {
        let layout = Backing::layout(self.len).expect("layout was valid at allocation");
        // SAFETY: `base` was returned by `alloc_zeroed` with this same layout and
        // is freed only here.
        unsafe { std::alloc::dealloc(self.base.as_ptr(), layout) }
    }
}

/// Copies `len` bytes at `offset` from one backing to another.
fn copy_between(from: &Backing, to: &Backing, offset: u64, len: u64) {
    let end = offset.checked_add(len).expect("range overflows");
    assert!(end <= from.len as u64 && end <= to.len as u64);
    let len = usize::try_from(len).expect("len fits usize");
    // SAFETY: both ranges lie inside their allocations (asserted above), and two
    // distinct allocations never overlap.
    unsafe { std::ptr::copy_nonoverlapping(from.at(offset), to.at(offset), len) }
}

/// A mapped range of a memory object.
#[derive(Clone, Copy, Debug)]
struct Mapping {
    offset: u64,
    size: u64,
}

/// A live memory object.
struct Object {
    memory_type: u32,
    heap: u32,
    size: u64,
    flags: AllocationFlags,
    info: AllocateInfo,
    mapping: Option<Mapping>,
    /// What the host sees through mappings; for coherent and device-only types
    /// also what the device sees. Allocated on first use.
    host: Option<Backing>,
    /// For host-visible types without `HOST_COHERENT`: what the device sees.
    /// Allocated together with `host`.
    device: Option<Backing>,
}

impl Object {
    /// Allocates the backing bytes if they are not there yet.
    fn ensure_backing(&mut self, coherent: bool) -> bool {
        if self.host.is_none() {
            self.host = Backing::zeroed(self.size);
            if self.host.is_none() {
                return false;
            }
        }
        if !coherent && self.device.is_none() {
            self.device = Backing::zeroed(self.size);
            if self.device.is_none() {
                return false;
            }
        }
        true
    }

    /// The bytes the device sees.
    fn device_view(&self) -> Option<&Backing> {
        self.device.as_ref().or(self.host.as_ref())
    }

    fn live(&self, id: u64) -> LiveObject {
        LiveObject {
            id,
            memory_type: self.memory_type,
            heap: self.heap,
            size: self.size,
            flags: self.flags,
            mapped: self.mapping.map(|m| (m.offset, m.size)),
            info: self.info,
        }
    }
}

/// Mutable state of a device, behind its mutex.
struct State {
    objects: BTreeMap<u64, Object>,
    /// Ids of objects this device allocated and freed (to tell a double free from
    /// a free of an unknown object).
    freed: BTreeSet<u64>,
    heap_usage: Vec<u64>,
    /// Bytes a heap can hold before `allocate_memory` reports
    /// `OutOfDeviceMemory` (a legal failure, unlike going past the heap size).
    heap_capacity: Vec<u64>,
    /// Budgets that `memory_budget` reports; `usage` excludes this device's
    /// own live objects, which are added on report.
    budgets: Option<Vec<HeapBudget>>,
    faults: Faults,
    stats: Stats,
    violations: Vec<Violation>,
    /// Resources by handle, with the memory object dedicated to each, if any.
    resources: BTreeMap<DedicatedResource, (SimResource, Option<u64>)>,
}

/// A simulated device for one [`Layout`]. See the [module docs](self).
pub struct SimDevice {
    layout: Layout,
    panic_on_violation: bool,
    /// What `allocation_support` reports (nothing by default).
    support: AllocationSupport,
    state: Mutex<State>,
}

impl fmt::Debug for SimDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("SimDevice")
            .field("layout", &self.layout.name)
            .field("live_objects", &state.objects.len())
            .field("heap_usage", &state.heap_usage)
            .field("violations", &state.violations.len())
            .finish()
    }
}

impl SimDevice {
    /// A device with the given layout, no injected faults, panicking on any
    /// broken rule.
    pub fn new(layout: Layout) -> Self {
        let heaps = layout.memory_heaps.len();
        let state = State {
            objects: BTreeMap::new(),
            freed: BTreeSet::new(),
            heap_usage: vec![0; heaps],
            heap_capacity: layout.memory_heaps.iter().map(|h| h.size).collect(),
            budgets: layout.heap_budgets(),
            faults: Faults::none(),
            stats: Stats::default(),
            violations: Vec::new(),
            resources: BTreeMap::new(),
        };
        SimDevice {
            layout,
            panic_on_violation: true,
            support: AllocationSupport::NONE,
            state: Mutex::new(state),
        }
    }

    /// A device that reports `support` and checks that every
    /// `allocate_memory_with` asks for no more (and honours all of it).
    pub fn with_allocation_support(mut self, support: AllocationSupport) -> Self {
        self.support = support;
        self
    }

    /// Creates a buffer (`image == false`) or an image whose memory
    /// requirements are `size` bytes in `memory_types`: a resource a
    /// dedicated allocation may name.
    pub fn create_resource(&self, image: bool, size: u64, memory_types: u32) -> SimResource {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let handle = if image {
            DedicatedResource::Image(id)
        } else {
            DedicatedResource::Buffer(id)
        };
        let resource = SimResource {
            handle,
            size,
            memory_types,
        };
        self.lock().resources.insert(handle, (resource, None));
        resource
    }

    /// The memory object dedicated to a resource, if any.
    pub fn dedicated_object(&self, resource: DedicatedResource) -> Option<u64> {
        self.lock()
            .resources
            .get(&resource)
            .and_then(|(_, object)| *object)
    }

    /// Whether a broken rule panics (the default) or is only recorded. Record-only
    /// mode answers a broken rule the way a forgiving driver might: the call fails
    /// (`allocate_memory`, `map_memory`) or does nothing.
    pub fn with_panic_on_violation(mut self, panic: bool) -> Self {
        self.panic_on_violation = panic;
        self
    }

    /// With these injected faults.
    pub fn with_faults(self, faults: Faults) -> Self {
        self.set_faults(faults);
        self
    }

    /// The layout the device simulates.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The device properties to create an allocator with.
    pub fn properties(&self) -> DeviceProperties<'static> {
        self.layout.device_properties()
    }

    /// The extended properties to create an allocator with.
    pub fn extended_properties(&self) -> ExtendedProperties<'static> {
        self.layout.extended_properties()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic on a broken rule may poison the mutex; the state itself stays
        // consistent because every check runs before any change.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a broken rule and panics unless disabled (or already panicking,
    /// so that a rule broken during unwinding does not abort the process).
    fn violation(&self, call: &'static str, message: String) {
        let violation = Violation { call, message };
        self.lock().violations.push(violation.clone());
        if self.panic_on_violation && !std::thread::panicking() {
            panic!(
                "simulated device `{}`: rule broken: {violation}",
                self.layout.name
            );
        }
    }

    // ---- configuration -------------------------------------------------------

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// Changes the failure rates, keeping the random stream.
    pub fn set_fault_rates(&self, alloc_rate: f64, map_rate: f64) {
        let mut state = self.lock();
        state.faults.alloc_rate = alloc_rate;
        state.faults.map_rate = map_rate;
    }

    /// Fails the next `n` calls to `allocate_memory`.
    pub fn fail_next_allocs(&self, n: u32) {
        self.lock().faults.fail_next_allocs = n;
    }

    /// Fails the next `n` calls to `map_memory`.
    pub fn fail_next_maps(&self, n: u32) {
        self.lock().faults.fail_next_maps = n;
    }

    /// Makes `allocate_memory` report `OutOfDeviceMemory` (a legal answer) once
    /// `heap` would hold more than `bytes`; by default a heap's capacity is its
    /// size, and asking past the size is a broken rule.
    pub fn set_heap_capacity(&self, heap: u32, bytes: u64) {
        self.lock().heap_capacity[heap as usize] = bytes;
    }

    /// Sets what `memory_budget` reports: `None` behaves as a device without
    /// `VK_EXT_memory_budget`. Each `usage` is what other users hold; the device
    /// adds its live objects to it.
    pub fn set_budgets(&self, budgets: Option<Vec<HeapBudget>>) {
        if let Some(budgets) = &budgets {
            assert_eq!(budgets.len(), self.layout.memory_heaps.len());
        }
        self.lock().budgets = budgets;
    }

    // ---- introspection -------------------------------------------------------

    /// Number of live memory objects.
    pub fn live_count(&self) -> usize {
        self.lock().objects.len()
    }

    /// Bytes of live memory objects in `heap`.
    pub fn heap_usage(&self, heap: u32) -> u64 {
        self.lock().heap_usage[heap as usize]
    }

    /// Bytes of live memory objects in every heap.
    pub fn heap_usages(&self) -> Vec<u64> {
        self.lock().heap_usage.clone()
    }

    /// Every live memory object, by id.
    pub fn live_objects(&self) -> Vec<LiveObject> {
        let state = self.lock();
        state
            .objects
            .iter()
            .map(|(&id, object)| object.live(id))
            .collect()
    }

    /// The live object with this id, if any.
    pub fn object(&self, id: u64) -> Option<LiveObject> {
        self.lock().objects.get(&id).map(|object| object.live(id))
    }

    /// Call counters.
    pub fn stats(&self) -> Stats {
        self.lock().stats
    }

    /// Every broken rule seen so far.
    pub fn violations(&self) -> Vec<Violation> {
        self.lock().violations.clone()
    }

    /// Number of broken rules seen so far.
    pub fn violation_count(&self) -> usize {
        self.lock().violations.len()
    }

    /// Panics if any rule was broken.
    pub fn assert_no_violations(&self) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "simulated device `{}`: {} rule(s) broken: {violations:#?}",
            self.layout.name,
            violations.len()
        );
    }

    /// Panics if any rule was broken or any memory object is alive.
    pub fn assert_clean(&self) {
        self.assert_no_violations();
        let live = self.live_objects();
        assert!(
            live.is_empty(),
            "simulated device `{}`: {} memory object(s) leaked: {live:#?}",
            self.layout.name,
            live.len()
        );
    }

    // ---- the simulated GPU ---------------------------------------------------

    /// Reads bytes as the device sees them (for non-coherent types: what was
    /// flushed, not what the host wrote since).
    ///
    /// # Panics
    ///
    /// If `memory` is not alive on this device or the range is outside it.
    pub fn device_read(&self, memory: &SimMemory, offset: u64, len: u64) -> Vec<u8> {
        let mut state = self.lock();
        let coherent = self.coherent(memory.memory_type);
        let object = state
            .objects
            .get_mut(&memory.id)
            .unwrap_or_else(|| panic!("device_read: memory object {} is not alive", memory.id));
        assert!(
            offset
                .checked_add(len)
                .is_some_and(|end| end <= object.size),
            "device_read: {offset}+{len} outside the object of {} bytes",
            object.size
        );
        let mut out = vec![0u8; usize::try_from(len).expect("len fits usize")];
        if len > 0 {
            assert!(object.ensure_backing(coherent), "out of host memory");
            let view = object.device_view().expect("backing allocated");
            // SAFETY: the range is inside the object (asserted) and `out` is a
            // fresh buffer of `len` bytes.
            unsafe { std::ptr::copy_nonoverlapping(view.at(offset), out.as_mut_ptr(), out.len()) }
        }
        out
    }

    /// Writes bytes as the device would (for non-coherent types the host sees
    /// them only after `invalidate_memory_ranges`).
    ///
    /// # Panics
    ///
    /// If `memory` is not alive on this device or the range is outside it.
    pub fn device_write(&self, memory: &SimMemory, offset: u64, data: &[u8]) {
        let mut state = self.lock();
        let coherent = self.coherent(memory.memory_type);
        let object = state
            .objects
            .get_mut(&memory.id)
            .unwrap_or_else(|| panic!("device_write: memory object {} is not alive", memory.id));
        assert!(
            offset
                .checked_add(data.len() as u64)
                .is_some_and(|end| end <= object.size),
            "device_write: {offset}+{} outside the object of {} bytes",
            data.len(),
            object.size
        );
        if !data.is_empty() {
            assert!(object.ensure_backing(coherent), "out of host memory");
            let view = object.device_view().expect("backing allocated");
            // SAFETY: the range is inside the object (asserted) and `data` is a
            // separate buffer.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), view.at(offset), data.len()) }
        }
    }

    // ---- rules ---------------------------------------------------------------

    fn type_props(&self, memory_type: u32) -> MemoryPropertyFlags {
        MemoryPropertyFlags::from_bits_retain(self.layout.type_flags(memory_type) as u8)
    }

    fn coherent(&self, memory_type: u32) -> bool {
        let props = self.type_props(memory_type);
        props.contains(MemoryPropertyFlags::HOST_COHERENT)
            || !props.contains(MemoryPropertyFlags::HOST_VISIBLE)
    }

    fn check_allocate(
        &self,
        state: &State,
        size: u64,
        memory_type: u32,
        flags: AllocationFlags,
    ) -> Result<(), String> {
        let layout = &self.layout;
        if memory_type as usize >= layout.memory_types.len() {
            return Err(format!(
                "memory type index {memory_type} out of range (device has {} types)",
                layout.memory_types.len()
            ));
        }
        if size == 0 {
            return Err("size is zero".to_owned());
        }
        if size > layout.max_memory_allocation_size {
            return Err(format!(
                "size {size} exceeds max_memory_allocation_size {}",
                layout.max_memory_allocation_size
            ));
        }
        if flags.contains(AllocationFlags::DEVICE_ADDRESS) && !layout.buffer_device_address {
            return Err("DEVICE_ADDRESS flag but buffer_device_address is not enabled".to_owned());
        }
        if !AllocationFlags::all().contains(flags) {
            return Err(format!("unknown allocation flags {:#x}", flags.bits()));
        }
        let live = state.objects.len() as u64;
        if live >= u64::from(layout.max_memory_allocation_count) {
            return Err(format!(
                "{live} memory objects alive already, max_memory_allocation_count is {}",
                layout.max_memory_allocation_count
            ));
        }
        let heap = layout.type_heap(memory_type) as usize;
        let heap_size = layout.memory_heaps[heap].size;
        let used = state.heap_usage[heap];
        if used
            .checked_add(size)
            .map_or(true, |total| total > heap_size)
        {
            return Err(format!(
                "heap {heap} would hold {used} + {size} bytes, more than its size {heap_size}"
            ));
        }
        Ok(())
    }

    /// Checks one flush or invalidate range.
    fn check_range(
        &self,
        state: &State,
        range: &MappedMemoryRange<'_, SimMemory>,
    ) -> Result<(), String> {
        let id = range.memory.id;
        let Some(object) = state.objects.get(&id) else {
            return Err(self.unknown(state, id));
        };
        let Some(mapping) = object.mapping else {
            return Err(format!("memory object {id} is not mapped"));
        };
        let (offset, size) = (range.offset, range.size);
        let inside = offset >= mapping.offset
            && offset
                .checked_add(size)
                .is_some_and(|end| end <= mapping.offset + mapping.size);
        if !inside {
            return Err(format!(
                "range {offset}+{size} of object {id} is outside its mapping {}+{}",
                mapping.offset, mapping.size
            ));
        }
        if !self.coherent(object.memory_type) {
            let atom = self.layout.non_coherent_atom_size;
            if offset % atom != 0 {
                return Err(format!(
                    "range offset {offset} of non-coherent object {id} is not a multiple of \
                     non_coherent_atom_size {atom}"
                ));
            }
            if size % atom != 0 && offset + size != object.size {
                return Err(format!(
                    "range size {size} (offset {offset}) of non-coherent object {id} is not a \
                     multiple of non_coherent_atom_size {atom} and does not reach the end of the \
                     object ({} bytes)",
                    object.size
                ));
            }
        }
        Ok(())
    }

    /// Describes why `id` is not a live object of this device.
    fn unknown(&self, state: &State, id: u64) -> String {
        if state.freed.contains(&id) {
            format!("memory object {id} was freed already")
        } else {
            format!("memory object {id} was not allocated by this device")
        }
    }

    /// Checks and applies a flush (`to_device`) or invalidate.
    fn sync_ranges(
        &self,
        call: &'static str,
        ranges: &[MappedMemoryRange<'_, SimMemory>],
        to_device: bool,
    ) -> Result<(), OutOfMemory> {
        let mut state = self.lock();
        if to_device {
            state.stats.flush_calls += 1;
        } else {
            state.stats.invalidate_calls += 1;
        }
        for range in ranges {
            if let Err(message) = self.check_range(&state, range) {
                drop(state);
                self.violation(call, message);
                return Ok(());
            }
        }
        for range in ranges {
            let object = state
                .objects
                .get_mut(&range.memory.id)
                .expect("checked above");
            if self.coherent(object.memory_type) || range.size == 0 {
                continue;
            }
            if !object.ensure_backing(false) {
                state.stats.backing_failures += 1;
                return Err(OutOfMemory::OutOfHostMemory);
            }
            let host = object.host.as_ref().expect("allocated");
            let device = object.device.as_ref().expect("allocated");
            if to_device {
                copy_between(host, device, range.offset, range.size);
            } else {
                copy_between(device, host, range.offset, range.size);
            }
        }
        Ok(())
    }
}

impl SimDevice {
    /// An object of `size` bytes of `memory_type`, allocated with `info`
    /// (checked by the caller against the device's support).
    fn allocate(
        &self,
        size: u64,
        memory_type: u32,
        info: AllocateInfo,
    ) -> Result<SimMemory, OutOfMemory> {
        let mut state = self.lock();
        state.stats.allocate_calls += 1;
        if let Err(message) = self.check_allocate(&state, size, memory_type, info.flags) {
            drop(state);
            self.violation("allocate_memory", message);
            return Err(OutOfMemory::OutOfDeviceMemory);
        }
        let forced = state.faults.fail_next_allocs > 0;
        if let Some(error) = state.faults.alloc_fails() {
            state.stats.injected_alloc_failures += 1;
            state.stats.rate_alloc_failures += u64::from(!forced);
            return Err(error);
        }
        let heap = self.layout.type_heap(memory_type);
        let used = state.heap_usage[heap as usize];
        if used
            .checked_add(size)
            .map_or(true, |total| total > state.heap_capacity[heap as usize])
        {
            state.stats.capacity_failures += 1;
            return Err(OutOfMemory::OutOfDeviceMemory);
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        state.heap_usage[heap as usize] += size;
        state.objects.insert(
            id,
            Object {
                memory_type,
                heap,
                size,
                flags: info.flags,
                info,
                mapping: None,
                host: None,
                device: None,
            },
        );
        state.stats.allocations += 1;
        state.stats.peak_live_objects = state
            .stats
            .peak_live_objects
            .max(state.objects.len() as u64);
        Ok(SimMemory {
            id,
            memory_type,
            size,
        })
    }
}

impl MemoryDevice<SimMemory> for SimDevice {
    unsafe fn allocate_memory(
        &self,
        size: u64,
        memory_type: u32,
        flags: AllocationFlags,
    ) -> Result<SimMemory, OutOfMemory> {
        self.allocate(size, memory_type, AllocateInfo::new(flags))
    }

    fn allocation_support(&self) -> AllocationSupport {
        self.support
    }

    unsafe fn allocate_memory_with(
        &self,
        size: u64,
        memory_type: u32,
        info: &AllocateInfo,
    ) -> Result<SimMemory, OutOfMemory> {
        if !info.is_supported_by(&self.support) {
            self.violation(
                "allocate_memory_with",
                format!(
                    "{info:?} asks for more than the device supports ({:?})",
                    self.support
                ),
            );
            return Err(OutOfMemory::OutOfDeviceMemory);
        }
        if let Some(resource) = info.dedicated {
            let state = self.lock();
            let message = match state.resources.get(&resource) {
                None => Some(format!("dedicated to {resource:?}, which the device never made")),
                Some((_, Some(object))) => Some(format!(
                    "dedicated to {resource:?}, which memory object {object} is dedicated to already"
                )),
                Some((r, None)) if r.size != size => Some(format!(
                    "dedicated to {resource:?} of {} bytes, but the object is {size} bytes",
                    r.size
                )),
                Some((r, None)) if r.memory_types & (1 << memory_type) == 0 => Some(format!(
                    "dedicated to {resource:?}, whose memory types {:#b} exclude type {memory_type}",
                    r.memory_types
                )),
                Some(_) => None,
            };
            drop(state);
            if let Some(message) = message {
                self.violation("allocate_memory_with", message);
                return Err(OutOfMemory::OutOfDeviceMemory);
            }
        }
        let memory = self.allocate(size, memory_type, *info)?;
        if let Some(resource) = info.dedicated {
            let mut state = self.lock();
            if let Some((_, object)) = state.resources.get_mut(&resource) {
                *object = Some(memory.id);
            }
        }
        Ok(memory)
    }

    unsafe fn deallocate_memory(&self, memory: SimMemory) {
        let mut state = self.lock();
        state.stats.deallocate_calls += 1;
        let id = memory.id;
        let message = match state.objects.get(&id) {
            None => Some(self.unknown(&state, id)),
            Some(object)
                if object.memory_type != memory.memory_type || object.size != memory.size =>
            {
                Some(format!(
                    "handle of object {id} says type {} size {}, the object is type {} size {}",
                    memory.memory_type, memory.size, object.memory_type, object.size
                ))
            }
            Some(_) => None,
        };
        if let Some(message) = message {
            drop(state);
            self.violation("deallocate_memory", message);
            return;
        }
        let object = state.objects.remove(&id).expect("checked above");
        state.heap_usage[object.heap as usize] -= object.size;
        state.freed.insert(id);
        if let Some(resource) = object.info.dedicated {
            if let Some((_, dedicated)) = state.resources.get_mut(&resource) {
                *dedicated = None;
            }
        }
    }

    unsafe fn map_memory(
        &self,
        memory: &mut SimMemory,
        offset: u64,
        size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError> {
        let mut state = self.lock();
        state.stats.map_calls += 1;
        let id = memory.id;
        let check = match state.objects.get(&id) {
            None => Err(self.unknown(&state, id)),
            Some(object) => {
                if !self
                    .type_props(object.memory_type)
                    .contains(MemoryPropertyFlags::HOST_VISIBLE)
                {
                    Err(format!(
                        "memory object {id} has memory type {} which is not HOST_VISIBLE",
                        object.memory_type
                    ))
                } else if let Some(m) = object.mapping {
                    Err(format!(
                        "memory object {id} is mapped already (at {}+{})",
                        m.offset, m.size
                    ))
                } else if size == 0 {
                    Err(format!("mapping zero bytes of memory object {id}"))
                } else if offset
                    .checked_add(size)
                    .map_or(true, |end| end > object.size)
                {
                    Err(format!(
                        "mapping {offset}+{size} of memory object {id} which has {} bytes",
                        object.size
                    ))
                } else {
                    Ok(())
                }
            }
        };
        if let Err(message) = check {
            drop(state);
            self.violation("map_memory", message);
            return Err(DeviceMapError::MapFailed);
        }
        let forced = state.faults.fail_next_maps > 0;
        if let Some(error) = state.faults.map_fails() {
            state.stats.injected_map_failures += 1;
            state.stats.rate_map_failures += u64::from(!forced);
            return Err(error);
        }
        let coherent = self.coherent(memory.memory_type);
        let object = state.objects.get_mut(&id).expect("checked above");
        if !object.ensure_backing(coherent) {
            state.stats.backing_failures += 1;
            return Err(DeviceMapError::OutOfHostMemory);
        }
        object.mapping = Some(Mapping { offset, size });
        let ptr = object.host.as_ref().expect("allocated").at(offset);
        Ok(NonNull::new(ptr).expect("pointer into an allocation is not null"))
    }

    unsafe fn unmap_memory(&self, memory: &mut SimMemory) {
        let mut state = self.lock();
        state.stats.unmap_calls += 1;
        let id = memory.id;
        let message = match state.objects.get_mut(&id) {
            Some(object) if object.mapping.is_some() => {
                object.mapping = None;
                None
            }
            Some(_) => Some(format!("unmapping memory object {id} which is not mapped")),
            None => Some(self.unknown(&state, id)),
        };
        if let Some(message) = message {
            drop(state);
            self.violation("unmap_memory", message);
        }
    }

    unsafe fn invalidate_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, SimMemory>],
    ) -> Result<(), OutOfMemory> {
        self.sync_ranges("invalidate_memory_ranges", ranges, false)
    }

    unsafe fn flush_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, SimMemory>],
    ) -> Result<(), OutOfMemory> {
        self.sync_ranges("flush_memory_ranges", ranges, true)
    }

    fn memory_budget(&self, budgets: &mut [HeapBudget]) -> bool {
        let mut state = self.lock();
        state.stats.budget_calls += 1;
        let Some(base) = state.budgets.clone() else {
            return false;
        };
        if budgets.len() != base.len() {
            drop(state);
            self.violation(
                "memory_budget",
                format!("{} budget slots for {} heaps", budgets.len(), base.len()),
            );
            return false;
        }
        for ((slot, base), used) in budgets.iter_mut().zip(&base).zip(&state.heap_usage) {
            *slot = HeapBudget {
                budget: base.budget,
                usage: base.usage.saturating_add(*used),
            };
        }
        true
    }
}
