//! Trainer state as safetensors bytes (weights, AdamW moments, step counters in `__metadata__`),
//! and the trained weights under Hugging Face names so the inference runtime loads them.

use super::{TrainError, TrainResult, Trainer};
use crate::config::HeadTask;
use crate::error::CoreError;
use crate::params::{params, params_mut};
use crate::weights::{write_safetensors, SafeTensors};
use serde_json::Value;

const FORMAT: &str = "biomeg-train-state";

/// Add a `__metadata__` map (string values) to safetensors bytes from `write_safetensors`.
pub(crate) fn with_metadata(bytes: Vec<u8>, meta: &[(&str, String)]) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, Value> = serde_json::from_slice(&bytes[8..8 + n]).expect("own header");
    header.insert(
        "__metadata__".into(),
        meta.iter().map(|(k, v)| (k.to_string(), Value::from(v.clone()))).collect::<serde_json::Map<_, _>>().into(),
    );
    let mut h = Value::Object(header).to_string().into_bytes();
    while !(8 + h.len()).is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

fn read_metadata(bytes: &[u8], file: &str) -> TrainResult<serde_json::Map<String, Value>> {
    let bad = |m: &str| TrainError::Core(CoreError::Weights { file: file.into(), msg: m.into() });
    let n = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
        .ok_or_else(|| bad("too short for a safetensors header"))?;
    let h: Value = bytes
        .get(8..8usize.saturating_add(n))
        .and_then(|h| serde_json::from_slice(h).ok())
        .ok_or_else(|| bad("unreadable safetensors header"))?;
    Ok(h.get("__metadata__").and_then(Value::as_object).cloned().unwrap_or_default())
}

impl Trainer {
    /// Weights, both AdamW moments and the counters. Saved between optimizer steps: gradients
    /// of a partly accumulated window are not included (the caller saves after an update).
    pub fn save_state(&self) -> Vec<u8> {
        let keyed = self.state_entries("");
        let refs: Vec<(&str, &[usize], &[f32])> = keyed.iter().map(|(n, s, t)| (n.as_str(), s.as_slice(), *t)).collect();
        let meta = [
            ("format", FORMAT.to_string()),
            ("version", "1".to_string()),
            ("step", self.step.to_string()),
            ("batches", self.batches.to_string()),
            ("options", self.opts.to_json()),
            ("config", self.enc.cfg.to_json()),
        ];
        with_metadata(write_safetensors(&refs), &meta)
    }

    /// Weights and both moments under `{prefix}param/`, `{prefix}adam_m/`, `{prefix}adam_v/`.
    pub(crate) fn state_entries(&self, prefix: &str) -> Vec<(String, Vec<usize>, &[f32])> {
        let (w, m, v) = (params(&self.enc), params(&self.m), params(&self.v));
        let mut keyed = Vec::new();
        for (kind, set) in [("param/", &w), ("adam_m/", &m), ("adam_v/", &v)] {
            for ((info, _), (_, t)) in w.iter().zip(set.iter()) {
                keyed.push((format!("{prefix}{kind}{}", info.name), info.shape.clone(), t.as_slice()));
            }
        }
        keyed
    }

    /// Read what `state_entries(prefix)` wrote, without changing anything (a bad file leaves
    /// the trainer as it was); `install_state` puts it in place.
    pub(crate) fn read_state<S: crate::weights::ByteSource>(&self, st: &SafeTensors<S>, prefix: &str) -> TrainResult<Vec<Vec<f32>>> {
        let mut loaded: Vec<Vec<f32>> = Vec::new();
        for kind in ["param/", "adam_m/", "adam_v/"] {
            for (info, _) in params(&self.enc) {
                loaded.push(st.read(&format!("{prefix}{kind}{}", info.name), &info.shape)?);
            }
        }
        Ok(loaded)
    }

    pub(crate) fn install_state(&mut self, loaded: Vec<Vec<f32>>, step: u64, batches: u64) {
        let mut it = loaded.into_iter();
        for set in [&mut self.enc, &mut self.m, &mut self.v] {
            for (_, t) in params_mut(set) {
                *t = it.next().unwrap();
            }
        }
        self.step = step;
        self.batches = batches;
        self.discard_pending();
    }

    /// Restore what `save_state` wrote (same model shape); pending gradients are dropped. The
    /// options are kept as given to this trainer, except that the counters resume.
    pub fn load_state(&mut self, bytes: &[u8], file: &str) -> TrainResult<()> {
        let (step, batches) = read_counters(bytes, file, FORMAT)?;
        let st = SafeTensors::open(bytes, file)?;
        let loaded = self.read_state(&st, "")?;
        self.install_state(loaded, step, batches);
        Ok(())
    }

    /// The current weights as a Hugging Face-style safetensors file (Q/K/V split again, `bert.` or
    /// `electra.` prefix on encoder tensors, heads under `classifier` / `qa_outputs`), loadable by
    /// `crate::load_from_bytes` with `config_json()`.
    pub fn export_weights(&self) -> Vec<u8> {
        export_hf(&self.enc)
    }

    /// The accumulated gradients under the same names as `export_weights` (tests, debugging).
    pub fn export_gradients(&self) -> Vec<u8> {
        export_hf(self.grads())
    }

    /// config.json text matching `export_weights` (with `biomeg_head`).
    pub fn config_json(&self) -> String {
        self.enc.cfg.to_json()
    }

    /// Task of the head being trained.
    pub fn task(&self) -> HeadTask {
        self.enc.head.as_ref().map(|h| h.task).unwrap_or(HeadTask::Token)
    }
}

/// Step and micro-batch counters of a state file whose `__metadata__.format` is `format`.
pub(crate) fn read_counters(bytes: &[u8], file: &str, format: &str) -> TrainResult<(u64, u64)> {
    let meta = read_metadata(bytes, file)?;
    if meta.get("format").and_then(Value::as_str) != Some(format) {
        return Err(TrainError::Core(CoreError::Weights {
            file: file.into(),
            msg: format!("not a biomeg training state (no __metadata__.format = \"{format}\")"),
        }));
    }
    let num = |k: &str| -> TrainResult<u64> {
        meta.get(k).and_then(Value::as_str).and_then(|s| s.parse().ok()).ok_or_else(|| {
            TrainError::Core(CoreError::Weights { file: file.into(), msg: format!("__metadata__.{k} missing or not an integer") })
        })
    };
    Ok((num("step")?, num("batches")?))
}

/// Tensors of `e` under Hugging Face checkpoint names.
pub(crate) fn export_hf(e: &crate::model::Encoder) -> Vec<u8> {
    let prefix = match e.cfg.model_type.as_str() {
        "electra" => "electra.",
        "albert" => "albert.",
        _ => "bert.",
    };
    let h = e.cfg.hidden;
    let mut owned: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for (info, t) in params(e) {
        let full = if crate::params::in_base_model(&info.name) { format!("{prefix}{}", info.name) } else { info.name.clone() };
        if let Some(base) = full.strip_suffix(".qkv.weight") {
            for (i, part) in ["query", "key", "value"].iter().enumerate() {
                owned.push((format!("{base}.{part}.weight"), vec![h, h], t[i * h * h..(i + 1) * h * h].to_vec()));
            }
        } else if let Some(base) = full.strip_suffix(".qkv.bias") {
            for (i, part) in ["query", "key", "value"].iter().enumerate() {
                owned.push((format!("{base}.{part}.bias"), vec![h], t[i * h..(i + 1) * h].to_vec()));
            }
        } else {
            owned.push((full, info.shape.clone(), t.clone()));
        }
    }
    let refs: Vec<(&str, &[usize], &[f32])> = owned.iter().map(|(n, s, t)| (n.as_str(), s.as_slice(), t.as_slice())).collect();
    with_metadata(write_safetensors(&refs), &[("format", "pt".to_string())])
}
