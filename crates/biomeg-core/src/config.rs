//! Model configuration: read from a Hugging Face config.json, or a named preset.

use crate::error::{CoreError, Result};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// LayerNorm after each residual add (BERT, ELECTRA).
    PostLn,
    /// LayerNorm before each sub-layer plus a final LayerNorm (Megatron-BERT).
    PreLn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadTask {
    Token,
    Sequence,
    Qa,
    /// ELECTRA replaced-token-detection head (one logit per token).
    Discriminator,
}

impl HeadTask {
    pub fn name(self) -> &'static str {
        match self {
            HeadTask::Token => "token",
            HeadTask::Sequence => "sequence",
            HeadTask::Qa => "qa",
            HeadTask::Discriminator => "discriminator",
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
    pub num_labels: usize,
    /// Label names by id when config.json has id2label.
    pub labels: Vec<String>,
    pub head: Option<HeadConfig>,
}

impl ModelConfig {
    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }

    /// Parameters of the encoder this config describes (heads excluded). u64: on wasm32 a usize
    /// would overflow for the large presets.
    pub fn encoder_params(&self) -> u64 {
        let (h, e, i) = (self.hidden as u64, self.embedding_size as u64, self.intermediate as u64);
        let (v, p, t, l) = (self.vocab_size as u64, self.max_positions as u64, self.type_vocab as u64, self.layers as u64);
        let emb = (v + p + t) * e + if e != h { e * h + h } else { 0 };
        let layer = 4 * h * h + 2 * h * i + 9 * h + i;
        // post-LN: LayerNorm on the embeddings; pre-LN: a final LayerNorm instead
        let ln = if self.arch == Arch::PostLn { 2 * e } else { 2 * h };
        emb + l * layer + ln
    }

    /// wasm32 addresses at most 4 GiB: refuse up front a model whose fp32 weights cannot fit
    /// (rather than trapping halfway through allocation).
    pub fn check_fits_memory(&self, file: &str) -> Result<()> {
        const WASM_LIMIT: u64 = 3 << 30; // weights plus room for activations
        let bytes = self.encoder_params() * 4;
        if cfg!(target_arch = "wasm32") && bytes > WASM_LIMIT {
            return Err(CoreError::Config {
                file: file.to_string(),
                msg: format!(
                    "this model needs {:.1} GB for its fp32 weights; wasm memory caps at 4 GiB, so use the native backend",
                    bytes as f64 / 1e9
                ),
            });
        }
        Ok(())
    }

    /// Parse config.json text; `file` names it in errors.
    pub fn from_json(text: &str, file: &str) -> Result<Self> {
        let bad = |msg: String| CoreError::Config { file: file.to_string(), msg };
        let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        let model_type = v.get("model_type").and_then(Value::as_str).ok_or_else(|| bad("missing string field 'model_type'".into()))?;
        let arch = match model_type {
            "bert" | "electra" => Arch::PostLn,
            "megatron-bert" | "megatron_bert" => Arch::PreLn,
            other => return Err(CoreError::UnknownModelType { file: file.into(), model_type: other.into() }),
        };
        let num = |k: &str| -> Result<usize> {
            v.get(k).and_then(Value::as_u64).map(|n| n as usize).ok_or_else(|| bad(format!("missing integer field '{k}'")))
        };
        let opt = |k: &str, d: usize| v.get(k).and_then(Value::as_u64).map(|n| n as usize).unwrap_or(d);
        let hidden = num("hidden_size")?;
        let heads = num("num_attention_heads")?;
        if heads == 0 || hidden % heads != 0 {
            return Err(bad(format!("hidden_size {hidden} is not divisible by num_attention_heads {heads}")));
        }
        if let Some(act) = v.get("hidden_act").and_then(Value::as_str) {
            if act != "gelu" {
                return Err(bad(format!("hidden_act '{act}' is not supported (only the erf form 'gelu')")));
            }
        }
        let mut labels: Vec<(usize, String)> = v
            .get("id2label")
            .and_then(Value::as_object)
            .map(|m| m.iter().filter_map(|(k, l)| Some((k.parse().ok()?, l.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        labels.sort();
        let labels: Vec<String> = labels.into_iter().map(|(_, l)| l).collect();
        let num_labels = v.get("num_labels").and_then(Value::as_u64).map(|n| n as usize).unwrap_or(labels.len().max(2));
        let head = match v.get("biomeg_head") {
            None | Some(Value::Null) => None,
            Some(h) => {
                let task = match h.get("task").and_then(Value::as_str) {
                    Some("token") => HeadTask::Token,
                    Some("sequence") => HeadTask::Sequence,
                    Some("qa") => HeadTask::Qa,
                    Some("discriminator") => HeadTask::Discriminator,
                    t => return Err(bad(format!("biomeg_head.task {t:?} is not one of token, sequence, qa, discriminator"))),
                };
                let layers = h.get("layers").and_then(Value::as_u64).unwrap_or(1) as usize;
                if !(1..=2).contains(&layers) {
                    return Err(bad(format!("biomeg_head.layers must be 1 or 2, got {layers}")));
                }
                let hidden_h = h.get("hidden").and_then(Value::as_u64).unwrap_or(0) as usize;
                let n = match task {
                    HeadTask::Qa => 2,
                    HeadTask::Discriminator => 1,
                    _ => num_labels,
                };
                let activation = h.get("activation").and_then(Value::as_str).map(str::to_string);
                if let Some(a) = &activation {
                    if !["relu", "gelu", "tanh"].contains(&a.as_str()) {
                        return Err(bad(format!("biomeg_head.activation '{a}' is not one of relu, gelu, tanh")));
                    }
                }
                Some(HeadConfig { task, layers, hidden: hidden_h, num_labels: n, activation })
            }
        };
        let cfg = ModelConfig {
            model_type: model_type.to_string(),
            arch,
            vocab_size: num("vocab_size")?,
            hidden,
            embedding_size: opt("embedding_size", hidden),
            layers: num("num_hidden_layers")?,
            heads,
            intermediate: num("intermediate_size")?,
            max_positions: opt("max_position_embeddings", 512),
            type_vocab: opt("type_vocab_size", 2),
            eps: v.get("layer_norm_eps").and_then(Value::as_f64).unwrap_or(1e-12) as f32,
            num_labels,
            labels,
            head,
        };
        Ok(cfg)
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
            other => {
                return Err(CoreError::Input(format!(
                    "unknown preset '{other}' (known: {})",
                    PRESETS.join(", ")
                )))
            }
        };
        Ok(ModelConfig {
            model_type: model_type.into(),
            arch: if model_type == "bert" { Arch::PostLn } else { Arch::PreLn },
            vocab_size: if model_type == "bert" { 30522 } else { 50048 },
            hidden,
            embedding_size: hidden,
            layers,
            heads,
            intermediate: 4 * hidden,
            max_positions: 512,
            type_vocab: 2,
            eps: 1e-12,
            num_labels: 2,
            labels: vec![],
            head: None,
        })
    }

    /// Back to config.json form (what a saved random model or `info` shows).
    pub fn to_json(&self) -> String {
        let mut v = serde_json::json!({
            "model_type": self.model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "intermediate_size": self.intermediate,
            "max_position_embeddings": self.max_positions,
            "type_vocab_size": self.type_vocab,
            "layer_norm_eps": self.eps,
            "hidden_act": "gelu",
            "num_labels": self.num_labels,
        });
        if self.embedding_size != self.hidden {
            v["embedding_size"] = self.embedding_size.into();
        }
        if !self.labels.is_empty() {
            v["id2label"] = self.labels.iter().enumerate().map(|(i, l)| (i.to_string(), Value::from(l.clone()))).collect::<serde_json::Map<_, _>>().into();
        }
        if let Some(h) = &self.head {
            v["biomeg_head"] = serde_json::json!({"task": h.task.name(), "layers": h.layers, "hidden": h.hidden});
            if let Some(a) = &h.activation {
                v["biomeg_head"]["activation"] = a.clone().into();
            }
        }
        v.to_string()
    }
}

pub const PRESETS: &[&str] = &["tiny", "bert-base", "bert-large", "biomegatron-345m", "biomegatron-800m", "biomegatron-1.2b"];
