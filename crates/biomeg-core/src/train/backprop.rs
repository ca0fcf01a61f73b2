//! The backward pass of `crate::forward` for BERT (post-LN), Megatron-BERT (pre-LN), ELECTRA
//! (embedding projection) and ALBERT (shared layers) encoders with their task heads: reads the forward's `Cache`,
//! regenerates dropout masks from their seeds, and adds every parameter gradient.

use super::attention::attention_backward;
use super::ops::*;
use crate::config::{Arch, HeadTask};
use crate::forward::{attn_shape, mlp_dropout, site_layer, Cache, DropCfg, HeadCache, SITE_EMB, SITE_HEAD0, SITE_HEAD1};
use crate::kernels::dispatch::matmul;
use crate::kernels::gemm::MatRef;
use crate::kernels::ops::add_assign;
use crate::model::{Act, Encoder, Head, HeadKind};

/// Backward from d(logits); adds every parameter gradient into `g` (same shape as `enc`). The
/// word-embedding row of `pad_id` gets no gradient (nn.Embedding's padding_idx, as in HF BERT).
pub fn backward(enc: &Encoder, g: &mut Encoder, mut c: Cache, dlogits: &[f32], pad_id: Option<u32>) {
    let cfg = &enc.cfg;
    let t = c.batch * c.seq;
    let d = c.drop;
    let mut dx = head_backward(enc, g, &c.head, dlogits, c.batch, c.seq, d);
    if let (Some(ln), Some(gln), Some(lc)) = (&enc.final_ln, &mut g.final_ln, &c.final_ln) {
        dx = layer_norm_backward(lc, &ln.g, &mut gln.g, &mut gln.b, &dx);
    }
    let shape = attn_shape(enc, c.batch, c.seq);
    // Shared (ALBERT) layers: every application adds into the one gradient of its layer.
    for (li, k) in cfg.schedule().into_iter().enumerate().rev() {
        let lc = c.layers.pop().expect("one cache per layer application");
        let (l, gl) = (&enc.layers[k], &mut g.layers[k]);
        let (ln_a, ln_m) = (&l.ln_attn, &l.ln_mlp);
        match cfg.arch {
            Arch::PostLn => {
                let dz = layer_norm_backward(lc.ln3.as_ref().unwrap(), &ln_m.g, &mut gl.ln_mlp.g, &mut gl.ln_mlp.b, &dx);
                let mut dout = dz.clone();
                dropout(&mut dout, mlp_dropout(cfg, d), d.site(site_layer(li, 2)));
                let mut dact = linear_backward(&l.out, &mut gl.out.w, &mut gl.out.b, &lc.inter_act, &dout, t, true).unwrap();
                act_backward(cfg.act, &lc.inter_pre, &lc.inter_act, &mut dact);
                let dh2 = linear_backward(&l.inter, &mut gl.inter.w, &mut gl.inter.b, &lc.h2, &dact, t, true).unwrap();
                let mut dy1 = dz;
                add_assign(&mut dy1, &dh2);
                let dz1 = layer_norm_backward(&lc.ln2, &ln_a.g, &mut gl.ln_attn.g, &mut gl.ln_attn.b, &dy1);
                let mut da = dz1.clone();
                dropout(&mut da, d.hidden, d.site(site_layer(li, 1)));
                let dctx = linear_backward(&l.attn_out, &mut gl.attn_out.w, &mut gl.attn_out.b, &lc.ctx, &da, t, true).unwrap();
                let dqkv = attention_backward(&lc.qkv, &c.key_mask, shape, d.attn, d.site(site_layer(li, 0)), &lc.ctx, &lc.lse, &dctx);
                let dxq = linear_backward(&l.qkv, &mut gl.qkv.w, &mut gl.qkv.b, &lc.x_in, &dqkv, t, true).unwrap();
                dx = dz1;
                add_assign(&mut dx, &dxq);
            }
            Arch::PreLn => {
                let mut dout = dx.clone();
                dropout(&mut dout, mlp_dropout(cfg, d), d.site(site_layer(li, 2)));
                let mut dact = linear_backward(&l.out, &mut gl.out.w, &mut gl.out.b, &lc.inter_act, &dout, t, true).unwrap();
                act_backward(cfg.act, &lc.inter_pre, &lc.inter_act, &mut dact);
                let dh2 = linear_backward(&l.inter, &mut gl.inter.w, &mut gl.inter.b, &lc.h2, &dact, t, true).unwrap();
                let dln2 = layer_norm_backward(&lc.ln2, &ln_m.g, &mut gl.ln_mlp.g, &mut gl.ln_mlp.b, &dh2);
                add_assign(&mut dx, &dln2);
                let mut da = dx.clone();
                dropout(&mut da, d.hidden, d.site(site_layer(li, 1)));
                let dctx = linear_backward(&l.attn_out, &mut gl.attn_out.w, &mut gl.attn_out.b, &lc.ctx, &da, t, true).unwrap();
                let dqkv = attention_backward(&lc.qkv, &c.key_mask, shape, d.attn, d.site(site_layer(li, 0)), &lc.ctx, &lc.lse, &dctx);
                let dh1 = linear_backward(&l.qkv, &mut gl.qkv.w, &mut gl.qkv.b, &lc.h1, &dqkv, t, true).unwrap();
                let dln1 = layer_norm_backward(lc.ln1.as_ref().unwrap(), &ln_a.g, &mut gl.ln_attn.g, &mut gl.ln_attn.b, &dh1);
                add_assign(&mut dx, &dln1);
            }
        }
    }
    // Embeddings.
    if let (Some(p), Some(gp), Some(pin)) = (&enc.emb.project, &mut g.emb.project, &c.proj_in) {
        dx = linear_backward(p, &mut gp.w, &mut gp.b, pin, &dx, t, true).unwrap();
    }
    dropout(&mut dx, d.hidden, d.site(SITE_EMB));
    if let (Some(ln), Some(gln), Some(lc)) = (&enc.emb.ln, &mut g.emb.ln, &c.emb_ln) {
        dx = layer_norm_backward(lc, &ln.g, &mut gln.g, &mut gln.b, &dx);
    }
    let e = cfg.embedding_size;
    for (i, row) in dx.chunks_exact(e).enumerate() {
        let (id, pos) = (c.ids[i] as usize, i % c.seq);
        let tt = c.type_ids.get(i).copied().unwrap_or(0) as usize;
        let word = (Some(c.ids[i]) != pad_id).then_some((&mut g.emb.word, id * e));
        for (dst, base) in word.into_iter().chain([(&mut g.emb.pos, pos * e), (&mut g.emb.typ, tt * e)]) {
            for (a, v) in dst[base..base + e].iter_mut().zip(row) {
                *a += v;
            }
        }
    }
}

/// Masked-LM head backward: the tied decoder's gradient dlogits^T z goes into the word-embedding
/// gradient (all rows, [PAD]'s too, as autograd does for a tied weight), the bias gets the
/// column sums; returns d(hidden) over all [batch*seq] positions (zero where no logits were taken).
fn mlm_backward(enc: &Encoder, g: &mut Encoder, hc: &HeadCache, dlogits: &[f32], t: usize) -> Vec<f32> {
    let Some(Head { kind: HeadKind::Mlm { transform, act, ln, bias }, .. }) = &enc.head else { unreachable!("an MLM head") };
    let Encoder { emb: gemb, head: ghead, .. } = g;
    let Some(Head { kind: HeadKind::Mlm { transform: gt, ln: gln, bias: gbias, .. }, .. }) = ghead else {
        unreachable!("gradient head mirrors the model head")
    };
    let (h, e, v, rows) = (enc.cfg.hidden, transform.out, bias.len(), hc.rows);
    // d(word) [v, e] += dlogits^T [v, rows] z [rows, e]; d(bias) = column sums of dlogits.
    matmul(v, e, rows, MatRef::transposed(dlogits, v), MatRef::row_major(&hc.act_in, e), &mut gemb.word, e, true);
    for row in dlogits.chunks_exact(v) {
        add_assign(gbias, row);
    }
    // dz [rows, e] = dlogits [rows, v] E [v, e].
    let mut dz = vec![0f32; rows * e];
    matmul(rows, e, v, MatRef::row_major(dlogits, v), MatRef::row_major(&enc.emb.word, e), &mut dz, e, false);
    let mut da = layer_norm_backward(hc.ln.as_ref().expect("kept when training"), &ln.g, &mut gln.g, &mut gln.b, &dz);
    act_backward(*act, &hc.pre, &hc.act, &mut da);
    let dx = linear_backward(transform, &mut gt.w, &mut gt.b, &hc.x, &da, rows, true).unwrap();
    let Some(sel) = &hc.sel else { return dx };
    let mut full = vec![0f32; t * h];
    for (i, &r) in sel.iter().enumerate() {
        full[r * h..(r + 1) * h].copy_from_slice(&dx[i * h..(i + 1) * h]);
    }
    full
}

fn head_backward(enc: &Encoder, g: &mut Encoder, hc: &HeadCache, dlogits: &[f32], batch: usize, seq: usize, dc: DropCfg) -> Vec<f32> {
    let head = enc.head.as_ref().unwrap();
    if head.task == HeadTask::Mlm {
        return mlm_backward(enc, g, hc, dlogits, batch * seq);
    }
    let task = head.task;
    let gh = g.head.as_mut().unwrap();
    let rows = hc.rows;
    let d = match (&head.kind, &mut gh.kind) {
        (HeadKind::Single(l), HeadKind::Single(gl)) => {
            let mut dx = linear_backward(l, &mut gl.w, &mut gl.b, &hc.x, dlogits, rows, true).unwrap();
            dropout(&mut dx, dc.head, dc.site(SITE_HEAD0));
            dx
        }
        (HeadKind::Pooled { pooler, classifier }, HeadKind::Pooled { pooler: gp, classifier: gc }) => {
            let mut da = linear_backward(classifier, &mut gc.w, &mut gc.b, &hc.act_in, dlogits, rows, true).unwrap();
            dropout(&mut da, dc.head, dc.site(SITE_HEAD1));
            act_backward(Act::Tanh, &hc.pre, &hc.act, &mut da);
            linear_backward(pooler, &mut gp.w, &mut gp.b, &hc.x, &da, rows, true).unwrap()
        }
        (HeadKind::Double { dense, out, act }, HeadKind::Double { dense: gd, out: go, .. }) => {
            let mut da = linear_backward(out, &mut go.w, &mut go.b, &hc.act_in, dlogits, rows, true).unwrap();
            if task == HeadTask::Sequence {
                dropout(&mut da, dc.head, dc.site(SITE_HEAD1));
            }
            act_backward(*act, &hc.pre, &hc.act, &mut da);
            let mut dx = linear_backward(dense, &mut gd.w, &mut gd.b, &hc.x, &da, rows, true).unwrap();
            dropout(&mut dx, dc.head, dc.site(SITE_HEAD0));
            dx
        }
        _ => unreachable!("gradient head mirrors the model head"),
    };
    let h = enc.cfg.hidden;
    match task {
        HeadTask::Sequence => {
            let mut full = vec![0f32; batch * seq * h];
            for b in 0..batch {
                full[b * seq * h..b * seq * h + h].copy_from_slice(&d[b * h..(b + 1) * h]);
            }
            full
        }
        _ => d,
    }
}
