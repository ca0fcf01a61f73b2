//! Training bindings (wasm-bindgen): the same `TrainSession` class as the Node binding
//! (bindings/node/src/train.rs). Calls are synchronous here; the TS layer awaits both alike.
#![allow(non_snake_case)]

use biomeg_core::train::Trainer;
use biomeg_core::Batch;
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::coded;

pub(crate) fn set(obj: &Object, key: &str, value: JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value);
}

#[wasm_bindgen]
pub struct TrainSession {
    inner: Trainer,
}

#[wasm_bindgen]
impl TrainSession {
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(configJson: &str, weights: &[u8], optionsJson: &str) -> Result<TrainSession, JsValue> {
        Ok(TrainSession { inner: Trainer::from_bytes(configJson, weights, optionsJson).map_err(coded)? })
    }

    #[wasm_bindgen(js_name = fromConfig)]
    pub fn from_config(configJson: &str, optionsJson: &str) -> Result<TrainSession, JsValue> {
        Ok(TrainSession { inner: Trainer::from_config(configJson, optionsJson).map_err(coded)? })
    }

    /// Returns `{ loss, counted, updated, lr, gradNorm, step }` as on Node.
    #[wasm_bindgen(unchecked_return_type = "StepResult")]
    pub fn step(&mut self, ids: &[u32], typeIds: &[u32], mask: &[u8], labels: &[i32], batch: u32, seq: u32) -> Result<JsValue, JsValue> {
        let b = Batch { ids, type_ids: typeIds, mask, batch: batch as usize, seq: seq as usize };
        let o = self.inner.train_step(&b, labels).map_err(coded)?;
        let obj = Object::new();
        set(&obj, "loss", JsValue::from_f64(o.loss as f64));
        set(&obj, "counted", JsValue::from_f64(o.counted as f64));
        set(&obj, "correct", JsValue::from_f64(o.correct as f64));
        set(&obj, "updated", JsValue::from_bool(o.updated));
        set(&obj, "lr", JsValue::from_f64(o.lr as f64));
        set(&obj, "gradNorm", o.grad_norm.map_or(JsValue::NULL, JsValue::from_f64));
        set(&obj, "step", JsValue::from_f64(self.inner.step as f64));
        Ok(obj.into())
    }

    #[wasm_bindgen(js_name = evalLogits)]
    pub fn eval_logits(&self, ids: &[u32], typeIds: &[u32], mask: &[u8], batch: u32, seq: u32) -> Result<Vec<f32>, JsValue> {
        let b = Batch { ids, type_ids: typeIds, mask, batch: batch as usize, seq: seq as usize };
        self.inner.eval_logits(&b).map_err(coded)
    }

    #[wasm_bindgen(js_name = evalLoss)]
    pub fn eval_loss(&self, ids: &[u32], typeIds: &[u32], mask: &[u8], labels: &[i32], batch: u32, seq: u32) -> Result<f64, JsValue> {
        let b = Batch { ids, type_ids: typeIds, mask, batch: batch as usize, seq: seq as usize };
        self.inner.eval_loss(&b, labels).map(|l| l as f64).map_err(coded)
    }

    /// Returns `{ loss, counted, correct }` as on Node.
    #[wasm_bindgen(js_name = evalMetrics, unchecked_return_type = "EvalResult")]
    pub fn eval_metrics(
        &self,
        ids: &[u32],
        typeIds: &[u32],
        mask: &[u8],
        labels: &[i32],
        batch: u32,
        seq: u32,
    ) -> Result<JsValue, JsValue> {
        let b = Batch { ids, type_ids: typeIds, mask, batch: batch as usize, seq: seq as usize };
        let o = self.inner.eval_metrics(&b, labels).map_err(coded)?;
        let obj = Object::new();
        set(&obj, "loss", JsValue::from_f64(o.loss as f64));
        set(&obj, "counted", JsValue::from_f64(o.counted as f64));
        set(&obj, "correct", JsValue::from_f64(o.correct as f64));
        Ok(obj.into())
    }

    #[wasm_bindgen(js_name = saveState)]
    pub fn save_state(&self) -> Vec<u8> {
        self.inner.save_state()
    }

    #[wasm_bindgen(js_name = loadState)]
    pub fn load_state(&mut self, bytes: &[u8], name: &str) -> Result<(), JsValue> {
        self.inner.load_state(bytes, name).map_err(coded)
    }

    #[wasm_bindgen(js_name = exportWeights)]
    pub fn export_weights(&self) -> Vec<u8> {
        self.inner.export_weights()
    }

    pub fn config(&self) -> String {
        self.inner.config_json()
    }

    #[wasm_bindgen(js_name = optimizerSteps)]
    pub fn optimizer_steps(&self) -> u32 {
        self.inner.step as u32
    }

    pub fn options(&self) -> String {
        self.inner.opts.to_json()
    }
}
