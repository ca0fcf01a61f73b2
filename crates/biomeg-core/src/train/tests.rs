//! Gradient checks: each analytic f32 backward against central finite differences of a float64
//! reference forward (small shapes), then the whole model's loss end to end.

use super::attention::{attention_backward, attention_forward};
use super::backprop;
use super::ops::*;
use super::optim::lr_factor;
use super::*;
use crate::config::{Arch, HeadConfig, ModelConfig, Sharing};
use crate::forward::DropCfg;
use crate::kernels::attention::AttnShape;
use crate::kernels::ops::reference;
use crate::model::{Act, Head, HeadKind, Linear};
use crate::params::{params, params_mut};
use crate::rng::Rng;
use std::collections::HashMap;

fn randv(n: usize, scale: f32, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.normal() * scale).collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Largest |analytic - fd| / (atol + |fd|) over the checked indices; asserts it is <= 1.
fn check(name: &str, analytic: &[f32], x0: &[f32], f: impl Fn(&[f64]) -> f64, atol: f64, rtol: f64) -> f64 {
    let x0 = f64s(x0);
    let h = 1e-6;
    let mut worst = 0f64;
    let mut worst_abs = 0f64;
    for i in 0..x0.len() {
        let (mut xp, mut xm) = (x0.clone(), x0.clone());
        xp[i] += h;
        xm[i] -= h;
        let fd = (f(&xp) - f(&xm)) / (2.0 * h);
        let err = (analytic[i] as f64 - fd).abs();
        worst_abs = worst_abs.max(err);
        let r = err / (atol + rtol * fd.abs());
        assert!(r <= 1.0, "{name}[{i}]: analytic {} vs finite difference {fd} (err {err:.3e})", analytic[i]);
        worst = worst.max(err / (1e-3 + fd.abs()));
    }
    eprintln!("gradcheck {name}: {} entries, max abs err {worst_abs:.2e}, max rel err {worst:.2e}", x0.len());
    worst_abs
}

fn ref_linear(x: &[f64], rows: usize, w: &[f64], b: &[f64], inp: usize, out: usize) -> Vec<f64> {
    let mut y = vec![0f64; rows * out];
    for r in 0..rows {
        for o in 0..out {
            y[r * out + o] = b[o] + (0..inp).map(|i| x[r * inp + i] * w[o * inp + i]).sum::<f64>();
        }
    }
    y
}

fn ref_ln(x: &[f64], g: &[f64], b: &[f64], eps: f64) -> Vec<f64> {
    x.chunks(g.len()).flat_map(|r| reference::layer_norm(r, g, b, eps)).collect()
}

fn dot(a: &[f64], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * *y as f64).sum()
}

#[test]
fn linear_backward_matches_finite_differences() {
    let mut rng = Rng::new(1);
    let (rows, inp, out) = (5, 7, 3);
    let l = Linear { w: randv(out * inp, 0.5, &mut rng).into(), b: randv(out, 0.5, &mut rng), inp, out };
    let x = randv(rows * inp, 1.0, &mut rng);
    let r = randv(rows * out, 1.0, &mut rng);
    let (mut gw, mut gb) = (vec![0f32; out * inp], vec![0f32; out]);
    let dx = linear_backward(&l, &mut gw, &mut gb, &x, &r, rows, true).unwrap();
    let (w64, b64, x64) = (f64s(&l.w), f64s(&l.b), f64s(&x));
    check("linear.dx", &dx, &x, |xv| dot(&ref_linear(xv, rows, &w64, &b64, inp, out), &r), 1e-5, 1e-4);
    check("linear.dW", &gw, &l.w, |wv| dot(&ref_linear(&x64, rows, wv, &b64, inp, out), &r), 1e-5, 1e-4);
    check("linear.db", &gb, &l.b, |bv| dot(&ref_linear(&x64, rows, &w64, bv, inp, out), &r), 1e-5, 1e-4);
}

#[test]
fn layer_norm_backward_matches_finite_differences() {
    let mut rng = Rng::new(2);
    let (rows, w) = (4, 9);
    let x = randv(rows * w, 1.5, &mut rng);
    let g: Vec<f32> = randv(w, 0.3, &mut rng).iter().map(|v| v + 1.0).collect();
    let b = randv(w, 0.2, &mut rng);
    let r = randv(rows * w, 1.0, &mut rng);
    let (_, c) = layer_norm_forward(&x, &g, &b, 1e-12);
    let (mut gg, mut gb) = (vec![0f32; w], vec![0f32; w]);
    let dx = layer_norm_backward(&c, &g, &mut gg, &mut gb, &r);
    let (x64, g64, b64) = (f64s(&x), f64s(&g), f64s(&b));
    check("layernorm.dx", &dx, &x, |xv| dot(&ref_ln(xv, &g64, &b64, 1e-12), &r), 1e-5, 1e-4);
    check("layernorm.dgamma", &gg, &g, |gv| dot(&ref_ln(&x64, gv, &b64, 1e-12), &r), 1e-5, 1e-4);
    check("layernorm.dbeta", &gb, &b, |bv| dot(&ref_ln(&x64, &g64, bv, 1e-12), &r), 1e-5, 1e-4);
}

#[test]
fn activations_backward_match_finite_differences() {
    let mut rng = Rng::new(3);
    let x = randv(64, 2.0, &mut rng);
    let r = randv(64, 1.0, &mut rng);
    for (act, name) in [(Act::Gelu, "gelu"), (Act::GeluTanh, "gelu_new"), (Act::Tanh, "tanh"), (Act::Relu, "relu")] {
        let y = act_forward(act, &x);
        let mut d = r.clone();
        act_backward(act, &x, &y, &mut d);
        let f = |xv: &[f64]| -> f64 {
            xv.iter()
                .zip(&r)
                .map(|(v, rr)| {
                    let y = match act {
                        Act::Gelu => reference::gelu(*v),
                        Act::GeluTanh => reference::gelu_tanh(*v),
                        Act::Tanh => v.tanh(),
                        Act::Relu => v.max(0.0),
                    };
                    y * *rr as f64
                })
                .sum()
        };
        check(name, &d, &x, f, 1e-5, 1e-4);
    }
}

#[test]
fn dropout_is_seeded_scaled_and_its_own_backward() {
    let x: Vec<f32> = (0..20000).map(|i| 1.0 + (i % 7) as f32).collect();
    let mut a = x.clone();
    dropout(&mut a, 0.3, 99);
    let mut b = x.clone();
    dropout(&mut b, 0.3, 99);
    assert_eq!(a, b, "same seed, same mask");
    let mut c = x.clone();
    dropout(&mut c, 0.3, 100);
    assert_ne!(a, c, "another seed, another mask");
    let kept = a.iter().filter(|&&v| v != 0.0).count() as f64 / x.len() as f64;
    assert!((kept - 0.7).abs() < 0.02, "kept fraction {kept}");
    assert!(a.iter().zip(&x).all(|(y, x)| *y == 0.0 || (y - x / 0.7).abs() < 1e-5));
    let mut z = x.clone();
    dropout(&mut z, 0.0, 5);
    assert_eq!(z, x, "p = 0 is the identity");
    // Linear map: its gradient is the same mask applied to dy.
    let r: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
    let xs: Vec<f32> = (0..50).map(|i| (i as f32 * 0.11).cos()).collect();
    let mut d = r.clone();
    dropout(&mut d, 0.4, 7);
    let f = |xv: &[f64]| -> f64 {
        let mut y: Vec<f32> = xv.iter().map(|&v| v as f32).collect();
        let ones = vec![1f32; y.len()];
        let mut m = ones.clone();
        dropout(&mut m, 0.4, 7);
        y.iter_mut().zip(&m).for_each(|(v, mm)| *v = *mm);
        xv.iter().zip(&y).zip(&r).map(|((x, m), rr)| x * *m as f64 * *rr as f64).sum()
    };
    check("dropout", &d, &xs, f, 1e-5, 1e-4);
}

/// f64 multi-head attention with key mask and the same dropout mask as the kernel.
fn ref_attention(qkv: &[f64], mask: &[bool], s: AttnShape, p: f32, seed: u64) -> Vec<f64> {
    let (seq, dh) = (s.seq, s.head_dim);
    let h = s.heads * dh;
    let th = drop_threshold(p);
    let mut out = vec![0f64; s.batch * seq * h];
    for b in 0..s.batch {
        for hd in 0..s.heads {
            let bh = b * s.heads + hd;
            for i in 0..seq {
                let q = &qkv[(b * seq + i) * 3 * h + hd * dh..][..dh];
                let sc: Vec<f64> = (0..seq)
                    .map(|j| {
                        let k = &qkv[(b * seq + j) * 3 * h + h + hd * dh..][..dh];
                        q.iter().zip(k).map(|(a, c)| a * c).sum::<f64>() / (dh as f64).sqrt()
                    })
                    .collect();
                let m = (0..seq).filter(|&j| mask[b * seq + j]).map(|j| sc[j]).fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = (0..seq).filter(|&j| mask[b * seq + j]).map(|j| (sc[j] - m).exp()).sum();
                for j in 0..seq {
                    if !mask[b * seq + j] {
                        continue;
                    }
                    let mut pj = (sc[j] - m).exp() / z;
                    if p > 0.0 {
                        pj = if keep(seed, ((bh * seq + i) * seq + j) as u64, th) { pj / (1.0 - p as f64) } else { 0.0 };
                    }
                    for d in 0..dh {
                        out[(b * seq + i) * h + hd * dh + d] += pj * qkv[(b * seq + j) * 3 * h + 2 * h + hd * dh + d];
                    }
                }
            }
        }
    }
    out
}

#[test]
fn fused_attention_backward_matches_finite_differences() {
    let mut rng = Rng::new(4);
    let s = AttnShape { batch: 2, seq: 5, heads: 2, head_dim: 3 };
    let h = s.heads * s.head_dim;
    let qkv = randv(s.batch * s.seq * 3 * h, 1.0, &mut rng);
    let mask: Vec<bool> = (0..s.batch * s.seq).map(|i| i < s.seq || i % s.seq < 3).collect();
    let r = randv(s.batch * s.seq * h, 1.0, &mut rng);
    for p in [0.0f32, 0.3] {
        let (ctx, lse) = attention_forward(&qkv, &mask, s, p, 11);
        let want = ref_attention(&f64s(&qkv), &mask, s, p, 11);
        for (a, b) in ctx.iter().zip(&want) {
            assert!((*a as f64 - b).abs() < 1e-5, "forward {a} vs {b}");
        }
        let dqkv = attention_backward(&qkv, &mask, s, p, 11, &ctx, &lse, &r);
        check(&format!("attention(p={p}).dqkv"), &dqkv, &qkv, |x| dot(&ref_attention(x, &mask, s, p, 11), &r), 1e-5, 1e-4);
    }
}

#[test]
fn cross_entropy_with_ignore_index_matches_finite_differences() {
    let mut rng = Rng::new(5);
    let (rows, c) = (6, 4);
    let logits = randv(rows * c, 2.0, &mut rng);
    let targets = [1, IGNORE_INDEX, 3, 0, IGNORE_INDEX, 2];
    let (loss, counted, g) = cross_entropy(&logits, c, &targets, 1.0);
    assert_eq!(counted, 4);
    let f = |x: &[f64]| -> f64 {
        let mut tot = 0.0;
        for (r, &t) in targets.iter().enumerate() {
            if t < 0 {
                continue;
            }
            let row = &x[r * c..(r + 1) * c];
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            tot += lse - row[t as usize];
        }
        tot / 4.0
    };
    assert!((loss as f64 - f(&f64s(&logits))).abs() < 1e-6);
    check("cross_entropy", &g, &logits, f, 1e-6, 1e-4);
    let (l0, n0, g0) = cross_entropy(&logits, c, &[IGNORE_INDEX; 6], 1.0);
    assert!(l0 == 0.0 && n0 == 0 && g0.iter().all(|&v| v == 0.0), "all ignored: zero loss and gradient");
}

// ---- whole model ----

/// "albert": one shared layer run 3 times; "albert-groups": 3 applications over 2 groups of 2.
fn tiny_cfg(model_type: &str, emb: usize) -> ModelConfig {
    let mut cfg = ModelConfig::preset("tiny").unwrap();
    cfg.model_type = model_type.into();
    if let Some(sharing) = match model_type {
        "albert" => Some(Sharing { groups: 1, inner: 1 }),
        "albert-groups" => Some(Sharing { groups: 2, inner: 2 }),
        _ => None,
    } {
        let mut cfg = tiny_cfg("bert", emb);
        (cfg.model_type, cfg.sharing, cfg.layers, cfg.act) = ("albert".into(), Some(sharing), 3, Act::GeluTanh);
        return cfg;
    }
    cfg.arch = if model_type == "megatron-bert" { Arch::PreLn } else { Arch::PostLn };
    cfg.vocab_size = 20;
    cfg.hidden = 8;
    cfg.embedding_size = emb;
    cfg.heads = 2;
    cfg.layers = 2;
    cfg.intermediate = 12;
    cfg.max_positions = 8;
    cfg.eps = 1e-5;
    cfg
}

fn rand_linear(inp: usize, out: usize, rng: &mut Rng) -> Linear {
    Linear { w: randv(inp * out, 0.4, rng).into(), b: randv(out, 0.1, rng), inp, out }
}

/// A tiny random model with the given head; LayerNorm gains and biases randomized too.
fn tiny_model(model_type: &str, emb: usize, task: HeadTask, kind: &str, seed: u64) -> Encoder {
    let mut enc = Encoder::random(tiny_cfg(model_type, emb), seed).unwrap();
    let mut rng = Rng::new(seed + 7);
    for (info, t) in params_mut(&mut enc) {
        let ln = info.name.contains("LayerNorm")
            || info.name.contains("layer_norm")
            || info.name.contains(".ln.")
            || info.name.ends_with(".ln.weight")
            || info.name.starts_with("encoder.ln");
        for v in t.iter_mut() {
            *v = if ln && info.name.ends_with("weight") {
                1.0 + rng.normal() * 0.2
            } else {
                rng.normal() * if info.name.contains("embeddings") { 0.5 } else { 0.3 }
            };
        }
    }
    let h = enc.cfg.hidden;
    if task == HeadTask::Mlm {
        // Transform to the embedding size, LayerNorm gains away from 1, a non-zero bias.
        let c = &enc.cfg;
        let hc = HeadConfig::mlm(&c.model_type, c.embedding_size, c.vocab_size, c.act);
        let mut head = Head::initialised(&hc, h, 0.4, seed);
        if let HeadKind::Mlm { ln, bias, .. } = &mut head.kind {
            ln.g.iter_mut().for_each(|g| *g = 1.0 + rng.normal() * 0.2);
            ln.b.iter_mut().chain(bias.iter_mut()).for_each(|b| *b = rng.normal() * 0.1);
        }
        enc.head = Some(head);
        enc.cfg.head = Some(hc);
        return enc;
    }
    let n = if task == HeadTask::Qa { 2 } else { 3 };
    let hk = match kind {
        "single" => HeadKind::Single(rand_linear(h, n, &mut rng)),
        "pooled" => HeadKind::Pooled { pooler: rand_linear(h, h, &mut rng), classifier: rand_linear(h, n, &mut rng) },
        "relu" => HeadKind::Double { dense: rand_linear(h, 6, &mut rng), out: rand_linear(6, n, &mut rng), act: Act::Relu },
        _ => HeadKind::Double { dense: rand_linear(h, 6, &mut rng), out: rand_linear(6, n, &mut rng), act: Act::Gelu },
    };
    let (layers, hidden, activation) = match &hk {
        HeadKind::Double { dense, act, .. } => (2, dense.out, Some(act.name().to_string())),
        _ => (1, 0, None),
    };
    let pooled = matches!(hk, HeadKind::Pooled { .. });
    enc.head = Some(Head { task, kind: hk, num_labels: n });
    enc.cfg.head = Some(HeadConfig { task, layers, hidden, num_labels: n, activation, pooled });
    enc
}

#[allow(clippy::too_many_arguments)]
/// The whole model's loss in f64, from tensors by their `params` names.
fn ref_model_loss(
    enc: &Encoder,
    p: &HashMap<String, Vec<f64>>,
    ids: &[u32],
    tys: &[u32],
    mask: &[u8],
    batch: usize,
    seq: usize,
    labels: &[i32],
) -> f64 {
    let cfg = &enc.cfg;
    let (t, e, h, eps) = (batch * seq, cfg.embedding_size, cfg.hidden, cfg.eps as f64);
    let g = |n: &str| p.get(n).unwrap_or_else(|| panic!("no tensor {n}"));
    let lin = |x: &[f64], rows: usize, n: &str, inp: usize, out: usize| {
        ref_linear(x, rows, g(&format!("{n}.weight")), g(&format!("{n}.bias")), inp, out)
    };
    let ln = |x: &[f64], n: &str| ref_ln(x, g(&format!("{n}.weight")), g(&format!("{n}.bias")), eps);
    let mut x = vec![0f64; t * e];
    for i in 0..t {
        for j in 0..e {
            x[i * e + j] = g("embeddings.word_embeddings.weight")[ids[i] as usize * e + j]
                + g("embeddings.position_embeddings.weight")[(i % seq) * e + j]
                + g("embeddings.token_type_embeddings.weight")[tys[i] as usize * e + j];
        }
    }
    if p.contains_key("embeddings.LayerNorm.weight") {
        x = ln(&x, "embeddings.LayerNorm");
    }
    for proj in ["embeddings_project", "encoder.embedding_hidden_mapping_in"] {
        if p.contains_key(&format!("{proj}.weight")) {
            x = lin(&x, t, proj, e, h);
        }
    }
    let act = |v: f64| if cfg.act == Act::GeluTanh { reference::gelu_tanh(v) } else { reference::gelu(v) };
    let km: Vec<bool> = mask.iter().map(|&m| m != 0).collect();
    let s = AttnShape { batch, seq, heads: cfg.heads, head_dim: cfg.head_dim() };
    let add = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x + y).collect::<Vec<f64>>();
    // ALBERT (Hugging Face's AlbertTransformer): layer i runs group floor(i / (layers / groups)),
    // which runs its `inner` layers in turn.
    let apps: Vec<(String, [&str; 6])> = match cfg.sharing {
        None => (0..cfg.layers)
            .map(|l| {
                let n = [
                    "attention.self.qkv",
                    "attention.output.dense",
                    "attention.output.LayerNorm",
                    "intermediate.dense",
                    "output.dense",
                    "output.LayerNorm",
                ];
                (format!("encoder.layer.{l}"), n)
            })
            .collect(),
        Some(sh) => (0..cfg.layers)
            .flat_map(|i| {
                let g = (i as f64 / (cfg.layers as f64 / sh.groups as f64)) as usize;
                (0..sh.inner).map(move |j| {
                    let n = ["attention.qkv", "attention.dense", "attention.LayerNorm", "ffn", "ffn_output", "full_layer_layer_norm"];
                    (format!("encoder.albert_layer_groups.{g}.albert_layers.{j}"), n)
                })
            })
            .collect(),
    };
    for (pf, [qkv_n, ao_n, lna_n, in_n, out_n, lnm_n]) in apps {
        let mlp = |x: &[f64]| -> Vec<f64> {
            let i: Vec<f64> = lin(x, t, &format!("{pf}.{in_n}"), h, cfg.intermediate).iter().map(|&v| act(v)).collect();
            lin(&i, t, &format!("{pf}.{out_n}"), cfg.intermediate, h)
        };
        let attn = |x: &[f64]| -> Vec<f64> {
            let qkv = lin(x, t, &format!("{pf}.{qkv_n}"), h, 3 * h);
            let ctx = ref_attention(&qkv, &km, s, 0.0, 0);
            lin(&ctx, t, &format!("{pf}.{ao_n}"), h, h)
        };
        if cfg.sharing.is_some() {
            x = ln(&add(&x, &attn(&x)), &format!("{pf}.{lna_n}"));
            x = ln(&add(&x, &mlp(&x)), &format!("{pf}.{lnm_n}"));
        } else if cfg.arch == Arch::PostLn {
            x = ln(&add(&x, &attn(&x)), &format!("{pf}.attention.output.LayerNorm"));
            x = ln(&add(&x, &mlp(&x)), &format!("{pf}.output.LayerNorm"));
        } else {
            x = add(&x, &attn(&ln(&x, &format!("{pf}.attention.ln"))));
            x = add(&x, &mlp(&ln(&x, &format!("{pf}.ln"))));
        }
    }
    if p.contains_key("encoder.ln.weight") {
        x = ln(&x, "encoder.ln");
    }
    let head = enc.head.as_ref().unwrap();
    let n = head.num_labels;
    let (rows, xin): (usize, Vec<f64>) = if head.task == HeadTask::Sequence {
        (batch, (0..batch).flat_map(|b| x[b * seq * h..b * seq * h + h].to_vec()).collect())
    } else {
        (t, x)
    };
    let logits = match &head.kind {
        HeadKind::Single(_) => lin(&xin, rows, if head.task == HeadTask::Qa { "qa_outputs" } else { "classifier" }, h, n),
        HeadKind::Pooled { .. } => {
            let pooler = if cfg.sharing.is_some() { "pooler" } else { "pooler.dense" };
            let pl: Vec<f64> = lin(&xin, rows, pooler, h, h).iter().map(|v| v.tanh()).collect();
            lin(&pl, rows, "classifier", h, n)
        }
        HeadKind::Double { dense, act, .. } => {
            let base = if head.task == HeadTask::Qa { "qa_outputs" } else { "classifier" };
            let d: Vec<f64> = lin(&xin, rows, &format!("{base}.dense"), h, dense.out)
                .iter()
                .map(|&v| match act {
                    Act::Relu => v.max(0.0),
                    Act::Gelu => reference::gelu(v),
                    Act::GeluTanh => reference::gelu_tanh(v),
                    Act::Tanh => v.tanh(),
                })
                .collect();
            lin(&d, rows, &format!("{base}.out_proj"), dense.out, n)
        }
        HeadKind::Mlm { transform, act, .. } => {
            // Every position's logits; the loss below counts only the labelled ones.
            let [dense, norm, bias] = crate::params::mlm_names(&cfg.model_type);
            let ed = transform.out;
            let a: Vec<f64> = lin(&xin, rows, dense, h, ed)
                .iter()
                .map(|&v| if *act == Act::GeluTanh { reference::gelu_tanh(v) } else { reference::gelu(v) })
                .collect();
            let z = ln(&a, norm);
            let (word, b) = (g("embeddings.word_embeddings.weight"), g(bias));
            (0..rows * n).map(|i| b[i % n] + (0..ed).map(|j| z[(i / n) * ed + j] * word[(i % n) * ed + j]).sum::<f64>()).collect()
        }
    };
    let ce = |lg: &[f64], c: usize, tg: &[i32]| -> f64 {
        let (mut tot, mut cnt) = (0.0, 0);
        for (r, &tt) in tg.iter().enumerate() {
            if tt < 0 || tt as usize >= c {
                continue;
            }
            let row = &lg[r * c..(r + 1) * c];
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            tot += m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln() - row[tt as usize];
            cnt += 1;
        }
        if cnt == 0 {
            0.0
        } else {
            tot / cnt as f64
        }
    };
    if head.task == HeadTask::Qa {
        (0..2)
            .map(|k| {
                ce(&(0..t).map(|r| logits[r * 2 + k]).collect::<Vec<_>>(), seq, &(0..batch).map(|b| labels[2 * b + k]).collect::<Vec<_>>())
                    * 0.5
            })
            .sum()
    } else {
        ce(&logits, n, labels)
    }
}

fn end_to_end(model_type: &str, emb: usize, task: HeadTask, kind: &str) {
    let enc = tiny_model(model_type, emb, task, kind, 17);
    let (batch, seq) = (2, 5);
    let ids: Vec<u32> = vec![1, 5, 9, 3, 2, 1, 7, 7, 0, 0];
    let tys: Vec<u32> = vec![0, 0, 1, 1, 1, 0, 0, 1, 0, 0];
    let mask: Vec<u8> = vec![1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
    let labels: Vec<i32> = match task {
        HeadTask::Token => vec![0, 2, IGNORE_INDEX, 1, 2, 1, 0, 2, IGNORE_INDEX, IGNORE_INDEX],
        HeadTask::Sequence => vec![2, 0],
        // Original ids at "masked" positions (one of them the [PAD] id 0, whose decoder row
        // still gets a gradient), -100 elsewhere and at padding.
        HeadTask::Mlm => vec![IGNORE_INDEX, 19, IGNORE_INDEX, 0, IGNORE_INDEX, 4, IGNORE_INDEX, 7, IGNORE_INDEX, IGNORE_INDEX],
        _ => vec![1, 3, 2, 2],
    };
    let opts = TrainOptions { hidden_dropout: 0.0, attn_dropout: 0.0, head_dropout: 0.0, ..Default::default() };
    let mut tr = Trainer::new(enc, opts).unwrap();
    let b = Batch { ids: &ids, type_ids: &tys, mask: &mask, batch, seq };
    let (loss, _) = tr.accumulate(&b, &labels).unwrap();
    let base: HashMap<String, Vec<f64>> = params(&tr.enc).into_iter().map(|(i, t)| (i.name, f64s(t))).collect();
    let ref_loss = ref_model_loss(&tr.enc, &base, &ids, &tys, &mask, batch, seq, &labels);
    assert!((loss as f64 - ref_loss).abs() < 1e-5, "loss {loss} vs f64 reference {ref_loss}");
    // eval path (the runtime's forward) gives the same loss
    assert!((tr.eval_loss(&b, &labels).unwrap() - loss).abs() < 1e-5);
    let mut worst = 0f64;
    let grads = params(tr.grads());
    let mut rng = Rng::new(3);
    for (info, g) in grads {
        // the largest-gradient entry and three random ones of every tensor
        let big = (0..g.len()).max_by(|&a, &b| g[a].abs().total_cmp(&g[b].abs())).unwrap();
        let picks = [
            big,
            (rng.next_u64() % g.len() as u64) as usize,
            (rng.next_u64() % g.len() as u64) as usize,
            (rng.next_u64() % g.len() as u64) as usize,
        ];
        for i in picks {
            let hstep = 1e-6;
            let mut p = base.clone();
            p.get_mut(&info.name).unwrap()[i] += hstep;
            let fp = ref_model_loss(&tr.enc, &p, &ids, &tys, &mask, batch, seq, &labels);
            p.get_mut(&info.name).unwrap()[i] -= 2.0 * hstep;
            let fm = ref_model_loss(&tr.enc, &p, &ids, &tys, &mask, batch, seq, &labels);
            let fd = (fp - fm) / (2.0 * hstep);
            let err = (g[i] as f64 - fd).abs();
            assert!(
                err <= 2e-5 + 1e-3 * fd.abs(),
                "{model_type}/{kind}: d loss / d {}[{i}]: analytic {} vs finite difference {fd}",
                info.name,
                g[i]
            );
            worst = worst.max(err);
        }
    }
    eprintln!("gradcheck end-to-end {model_type} {task:?} {kind}: loss {loss}, max abs err {worst:.2e}");
}

#[test]
fn whole_model_gradients_match_f64_finite_differences() {
    end_to_end("bert", 8, HeadTask::Token, "single");
    end_to_end("bert", 8, HeadTask::Token, "relu");
    end_to_end("megatron-bert", 8, HeadTask::Token, "single");
    end_to_end("megatron-bert", 8, HeadTask::Sequence, "pooled");
    end_to_end("bert", 8, HeadTask::Sequence, "pooled");
    end_to_end("electra", 4, HeadTask::Sequence, "gelu");
    end_to_end("electra", 4, HeadTask::Qa, "single");
    end_to_end("megatron-bert", 8, HeadTask::Qa, "relu");
    end_to_end("albert", 4, HeadTask::Token, "single");
    end_to_end("albert", 4, HeadTask::Sequence, "pooled");
    end_to_end("albert-groups", 4, HeadTask::Qa, "single");
}

#[test]
fn masked_lm_gradients_match_f64_finite_differences_with_the_tied_decoder() {
    end_to_end("bert", 8, HeadTask::Mlm, "mlm");
    end_to_end("megatron-bert", 8, HeadTask::Mlm, "mlm");
    // ELECTRA's generator: transform to embedding_size 4, then the projection's gradient too.
    end_to_end("electra", 4, HeadTask::Mlm, "mlm");
    end_to_end("albert", 4, HeadTask::Mlm, "mlm");
}

#[test]
fn gradients_with_dropout_match_f32_finite_differences_of_the_same_masks() {
    for (mt, kind) in [("bert", "gelu"), ("megatron-bert", "single"), ("albert", "single")] {
        for d in [
            DropCfg { hidden: 0.2, attn: 0.0, head: 0.0, seed: 77 },
            DropCfg { hidden: 0.0, attn: 0.2, head: 0.0, seed: 77 },
            DropCfg { hidden: 0.0, attn: 0.0, head: 0.3, seed: 77 },
            DropCfg { hidden: 0.2, attn: 0.2, head: 0.3, seed: 78 },
        ] {
            dropout_case(mt, kind, d);
        }
    }
}

fn dropout_case(mt: &str, kind: &str, d: DropCfg) {
    let enc = tiny_model(mt, 8, HeadTask::Token, kind, 5);
    let (batch, seq) = (2, 5);
    let ids: Vec<u32> = vec![1, 5, 9, 3, 2, 1, 7, 7, 0, 0];
    let tys = vec![0u32; 10];
    let mask: Vec<u8> = vec![1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
    let labels: Vec<i32> = vec![0, 2, 1, 1, 2, 1, 0, 2, IGNORE_INDEX, IGNORE_INDEX];
    let b = Batch { ids: &ids, type_ids: &tys, mask: &mask, batch, seq };
    let mut tr = Trainer::new(enc, TrainOptions::default()).unwrap();
    let loss_at = |tr: &Trainer| -> f64 {
        let (lg, _) = tr.enc.forward_train(&b, d).unwrap();
        tr.loss(&lg, &labels, batch, seq, 1.0).unwrap().0 as f64
    };
    let (lg, cache) = tr.enc.forward_train(&b, d).unwrap();
    let (_, _, dl) = tr.loss(&lg, &labels, batch, seq, 1.0).unwrap();
    let mut g = Encoder::zeros(tr.enc.cfg.clone()).unwrap();
    backprop::backward(&tr.enc, &mut g, cache, &dl, None);
    let gp: Vec<(String, Vec<f32>)> = params(&g).into_iter().map(|(i, t)| (i.name, t.clone())).collect();
    let mut worst = 0f64;
    for (k, (name, gv)) in gp.iter().enumerate() {
        let i = (0..gv.len()).max_by(|&a, &b| gv[a].abs().total_cmp(&gv[b].abs())).unwrap();
        let h = 1e-3f32;
        let orig = params(&tr.enc)[k].1[i];
        params_mut(&mut tr.enc)[k].1[i] = orig + h;
        let fp = loss_at(&tr);
        params_mut(&mut tr.enc)[k].1[i] = orig - h;
        let fm = loss_at(&tr);
        params_mut(&mut tr.enc)[k].1[i] = orig;
        let fd = (fp - fm) / (2.0 * h as f64);
        let err = (gv[i] as f64 - fd).abs();
        assert!(
            err <= 2e-3 + 2e-2 * fd.abs(),
            "with dropout {mt} {d:?}: d loss / d {name}[{i}]: analytic {} vs finite difference {fd}",
            gv[i]
        );
        worst = worst.max(err / (1e-3 + fd.abs()));
    }
    eprintln!("gradcheck with dropout (f32 central differences): max rel err {worst:.2e}");
}

#[test]
fn schedule_is_linear_warmup_then_linear_decay() {
    assert_eq!(lr_factor(0, 4, 10), 0.0);
    assert_eq!(lr_factor(2, 4, 10), 0.5);
    assert_eq!(lr_factor(4, 4, 10), 1.0);
    assert_eq!(lr_factor(7, 4, 10), 0.5);
    assert_eq!(lr_factor(10, 4, 10), 0.0);
    assert_eq!(lr_factor(12, 4, 10), 0.0);
    assert_eq!(lr_factor(100, 0, 0), 1.0);
}

fn token_batch() -> (Vec<u32>, Vec<u32>, Vec<u8>, Vec<i32>) {
    (vec![1, 5, 9, 3, 2, 1, 7, 7, 0, 0], vec![0; 10], vec![1, 1, 1, 1, 1, 1, 1, 1, 0, 0], vec![0, 2, 1, 1, 2, 1, 0, 2, -100, -100])
}

#[test]
fn accumulation_of_two_halves_equals_one_full_batch() {
    let (ids, tys, mask, labels) = token_batch();
    // eps 1e-3: the key bias has a gradient that is zero up to rounding; with a tiny eps, Adam
    // would turn that rounding (which depends on how rows are grouped into sums) into a full step.
    let opts = TrainOptions {
        hidden_dropout: 0.0,
        attn_dropout: 0.0,
        head_dropout: 0.0,
        max_grad_norm: 0.5,
        lr: 1e-2,
        eps: 1e-3,
        ..Default::default()
    };
    // one batch of 2 (equal counted labels per half, so mean of means = overall mean)
    let labels_eq: Vec<i32> = vec![0, 2, 1, -100, -100, 1, 0, 2, -100, -100];
    let mut full = Trainer::new(tiny_model("bert", 8, HeadTask::Token, "single", 9), opts.clone()).unwrap();
    full.train_step(&Batch { ids: &ids, type_ids: &tys, mask: &mask, batch: 2, seq: 5 }, &labels_eq).unwrap();
    let mut acc = Trainer::new(tiny_model("bert", 8, HeadTask::Token, "single", 9), TrainOptions { accum_steps: 2, ..opts }).unwrap();
    let r1 = acc.train_step(&Batch { ids: &ids[..5], type_ids: &tys[..5], mask: &mask[..5], batch: 1, seq: 5 }, &labels_eq[..5]).unwrap();
    assert!(!r1.updated);
    let r2 = acc.train_step(&Batch { ids: &ids[5..], type_ids: &tys[5..], mask: &mask[5..], batch: 1, seq: 5 }, &labels_eq[5..]).unwrap();
    assert!(r2.updated && acc.step == 1);
    for ((i, a), (_, b)) in params(&full.enc).into_iter().zip(params(&acc.enc)) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 2e-6, "{}: {x} vs {y}", i.name);
        }
    }
    let _ = labels;
}

#[test]
fn adamw_step_matches_hand_computation_and_skips_decay_on_bias_and_layernorm() {
    let (ids, tys, mask, labels) = token_batch();
    let opts = TrainOptions {
        hidden_dropout: 0.0,
        attn_dropout: 0.0,
        head_dropout: 0.0,
        max_grad_norm: 0.0,
        lr: 1e-3,
        weight_decay: 0.1,
        ..Default::default()
    };
    let mut tr = Trainer::new(tiny_model("bert", 8, HeadTask::Token, "single", 2), opts).unwrap();
    let before: Vec<Vec<f32>> = params(&tr.enc).into_iter().map(|(_, t)| t.clone()).collect();
    let b = Batch { ids: &ids, type_ids: &tys, mask: &mask, batch: 2, seq: 5 };
    tr.accumulate(&b, &labels).unwrap();
    let g: Vec<Vec<f32>> = params(tr.grads()).into_iter().map(|(_, t)| t.clone()).collect();
    tr.pending = 1;
    tr.apply_update().unwrap();
    for (k, (info, after)) in params(&tr.enc).into_iter().enumerate() {
        for i in 0..after.len() {
            // step 1: m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2 -> p -= lr * g / (|g| + eps)
            let (p0, gi) = (before[k][i] as f64, g[k][i] as f64);
            let decayed = if info.decay { p0 * (1.0 - 1e-3 * 0.1) } else { p0 };
            let want = decayed - 1e-3 * gi / (gi.abs() + 1e-8);
            assert!((after[i] as f64 - want).abs() < 1e-6, "{}[{i}]: {} vs {want}", info.name, after[i]);
        }
        let nodecay = info.name.ends_with(".bias") || info.name.contains("LayerNorm");
        assert_eq!(info.decay, !nodecay, "{}", info.name);
    }
}

#[test]
fn nonfinite_loss_stops_without_touching_weights() {
    let (ids, tys, mask, labels) = token_batch();
    let mut enc = tiny_model("bert", 8, HeadTask::Token, "single", 4);
    if let Some(Head { kind: HeadKind::Single(l), .. }) = &mut enc.head {
        l.b[1] = f32::INFINITY;
    }
    let mut tr = Trainer::new(enc, TrainOptions::default()).unwrap();
    let before = tr.save_state();
    let e = tr.train_step(&Batch { ids: &ids, type_ids: &tys, mask: &mask, batch: 2, seq: 5 }, &labels).unwrap_err();
    assert_eq!(e.code(), "BIOMEG_NONFINITE_LOSS");
    assert!(e.to_string().contains("loss is"), "{e}");
    assert_eq!(tr.save_state(), before, "weights, moments and counters unchanged");
}

#[test]
fn state_roundtrip_resumes_identically_and_export_loads_in_the_runtime() {
    let (ids, tys, mask, labels) = token_batch();
    let b = Batch { ids: &ids, type_ids: &tys, mask: &mask, batch: 2, seq: 5 };
    let opts = TrainOptions { lr: 1e-2, warmup_steps: 1, total_steps: 10, ..Default::default() };
    let mk = || Trainer::new(tiny_model("megatron-bert", 8, HeadTask::Token, "relu", 8), opts.clone()).unwrap();
    let mut a = mk();
    for _ in 0..2 {
        a.train_step(&b, &labels).unwrap();
    }
    let saved = a.save_state();
    let la: Vec<f32> = (0..3).map(|_| a.train_step(&b, &labels).unwrap().loss).collect();
    let mut r = mk();
    r.load_state(&saved, "state.safetensors").unwrap();
    assert_eq!(r.step, 2);
    let lr: Vec<f32> = (0..3).map(|_| r.train_step(&b, &labels).unwrap().loss).collect();
    assert_eq!(la, lr, "resumed run gives the same losses (dropout included)");
    // a bad file is rejected and leaves the trainer alone
    let e = r.load_state(&saved[..saved.len() - 10], "cut.safetensors").unwrap_err();
    assert!(e.to_string().contains("cut.safetensors"), "{e}");
    // exported weights load in the inference runtime and give the same logits
    let w = a.export_weights();
    let enc2 = crate::load_from_bytes(&a.config_json(), "config.json", &w, "export.safetensors").unwrap();
    let h2 = enc2.forward(&b).unwrap();
    let l2 = enc2.head_logits(&h2, 2, 5).unwrap();
    assert_eq!(l2, a.eval_logits(&b).unwrap());
}

#[test]
fn options_parse_and_reject_unknown_keys() {
    let o = TrainOptions::from_json(r#"{"lr": 3e-5, "accumSteps": 4, "warmupSteps": 10, "seed": 7}"#).unwrap();
    assert_eq!((o.lr, o.accum_steps, o.warmup_steps, o.seed), (3e-5, 4, 10, 7));
    assert!(TrainOptions::from_json(r#"{"learningRate": 1}"#).unwrap_err().to_string().contains("unknown training option 'learningRate'"));
    assert!(TrainOptions::from_json(r#"{"hiddenDropout": 1.5}"#).is_err());
    assert_eq!(TrainOptions::from_json("").unwrap(), TrainOptions::default());
}

#[test]
fn training_forward_without_dropout_equals_inference() {
    // One forward serves both paths; with the cache on, LayerNorm runs through the caching
    // kernel, so the two agree to rounding, not bit for bit.
    let (ids, tys, mask, _) = token_batch();
    let b = Batch { ids: &ids, type_ids: &tys, mask: &mask, batch: 2, seq: 5 };
    for (mt, emb) in [("bert", 8), ("megatron-bert", 8), ("electra", 4)] {
        for (task, kind) in
            [(HeadTask::Token, "single"), (HeadTask::Sequence, "pooled"), (HeadTask::Qa, "gelu"), (HeadTask::Sequence, "relu")]
        {
            let enc = tiny_model(mt, emb, task, kind, 11);
            let hidden = enc.forward(&b).unwrap();
            let want = enc.head_logits(&hidden, 2, 5).unwrap();
            let (got, _) = enc.forward_train(&b, DropCfg::OFF).unwrap();
            assert_eq!(got.len(), want.len());
            for (x, y) in got.iter().zip(&want) {
                assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{mt} {kind}: {x} vs {y}");
            }
        }
    }
}

#[test]
fn schema_drives_load_random_zeros_and_export() {
    let enc = tiny_model("bert", 8, HeadTask::Sequence, "pooled", 3);
    let names: Vec<String> = params(&enc).into_iter().map(|(i, _)| i.name).collect();
    assert!(names.contains(&"pooler.dense.weight".to_string()) && names.contains(&"classifier.bias".to_string()));
    // zeros: the same schema, every tensor zero
    let z = Encoder::zeros(enc.cfg.clone()).unwrap();
    for ((a, ta), (b, tb)) in params(&enc).into_iter().zip(params(&z)) {
        assert_eq!((a.name, ta.len()), (b.name, tb.len()));
        assert!(tb.iter().all(|&v| v == 0.0));
    }
    // export under HF names and load back: every tensor equal, head kind kept
    let tr = Trainer::new(enc, TrainOptions::default()).unwrap();
    let back = crate::load_from_bytes(&tr.config_json(), "config.json", &tr.export_weights(), "export.safetensors").unwrap();
    assert!(matches!(back.head.as_ref().unwrap().kind, HeadKind::Pooled { .. }));
    for ((a, ta), (b, tb)) in params(&tr.enc).into_iter().zip(params(&back)) {
        assert_eq!(a.name, b.name);
        assert_eq!(ta, tb, "{}", a.name);
    }
    assert_eq!(back.num_params(), tr.enc.num_params());
    // a tensor of the wrong shape is named
    let mut cfg: serde_json::Value = serde_json::from_str(&tr.config_json()).unwrap();
    cfg["intermediate_size"] = 10.into();
    let e =
        crate::load_from_bytes(&cfg.to_string(), "config.json", &tr.export_weights(), "export.safetensors").err().expect("shape mismatch");
    assert!(e.to_string().contains("encoder.layer.0.intermediate.dense.weight"), "{e}");
}

#[test]
fn dropout_masks_keep_the_rate_and_are_independent_across_sites_and_neighbours() {
    // The masks come from a stateless hash, not a generator: check the statistics a generator
    // would give (rate, no correlation between the streams of two sites of one batch, none
    // between neighbouring elements, none between consecutive batches).
    let n = 1u64 << 20;
    for p in [0.1f32, 0.5] {
        let th = drop_threshold(p);
        let d = DropCfg { hidden: p, attn: p, head: p, seed: mix64(42 ^ mix64(7)) };
        let next = DropCfg { seed: mix64(42 ^ mix64(8)), ..d };
        let streams = [
            d.site(crate::forward::site_layer(0, 1)),
            d.site(crate::forward::site_layer(1, 1)),
            next.site(crate::forward::site_layer(0, 1)),
        ];
        let masks: Vec<Vec<bool>> = streams.iter().map(|&s| (0..n).map(|i| keep(s, i, th)).collect()).collect();
        let q = 1.0 - p as f64;
        // binomial sd of a rate over n draws is sqrt(q(1-q)/n) < 5e-4; allow 5 sd
        let tol = 5.0 * (q * (1.0 - q) / n as f64).sqrt();
        for m in &masks {
            let rate = m.iter().filter(|&&k| k).count() as f64 / n as f64;
            assert!((rate - q).abs() < tol, "p {p}: keep rate {rate}");
            let both = m.windows(2).filter(|w| w[0] && w[1]).count() as f64 / (n - 1) as f64;
            assert!((both - q * q).abs() < tol, "p {p}: neighbours kept together {both} vs {}", q * q);
        }
        for (a, b) in [(0, 1), (0, 2)] {
            let both = (0..n as usize).filter(|&i| masks[a][i] && masks[b][i]).count() as f64 / n as f64;
            assert!((both - q * q).abs() < tol, "p {p}: streams {a},{b} kept together {both} vs {}", q * q);
        }
    }
}

#[test]
fn masked_lm_checkpoint_round_trips_and_an_untied_decoder_is_refused() {
    use crate::weights::write_safetensors;
    let enc = tiny_model("bert", 8, HeadTask::Mlm, "mlm", 5);
    let tr = Trainer::new(enc, TrainOptions::default()).unwrap();
    let (cfg, w) = (tr.config_json(), tr.export_weights());
    let back = crate::load_from_bytes(&cfg, "config.json", &w, "model.safetensors").unwrap();
    assert_eq!(back.head.as_ref().unwrap().task, HeadTask::Mlm);
    let v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(v["architectures"][0], "BertForMaskedLM");
    // The same file plus a decoder weight: equal to the embeddings loads, different is refused.
    let st = crate::weights::SafeTensors::open(w.as_slice(), "w").unwrap();
    let mut names: Vec<String> = st.tensors.keys().cloned().collect();
    names.sort();
    let owned: Vec<(String, Vec<usize>, Vec<f32>)> =
        names.iter().map(|n| (n.clone(), st.tensors[n].shape.clone(), st.read(n, &st.tensors[n].shape.clone()).unwrap())).collect();
    let word = owned.iter().find(|(n, ..)| n == "bert.embeddings.word_embeddings.weight").unwrap().clone();
    for (shift, ok) in [(0.0, true), (0.5, false)] {
        let mut all = owned.clone();
        all.push(("cls.predictions.decoder.weight".into(), word.1.clone(), word.2.iter().map(|v| v + shift).collect()));
        let refs: Vec<(&str, &[usize], &[f32])> = all.iter().map(|(n, s, t)| (n.as_str(), s.as_slice(), t.as_slice())).collect();
        let bytes = write_safetensors(&refs);
        let r = crate::load_from_bytes(&cfg, "config.json", &bytes, "model.safetensors");
        match (ok, r) {
            (true, r) => assert!(r.is_ok()),
            (false, Ok(_)) => panic!("an untied decoder must be refused"),
            (false, Err(e)) => assert!(e.to_string().contains("cls.predictions.decoder.weight differs from the word embeddings"), "{e}"),
        }
    }
}
