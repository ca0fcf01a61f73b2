//! biomeg compute core: kernels, encoder models, weight I/O. No FFI lives here; the Node and
//! wasm bindings are thin wrappers over this crate's public functions.

pub mod config;
pub mod error;
pub mod forward;
pub mod kernels;
pub mod model;
pub mod params;
pub mod quant;
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
    quantize_as_asked(Encoder::load(cfg, &st)?, config_json, config_name, st.has_int8())
}

/// Load an encoder reading each tensor straight from the file (one copy of the weights in memory).
#[cfg(unix)]
pub fn load_from_file(config_json: &str, config_name: &str, weights_path: &str) -> Result<Encoder> {
    let cfg = ModelConfig::from_json(config_json, config_name)?;
    let f = std::fs::File::open(weights_path).map_err(|e| CoreError::Io { file: weights_path.into(), msg: e.to_string() })?;
    let st = weights::SafeTensors::open(f, weights_path)?;
    quantize_as_asked(Encoder::load(cfg, &st)?, config_json, config_name, st.has_int8())
}

/// A random model from config.json text or a preset name (int8 when the config asks for it).
pub fn random_from_spec(config_or_preset: &str, seed: u64) -> Result<Encoder> {
    let e = Encoder::random(ModelConfig::from_json_or_preset(config_or_preset)?, seed)?;
    quantize_as_asked(e, config_or_preset, "config", false)
}

/// int8 when config.json's `biomeg_quantization` says so or the weights are stored as I8.
fn quantize_as_asked(mut e: Encoder, config_json: &str, config_name: &str, int8_weights: bool) -> Result<Encoder> {
    if quant::requested(config_json, config_name)?.is_some() || int8_weights {
        e.quantize_int8();
    }
    Ok(e)
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
