//! Model bindings (wasm-bindgen): the same `Model` class as the Node binding. Calls are
//! synchronous here (the TS layer awaits both alike); there is no file system, so `fromFile`
//! reports that bytes must be passed.

use biomeg_core::{self as core, Batch, Encoder, ModelConfig};
use wasm_bindgen::prelude::*;

use crate::{coded, js_err};

#[wasm_bindgen]
pub struct Model {
    inner: Encoder,
}

/// An inference model (`Encoder::ready_for_inference`).
fn model(enc: core::Result<Encoder>) -> Result<Model, JsValue> {
    let mut inner = enc.map_err(coded)?;
    inner.ready_for_inference();
    Ok(Model { inner })
}

#[wasm_bindgen]
impl Model {
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(config_json: &str, config_name: &str, weights: &[u8], weights_name: &str) -> Result<Model, JsValue> {
        model(core::load_from_bytes(config_json, config_name, weights, weights_name))
    }

    #[wasm_bindgen(js_name = fromFile)]
    pub fn from_file(_config_json: &str, _config_name: &str, weights_path: &str) -> Result<Model, JsValue> {
        Err(js_err("BIOMEG_UNSUPPORTED", format!("{weights_path}: the wasm backend cannot read files; pass the bytes to fromBytes")))
    }

    pub fn random(config_or_preset: &str, seed: u32) -> Result<Model, JsValue> {
        model(core::random_from_spec(config_or_preset, seed as u64))
    }

    pub fn config(&self) -> String {
        self.inner.cfg.to_json()
    }

    #[wasm_bindgen(js_name = numParams)]
    pub fn num_params(&self) -> f64 {
        self.inner.num_params() as f64
    }

    /// Returns `{ hidden: Float32Array, logits: Float32Array | null }`.
    #[wasm_bindgen(unchecked_return_type = "ForwardOutput")]
    pub fn forward(&self, ids: &[u32], type_ids: &[u32], mask: &[u8], batch: u32, seq: u32, with_head: bool) -> Result<JsValue, JsValue> {
        let b = Batch { ids, type_ids, mask, batch: batch as usize, seq: seq as usize };
        let hidden = self.inner.forward(&b).map_err(coded)?;
        let logits = if with_head { Some(self.inner.head_logits(&hidden, b.batch, b.seq).map_err(coded)?) } else { None };
        let out = js_sys::Object::new();
        js_sys::Reflect::set(&out, &"hidden".into(), &js_sys::Float32Array::from(hidden.as_slice()))?;
        let logits = logits.map_or(JsValue::NULL, |l| js_sys::Float32Array::from(l.as_slice()).into());
        js_sys::Reflect::set(&out, &"logits".into(), &logits)?;
        Ok(out.into())
    }
}

/// config.json text of a named preset (errors list the known names).
#[wasm_bindgen(js_name = presetConfig)]
pub fn preset_config(name: &str) -> Result<String, JsValue> {
    Ok(ModelConfig::preset(name).map_err(coded)?.to_json())
}
