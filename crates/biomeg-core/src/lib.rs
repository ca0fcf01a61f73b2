//! biomeg compute core: kernels, encoder models, weight I/O. No FFI lives here; the Node and
//! wasm bindings are thin wrappers over this crate's public functions.

pub mod config;
pub mod error;
pub mod forward;
pub mod kernels;
pub mod model;
pub mod params;
pub mod rng;
pub mod train;
pub mod weights;

pub use config::{ModelConfig, PRESETS};
pub use error::{CoreError, Result};
pub use model::{Batch, Encoder};

/// Load an encoder from config.json text and safetensors bytes held in memory.
pub fn load_from_bytes(config_json: &str, config_name: &str, weights: &[u8], weights_name: &str) -> Result<Encoder> {
    let cfg = ModelConfig::from_json(config_json, config_name)?;
    let st = weights::SafeTensors::open(weights, weights_name)?;
    Encoder::load(cfg, &st)
}

/// Load an encoder reading each tensor straight from the file (one copy of the weights in memory).
#[cfg(unix)]
pub fn load_from_file(config_json: &str, config_name: &str, weights_path: &str) -> Result<Encoder> {
    let cfg = ModelConfig::from_json(config_json, config_name)?;
    let f = std::fs::File::open(weights_path).map_err(|e| CoreError::Io { file: weights_path.into(), msg: e.to_string() })?;
    let st = weights::SafeTensors::open(f, weights_path)?;
    Encoder::load(cfg, &st)
}

/// What this build and machine offer.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    pub simd: &'static str,
    pub threads: usize,
    pub cuda: bool,
    pub cuda_detail: String,
}

pub fn runtime_info() -> RuntimeInfo {
    let cuda = kernels::dispatch::cuda_status();
    RuntimeInfo { simd: kernels::simd::detect().name(), threads: kernels::threads(), cuda: cuda.available, cuda_detail: cuda.detail }
}
