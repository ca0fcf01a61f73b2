//! Attention throughput probe (bert-base shape, one thread):
//! `cargo run --release -p biomeg-core --example attention_speed [-- BATCH SEQ]`.
use biomeg_core::kernels::attention::{fused_attention, AttnShape};

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().unwrap()).collect();
    biomeg_core::kernels::set_threads(1);
    let s = AttnShape { batch: a.first().copied().unwrap_or(8), seq: a.get(1).copied().unwrap_or(128), heads: 12, head_dim: 64 };
    let n = s.batch * s.seq * 3 * 768;
    let qkv: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    let mask = vec![true; s.batch * s.seq];
    let mut out = vec![0f32; s.batch * s.seq * 768];
    let mut best = f64::MAX;
    for _ in 0..50 {
        let t = std::time::Instant::now();
        fused_attention(&qkv, &mask, s, &mut out);
        best = best.min(t.elapsed().as_secs_f64());
    }
    let flops = 4.0 * (s.batch * 12 * s.seq * s.seq * 64) as f64;
    println!("attention {s:?}: {:.2} ms per layer (best of 50), {:.1} GFLOP/s in its two products", best * 1e3, flops / best / 1e9);
}
