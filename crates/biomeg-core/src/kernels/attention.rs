//! Fused multi-head self-attention: scores, key mask, softmax and the weighted sum of values in
//! one pass over key blocks with an online softmax (running max and sum per query row), so only
//! a BQ x BK block of scores ever exists per thread, never a head's full seq x seq matrix.
//! Both block products (Q K^T and P V) run on the GEMM micro-kernels: K^T and V are packed once
//! per head, Q and the probabilities are read in place.

use super::gemm::MatRef;
use super::ops::{drop_threshold, dropout_row, exp_fast};
use super::packed::{pack_panels, panel_gemm, Epilogue};
use super::{par_for, simd, simd_dispatch, SharedMut};

thread_local! {
    /// K^T panels, V panels, the score block and the output accumulator of `attend_one_head`.
    static SCRATCH: std::cell::Cell<[Vec<f32>; 4]> = Default::default();
}

/// Query rows per block: a multiple of every MR (12, 6, 4), so the in-place tiles are whole.
const BQ: usize = 120;
/// Keys per block: a multiple of every NR (32, 16, 8).
const BK: usize = 128;

/// Shapes of one attention call.
#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
}

/// `qkv`: [batch*seq, 3*H] rows holding Q | K | V (head h at columns h*dh..(h+1)*dh of each part).
/// `key_mask`: [batch*seq], true where the key is a real token. Writes `out`: [batch*seq, H].
/// A query whose keys are all masked gets zeros.
pub fn fused_attention(qkv: &[f32], key_mask: &[bool], s: AttnShape, out: &mut [f32]) {
    attention_with(qkv, key_mask, s, Dropout::OFF, out, None);
}

/// Attention-probability dropout: element (query i, key j) of head task bh is kept when
/// `keep(seed, (bh * seq + i) * seq + j)`; kept values are scaled by 1 / (1 - p).
#[derive(Clone, Copy, Debug)]
pub struct Dropout {
    pub p: f32,
    pub seed: u64,
}

impl Dropout {
    pub const OFF: Dropout = Dropout { p: 0.0, seed: 0 };
}

/// As `fused_attention`, with dropout on the probabilities (applied after their row sum, i.e.
/// inverted dropout) and, when `lse` is given, each query row's log-sum-exp of the scaled scores
/// ([batch*heads*seq], 0 for a row with no unmasked key) for a backward pass.
pub fn attention_with(qkv: &[f32], key_mask: &[bool], s: AttnShape, drop: Dropout, out: &mut [f32], lse: Option<&mut [f32]>) {
    let h = s.heads * s.head_dim;
    assert_eq!(qkv.len(), s.batch * s.seq * 3 * h, "attention: qkv has the wrong size");
    assert_eq!(out.len(), s.batch * s.seq * h, "attention: out has the wrong size");
    let o = SharedMut(out.as_mut_ptr());
    let l = lse.map(|l| {
        assert_eq!(l.len(), s.batch * s.heads * s.seq, "attention: lse has the wrong size");
        SharedMut(l.as_mut_ptr())
    });
    par_for(s.batch * s.heads, |bh| attend_one_head(qkv, key_mask, s, bh, drop, o, l));
}

simd_dispatch! {
    fn attend_one_head(qkv: &[f32], key_mask: &[bool], s: AttnShape, bh: usize, drop: Dropout, out: SharedMut, lse: Option<SharedMut>) {
        let (b, head) = (bh / s.heads, bh % s.heads);
        let mask = &key_mask[b * s.seq..(b + 1) * s.seq];
        let th = drop_threshold(drop.p);
        let (seq, dh) = (s.seq, s.head_dim);
        let h = s.heads * dh;
        let ld = 3 * h;
        let isa = simd::detect();
        let base = b * seq * ld;
        let scale = 1.0 / (dh as f32).sqrt();
        // K^T and V of this head, packed once into micro-kernel panels for every query block; Q
        // and the probabilities are read in place (`panel_gemm`).
        // Per-thread buffers reused from head to head: fresh ones cost a page fault per page
        // (they are above malloc's mmap threshold), 4 % of attention's time.
        let mut bufs = SCRATCH.with(|c| c.take());
        let [kbuf, vbuf, scores, acc] = &mut bufs;
        let kt = pack_panels(isa, MatRef { data: &qkv[base + h + head * dh..], rs: 1, cs: ld }, dh, seq, kbuf);
        let v = pack_panels(isa, MatRef { data: &qkv[base + 2 * h + head * dh..], rs: ld, cs: 1 }, seq, dh, vbuf);
        scores.resize(BQ * BK, 0.0);
        acc.resize(BQ * dh, 0.0);
        let mut m = [f32::NEG_INFINITY; BQ];
        let mut l = [0f32; BQ];
        // The key block's mask as an additive score bias and a 0/1 factor on the probabilities.
        let (mut bias, mut keep) = ([0f32; BK], [0f32; BK]);
        let nr = isa.nr();
        for q0 in (0..seq).step_by(BQ) {
            let nq = BQ.min(seq - q0);
            acc[..nq * dh].fill(0.0);
            m.fill(f32::NEG_INFINITY);
            l.fill(0.0);
            let q = MatRef { data: &qkv[base + q0 * ld + head * dh..], rs: ld, cs: 1 };
            for k0 in (0..seq).step_by(BK) {
                let nk = BK.min(seq - k0);
                let kmask = &mask[k0..k0 + nk];
                if !kmask.iter().any(|&v| v) {
                    continue;
                }
                for (j, &real) in kmask.iter().enumerate() {
                    (bias[j], keep[j]) = if real { (0.0, 1.0) } else { (f32::NEG_INFINITY, 0.0) };
                }
                // S = Q_blk K_blk^T: the key panels from k0 (BK is a multiple of every NR)
                let keys = (k0 / nr, (k0 + nk).div_ceil(nr));
                let sp = SharedMut(scores.as_mut_ptr());
                panel_gemm(isa, q, (0, nq), kt, keys, (0, dh), sp, BK, false, Epilogue::None, false);
                for i in 0..nq {
                    let srow = &mut scores[i * BK..i * BK + nk];
                    let bmax = scale_mask_max(srow, &bias[..nk], scale);
                    // online softmax: rescale what was accumulated under the old row max
                    let mnew = m[i].max(bmax);
                    let alpha = if m[i] == f32::NEG_INFINITY { 0.0 } else { exp_fast(m[i] - mnew) };
                    let psum = exp_masked(srow, &keep[..nk], mnew);
                    if drop.p > 0.0 {
                        dropout_row(srow, drop.seed, ((bh * seq + q0 + i) * seq + k0) as u64, th, 1.0 / (1.0 - drop.p));
                    }
                    l[i] = l[i] * alpha + psum;
                    m[i] = mnew;
                    if alpha != 1.0 {
                        acc[i * dh..(i + 1) * dh].iter_mut().for_each(|v| *v *= alpha);
                    }
                }
                // O_blk += P V_blk
                let p = MatRef { data: &scores[..], rs: BK, cs: 1 };
                let ap = SharedMut(acc.as_mut_ptr());
                panel_gemm(isa, p, (0, nq), v, (0, v.count(isa)), (k0, k0 + nk), ap, dh, true, Epilogue::None, false);
            }
            for i in 0..nq {
                let inv = if l[i] > 0.0 { 1.0 / l[i] } else { 0.0 };
                // SAFETY: each (b, head) task writes only its own head's columns and lse rows.
                let dst = unsafe { out.slice((b * seq + q0 + i) * h + head * dh, dh) };
                for (o, a) in dst.iter_mut().zip(&acc[i * dh..(i + 1) * dh]) {
                    *o = a * inv;
                }
                if let Some(lse) = lse {
                    let cell = unsafe { lse.slice(bh * seq + q0 + i, 1) };
                    cell[0] = if l[i] > 0.0 { m[i] + l[i].ln() } else { 0.0 };
                }
            }
        }
        SCRATCH.with(|c| c.set(bufs));
    }
}

/// Lanes of the running max: one zmm, or two ymm / four v128.
const LANES: usize = 16;

/// Row of scores: s_j = s_j * scale + bias_j, with bias_j 0 for a real key and -inf for a masked
/// one; returns the row max (lane maxima; max is exact in any order). Two plain passes (a map,
/// then a read-only max over 16-lane chunks): fused into one loop, LLVM split the lanes into
/// partial vectors whose stores stalled the next chunk's load.
#[inline(always)]
pub(crate) fn scale_mask_max(row: &mut [f32], bias: &[f32], scale: f32) -> f32 {
    for (r, b) in row.iter_mut().zip(bias) {
        *r = *r * scale + b;
    }
    let mut mx = [f32::NEG_INFINITY; LANES];
    let n = row.len() / LANES * LANES;
    for c in row[..n].chunks_exact(LANES) {
        for l in 0..LANES {
            mx[l] = if c[l] > mx[l] { c[l] } else { mx[l] }; // one vmaxps (f32::max adds NaN fix-ups)
        }
    }
    for (l, &v) in row[n..].iter().enumerate() {
        mx[l] = if v > mx[l] { v } else { mx[l] };
    }
    mx.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

/// p_j = exp(s_j - m) * keep_j in place (keep_j 1 for a real key, 0 for a masked one); returns
/// the sum of the p_j, accumulated in eight lanes (j mod 8) that are added in a fixed order.
/// (Sixteen lanes change the sum's last bits, and with it the log-sum-exp that backward reads:
/// enough to flip a near-zero gradient in the ALBERT AdamW parity test.)
#[inline(always)]
pub(crate) fn exp_masked(row: &mut [f32], keep: &[f32], m: f32) -> f32 {
    // A map, then the sum: as one loop, LLVM interleaved the lanes with permutes.
    for (r, k) in row.iter_mut().zip(keep) {
        *r = exp_fast(*r - m) * k;
    }
    let mut sum = [0f32; 8];
    let n = row.len() / 8 * 8;
    for c in row[..n].chunks_exact(8) {
        for l in 0..8 {
            sum[l] += c[l];
        }
    }
    for (l, &v) in row[n..].iter().enumerate() {
        sum[l] += v;
    }
    ((sum[0] + sum[4]) + (sum[1] + sum[5])) + ((sum[2] + sum[6]) + (sum[3] + sum[7]))
}

/// Unfused reference: materializes the full score matrix per head, f64 softmax.
pub fn attention_reference(qkv: &[f32], key_mask: &[bool], s: AttnShape) -> Vec<f32> {
    let (seq, dh) = (s.seq, s.head_dim);
    let h = s.heads * dh;
    let mut out = vec![0f32; s.batch * seq * h];
    for b in 0..s.batch {
        for head in 0..s.heads {
            for i in 0..seq {
                let q = &qkv[(b * seq + i) * 3 * h + head * dh..][..dh];
                let mut sc: Vec<f64> = (0..seq)
                    .map(|j| {
                        let k = &qkv[(b * seq + j) * 3 * h + h + head * dh..][..dh];
                        q.iter().zip(k).map(|(a, c)| *a as f64 * *c as f64).sum::<f64>() / (dh as f64).sqrt()
                    })
                    .collect();
                let mx = (0..seq).filter(|&j| key_mask[b * seq + j]).map(|j| sc[j]).fold(f64::NEG_INFINITY, f64::max);
                let mut z = 0.0;
                for j in 0..seq {
                    sc[j] = if key_mask[b * seq + j] { (sc[j] - mx).exp() } else { 0.0 };
                    z += sc[j];
                }
                for d in 0..dh {
                    let mut acc = 0.0;
                    for j in 0..seq {
                        acc += sc[j] / z * qkv[(b * seq + j) * 3 * h + 2 * h + head * dh + d] as f64;
                    }
                    out[(b * seq + i) * h + head * dh + d] = if z > 0.0 { acc as f32 } else { 0.0 };
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_matches_reference_across_block_edges_and_masks() {
        for &(batch, seq, heads, dh) in &[(2, 5, 2, 8), (2, 70, 3, 16), (1, 130, 2, 64)] {
            let s = AttnShape { batch, seq, heads, head_dim: dh };
            let mut rng = crate::rng::Rng::new(7);
            let qkv: Vec<f32> = (0..batch * seq * 3 * heads * dh).map(|_| rng.normal() * 2.0).collect();
            // batch 0: all keys; batch 1: only the first 3 (padding after)
            let mask: Vec<bool> = (0..batch * seq).map(|i| i < seq || i % seq < 3).collect();
            let mut out = vec![0f32; batch * seq * heads * dh];
            fused_attention(&qkv, &mask, s, &mut out);
            let want = attention_reference(&qkv, &mask, s);
            for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                assert!((a - b).abs() < 2e-5, "{s:?} idx {i}: {a} vs {b}");
            }
        }
    }
}
