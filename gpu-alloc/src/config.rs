//! Allocator configuration.

#![deny(unsafe_code)]

/// Thresholds and sizes that steer the allocator's strategies.
///
/// How each field is used:
/// - A request goes to its own **dedicated** memory object when
///   `size >= dedicated_threshold`, when it is `TRANSIENT` and
///   `size >= transient_dedicated_threshold`, when the caller passes
///   [`Dedicated::Preferred`](crate::Dedicated::Preferred) and
///   `size >= preferred_dedicated_threshold`, when the caller passes
///   [`Dedicated::Required`](crate::Dedicated::Required), or when it would take
///   more than half the largest memory object its strategy creates (transient
///   requests: more than that object).
/// - Other **`TRANSIENT`** requests are bump-allocated in memory objects that start
///   at `starting_free_list_chunk` bytes and grow (see below) up to
///   `final_free_list_chunk`.
/// - All other requests are **general** sub-allocations (TLSF: O(1), freed
///   ranges merge and are reused; small blocks in slabs of equal slots) in memory
///   objects that start at `initial_buddy_dedicated_size` bytes (raised to
///   `minimal_buddy_size` if below it) and grow up to the larger of
///   `final_free_list_chunk` and the starting size. Blocks of TLSF are not rounded
///   up past 16 bytes: a 300-byte request takes 304 bytes plus its alignment;
///   slab blocks take a slot of their size class (at most an eighth more past
///   128 bytes).
///
/// A pool's later memory objects are an eighth of what it already holds (a power
/// of two, at least the starting size) and at least the request that makes them
/// (rounded up to a power of two; four times that for a slab of small blocks).
///
/// Memory objects are also capped at `max_memory_allocation_size` and at an eighth
/// of their heap (unless one request needs more), and are at least as large as the
/// request they are created for. A general request of more than half the largest
/// object its pool makes (`final_free_list_chunk`, or less by the caps above)
/// gets a dedicated memory object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Config {
    /// Requests of at least this many bytes get a dedicated memory object.
    pub dedicated_threshold: u64,

    /// Requests of at least this many bytes get a dedicated memory object when the
    /// caller prefers one ([`Dedicated::Preferred`](crate::Dedicated::Preferred)).
    pub preferred_dedicated_threshold: u64,

    /// `TRANSIENT` requests of at least this many bytes get a dedicated memory object.
    pub transient_dedicated_threshold: u64,

    /// Size of the first memory object for `TRANSIENT` sub-allocation.
    pub starting_free_list_chunk: u64,

    /// Largest memory object created for sub-allocation (transient and general).
    pub final_free_list_chunk: u64,

    /// Smallest memory object created for general sub-allocation.
    pub minimal_buddy_size: u64,

    /// Size of the first memory object for general sub-allocation.
    pub initial_buddy_dedicated_size: u64,
}

impl Config {
    /// A configuration for prototyping on a desktop GPU with gigabytes of memory.
    ///
    /// It is not `Default` on purpose: the right values depend on the hardware and
    /// the workload.
    pub fn i_am_prototyping() -> Self {
        let potato = Config::i_am_potato();
        Config {
            dedicated_threshold: potato.dedicated_threshold * 1024,
            preferred_dedicated_threshold: potato.preferred_dedicated_threshold * 1024,
            transient_dedicated_threshold: potato.transient_dedicated_threshold * 1024,
            starting_free_list_chunk: potato.starting_free_list_chunk * 1024,
            final_free_list_chunk: potato.final_free_list_chunk * 1024,
            minimal_buddy_size: potato.minimal_buddy_size * 1024,
            initial_buddy_dedicated_size: potato.initial_buddy_dedicated_size * 1024,
        }
    }

    /// A configuration for a small device with megabytes of memory.
    pub fn i_am_potato() -> Self {
        Config {
            dedicated_threshold: 32 * 1024,
            preferred_dedicated_threshold: 1024,
            transient_dedicated_threshold: 128 * 1024,
            starting_free_list_chunk: 8 * 1024,
            final_free_list_chunk: 128 * 1024,
            minimal_buddy_size: 1,
            initial_buddy_dedicated_size: 8 * 1024,
        }
    }
}

/// What the allocator takes from a [`Config`], named for what each size steers
/// (the names of gpu-alloc 0.6 speak of buddy and free-list allocators that this
/// crate does not have). Made once, when the allocator is created.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sizes {
    /// Requests of at least this many bytes get a dedicated memory object.
    pub(crate) dedicated_threshold: u64,
    /// The same, for requests whose caller prefers a dedicated object.
    pub(crate) preferred_dedicated_threshold: u64,
    /// The same, for `TRANSIENT` requests.
    pub(crate) transient_dedicated_threshold: u64,
    /// First memory object of a general pool.
    pub(crate) general_start: u64,
    /// Largest memory object a general pool makes.
    pub(crate) general_max: u64,
    /// First memory object of a transient pool.
    pub(crate) transient_start: u64,
    /// Largest memory object a transient pool makes.
    pub(crate) transient_max: u64,
}

impl Sizes {
    pub(crate) fn new(config: &Config) -> Self {
        // `minimal_buddy_size` only bounds object sizes: TLSF needs no minimal block.
        let general_max = config
            .final_free_list_chunk
            .max(config.initial_buddy_dedicated_size)
            .max(config.minimal_buddy_size);
        Sizes {
            dedicated_threshold: config.dedicated_threshold,
            preferred_dedicated_threshold: config.preferred_dedicated_threshold,
            transient_dedicated_threshold: config.transient_dedicated_threshold,
            general_start: config
                .initial_buddy_dedicated_size
                .max(config.minimal_buddy_size)
                .max(1),
            general_max,
            transient_start: config.starting_free_list_chunk.max(1),
            transient_max: config
                .final_free_list_chunk
                .max(config.starting_free_list_chunk),
        }
    }
}
