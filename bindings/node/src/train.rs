//! Training bindings (napi): the `TrainSession` class over `biomeg_core::train::Trainer`.
//! Weights, gradients and AdamW moments stay in Rust; each call hands over one batch. Steps run
//! on the libuv thread pool (`AsyncTask`); panics are caught there and become errors.

use std::sync::{Arc, Mutex};

use biomeg_core::train::{EvalOutput, StepOutput, TrainError, Trainer};
use biomeg_core::Batch;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::{guard, js_err};

/// What one `step` did (same fields on the wasm binding).
#[napi(object)]
pub struct StepResult {
    /// Mean loss of this batch over its counted labels.
    pub loss: f64,
    /// Labels that counted (not -100).
    pub counted: u32,
    /// Counted labels the logits' argmax got right (token, sequence, mlm heads; 0 for qa).
    pub correct: u32,
    /// True when this batch completed an accumulation window and the weights were updated.
    pub updated: bool,
    /// Learning rate of that update (else of the next one).
    pub lr: f64,
    /// Global gradient norm before clipping, when updated.
    pub grad_norm: Option<f64>,
    /// Optimizer steps taken so far.
    pub step: u32,
}

fn step_result(o: StepOutput, step: u64) -> StepResult {
    StepResult {
        loss: o.loss as f64,
        counted: o.counted as u32,
        correct: o.correct as u32,
        updated: o.updated,
        lr: o.lr as f64,
        grad_norm: o.grad_norm,
        step: step as u32,
    }
}

/// Loss, counted and correct labels without dropout (`evalMetrics`; same fields on wasm).
#[napi(object)]
pub struct EvalResult {
    pub loss: f64,
    pub counted: u32,
    /// Counted labels the argmax got right: masked-token accuracy = correct / counted.
    pub correct: u32,
}

fn eval_result(o: EvalOutput) -> EvalResult {
    EvalResult { loss: o.loss as f64, counted: o.counted as u32, correct: o.correct as u32 }
}

/// Runs `f` with the trainer locked, turning panics into errors.
pub(crate) fn guarded<T, M>(t: &Mutex<M>, f: impl FnOnce(&mut M) -> std::result::Result<T, TrainError>) -> napi::Result<T> {
    let mut g = t.lock().map_err(|_| js_err("BIOMEG_PANIC", "training session is unusable after an earlier internal error"))?;
    guard(|| f(&mut g))
}

#[napi]
pub struct TrainSession {
    inner: Arc<Mutex<Trainer>>,
}

#[napi]
impl TrainSession {
    /// Start from config.json text, safetensors bytes (with a task head) and options JSON
    /// (the keys of `biomeg_core::train::TrainOptions`, camelCase).
    #[napi(factory)]
    pub fn from_bytes(config_json: String, weights: Uint8Array, options_json: String) -> Result<TrainSession> {
        let t = guard(|| Trainer::from_bytes(&config_json, &weights, &options_json))?;
        Ok(TrainSession { inner: Arc::new(Mutex::new(t)) })
    }

    /// A randomly initialised encoder (pre-training from scratch) from config.json text or a
    /// preset name, and options JSON; the head from `newHead` (e.g. `{"task":"mlm"}`).
    #[napi(factory)]
    pub fn from_config(config_json: String, options_json: String) -> Result<TrainSession> {
        let t = guard(|| Trainer::from_config(&config_json, &options_json))?;
        Ok(TrainSession { inner: Arc::new(Mutex::new(t)) })
    }

    /// Forward + backward on one padded batch, and an AdamW update when `accumSteps` batches
    /// have accumulated. Labels: token heads one per token (-100 = ignore), sequence heads one
    /// per sequence, QA heads (start, end) per sequence.
    #[napi(ts_return_type = "Promise<StepResult>")]
    pub fn step(
        &self,
        ids: Uint32Array,
        type_ids: Uint32Array,
        mask: Uint8Array,
        labels: Int32Array,
        batch: u32,
        seq: u32,
    ) -> AsyncTask<StepTask> {
        self.labelled(ids, type_ids, mask, labels, batch, seq, Mode::Step)
    }

    /// Head logits without dropout ([batch*seq, labels] token/QA, [batch, labels] sequence).
    #[napi(ts_return_type = "Promise<Float32Array>")]
    pub fn eval_logits(&self, ids: Uint32Array, type_ids: Uint32Array, mask: Uint8Array, batch: u32, seq: u32) -> AsyncTask<EvalTask> {
        AsyncTask::new(EvalTask {
            t: self.inner.clone(),
            ids: ids.to_vec(),
            type_ids: type_ids.to_vec(),
            mask: mask.to_vec(),
            batch: batch as usize,
            seq: seq as usize,
        })
    }

    /// Mean loss without dropout; gradients untouched.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn eval_loss(
        &self,
        ids: Uint32Array,
        type_ids: Uint32Array,
        mask: Uint8Array,
        labels: Int32Array,
        batch: u32,
        seq: u32,
    ) -> AsyncTask<StepTask> {
        self.labelled(ids, type_ids, mask, labels, batch, seq, Mode::Loss)
    }

    /// Mean loss, counted and correct labels without dropout; gradients untouched.
    #[napi(ts_return_type = "Promise<EvalResult>")]
    pub fn eval_metrics(
        &self,
        ids: Uint32Array,
        type_ids: Uint32Array,
        mask: Uint8Array,
        labels: Int32Array,
        batch: u32,
        seq: u32,
    ) -> AsyncTask<StepTask> {
        self.labelled(ids, type_ids, mask, labels, batch, seq, Mode::Metrics)
    }

    #[allow(clippy::too_many_arguments)]
    fn labelled(
        &self,
        ids: Uint32Array,
        type_ids: Uint32Array,
        mask: Uint8Array,
        labels: Int32Array,
        batch: u32,
        seq: u32,
        mode: Mode,
    ) -> AsyncTask<StepTask> {
        let (ids, type_ids, mask, labels) = (ids.to_vec(), type_ids.to_vec(), mask.to_vec(), labels.to_vec());
        AsyncTask::new(StepTask { t: self.inner.clone(), ids, type_ids, mask, labels, batch: batch as usize, seq: seq as usize, mode })
    }

    /// Weights, AdamW moments and counters as safetensors bytes (for --resume).
    #[napi]
    pub fn save_state(&self) -> Result<Uint8Array> {
        guarded(&self.inner, |t| Ok(t.save_state())).map(Uint8Array::new)
    }

    /// Restore `saveState` bytes; a bad file leaves the session unchanged.
    #[napi]
    pub fn load_state(&self, bytes: Uint8Array, name: String) -> Result<()> {
        guarded(&self.inner, |t| t.load_state(&bytes, &name))
    }

    /// Current weights as a Hugging Face-named safetensors file (load with `config()`).
    #[napi]
    pub fn export_weights(&self) -> Result<Uint8Array> {
        guarded(&self.inner, |t| Ok(t.export_weights())).map(Uint8Array::new)
    }

    /// config.json text for `exportWeights`.
    #[napi]
    pub fn config(&self) -> Result<String> {
        guarded(&self.inner, |t| Ok(t.config_json()))
    }

    /// Optimizer steps taken.
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

pub struct StepTask {
    t: Arc<Mutex<Trainer>>,
    ids: Vec<u32>,
    type_ids: Vec<u32>,
    mask: Vec<u8>,
    labels: Vec<i32>,
    batch: usize,
    seq: usize,
    mode: Mode,
}

#[derive(Clone, Copy)]
pub enum Mode {
    Step,
    Loss,
    Metrics,
}

pub enum StepOut {
    Step(StepResult),
    Loss(f64),
    Metrics(EvalResult),
}

impl Task for StepTask {
    type Output = StepOut;
    type JsValue = Either3<StepResult, f64, EvalResult>;

    fn compute(&mut self) -> napi::Result<StepOut> {
        let (ids, tys, mask, labels, mode) = (&self.ids, &self.type_ids, &self.mask, &self.labels, self.mode);
        let b = Batch { ids, type_ids: tys, mask, batch: self.batch, seq: self.seq };
        guarded(&self.t, |t| match mode {
            Mode::Loss => Ok(StepOut::Loss(t.eval_loss(&b, labels)? as f64)),
            Mode::Metrics => Ok(StepOut::Metrics(eval_result(t.eval_metrics(&b, labels)?))),
            Mode::Step => {
                let o = t.train_step(&b, labels)?;
                Ok(StepOut::Step(step_result(o, t.step)))
            }
        })
    }

    fn resolve(&mut self, _env: Env, out: StepOut) -> napi::Result<Self::JsValue> {
        Ok(match out {
            StepOut::Step(s) => Either3::A(s),
            StepOut::Loss(l) => Either3::B(l),
            StepOut::Metrics(m) => Either3::C(m),
        })
    }
}

pub struct EvalTask {
    t: Arc<Mutex<Trainer>>,
    ids: Vec<u32>,
    type_ids: Vec<u32>,
    mask: Vec<u8>,
    batch: usize,
    seq: usize,
}

impl Task for EvalTask {
    type Output = Vec<f32>;
    type JsValue = Float32Array;

    fn compute(&mut self) -> napi::Result<Vec<f32>> {
        let b = Batch { ids: &self.ids, type_ids: &self.type_ids, mask: &self.mask, batch: self.batch, seq: self.seq };
        guarded(&self.t, |t| t.eval_logits(&b))
    }

    fn resolve(&mut self, _env: Env, out: Vec<f32>) -> napi::Result<Float32Array> {
        Ok(Float32Array::new(out))
    }
}
