//! Reports of misuse that cannot be returned as errors (leaks, foreign blocks).

#![deny(unsafe_code)]

use core::{
    fmt,
    sync::atomic::{AtomicUsize, Ordering},
};

/// Number of problems reported since the program started.
static REPORTED: AtomicUsize = AtomicUsize::new(0);

/// Reports a problem, at error level, through the first of: `tracing` (feature
/// `tracing`), `log` (feature `log`), stderr (feature `std`); with none of them
/// it is only counted. Silent while the thread panics, so a panic is not buried.
pub(crate) fn report(args: fmt::Arguments<'_>) {
    #[cfg(feature = "std")]
    if std::thread::panicking() {
        return;
    }
    REPORTED.fetch_add(1, Ordering::Relaxed);
    #[cfg(feature = "tracing")]
    tracing::error!("gpu-alloc: {}", args);
    #[cfg(all(feature = "log", not(feature = "tracing")))]
    log::error!("gpu-alloc: {args}");
    #[cfg(all(feature = "std", not(any(feature = "tracing", feature = "log"))))]
    std::eprintln!("gpu-alloc: {args}");
    #[cfg(not(any(feature = "std", feature = "tracing", feature = "log")))]
    let _ = args;
}

/// Logs, at debug level, that a memory object of `size` bytes was allocated from
/// memory type `memory_type`: through `tracing`, else `log`; nothing without
/// either feature (never on stderr).
pub(crate) fn allocated(memory_type: u32, size: u64) {
    #[cfg(feature = "tracing")]
    tracing::debug!(memory_type, size, "allocated device memory");
    #[cfg(all(feature = "log", not(feature = "tracing")))]
    log::debug!("allocated device memory: memory_type={memory_type} size={size}");
    #[cfg(not(any(feature = "tracing", feature = "log")))]
    let _ = (memory_type, size);
}

/// Logs, at debug level, that a memory object of `size` bytes in heap `heap`
/// was freed, as [`allocated`] does.
pub(crate) fn freed(heap: u32, size: u64) {
    #[cfg(feature = "tracing")]
    tracing::debug!(heap, size, "freed device memory");
    #[cfg(all(feature = "log", not(feature = "tracing")))]
    log::debug!("freed device memory: heap={heap} size={size}");
    #[cfg(not(any(feature = "tracing", feature = "log")))]
    let _ = (heap, size);
}

/// How many problems (leaked blocks, foreign blocks, allocators dropped with live
/// memory) this process has reported so far. For tests and diagnostics.
pub fn reported_problems() -> usize {
    REPORTED.load(Ordering::Relaxed)
}
