//! Where a bert-base forward (8 x 128) spends its time: `cargo run --release --example forward_profile [preset] [threads]`.
use biomeg_core::kernels::{
    attention::{fused_attention, AttnShape},
    ops, set_threads,
};
use biomeg_core::{Batch, Encoder, ModelConfig};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args.first().map(String::as_str).unwrap_or("bert-base");
    set_threads(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2));
    let cfg = ModelConfig::preset(preset).unwrap();
    let enc = Encoder::random(cfg.clone(), 1).unwrap();
    let (b, s) = (8, 128);
    let ids: Vec<u32> = (0..b * s).map(|i| 1000 + (i as u32 * 7919) % 20000).collect();
    let mask = vec![1u8; b * s];
    let batch = Batch { ids: &ids, type_ids: &[], mask: &mask, batch: b, seq: s };
    enc.forward(&batch).unwrap();
    let t = Instant::now();
    let x = enc.forward(&batch).unwrap();
    let total = t.elapsed().as_secs_f64();
    let (tk, h) = (b * s, cfg.hidden);
    let l = &enc.layers[0];
    let mut qkv = vec![0f32; tk * 3 * h];
    let mut ctx = vec![0f32; tk * h];
    let mut tmp = vec![0f32; tk * h];
    let mut inter = vec![0f32; tk * cfg.intermediate];
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64() * cfg.layers as f64
    };
    let g_qkv = time(&mut || l.qkv.forward(&x, tk, &mut qkv));
    let key_mask = vec![true; tk];
    let shape = AttnShape { batch: b, seq: s, heads: cfg.heads, head_dim: cfg.head_dim() };
    let att = time(&mut || fused_attention(&qkv, &key_mask, shape, &mut ctx));
    let g_out = time(&mut || l.attn_out.forward(&ctx, tk, &mut tmp));
    let g_in = time(&mut || l.inter.forward(&x, tk, &mut inter));
    let gel = time(&mut || ops::gelu(&mut inter));
    let g_ff = time(&mut || l.out.forward(&inter, tk, &mut tmp));
    let mut y = x.clone();
    let ln = 2.0 * time(&mut || ops::add_layer_norm(&mut y, &tmp, &l.ln_attn.g, &l.ln_attn.b, 1e-12));
    println!("{preset} total {:.0} ms | gemm qkv {:.0} out {:.0} ffn-in {:.0} ffn-out {:.0} | attention {:.0} | gelu {:.0} | add+ln {:.0} | rest {:.0}",
        total * 1e3, g_qkv * 1e3, g_out * 1e3, g_in * 1e3, g_ff * 1e3, att * 1e3, gel * 1e3, ln * 1e3,
        (total - g_qkv - g_out - g_in - g_ff - att - gel - ln) * 1e3);
}
