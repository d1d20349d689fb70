//! gpu-alloc backend for erupt (in progress).
