//! Forward-with-cache and backward kernels for the training path: Linear, LayerNorm, GELU (erf),
//! tanh/ReLU, dropout (stateless, regenerable mask), embeddings and softmax cross-entropy with an
//! ignore index. Every backward has a float64 finite-difference check in `train::tests`.

use crate::kernels::dispatch::{matmul, matmul_weight};
use crate::kernels::gemm::MatRef;
use crate::kernels::ops::{add_assign, dropout_row, erf_fast, exp_fast};
use crate::kernels::{par_chunks_mut, par_for, SharedMut};
use crate::model::{Act, Linear};

/// Index given to cross-entropy rows that take no part in the loss (PyTorch's default).
pub const IGNORE_INDEX: i32 = -100;

/// Backward of y = x W^T + b: adds x^T-weighted dy into `gw`/`gb`, returns dx = dy W when asked.
pub fn linear_backward(l: &Linear, gw: &mut [f32], gb: &mut [f32], x: &[f32], dy: &[f32], rows: usize, want_dx: bool) -> Option<Vec<f32>> {
    let (inp, out) = (l.inp, l.out);
    debug_assert_eq!(x.len(), rows * inp);
    debug_assert_eq!(dy.len(), rows * out);
    // dW[out, in] += dy^T [out, rows] x [rows, in]
    matmul(out, inp, rows, MatRef::transposed(dy, out), MatRef::row_major(x, inp), gw, inp, true);
    par_row_chunks(rows, gb, |r0, r1, acc| {
        for row in dy[r0 * out..r1 * out].chunks_exact(out) {
            add_assign(acc, row);
        }
    });
    want_dx.then(|| {
        let mut dx = vec![0f32; rows * inp];
        matmul_weight(rows, inp, out, MatRef::row_major(dy, out), &l.w, MatRef::row_major(&l.w, inp), &mut dx, inp, false);
        dx
    })
}

/// What LayerNorm's backward needs: the normalized input and 1/std per row.
#[derive(Default)]
pub struct LnCache {
    pub xhat: Vec<f32>,
    pub rstd: Vec<f32>,
}

/// Rows per work item of the row-parallel kernels below. Fixed, so partial sums are added in
/// the same order whatever the thread count (native and wasm agree bit for bit).
const ROW_CHUNK: usize = 64;

/// Run `f(r0, r1, acc)` over fixed chunks of `rows` in parallel, each chunk with its own zeroed
/// accumulator of `out.len()`, then add the accumulators into `out` in chunk order.
fn par_row_chunks<F: Fn(usize, usize, &mut [f32]) + Sync>(rows: usize, out: &mut [f32], f: F) {
    let (chunks, w) = (rows.div_ceil(ROW_CHUNK), out.len());
    let mut acc = vec![0f32; chunks * w];
    let p = SharedMut(acc.as_mut_ptr());
    par_for(chunks, |c| {
        // SAFETY: each chunk owns its accumulator.
        f(c * ROW_CHUNK, ((c + 1) * ROW_CHUNK).min(rows), unsafe { p.slice(c * w, w) })
    });
    for part in acc.chunks_exact(w) {
        add_assign(out, part);
    }
}

/// y = (x - mean) / sqrt(var + eps) * g + b per row of width g.len(); statistics in f64-free
/// two-pass f32 like the inference kernel. Rows run in parallel.
pub fn layer_norm_forward(x: &[f32], g: &[f32], b: &[f32], eps: f32) -> (Vec<f32>, LnCache) {
    let w = g.len();
    let rows = x.len() / w;
    let mut y = vec![0f32; x.len()];
    let mut xhat = vec![0f32; x.len()];
    let mut rstd = vec![0f32; rows];
    let (py, px, pr) = (SharedMut(y.as_mut_ptr()), SharedMut(xhat.as_mut_ptr()), SharedMut(rstd.as_mut_ptr()));
    par_for(rows.div_ceil(ROW_CHUNK), |c| {
        let (r0, r1) = (c * ROW_CHUNK, ((c + 1) * ROW_CHUNK).min(rows));
        // SAFETY: chunks of rows are disjoint.
        let (y, xhat, rstd) = unsafe { (py.slice(r0 * w, (r1 - r0) * w), px.slice(r0 * w, (r1 - r0) * w), pr.slice(r0, r1 - r0)) };
        for r in 0..r1 - r0 {
            let xr = &x[(r0 + r) * w..(r0 + r + 1) * w];
            let mean = xr.iter().sum::<f32>() / w as f32;
            let var = xr.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / w as f32;
            let inv = 1.0 / (var + eps).sqrt();
            rstd[r] = inv;
            for j in 0..w {
                let xh = (xr[j] - mean) * inv;
                xhat[r * w + j] = xh;
                y[r * w + j] = xh * g[j] + b[j];
            }
        }
    });
    (y, LnCache { xhat, rstd })
}

/// LayerNorm backward: accumulates dgamma/dbeta, returns dx. Rows run in parallel.
pub fn layer_norm_backward(c: &LnCache, g: &[f32], gg: &mut [f32], gb: &mut [f32], dy: &[f32]) -> Vec<f32> {
    let w = g.len();
    let rows = c.rstd.len();
    let mut dx = vec![0f32; dy.len()];
    let pdx = SharedMut(dx.as_mut_ptr());
    // One accumulator holds [dgamma | dbeta].
    let mut ggb = vec![0f32; 2 * w];
    par_row_chunks(rows, &mut ggb, |r0, r1, acc| {
        let (agg, agb) = acc.split_at_mut(w);
        // SAFETY: chunks of rows are disjoint.
        let dx = unsafe { pdx.slice(r0 * w, (r1 - r0) * w) };
        for r in r0..r1 {
            let (xh, d) = (&c.xhat[r * w..(r + 1) * w], &dy[r * w..(r + 1) * w]);
            let (mut s1, mut s2) = (0f32, 0f32);
            for j in 0..w {
                let dxh = d[j] * g[j];
                s1 += dxh;
                s2 += dxh * xh[j];
                agg[j] += d[j] * xh[j];
                agb[j] += d[j];
            }
            let (m1, m2) = (s1 / w as f32, s2 / w as f32);
            let inv = c.rstd[r];
            let dxr = &mut dx[(r - r0) * w..(r - r0 + 1) * w];
            for j in 0..w {
                dxr[j] = inv * (d[j] * g[j] - m1 - xh[j] * m2);
            }
        }
    });
    add_assign(gg, &ggb[..w]);
    add_assign(gb, &ggb[w..]);
    dx
}

/// GELU (erf form) of every element, out of place.
pub fn gelu_forward(x: &[f32]) -> Vec<f32> {
    let mut y = x.to_vec();
    crate::kernels::ops::gelu(&mut y);
    y
}

/// dx = dy * GELU'(x), GELU'(x) = Phi(x) + x phi(x).
pub fn gelu_backward(x: &[f32], dy: &mut [f32]) {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    par_chunks_mut(dy, 1 << 14, |s, d| {
        for (dv, &xv) in d.iter_mut().zip(&x[s..]) {
            let cdf = 0.5 * (1.0 + erf_fast(xv * std::f32::consts::FRAC_1_SQRT_2));
            let pdf = INV_SQRT_2PI * exp_fast(-0.5 * xv * xv);
            *dv *= cdf + xv * pdf;
        }
    });
}

/// dx = dy * d/dx [0.5 x (1 + tanh(u))], u = k (x + c x^3).
pub fn gelu_tanh_backward(x: &[f32], dy: &mut [f32]) {
    use crate::kernels::ops::{tanh_fast, GELU_TANH_C as C, GELU_TANH_K as K};
    par_chunks_mut(dy, 1 << 14, |s, d| {
        for (dv, &xv) in d.iter_mut().zip(&x[s..]) {
            let t = tanh_fast(K * (xv + C * xv * xv * xv));
            *dv *= 0.5 * (1.0 + t) + 0.5 * xv * (1.0 - t * t) * K * (1.0 + 3.0 * C * xv * xv);
        }
    });
}

/// Apply an activation out of place.
pub fn act_forward(act: Act, x: &[f32]) -> Vec<f32> {
    match act {
        Act::Gelu => gelu_forward(x),
        Act::GeluTanh => {
            let mut y = x.to_vec();
            crate::kernels::ops::act_in_place(act, &mut y);
            y
        }
        Act::Relu => x.iter().map(|v| v.max(0.0)).collect(),
        Act::Tanh => x.iter().map(|v| v.tanh()).collect(),
    }
}

/// dy *= act'(x) where `x` is the pre-activation and `y` the activation output.
pub fn act_backward(act: Act, x: &[f32], y: &[f32], dy: &mut [f32]) {
    match act {
        Act::Gelu => gelu_backward(x, dy),
        Act::GeluTanh => gelu_tanh_backward(x, dy),
        Act::Relu => dy.iter_mut().zip(x).for_each(|(d, &v)| {
            if v <= 0.0 {
                *d = 0.0
            }
        }),
        Act::Tanh => dy.iter_mut().zip(y).for_each(|(d, &t)| *d *= 1.0 - t * t),
    }
}

pub use crate::kernels::ops::{drop_threshold, keep, mix64};

/// Inverted dropout in place: x_i *= keep_i / (1 - p). It is its own backward (same seed on dy).
/// p = 0 leaves x untouched.
pub fn dropout(x: &mut [f32], p: f32, seed: u64) {
    if p <= 0.0 {
        return;
    }
    let th = drop_threshold(p);
    let scale = 1.0 / (1.0 - p);
    // The mask depends only on the element index, so any split gives the same result.
    par_chunks_mut(x, 1 << 14, |s, c| dropout_row(c, seed, s as u64, th, scale));
}

/// Softmax cross-entropy over rows of `logits` [rows, classes] with integer targets; rows whose
/// target is IGNORE_INDEX (or any negative / out-of-range value) are skipped. Returns the mean
/// loss over counted rows (0 when none) and dlogits of that mean, times `scale`.
pub fn cross_entropy(logits: &[f32], classes: usize, targets: &[i32], scale: f32) -> (f32, usize, Vec<f32>) {
    let rows = targets.len();
    debug_assert_eq!(logits.len(), rows * classes);
    let count = targets.iter().filter(|&&t| t >= 0 && (t as usize) < classes).count();
    let mut grad = vec![0f32; logits.len()];
    if count == 0 {
        return (0.0, 0, grad);
    }
    let inv = scale / count as f32;
    let mut total = 0f64;
    for r in 0..rows {
        let t = targets[r];
        if t < 0 || t as usize >= classes {
            continue;
        }
        let row = &logits[r * classes..(r + 1) * classes];
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let z: f32 = row.iter().map(|v| (v - m).exp()).sum();
        let lse = m + z.ln();
        total += (lse - row[t as usize]) as f64;
        let g = &mut grad[r * classes..(r + 1) * classes];
        for j in 0..classes {
            g[j] = (row[j] - lse).exp() * inv;
        }
        g[t as usize] -= inv;
    }
    ((total / count as f64) as f32, count, grad)
}
