//! Multi-head self-attention for training. Forward keeps only each query row's log-sum-exp;
//! backward recomputes the scores and probabilities one query row at a time from Q, K and the
//! saved log-sum-exp (FlashAttention-style), so no seq x seq matrix is ever stored: per thread
//! the working set is one row of `seq` scores plus the head's dK/dV accumulators.
//! Attention-probability dropout uses the stateless `keep` hash, so backward regenerates the
//! mask instead of storing it.

use super::ops::{drop_threshold, keep};
use crate::kernels::attention::AttnShape;
use crate::kernels::ops::exp_fast;
use crate::kernels::{par_for, simd_dispatch, SharedMut};

/// Forward: `qkv` [t, 3H] (Q | K | V), key mask [t]; returns ctx [t, H] and lse [batch*heads*seq].
pub fn attention_forward(qkv: &[f32], key_mask: &[bool], s: AttnShape, p_drop: f32, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let h = s.heads * s.head_dim;
    let t = s.batch * s.seq;
    assert_eq!(qkv.len(), t * 3 * h, "attention: qkv has the wrong size");
    let mut ctx = vec![0f32; t * h];
    let mut lse = vec![0f32; s.batch * s.heads * s.seq];
    let (o, l) = (SharedMut(ctx.as_mut_ptr()), SharedMut(lse.as_mut_ptr()));
    par_for(s.batch * s.heads, |bh| fwd_head(qkv, key_mask, s, bh, p_drop, seed, o, l));
    (ctx, lse)
}

/// Backward: given dctx [t, H], returns dqkv [t, 3H].
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(qkv: &[f32], key_mask: &[bool], s: AttnShape, p_drop: f32, seed: u64, ctx: &[f32], lse: &[f32], dctx: &[f32]) -> Vec<f32> {
    let h = s.heads * s.head_dim;
    let mut dqkv = vec![0f32; s.batch * s.seq * 3 * h];
    let d = SharedMut(dqkv.as_mut_ptr());
    par_for(s.batch * s.heads, |bh| bwd_head(qkv, key_mask, s, bh, p_drop, seed, ctx, lse, dctx, d));
    dqkv
}

/// K (or V) of one head transposed to [dh, seq], so a query's scores are axpys over keys.
fn head_transposed(qkv: &[f32], s: AttnShape, b: usize, col0: usize) -> Vec<f32> {
    let (seq, dh) = (s.seq, s.head_dim);
    let ld = 3 * s.heads * dh;
    let mut t = vec![0f32; dh * seq];
    for j in 0..seq {
        let r = &qkv[(b * seq + j) * ld + col0..][..dh];
        for d in 0..dh {
            t[d * seq + j] = r[d];
        }
    }
    t
}

/// scores[j] = scale * q . k_j for every key (masked keys untouched: callers skip them).
#[inline(always)]
fn scores_row(q: &[f32], kt: &[f32], seq: usize, scale: f32, out: &mut [f32]) {
    out.fill(0.0);
    for (d, &qd) in q.iter().enumerate() {
        let qd = qd * scale;
        for (o, k) in out.iter_mut().zip(&kt[d * seq..(d + 1) * seq]) {
            *o += qd * k;
        }
    }
}

simd_dispatch! {
    #[allow(clippy::too_many_arguments)]
    fn fwd_head(qkv: &[f32], key_mask: &[bool], s: AttnShape, bh: usize, p_drop: f32, seed: u64, out: SharedMut, lse_out: SharedMut) {
        let (b, head) = (bh / s.heads, bh % s.heads);
        let (seq, dh) = (s.seq, s.head_dim);
        let h = s.heads * dh;
        let ld = 3 * h;
        let mask = &key_mask[b * seq..(b + 1) * seq];
        let scale = 1.0 / (dh as f32).sqrt();
        let kt = head_transposed(qkv, s, b, h + head * dh);
        let th = drop_threshold(p_drop);
        let dscale = if p_drop > 0.0 { 1.0 / (1.0 - p_drop) } else { 1.0 };
        let mut sc = vec![0f32; seq];
        for i in 0..seq {
            let q = &qkv[(b * seq + i) * ld + head * dh..][..dh];
            scores_row(q, &kt, seq, scale, &mut sc);
            let m = sc.iter().zip(mask).filter(|(_, &k)| k).map(|(v, _)| *v).fold(f32::NEG_INFINITY, f32::max);
            // SAFETY: each (b, head) task writes only its own rows of lse and columns of out.
            let dst = unsafe { out.slice((b * seq + i) * h + head * dh, dh) };
            let lse = unsafe { lse_out.slice(bh * seq + i, 1) };
            dst.fill(0.0);
            if m == f32::NEG_INFINITY {
                lse[0] = 0.0;
                continue;
            }
            let mut z = 0f32;
            for (v, &k) in sc.iter_mut().zip(mask) {
                *v = if k { exp_fast(*v - m) } else { 0.0 };
                z += *v;
            }
            lse[0] = m + z.ln();
            let inv = 1.0 / z;
            let row0 = ((bh * seq + i) * seq) as u64;
            for j in 0..seq {
                let mut p = sc[j];
                if p == 0.0 {
                    continue;
                }
                if p_drop > 0.0 {
                    if !keep(seed, row0 + j as u64, th) {
                        continue;
                    }
                    p *= dscale;
                }
                let v = &qkv[(b * seq + j) * ld + 2 * h + head * dh..][..dh];
                let p = p * inv;
                for (o, vv) in dst.iter_mut().zip(v) {
                    *o += p * vv;
                }
            }
        }
    }
}

simd_dispatch! {
    #[allow(clippy::too_many_arguments)]
    fn bwd_head(qkv: &[f32], key_mask: &[bool], s: AttnShape, bh: usize, p_drop: f32, seed: u64, ctx: &[f32], lse: &[f32], dctx: &[f32], dqkv: SharedMut) {
        let (b, head) = (bh / s.heads, bh % s.heads);
        let (seq, dh) = (s.seq, s.head_dim);
        let h = s.heads * dh;
        let ld = 3 * h;
        let mask = &key_mask[b * seq..(b + 1) * seq];
        let scale = 1.0 / (dh as f32).sqrt();
        let kt = head_transposed(qkv, s, b, h + head * dh);
        let vt = head_transposed(qkv, s, b, 2 * h + head * dh);
        let th = drop_threshold(p_drop);
        let dscale = if p_drop > 0.0 { 1.0 / (1.0 - p_drop) } else { 1.0 };
        let mut dk = vec![0f32; seq * dh];
        let mut dv = vec![0f32; seq * dh];
        let mut p = vec![0f32; seq];
        let mut dp = vec![0f32; seq];
        let mut dq = vec![0f32; dh];
        if !mask.iter().any(|&k| k) {
            return;
        }
        for i in 0..seq {
            let r = b * seq + i;
            let q = &qkv[r * ld + head * dh..][..dh];
            let dout = &dctx[r * h + head * dh..][..dh];
            let o = &ctx[r * h + head * dh..][..dh];
            let di: f32 = dout.iter().zip(o).map(|(a, c)| a * c).sum();
            let l = lse[bh * seq + i];
            scores_row(q, &kt, seq, scale, &mut p);
            // dPd_j = dO_i . V_j
            dp.fill(0.0);
            for (d, &g) in dout.iter().enumerate() {
                for (x, vv) in dp.iter_mut().zip(&vt[d * seq..(d + 1) * seq]) {
                    *x += g * vv;
                }
            }
            let row0 = ((bh * seq + i) * seq) as u64;
            dq.fill(0.0);
            for j in 0..seq {
                if !mask[j] {
                    continue;
                }
                let pj = exp_fast(p[j] - l);
                let ks = if p_drop > 0.0 { if keep(seed, row0 + j as u64, th) { dscale } else { 0.0 } } else { 1.0 };
                let pd = pj * ks;
                if pd != 0.0 {
                    for (a, g) in dv[j * dh..(j + 1) * dh].iter_mut().zip(dout) {
                        *a += pd * g;
                    }
                }
                let ds = pj * (dp[j] * ks - di) * scale;
                if ds != 0.0 {
                    let kj = &qkv[(b * seq + j) * ld + h + head * dh..][..dh];
                    for ((a, kv), (dkv, qv)) in dq.iter_mut().zip(kj).zip(dk[j * dh..(j + 1) * dh].iter_mut().zip(q)) {
                        *a += ds * kv;
                        *dkv += ds * qv;
                    }
                }
            }
            // SAFETY: each (b, head) task writes only its own head's columns.
            unsafe { dqkv.slice(r * ld + head * dh, dh) }.copy_from_slice(&dq);
        }
        for j in 0..seq {
            let r = b * seq + j;
            unsafe { dqkv.slice(r * ld + h + head * dh, dh) }.copy_from_slice(&dk[j * dh..(j + 1) * dh]);
            unsafe { dqkv.slice(r * ld + 2 * h + head * dh, dh) }.copy_from_slice(&dv[j * dh..(j + 1) * dh]);
        }
    }
}
