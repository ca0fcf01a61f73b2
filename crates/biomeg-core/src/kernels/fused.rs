//! Fused epilogues of the inference forward pass: after a Linear's GEMM (run without its bias),
//! one parallel pass over the rows adds the bias and applies what follows, instead of a serial
//! bias fill before the GEMM and separate passes after it:
//! - `bias_act`: bias + GELU (or the layer's activation), the MLP's first Linear;
//! - `bias_residual_layer_norm`: bias + residual + LayerNorm, the post-LN sub-layer ending;
//! - `bias_residual`: bias + residual (pre-LN);
//! - `add_bias`: bias alone (QKV, pre-LN ...).
//!
//! Each computes (x + bias) [+ residual] in that order, so for a GEMM with k <= KC (one block)
//! the values equal the unfused path's bit for bit; tests compare them on ragged shapes.

use super::ops::{gelu_serial, gelu_tanh_serial, layer_norm_row, tanh_fast};
use super::{par_for, simd_dispatch, SharedMut};
use crate::model::Act;

/// Rows per parallel task: about 64 KiB of activations.
fn rows_per_task(width: usize) -> usize {
    ((16 << 10) / width.max(1)).max(1)
}

/// Run `f(row_index, row)` over the rows of `x` (width `w`) in parallel blocks of rows.
fn rows_par(x: &mut [f32], w: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let rows = x.len() / w;
    let per = rows_per_task(w);
    let p = SharedMut(x.as_mut_ptr());
    par_for(rows.div_ceil(per), |t| {
        for r in t * per..((t + 1) * per).min(rows) {
            // SAFETY: each row belongs to one task.
            f(r, unsafe { p.slice(r * w, w) });
        }
    });
}

simd_dispatch! {
    fn add_row(x: &mut [f32], b: &[f32]) {
        for (v, b) in x.iter_mut().zip(b) {
            *v += b;
        }
    }
}

simd_dispatch! {
    fn add2_row(x: &mut [f32], b: &[f32], r: &[f32]) {
        for ((v, b), r) in x.iter_mut().zip(b).zip(r) {
            *v = (*v + b) + r;
        }
    }
}

/// x[r] += bias for every row.
pub fn add_bias(x: &mut [f32], bias: &[f32]) {
    rows_par(x, bias.len(), |_, row| add_row(row, bias));
}

/// x[r] = act(x[r] + bias) for every row.
pub fn bias_act(x: &mut [f32], bias: &[f32], act: Act) {
    rows_par(x, bias.len(), |_, row| bias_act_row(row, bias, Some(act)));
}

/// One row (or a segment of one, with the matching bias segment): row = act(row + bias), or
/// row + bias when `act` is None. Also the per-tile epilogue of `packed::gemm_packed`.
#[inline]
pub fn bias_act_row(row: &mut [f32], bias: &[f32], act: Option<Act>) {
    add_row(row, bias);
    match act {
        None => {}
        Some(Act::Gelu) => gelu_serial(row),
        Some(Act::GeluTanh) => gelu_tanh_serial(row),
        Some(Act::Relu) => row.iter_mut().for_each(|v| *v = v.max(0.0)),
        Some(Act::Tanh) => row.iter_mut().for_each(|v| *v = tanh_fast(*v)),
    }
}

/// x[r] = (x[r] + bias) + residual[r] for every row.
pub fn bias_residual(x: &mut [f32], bias: &[f32], residual: &[f32]) {
    let w = bias.len();
    rows_par(x, w, |r, row| add2_row(row, bias, &residual[r * w..(r + 1) * w]));
}

/// x[r] = LayerNorm((x[r] + bias) + residual[r]) for every row.
pub fn bias_residual_layer_norm(x: &mut [f32], bias: &[f32], residual: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let w = bias.len();
    rows_par(x, w, |r, row| {
        add2_row(row, bias, &residual[r * w..(r + 1) * w]);
        layer_norm_row(row, gamma, beta, eps);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::ops::{act_in_place, add_assign, fill_rows, layer_norm};

    fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::Rng::new(seed);
        (0..n).map(|_| rng.uniform() * 4.0 - 2.0).collect()
    }

    /// The unfused inference path: bias filled first, the GEMM's sum added to it.
    fn with_bias_first(dot: &[f32], bias: &[f32]) -> Vec<f32> {
        let mut y = vec![0f32; dot.len()];
        fill_rows(&mut y, bias);
        y.iter_mut().zip(dot).for_each(|(y, d)| *y += d);
        y
    }

    #[test]
    fn fused_epilogues_equal_the_unfused_passes() {
        for &(rows, w) in &[(1, 1), (3, 7), (17, 33), (130, 64), (301, 768), (9, 4099)] {
            let dot = rand_vec(rows * w, 1 + w as u64);
            let bias = rand_vec(w, 2);
            let res = rand_vec(rows * w, 3);
            let (g, b) = (rand_vec(w, 4), rand_vec(w, 5));
            let mut want = with_bias_first(&dot, &bias);
            let mut got = dot.clone();
            add_bias(&mut got, &bias);
            assert_eq!(got, want, "add_bias {rows}x{w}");
            for act in [Act::Gelu, Act::GeluTanh, Act::Relu, Act::Tanh] {
                let mut want = with_bias_first(&dot, &bias);
                act_in_place(act, &mut want);
                let mut got = dot.clone();
                bias_act(&mut got, &bias, act);
                assert_eq!(got, want, "bias_act {act:?} {rows}x{w}");
            }
            add_assign(&mut want, &res);
            let mut got = dot.clone();
            bias_residual(&mut got, &bias, &res);
            assert_eq!(got, want, "bias_residual {rows}x{w}");
            layer_norm(&mut want, &g, &b, 1e-12);
            let mut got = dot.clone();
            bias_residual_layer_norm(&mut got, &bias, &res, &g, &b, 1e-12);
            assert_eq!(got, want, "bias_residual_layer_norm {rows}x{w}");
        }
    }
}
