//! Where a training step spends its time (MiniLM-sized BERT, token head, batch 32 x 64 by default):
//! `cargo run --release -p biomeg-core --example train_profile [batch] [seq] [threads]`.
use biomeg_core::forward::DropCfg;
use biomeg_core::kernels::set_threads;
use biomeg_core::train::{TrainOptions, Trainer};
use biomeg_core::{Batch, Encoder, ModelConfig};
use std::time::Instant;

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().unwrap()).collect();
    let (b, s, t) = (a.first().copied().unwrap_or(32), a.get(1).copied().unwrap_or(64), a.get(2).copied().unwrap_or(2));
    set_threads(t);
    let cfg = ModelConfig::from_json(r#"{"model_type":"bert","vocab_size":30522,"hidden_size":384,"num_hidden_layers":6,"num_attention_heads":12,"intermediate_size":1536,"max_position_embeddings":512,"type_vocab_size":2}"#, "minilm-like").unwrap();
    let enc = Encoder::random(cfg, 1).unwrap();
    let opts =
        TrainOptions::from_json(r#"{"lr":5e-5,"newHead":{"task":"token","labels":["O","B-Chemical","I-Chemical"],"layers":1}}"#).unwrap();
    let mut tr = Trainer::new(enc, opts).unwrap();
    let ids: Vec<u32> = (0..b * s).map(|i| 1000 + (i as u32 * 7919) % 20000).collect();
    let mask = vec![1u8; b * s];
    let labels: Vec<i32> = (0..b * s).map(|i| (i % 3) as i32).collect();
    let batch = Batch { ids: &ids, type_ids: &[], mask: &mask, batch: b, seq: s };
    tr.train_step(&batch, &labels).unwrap();
    let n = 3;
    let t0 = Instant::now();
    for _ in 0..n {
        tr.train_step(&batch, &labels).unwrap();
    }
    let step = t0.elapsed().as_secs_f64() / n as f64;
    let t1 = Instant::now();
    for _ in 0..n {
        let _ = tr.enc.forward_train(&batch, DropCfg::OFF).unwrap();
    }
    let fwd = t1.elapsed().as_secs_f64() / n as f64;
    println!(
        "batch {b}x{s} threads {t}: step {:.0} ms ({:.0} tokens/s), forward-with-cache {:.0} ms, backward+update ~{:.0} ms",
        step * 1e3,
        (b * s) as f64 / step,
        fwd * 1e3,
        (step - fwd) * 1e3
    );
}
