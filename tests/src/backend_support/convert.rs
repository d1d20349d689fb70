//! The checks of the backends' conversion unit tests
//! (`ash/src/convert/tests.rs`, `erupt/src/convert/tests.rs`) written once:
//! each backend passes its conversion functions and the binding's values.

use {
    gpu_alloc_types::{DedicatedResource, ExternalMemoryHandleTypes},
    std::fmt::Debug,
};

/// The raw handle of the buffer [`assert_dedicated_resources_keep_their_handles`]
/// is given.
pub const BUFFER_HANDLE: u64 = 0xdead_beef_0000_0001;

/// The raw handle of the image [`assert_dedicated_resources_keep_their_handles`]
/// is given.
pub const IMAGE_HANDLE: u64 = 0xdead_beef_0000_0002;

/// Asserts that a buffer and an image of the raw handles [`BUFFER_HANDLE`] and
/// [`IMAGE_HANDLE`] become dedicated resources of those handles, and that the
/// backend's conversion back (`to_backend`) gives each with the other handle
/// null (`null`).
pub fn assert_dedicated_resources_keep_their_handles<B, I>(
    (buffer, image): (B, I),
    null: (B, I),
    dedicated_buffer: impl Fn(B) -> DedicatedResource,
    dedicated_image: impl Fn(I) -> DedicatedResource,
    to_backend: impl Fn(DedicatedResource) -> (B, I),
) where
    B: Copy + PartialEq + Debug,
    I: Copy + PartialEq + Debug,
{
    assert_eq!(
        dedicated_buffer(buffer),
        DedicatedResource::Buffer(BUFFER_HANDLE)
    );
    assert_eq!(
        dedicated_image(image),
        DedicatedResource::Image(IMAGE_HANDLE)
    );
    assert_eq!(to_backend(dedicated_buffer(buffer)), (buffer, null.1));
    assert_eq!(to_backend(dedicated_image(image)), (null.0, image));
}

/// The handle types every backend names, in the order
/// [`assert_handle_types_are_vulkan_bits`] takes the binding's flags.
pub const NAMED_HANDLE_TYPES: [ExternalMemoryHandleTypes; 4] = [
    ExternalMemoryHandleTypes::OPAQUE_FD,
    ExternalMemoryHandleTypes::OPAQUE_WIN32,
    ExternalMemoryHandleTypes::OPAQUE_WIN32_KMT,
    ExternalMemoryHandleTypes::DMA_BUF,
];

/// Asserts that `convert` maps each of [`NAMED_HANDLE_TYPES`] to the binding's
/// flag at the same place of `theirs`, and keeps a bit that neither names
/// (`bits` reads the binding's raw value).
pub fn assert_handle_types_are_vulkan_bits<T: PartialEq + Debug>(
    convert: impl Fn(ExternalMemoryHandleTypes) -> T,
    theirs: [T; 4],
    bits: impl Fn(T) -> u32,
) {
    for (ours, theirs) in NAMED_HANDLE_TYPES.into_iter().zip(theirs) {
        assert_eq!(convert(ours), theirs, "{ours:?}");
    }
    // A bit that neither crate names is kept.
    let unnamed = ExternalMemoryHandleTypes::from_bits_retain(1 << 30);
    assert_eq!(bits(convert(unnamed)), 1 << 30);
}
