//! ELECTRA pre-training binding (napi): the `ElectraSession` class over
//! `biomeg_core::train::electra::ElectraTrainer` (generator + discriminator, shared embeddings).
//! Steps run on the libuv thread pool; panics become errors.

use std::sync::{Arc, Mutex};

use biomeg_core::train::electra::{ElectraStep, ElectraTrainer};
use biomeg_core::Batch;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::guard;
use crate::train::guarded;

/// What one ELECTRA `step` / `eval` did (same fields on the wasm binding).
#[napi(object)]
pub struct ElectraStepResult {
    /// genLoss + discWeight * discLoss.
    pub loss: f64,
    /// Generator MLM loss over the masked positions.
    pub gen_loss: f64,
    /// Discriminator binary cross-entropy over the non-padding positions.
    pub disc_loss: f64,
    pub masked: u32,
    /// Masked positions whose generator argmax is the original token.
    pub gen_correct: u32,
    /// Masked positions whose sampled token differs from the original.
    pub replaced: u32,
    pub disc_counted: u32,
    /// Positions the discriminator classified right (logit > 0 = replaced).
    pub disc_correct: u32,
    pub updated: bool,
    pub lr: f64,
    pub grad_norm: Option<f64>,
    /// Optimizer steps taken so far.
    pub step: u32,
}

fn electra_result(o: ElectraStep, step: u64) -> ElectraStepResult {
    ElectraStepResult {
        loss: o.loss as f64,
        gen_loss: o.gen_loss as f64,
        disc_loss: o.disc_loss as f64,
        masked: o.masked as u32,
        gen_correct: o.gen_correct as u32,
        replaced: o.replaced as u32,
        disc_counted: o.disc_counted as u32,
        disc_correct: o.disc_correct as u32,
        updated: o.updated,
        lr: o.lr as f64,
        grad_norm: o.grad_norm,
        step: step as u32,
    }
}

#[napi]
pub struct ElectraSession {
    inner: Arc<Mutex<ElectraTrainer>>,
}

#[napi]
impl ElectraSession {
    /// Both models randomly initialised from the discriminator's config.json text (model_type
    /// electra) and options JSON (TrainOptions keys plus discWeight, generatorFraction).
    #[napi(factory)]
    pub fn from_config(config_json: String, options_json: String) -> Result<ElectraSession> {
        let t = guard(|| ElectraTrainer::from_config(&config_json, &options_json))?;
        Ok(ElectraSession { inner: Arc::new(Mutex::new(t)) })
    }

    /// From an ElectraForMaskedLM generator and an ElectraForPreTraining discriminator
    /// (config.json text and safetensors bytes each).
    #[napi(factory)]
    pub fn from_bytes(
        gen_config: String,
        gen_weights: Uint8Array,
        disc_config: String,
        disc_weights: Uint8Array,
        options_json: String,
    ) -> Result<ElectraSession> {
        let t = guard(|| ElectraTrainer::from_bytes(&gen_config, &gen_weights, &disc_config, &disc_weights, &options_json))?;
        Ok(ElectraSession { inner: Arc::new(Mutex::new(t)) })
    }

    /// Train on one masked batch: labels are the original ids at masked positions (-100
    /// elsewhere); `sampled` optionally gives the replacement token of each masked position in
    /// order (else drawn from the generator, seeded).
    #[napi(ts_return_type = "Promise<ElectraStepResult>")]
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &self,
        ids: Uint32Array,
        type_ids: Uint32Array,
        mask: Uint8Array,
        labels: Int32Array,
        batch: u32,
        seq: u32,
        sampled: Option<Uint32Array>,
    ) -> AsyncTask<ElectraTask> {
        self.task(ids, type_ids, mask, labels, batch, seq, sampled, false)
    }

    /// Losses and counts without dropout; gradients untouched.
    #[napi(ts_return_type = "Promise<ElectraStepResult>")]
    #[allow(clippy::too_many_arguments)]
    pub fn eval(
        &self,
        ids: Uint32Array,
        type_ids: Uint32Array,
        mask: Uint8Array,
        labels: Int32Array,
        batch: u32,
        seq: u32,
        sampled: Option<Uint32Array>,
    ) -> AsyncTask<ElectraTask> {
        self.task(ids, type_ids, mask, labels, batch, seq, sampled, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn task(
        &self,
        ids: Uint32Array,
        type_ids: Uint32Array,
        mask: Uint8Array,
        labels: Int32Array,
        batch: u32,
        seq: u32,
        sampled: Option<Uint32Array>,
        eval: bool,
    ) -> AsyncTask<ElectraTask> {
        AsyncTask::new(ElectraTask {
            t: self.inner.clone(),
            ids: ids.to_vec(),
            type_ids: type_ids.to_vec(),
            mask: mask.to_vec(),
            labels: labels.to_vec(),
            sampled: sampled.map(|s| s.to_vec()),
            batch: batch as usize,
            seq: seq as usize,
            eval,
        })
    }

    /// Both models' weights, optimizer moments and the counters (for --resume).
    #[napi]
    pub fn save_state(&self) -> Result<Uint8Array> {
        guarded(&self.inner, |t| Ok(t.save_state())).map(Uint8Array::new)
    }

    /// Restore `saveState` bytes; a bad file leaves the session unchanged.
    #[napi]
    pub fn load_state(&self, bytes: Uint8Array, name: String) -> Result<()> {
        guarded(&self.inner, |t| t.load_state(&bytes, &name))
    }

    /// The generator as Hugging Face ElectraForMaskedLM safetensors.
    #[napi]
    pub fn export_generator(&self) -> Result<Uint8Array> {
        guarded(&self.inner, |t| Ok(t.export_generator().0)).map(Uint8Array::new)
    }

    /// config.json text for `exportGenerator`.
    #[napi]
    pub fn generator_config(&self) -> Result<String> {
        guarded(&self.inner, |t| Ok(t.generator_config_json()))
    }

    /// The discriminator as Hugging Face ElectraForPreTraining safetensors.
    #[napi]
    pub fn export_discriminator(&self) -> Result<Uint8Array> {
        guarded(&self.inner, |t| Ok(t.export_discriminator().0)).map(Uint8Array::new)
    }

    /// config.json text for `exportDiscriminator`.
    #[napi]
    pub fn discriminator_config(&self) -> Result<String> {
        guarded(&self.inner, |t| Ok(t.discriminator_config_json()))
    }

    #[napi]
    pub fn optimizer_steps(&self) -> Result<u32> {
        guarded(&self.inner, |t| Ok(t.step as u32))
    }

    /// The options in effect, as JSON.
    #[napi]
    pub fn options(&self) -> Result<String> {
        guarded(&self.inner, |t| Ok(t.opts.to_json()))
    }
}

pub struct ElectraTask {
    t: Arc<Mutex<ElectraTrainer>>,
    ids: Vec<u32>,
    type_ids: Vec<u32>,
    mask: Vec<u8>,
    labels: Vec<i32>,
    sampled: Option<Vec<u32>>,
    batch: usize,
    seq: usize,
    eval: bool,
}

impl Task for ElectraTask {
    type Output = ElectraStepResult;
    type JsValue = ElectraStepResult;

    fn compute(&mut self) -> napi::Result<ElectraStepResult> {
        let b = Batch { ids: &self.ids, type_ids: &self.type_ids, mask: &self.mask, batch: self.batch, seq: self.seq };
        let (labels, sampled, eval) = (&self.labels, self.sampled.as_deref(), self.eval);
        guarded(&self.t, |t| {
            let o = if eval { t.eval(&b, labels, sampled)? } else { t.train_step(&b, labels, sampled)? };
            Ok(electra_result(o, t.step))
        })
    }

    fn resolve(&mut self, _env: Env, out: ElectraStepResult) -> napi::Result<ElectraStepResult> {
        Ok(out)
    }
}
