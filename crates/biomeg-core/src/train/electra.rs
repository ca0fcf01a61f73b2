//! ELECTRA pre-training (Clark et al. 2020): replaced-token detection. A small generator (masked
//! LM, `ElectraForMaskedLM`) predicts the masked tokens; a token sampled from its softmax replaces
//! each one; the discriminator (`ElectraForPreTraining`) sees that corrupted sequence and says
//! per token whether it was replaced. Both train together on
//! loss = generator MLM loss + lambda * discriminator loss (lambda = 50, the paper's).
//!
//! - Shared embeddings: word, position and token-type tables and the embedding LayerNorm (the
//!   ELECTRA code's shared `embeddings` scope). The discriminator holds them; the generator's
//!   copies are overwritten from it before every forward, and the generator's gradients of them
//!   are added into the discriminator's after every backward (then zeroed), so each shared tensor
//!   is one parameter: counted once in the gradient norm, updated once.
//! - The generator's MLM decoder is tied to those shared word embeddings.
//! - Sampling (seeded, in Rust) passes no gradient: the discriminator's loss reaches the
//!   generator only through the shared embeddings' use in its own forward.
//! - Discriminator loss: binary cross-entropy with logits over the non-padding positions, mean
//!   (Hugging Face `ElectraForPreTraining`); label 1 where the sampled token differs from the
//!   original (a sample that happens to be the original counts as original, as in the paper).

use super::ops::{mix64, IGNORE_INDEX};
use super::optim::{clip_coef, global_norm, AdamW};
use super::state::{export_hf, read_counters, with_metadata};
use super::{backprop, bad_input, Optimizer, TrainError, TrainOptions, TrainResult, Trainer};
use crate::config::{HeadConfig, HeadTask, ModelConfig};
use crate::model::{Batch, Encoder};
use crate::rng::Rng;
use crate::weights::{write_safetensors, SafeTensors};
use serde_json::{Map, Value};

const FORMAT: &str = "biomeg-electra-state";
/// Generator dropout seeds differ from the discriminator's (same options seed).
const GEN_SEED: u64 = 0x6E6E_6E6E;
const SAMPLE_SEED: u64 = 0x5A3B_11E5;

/// ELECTRA's options: every `TrainOptions` key (applied to both models) plus
/// `discWeight` (lambda, 50) and `generatorFraction` (generator width / discriminator width
/// when built from a config, 0.25: ELECTRA-Small's 64 / 256).
#[derive(Clone, Debug, PartialEq)]
pub struct ElectraOptions {
    pub train: TrainOptions,
    pub disc_weight: f32,
    pub generator_fraction: f32,
}

impl Default for ElectraOptions {
    fn default() -> Self {
        ElectraOptions { train: TrainOptions::default(), disc_weight: 50.0, generator_fraction: 0.25 }
    }
}

impl ElectraOptions {
    pub fn from_json(text: &str) -> TrainResult<Self> {
        let text = if text.trim().is_empty() { "{}" } else { text };
        let mut obj: Map<String, Value> =
            serde_json::from_str(text).map_err(|e| bad_input(format!("ELECTRA options: invalid JSON: {e}")))?;
        let mut num = |k: &str, default: f32| -> TrainResult<f32> {
            match obj.remove(k) {
                None => Ok(default),
                Some(v) => v.as_f64().map(|x| x as f32).ok_or_else(|| bad_input(format!("ELECTRA option {k} must be a number, got {v}"))),
            }
        };
        let disc_weight = num("discWeight", 50.0)?;
        let generator_fraction = num("generatorFraction", 0.25)?;
        if !(disc_weight >= 0.0 && disc_weight.is_finite()) {
            return Err(bad_input(format!("discWeight must be a number >= 0, got {disc_weight}")));
        }
        if !(generator_fraction > 0.0 && generator_fraction <= 1.0) {
            return Err(bad_input(format!("generatorFraction must be in (0, 1], got {generator_fraction}")));
        }
        if obj.contains_key("newHead") {
            return Err(bad_input("newHead is not an ELECTRA option (the generator has an MLM head, the discriminator ELECTRA's)".into()));
        }
        let train = TrainOptions::from_json(&Value::Object(obj).to_string())?;
        Ok(ElectraOptions { train, disc_weight, generator_fraction })
    }

    pub fn to_json(&self) -> String {
        let mut v: Value = serde_json::from_str(&self.train.to_json()).expect("options serialize");
        v["discWeight"] = self.disc_weight.into();
        v["generatorFraction"] = self.generator_fraction.into();
        v.to_string()
    }
}

/// What one ELECTRA `step` (or `eval`) did.
#[derive(Clone, Debug, PartialEq)]
pub struct ElectraStep {
    /// gen_loss + lambda * disc_loss.
    pub loss: f32,
    /// Generator MLM loss (mean over masked positions).
    pub gen_loss: f32,
    /// Discriminator BCE (mean over non-padding positions).
    pub disc_loss: f32,
    /// Masked positions, and how many of them the generator's argmax got right.
    pub masked: usize,
    pub gen_correct: usize,
    /// Masked positions whose sampled token differs from the original.
    pub replaced: usize,
    /// Non-padding positions the discriminator scored, and how many it got right (logit > 0
    /// means "replaced").
    pub disc_counted: usize,
    pub disc_correct: usize,
    pub updated: bool,
    pub lr: f32,
    pub grad_norm: Option<f64>,
}

/// Generator and discriminator trained jointly with one optimizer.
pub struct ElectraTrainer {
    pub gen: Trainer,
    pub disc: Trainer,
    pub opts: ElectraOptions,
    /// Optimizer steps taken.
    pub step: u64,
    /// Micro-batches trained (seeds dropout and sampling).
    pub batches: u64,
    pub pending: u32,
}

/// The generator's config for discriminator config `disc`: width, heads and MLP scaled by
/// `fraction` (heads at least 1, width a multiple of them), same depth and embedding size.
pub fn generator_config(disc: &ModelConfig, fraction: f32) -> ModelConfig {
    let scale = |x: usize| ((x as f32 * fraction).round() as usize).max(1);
    let heads = scale(disc.heads);
    let hidden = (scale(disc.hidden) / heads).max(1) * heads;
    let mut g = ModelConfig { hidden, heads, intermediate: scale(disc.intermediate), head: None, labels: Vec::new(), ..disc.clone() };
    g.head = Some(HeadConfig::mlm(&g.model_type, g.embedding_size, g.vocab_size, g.act));
    g
}

/// ELECTRA's discriminator head on a `hidden`-wide encoder: dense, GELU, dense to one logit.
fn disc_head(hidden: usize) -> HeadConfig {
    HeadConfig { task: HeadTask::Discriminator, layers: 2, hidden, num_labels: 1, activation: Some("gelu".into()), pooled: false }
}

/// Mean binary cross-entropy with logits over positions with `mask` 1, and its gradient times
/// `scale`; also the positions counted and those classified right.
fn bce(logits: &[f32], targets: &[f32], mask: &[u8], scale: f32) -> (f32, usize, usize, Vec<f32>) {
    let count = mask.iter().filter(|&&m| m != 0).count();
    let mut grad = vec![0f32; logits.len()];
    if count == 0 {
        return (0.0, 0, 0, grad);
    }
    let (mut total, mut correct) = (0f64, 0);
    for i in 0..logits.len() {
        if mask[i] == 0 {
            continue;
        }
        let (x, y) = (logits[i] as f64, targets[i] as f64);
        total += x.max(0.0) - x * y + (-x.abs()).exp().ln_1p();
        grad[i] = ((1.0 / (1.0 + (-x).exp()) - y) * scale as f64 / count as f64) as f32;
        correct += usize::from((x > 0.0) == (y > 0.5));
    }
    ((total / count as f64) as f32, count, correct, grad)
}

/// One token per row of `logits` [rows, vocab] drawn from softmax(row) (f64 cumulative sums).
fn sample_rows(logits: &[f32], vocab: usize, rng: &mut Rng) -> Vec<u32> {
    logits
        .chunks_exact(vocab)
        .map(|row| {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let w: Vec<f64> = row.iter().map(|&v| (v as f64 - m).exp()).collect();
            let u = rng.uniform() as f64 * w.iter().sum::<f64>();
            let mut acc = 0.0;
            for (j, p) in w.iter().enumerate() {
                acc += p;
                if u < acc {
                    return j as u32;
                }
            }
            (vocab - 1) as u32
        })
        .collect()
}

impl ElectraTrainer {
    /// Joint training of `gen` (an MLM head) and `disc` (ELECTRA's discriminator head); the
    /// discriminator's embeddings become the shared ones.
    pub fn new(gen: Encoder, disc: Encoder, opts: ElectraOptions) -> TrainResult<Self> {
        opts.train.validate()?;
        if gen.head.as_ref().map(|h| h.task) != Some(HeadTask::Mlm) {
            return Err(bad_input("the ELECTRA generator needs a masked-LM head (generator_predictions / generator_lm_head)".into()));
        }
        if disc.head.as_ref().map(|h| h.task) != Some(HeadTask::Discriminator) {
            return Err(bad_input("the ELECTRA discriminator needs its head (discriminator_predictions)".into()));
        }
        let (g, d) = (&gen.cfg, &disc.cfg);
        let shapes = |c: &ModelConfig| (c.vocab_size, c.embedding_size, c.max_positions, c.type_vocab, c.arch);
        if shapes(g) != shapes(d) {
            return Err(bad_input(format!(
                "generator and discriminator must share embeddings: (vocab, embedding_size, max_positions, type_vocab, arch) {:?} vs {:?}",
                shapes(g),
                shapes(d)
            )));
        }
        let mut gopts = opts.train.clone();
        gopts.seed ^= GEN_SEED;
        let mut t = ElectraTrainer {
            gen: Trainer::with_any_head(gen, gopts)?,
            disc: Trainer::with_any_head(disc, opts.train.clone())?,
            opts,
            step: 0,
            batches: 0,
            pending: 0,
        };
        t.sync_embeddings();
        Ok(t)
    }

    /// Both models randomly initialised (as `Trainer::from_config`) from the discriminator's
    /// config.json text: the generator is `generator_config(disc, generatorFraction)`.
    pub fn from_config(config_json: &str, options_json: &str) -> TrainResult<Self> {
        let mut cfg = ModelConfig::from_json_or_preset(config_json)?;
        if cfg.model_type != "electra" {
            return Err(bad_input(format!("ELECTRA pre-training needs model_type \"electra\" in config.json, got \"{}\"", cfg.model_type)));
        }
        let mut opts = ElectraOptions::from_json(options_json)?;
        opts.train = opts.train.with_model_config(config_json, options_json);
        let std = serde_json::from_str::<Value>(config_json)
            .ok()
            .and_then(|v| v.get("initializer_range").and_then(Value::as_f64))
            .unwrap_or(0.02) as f32;
        cfg.head = Some(disc_head(cfg.hidden));
        cfg.labels.clear();
        let gcfg = generator_config(&cfg, opts.generator_fraction);
        let seed = opts.train.seed;
        let mut disc = Encoder::initialised(cfg, std, seed)?;
        let gen = Encoder::initialised(gcfg, std, seed ^ GEN_SEED)?;
        if let Some(p) = opts.train.pad_token_id.map(|p| p as usize).filter(|&p| p < disc.cfg.vocab_size) {
            let e = disc.cfg.embedding_size;
            disc.emb.word[p * e..(p + 1) * e].fill(0.0);
        }
        ElectraTrainer::new(gen, disc, opts)
    }

    /// From Hugging Face checkpoints (continued pre-training): an `ElectraForMaskedLM`
    /// generator and an `ElectraForPreTraining` discriminator (config.json text, safetensors).
    pub fn from_bytes(
        gen_config: &str,
        gen_weights: &[u8],
        disc_config: &str,
        disc_weights: &[u8],
        options_json: &str,
    ) -> TrainResult<Self> {
        let gen = crate::load_from_bytes(gen_config, "generator/config.json", gen_weights, "generator/model.safetensors")?;
        let disc = crate::load_from_bytes(disc_config, "discriminator/config.json", disc_weights, "discriminator/model.safetensors")?;
        let mut opts = ElectraOptions::from_json(options_json)?;
        opts.train = opts.train.with_model_config(disc_config, options_json);
        ElectraTrainer::new(gen, disc, opts)
    }

    /// Copy the shared embeddings (held by the discriminator) into the generator.
    fn sync_embeddings(&mut self) {
        let (d, g) = (&self.disc.enc.emb, &mut self.gen.enc.emb);
        g.word.clone_from(&d.word);
        g.pos.clone_from(&d.pos);
        g.typ.clone_from(&d.typ);
        if let (Some(dl), Some(gl)) = (&d.ln, &mut g.ln) {
            gl.g.clone_from(&dl.g);
            gl.b.clone_from(&dl.b);
        }
    }

    /// Move the generator's gradients of the shared embeddings into the discriminator's.
    fn fold_shared_grads(&mut self) {
        let (d, g) = (&mut self.disc.grads.emb, &mut self.gen.grads.emb);
        let mut pairs: Vec<(&mut Vec<f32>, &mut Vec<f32>)> =
            vec![(&mut d.word, &mut g.word), (&mut d.pos, &mut g.pos), (&mut d.typ, &mut g.typ)];
        if let (Some(dl), Some(gl)) = (&mut d.ln, &mut g.ln) {
            pairs.push((&mut dl.g, &mut gl.g));
            pairs.push((&mut dl.b, &mut gl.b));
        }
        for (dst, src) in pairs {
            for (a, b) in dst.iter_mut().zip(src.iter_mut()) {
                *a += *b;
                *b = 0.0;
            }
        }
    }

    pub fn current_lr(&self) -> f32 {
        self.disc.current_lr()
    }

    /// Generator forward on the masked batch, sampling, discriminator forward on the corrupted
    /// batch. `train`: with dropout and caches, returning what backward needs.
    #[allow(clippy::type_complexity)]
    fn forward(
        &self,
        b: &Batch,
        labels: &[i32],
        sampled: Option<&[u32]>,
        train: bool,
    ) -> TrainResult<(ElectraStep, Option<(crate::forward::Cache, Vec<f32>, crate::forward::Cache, Vec<f32>)>)> {
        let t = b.batch * b.seq;
        if labels.len() != t {
            return Err(bad_input(format!(
                "ELECTRA needs {t} labels (one per token: the original id at masked positions, -100 elsewhere); got {}",
                labels.len()
            )));
        }
        b.check(&self.disc.enc.cfg)?;
        let vocab = self.gen.enc.cfg.vocab_size;
        let sel: Vec<usize> = (0..t).filter(|&i| labels[i] != IGNORE_INDEX).collect();
        if let Some(s) = sampled {
            if s.len() != sel.len() {
                return Err(bad_input(format!("sampled replacements: need one per masked position ({}), got {}", sel.len(), s.len())));
            }
            if let Some(i) = s.iter().position(|&v| v as usize >= vocab) {
                return Err(bad_input(format!("sampled replacement {} at index {i} is outside the vocabulary (vocab_size {vocab})", s[i])));
            }
        }
        let scale = 1.0 / self.opts.train.accum_steps as f32;
        let lambda = self.opts.disc_weight;
        // Generator.
        let (glogits, gcache) = if train {
            let (l, c) = self.gen.enc.forward_train_rows(b, self.gen.drop_cfg(), Some(&sel))?;
            (l, Some(c))
        } else {
            (self.gen.enc.mlm_logits_at(&self.gen.enc.forward(b)?, &sel), None)
        };
        let (gen_loss, masked, gd) = self.gen.loss(&glogits, labels, b.batch, b.seq, scale)?;
        let gen_correct = self.gen.correct(&glogits, labels);
        // Replacements: the caller's, or drawn from the generator (no gradient through this).
        let samples = match sampled {
            Some(s) => s.to_vec(),
            None => {
                let stream = if train { self.batches } else { u64::MAX };
                sample_rows(&glogits, vocab, &mut Rng::new(mix64(self.opts.train.seed ^ SAMPLE_SEED ^ mix64(stream))))
            }
        };
        let mut corrupted = b.ids.to_vec();
        let mut target = vec![0f32; t];
        let mut replaced = 0;
        for (k, &r) in sel.iter().enumerate() {
            corrupted[r] = samples[k];
            if samples[k] as i32 != labels[r] {
                target[r] = 1.0;
                replaced += 1;
            }
        }
        let cb = Batch { ids: &corrupted, type_ids: b.type_ids, mask: b.mask, batch: b.batch, seq: b.seq };
        let (dlogits, dcache) = if train {
            let (l, c) = self.disc.enc.forward_train(&cb, self.disc.drop_cfg())?;
            (l, Some(c))
        } else {
            (self.disc.enc.head_logits(&self.disc.enc.forward(&cb)?, b.batch, b.seq)?, None)
        };
        let (disc_loss, disc_counted, disc_correct, dd) = bce(&dlogits, &target, b.mask, scale * lambda);
        let loss = gen_loss + lambda * disc_loss;
        let out = ElectraStep {
            loss,
            gen_loss,
            disc_loss,
            masked,
            gen_correct,
            replaced,
            disc_counted,
            disc_correct,
            updated: false,
            lr: self.current_lr(),
            grad_norm: None,
        };
        Ok((out, gcache.zip(dcache).map(|(gc, dc)| (gc, gd, dc, dd))))
    }

    /// Train on one micro-batch. `b.ids` is the masked input, `labels` the original id at each
    /// masked position (-100 elsewhere), `sampled` optionally the replacement token for each
    /// masked position in order (else drawn from the generator, seeded). One joint optimizer
    /// update once `accumSteps` micro-batches have accumulated.
    pub fn train_step(&mut self, b: &Batch, labels: &[i32], sampled: Option<&[u32]>) -> TrainResult<ElectraStep> {
        let mut out = self.accumulate(b, labels, sampled)?;
        self.pending += 1;
        if self.pending < self.opts.train.accum_steps {
            return Ok(out);
        }
        out.lr = self.current_lr();
        out.grad_norm = Some(self.apply_update()?);
        out.updated = true;
        Ok(out)
    }

    /// Forward and backward of one micro-batch into the gradients (scaled by 1/accumSteps), no
    /// update. A non-finite loss drops the pending gradients and is an error.
    pub fn accumulate(&mut self, b: &Batch, labels: &[i32], sampled: Option<&[u32]>) -> TrainResult<ElectraStep> {
        let (out, caches) = self.forward(b, labels, sampled, true)?;
        if !out.loss.is_finite() {
            self.discard_pending();
            return Err(TrainError::NonFinite { what: "loss", value: out.loss, step: self.step });
        }
        let (gc, gd, dc, dd) = caches.expect("training forward keeps caches");
        let pad = self.opts.train.pad_token_id;
        backprop::backward(&self.disc.enc, &mut self.disc.grads, dc, &dd, pad);
        backprop::backward(&self.gen.enc, &mut self.gen.grads, gc, &gd, pad);
        self.fold_shared_grads();
        self.batches += 1;
        (self.gen.batches, self.disc.batches) = (self.batches, self.batches);
        Ok(out)
    }

    /// Clip by the global norm over both models (shared tensors once), then one AdamW / LAMB
    /// update of both; clears the gradients.
    pub fn apply_update(&mut self) -> TrainResult<f64> {
        let lr = self.current_lr();
        let (nd, ng) = (global_norm(&self.disc.grads), global_norm(&self.gen.grads));
        let norm = (nd * nd + ng * ng).sqrt();
        if !norm.is_finite() {
            self.discard_pending();
            return Err(TrainError::NonFinite { what: "gradient norm", value: norm as f32, step: self.step });
        }
        let o = &self.opts.train;
        let adam = AdamW {
            lr: o.lr,
            beta1: o.beta1,
            beta2: o.beta2,
            eps: o.eps,
            weight_decay: o.weight_decay,
            lamb: o.optimizer == Optimizer::Lamb,
        };
        self.step += 1;
        let gscale = clip_coef(norm, o.max_grad_norm);
        for t in [&mut self.disc, &mut self.gen] {
            adam.update(&mut t.enc, &mut t.grads, &mut t.m, &mut t.v, self.step, lr, gscale);
            t.step = self.step;
            t.pending = 0;
        }
        self.pending = 0;
        // The generator's own copies of the shared tensors took no gradient; bring them back.
        self.sync_embeddings();
        Ok(norm)
    }

    pub fn discard_pending(&mut self) {
        self.gen.discard_pending();
        self.disc.discard_pending();
        self.pending = 0;
    }

    /// Losses and counts without dropout (replacements sampled from a fixed stream unless given).
    pub fn eval(&self, b: &Batch, labels: &[i32], sampled: Option<&[u32]>) -> TrainResult<ElectraStep> {
        Ok(self.forward(b, labels, sampled, false)?.0)
    }

    /// Both models' weights and moments, the counters and options, as one safetensors file.
    pub fn save_state(&self) -> Vec<u8> {
        let mut keyed = self.gen.state_entries("generator/");
        keyed.extend(self.disc.state_entries("discriminator/"));
        let refs: Vec<(&str, &[usize], &[f32])> = keyed.iter().map(|(n, s, t)| (n.as_str(), s.as_slice(), *t)).collect();
        let meta = [
            ("format", FORMAT.to_string()),
            ("version", "1".to_string()),
            ("step", self.step.to_string()),
            ("batches", self.batches.to_string()),
            ("options", self.opts.to_json()),
            ("generator_config", self.gen.enc.cfg.to_json()),
            ("discriminator_config", self.disc.enc.cfg.to_json()),
        ];
        with_metadata(write_safetensors(&refs), &meta)
    }

    /// Restore `save_state` bytes (same shapes); a bad file leaves the trainer unchanged.
    pub fn load_state(&mut self, bytes: &[u8], file: &str) -> TrainResult<()> {
        let (step, batches) = read_counters(bytes, file, FORMAT)?;
        let st = SafeTensors::open(bytes, file)?;
        let (g, d) = (self.gen.read_state(&st, "generator/")?, self.disc.read_state(&st, "discriminator/")?);
        self.gen.install_state(g, step, batches);
        self.disc.install_state(d, step, batches);
        (self.step, self.batches, self.pending) = (step, batches, 0);
        self.sync_embeddings();
        Ok(())
    }

    /// The generator as a Hugging Face `ElectraForMaskedLM` safetensors file (with the shared
    /// embeddings) and its config.json text.
    pub fn export_generator(&self) -> (Vec<u8>, String) {
        (export_hf(&self.gen.enc), self.gen.enc.cfg.to_json())
    }

    /// The discriminator as a Hugging Face `ElectraForPreTraining` safetensors file and its
    /// config.json text: what fine-tuning loads (with a new head).
    pub fn export_discriminator(&self) -> (Vec<u8>, String) {
        (export_hf(&self.disc.enc), self.disc.enc.cfg.to_json())
    }

    /// config.json text of the generator (`ElectraForMaskedLM`).
    pub fn generator_config_json(&self) -> String {
        self.gen.enc.cfg.to_json()
    }

    /// config.json text of the discriminator (`ElectraForPreTraining`).
    pub fn discriminator_config_json(&self) -> String {
        self.disc.enc.cfg.to_json()
    }

    /// Accumulated gradients of both models under Hugging Face names (tests): (generator,
    /// discriminator); the shared embeddings' are in the discriminator's.
    pub fn export_gradients(&self) -> (Vec<u8>, Vec<u8>) {
        (export_hf(self.gen.grads()), export_hf(self.disc.grads()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ElectraTrainer {
        let cfg = r#"{"model_type":"electra","vocab_size":30,"hidden_size":16,"embedding_size":8,"num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":32,"max_position_embeddings":16}"#;
        ElectraTrainer::from_config(cfg, r#"{"lr":0.002,"hiddenDropout":0,"attnDropout":0,"headDropout":0,"generatorFraction":0.5}"#)
            .unwrap()
    }

    fn batch() -> (Vec<u32>, Vec<u32>, Vec<u8>, Vec<i32>) {
        let ids = vec![2, 5, 4, 9, 4, 3, 2, 8, 4, 11, 3, 0];
        let labels = vec![-100, -100, 7, -100, 12, -100, -100, -100, 6, -100, -100, -100];
        (ids, vec![0; 12], vec![1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0], labels)
    }

    #[test]
    fn generator_is_a_fraction_with_shared_embeddings() {
        let t = tiny();
        let g = &t.gen.enc.cfg;
        assert_eq!((g.hidden, g.heads, g.intermediate, g.embedding_size, g.layers), (8, 2, 16, 8, 2));
        assert_eq!(t.gen.enc.emb.word, t.disc.enc.emb.word);
        assert!(t.gen.enc.emb.project.is_none() && t.disc.enc.emb.project.is_some());
        let pad: Vec<f32> = t.disc.enc.emb.word[..8].to_vec();
        assert!(pad.iter().all(|&v| v == 0.0), "padding row starts at zero");
    }

    #[test]
    fn joint_steps_reduce_the_loss_and_keep_embeddings_shared() {
        let mut t = tiny();
        let (ids, tys, mask, labels) = batch();
        let b = Batch { ids: &ids, type_ids: &tys, mask: &mask, batch: 2, seq: 6 };
        let first = t.train_step(&b, &labels, Some(&[7, 1, 6])).unwrap();
        assert_eq!((first.masked, first.replaced, first.disc_counted), (3, 1, 11));
        assert!((first.loss - (first.gen_loss + 50.0 * first.disc_loss)).abs() < 1e-4);
        let mut last = first.clone();
        for _ in 0..30 {
            last = t.train_step(&b, &labels, None).unwrap();
        }
        assert!(last.gen_loss < first.gen_loss * 0.85, "generator {} -> {}", first.gen_loss, last.gen_loss);
        assert_eq!(t.gen.enc.emb.word, t.disc.enc.emb.word);
        assert_eq!(t.gen.enc.emb.pos, t.disc.enc.emb.pos);
        // State round trip resumes identically.
        let saved = t.save_state();
        let a = t.train_step(&b, &labels, None).unwrap();
        let mut u = tiny();
        u.load_state(&saved, "state").unwrap();
        let c = u.train_step(&b, &labels, None).unwrap();
        assert_eq!((a.loss, a.grad_norm), (c.loss, c.grad_norm));
        // Bad input names the problem.
        let e = t.train_step(&b, &labels, Some(&[1, 2])).unwrap_err().to_string();
        assert!(e.contains("one per masked position (3), got 2"), "{e}");
        let mut bad = labels.clone();
        bad[2] = 30;
        let e = t.train_step(&b, &bad, None).unwrap_err().to_string();
        assert!(e.contains("label 30 at position 2 is outside 0..30"), "{e}");
    }
}
