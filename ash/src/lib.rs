//! gpu-alloc backend for ash (in progress).
