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
use crate::kernels::dispatch::{matmul_weight, WeightBuf};
use crate::kernels::gemm::MatRef;
use crate::kernels::ops::fill_rows;
use crate::kernels::packed::PackedF32;
use crate::params::{head_params_mut, in_base_model, params, params_mut, Init, ParamInfo};
use crate::rng::Rng;
use crate::weights::{ByteSource, SafeTensors};

/// y = x W^T + b with W stored [out, in].
pub struct Linear {
    pub w: WeightBuf,
    pub b: Vec<f32>,
    pub inp: usize,
    pub out: usize,
}

impl Linear {
    pub fn forward(&self, x: &[f32], rows: usize, y: &mut [f32]) {
        let y = &mut y[..rows * self.out];
        fill_rows(y, &self.b);
        matmul_weight(
            rows,
            self.out,
            self.inp,
            MatRef::row_major(&x[..rows * self.inp], self.inp),
            &self.w,
            MatRef::transposed(&self.w, self.inp),
            y,
            self.out,
            true,
        );
    }
    /// Shape only; the buffers are filled by walking the parameter schema.
    fn empty(inp: usize, out: usize) -> Self {
        Linear { w: WeightBuf::default(), b: Vec::new(), inp, out }
    }
}

pub struct LayerNorm {
    pub g: Vec<f32>,
    pub b: Vec<f32>,
}

impl LayerNorm {
    fn empty() -> Self {
        LayerNorm { g: Vec::new(), b: Vec::new() }
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
    /// Masked LM: dense (hidden -> embedding size) -> activation -> LayerNorm, then logits =
    /// x E^T + bias with E the word-embedding table (tied decoder: no weight of its own).
    Mlm { transform: Linear, act: Act, ln: LayerNorm, bias: Vec<f32> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Relu,
    /// erf form (BERT).
    Gelu,
    /// tanh approximation (`gelu_new`: ALBERT, GPT-2).
    GeluTanh,
    Tanh,
}

impl Act {
    /// A layer activation from config.json's `hidden_act`; None when unsupported.
    pub fn from_hidden_act(name: &str) -> Option<Act> {
        match name {
            "gelu" => Some(Act::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Act::GeluTanh),
            "relu" => Some(Act::Relu),
            _ => None,
        }
    }
    pub fn hidden_act_name(self) -> &'static str {
        match self {
            Act::GeluTanh => "gelu_new",
            a => a.name(),
        }
    }
    /// From a config name; anything else is ReLU (biomeg's 2-FC default, NeMo style).
    pub fn from_name(name: Option<&str>) -> Act {
        match name {
            Some("gelu") => Act::Gelu,
            Some("tanh") => Act::Tanh,
            _ => Act::Relu,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Act::Relu => "relu",
            Act::Gelu => "gelu",
            Act::GeluTanh => "gelu_new",
            Act::Tanh => "tanh",
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
    /// Sizes, sequence length and id ranges against the model (every forward checks this first).
    pub fn check(&self, cfg: &ModelConfig) -> Result<()> {
        let n = self.batch * self.seq;
        if self.ids.len() != n || self.mask.len() != n || (self.type_ids.len() != n && !self.type_ids.is_empty()) {
            return Err(CoreError::Input(format!(
                "batch {}x{} needs {n} ids, mask values and type ids; got {}, {} and {}",
                self.batch,
                self.seq,
                self.ids.len(),
                self.mask.len(),
                self.type_ids.len()
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
            return Err(CoreError::Input(format!(
                "token type id {} at position {i} >= type_vocab_size {}",
                self.type_ids[i], cfg.type_vocab
            )));
        }
        Ok(())
    }
}

/// Reads schema tensors from a checkpoint: base-model tensors under the checkpoint's prefix
/// (`bert.`, `electra.`, ... or none), head tensors at the top level, old TF names for
/// LayerNorm, and the fused QKV from its three Linears.
struct Loader<'a, S: ByteSource> {
    st: &'a SafeTensors<S>,
    prefix: String,
    hidden: usize,
}

impl<S: ByteSource> Loader<'_, S> {
    /// The checkpoint's name for schema name `n`; when absent, the name an error should cite.
    fn name(&self, n: &str) -> String {
        let full = if in_base_model(n) { format!("{}{n}", self.prefix) } else { n.to_string() };
        // Old TF-converted checkpoints call LayerNorm parameters gamma/beta; some keep the pooler
        // outside the base model's prefix.
        let legacy = full.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta");
        [full.clone(), legacy, n.to_string()].into_iter().find(|c| self.st.contains(c)).unwrap_or(full)
    }

    fn read(&self, info: &ParamInfo) -> Result<Vec<f32>> {
        let h = self.hidden;
        let fused = [(".qkv.weight", "weight", h * h), (".qkv.bias", "bias", h)]
            .into_iter()
            .find_map(|(suffix, kind, n)| Some((info.name.strip_suffix(suffix)?, kind, n)));
        let Some((base, kind, n)) = fused else {
            return self.st.read(&self.name(&info.name), &info.shape);
        };
        let mut out = vec![0f32; 3 * n];
        let shape: &[usize] = if kind == "weight" { &[h, h] } else { &[h] };
        for (i, part) in ["query", "key", "value"].iter().enumerate() {
            self.st.read_into(&self.name(&format!("{base}.{part}.{kind}")), shape, &mut out[i * n..(i + 1) * n])?;
        }
        Ok(out)
    }
}

impl Head {
    /// The head `hc` describes on an encoder of width `hidden`, buffers empty.
    fn skeleton(hc: &HeadConfig, hidden: usize) -> Head {
        let n = hc.num_labels;
        let kind = if hc.task == HeadTask::Mlm {
            let act = hc.activation.as_deref().and_then(Act::from_hidden_act).unwrap_or(Act::Gelu);
            HeadKind::Mlm { transform: Linear::empty(hidden, hc.hidden), act, ln: LayerNorm::empty(), bias: Vec::new() }
        } else if hc.layers == 2 {
            let d = if hc.hidden == 0 { hidden } else { hc.hidden };
            HeadKind::Double { dense: Linear::empty(hidden, d), out: Linear::empty(d, n), act: Act::from_name(hc.activation.as_deref()) }
        } else if hc.pooled {
            HeadKind::Pooled { pooler: Linear::empty(hidden, hidden), classifier: Linear::empty(hidden, n) }
        } else {
            HeadKind::Single(Linear::empty(hidden, n))
        };
        Head { task: hc.task, kind, num_labels: n }
    }

    /// A head for `hc` with every tensor drawn from `init` (normal(0, std) weights, zero biases).
    pub fn initialised(hc: &HeadConfig, hidden: usize, std: f32, seed: u64) -> Head {
        let mut head = Head::skeleton(hc, hidden);
        let mut rng = Rng::new(seed);
        // Only shapes and init kinds are read here, so the names do not matter.
        for (info, t) in head_params_mut(&mut head, "bert") {
            *t = info.init_values(std, &mut rng);
        }
        head
    }
}

impl Encoder {
    /// The structure `cfg` describes (including `cfg.head`), every buffer still empty: what
    /// the parameter schema walks to load, initialise or count.
    pub fn skeleton(cfg: ModelConfig) -> Self {
        let (h, e) = (cfg.hidden, cfg.embedding_size);
        let emb = Embeddings {
            word: Vec::new(),
            pos: Vec::new(),
            typ: Vec::new(),
            ln: (cfg.arch == Arch::PostLn).then(LayerNorm::empty),
            // ALBERT always projects (embedding_hidden_mapping_in), even when the sizes agree.
            project: (e != h || cfg.is_albert()).then(|| Linear::empty(e, h)),
        };
        let layers = (0..cfg.distinct_layers())
            .map(|_| Layer {
                qkv: Linear::empty(h, 3 * h),
                attn_out: Linear::empty(h, h),
                ln_attn: LayerNorm::empty(),
                inter: Linear::empty(h, cfg.intermediate),
                out: Linear::empty(cfg.intermediate, h),
                ln_mlp: LayerNorm::empty(),
            })
            .collect();
        let final_ln = (cfg.arch == Arch::PreLn).then(LayerNorm::empty);
        let head = cfg.head.as_ref().map(|hc| Head::skeleton(hc, h));
        Encoder { cfg, emb, layers, final_ln, head }
    }

    /// Every tensor zero (gradients, optimizer moments).
    pub fn zeros(cfg: ModelConfig) -> Result<Self> {
        cfg.check_fits_memory("config")?;
        let mut e = Encoder::skeleton(cfg);
        for (info, t) in params_mut(&mut e) {
            *t = vec![0.0; info.numel()];
        }
        Ok(e)
    }

    /// Build from config.json and an opened safetensors file; the task head is found from
    /// config's biomeg_head and the tensor names.
    pub fn load<S: ByteSource>(mut cfg: ModelConfig, st: &SafeTensors<S>) -> Result<Self> {
        cfg.check_fits_memory(&st.file)?;
        let prefix = ["", "bert.", "electra.", "albert.", "megatron_bert.", "model."]
            .iter()
            .find(|p| st.contains(&format!("{p}embeddings.word_embeddings.weight")))
            .ok_or_else(|| CoreError::MissingTensor { file: st.file.clone(), name: "embeddings.word_embeddings.weight".into() })?;
        let (extra, declared) = match cfg.sharing {
            Some(s) => (format!("albert_layer_groups.{}.", s.groups), format!("num_hidden_groups = {}", s.groups)),
            None => (format!("encoder.layer.{}.", cfg.layers), format!("num_hidden_layers = {}", cfg.layers)),
        };
        if st.tensors.keys().any(|k| k.contains(&extra)) {
            return Err(CoreError::Config {
                file: st.file.clone(),
                msg: format!("weights contain {}* but config.json says {declared}", extra.trim_end_matches('.')),
            });
        }
        cfg.head = detect_head(&cfg, st, prefix)?;
        let ld = Loader { st, prefix: prefix.to_string(), hidden: cfg.hidden };
        let mut e = Encoder::skeleton(cfg);
        for (info, t) in params_mut(&mut e) {
            *t = ld.read(&info)?;
        }
        check_tied_decoder(&e, st)?;
        Ok(e)
    }

    /// Random init (normal, std 0.02) for benchmarks and tests; seeded. Embedding tables and
    /// Linear weights draw from two streams (seed, seed + 1). Fails only when the model cannot
    /// fit this target's memory (wasm32).
    pub fn random(cfg: ModelConfig, seed: u64) -> Result<Self> {
        cfg.check_fits_memory("preset")?;
        let (mut tables, mut weights) = (Rng::new(seed), Rng::new(seed.wrapping_add(1)));
        let mut e = Encoder::skeleton(cfg);
        for (info, t) in params_mut(&mut e) {
            *t = info.init_values(0.02, if info.init == Init::Embedding { &mut tables } else { &mut weights });
        }
        Ok(e)
    }

    /// Hugging Face's BERT init, seeded: every embedding table and Linear weight normal(0,
    /// `std`) from one stream in schema order, LayerNorm gains 1, biases and shifts 0.
    pub fn initialised(cfg: ModelConfig, std: f32, seed: u64) -> Result<Self> {
        cfg.check_fits_memory("config")?;
        let mut rng = Rng::new(seed);
        let mut e = Encoder::skeleton(cfg);
        for (info, t) in params_mut(&mut e) {
            *t = info.init_values(std, &mut rng);
        }
        Ok(e)
    }

    /// Inference, when BIOMEG_PREPACK=1 (native): pack the encoder layers' Linear weights once
    /// for the f32 micro-kernel (`kernels::packed`), so forward passes stop re-packing them on
    /// every call and GELU runs inside the FFN GEMM. It holds a second copy of those weights,
    /// for a gain of 0-4 % on a 2-core Zen 5 (docs/speed.md), so it is off by default. int8 layers
    /// are left alone (their GEMM has its own packed form). Training never calls this; any weight
    /// update drops the copy.
    pub fn prepack(&mut self) {
        if cfg!(target_arch = "wasm32") || std::env::var("BIOMEG_PREPACK").map_or(true, |v| v != "1") {
            return;
        }
        for l in &mut self.layers {
            for lin in [&mut l.qkv, &mut l.attn_out, &mut l.inter, &mut l.out] {
                if lin.w.int8().is_none() && lin.w.packed().is_none() {
                    let p = PackedF32::pack(&lin.w, lin.out, lin.inp);
                    lin.w.set_packed(Some(std::sync::Arc::new(p)));
                }
            }
        }
    }

    /// Set up a loaded encoder for inference only (the bindings' `Model`): int8 layers free their
    /// f32 weights (so an int8 model holds about a quarter of the encoder-layer memory), and
    /// f32 layers are packed once when BIOMEG_PREPACK=1 (`prepack`).
    pub fn ready_for_inference(&mut self) {
        let mut released = false;
        for l in &mut self.layers {
            for lin in [&mut l.qkv, &mut l.attn_out, &mut l.inter, &mut l.out] {
                released |= lin.w.int8().is_some();
                lin.w.release_f32();
            }
        }
        if released {
            return_free_memory();
        }
        self.prepack();
    }

    /// Number of parameters (from the shapes: an int8 layer's f32 buffer may have been freed).
    pub fn num_params(&self) -> usize {
        params(self).iter().map(|(info, _)| info.numel()).sum()
    }
}

/// Hand freed heap memory back to the OS. glibc keeps freed blocks of a long-lived process (Node)
/// in its arenas, so the freed f32 weights of an int8 model stayed resident (measured: 4 MiB of
/// 32 MiB returned for MiniLM) until `malloc_trim`, which releases every whole free page.
fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: glibc's malloc_trim only releases free memory; it has no preconditions.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// A masked-LM checkpoint that stores its decoder weight (older Hugging Face files do) must hold
/// the word embeddings there: biomeg's decoder is tied to them, so an untied one cannot load.
fn check_tied_decoder<S: ByteSource>(e: &Encoder, st: &SafeTensors<S>) -> Result<()> {
    if e.head.as_ref().map(|h| h.task) != Some(HeadTask::Mlm) {
        return Ok(());
    }
    let names = ["cls.predictions.decoder.weight", "generator_lm_head.weight", "predictions.decoder.weight"];
    let Some(name) = names.into_iter().find(|n| st.contains(n)) else { return Ok(()) };
    let dec = st.read(name, &[e.cfg.vocab_size, e.cfg.embedding_size])?;
    let worst = dec.iter().zip(&e.emb.word).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    if worst > 1e-6 {
        return Err(CoreError::Config {
            file: st.file.clone(),
            msg: format!("{name} differs from the word embeddings (max |diff| {worst:e}); biomeg's masked-LM decoder is tied to them, as Hugging Face's"),
        });
    }
    Ok(())
}

/// A masked-LM head when the checkpoint has one (`cls.predictions.*` of BERT / Megatron-BERT,
/// `generator_predictions.*` of ELECTRA's generator, `predictions.*` of ALBERT) and no
/// fine-tuning head (classifier, qa_outputs, discriminator), which takes precedence.
fn mlm_head<S: ByteSource>(cfg: &ModelConfig, st: &SafeTensors<S>) -> Option<HeadConfig> {
    let fine_tuning = [
        "classifier.weight",
        "classifier.dense.weight",
        "qa_outputs.weight",
        "qa_outputs.dense.weight",
        "discriminator_predictions.dense.weight",
    ];
    if fine_tuning.iter().any(|n| st.contains(n)) {
        return None;
    }
    let [dense, _, _] = crate::params::mlm_names(&cfg.model_type);
    let declared = cfg.head.as_ref().is_some_and(|h| h.task == HeadTask::Mlm);
    (declared || st.contains(&format!("{dense}.weight")))
        .then(|| HeadConfig::mlm(&cfg.model_type, cfg.embedding_size, cfg.vocab_size, cfg.act))
}

/// The task head of a checkpoint: from config's biomeg_head and the tensor names
/// (`discriminator_predictions`, `qa_outputs`, `classifier`, with a pooler for HF sequence heads).
fn detect_head<S: ByteSource>(cfg: &ModelConfig, st: &SafeTensors<S>, prefix: &str) -> Result<Option<HeadConfig>> {
    let h = cfg.hidden;
    let has = |n: &str| st.contains(n);
    // Output width of a Linear from its bias length.
    let width = |n: &str| st.tensors.get(&format!("{n}.bias")).and_then(|t| t.shape.first().copied());
    let missing = |n: String| CoreError::MissingTensor { file: st.file.clone(), name: n };
    let pooler = [format!("{prefix}pooler.dense"), "bert.pooler.dense".into(), "pooler.dense".into(), format!("{prefix}pooler")]
        .into_iter()
        .any(|p| has(&format!("{p}.weight")));
    let declared = cfg.head.as_ref();
    if let Some(hc) = mlm_head(cfg, st) {
        return Ok(Some(hc));
    }
    let (task, base) = if has("discriminator_predictions.dense.weight") {
        (HeadTask::Discriminator, "discriminator_predictions")
    } else if has("qa_outputs.weight") || has("qa_outputs.dense.weight") {
        (HeadTask::Qa, "qa_outputs")
    } else if has("classifier.weight") || has("classifier.dense.weight") {
        let declared = declared.map(|hc| hc.task);
        let seq = declared == Some(HeadTask::Sequence)
            || (declared.is_none() && (pooler || cfg.model_type == "electra" && has("classifier.out_proj.weight")));
        (if seq { HeadTask::Sequence } else { HeadTask::Token }, "classifier")
    } else {
        return Ok(None);
    };
    let hc = if task == HeadTask::Discriminator {
        HeadConfig { task, layers: 2, hidden: h, num_labels: 1, activation: Some("gelu".into()), pooled: false }
    } else if has(&format!("{base}.dense.weight")) {
        let d = width(&format!("{base}.dense")).ok_or_else(|| missing(format!("{base}.dense.bias")))?;
        let n = width(&format!("{base}.out_proj")).ok_or_else(|| missing(format!("{base}.out_proj.bias")))?;
        // biomeg 2-FC heads default to ReLU (NeMo style); HF's ELECTRA sequence head, which uses
        // the same tensor names, uses GELU. config.json's biomeg_head.activation overrides both.
        let act = match declared.and_then(|d| d.activation.as_deref()) {
            Some(a) => Act::from_name(Some(a)),
            None if cfg.model_type == "electra" && task == HeadTask::Sequence => Act::Gelu,
            None => Act::Relu,
        };
        HeadConfig { task, layers: 2, hidden: d, num_labels: n, activation: Some(act.name().into()), pooled: false }
    } else {
        let n = width(base).ok_or_else(|| missing(format!("{base}.bias")))?;
        HeadConfig { task, layers: 1, hidden: 0, num_labels: n, activation: None, pooled: task == HeadTask::Sequence && pooler }
    };
    if matches!(task, HeadTask::Token | HeadTask::Sequence) && !cfg.labels.is_empty() && cfg.labels.len() != hc.num_labels {
        return Err(CoreError::Config {
            file: st.file.clone(),
            msg: format!("id2label has {} labels but the classifier outputs {}", cfg.labels.len(), hc.num_labels),
        });
    }
    Ok(Some(hc))
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
