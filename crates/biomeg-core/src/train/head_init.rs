//! A freshly initialised task head for fine-tuning a base encoder (one without classifier /
//! qa_outputs tensors, e.g. a sentence-embedding BERT): the `newHead` training option. Weights
//! are drawn as Hugging Face's `_init_weights` does: normal(0, initializer_range), zero bias.

use super::{bad_input, TrainResult};
use crate::config::{HeadConfig, HeadTask};
use crate::model::{Act, Encoder, Head, HeadKind, Linear};
use crate::rng::Rng;
use serde_json::Value;

/// `{"task": "token"|"sequence"|"qa", "labels": [...], "layers": 1|2, "hidden": D,
///   "activation": "relu"|"gelu"|"tanh", "seed": N, "initStd": s}`.
#[derive(Clone, Debug, PartialEq)]
pub struct NewHead {
    pub task: HeadTask,
    /// Label names (token / sequence heads); QA heads always have 2 outputs (start, end).
    pub labels: Vec<String>,
    pub layers: usize,
    /// Width of the first layer of a 2-FC head; 0 = the encoder's hidden size.
    pub hidden: usize,
    /// Activation between the two layers (default relu, NeMo style).
    pub activation: Option<String>,
    pub seed: u64,
    /// Standard deviation of the weights; None = config.json's initializer_range (else 0.02).
    pub init_std: Option<f32>,
}

impl NewHead {
    pub fn from_value(v: &Value) -> TrainResult<Self> {
        let obj = v.as_object().ok_or_else(|| bad_input(format!("training option 'newHead' must be an object, got {v}")))?;
        let mut h = NewHead { task: HeadTask::Token, labels: vec![], layers: 1, hidden: 0, activation: None, seed: 42, init_std: None };
        let mut task_seen = false;
        for (k, val) in obj {
            let u = || val.as_u64().ok_or_else(|| bad_input(format!("newHead.{k} must be a non-negative integer, got {val}")));
            match k.as_str() {
                "task" => {
                    task_seen = true;
                    h.task = match val.as_str() {
                        Some("token") => HeadTask::Token,
                        Some("sequence") => HeadTask::Sequence,
                        Some("qa") => HeadTask::Qa,
                        _ => return Err(bad_input(format!("newHead.task must be one of token, sequence, qa; got {val}"))),
                    }
                }
                "labels" => {
                    let arr = val.as_array().ok_or_else(|| bad_input(format!("newHead.labels must be an array of strings, got {val}")))?;
                    h.labels = arr
                        .iter()
                        .map(|l| l.as_str().map(str::to_string).ok_or_else(|| bad_input(format!("newHead.labels must be strings, got {l}"))))
                        .collect::<TrainResult<_>>()?;
                }
                "layers" => h.layers = u()? as usize,
                "hidden" => h.hidden = u()? as usize,
                "seed" => h.seed = u()?,
                "activation" => {
                    let a = val.as_str().filter(|a| ["relu", "gelu", "tanh"].contains(a));
                    h.activation = Some(a.ok_or_else(|| bad_input(format!("newHead.activation must be one of relu, gelu, tanh; got {val}")))?.to_string());
                }
                "initStd" => {
                    let s = val.as_f64().filter(|s| *s >= 0.0 && s.is_finite());
                    h.init_std = Some(s.ok_or_else(|| bad_input(format!("newHead.initStd must be a number >= 0, got {val}")))? as f32);
                }
                _ => return Err(bad_input(format!("unknown newHead key '{k}' (known: task, labels, layers, hidden, activation, seed, initStd)"))),
            }
        }
        if !task_seen {
            return Err(bad_input("newHead.task is required (token, sequence or qa)".into()));
        }
        if !(1..=2).contains(&h.layers) {
            return Err(bad_input(format!("newHead.layers must be 1 or 2, got {}", h.layers)));
        }
        if h.task != HeadTask::Qa && h.labels.len() < 2 {
            return Err(bad_input(format!("newHead.labels needs at least 2 labels for a {} head, got {}", h.task.name(), h.labels.len())));
        }
        Ok(h)
    }

    pub fn to_value(&self) -> Value {
        let mut v = serde_json::json!({"task": self.task.name(), "labels": self.labels, "layers": self.layers, "hidden": self.hidden, "seed": self.seed});
        if let Some(a) = &self.activation {
            v["activation"] = a.clone().into();
        }
        if let Some(s) = self.init_std {
            v["initStd"] = s.into();
        }
        v
    }

    /// Replace `enc`'s head (if any) with a new one and update its config (labels, num_labels,
    /// biomeg_head) so that exported weights load in the inference runtime.
    pub fn install(&self, enc: &mut Encoder) {
        let h = enc.cfg.hidden;
        let n = if self.task == HeadTask::Qa { 2 } else { self.labels.len() };
        let std = self.init_std.unwrap_or(0.02);
        let mut rng = Rng::new(self.seed);
        let mut lin = |inp: usize, out: usize| Linear { w: (0..inp * out).map(|_| rng.normal() * std).collect(), b: vec![0.0; out], inp, out };
        let d = if self.hidden == 0 { h } else { self.hidden };
        let (kind, activation) = if self.layers == 2 {
            let act = match self.activation.as_deref() {
                Some("gelu") => Act::Gelu,
                Some("tanh") => Act::Tanh,
                _ => Act::Relu,
            };
            let dense = lin(h, d);
            let out = lin(d, n);
            (HeadKind::Double { dense, out, act }, Some(format!("{act:?}").to_lowercase()))
        } else {
            (HeadKind::Single(lin(h, n)), None)
        };
        enc.head = Some(Head { task: self.task, kind, num_labels: n });
        enc.cfg.head = Some(HeadConfig { task: self.task, layers: self.layers, hidden: if self.layers == 2 { d } else { 0 }, num_labels: n, activation });
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
