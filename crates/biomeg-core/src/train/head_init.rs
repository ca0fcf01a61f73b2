//! A freshly initialised task head for fine-tuning a base encoder (one without classifier /
//! qa_outputs tensors, e.g. a sentence-embedding BERT): the `newHead` training option. Weights
//! are drawn as Hugging Face's `_init_weights` does: normal(0, initializer_range), zero bias.

use super::{bad_input, TrainResult};
use crate::config::{HeadConfig, HeadTask};
use crate::model::{Act, Encoder, Head};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{"task": "token"|"sequence"|"qa"|"mlm", "labels": [...], "layers": 1|2, "hidden": D,
///   "activation": "relu"|"gelu"|"tanh", "seed": N, "initStd": s}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "NewHeadJson", rename_all = "camelCase")]
pub struct NewHead {
    pub task: HeadTask,
    /// Label names (token / sequence heads); QA heads always have 2 outputs (start, end).
    pub labels: Vec<String>,
    pub layers: usize,
    /// Width of the first layer of a 2-FC head; 0 = the encoder's hidden size.
    pub hidden: usize,
    /// Activation between the two layers (default relu, NeMo style).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
    pub seed: u64,
    /// Standard deviation of the weights; None = config.json's initializer_range (else 0.02).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_std: Option<f32>,
}

/// `newHead` as written, checked into a `NewHead` (messages name the key at fault).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewHeadJson {
    task: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default = "one")]
    layers: usize,
    #[serde(default)]
    hidden: usize,
    activation: Option<String>,
    #[serde(default = "default_seed")]
    seed: u64,
    init_std: Option<f32>,
}

fn one() -> usize {
    1
}
fn default_seed() -> u64 {
    42
}

impl TryFrom<NewHeadJson> for NewHead {
    type Error = String;
    fn try_from(j: NewHeadJson) -> Result<Self, String> {
        let task = match j.task.as_deref() {
            None => return Err("newHead.task is required (token, sequence, qa or mlm)".into()),
            Some("token") => HeadTask::Token,
            Some("sequence") => HeadTask::Sequence,
            Some("qa") => HeadTask::Qa,
            Some("mlm") => HeadTask::Mlm,
            Some(t) => return Err(format!("newHead.task must be one of token, sequence, qa, mlm; got \"{t}\"")),
        };
        if !(1..=2).contains(&j.layers) {
            return Err(format!("newHead.layers must be 1 or 2, got {}", j.layers));
        }
        if !matches!(task, HeadTask::Qa | HeadTask::Mlm) && j.labels.len() < 2 {
            return Err(format!("newHead.labels needs at least 2 labels for a {} head, got {}", task.name(), j.labels.len()));
        }
        if let Some(a) = j.activation.as_deref().filter(|a| !["relu", "gelu", "tanh"].contains(a)) {
            return Err(format!("newHead.activation must be one of relu, gelu, tanh; got \"{a}\""));
        }
        if let Some(s) = j.init_std.filter(|s| !(*s >= 0.0 && s.is_finite())) {
            return Err(format!("newHead.initStd must be a number >= 0, got {s}"));
        }
        Ok(NewHead {
            task,
            labels: j.labels,
            layers: j.layers,
            hidden: j.hidden,
            activation: j.activation,
            seed: j.seed,
            init_std: j.init_std,
        })
    }
}

impl NewHead {
    /// From the JSON value of the `newHead` option.
    pub fn from_value(v: &Value) -> TrainResult<Self> {
        crate::config::parse_json(&v.to_string(), "newHead key").map_err(bad_input)
    }

    /// Replace `enc`'s head (if any) with a new one and update its config (labels, num_labels,
    /// biomeg_head) so that exported weights load in the inference runtime.
    pub fn install(&self, enc: &mut Encoder) {
        if self.task == HeadTask::Mlm {
            // Transform normal(0, std), LayerNorm 1/0, bias 0; the decoder is the word embeddings.
            let c = &enc.cfg;
            let hc = HeadConfig::mlm(&c.model_type, c.embedding_size, c.vocab_size, c.act);
            enc.head = Some(Head::initialised(&hc, c.hidden, self.init_std.unwrap_or(0.02), self.seed));
            enc.cfg.head = Some(hc);
            enc.cfg.labels.clear();
            return;
        }
        let n = if self.task == HeadTask::Qa { 2 } else { self.labels.len() };
        let h = enc.cfg.hidden;
        let layers2 = self.layers == 2;
        let hc = HeadConfig {
            task: self.task,
            layers: self.layers,
            hidden: if layers2 && self.hidden == 0 {
                h
            } else if layers2 {
                self.hidden
            } else {
                0
            },
            num_labels: n,
            activation: layers2.then(|| Act::from_name(self.activation.as_deref()).name().to_string()),
            pooled: false,
        };
        enc.head = Some(Head::initialised(&hc, h, self.init_std.unwrap_or(0.02), self.seed));
        enc.cfg.head = Some(hc);
        if self.task == HeadTask::Qa {
            enc.cfg.labels.clear();
            enc.cfg.num_labels = 2;
        } else {
            enc.cfg.labels = self.labels.clone();
            enc.cfg.num_labels = n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use crate::model::HeadKind;

    fn base() -> Encoder {
        Encoder::random(ModelConfig::preset("tiny").unwrap(), 3).unwrap()
    }

    #[test]
    fn token_head_hf_init_and_config() {
        let v: Value = serde_json::from_str(r#"{"task":"token","labels":["O","B","I"],"layers":1,"seed":7}"#).unwrap();
        let nh = NewHead::from_value(&v).unwrap();
        let mut e = base();
        nh.install(&mut e);
        let head = e.head.as_ref().unwrap();
        assert_eq!(head.num_labels, 3);
        let HeadKind::Single(l) = &head.kind else { panic!("single") };
        assert_eq!((l.inp, l.out), (64, 3));
        assert!(l.b.iter().all(|&b| b == 0.0));
        let mean = l.w.iter().map(|&x| x as f64).sum::<f64>() / l.w.len() as f64;
        let sd = (l.w.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / l.w.len() as f64).sqrt();
        assert!((sd - 0.02).abs() < 0.004, "std {sd}");
        let cfg: Value = serde_json::from_str(&e.cfg.to_json()).unwrap();
        assert_eq!(cfg["num_labels"], 3);
        assert_eq!(cfg["id2label"]["2"], "I");
        assert_eq!(cfg["biomeg_head"]["task"], "token");
        // Same seed, same head.
        let mut e2 = base();
        nh.install(&mut e2);
        let HeadKind::Single(l2) = &e2.head.as_ref().unwrap().kind else { panic!() };
        assert_eq!(l.w, l2.w);
    }

    #[test]
    fn two_layer_and_qa_heads() {
        let v: Value = serde_json::from_str(r#"{"task":"sequence","labels":["a","b"],"layers":2,"hidden":16}"#).unwrap();
        let mut e = base();
        NewHead::from_value(&v).unwrap().install(&mut e);
        let HeadKind::Double { dense, out, act } = &e.head.as_ref().unwrap().kind else { panic!("double") };
        assert_eq!((dense.inp, dense.out, out.inp, out.out, *act), (64, 16, 16, 2, Act::Relu));
        let v: Value = serde_json::from_str(r#"{"task":"qa"}"#).unwrap();
        let mut e = base();
        NewHead::from_value(&v).unwrap().install(&mut e);
        assert_eq!(e.head.as_ref().unwrap().num_labels, 2);
        assert_eq!(e.cfg.head.as_ref().unwrap().task, HeadTask::Qa);
    }

    #[test]
    fn bad_specs_are_named() {
        for (s, want) in [
            (r#"{"labels":["a","b"]}"#, "task is required"),
            (r#"{"task":"token","labels":["a"]}"#, "at least 2 labels"),
            (r#"{"task":"token","labels":["a","b"],"layers":3}"#, "layers must be 1 or 2"),
            (r#"{"task":"tok"}"#, "newHead.task"),
            (r#"{"task":"qa","foo":1}"#, "unknown newHead key 'foo'"),
        ] {
            let e = NewHead::from_value(&serde_json::from_str(s).unwrap()).unwrap_err();
            assert!(e.to_string().contains(want), "{s}: {e}");
        }
    }
}
