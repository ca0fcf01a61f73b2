//! Model configuration: read from a Hugging Face config.json, or a named preset.

use crate::error::{CoreError, Result};
use crate::model::Act;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// LayerNorm after each residual add (BERT, ELECTRA, ALBERT).
    PostLn,
    /// LayerNorm before each sub-layer plus a final LayerNorm (Megatron-BERT).
    PreLn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadTask {
    Token,
    Sequence,
    Qa,
    /// ELECTRA replaced-token-detection head (one logit per token).
    Discriminator,
    /// Masked-LM head: transform (dense, activation, LayerNorm) then the decoder tied to the word
    /// embeddings plus a bias (BertForMaskedLM, MegatronBertForMaskedLM, ElectraForMaskedLM,
    /// AlbertForMaskedLM); one logit per vocabulary entry.
    Mlm,
}

impl HeadTask {
    pub fn name(self) -> &'static str {
        match self {
            HeadTask::Token => "token",
            HeadTask::Sequence => "sequence",
            HeadTask::Qa => "qa",
            HeadTask::Discriminator => "discriminator",
            HeadTask::Mlm => "mlm",
        }
    }
}

/// A task head declared in config.json under "biomeg_head" (else inferred from tensor names).
#[derive(Clone, Debug, PartialEq)]
pub struct HeadConfig {
    pub task: HeadTask,
    pub layers: usize,
    pub hidden: usize,
    pub num_labels: usize,
    /// Activation between the two layers of a 2-FC head ("relu", "gelu", "tanh"); None = default.
    pub activation: Option<String>,
    /// A 1-FC sequence head behind BERT's pooler (dense + tanh on [CLS]), as Hugging Face's
    /// *ForSequenceClassification; found from the tensor names when loading.
    pub pooled: bool,
}

impl HeadConfig {
    /// The masked-LM head of a `model_type` encoder: transform to the embedding size `e` (the
    /// decoder is the [vocab, e] word-embedding table), with config.json's hidden_act, except
    /// ELECTRA's generator, whose transform is always GELU (ElectraGeneratorPredictions).
    pub fn mlm(model_type: &str, e: usize, vocab: usize, hidden_act: Act) -> HeadConfig {
        let act = if model_type == "electra" { Act::Gelu } else { hidden_act };
        HeadConfig {
            task: HeadTask::Mlm,
            layers: 1,
            hidden: e,
            num_labels: vocab,
            activation: Some(act.hidden_act_name().into()),
            pooled: false,
        }
    }
}

/// The Hugging Face class a checkpoint of this model type and head loads as (config.json's
/// `architectures`); None for heads only biomeg reads (2-FC heads, token/sequence via biomeg_head).
pub fn hf_architecture(cfg: &ModelConfig) -> Option<String> {
    let base = match cfg.model_type.as_str() {
        "bert" => "Bert",
        "megatron-bert" | "megatron_bert" => "MegatronBert",
        "electra" => "Electra",
        "albert" => "Albert",
        _ => return None,
    };
    let suffix = match cfg.head.as_ref().map(|h| (h.task, h.layers)) {
        None => "Model",
        Some((HeadTask::Mlm, _)) => "ForMaskedLM",
        Some((HeadTask::Discriminator, _)) => "ForPreTraining",
        _ => return None,
    };
    Some(format!("{base}{suffix}"))
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub model_type: String,
    pub arch: Arch,
    pub vocab_size: usize,
    pub hidden: usize,
    pub embedding_size: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub max_positions: usize,
    pub type_vocab: usize,
    pub eps: f32,
    /// Activation of the MLP of every layer (`hidden_act`).
    pub act: Act,
    /// ALBERT cross-layer sharing: `layers` applications draw on `groups * inner` distinct
    /// layers (`num_hidden_groups`, `inner_group_num`); None = one distinct layer per layer.
    pub sharing: Option<Sharing>,
    pub num_labels: usize,
    /// Label names by id when config.json has id2label.
    pub labels: Vec<String>,
    pub head: Option<HeadConfig>,
}

/// ALBERT's layer groups: group `g` holds `inner` consecutive layers; layer application `i` of
/// `layers` runs group `floor(i / (layers / groups))`, as Hugging Face's `AlbertTransformer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sharing {
    pub groups: usize,
    pub inner: usize,
}

impl ModelConfig {
    /// Distinct layers holding weights (fewer than `layers` when ALBERT shares them).
    pub fn distinct_layers(&self) -> usize {
        self.sharing.map_or(self.layers, |s| s.groups * s.inner)
    }

    /// For each layer application in order, the index of the distinct layer it runs.
    pub fn schedule(&self) -> Vec<usize> {
        let Some(s) = self.sharing else { return (0..self.layers).collect() };
        let per_group = self.layers as f64 / s.groups as f64;
        (0..self.layers)
            .flat_map(|i| {
                let g = ((i as f64 / per_group) as usize).min(s.groups - 1);
                (0..s.inner).map(move |j| g * s.inner + j)
            })
            .collect()
    }

    pub fn is_albert(&self) -> bool {
        self.model_type == "albert"
    }

    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }

    /// Parameters of the encoder this config describes (heads excluded), counted on the
    /// parameter schema without allocating. u64: on wasm32 a usize would overflow for the large
    /// presets.
    pub fn encoder_params(&self) -> u64 {
        let skeleton = crate::model::Encoder::skeleton(ModelConfig { head: None, ..self.clone() });
        crate::params::params(&skeleton).iter().map(|(info, _)| info.numel() as u64).sum()
    }

    /// wasm32 addresses at most 4 GiB: refuse up front a model whose fp32 weights cannot fit
    /// (rather than trapping halfway through allocation).
    pub fn check_fits_memory(&self, file: &str) -> Result<()> {
        self.check_fits_memory_copies(file, 1, "its fp32 weights")
    }

    /// As `check_fits_memory` for `copies` fp32 copies of the weights (training holds four:
    /// weights, gradients and AdamW's two moments); `what` names them in the error.
    pub fn check_fits_memory_copies(&self, file: &str, copies: u64, what: &str) -> Result<()> {
        self.check_fits_wasm(file, copies, what, cfg!(target_arch = "wasm32"))
    }

    fn check_fits_wasm(&self, file: &str, copies: u64, what: &str, wasm32: bool) -> Result<()> {
        const WASM_LIMIT: u64 = 3 << 30; // weights plus room for activations
        let bytes = self.encoder_params() * 4 * copies;
        if wasm32 && bytes > WASM_LIMIT {
            return Err(CoreError::Config {
                file: file.to_string(),
                msg: format!(
                    "this {} model needs {:.1} GB for {what}; wasm memory caps at 4 GiB, so use the native backend",
                    self.model_type,
                    bytes as f64 / 1e9
                ),
            });
        }
        Ok(())
    }

    /// Parse config.json text; `file` names it in errors.
    pub fn from_json(text: &str, file: &str) -> Result<Self> {
        let bad = |msg: String| CoreError::Config { file: file.to_string(), msg };
        let v: HfConfig = parse_json(text, "key").map_err(bad)?;
        let arch = match v.model_type.as_str() {
            "bert" | "electra" | "albert" => Arch::PostLn,
            "megatron-bert" | "megatron_bert" => Arch::PreLn,
            other => return Err(CoreError::UnknownModelType { file: file.into(), model_type: other.into() }),
        };
        let (hidden, heads) = (v.hidden_size, v.num_attention_heads);
        if heads == 0 || hidden % heads != 0 {
            return Err(bad(format!("hidden_size {hidden} is not divisible by num_attention_heads {heads}")));
        }
        let albert = v.model_type == "albert";
        // ALBERT's config defaults (transformers' AlbertConfig) where config.json omits a key.
        let act_name = v.hidden_act.as_deref().unwrap_or(if albert { "gelu_new" } else { "gelu" });
        let act = Act::from_hidden_act(act_name).ok_or_else(|| {
            bad(format!("hidden_act '{act_name}' is not supported (gelu, gelu_new / gelu_pytorch_tanh / gelu_fast, relu)"))
        })?;
        let sharing = if albert {
            let (groups, inner) = (v.num_hidden_groups.unwrap_or(1), v.inner_group_num.unwrap_or(1));
            if groups == 0 || groups > v.num_hidden_layers || inner == 0 {
                return Err(bad(format!(
                    "num_hidden_groups {groups} / inner_group_num {inner} do not fit num_hidden_layers {} (need 1 <= groups <= layers, inner >= 1)",
                    v.num_hidden_layers
                )));
            }
            Some(Sharing { groups, inner })
        } else {
            None
        };
        let mut labels: Vec<(usize, String)> = v.id2label.into_iter().filter_map(|(k, l)| Some((k.parse().ok()?, l))).collect();
        labels.sort();
        let labels: Vec<String> = labels.into_iter().map(|(_, l)| l).collect();
        let num_labels = v.num_labels.unwrap_or(labels.len().max(2));
        let head = match v.biomeg_head {
            None => None,
            Some(h) => {
                if !(1..=2).contains(&h.layers) {
                    return Err(bad(format!("biomeg_head.layers must be 1 or 2, got {}", h.layers)));
                }
                if let Some(a) = h.activation.as_deref().filter(|a| h.task != HeadTask::Mlm && !["relu", "gelu", "tanh"].contains(a)) {
                    return Err(bad(format!("biomeg_head.activation '{a}' is not one of relu, gelu, tanh")));
                }
                let n = match h.task {
                    HeadTask::Qa => 2,
                    HeadTask::Discriminator => 1,
                    HeadTask::Mlm => v.vocab_size,
                    _ => num_labels,
                };
                if h.task == HeadTask::Mlm {
                    let e = v.embedding_size.unwrap_or(if albert { 128 } else { hidden });
                    Some(HeadConfig::mlm(&v.model_type, e, v.vocab_size, act))
                } else {
                    Some(HeadConfig {
                        task: h.task,
                        layers: h.layers,
                        hidden: h.hidden,
                        num_labels: n,
                        activation: h.activation,
                        pooled: false,
                    })
                }
            }
        };
        Ok(ModelConfig {
            model_type: v.model_type,
            arch,
            vocab_size: v.vocab_size,
            hidden,
            embedding_size: v.embedding_size.unwrap_or(if albert { 128 } else { hidden }),
            layers: v.num_hidden_layers,
            heads,
            intermediate: v.intermediate_size,
            max_positions: v.max_position_embeddings,
            type_vocab: v.type_vocab_size,
            eps: v.layer_norm_eps,
            act,
            sharing,
            num_labels,
            labels,
            head,
        })
    }

    /// config.json text (starts with `{`) or a preset name: what `Model.random` accepts.
    pub fn from_json_or_preset(s: &str) -> Result<Self> {
        if s.trim_start().starts_with('{') {
            Self::from_json(s, "config")
        } else {
            Self::preset(s)
        }
    }

    /// Named presets (random init, for benchmarks): shapes from the papers.
    pub fn preset(name: &str) -> Result<Self> {
        let (model_type, layers, hidden, heads) = match name {
            "tiny" => ("bert", 2, 64, 4),
            "bert-base" => ("bert", 12, 768, 12),
            "bert-large" => ("bert", 24, 1024, 16),
            "biomegatron-345m" => ("megatron-bert", 24, 1024, 16),
            "biomegatron-800m" => ("megatron-bert", 36, 1280, 20),
            "biomegatron-1.2b" => ("megatron-bert", 24, 2048, 16),
            "albert-base" => ("albert", 12, 768, 12),
            "albert-xxlarge" => ("albert", 12, 4096, 64),
            other => return Err(CoreError::Input(format!("unknown preset '{other}' (known: {})", PRESETS.join(", ")))),
        };
        let albert = model_type == "albert";
        Ok(ModelConfig {
            model_type: model_type.into(),
            arch: if model_type == "megatron-bert" { Arch::PreLn } else { Arch::PostLn },
            vocab_size: match model_type {
                "bert" => 30522,
                "albert" => 30000,
                _ => 50048,
            },
            hidden,
            // ALBERT (Lan et al. 2020): embeddings of 128 projected to the hidden size, one
            // layer shared by all 12 applications, the tanh form of GELU.
            embedding_size: if albert { 128 } else { hidden },
            layers,
            heads,
            intermediate: 4 * hidden,
            max_positions: 512,
            type_vocab: 2,
            eps: 1e-12,
            act: if albert { Act::GeluTanh } else { Act::Gelu },
            sharing: albert.then_some(Sharing { groups: 1, inner: 1 }),
            num_labels: 2,
            labels: vec![],
            head: None,
        })
    }

    /// Back to config.json form (what a saved random model or `info` shows).
    pub fn to_json(&self) -> String {
        let v = HfConfig {
            model_type: self.model_type.clone(),
            vocab_size: self.vocab_size,
            hidden_size: self.hidden,
            num_hidden_layers: self.layers,
            num_attention_heads: self.heads,
            intermediate_size: self.intermediate,
            // Hugging Face defaults ALBERT and ELECTRA to 128 when the key is absent: always write theirs.
            embedding_size: (self.embedding_size != self.hidden || self.is_albert() || self.model_type == "electra")
                .then_some(self.embedding_size),
            num_hidden_groups: self.sharing.map(|s| s.groups),
            inner_group_num: self.sharing.map(|s| s.inner),
            max_position_embeddings: self.max_positions,
            type_vocab_size: self.type_vocab,
            layer_norm_eps: self.eps,
            hidden_act: Some(self.act.hidden_act_name().into()),
            id2label: self.labels.iter().enumerate().map(|(i, l)| (i.to_string(), l.clone())).collect(),
            architectures: hf_architecture(self).map(|a| vec![a]),
            num_labels: Some(self.num_labels),
            biomeg_head: self.head.as_ref().map(|h| HeadJson {
                task: h.task,
                layers: h.layers,
                hidden: h.hidden,
                activation: h.activation.clone(),
            }),
        };
        serde_json::to_string(&v).expect("a config serializes")
    }
}

/// config.json as Hugging Face writes it: the fields biomeg reads (others are ignored).
#[derive(Serialize, Deserialize)]
struct HfConfig {
    model_type: String,
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    embedding_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    num_hidden_groups: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inner_group_num: Option<usize>,
    #[serde(default = "default_max_positions")]
    max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    type_vocab_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f32,
    #[serde(default)]
    hidden_act: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    id2label: BTreeMap<String, String>,
    #[serde(default)]
    num_labels: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    architectures: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    biomeg_head: Option<HeadJson>,
}

/// `biomeg_head` in config.json (other keys, e.g. the fixtures' tensor names, are ignored).
#[derive(Serialize, Deserialize)]
struct HeadJson {
    task: HeadTask,
    #[serde(default = "one")]
    layers: usize,
    #[serde(default)]
    hidden: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activation: Option<String>,
}

fn default_max_positions() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f32 {
    1e-12
}
fn one() -> usize {
    1
}

/// Deserialize JSON text; an error names the field at fault (`biomeg_head.task: unknown variant
/// ...`), and an unknown key reads "unknown {what} 'k' (known: a, b, ...)" at the top level or
/// "unknown {path} key 'k' (...)" inside an object.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> std::result::Result<T, String> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let full = inner.to_string();
        let msg = full.split(" at line ").next().unwrap_or(&full);
        if inner.is_syntax() || inner.is_eof() {
            return format!("invalid JSON: {msg}");
        }
        // serde: "unknown field `k`, expected one of `a`, `b`" (or "expected `a`")
        if let Some(rest) = msg.strip_prefix("unknown field `") {
            let (key, known) = rest.split_once('`').unwrap_or((rest, ""));
            let known = known.trim_start_matches(", expected one of ").trim_start_matches(", expected ").replace('`', "");
            let parent = path.rsplit_once('.').map(|(p, _)| p).unwrap_or("");
            let what = if parent.is_empty() { what.to_string() } else { format!("{parent} key") };
            return format!("unknown {what} '{key}' (known: {known})");
        }
        if path == "." || path.is_empty() {
            msg.to_string()
        } else {
            format!("{path}: {msg}")
        }
    })
}

pub const PRESETS: &[&str] =
    &["tiny", "bert-base", "bert-large", "biomegatron-345m", "biomegatron-800m", "biomegatron-1.2b", "albert-base", "albert-xxlarge"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn albert_presets_share_one_layer_and_xxlarge_trains_only_natively() {
        let base = ModelConfig::preset("albert-base").unwrap();
        assert_eq!((base.distinct_layers(), base.schedule(), base.embedding_size), (1, vec![0; 12], 128));
        // albert-base-v2 has 11.7M parameters (Lan et al. 2020, table 1; the pooler is in ours' head).
        assert_eq!(base.encoder_params(), 11_092_992);
        let xx = ModelConfig::preset("albert-xxlarge").unwrap();
        assert!(xx.check_fits_wasm("preset", 1, "its fp32 weights", true).is_ok(), "inference fits wasm32");
        let e = xx.check_fits_wasm("preset", 4, "training", true).unwrap_err().to_string();
        assert!(e.contains("albert model needs 3.3 GB for training") && e.contains("native backend"), "{e}");
        assert!(xx.check_fits_wasm("preset", 4, "training", false).is_ok());
    }

    #[test]
    fn albert_config_json_defaults_groups_and_errors() {
        let cfg = |extra: &str| {
            ModelConfig::from_json(
                &format!(
                    r#"{{"model_type":"albert","vocab_size":30,"hidden_size":8,"num_hidden_layers":4,"num_attention_heads":2,"intermediate_size":16{extra}}}"#
                ),
                "config.json",
            )
        };
        let c = cfg("").unwrap();
        assert_eq!((c.embedding_size, c.act, c.sharing), (128, crate::model::Act::GeluTanh, Some(Sharing { groups: 1, inner: 1 })));
        let c = cfg(r#","num_hidden_groups":2,"inner_group_num":2"#).unwrap();
        assert_eq!(c.schedule(), vec![0, 1, 0, 1, 2, 3, 2, 3]);
        let c = cfg(r#","num_hidden_groups":3"#).unwrap();
        assert_eq!(c.schedule(), vec![0, 0, 1, 2], "HF: group = int(i / (layers / groups))");
        let e = cfg(r#","num_hidden_groups":5"#).unwrap_err().to_string();
        assert!(e.contains("config.json") && e.contains("num_hidden_groups 5"), "{e}");
        let e = cfg(r#","hidden_act":"swish""#).unwrap_err().to_string();
        assert!(e.contains("hidden_act 'swish' is not supported"), "{e}");
        let round = ModelConfig::from_json(&c.to_json(), "again").unwrap();
        assert_eq!((round.sharing, round.act, round.embedding_size), (c.sharing, c.act, c.embedding_size));
    }
}
