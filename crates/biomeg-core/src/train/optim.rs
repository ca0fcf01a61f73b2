//! AdamW (Loshchilov & Hutter 2019: weight decay decoupled from the gradient step), LAMB (You et
//! al. 2020: AdamW's step rescaled per tensor by a trust ratio, for large-batch pre-training),
//! the linear warm-up / linear decay schedule, and clipping by global gradient norm. Formulas
//! follow torch.optim.AdamW and torch.nn.utils.clip_grad_norm_ so one step matches PyTorch.

use crate::kernels::{par_chunks_mut, par_for, SharedMut};
use crate::model::Encoder;
use crate::params::{params, params_mut};

#[derive(Clone, Debug, PartialEq)]
pub struct AdamW {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// LAMB: scale each tensor's step by its trust ratio ||w|| / ||update||.
    pub lamb: bool,
}

/// Learning-rate factor for optimizer step `s` (0-based; steps already taken), as Hugging Face's
/// get_linear_schedule_with_warmup: s/warmup during warm-up, then a linear decay to 0 at `total`
/// (`total` = 0: constant after warm-up).
pub fn lr_factor(s: u64, warmup: u64, total: u64) -> f32 {
    if s < warmup {
        return s as f32 / warmup.max(1) as f32;
    }
    if total == 0 {
        return 1.0;
    }
    (total.saturating_sub(s) as f32 / total.saturating_sub(warmup).max(1) as f32).max(0.0)
}

/// Elements per parallel work item of the optimizer passes. Fixed, so sums are taken in the
/// same order whatever the thread count (native and wasm agree bit for bit).
const CHUNK: usize = 1 << 15;

/// sqrt(sum of squares) over every gradient tensor, accumulated in f64 per fixed chunk.
pub fn global_norm(g: &Encoder) -> f64 {
    let mut total = 0f64;
    for (_, t) in params(g) {
        let parts: Vec<std::sync::atomic::AtomicU64> = (0..t.len().div_ceil(CHUNK)).map(|_| Default::default()).collect();
        par_for(parts.len(), |c| {
            let s: f64 = t[c * CHUNK..((c + 1) * CHUNK).min(t.len())].iter().map(|&v| v as f64 * v as f64).sum();
            parts[c].store(s.to_bits(), std::sync::atomic::Ordering::Relaxed);
        });
        total += parts.iter().map(|p| f64::from_bits(p.load(std::sync::atomic::Ordering::Relaxed))).sum::<f64>();
    }
    total.sqrt()
}

/// The factor torch's clip_grad_norm_ applies for gradient norm `norm`: max_norm / (norm + 1e-6)
/// when that is below 1, else 1 (and 1 when clipping is off).
pub fn clip_coef(norm: f64, max_norm: f32) -> f64 {
    if max_norm > 0.0 {
        let coef = max_norm as f64 / (norm + 1e-6);
        if coef < 1.0 {
            return coef;
        }
    }
    1.0
}

impl AdamW {
    /// One update of every parameter with gradients `g` scaled by `gscale` (the clipping
    /// factor), moments `m`/`v`, at 1-based step `t` and learning rate `lr`; the gradients are
    /// zeroed on the way (one pass over memory instead of three). Biases and LayerNorm
    /// parameters get no weight decay.
    #[allow(clippy::too_many_arguments)]
    pub fn update(&self, w: &mut Encoder, g: &mut Encoder, m: &mut Encoder, v: &mut Encoder, t: u64, lr: f32, gscale: f64) {
        if self.lamb {
            return self.update_lamb(w, g, m, v, t, lr, gscale);
        }
        let bc1 = 1.0 - (self.beta1 as f64).powi(t as i32);
        let bc2 = 1.0 - (self.beta2 as f64).powi(t as i32);
        let step_size = (lr as f64 / bc1) as f32;
        let bc2_sqrt = bc2.sqrt() as f32;
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        for (((pi, p), (_, gt)), ((_, mt), (_, vt))) in
            params_mut(w).into_iter().zip(params_mut(g)).zip(params_mut(m).into_iter().zip(params_mut(v)))
        {
            let decay = if pi.decay && self.weight_decay != 0.0 { 1.0 - lr * self.weight_decay } else { 1.0 };
            let n = p.len();
            let ptrs = [p.as_mut_ptr(), gt.as_mut_ptr(), mt.as_mut_ptr(), vt.as_mut_ptr()].map(SharedMut);
            par_for(n.div_ceil(CHUNK), |c| {
                let (s, len) = (c * CHUNK, CHUNK.min(n - c * CHUNK));
                // SAFETY: chunks are disjoint and the four tensors have the same length.
                let [p, g, m, v] = ptrs.each_ref().map(|q| unsafe { q.slice(s, len) });
                for i in 0..len {
                    let gi = if gscale == 1.0 { g[i] } else { (g[i] as f64 * gscale) as f32 };
                    g[i] = 0.0;
                    p[i] *= decay;
                    m[i] += (gi - m[i]) * (1.0 - b1);
                    v[i] = v[i] * b2 + (1.0 - b2) * gi * gi;
                    let denom = v[i].sqrt() / bc2_sqrt + eps;
                    p[i] -= step_size * (m[i] / denom);
                }
            });
        }
    }
}

impl AdamW {
    /// LAMB (You et al. 2020, Algorithm 2), per tensor: Adam's bias-corrected moments, the
    /// update r = m^ / (sqrt(v^) + eps) + wd * w, then w -= lr * (||w|| / ||r||) * r. Tensors
    /// without weight decay (biases, LayerNorm) keep a trust ratio of 1, as the LAMB of
    /// BERT / ALBERT pre-training excludes them from layer adaptation; so does a zero norm.
    /// Two passes: the first writes r into the gradient buffer and sums both norms per fixed
    /// chunk (same order on every thread count), the second applies it and zeroes the gradient.
    #[allow(clippy::too_many_arguments)]
    fn update_lamb(&self, w: &mut Encoder, g: &mut Encoder, m: &mut Encoder, v: &mut Encoder, t: u64, lr: f32, gscale: f64) {
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        let bc1 = (1.0 - (self.beta1 as f64).powi(t as i32)) as f32;
        let bc2 = (1.0 - (self.beta2 as f64).powi(t as i32)) as f32;
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        for (((pi, p), (_, gt)), ((_, mt), (_, vt))) in
            params_mut(w).into_iter().zip(params_mut(g)).zip(params_mut(m).into_iter().zip(params_mut(v)))
        {
            let wd = if pi.decay { self.weight_decay } else { 0.0 };
            let n = p.len();
            let chunks = n.div_ceil(CHUNK);
            let sums: Vec<[AtomicU64; 2]> = (0..chunks).map(|_| Default::default()).collect();
            let ptrs = [p.as_mut_ptr(), gt.as_mut_ptr(), mt.as_mut_ptr(), vt.as_mut_ptr()].map(SharedMut);
            par_for(chunks, |c| {
                let (s, len) = (c * CHUNK, CHUNK.min(n - c * CHUNK));
                // SAFETY: chunks are disjoint and the four tensors have the same length.
                let [p, g, m, v] = ptrs.each_ref().map(|q| unsafe { q.slice(s, len) });
                let (mut ww, mut rr) = (0f64, 0f64);
                for i in 0..len {
                    let gi = if gscale == 1.0 { g[i] } else { (g[i] as f64 * gscale) as f32 };
                    m[i] += (gi - m[i]) * (1.0 - b1);
                    v[i] = v[i] * b2 + (1.0 - b2) * gi * gi;
                    let r = (m[i] / bc1) / ((v[i] / bc2).sqrt() + eps) + wd * p[i];
                    g[i] = r;
                    ww += p[i] as f64 * p[i] as f64;
                    rr += r as f64 * r as f64;
                }
                sums[c][0].store(ww.to_bits(), Relaxed);
                sums[c][1].store(rr.to_bits(), Relaxed);
            });
            let total = |k: usize| sums.iter().map(|s| f64::from_bits(s[k].load(Relaxed))).sum::<f64>().sqrt();
            let (wn, rn) = (total(0), total(1));
            let ratio = if pi.decay && wn > 0.0 && rn > 0.0 { (wn / rn) as f32 } else { 1.0 };
            let step = lr * ratio;
            par_for(chunks, |c| {
                let (s, len) = (c * CHUNK, CHUNK.min(n - c * CHUNK));
                // SAFETY: as above.
                let [p, g] = [&ptrs[0], &ptrs[1]].map(|q| unsafe { q.slice(s, len) });
                for i in 0..len {
                    p[i] -= step * g[i];
                    g[i] = 0.0;
                }
            });
        }
    }
}

/// Set every tensor to zero (gradient reset).
pub fn zero_all(e: &mut Encoder) {
    for (_, t) in params_mut(e) {
        par_chunks_mut(t, CHUNK, |_, c| c.fill(0.0));
    }
}
