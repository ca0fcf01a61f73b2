//! Fine-tuning: forward with cache, hand-written backward for every op of the BERT (post-LN),
//! Megatron-BERT (pre-LN) and ELECTRA encoders and their task heads, softmax cross-entropy with
//! an ignore index, seeded dropout, AdamW with linear warm-up/decay, global-norm clipping and
//! gradient accumulation. A `Trainer` owns the weights, gradients and optimizer moments, so a
//! binding makes one call per batch and nothing crosses the boundary between steps.
//!
//! Numerics: activations and gradients are f32; norms and loss sums accumulate in f64. Every
//! backward kernel is checked against float64 finite differences (tests.rs) and one AdamW step on
//! the tiny fixtures against PyTorch (tests/train_parity.rs).

pub mod attention;
pub mod backprop;
pub mod electra;
pub mod head_init;
pub mod ops;
pub mod optim;
mod state;
#[cfg(test)]
mod tests;

use crate::config::{HeadTask, ModelConfig};
use crate::error::CoreError;
use crate::forward::DropCfg;
use crate::model::{Batch, Encoder};
pub use head_init::NewHead;
use ops::{cross_entropy, mix64, IGNORE_INDEX};
use optim::{clip_coef, global_norm, lr_factor, zero_all, AdamW};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Errors of the training path: the core's, plus a non-finite loss or gradient.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainError {
    Core(CoreError),
    /// The loss (or the gradient norm) is NaN or infinite; weights were left untouched.
    NonFinite {
        what: &'static str,
        value: f32,
        step: u64,
    },
}

impl TrainError {
    pub fn code(&self) -> &'static str {
        match self {
            TrainError::Core(e) => e.code(),
            TrainError::NonFinite { .. } => "BIOMEG_NONFINITE_LOSS",
        }
    }
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::Core(e) => e.fmt(f),
            TrainError::NonFinite { what, value, step } => write!(
                f,
                "{what} is {value} at optimizer step {step}: stopped before updating the weights (the last good state is kept; lower the learning rate or enable gradient clipping)"
            ),
        }
    }
}

impl std::error::Error for TrainError {}

impl From<CoreError> for TrainError {
    fn from(e: CoreError) -> Self {
        TrainError::Core(e)
    }
}

pub type TrainResult<T> = std::result::Result<T, TrainError>;

fn bad_input(msg: String) -> TrainError {
    TrainError::Core(CoreError::Input(msg))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    AdamW,
    Lamb,
}

/// Hyper-parameters. JSON keys (camelCase) in brackets; defaults follow Hugging Face's Trainer
/// except the dropouts, which follow the BioMegatron recipe where it states them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TrainOptions {
    /// [optimizer] "adamw" (default) or "lamb" (per-tensor trust ratio, for large batches).
    pub optimizer: Optimizer,
    /// Peak learning rate [lr] (5e-5).
    pub lr: f32,
    /// Decoupled weight decay [weightDecay] (0.01); never applied to biases or LayerNorm.
    pub weight_decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    /// Adam epsilon [eps] (1e-8).
    pub eps: f32,
    /// Linear warm-up over this many optimizer steps [warmupSteps] (0).
    pub warmup_steps: u64,
    /// Linear decay to 0 at this optimizer step [totalSteps]; 0 = constant (0).
    pub total_steps: u64,
    /// Clip gradients to this global L2 norm [maxGradNorm]; 0 = off (1.0).
    pub max_grad_norm: f32,
    /// Micro-batches per optimizer step [accumSteps] (1).
    pub accum_steps: u32,
    /// Dropout after embeddings and sub-layer outputs [hiddenDropout] (0.1).
    pub hidden_dropout: f32,
    /// Dropout on attention probabilities [attnDropout] (0.1).
    pub attn_dropout: f32,
    /// Dropout on the head input [headDropout] (0.1).
    pub head_dropout: f32,
    /// Seed of every dropout mask [seed] (42).
    pub seed: u64,
    /// Token id whose word embedding is never updated [padTokenId] (0, BERT's [PAD]; null = none).
    /// `with_model_config` takes it from config.json's pad_token_id.
    pub pad_token_id: Option<u32>,
    /// Replace (or add) the task head with a freshly initialised one [newHead] (none): for base
    /// encoders without a head. See `head_init::NewHead` for the keys.
    pub new_head: Option<NewHead>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            optimizer: Optimizer::AdamW,
            lr: 5e-5,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            warmup_steps: 0,
            total_steps: 0,
            max_grad_norm: 1.0,
            accum_steps: 1,
            hidden_dropout: 0.1,
            attn_dropout: 0.1,
            head_dropout: 0.1,
            seed: 42,
            pad_token_id: Some(0),
            new_head: None,
        }
    }
}

impl TrainOptions {
    /// Parse a JSON object of camelCase keys; unknown keys and out-of-range values are errors.
    pub fn from_json(text: &str) -> TrainResult<Self> {
        let text = if text.trim().is_empty() { "{}" } else { text };
        let o: TrainOptions = crate::config::parse_json(text, "training option")
            .map_err(|m| bad_input(if m.starts_with("unknown") { m } else { format!("training options: {m}") }))?;
        o.validate()?;
        Ok(o)
    }

    /// Take pad_token_id from config.json text (when present) unless the options set it; a new
    /// head's weight std defaults to config.json's initializer_range.
    pub fn with_model_config(mut self, config_json: &str, options_json: &str) -> Self {
        let set_here = options_json.contains("\"padTokenId\"");
        let cfg_v = serde_json::from_str::<Value>(config_json).ok();
        if let (Some(nh), Some(v)) = (self.new_head.as_mut(), cfg_v.as_ref()) {
            if nh.init_std.is_none() {
                nh.init_std = v.get("initializer_range").and_then(Value::as_f64).map(|x| x as f32);
            }
        }
        if !set_here {
            if let Some(v) = cfg_v {
                match v.get("pad_token_id") {
                    Some(Value::Null) => self.pad_token_id = None,
                    Some(n) => self.pad_token_id = n.as_u64().map(|n| n as u32).or(self.pad_token_id),
                    None => {}
                }
            }
        }
        self
    }

    pub fn validate(&self) -> TrainResult<()> {
        let prob =
            |n: &str, p: f32| if (0.0..1.0).contains(&p) { Ok(()) } else { Err(bad_input(format!("{n} must be in [0, 1), got {p}"))) };
        prob("hiddenDropout", self.hidden_dropout)?;
        prob("attnDropout", self.attn_dropout)?;
        prob("headDropout", self.head_dropout)?;
        prob("beta1", self.beta1)?;
        prob("beta2", self.beta2)?;
        let ok = self.lr >= 0.0 && self.lr.is_finite() && self.weight_decay >= 0.0 && self.eps > 0.0 && self.max_grad_norm >= 0.0;
        if !ok {
            return Err(bad_input("lr, weightDecay and maxGradNorm must be >= 0 and eps > 0".into()));
        }
        if self.accum_steps == 0 {
            return Err(bad_input("accumSteps must be >= 1".into()));
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("options serialize")
    }
}

/// What one `step` did.
#[derive(Clone, Debug, PartialEq)]
pub struct StepOutput {
    /// Mean loss of this micro-batch over its counted labels.
    pub loss: f32,
    /// Labels that counted (not ignored).
    pub counted: usize,
    /// Counted labels whose logit argmax equals the label (token, sequence and MLM heads; 0 for
    /// QA): masked-token accuracy = correct / counted.
    pub correct: usize,
    /// True when this call completed an accumulation window and updated the weights.
    pub updated: bool,
    /// Learning rate used by that update (else the one the next update will use).
    pub lr: f32,
    /// Global gradient norm before clipping, when updated.
    pub grad_norm: Option<f64>,
}

/// Owns an encoder with a task head, its gradients and AdamW moments.
pub struct Trainer {
    pub enc: Encoder,
    grads: Encoder,
    m: Encoder,
    v: Encoder,
    pub opts: TrainOptions,
    /// Optimizer steps taken.
    pub step: u64,
    /// Micro-batches trained in total (seeds each micro-batch's dropout).
    pub batches: u64,
    /// Micro-batches accumulated towards the next update.
    pub pending: u32,
}

/// Loss, counted and correct labels of a forward without dropout (`Trainer::eval_metrics`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvalOutput {
    pub loss: f32,
    pub counted: usize,
    pub correct: usize,
}

/// Rows of `logits` [rows, classes] whose argmax equals a counted target (first maximum wins).
pub fn argmax_hits(logits: &[f32], classes: usize, targets: &[i32]) -> usize {
    targets
        .iter()
        .enumerate()
        .filter(|&(r, &t)| {
            if t < 0 || t as usize >= classes {
                return false;
            }
            let row = &logits[r * classes..(r + 1) * classes];
            let best = row.iter().enumerate().fold(0, |b, (j, &v)| if v > row[b] { j } else { b });
            best == t as usize
        })
        .count()
}

impl Trainer {
    pub fn new(mut enc: Encoder, opts: TrainOptions) -> TrainResult<Self> {
        opts.validate()?;
        if let Some(nh) = &opts.new_head {
            nh.install(&mut enc);
        }
        match enc.head.as_ref().map(|h| h.task) {
            Some(HeadTask::Token | HeadTask::Sequence | HeadTask::Qa | HeadTask::Mlm) => {}
            Some(HeadTask::Discriminator) => return Err(bad_input("fine-tuning needs a token, sequence or qa head; this checkpoint has ELECTRA's discriminator head".into())),
            None => return Err(bad_input("fine-tuning needs a task head: the checkpoint has no classifier / qa_outputs tensors and config.json no biomeg_head (pass the newHead option to add a freshly initialised one)".into())),
        }
        Trainer::with_any_head(enc, opts)
    }

    /// A trainer for `enc` whatever its head (ELECTRA's discriminator too): no head checks.
    pub(crate) fn with_any_head(enc: Encoder, opts: TrainOptions) -> TrainResult<Self> {
        enc.cfg.check_fits_memory_copies("config", 4, "training (weights, gradients and AdamW's two moments)")?;
        let zeros = || Encoder::zeros(enc.cfg.clone());
        let (grads, m, v) = (zeros()?, zeros()?, zeros()?);
        Ok(Trainer { enc, grads, m, v, opts, step: 0, batches: 0, pending: 0 })
    }

    /// A trainer for a randomly initialised encoder (pre-training from scratch) from config.json
    /// text (or a preset name) and options JSON: every weight normal(0, initializer_range)
    /// (config.json's, else 0.02), LayerNorm 1/0, biases 0, the padding row of the word
    /// embeddings zero, as Hugging Face's BERT `_init_weights`; seeded by the options' seed.
    /// The head comes from `newHead` (e.g. `{"task":"mlm"}`) or config.json's biomeg_head.
    pub fn from_config(config_json: &str, options_json: &str) -> TrainResult<Self> {
        let cfg = ModelConfig::from_json_or_preset(config_json)?;
        let opts = TrainOptions::from_json(options_json)?.with_model_config(config_json, options_json);
        let std = serde_json::from_str::<Value>(config_json)
            .ok()
            .and_then(|v| v.get("initializer_range").and_then(Value::as_f64))
            .unwrap_or(0.02) as f32;
        if !(std >= 0.0 && std.is_finite()) {
            return Err(bad_input(format!("initializer_range must be a number >= 0, got {std}")));
        }
        let mut enc = Encoder::initialised(cfg, std, opts.seed)?;
        if let Some(p) = opts.pad_token_id.map(|p| p as usize).filter(|&p| p < enc.cfg.vocab_size) {
            let e = enc.cfg.embedding_size;
            enc.emb.word[p * e..(p + 1) * e].fill(0.0);
        }
        Trainer::new(enc, opts)
    }

    /// A trainer from config.json text, safetensors bytes and options JSON (camelCase keys; see
    /// `TrainOptions`); pad_token_id and a new head's init std default from config.json.
    pub fn from_bytes(config_json: &str, weights: &[u8], options_json: &str) -> TrainResult<Self> {
        let enc = crate::load_from_bytes(config_json, "config.json", weights, "model.safetensors")?;
        let opts = TrainOptions::from_json(options_json)?.with_model_config(config_json, options_json);
        Trainer::new(enc, opts)
    }

    /// The gradients accumulated so far (same layout as the encoder).
    pub fn grads(&self) -> &Encoder {
        &self.grads
    }

    /// Learning rate of the next optimizer step.
    pub fn current_lr(&self) -> f32 {
        self.opts.lr * lr_factor(self.step, self.opts.warmup_steps, self.opts.total_steps)
    }

    /// Loss of `logits` and its gradient (times `scale`). Labels: token heads [batch*seq] class
    /// ids, sequence heads [batch], QA heads [batch*2] (start, end) positions; -100 is ignored
    /// (QA positions outside [0, seq) as well, as Hugging Face does for truncated answers).
    fn loss(&self, logits: &[f32], labels: &[i32], batch: usize, seq: usize, scale: f32) -> TrainResult<(f32, usize, Vec<f32>)> {
        let head = self.enc.head.as_ref().unwrap();
        let n = head.num_labels;
        let check = |want: usize, what: &str| -> TrainResult<()> {
            if labels.len() != want {
                return Err(bad_input(format!("{} head needs {want} labels ({what}); got {}", head.task.name(), labels.len())));
            }
            if head.task != HeadTask::Qa {
                if let Some(i) = labels.iter().position(|&l| l != IGNORE_INDEX && (l < 0 || l as usize >= n)) {
                    return Err(bad_input(format!(
                        "label {} at position {i} is outside 0..{n} (use -100 to ignore a position)",
                        labels[i]
                    )));
                }
            }
            Ok(())
        };
        match head.task {
            HeadTask::Token => {
                check(batch * seq, "one per token")?;
                Ok(cross_entropy(logits, n, labels, scale))
            }
            HeadTask::Sequence => {
                check(batch, "one per sequence")?;
                Ok(cross_entropy(logits, n, labels, scale))
            }
            HeadTask::Qa => {
                check(2 * batch, "start and end per sequence")?;
                let mut grad = vec![0f32; logits.len()];
                let mut loss = 0f32;
                let mut counted = 0;
                for k in 0..2 {
                    let part: Vec<f32> = (0..batch * seq).map(|r| logits[r * 2 + k]).collect();
                    let tg: Vec<i32> = (0..batch)
                        .map(|b| labels[2 * b + k])
                        .map(|p| if p >= 0 && (p as usize) < seq { p } else { IGNORE_INDEX })
                        .collect();
                    let (l, c, g) = cross_entropy(&part, seq, &tg, scale * 0.5);
                    loss += 0.5 * l;
                    counted += c;
                    for (r, gv) in g.into_iter().enumerate() {
                        grad[r * 2 + k] = gv;
                    }
                }
                Ok((loss, counted, grad))
            }
            HeadTask::Mlm => {
                // `logits` holds only the counted positions (`mlm_rows`), in order.
                check(batch * seq, "one per token: the original id at masked positions, -100 elsewhere")?;
                let targets: Vec<i32> = labels.iter().copied().filter(|&l| l != IGNORE_INDEX).collect();
                Ok(cross_entropy(logits, n, &targets, scale))
            }
            HeadTask::Discriminator => unreachable!(),
        }
    }

    /// An MLM head computes logits only at labelled positions: their indices (None for other heads).
    fn mlm_rows(&self, labels: &[i32]) -> Option<Vec<usize>> {
        (self.task() == HeadTask::Mlm).then(|| (0..labels.len()).filter(|&i| labels[i] != IGNORE_INDEX).collect())
    }

    /// Counted labels predicted right by `logits` (as `loss` reads them).
    fn correct(&self, logits: &[f32], labels: &[i32]) -> usize {
        let n = self.enc.head.as_ref().map_or(0, |h| h.num_labels);
        match self.task() {
            HeadTask::Mlm => argmax_hits(logits, n, &labels.iter().copied().filter(|&l| l != IGNORE_INDEX).collect::<Vec<_>>()),
            HeadTask::Token | HeadTask::Sequence => argmax_hits(logits, n, labels),
            HeadTask::Qa | HeadTask::Discriminator => 0,
        }
    }

    fn drop_cfg(&self) -> DropCfg {
        DropCfg {
            hidden: self.opts.hidden_dropout,
            attn: self.opts.attn_dropout,
            head: self.opts.head_dropout,
            seed: mix64(self.opts.seed ^ mix64(self.batches)),
        }
    }

    /// Forward + backward of one micro-batch, adding its gradients (scaled by 1/accumSteps) into
    /// the accumulators; no optimizer step. A non-finite loss adds nothing and is an error.
    pub fn accumulate(&mut self, b: &Batch, labels: &[i32]) -> TrainResult<(f32, usize)> {
        let (loss, counted, _) = self.accumulate_counted(b, labels)?;
        Ok((loss, counted))
    }

    /// `accumulate`, also counting the labels predicted right.
    pub fn accumulate_counted(&mut self, b: &Batch, labels: &[i32]) -> TrainResult<(f32, usize, usize)> {
        let rows = self.checked_mlm_rows(b, labels)?;
        let (logits, cache) = self.enc.forward_train_rows(b, self.drop_cfg(), rows.as_deref())?;
        let scale = 1.0 / self.opts.accum_steps as f32;
        let (loss, counted, dlogits) = self.loss(&logits, labels, b.batch, b.seq, scale)?;
        if !loss.is_finite() {
            return Err(TrainError::NonFinite { what: "loss", value: loss, step: self.step });
        }
        let correct = self.correct(&logits, labels);
        backprop::backward(&self.enc, &mut self.grads, cache, &dlogits, self.opts.pad_token_id);
        self.batches += 1;
        Ok((loss, counted, correct))
    }

    /// `mlm_rows` after checking the label count (the positions index the batch).
    fn checked_mlm_rows(&self, b: &Batch, labels: &[i32]) -> TrainResult<Option<Vec<usize>>> {
        let rows = self.mlm_rows(labels);
        if rows.is_some() && labels.len() != b.batch * b.seq {
            return Err(bad_input(format!(
                "mlm head needs {} labels (one per token: the original id at masked positions, -100 elsewhere); got {}",
                b.batch * b.seq,
                labels.len()
            )));
        }
        Ok(rows)
    }

    /// Train on one micro-batch: forward, backward, and an AdamW update once `accumSteps`
    /// micro-batches have accumulated. On a non-finite loss or gradient the pending gradients are
    /// dropped, the weights stay as they were, and the error says so.
    pub fn train_step(&mut self, b: &Batch, labels: &[i32]) -> TrainResult<StepOutput> {
        let (loss, counted, correct) = match self.accumulate_counted(b, labels) {
            Ok(r) => r,
            Err(e) => {
                if matches!(e, TrainError::NonFinite { .. }) {
                    self.discard_pending();
                }
                return Err(e);
            }
        };
        self.pending += 1;
        if self.pending < self.opts.accum_steps {
            return Ok(StepOutput { loss, counted, correct, updated: false, lr: self.current_lr(), grad_norm: None });
        }
        let lr = self.current_lr();
        let norm = self.apply_update()?;
        Ok(StepOutput { loss, counted, correct, updated: true, lr, grad_norm: Some(norm) })
    }

    /// Clip, then one AdamW update with the accumulated gradients; clears them.
    pub fn apply_update(&mut self) -> TrainResult<f64> {
        let lr = self.current_lr();
        let norm = global_norm(&self.grads);
        if !norm.is_finite() {
            self.discard_pending();
            return Err(TrainError::NonFinite { what: "gradient norm", value: norm as f32, step: self.step });
        }
        let o = &self.opts;
        let lamb = o.optimizer == Optimizer::Lamb;
        let adam = AdamW { lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weight_decay: o.weight_decay, lamb };
        self.step += 1;
        let gscale = clip_coef(norm, o.max_grad_norm);
        adam.update(&mut self.enc, &mut self.grads, &mut self.m, &mut self.v, self.step, lr, gscale);
        self.pending = 0;
        Ok(norm)
    }

    /// Drop gradients accumulated since the last update.
    pub fn discard_pending(&mut self) {
        zero_all(&mut self.grads);
        self.pending = 0;
    }

    /// Head logits without dropout (the runtime's inference path).
    pub fn eval_logits(&self, b: &Batch) -> TrainResult<Vec<f32>> {
        let hidden = self.enc.forward(b)?;
        Ok(self.enc.head_logits(&hidden, b.batch, b.seq)?)
    }

    /// Mean loss without dropout and without touching gradients.
    pub fn eval_loss(&self, b: &Batch, labels: &[i32]) -> TrainResult<f32> {
        Ok(self.eval_metrics(b, labels)?.loss)
    }

    /// Mean loss, counted and correct labels without dropout (an MLM head computes logits at
    /// the labelled positions only); gradients untouched.
    pub fn eval_metrics(&self, b: &Batch, labels: &[i32]) -> TrainResult<EvalOutput> {
        let rows = self.checked_mlm_rows(b, labels)?;
        let hidden = self.enc.forward(b)?;
        let logits = match rows {
            Some(r) => self.enc.mlm_logits_at(&hidden, &r),
            None => self.enc.head_logits(&hidden, b.batch, b.seq)?,
        };
        let (loss, counted, _) = self.loss(&logits, labels, b.batch, b.seq, 1.0)?;
        Ok(EvalOutput { loss, counted, correct: self.correct(&logits, labels) })
    }
}
