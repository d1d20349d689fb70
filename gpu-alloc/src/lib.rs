//! gpu-alloc (in progress).
