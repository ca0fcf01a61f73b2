//! biomeg-text (see Cargo.toml description).
