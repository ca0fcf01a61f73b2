//! Multi-head self-attention for training. Forward keeps only each query row's log-sum-exp;
//! backward recomputes the scores and probabilities block by block from Q, K and the saved
//! log-sum-exp (FlashAttention-style), so no seq x seq matrix is ever stored: per thread the
//! working set is a few BQ x BK blocks plus the head's dK/dV accumulators. Block products run
//! on the GEMM micro-kernels.
//! Attention-probability dropout uses the stateless `keep` hash, so backward regenerates the
//! mask instead of storing it.

use super::ops::drop_threshold;
use crate::kernels::attention::{attention_with, AttnShape, Dropout};
use crate::kernels::gemm::{gemm_with, MatRef};
use crate::kernels::ops::{dropout_row, exp_fast};
use crate::kernels::{par_for, simd, simd_dispatch, SharedMut};

/// Forward: `qkv` [t, 3H] (Q | K | V), key mask [t]; returns ctx [t, H] and lse [batch*heads*seq].
pub fn attention_forward(qkv: &[f32], key_mask: &[bool], s: AttnShape, p_drop: f32, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut ctx = vec![0f32; s.batch * s.seq * s.heads * s.head_dim];
    let mut lse = vec![0f32; s.batch * s.heads * s.seq];
    attention_with(qkv, key_mask, s, Dropout { p: p_drop, seed }, &mut ctx, Some(&mut lse));
    (ctx, lse)
}

/// Backward: given dctx [t, H], returns dqkv [t, 3H].
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    qkv: &[f32],
    key_mask: &[bool],
    s: AttnShape,
    p_drop: f32,
    seed: u64,
    ctx: &[f32],
    lse: &[f32],
    dctx: &[f32],
) -> Vec<f32> {
    let h = s.heads * s.head_dim;
    let mut dqkv = vec![0f32; s.batch * s.seq * 3 * h];
    let d = SharedMut(dqkv.as_mut_ptr());
    par_for(s.batch * s.heads, |bh| bwd_head(qkv, key_mask, s, bh, p_drop, seed, ctx, lse, dctx, d));
    dqkv
}

/// Query and key block sizes: the largest score block one task holds is BQ x BK.
const BQ: usize = 64;
const BK: usize = 128;

simd_dispatch! {
    /// One head's backward, blocked like the forward: P is recomputed from S and the saved
    /// log-sum-exp; dV += Pd^T dO, dP = dO V^T, dS = P (dP - D) scale, dQ += dS K, dK += dS^T Q,
    /// all on the GEMM micro-kernels through strided (transposed) views.
    #[allow(clippy::too_many_arguments)]
    fn bwd_head(qkv: &[f32], key_mask: &[bool], s: AttnShape, bh: usize, p_drop: f32, seed: u64, ctx: &[f32], lse: &[f32], dctx: &[f32], dqkv: SharedMut) {
        let (b, head) = (bh / s.heads, bh % s.heads);
        let (seq, dh) = (s.seq, s.head_dim);
        let h = s.heads * dh;
        let ld = 3 * h;
        let base = b * seq * ld;
        let mask = &key_mask[b * seq..(b + 1) * seq];
        if !mask.iter().any(|&k| k) {
            return;
        }
        let scale = 1.0 / (dh as f32).sqrt();
        let th = drop_threshold(p_drop);
        let isa = simd::detect();
        let mut p = vec![0f32; BQ * BK]; // P, then dS
        let mut pd = vec![0f32; BQ * BK]; // dropped P
        let mut dp = vec![0f32; BQ * BK];
        let mut dq = vec![0f32; BQ * dh];
        let mut dk = vec![0f32; seq * dh];
        let mut dv = vec![0f32; seq * dh];
        let mut di = [0f32; BQ];
        let mut ks = [0f32; BK];
        for q0 in (0..seq).step_by(BQ) {
            let nq = BQ.min(seq - q0);
            let q = MatRef { data: &qkv[base + q0 * ld + head * dh..], rs: ld, cs: 1 };
            let dout = MatRef { data: &dctx[(b * seq + q0) * h + head * dh..], rs: h, cs: 1 };
            for i in 0..nq {
                let r = (b * seq + q0 + i) * h + head * dh;
                di[i] = dctx[r..r + dh].iter().zip(&ctx[r..r + dh]).map(|(a, c)| a * c).sum();
            }
            dq[..nq * dh].fill(0.0);
            for k0 in (0..seq).step_by(BK) {
                let nk = BK.min(seq - k0);
                let kmask = &mask[k0..k0 + nk];
                if !kmask.iter().any(|&v| v) {
                    continue;
                }
                let k = MatRef { data: &qkv[base + k0 * ld + h + head * dh..], rs: 1, cs: ld };
                gemm_with(isa, 1, nq, nk, dh, q, k, &mut p, BK, false);
                let vt = MatRef { data: &qkv[base + k0 * ld + 2 * h + head * dh..], rs: 1, cs: ld };
                gemm_with(isa, 1, nq, nk, dh, dout, vt, &mut dp, BK, false);
                for i in 0..nq {
                    let li = lse[bh * seq + q0 + i];
                    let o = i * BK;
                    // ks: the dropout factors of this row (0 or 1 / (1 - p)), regenerated.
                    let ks = &mut ks[..nk];
                    ks.fill(1.0);
                    if p_drop > 0.0 {
                        dropout_row(ks, seed, ((bh * seq + q0 + i) * seq + k0) as u64, th, 1.0 / (1.0 - p_drop));
                    }
                    let (prow, pdrow, dprow) = (&mut p[o..o + nk], &mut pd[o..o + nk], &dp[o..o + nk]);
                    for j in 0..nk {
                        let e = exp_fast(prow[j] * scale - li);
                        let pj = if kmask[j] { e } else { 0.0 };
                        pdrow[j] = pj * ks[j];
                        prow[j] = pj * (dprow[j] * ks[j] - di[i]) * scale; // dS
                    }
                }
                // dV[k-block] += Pd^T dO
                let pdt = MatRef { data: &pd, rs: 1, cs: BK };
                gemm_with(isa, 1, nk, dh, nq, pdt, dout, &mut dv[k0 * dh..], dh, true);
                // dQ += dS K ; dK[k-block] += dS^T Q
                let krows = MatRef { data: &qkv[base + k0 * ld + h + head * dh..], rs: ld, cs: 1 };
                gemm_with(isa, 1, nq, dh, nk, MatRef { data: &p, rs: BK, cs: 1 }, krows, &mut dq, dh, true);
                gemm_with(isa, 1, nk, dh, nq, MatRef { data: &p, rs: 1, cs: BK }, q, &mut dk[k0 * dh..], dh, true);
            }
            for i in 0..nq {
                let r = b * seq + q0 + i;
                // SAFETY: each (b, head) task writes only its own head's columns.
                unsafe { dqkv.slice(r * ld + head * dh, dh) }.copy_from_slice(&dq[i * dh..(i + 1) * dh]);
            }
        }
        for j in 0..seq {
            let r = b * seq + j;
            unsafe { dqkv.slice(r * ld + h + head * dh, dh) }.copy_from_slice(&dk[j * dh..(j + 1) * dh]);
            unsafe { dqkv.slice(r * ld + 2 * h + head * dh, dh) }.copy_from_slice(&dv[j * dh..(j + 1) * dh]);
        }
    }
}

/// The first, row-at-a-time kernels: kept as the reference the blocked ones are tested against.
#[cfg(test)]
pub(super) mod rowwise {
    use super::*;
    use crate::kernels::ops::keep;

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

    /// What both references derive from one (batch, head) task: indices, the key mask, the score
    /// scale, K transposed, and the dropout threshold and rescale.
    struct HeadView<'a> {
        b: usize,
        head: usize,
        seq: usize,
        dh: usize,
        h: usize,
        ld: usize,
        mask: &'a [bool],
        scale: f32,
        kt: Vec<f32>,
        th: u32,
        dscale: f32,
    }

    impl<'a> HeadView<'a> {
        fn new(qkv: &[f32], key_mask: &'a [bool], s: AttnShape, bh: usize, p_drop: f32) -> Self {
            let (b, head) = (bh / s.heads, bh % s.heads);
            let (seq, dh) = (s.seq, s.head_dim);
            let h = s.heads * dh;
            HeadView {
                b,
                head,
                seq,
                dh,
                h,
                ld: 3 * h,
                mask: &key_mask[b * seq..(b + 1) * seq],
                scale: 1.0 / (dh as f32).sqrt(),
                kt: head_transposed(qkv, s, b, h + head * dh),
                th: drop_threshold(p_drop),
                dscale: if p_drop > 0.0 { 1.0 / (1.0 - p_drop) } else { 1.0 },
            }
        }
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
        pub(super) fn fwd_head_rowwise(qkv: &[f32], key_mask: &[bool], s: AttnShape, bh: usize, p_drop: f32, seed: u64, out: SharedMut, lse_out: SharedMut) {
            let HeadView { b, head, seq, dh, h, ld, mask, scale, kt, th, dscale } = HeadView::new(qkv, key_mask, s, bh, p_drop);
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
        pub(super) fn bwd_head_rowwise(qkv: &[f32], key_mask: &[bool], s: AttnShape, bh: usize, p_drop: f32, seed: u64, ctx: &[f32], lse: &[f32], dctx: &[f32], dqkv: SharedMut) {
            let HeadView { b, head, seq, dh, h, ld, mask, scale, kt, th, dscale } = HeadView::new(qkv, key_mask, s, bh, p_drop);
            let vt = head_transposed(qkv, s, b, 2 * h + head * dh);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The blocked kernels equal the row-wise reference across block edges, with padding and dropout.
    #[test]
    fn blocked_attention_matches_rowwise_reference() {
        let s = AttnShape { batch: 2, seq: 150, heads: 2, head_dim: 16 };
        let h = s.heads * s.head_dim;
        let t = s.batch * s.seq;
        let mut rng = Rng::new(9);
        let qkv: Vec<f32> = (0..t * 3 * h).map(|_| rng.normal()).collect();
        let dctx: Vec<f32> = (0..t * h).map(|_| rng.normal()).collect();
        let mask: Vec<bool> = (0..t).map(|i| i < s.seq || i % s.seq < 70).collect();
        for p in [0.0f32, 0.3] {
            let (ctx, lse) = attention_forward(&qkv, &mask, s, p, 5);
            let mut rctx = vec![0f32; t * h];
            let mut rlse = vec![0f32; s.batch * s.heads * s.seq];
            let (o, l) = (SharedMut(rctx.as_mut_ptr()), SharedMut(rlse.as_mut_ptr()));
            for bh in 0..s.batch * s.heads {
                rowwise::fwd_head_rowwise(&qkv, &mask, s, bh, p, 5, o, l);
            }
            let close = |a: &[f32], b: &[f32], what: &str| {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!((x - y).abs() <= 2e-5 * (1.0 + y.abs()), "{what} p={p} [{i}]: {x} vs {y}");
                }
            };
            close(&ctx, &rctx, "ctx");
            close(&lse, &rlse, "lse");
            let d = attention_backward(&qkv, &mask, s, p, 5, &ctx, &lse, &dctx);
            let mut rd = vec![0f32; t * 3 * h];
            let dp = SharedMut(rd.as_mut_ptr());
            for bh in 0..s.batch * s.heads {
                rowwise::bwd_head_rowwise(&qkv, &mask, s, bh, p, 5, &ctx, &lse, &dctx, dp);
            }
            close(&d, &rd, "dqkv");
        }
    }
}
