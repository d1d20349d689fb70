//! The five tests of the backends' `dedicated.rs` suites (`ash/tests`,
//! `erupt/tests`), written once: what each allocates through a
//! [`GpuAllocator`] and a [`WithSupport`] declaring what the test device was
//! created with, and what it checks of the blocks, the statistics and the
//! bytes. Each backend implements [`DedicatedSuite`] with its API calls
//! (creating buffers and images, reading requirements2, binding, exporting and
//! importing an fd, destroying), opens its device and calls the test here of
//! the same name.
//!
//! Every test checks for Vulkan 1.1 first, and for the extension it needs,
//! and prints `skipped:` and the reason when the device lacks one.
//!
//! [`dedicated_tests!`](crate::dedicated_tests) writes the five `#[test]`
//! functions of a backend's suite; each opens the device through the
//! backend's function (which says `skipped: no Vulkan driver`, or fails under
//! `GPU_ALLOC_REQUIRE_VULKAN=1`) and runs the test here of its name.

use {
    gpu_alloc::{
        AllocOptions, Dedicated, GpuAllocator, MemoryBlock, Request, ResourceKind, TryAllocError,
        UsageFlags,
    },
    gpu_alloc_types::{
        AllocationSupport, DedicatedNeed, DedicatedResource, ExternalMemoryHandleTypes,
        MemoryDevice, MemoryPriority, ResourceRequirements, WithSupport,
    },
    std::fmt::Debug,
};

use super::pattern;

/// Device extensions and features a backend suite's test may ask for beyond
/// what every test gets; each backend enables one only where the device
/// supports it, and keeps what it enabled (its suites call this `Extras`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceExtras {
    /// `VK_KHR_external_memory_fd`.
    pub external_memory_fd: bool,
    /// `VK_EXT_memory_priority` with its `memoryPriority` feature.
    pub memory_priority: bool,
}

/// `externalMemoryFeatures` of OPAQUE_FD for the suite's buffers or images.
#[derive(Clone, Debug)]
pub struct ExternalFeatures {
    /// EXPORTABLE.
    pub exportable: bool,
    /// IMPORTABLE.
    pub importable: bool,
    /// DEDICATED_ONLY.
    pub dedicated_only: bool,
    /// The flags as the binding prints them, for the test's output.
    pub shown: String,
}

/// A backend's device for the dedicated tests: an open Vulkan device with the
/// validation layer on, and the API calls the tests make through it.
///
/// Buffers are 1D transfer sources and destinations; images are 64 x 64
/// R8G8B8A8_UINT, optimal tiling, transfer source and destination. An
/// `external` resource is created for OPAQUE_FD memory.
pub trait DedicatedSuite {
    /// The memory object handle.
    type Memory: Copy + Debug + 'static;
    /// The buffer handle.
    type Buffer: Copy;
    /// The image handle.
    type Image: Copy;
    /// The backend's [`MemoryDevice`], declaring nothing.
    type Device: MemoryDevice<Self::Memory>;

    /// The physical device's name, for skip messages.
    fn device_name(&self) -> String;
    /// Whether the instance and the device have Vulkan 1.1.
    fn has_vulkan_1_1(&self) -> bool;
    /// What the device was created with beyond the core.
    fn extras(&self) -> DeviceExtras;
    /// The backend device.
    fn device(&self) -> &Self::Device;
    /// A new allocator for the device (`Config::i_am_prototyping`).
    fn allocator(&self) -> GpuAllocator<Self::Memory>;
    /// Fails the test on any validation message so far.
    fn assert_no_validation_messages(&self);
    /// Why the device has no memory priority, for the skip message.
    fn why_no_memory_priority(&self) -> String;
    /// The skip message when the image format cannot be external.
    const NO_EXTERNAL_IMAGES: &'static str;

    /// A new buffer of `size` bytes.
    fn create_buffer(&self, size: u64, external: bool) -> Self::Buffer;
    /// A new image.
    fn create_image(&self, external: bool) -> Self::Image;
    /// The buffer as a dedicated resource.
    fn dedicated_buffer(buffer: Self::Buffer) -> DedicatedResource;
    /// The image as a dedicated resource.
    fn dedicated_image(image: Self::Image) -> DedicatedResource;
    /// `externalMemoryFeatures` of OPAQUE_FD for the images, or `None` when the
    /// format cannot be external (needs Vulkan 1.1).
    fn external_image_features(&self) -> Option<ExternalFeatures>;
    /// `externalMemoryFeatures` of OPAQUE_FD for the buffers (needs Vulkan 1.1).
    fn external_buffer_features(&self) -> ExternalFeatures;
    /// Fills the buffer and clears the image on the GPU, so the validation
    /// layer checks the memory bound to them in use; waits for the GPU.
    fn touch(&self, buffer: Option<Self::Buffer>, image: Option<Self::Image>);

    /// `vkGetBufferMemoryRequirements2`.
    ///
    /// # Safety
    ///
    /// - The device has Vulkan 1.1; `buffer` is a live buffer of it.
    unsafe fn buffer_requirements(&self, buffer: Self::Buffer) -> ResourceRequirements;
    /// `vkGetImageMemoryRequirements2`.
    ///
    /// # Safety
    ///
    /// - The device has Vulkan 1.1; `image` is a live, non-disjoint image of it.
    unsafe fn image_requirements(&self, image: Self::Image) -> ResourceRequirements;
    /// Binds `memory` at offset 0 to the buffer.
    ///
    /// # Safety
    ///
    /// - `buffer` is live and unbound; `memory` is a live memory object of the
    ///   device, of a type the buffer allows, as large as it needs, exportable
    ///   as the buffer's handle types when it is external, and dedicated to it
    ///   where the buffer requires that.
    unsafe fn bind_buffer(&self, buffer: Self::Buffer, memory: Self::Memory);
    /// Binds `memory` at offset 0 to the image.
    ///
    /// # Safety
    ///
    /// - As for [`DedicatedSuite::bind_buffer`], for the image.
    unsafe fn bind_image(&self, image: Self::Image, memory: Self::Memory);
    /// `vkGetMemoryFdKHR` for OPAQUE_FD.
    ///
    /// # Safety
    ///
    /// - The device has VK_KHR_external_memory_fd, and `memory` is a live
    ///   memory object of it allocated exportable as OPAQUE_FD.
    unsafe fn export_fd(&self, memory: Self::Memory) -> i32;
    /// A new memory object imported from an OPAQUE_FD (which it takes).
    ///
    /// # Safety
    ///
    /// - `fd` is an OPAQUE_FD exported from a memory object of this device of
    ///   `size` bytes and type `memory_type`, dedicated to `dedicated_to` when
    ///   that is given (a live buffer).
    unsafe fn import_fd(
        &self,
        fd: i32,
        size: u64,
        memory_type: u32,
        dedicated_to: Option<Self::Buffer>,
    ) -> Self::Memory;
    /// Destroys the buffer.
    ///
    /// # Safety
    ///
    /// - `buffer` is a live buffer of the device that the GPU no longer uses.
    unsafe fn destroy_buffer(&self, buffer: Self::Buffer);
    /// Destroys the image.
    ///
    /// # Safety
    ///
    /// - As for [`DedicatedSuite::destroy_buffer`], for the image.
    unsafe fn destroy_image(&self, image: Self::Image);
}

/// Opens the device through `open`, asking for `extras` (`None`: no Vulkan
/// driver, already said), and runs `test` on it.
pub fn run<S: DedicatedSuite>(
    name: &str,
    extras: DeviceExtras,
    open: impl FnOnce(&str, DeviceExtras) -> Option<S>,
    test: fn(&S, &str),
) {
    if let Some(suite) = open(name, extras) {
        test(&suite, name);
    }
}

/// Writes the five `#[test]` functions of a backend's `dedicated.rs` suite,
/// each running the test of its name in
/// [`backend_support::dedicated`](crate::backend_support::dedicated) on the
/// device that `$open` opens: a function `(&str, DeviceExtras) ->
/// Option<impl DedicatedSuite>`, given the test's name and the extras it
/// wants (which the device may lack: [`DedicatedSuite::extras`] says).
#[macro_export]
macro_rules! dedicated_tests {
    ($open:path) => {
        $crate::dedicated_tests!(@test $open, dedicated_buffer_and_image_bind_cleanly, {});
        $crate::dedicated_tests!(
            @test $open,
            external_image_gets_an_exportable_dedicated_object,
            { external_memory_fd: true }
        );
        $crate::dedicated_tests!(
            @test $open,
            exported_memory_reads_back_through_an_imported_block,
            { external_memory_fd: true }
        );
        $crate::dedicated_tests!(
            @test $open,
            memory_priority_is_sent_when_enabled,
            { memory_priority: true }
        );
        $crate::dedicated_tests!(
            @test $open,
            undeclared_support_drops_priority_and_refuses_requirements,
            {}
        );
    };
    (@test $open:path, $name:ident, { $($extra:ident: $on:expr)? }) => {
        #[doc = concat!(
            "`gpu_alloc_tests::backend_support::dedicated::",
            stringify!($name),
            "` on this backend."
        )]
        #[test]
        fn $name() {
            use $crate::backend_support::dedicated as shared;
            let extras = shared::DeviceExtras {
                $($extra: $on,)?
                ..shared::DeviceExtras::default()
            };
            shared::run(stringify!($name), extras, $open, shared::$name);
        }
    };
}

/// Prints why the test stops here.
pub fn skipped(test: &str, why: &str) {
    println!("{test}: skipped: {why}");
    eprintln!("{test}: skipped: {why}");
}

/// Whether the device has Vulkan 1.1 (dedicated allocations,
/// `vkGet*MemoryRequirements2`, external memory); says `skipped` if not.
fn has_vulkan_1_1(s: &impl DedicatedSuite, test: &str) -> bool {
    let ok = s.has_vulkan_1_1();
    if !ok {
        skipped(test, &format!("{} has no Vulkan 1.1", s.device_name()));
    }
    ok
}

/// Whether the device has VK_KHR_external_memory_fd; says `skipped` if not.
fn has_external_memory_fd(s: &impl DedicatedSuite, test: &str) -> bool {
    let ok = s.extras().external_memory_fd;
    if !ok {
        let why = format!("{} has no VK_KHR_external_memory_fd", s.device_name());
        skipped(test, &why);
    }
    ok
}

/// What the test device takes beyond size, type and flags: dedicated
/// resources (Vulkan 1.1), and the extras it was created with.
fn support(extras: DeviceExtras) -> AllocationSupport {
    let mut support = AllocationSupport::new().dedicated(true);
    if extras.external_memory_fd {
        support = support.export(ExternalMemoryHandleTypes::OPAQUE_FD);
    }
    if extras.memory_priority {
        support = support.priority(true);
    }
    support
}

/// The backend device, declaring what the suite's device was created with.
fn declared<S: DedicatedSuite>(s: &S) -> WithSupport<'_, S::Device> {
    // SAFETY: the tests check for Vulkan 1.1 before allocating (dedicated
    // allocations), and `extras` is what the device was created with.
    unsafe { WithSupport::new(s.device(), support(s.extras())) }
}

/// Allocates through `device`, failing the test with the request and options.
///
/// # Safety
///
/// - `device` is the device whose properties made `allocator`, and every
///   block of `allocator` came from it; a dedicated resource in `options` is
///   a live, unbound resource of it whose requirements made `request`.
unsafe fn alloc<M: Debug + 'static>(
    allocator: &mut GpuAllocator<M>,
    device: &impl MemoryDevice<M>,
    request: Request,
    options: AllocOptions,
) -> MemoryBlock<M> {
    // SAFETY: the caller's contract.
    unsafe { allocator.try_alloc_with_options(device, request, options) }
        .unwrap_or_else(|e| panic!("{request:?} {options:?}: {e}"))
}

/// The options of a block dedicated to `resource`.
fn dedicated_to(resource: DedicatedResource) -> AllocOptions {
    AllocOptions::new()
        .dedicated(Dedicated::Required)
        .dedicated_resource(resource)
}

/// Allocates a block dedicated to `resource`, whose requirements are `needs`,
/// for fast device access, and checks that it is a whole object of exactly
/// the requirements' size.
///
/// # Safety
///
/// - As for [`alloc`]; `resource` is the live, unbound resource of `needs`.
unsafe fn alloc_dedicated<M: Debug + 'static>(
    allocator: &mut GpuAllocator<M>,
    device: &impl MemoryDevice<M>,
    needs: &ResourceRequirements,
    options: AllocOptions,
) -> MemoryBlock<M> {
    let request = needs.request(UsageFlags::FAST_DEVICE_ACCESS);
    // SAFETY: the caller's contract.
    let block = unsafe { alloc(allocator, device, request, options) };
    assert!(block.is_dedicated());
    assert_eq!((block.offset(), block.size()), (0, needs.requirements.size));
    block
}

/// A buffer and an image, each in a memory object made for it
/// (`VkMemoryDedicatedAllocateInfo`): the blocks are whole objects of exactly
/// the size of the requirements, the resources bind at offset 0 and are used on
/// the GPU, and the validation layer says nothing.
pub fn dedicated_buffer_and_image_bind_cleanly<S: DedicatedSuite>(s: &S, test: &str) {
    if !has_vulkan_1_1(s, test) {
        return;
    }
    let device = declared(s);
    let mut allocator = s.allocator();

    let buffer = s.create_buffer(65_536, false);
    // SAFETY: a Vulkan 1.1 device and a live buffer of it.
    let needs = unsafe { s.buffer_requirements(buffer) };
    println!("{test}: buffer: {needs:?}");
    let options = dedicated_to(S::dedicated_buffer(buffer)).resource(ResourceKind::Linear);
    // SAFETY: one device for the allocator; the buffer is live and unbound.
    let buffer_block = unsafe { alloc_dedicated(&mut allocator, &device, &needs, options) };
    // SAFETY: the block is the buffer's own memory object, of a type its
    // requirements allow.
    unsafe { s.bind_buffer(buffer, *buffer_block.memory()) };

    let image = s.create_image(false);
    // SAFETY: a Vulkan 1.1 device and a live, non-disjoint image of it.
    let needs = unsafe { s.image_requirements(image) };
    println!("{test}: image: {needs:?}");
    let options = dedicated_to(S::dedicated_image(image)).resource(ResourceKind::Optimal);
    // SAFETY: as for the buffer.
    let image_block = unsafe { alloc_dedicated(&mut allocator, &device, &needs, options) };
    // SAFETY: as for the buffer.
    unsafe { s.bind_image(image, *image_block.memory()) };

    s.touch(Some(buffer), Some(image));
    assert_eq!(allocator.stats().hints_dropped, 0);
    s.assert_no_validation_messages();
    // SAFETY: the GPU is idle after `touch`; each resource goes before its
    // memory.
    unsafe {
        s.destroy_buffer(buffer);
        s.destroy_image(image);
        allocator.dealloc(&device, buffer_block);
        allocator.dealloc(&device, image_block);
        allocator.cleanup(&device);
    }
    let stats = allocator.stats();
    assert_eq!((stats.blocks, stats.memory_objects), (0, 0));
}

/// An image created with `VkExternalMemoryImageCreateInfo` (OPAQUE_FD) gets an
/// exportable memory object of its own, bound and used without a validation
/// message.
///
/// Neither lavapipe (Mesa 22.3) nor NVIDIA's driver (580, on an H200) requires
/// a dedicated allocation for it: requirements2 say neither required nor
/// preferred, and the external-image format properties have no DEDICATED_ONLY
/// (the test prints both). The image is still allocated dedicated, as drivers
/// that require it need; where DEDICATED_ONLY is reported, the test checks that
/// requirements2 is read as [`DedicatedNeed::Required`].
pub fn external_image_gets_an_exportable_dedicated_object<S: DedicatedSuite>(s: &S, test: &str) {
    if !has_vulkan_1_1(s, test) || !has_external_memory_fd(s, test) {
        return;
    }
    let Some(features) = s.external_image_features() else {
        return skipped(test, S::NO_EXTERNAL_IMAGES);
    };
    println!("{test}: external image memory features: {}", features.shown);
    if !features.exportable {
        return skipped(test, "OPAQUE_FD images are not exportable");
    }
    let device = declared(s);
    let mut allocator = s.allocator();

    let image = s.create_image(true);
    // SAFETY: a Vulkan 1.1 device and a live, non-disjoint image of it.
    let needs = unsafe { s.image_requirements(image) };
    println!("{test}: external image: {needs:?}");
    if features.dedicated_only {
        assert_eq!(needs.dedicated, Some(DedicatedNeed::Required));
    }
    let options = dedicated_to(S::dedicated_image(image))
        .resource(ResourceKind::Optimal)
        .export(ExternalMemoryHandleTypes::OPAQUE_FD);
    // SAFETY: one device for the allocator; the image is live and unbound.
    let block = unsafe { alloc_dedicated(&mut allocator, &device, &needs, options) };
    // SAFETY: the block is the image's own memory object, exportable as the
    // image's handle type, of a type its requirements allow.
    unsafe { s.bind_image(image, *block.memory()) };
    s.touch(None, Some(image));
    s.assert_no_validation_messages();
    // SAFETY: the GPU is idle; the image goes before its memory.
    unsafe {
        s.destroy_image(image);
        allocator.dealloc(&device, block);
    }
}

/// Reads the first `expected.len()` bytes of `block` and asserts that they
/// are `expected`; `what` says what that means.
///
/// # Safety
///
/// - `device` is the device of the block's allocator; nothing writes the
///   block meanwhile.
unsafe fn assert_holds<M>(
    device: &impl MemoryDevice<M>,
    block: &mut MemoryBlock<M>,
    expected: &[u8],
    what: &str,
) {
    let mut read = vec![0; expected.len()];
    // SAFETY: the caller's contract.
    unsafe { block.read_bytes(device, 0, &mut read) }.expect("read back");
    assert!(read == expected, "{what}");
}

/// A host-visible block exported as an OPAQUE_FD, written through the
/// allocator's mapping, imported on the same device into a new memory object
/// that a second `GpuAllocator` takes in with `import_memory`: the bytes read
/// back through the imported block, and bytes written there read back through
/// the first.
///
/// The exported object is made for an external buffer (bound to it); it is
/// dedicated to that buffer only where the driver asks for it (DEDICATED_ONLY,
/// or requirements2's requiresDedicatedAllocation), which lavapipe does not.
pub fn exported_memory_reads_back_through_an_imported_block<S: DedicatedSuite>(s: &S, test: &str) {
    if !has_vulkan_1_1(s, test) || !has_external_memory_fd(s, test) {
        return;
    }
    let features = s.external_buffer_features();
    println!(
        "{test}: external buffer memory features: {}",
        features.shown
    );
    if !(features.exportable && features.importable) {
        return skipped(test, "OPAQUE_FD buffers are not exportable and importable");
    }
    let device = declared(s);
    let mut exporter = s.allocator();
    let mut importer = s.allocator();

    const SIZE: usize = 4096;
    let buffer = s.create_buffer(SIZE as u64, true);
    // SAFETY: a Vulkan 1.1 device and a live buffer of it.
    let needs = unsafe { s.buffer_requirements(buffer) };
    println!("{test}: external buffer: {needs:?}");
    let dedicated = features.dedicated_only || needs.dedicated == Some(DedicatedNeed::Required);
    let mut options = AllocOptions::new()
        .resource(ResourceKind::Linear)
        .export(ExternalMemoryHandleTypes::OPAQUE_FD);
    if dedicated {
        options = options
            .dedicated(Dedicated::Required)
            .dedicated_resource(S::dedicated_buffer(buffer));
    }
    let request = needs.request(UsageFlags::UPLOAD | UsageFlags::HOST_ACCESS);
    // SAFETY: one device for the allocator; the buffer is live and unbound.
    let mut block = unsafe { alloc(&mut exporter, &device, request, options) };
    assert!(block.is_dedicated(), "an exported block has its own object");
    assert_eq!(block.offset(), 0);
    // SAFETY: the block is a memory object of its own, exportable as the
    // buffer's handle type, of a type the buffer allows.
    unsafe { s.bind_buffer(buffer, *block.memory()) };

    let written = pattern(0x5eed, SIZE);
    // SAFETY: the block is of `device`; the GPU does not use the buffer.
    unsafe { block.write_bytes(&device, 0, &written) }.expect("write");

    // SAFETY: the memory was allocated exportable as OPAQUE_FD on a device
    // with VK_KHR_external_memory_fd.
    let fd = unsafe { s.export_fd(*block.memory()) };
    let dedicated_to = dedicated.then_some(buffer);
    // SAFETY: an OPAQUE_FD of this device's memory, imported with the size and
    // memory type it was allocated with (and its buffer, when dedicated).
    let imported = unsafe { s.import_fd(fd, block.size(), block.memory_type(), dedicated_to) };
    // SAFETY: `imported` is a memory object of the allocators' device, of the
    // exported block's type, `block.size()` bytes from offset 0, freed only
    // through the returned block.
    let mut imported_block = unsafe {
        importer.import_memory(
            imported,
            block.memory_type(),
            block.props(),
            0,
            block.size(),
        )
    };

    let what = "the imported memory holds the exported bytes";
    // SAFETY: the imported block is `device`'s memory; nothing writes it.
    unsafe { assert_holds(&device, &mut imported_block, &written, what) };
    let answer = pattern(0xa115, SIZE);
    // SAFETY: as above.
    unsafe {
        imported_block
            .write_bytes(&device, 0, &answer)
            .expect("write imported");
        let what = "the exported memory sees the imported writes";
        assert_holds(&device, &mut block, &answer, what);
    }

    s.assert_no_validation_messages();
    // SAFETY: the GPU never used the memory; the buffer goes before the memory
    // bound to it.
    unsafe {
        importer.dealloc(&device, imported_block);
        s.destroy_buffer(buffer);
        exporter.dealloc(&device, block);
    }
}

/// Where the device has VK_EXT_memory_priority with `memoryPriority`, a block
/// dedicated to a buffer and a dedicated block without a resource are
/// allocated with priorities, no hint is dropped, and the layer says nothing.
pub fn memory_priority_is_sent_when_enabled<S: DedicatedSuite>(s: &S, test: &str) {
    if !has_vulkan_1_1(s, test) {
        return;
    }
    if !s.extras().memory_priority {
        return skipped(test, &s.why_no_memory_priority());
    }
    let device = declared(s);
    assert!(device.support().priority);
    let mut allocator = s.allocator();

    let buffer = s.create_buffer(65_536, false);
    // SAFETY: a Vulkan 1.1 device and a live buffer of it.
    let needs = unsafe { s.buffer_requirements(buffer) };
    let options = dedicated_to(S::dedicated_buffer(buffer)).priority(MemoryPriority::HIGHEST);
    // SAFETY: one device for the allocator; the buffer is live and unbound.
    let buffer_block = unsafe { alloc_dedicated(&mut allocator, &device, &needs, options) };
    // SAFETY: the buffer's own memory object.
    unsafe { s.bind_buffer(buffer, *buffer_block.memory()) };

    let request = Request {
        size: 65_536,
        align_mask: 255,
        usage: UsageFlags::UPLOAD,
        memory_types: !0,
    };
    let options = AllocOptions::new()
        .dedicated(Dedicated::Required)
        .priority(MemoryPriority::LOWEST);
    // SAFETY: one device for the allocator; no resource.
    let plain_block = unsafe { alloc(&mut allocator, &device, request, options) };
    assert!(plain_block.is_dedicated());

    s.touch(Some(buffer), None);
    assert_eq!(allocator.stats().hints_dropped, 0);
    s.assert_no_validation_messages();
    // SAFETY: the GPU is idle; the buffer goes before its memory.
    unsafe {
        s.destroy_buffer(buffer);
        allocator.dealloc(&device, buffer_block);
        allocator.dealloc(&device, plain_block);
    }
}

/// On a device created without VK_EXT_memory_priority, whose application
/// declares dedicated allocations only, a priority is dropped and counted
/// (`hints_dropped` grows by one) and the allocation goes through without a
/// validation message; with nothing declared, a required dedicated resource
/// and an export are refused with their errors.
///
/// The Khronos layer of CI (1.3.239) does not report a
/// `VkMemoryPriorityAllocateInfoEXT` of a disabled extension, so that the
/// backend chains nothing for a dropped priority is checked by the unit test
/// of its chain (`device::tests` in each backend), not here.
pub fn undeclared_support_drops_priority_and_refuses_requirements<S: DedicatedSuite>(
    s: &S,
    test: &str,
) {
    if !has_vulkan_1_1(s, test) {
        return;
    }
    assert_eq!(s.extras(), DeviceExtras::default());
    let device = declared(s);
    assert_eq!(device.support(), AllocationSupport::new().dedicated(true));
    let mut allocator = s.allocator();

    let buffer = s.create_buffer(65_536, false);
    // SAFETY: a Vulkan 1.1 device and a live buffer of it.
    let needs = unsafe { s.buffer_requirements(buffer) };
    let request = needs.request(UsageFlags::FAST_DEVICE_ACCESS);
    let before = allocator.stats().hints_dropped;
    let options = dedicated_to(S::dedicated_buffer(buffer)).priority(MemoryPriority::HIGHEST);
    // SAFETY: one device for the allocator; the buffer is live and unbound.
    let block = unsafe { alloc(&mut allocator, &device, request, options) };
    assert_eq!(allocator.stats().hints_dropped, before + 1);
    // SAFETY: the buffer's own memory object.
    unsafe { s.bind_buffer(buffer, *block.memory()) };
    s.touch(Some(buffer), None);

    let export = ExternalMemoryHandleTypes::OPAQUE_FD;
    let refusals = [
        (
            dedicated_to(S::dedicated_buffer(buffer)),
            TryAllocError::DedicatedNotSupported,
        ),
        (
            AllocOptions::new().export(export),
            TryAllocError::ExportNotSupported {
                requested: export,
                supported: ExternalMemoryHandleTypes::empty(),
            },
        ),
    ];
    for (options, expected) in refusals {
        // SAFETY: the bare device is `device`'s device; nothing is allocated.
        let refused = unsafe { allocator.try_alloc_with_options(s.device(), request, options) };
        assert_eq!(refused.err(), Some(expected), "{options:?}");
    }

    s.assert_no_validation_messages();
    // SAFETY: the GPU is idle; the buffer goes before its memory.
    unsafe {
        s.destroy_buffer(buffer);
        allocator.dealloc(&device, block);
    }
}
