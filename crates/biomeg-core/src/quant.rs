//! int8 quantized inference (docs/quantization.md): every Linear of the encoder layers (QKV,
//! attention output, MLP in and out) runs through the int8 GEMM (`kernels::int8`) with its weight
//! quantized per output channel; embeddings, LayerNorm, softmax, GELU and the task head stay f32.
//!
//! A model becomes int8 at load time when config.json says `"biomeg_quantization": "int8"` (what
//! `biomeg quantize` writes, and what the `quantize: 'int8'` load option adds) or when its
//! safetensors hold I8 weights (`<name>.weight` as I8 plus `<name>.weight_scale` F32 [out]).
//! Stored integers are dequantized on reading and quantized again here, which gives back the same
//! integers (see the kernel tests), so an int8 checkpoint and an f32 one quantized at load run the
//! same integer GEMMs.

use std::sync::Arc;

use crate::error::{CoreError, Result};
use crate::kernels::int8::{self, PackedI8};
use crate::model::Encoder;

/// config.json key that marks a quantized model.
pub const CONFIG_KEY: &str = "biomeg_quantization";

/// The quantization config.json asks for: Some("int8"), None when absent; other values fail.
pub fn requested(config_json: &str, file: &str) -> Result<Option<&'static str>> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(config_json) else {
        return Ok(None); // not JSON (a preset name): ModelConfig reports real parse errors
    };
    match v.get(CONFIG_KEY) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s == "int8" => Ok(Some("int8")),
        Some(other) => Err(CoreError::Config { file: file.into(), msg: format!("{CONFIG_KEY} {other} is not supported (\"int8\")") }),
    }
}

impl Encoder {
    /// Quantize the encoder layers' Linears to int8 for the kernels of this machine.
    pub fn quantize_int8(&mut self) {
        let isa = int8::detect();
        for l in &mut self.layers {
            for lin in [&mut l.qkv, &mut l.attn_out, &mut l.inter, &mut l.out] {
                let p = PackedI8::from_f32(isa, &lin.w, lin.out, lin.inp);
                lin.w.set_int8(Some(Arc::new(p)));
            }
        }
    }

    /// Whether forward passes use the int8 GEMM.
    pub fn is_int8(&self) -> bool {
        self.layers.first().is_some_and(|l| l.qkv.w.int8().is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use crate::kernels::int8::quantize_weight;
    use crate::model::Batch;
    use crate::params::params;

    fn cosine_min(a: &[f32], b: &[f32], w: usize) -> f32 {
        a.chunks(w)
            .zip(b.chunks(w))
            .map(|(x, y)| {
                let d: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
                d / (x.iter().map(|v| v * v).sum::<f32>().sqrt() * y.iter().map(|v| v * v).sum::<f32>().sqrt())
            })
            .fold(1.0, f32::min)
    }

    fn batch_ids(n: usize, vocab: usize) -> Vec<u32> {
        (0..n).map(|i| (1 + (i * 7919) % (vocab - 1)) as u32).collect()
    }

    #[test]
    fn quantized_encoder_runs_int8_and_stays_close_to_f32() {
        let cfg = ModelConfig::preset("tiny").unwrap();
        let (h, vocab) = (cfg.hidden, cfg.vocab_size);
        let f32m = Encoder::random(cfg.clone(), 5).unwrap();
        let mut q = Encoder::random(cfg, 5).unwrap();
        assert!(!q.is_int8());
        q.quantize_int8();
        assert!(q.is_int8());
        let ids = batch_ids(2 * 11, vocab);
        let mask = vec![1u8; ids.len()];
        let b = Batch { ids: &ids, type_ids: &[], mask: &mask, batch: 2, seq: 11 };
        let (a, c) = (f32m.forward(&b).unwrap(), q.forward(&b).unwrap());
        assert_ne!(a, c, "the int8 path ran");
        assert!(cosine_min(&a, &c, h) > 0.99, "cosine {}", cosine_min(&a, &c, h));
        // Changing a weight drops its int8 form (it would be stale).
        q.layers[0].qkv.w[0] += 1.0;
        assert!(q.layers[0].qkv.w.int8().is_none() && q.layers[0].out.w.int8().is_some());
    }

    #[test]
    fn int8_safetensors_load_as_their_dequantized_weights_and_run_int8() {
        let cfg = ModelConfig::preset("tiny").unwrap();
        let e = Encoder::random(cfg.clone(), 9).unwrap();
        // Write the model as biomeg quantize does: encoder-layer weights I8 + F32 scales.
        let mut header = serde_json::Map::new();
        let mut data: Vec<u8> = Vec::new();
        let mut deq = Vec::new();
        let mut put = |name: String, dtype: &str, shape: Vec<usize>, bytes: Vec<u8>, data: &mut Vec<u8>| {
            header
                .insert(name, serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [data.len(), data.len() + bytes.len()]}));
            data.extend(bytes);
        };
        for (info, t) in params(&e) {
            let name = if info.name.contains(".qkv.") { continue } else { info.name.clone() };
            let bytes: Vec<u8> = t.iter().flat_map(|v| v.to_le_bytes()).collect();
            put(name, "F32", info.shape.clone(), bytes, &mut data);
        }
        let (hd, l0) = (cfg.hidden, &e.layers[0]);
        for (part, rows) in ["query", "key", "value"].iter().zip(l0.qkv.w.chunks(hd * hd)) {
            let (q, s) = quantize_weight(rows, hd, hd);
            deq.push((q.clone(), s.clone()));
            let name = format!("encoder.layer.0.attention.self.{part}.weight");
            put(name.clone(), "I8", vec![hd, hd], q.iter().map(|&v| v as u8).collect(), &mut data);
            put(format!("{name}_scale"), "F32", vec![hd], s.iter().flat_map(|v| v.to_le_bytes()).collect(), &mut data);
        }
        for (i, part) in ["query", "key", "value"].iter().enumerate() {
            let b: Vec<u8> = l0.qkv.b[i * hd..(i + 1) * hd].iter().flat_map(|v| v.to_le_bytes()).collect();
            put(format!("encoder.layer.0.attention.self.{part}.bias"), "F32", vec![hd], b, &mut data);
        }
        for k in 1..cfg.layers {
            let l = &e.layers[k];
            for (i, part) in ["query", "key", "value"].iter().enumerate() {
                let w: Vec<u8> = l.qkv.w[i * hd * hd..(i + 1) * hd * hd].iter().flat_map(|v| v.to_le_bytes()).collect();
                put(format!("encoder.layer.{k}.attention.self.{part}.weight"), "F32", vec![hd, hd], w, &mut data);
                let b: Vec<u8> = l.qkv.b[i * hd..(i + 1) * hd].iter().flat_map(|v| v.to_le_bytes()).collect();
                put(format!("encoder.layer.{k}.attention.self.{part}.bias"), "F32", vec![hd], b, &mut data);
            }
        }
        let h = serde_json::Value::Object(header).to_string().into_bytes();
        let mut file = (h.len() as u64).to_le_bytes().to_vec();
        file.extend(h);
        file.extend(data);
        let cfg_json = cfg.to_json();
        let loaded = crate::load_from_bytes(&cfg_json, "config.json", &file, "model.safetensors").unwrap();
        assert!(loaded.is_int8(), "I8 tensors make the model int8 without a config marker");
        let qkv = loaded.layers[0].qkv.w.int8().unwrap().unpack();
        let want: Vec<i8> = deq.iter().flat_map(|(q, _)| q.iter().copied()).collect();
        assert_eq!(qkv, want, "the stored integers come back");
        // A missing scale names the tensor.
        let mut broken = file.clone();
        let at = broken.windows(18).position(|w| w == b"query.weight_scale").unwrap();
        broken[at + 13..at + 18].copy_from_slice(b"SCALE");
        let err = crate::load_from_bytes(&cfg_json, "config.json", &broken, "m.safetensors").err().unwrap();
        assert!(err.to_string().contains("encoder.layer.0.attention.self.query.weight"), "{err}");
        assert!(requested(r#"{"biomeg_quantization": "int4"}"#, "c.json").is_err());
        assert_eq!(requested(r#"{"biomeg_quantization": "int8"}"#, "c.json").unwrap(), Some("int8"));
    }
}
