//! Transformer encoders with task heads.
//!
//! - BERT (Devlin et al. 2019): LayerNorm after each residual add, LayerNorm on embeddings.
//! - Megatron-BERT (Shoeybi et al. 2019; BioMegatron, Shin et al. 2020): LayerNorm before each
//!   sub-layer, residual added after, a final LayerNorm; no LayerNorm on the embeddings.
//! - ELECTRA discriminator (Clark et al. 2020): BERT layers; embeddings of `embedding_size`
//!   projected to the hidden size when the two differ.
//!
//! Weights use Hugging Face names (with or without the `bert.` / `electra.` prefix). Q, K and V
//! are stored fused as one [3H, H] matrix so each layer does one QKV GEMM.

use crate::config::{Arch, HeadConfig, HeadTask, ModelConfig};
use crate::error::{CoreError, Result};
use crate::kernels::attention::{fused_attention, AttnShape};
use crate::kernels::dispatch::matmul;
use crate::kernels::gemm::MatRef;
use crate::kernels::ops::{add_assign, add_layer_norm, fill_rows, gelu, layer_norm};
use crate::rng::Rng;
use crate::weights::{ByteSource, SafeTensors};

/// y = x W^T + b with W stored [out, in].
pub struct Linear {
    pub w: Vec<f32>,
    pub b: Vec<f32>,
    pub inp: usize,
    pub out: usize,
}

impl Linear {
    pub fn forward(&self, x: &[f32], rows: usize, y: &mut [f32]) {
        let y = &mut y[..rows * self.out];
        fill_rows(y, &self.b);
        matmul(rows, self.out, self.inp, MatRef::row_major(&x[..rows * self.inp], self.inp), MatRef::transposed(&self.w, self.inp), y, self.out, true);
    }
    fn random(inp: usize, out: usize, rng: &mut Rng) -> Self {
        Linear { w: (0..inp * out).map(|_| rng.normal() * 0.02).collect(), b: vec![0.0; out], inp, out }
    }
}

pub struct LayerNorm {
    pub g: Vec<f32>,
    pub b: Vec<f32>,
}

impl LayerNorm {
    fn ones(n: usize) -> Self {
        LayerNorm { g: vec![1.0; n], b: vec![0.0; n] }
    }
}

/// One encoder layer. For post-LN, `ln_attn`/`ln_mlp` follow the residual adds; for pre-LN they
/// precede the sub-layers.
pub struct Layer {
    pub qkv: Linear,
    pub attn_out: Linear,
    pub ln_attn: LayerNorm,
    pub inter: Linear,
    pub out: Linear,
    pub ln_mlp: LayerNorm,
}

pub struct Embeddings {
    pub word: Vec<f32>,
    pub pos: Vec<f32>,
    pub typ: Vec<f32>,
    pub ln: Option<LayerNorm>,
    pub project: Option<Linear>,
}

pub enum HeadKind {
    /// One Linear.
    Single(Linear),
    /// Pooler (dense + tanh on [CLS]) then a Linear: HF *ForSequenceClassification.
    Pooled { pooler: Linear, classifier: Linear },
    /// dense -> activation -> out (2-FC heads; ELECTRA's discriminator head).
    Double { dense: Linear, out: Linear, act: Act },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Relu,
    Gelu,
    Tanh,
}

impl Act {
    fn apply(self, x: &mut [f32]) {
        match self {
            Act::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
            Act::Gelu => gelu(x),
            Act::Tanh => x.iter_mut().for_each(|v| *v = v.tanh()),
        }
    }
}

pub struct Head {
    pub task: HeadTask,
    pub kind: HeadKind,
    pub num_labels: usize,
}

pub struct Encoder {
    pub cfg: ModelConfig,
    pub emb: Embeddings,
    pub layers: Vec<Layer>,
    pub final_ln: Option<LayerNorm>,
    pub head: Option<Head>,
}

/// A batch of token ids, row-major [batch, seq].
pub struct Batch<'a> {
    pub ids: &'a [u32],
    pub type_ids: &'a [u32],
    /// 1 for real tokens, 0 for padding.
    pub mask: &'a [u8],
    pub batch: usize,
    pub seq: usize,
}

impl Batch<'_> {
    fn check(&self, cfg: &ModelConfig) -> Result<()> {
        let n = self.batch * self.seq;
        if self.ids.len() != n || self.mask.len() != n || (self.type_ids.len() != n && !self.type_ids.is_empty()) {
            return Err(CoreError::Input(format!(
                "batch {}x{} needs {n} ids, mask values and type ids; got {}, {} and {}",
                self.batch, self.seq, self.ids.len(), self.mask.len(), self.type_ids.len()
            )));
        }
        if self.seq > cfg.max_positions {
            return Err(CoreError::Input(format!(
                "sequence length {} exceeds max_position_embeddings {} (split long inputs into windows)",
                self.seq, cfg.max_positions
            )));
        }
        if let Some(i) = self.ids.iter().position(|&id| id as usize >= cfg.vocab_size) {
            return Err(CoreError::Input(format!(
                "token id {} at position {i} is outside the vocabulary (vocab_size {}): wrong vocabulary for this model?",
                self.ids[i], cfg.vocab_size
            )));
        }
        if let Some(i) = self.type_ids.iter().position(|&t| t as usize >= cfg.type_vocab) {
            return Err(CoreError::Input(format!("token type id {} at position {i} >= type_vocab_size {}", self.type_ids[i], cfg.type_vocab)));
        }
        Ok(())
    }
}

/// Reads tensors by their Hugging Face names, trying the base-model prefixes in turn.
struct Loader<'a, S: ByteSource> {
    st: &'a SafeTensors<S>,
    prefix: String,
}

impl<S: ByteSource> Loader<'_, S> {
    fn name(&self, n: &str) -> String {
        let full = format!("{}{n}", self.prefix);
        if self.st.contains(&full) {
            return full;
        }
        // Old TF-converted checkpoints call LayerNorm parameters gamma/beta.
        let legacy = full.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta");
        if self.st.contains(&legacy) {
            return legacy;
        }
        full
    }
    fn get(&self, n: &str, shape: &[usize]) -> Result<Vec<f32>> {
        self.st.read(&self.name(n), shape)
    }
    fn linear(&self, n: &str, inp: usize, out: usize) -> Result<Linear> {
        Ok(Linear { w: self.get(&format!("{n}.weight"), &[out, inp])?, b: self.get(&format!("{n}.bias"), &[out])?, inp, out })
    }
    fn ln(&self, n: &str, h: usize) -> Result<LayerNorm> {
        Ok(LayerNorm { g: self.get(&format!("{n}.weight"), &[h])?, b: self.get(&format!("{n}.bias"), &[h])? })
    }
    /// Q, K, V Linears read straight into one fused [3H, H] weight.
    fn qkv(&self, n: &str, h: usize) -> Result<Linear> {
        let mut w = vec![0f32; 3 * h * h];
        let mut b = vec![0f32; 3 * h];
        for (i, part) in ["query", "key", "value"].iter().enumerate() {
            self.st.read_into(&self.name(&format!("{n}.{part}.weight")), &[h, h], &mut w[i * h * h..(i + 1) * h * h])?;
            self.st.read_into(&self.name(&format!("{n}.{part}.bias")), &[h], &mut b[i * h..(i + 1) * h])?;
        }
        Ok(Linear { w, b, inp: h, out: 3 * h })
    }
}

impl Encoder {
    /// Build from config.json text and an opened safetensors file.
    pub fn load<S: ByteSource>(mut cfg: ModelConfig, st: &SafeTensors<S>) -> Result<Self> {
        cfg.check_fits_memory(&st.file)?;
        let prefix = ["", "bert.", "electra.", "megatron_bert.", "model."]
            .iter()
            .find(|p| st.contains(&format!("{p}embeddings.word_embeddings.weight")))
            .ok_or_else(|| CoreError::MissingTensor { file: st.file.clone(), name: "embeddings.word_embeddings.weight".into() })?;
        let ld = Loader { st, prefix: prefix.to_string() };
        let (h, e) = (cfg.hidden, cfg.embedding_size);
        let emb = Embeddings {
            word: ld.get("embeddings.word_embeddings.weight", &[cfg.vocab_size, e])?,
            pos: ld.get("embeddings.position_embeddings.weight", &[cfg.max_positions, e])?,
            typ: ld.get("embeddings.token_type_embeddings.weight", &[cfg.type_vocab, e])?,
            ln: match cfg.arch {
                Arch::PostLn => Some(ld.ln("embeddings.LayerNorm", e)?),
                Arch::PreLn => None,
            },
            project: if e != h { Some(ld.linear("embeddings_project", e, h)?) } else { None },
        };
        let mut layers = Vec::with_capacity(cfg.layers);
        for i in 0..cfg.layers {
            let p = format!("encoder.layer.{i}");
            let (ln_attn, ln_mlp) = match cfg.arch {
                Arch::PostLn => (format!("{p}.attention.output.LayerNorm"), format!("{p}.output.LayerNorm")),
                Arch::PreLn => (format!("{p}.attention.ln"), format!("{p}.ln")),
            };
            layers.push(Layer {
                qkv: ld.qkv(&format!("{p}.attention.self"), h)?,
                attn_out: ld.linear(&format!("{p}.attention.output.dense"), h, h)?,
                ln_attn: ld.ln(&ln_attn, h)?,
                inter: ld.linear(&format!("{p}.intermediate.dense"), h, cfg.intermediate)?,
                out: ld.linear(&format!("{p}.output.dense"), cfg.intermediate, h)?,
                ln_mlp: ld.ln(&ln_mlp, h)?,
            });
        }
        if let Some(extra) = (cfg.layers..cfg.layers + 1).find(|i| st.tensors.keys().any(|k| k.contains(&format!("encoder.layer.{i}.")))) {
            return Err(CoreError::Config {
                file: st.file.clone(),
                msg: format!("weights contain encoder.layer.{extra} but config.json says num_hidden_layers = {}", cfg.layers),
            });
        }
        let final_ln = match cfg.arch {
            Arch::PreLn => Some(ld.ln("encoder.ln", h)?),
            Arch::PostLn => None,
        };
        let head = load_head(&mut cfg, st)?;
        Ok(Encoder { cfg, emb, layers, final_ln, head })
    }

    /// Random init (normal, std 0.02) for benchmarks and tests; seeded. Fails only when the
    /// model cannot fit this target's memory (wasm32).
    pub fn random(cfg: ModelConfig, seed: u64) -> Result<Self> {
        cfg.check_fits_memory("preset")?;
        let mut rng = Rng::new(seed);
        let (h, e) = (cfg.hidden, cfg.embedding_size);
        let mut normal = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.normal() * 0.02).collect() };
        let emb = Embeddings {
            word: normal(cfg.vocab_size * e),
            pos: normal(cfg.max_positions * e),
            typ: normal(cfg.type_vocab * e),
            ln: (cfg.arch == Arch::PostLn).then(|| LayerNorm::ones(e)),
            project: None,
        };
        let mut rng = Rng::new(seed.wrapping_add(1));
        let project = (e != h).then(|| Linear::random(e, h, &mut rng));
        let layers = (0..cfg.layers)
            .map(|_| Layer {
                qkv: Linear::random(h, 3 * h, &mut rng),
                attn_out: Linear::random(h, h, &mut rng),
                ln_attn: LayerNorm::ones(h),
                inter: Linear::random(h, cfg.intermediate, &mut rng),
                out: Linear::random(cfg.intermediate, h, &mut rng),
                ln_mlp: LayerNorm::ones(h),
            })
            .collect();
        let final_ln = (cfg.arch == Arch::PreLn).then(|| LayerNorm::ones(h));
        Ok(Encoder { emb: Embeddings { project, ..emb }, layers, final_ln, head: None, cfg })
    }

    /// Number of f32 parameters held.
    pub fn num_params(&self) -> usize {
        let lin = |l: &Linear| l.w.len() + l.b.len();
        let ln = |l: &LayerNorm| l.g.len() + l.b.len();
        let emb = self.emb.word.len() + self.emb.pos.len() + self.emb.typ.len() + self.emb.ln.as_ref().map_or(0, ln) + self.emb.project.as_ref().map_or(0, lin);
        let layers: usize = self.layers.iter().map(|l| lin(&l.qkv) + lin(&l.attn_out) + ln(&l.ln_attn) + lin(&l.inter) + lin(&l.out) + ln(&l.ln_mlp)).sum();
        let head = self.head.as_ref().map_or(0, |h| match &h.kind {
            HeadKind::Single(l) => lin(l),
            HeadKind::Pooled { pooler, classifier } => lin(pooler) + lin(classifier),
            HeadKind::Double { dense, out, .. } => lin(dense) + lin(out),
        });
        emb + layers + head + self.final_ln.as_ref().map_or(0, ln)
    }

    /// Last hidden state, [batch*seq, hidden].
    pub fn forward(&self, b: &Batch) -> Result<Vec<f32>> {
        b.check(&self.cfg)?;
        let cfg = &self.cfg;
        let (t, h) = (b.batch * b.seq, cfg.hidden);
        let mut x = self.embed(b);
        let key_mask: Vec<bool> = b.mask.iter().map(|&m| m != 0).collect();
        let shape = AttnShape { batch: b.batch, seq: b.seq, heads: cfg.heads, head_dim: cfg.head_dim() };
        let mut qkv = vec![0f32; t * 3 * h];
        let mut ctx = vec![0f32; t * h];
        let mut tmp = vec![0f32; t * h];
        let mut inter = vec![0f32; t * cfg.intermediate];
        for l in &self.layers {
            match cfg.arch {
                Arch::PostLn => {
                    l.qkv.forward(&x, t, &mut qkv);
                    fused_attention(&qkv, &key_mask, shape, &mut ctx);
                    l.attn_out.forward(&ctx, t, &mut tmp);
                    add_layer_norm(&mut x, &tmp, &l.ln_attn.g, &l.ln_attn.b, cfg.eps);
                    l.inter.forward(&x, t, &mut inter);
                    gelu(&mut inter);
                    l.out.forward(&inter, t, &mut tmp);
                    add_layer_norm(&mut x, &tmp, &l.ln_mlp.g, &l.ln_mlp.b, cfg.eps);
                }
                Arch::PreLn => {
                    tmp.copy_from_slice(&x);
                    layer_norm(&mut tmp, &l.ln_attn.g, &l.ln_attn.b, cfg.eps);
                    l.qkv.forward(&tmp, t, &mut qkv);
                    fused_attention(&qkv, &key_mask, shape, &mut ctx);
                    l.attn_out.forward(&ctx, t, &mut tmp);
                    add_assign(&mut x, &tmp);
                    tmp.copy_from_slice(&x);
                    layer_norm(&mut tmp, &l.ln_mlp.g, &l.ln_mlp.b, cfg.eps);
                    l.inter.forward(&tmp, t, &mut inter);
                    gelu(&mut inter);
                    l.out.forward(&inter, t, &mut tmp);
                    add_assign(&mut x, &tmp);
                }
            }
        }
        if let Some(ln) = &self.final_ln {
            layer_norm(&mut x, &ln.g, &ln.b, cfg.eps);
        }
        Ok(x)
    }

    /// Word + position + token-type embeddings, [batch*seq, embedding_size], before any
    /// LayerNorm or projection (training's forward continues from here too).
    pub(crate) fn embedding_sum(&self, b: &Batch) -> Vec<f32> {
        let (t, e) = (b.batch * b.seq, self.cfg.embedding_size);
        let mut x = vec![0f32; t * e];
        for (i, row) in x.chunks_exact_mut(e).enumerate() {
            let (id, pos) = (b.ids[i] as usize, i % b.seq);
            let tt = b.type_ids.get(i).copied().unwrap_or(0) as usize;
            let (w, p, ty) = (&self.emb.word[id * e..][..e], &self.emb.pos[pos * e..][..e], &self.emb.typ[tt * e..][..e]);
            for j in 0..e {
                row[j] = w[j] + p[j] + ty[j];
            }
        }
        x
    }

    fn embed(&self, b: &Batch) -> Vec<f32> {
        let t = b.batch * b.seq;
        let mut x = self.embedding_sum(b);
        if let Some(ln) = &self.emb.ln {
            layer_norm(&mut x, &ln.g, &ln.b, self.cfg.eps);
        }
        if let Some(proj) = &self.emb.project {
            let mut y = vec![0f32; t * proj.out];
            proj.forward(&x, t, &mut y);
            return y;
        }
        x
    }

    /// Head logits from a last hidden state: [batch*seq, labels] for token-level heads
    /// (token, qa as start/end pairs, discriminator), [batch, labels] for sequence heads.
    pub fn head_logits(&self, hidden: &[f32], batch: usize, seq: usize) -> Result<Vec<f32>> {
        let head = self.head.as_ref().ok_or_else(|| CoreError::Input("this model has no task head (load a checkpoint with a classifier / qa_outputs)".into()))?;
        let h = self.cfg.hidden;
        let (rows, x): (usize, std::borrow::Cow<[f32]>) = match head.task {
            HeadTask::Sequence => (batch, (0..batch).flat_map(|b| hidden[b * seq * h..b * seq * h + h].iter().copied()).collect::<Vec<_>>().into()),
            _ => (batch * seq, hidden.into()),
        };
        let mut out = vec![0f32; rows * head.num_labels];
        match &head.kind {
            HeadKind::Single(l) => l.forward(&x, rows, &mut out),
            HeadKind::Pooled { pooler, classifier } => {
                let mut p = vec![0f32; rows * pooler.out];
                pooler.forward(&x, rows, &mut p);
                Act::Tanh.apply(&mut p);
                classifier.forward(&p, rows, &mut out);
            }
            HeadKind::Double { dense, out: o, act } => {
                let mut d = vec![0f32; rows * dense.out];
                dense.forward(&x, rows, &mut d);
                act.apply(&mut d);
                o.forward(&d, rows, &mut out);
            }
        }
        Ok(out)
    }
}

/// Find the task head: from config's biomeg_head / architectures, else from tensor names.
fn load_head<S: ByteSource>(cfg: &mut ModelConfig, st: &SafeTensors<S>) -> Result<Option<Head>> {
    let h = cfg.hidden;
    let has = |n: &str| st.contains(n);
    // Head tensors sit at the top level, outside the base model's prefix.
    let top = Loader { st, prefix: String::new() };
    let lin = |n: &str, inp: usize, out: usize| top.linear(n, inp, out);
    // Output width of a Linear from its bias length.
    let width = |n: &str| st.tensors.get(&format!("{n}.bias")).and_then(|t| t.shape.first().copied());
    let pooler = ["bert.pooler.dense", "pooler.dense"].into_iter().find(|p| has(&format!("{p}.weight")));
    let (task, base) = if has("discriminator_predictions.dense.weight") {
        (HeadTask::Discriminator, "discriminator_predictions")
    } else if has("qa_outputs.weight") || has("qa_outputs.dense.weight") {
        (HeadTask::Qa, "qa_outputs")
    } else if has("classifier.weight") || has("classifier.dense.weight") {
        let declared = cfg.head.as_ref().map(|hc| hc.task);
        let seq = declared == Some(HeadTask::Sequence) || (declared.is_none() && (pooler.is_some() || cfg.model_type == "electra" && has("classifier.out_proj.weight")));
        (if seq { HeadTask::Sequence } else { HeadTask::Token }, "classifier")
    } else {
        return Ok(None);
    };
    let declared = cfg.head.clone();
    let kind = if task == HeadTask::Discriminator {
        HeadKind::Double {
            dense: lin("discriminator_predictions.dense", h, h)?,
            out: lin("discriminator_predictions.dense_prediction", h, 1)?,
            act: Act::Gelu,
        }
    } else if has(&format!("{base}.dense.weight")) {
        let d = width(&format!("{base}.dense")).unwrap_or(0);
        let n = width(&format!("{base}.out_proj")).ok_or_else(|| CoreError::MissingTensor { file: st.file.clone(), name: format!("{base}.out_proj.bias") })?;
        // biomeg 2-FC heads default to ReLU (NeMo style); HF's ELECTRA sequence head, which uses
        // the same tensor names, uses GELU. config.json's biomeg_head.activation overrides both.
        let act = match declared.as_ref().and_then(|d| d.activation.as_deref()) {
            Some("gelu") => Act::Gelu,
            Some("tanh") => Act::Tanh,
            Some(_) => Act::Relu,
            None if cfg.model_type == "electra" && task == HeadTask::Sequence => Act::Gelu,
            None => Act::Relu,
        };
        HeadKind::Double { dense: lin(&format!("{base}.dense"), h, d)?, out: lin(&format!("{base}.out_proj"), d, n)?, act }
    } else {
        let n = width(base).ok_or_else(|| CoreError::MissingTensor { file: st.file.clone(), name: format!("{base}.bias") })?;
        let classifier = lin(base, h, n)?;
        match (task, pooler) {
            (HeadTask::Sequence, Some(p)) => HeadKind::Pooled { pooler: lin(p, h, h)?, classifier },
            _ => HeadKind::Single(classifier),
        }
    };
    let num_labels = match &kind {
        HeadKind::Single(l) | HeadKind::Pooled { classifier: l, .. } | HeadKind::Double { out: l, .. } => l.out,
    };
    if matches!(task, HeadTask::Token | HeadTask::Sequence) && !cfg.labels.is_empty() && cfg.labels.len() != num_labels {
        return Err(CoreError::Config {
            file: st.file.clone(),
            msg: format!("id2label has {} labels but the classifier outputs {num_labels}", cfg.labels.len()),
        });
    }
    let layers = if matches!(kind, HeadKind::Double { .. }) { 2 } else { 1 };
    let (hidden, activation) = match &kind {
        HeadKind::Double { dense, act, .. } => (dense.out, Some(format!("{act:?}").to_lowercase())),
        _ => (0, None),
    };
    cfg.head = Some(HeadConfig { task, layers, hidden, num_labels, activation });
    Ok(Some(Head { task, kind, num_labels }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_estimate_matches_what_random_init_allocates() {
        for p in ["tiny", "bert-base"] {
            let cfg = ModelConfig::preset(p).unwrap();
            let want = cfg.encoder_params();
            assert_eq!(Encoder::random(cfg, 1).unwrap().num_params() as u64, want, "{p}");
        }
        let mut megatron = ModelConfig::preset("tiny").unwrap();
        (megatron.arch, megatron.model_type) = (crate::config::Arch::PreLn, "megatron-bert".into());
        assert_eq!(Encoder::random(megatron.clone(), 1).unwrap().num_params() as u64, megatron.encoder_params());
        let mut electra = ModelConfig::preset("tiny").unwrap();
        electra.embedding_size = 16;
        assert_eq!(Encoder::random(electra.clone(), 1).unwrap().num_params() as u64, electra.encoder_params());
    }
}
