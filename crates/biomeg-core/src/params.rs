//! The parameter schema: every tensor of an `Encoder` with its name (as in a Hugging Face
//! checkpoint, without the base-model prefix; Q, K and V fused as `...attention.self.qkv`), its
//! shape, whether AdamW decays it and how it is initialised, in one fixed order. Loading, random
//! init, zeros, `num_params`, export, the optimizer state and AdamW all walk this one list
//! (llm.c's `fill_in_parameter_sizes` and candle's `VarBuilder` play the same role).
//!
//! The walk reads shapes from the structure (`Linear::inp/out`) and the config, never from the
//! buffers, so it also describes a `skeleton` whose buffers are still empty.

use crate::config::{Arch, HeadTask, ModelConfig};
use crate::model::{Encoder, Head, HeadKind, LayerNorm, Linear};
use crate::rng::Rng;

/// How a tensor starts in a freshly initialised model (Hugging Face's `_init_weights`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// Normal(0, std) for an embedding table.
    Embedding,
    /// Normal(0, std) for a Linear weight.
    Weight,
    /// LayerNorm gain.
    Ones,
    /// Biases and LayerNorm shifts.
    Zeros,
}

/// One parameter tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamInfo {
    pub name: String,
    pub shape: Vec<usize>,
    /// AdamW weight decay applies (not to biases or LayerNorm parameters).
    pub decay: bool,
    pub init: Init,
}

impl ParamInfo {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Values for this tensor under `init`: normal(0, std) draws from `rng`, or a constant.
    pub fn init_values(&self, std: f32, rng: &mut Rng) -> Vec<f32> {
        match self.init {
            Init::Embedding | Init::Weight => (0..self.numel()).map(|_| rng.normal() * std).collect(),
            Init::Ones => vec![1.0; self.numel()],
            Init::Zeros => vec![0.0; self.numel()],
        }
    }
}

/// Whether a schema name belongs to the base model (stored under `bert.` / `electra.` / ... in a
/// checkpoint) rather than to a task head at the top level.
pub fn in_base_model(name: &str) -> bool {
    name.starts_with("embeddings") || name.starts_with("encoder.") || name.starts_with("pooler.")
}

/// Module name of a head's Linears: (first, second) for 2-FC heads, first only otherwise.
fn head_names(task: HeadTask) -> (&'static str, &'static str) {
    match task {
        HeadTask::Qa => ("qa_outputs", "out_proj"),
        HeadTask::Discriminator => ("discriminator_predictions", "dense_prediction"),
        HeadTask::Token | HeadTask::Sequence | HeadTask::Mlm => ("classifier", "out_proj"),
    }
}

/// Module names of the masked-LM head (transform dense, transform LayerNorm, decoder bias) in
/// Hugging Face's *ForMaskedLM of `model_type`. The decoder weight is the word-embedding table.
pub fn mlm_names(model_type: &str) -> [&'static str; 3] {
    match model_type {
        "electra" => ["generator_predictions.dense", "generator_predictions.LayerNorm", "generator_lm_head.bias"],
        "albert" => ["predictions.dense", "predictions.LayerNorm", "predictions.bias"],
        _ => ["cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm", "cls.predictions.bias"],
    }
}

/// Names of distinct layer `k`'s modules: QKV (fused), attention output, its LayerNorm, MLP in,
/// MLP out, its LayerNorm. BERT / ELECTRA and Megatron-BERT (pre-LN) use `encoder.layer.k`;
/// ALBERT `encoder.albert_layer_groups.g.albert_layers.j` with its own module names.
fn layer_names(cfg: &ModelConfig, k: usize) -> [String; 6] {
    let names: [&str; 6] = match (cfg.sharing, cfg.arch) {
        (Some(_), _) => ["attention.qkv", "attention.dense", "attention.LayerNorm", "ffn", "ffn_output", "full_layer_layer_norm"],
        (None, Arch::PostLn) => [
            "attention.self.qkv",
            "attention.output.dense",
            "attention.output.LayerNorm",
            "intermediate.dense",
            "output.dense",
            "output.LayerNorm",
        ],
        (None, Arch::PreLn) => ["attention.self.qkv", "attention.output.dense", "attention.ln", "intermediate.dense", "output.dense", "ln"],
    };
    let prefix = match cfg.sharing {
        Some(s) => format!("encoder.albert_layer_groups.{}.albert_layers.{}", k / s.inner, k % s.inner),
        None => format!("encoder.layer.{k}"),
    };
    names.map(|n| format!("{prefix}.{n}"))
}

/// The pooler's module name: ALBERT's is one Linear named `pooler`, BERT's `pooler.dense`.
pub fn pooler_name(model_type: &str) -> &'static str {
    if model_type == "albert" {
        "pooler"
    } else {
        "pooler.dense"
    }
}

/// Writes the visitors for shared and for mutable references from one body.
macro_rules! visitors {
    ($params:ident, $head_params:ident, $push_linear:ident, $push_ln:ident, $($m:tt)*) => {
        /// Every tensor of the encoder with its schema entry, in the fixed order.
        pub fn $params(e: & $($m)* Encoder) -> Vec<(ParamInfo, & $($m)* Vec<f32>)> {
            let Encoder { cfg, emb, layers, final_ln, head } = e;
            let (h, ed) = (cfg.hidden, cfg.embedding_size);
            let mut out = Vec::new();
            let table = |name: &str, rows: usize| ParamInfo { name: name.into(), shape: vec![rows, ed], decay: true, init: Init::Embedding };
            out.push((table("embeddings.word_embeddings.weight", cfg.vocab_size), & $($m)* emb.word));
            out.push((table("embeddings.position_embeddings.weight", cfg.max_positions), & $($m)* emb.pos));
            out.push((table("embeddings.token_type_embeddings.weight", cfg.type_vocab), & $($m)* emb.typ));
            if let Some(ln) = & $($m)* emb.ln {
                $push_ln(&mut out, "embeddings.LayerNorm", ln, ed);
            }
            if let Some(p) = & $($m)* emb.project {
                let name = if cfg.is_albert() { "encoder.embedding_hidden_mapping_in" } else { "embeddings_project" };
                $push_linear(&mut out, name, p);
            }
            for (k, l) in layers.into_iter().enumerate() {
                let [qkv, attn_out, ln_attn, inter, o, ln_mlp] = layer_names(cfg, k);
                $push_linear(&mut out, &qkv, & $($m)* l.qkv);
                $push_linear(&mut out, &attn_out, & $($m)* l.attn_out);
                $push_ln(&mut out, &ln_attn, & $($m)* l.ln_attn, h);
                $push_linear(&mut out, &inter, & $($m)* l.inter);
                $push_linear(&mut out, &o, & $($m)* l.out);
                $push_ln(&mut out, &ln_mlp, & $($m)* l.ln_mlp, h);
            }
            if let Some(ln) = final_ln {
                $push_ln(&mut out, "encoder.ln", ln, h);
            }
            if let Some(hd) = head {
                out.extend($head_params(hd, &cfg.model_type));
            }
            out
        }

        /// The task head's tensors alone, in the same order as at the end of the encoder's list;
        /// `model_type` picks the names (`pooler_name`, `mlm_names`).
        pub fn $head_params<'a>(hd: &'a $($m)* Head, model_type: &str) -> Vec<(ParamInfo, &'a $($m)* Vec<f32>)> {
            let (first, second) = head_names(hd.task);
            let lins: Vec<(String, & $($m)* Linear)> = match & $($m)* hd.kind {
                HeadKind::Single(l) => vec![(first.to_string(), l)],
                HeadKind::Pooled { pooler: p, classifier } => vec![(pooler_name(model_type).to_string(), p), (first.to_string(), classifier)],
                HeadKind::Double { dense, out, .. } => vec![(format!("{first}.dense"), dense), (format!("{first}.{second}"), out)],
                HeadKind::Mlm { transform, ln, bias, .. } => {
                    let [dense, norm, b] = mlm_names(model_type);
                    let (dim, vocab) = (transform.out, hd.num_labels);
                    let mut v = Vec::new();
                    $push_linear(&mut v, dense, transform);
                    $push_ln(&mut v, norm, ln, dim);
                    v.push((ParamInfo { name: b.to_string(), shape: vec![vocab], decay: false, init: Init::Zeros }, bias));
                    return v;
                }
            };
            let mut v = Vec::new();
            for (name, l) in lins {
                $push_linear(&mut v, &name, l);
            }
            v
        }

        fn $push_linear<'a>(out: &mut Vec<(ParamInfo, &'a $($m)* Vec<f32>)>, name: &str, l: &'a $($m)* Linear) {
            let (inp, o) = (l.inp, l.out);
            let Linear { w, b, .. } = l;
            out.push((ParamInfo { name: format!("{name}.weight"), shape: vec![o, inp], decay: true, init: Init::Weight }, w));
            out.push((ParamInfo { name: format!("{name}.bias"), shape: vec![o], decay: false, init: Init::Zeros }, b));
        }

        fn $push_ln<'a>(out: &mut Vec<(ParamInfo, &'a $($m)* Vec<f32>)>, name: &str, l: &'a $($m)* LayerNorm, dim: usize) {
            let LayerNorm { g, b } = l;
            out.push((ParamInfo { name: format!("{name}.weight"), shape: vec![dim], decay: false, init: Init::Ones }, g));
            out.push((ParamInfo { name: format!("{name}.bias"), shape: vec![dim], decay: false, init: Init::Zeros }, b));
        }
    };
}

visitors!(params, head_params, push_linear, push_ln,);
visitors!(params_mut, head_params_mut, push_linear_mut, push_ln_mut, mut);
