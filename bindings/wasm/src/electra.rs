//! ELECTRA pre-training binding (wasm-bindgen): the same `ElectraSession` class as the Node
//! binding (bindings/node/src/electra.rs). Calls are synchronous here.
#![allow(non_snake_case)]

use biomeg_core::train::electra::{ElectraStep, ElectraTrainer};
use biomeg_core::Batch;
use js_sys::Object;
use wasm_bindgen::prelude::*;

use crate::coded;
use crate::train::set;

fn electra_result(o: ElectraStep, step: u64) -> JsValue {
    let obj = Object::new();
    let n = |v: usize| JsValue::from_f64(v as f64);
    set(&obj, "loss", JsValue::from_f64(o.loss as f64));
    set(&obj, "genLoss", JsValue::from_f64(o.gen_loss as f64));
    set(&obj, "discLoss", JsValue::from_f64(o.disc_loss as f64));
    set(&obj, "masked", n(o.masked));
    set(&obj, "genCorrect", n(o.gen_correct));
    set(&obj, "replaced", n(o.replaced));
    set(&obj, "discCounted", n(o.disc_counted));
    set(&obj, "discCorrect", n(o.disc_correct));
    set(&obj, "updated", JsValue::from_bool(o.updated));
    set(&obj, "lr", JsValue::from_f64(o.lr as f64));
    set(&obj, "gradNorm", o.grad_norm.map_or(JsValue::NULL, JsValue::from_f64));
    set(&obj, "step", JsValue::from_f64(step as f64));
    obj.into()
}

#[wasm_bindgen]
pub struct ElectraSession {
    inner: ElectraTrainer,
}

#[wasm_bindgen]
impl ElectraSession {
    #[wasm_bindgen(js_name = fromConfig)]
    pub fn from_config(configJson: &str, optionsJson: &str) -> Result<ElectraSession, JsValue> {
        Ok(ElectraSession { inner: ElectraTrainer::from_config(configJson, optionsJson).map_err(coded)? })
    }

    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(
        genConfig: &str,
        genWeights: &[u8],
        discConfig: &str,
        discWeights: &[u8],
        optionsJson: &str,
    ) -> Result<ElectraSession, JsValue> {
        Ok(ElectraSession {
            inner: ElectraTrainer::from_bytes(genConfig, genWeights, discConfig, discWeights, optionsJson).map_err(coded)?,
        })
    }

    /// Returns `{ loss, genLoss, discLoss, ... }` as on Node.
    #[wasm_bindgen(unchecked_return_type = "ElectraStepResult")]
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        ids: &[u32],
        typeIds: &[u32],
        mask: &[u8],
        labels: &[i32],
        batch: u32,
        seq: u32,
        sampled: Option<Vec<u32>>,
    ) -> Result<JsValue, JsValue> {
        let b = Batch { ids, type_ids: typeIds, mask, batch: batch as usize, seq: seq as usize };
        let o = self.inner.train_step(&b, labels, sampled.as_deref()).map_err(coded)?;
        Ok(electra_result(o, self.inner.step))
    }

    #[wasm_bindgen(unchecked_return_type = "ElectraStepResult")]
    #[allow(clippy::too_many_arguments)]
    pub fn eval(
        &self,
        ids: &[u32],
        typeIds: &[u32],
        mask: &[u8],
        labels: &[i32],
        batch: u32,
        seq: u32,
        sampled: Option<Vec<u32>>,
    ) -> Result<JsValue, JsValue> {
        let b = Batch { ids, type_ids: typeIds, mask, batch: batch as usize, seq: seq as usize };
        let o = self.inner.eval(&b, labels, sampled.as_deref()).map_err(coded)?;
        Ok(electra_result(o, self.inner.step))
    }

    #[wasm_bindgen(js_name = saveState)]
    pub fn save_state(&self) -> Vec<u8> {
        self.inner.save_state()
    }

    #[wasm_bindgen(js_name = loadState)]
    pub fn load_state(&mut self, bytes: &[u8], name: &str) -> Result<(), JsValue> {
        self.inner.load_state(bytes, name).map_err(coded)
    }

    #[wasm_bindgen(js_name = exportGenerator)]
    pub fn export_generator(&self) -> Vec<u8> {
        self.inner.export_generator().0
    }

    #[wasm_bindgen(js_name = generatorConfig)]
    pub fn generator_config(&self) -> String {
        self.inner.generator_config_json()
    }

    #[wasm_bindgen(js_name = exportDiscriminator)]
    pub fn export_discriminator(&self) -> Vec<u8> {
        self.inner.export_discriminator().0
    }

    #[wasm_bindgen(js_name = discriminatorConfig)]
    pub fn discriminator_config(&self) -> String {
        self.inner.discriminator_config_json()
    }

    #[wasm_bindgen(js_name = optimizerSteps)]
    pub fn optimizer_steps(&self) -> u32 {
        self.inner.step as u32
    }

    pub fn options(&self) -> String {
        self.inner.opts.to_json()
    }
}
