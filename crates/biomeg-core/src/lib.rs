//! biomeg compute core: kernels, encoder models, weight I/O. No FFI lives here.
