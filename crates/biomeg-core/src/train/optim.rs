//! AdamW (Loshchilov & Hutter 2019: weight decay decoupled from the gradient step), the linear
//! warm-up / linear decay schedule, and clipping by global gradient norm. Formulas follow
//! torch.optim.AdamW and torch.nn.utils.clip_grad_norm_ so one step matches PyTorch.

use super::params::{params, params_mut};
use crate::model::Encoder;

#[derive(Clone, Debug, PartialEq)]
pub struct AdamW {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
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

/// sqrt(sum of squares) over every gradient tensor, accumulated in f64.
pub fn global_norm(g: &Encoder) -> f64 {
    params(g).iter().map(|(_, t)| t.iter().map(|&v| v as f64 * v as f64).sum::<f64>()).sum::<f64>().sqrt()
}

/// Scale gradients so their global norm is at most `max_norm` (torch's clip_grad_norm_ formula:
/// coefficient max_norm / (norm + 1e-6), applied only when below 1). Returns the norm before.
pub fn clip_global_norm(g: &mut Encoder, max_norm: f32) -> f64 {
    let norm = global_norm(g);
    if max_norm > 0.0 {
        let coef = max_norm as f64 / (norm + 1e-6);
        if coef < 1.0 {
            for (_, t) in params_mut(g) {
                t.iter_mut().for_each(|v| *v = (*v as f64 * coef) as f32);
            }
        }
    }
    norm
}

impl AdamW {
    /// One update of every parameter with gradients `g`, moments `m`/`v`, at 1-based step `t`
    /// and learning rate `lr`. Biases and LayerNorm parameters get no weight decay.
    pub fn update(&self, w: &mut Encoder, g: &Encoder, m: &mut Encoder, v: &mut Encoder, t: u64, lr: f32) {
        let bc1 = 1.0 - (self.beta1 as f64).powi(t as i32);
        let bc2 = 1.0 - (self.beta2 as f64).powi(t as i32);
        let step_size = (lr as f64 / bc1) as f32;
        let bc2_sqrt = bc2.sqrt() as f32;
        let (b1, b2) = (self.beta1, self.beta2);
        let decay = 1.0 - lr * self.weight_decay;
        for (((pi, p), (_, gt)), ((_, mt), (_, vt))) in params_mut(w).into_iter().zip(params(g)).zip(params_mut(m).into_iter().zip(params_mut(v))) {
            let wd = pi.decay && self.weight_decay != 0.0;
            for i in 0..p.len() {
                let gi = gt[i];
                if wd {
                    p[i] *= decay;
                }
                mt[i] += (gi - mt[i]) * (1.0 - b1);
                vt[i] = vt[i] * b2 + (1.0 - b2) * gi * gi;
                let denom = vt[i].sqrt() / bc2_sqrt + self.eps;
                p[i] -= step_size * (mt[i] / denom);
            }
        }
    }
}
