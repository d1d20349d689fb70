//! Reports of misuse that cannot be returned as errors (leaks, foreign blocks).

#![deny(unsafe_code)]

use core::{
    fmt,
    sync::atomic::{AtomicUsize, Ordering},
};

/// Number of problems reported since the program started.
static REPORTED: AtomicUsize = AtomicUsize::new(0);

/// Reports a problem through `tracing` (feature `tracing`), else on stderr
/// (feature `std`). Silent while the thread panics, so a panic is not buried.
pub(crate) fn report(args: fmt::Arguments<'_>) {
    #[cfg(feature = "std")]
    if std::thread::panicking() {
        return;
    }
    REPORTED.fetch_add(1, Ordering::Relaxed);
    #[cfg(feature = "tracing")]
    tracing::error!("gpu-alloc: {}", args);
    #[cfg(all(feature = "std", not(feature = "tracing")))]
    std::eprintln!("gpu-alloc: {args}");
    #[cfg(not(any(feature = "std", feature = "tracing")))]
    let _ = args;
}

/// How many problems (leaked blocks, foreign blocks, allocators dropped with live
/// memory) this process has reported so far. For tests and diagnostics.
pub fn reported_problems() -> usize {
    REPORTED.load(Ordering::Relaxed)
}
