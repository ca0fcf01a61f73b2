//! Model bindings (napi): the `Model` class over `biomeg_core::Encoder`. Forward passes run on
//! the libuv thread pool (`AsyncTask`) so the event loop stays free; panics are caught there too.

use std::sync::Arc;

use biomeg_core::{self as core, Batch, Encoder, ModelConfig};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::{guard, safe};

#[napi(object)]
pub struct ForwardOutput {
    /// Last hidden state, [batch * seq * hidden].
    pub hidden: Float32Array,
    /// Head logits when asked for and the model has a head.
    pub logits: Option<Float32Array>,
}

#[napi]
pub struct Model {
    inner: Arc<Encoder>,
}

/// An inference model (`Encoder::ready_for_inference`).
fn model(enc: core::Result<Encoder>) -> core::Result<Model> {
    enc.map(|mut e| {
        e.ready_for_inference();
        Model { inner: Arc::new(e) }
    })
}

#[napi]
impl Model {
    /// Load from config.json text and safetensors bytes.
    #[napi(factory)]
    pub fn from_bytes(config_json: String, config_name: String, weights: Uint8Array, weights_name: String) -> Result<Model> {
        guard(|| model(core::load_from_bytes(&config_json, &config_name, &weights, &weights_name)))
    }

    /// Load reading tensors straight from a safetensors file (one copy of the weights).
    #[napi(factory)]
    pub fn from_file(config_json: String, config_name: String, weights_path: String) -> Result<Model> {
        guard(|| model(core::load_from_file(&config_json, &config_name, &weights_path)))
    }

    /// Random init from a config.json text or a preset name (int8 when the config says so).
    #[napi(factory)]
    pub fn random(config_or_preset: String, seed: u32) -> Result<Model> {
        guard(|| model(core::random_from_spec(&config_or_preset, seed as u64)))
    }

    /// The model's configuration as config.json text.
    #[napi]
    pub fn config(&self) -> Result<String> {
        safe(|| self.inner.cfg.to_json())
    }

    #[napi]
    pub fn num_params(&self) -> Result<f64> {
        safe(|| self.inner.num_params() as f64)
    }

    /// Run the encoder (and the head when `with_head`) on a padded batch.
    #[napi(ts_return_type = "Promise<ForwardOutput>")]
    pub fn forward(
        &self,
        ids: Uint32Array,
        type_ids: Uint32Array,
        mask: Uint8Array,
        batch: u32,
        seq: u32,
        with_head: bool,
    ) -> AsyncTask<ForwardTask> {
        AsyncTask::new(ForwardTask {
            model: self.inner.clone(),
            ids: ids.to_vec(),
            type_ids: type_ids.to_vec(),
            mask: mask.to_vec(),
            batch: batch as usize,
            seq: seq as usize,
            with_head,
        })
    }
}

/// config.json text of a named preset (errors list the known names).
#[napi]
pub fn preset_config(name: String) -> Result<String> {
    guard(|| ModelConfig::preset(&name).map(|c| c.to_json()))
}

pub struct ForwardTask {
    model: Arc<Encoder>,
    ids: Vec<u32>,
    type_ids: Vec<u32>,
    mask: Vec<u8>,
    batch: usize,
    seq: usize,
    with_head: bool,
}

impl Task for ForwardTask {
    type Output = (Vec<f32>, Option<Vec<f32>>);
    type JsValue = ForwardOutput;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        guard(|| -> core::Result<Self::Output> {
            let b = Batch { ids: &self.ids, type_ids: &self.type_ids, mask: &self.mask, batch: self.batch, seq: self.seq };
            let hidden = self.model.forward(&b)?;
            let logits = if self.with_head { Some(self.model.head_logits(&hidden, self.batch, self.seq)?) } else { None };
            Ok((hidden, logits))
        })
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> napi::Result<ForwardOutput> {
        Ok(ForwardOutput { hidden: Float32Array::new(out.0), logits: out.1.map(Float32Array::new) })
    }
}
