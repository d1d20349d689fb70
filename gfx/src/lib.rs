//! gpu-alloc backend for gfx (in progress).
