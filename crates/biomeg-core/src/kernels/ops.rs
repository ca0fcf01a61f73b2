//! Element-wise and row-wise kernels: exp, erf-form GELU, LayerNorm, softmax, bias add.
//! Written as branch-free loops that the compiler vectorizes (compiled for AVX2 when present).

use super::{par_chunks_mut, par_for, simd_dispatch, SharedMut};
use crate::model::Act;

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// e^x with ~1e-7 relative error (Cephes-style range reduction + degree-6 polynomial),
/// written without branches or libm calls so loops over it vectorize.
#[inline(always)]
pub fn exp_fast(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.7);
    // Round x*log2(e) to nearest with the 1.5*2^23 trick (no rounding instruction needed).
    const MAGIC: f32 = 12_582_912.0;
    let t = x * LOG2E + MAGIC;
    let k = t - MAGIC;
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1) * r + 5.000_000_1e-1;
    let y = p * r * r + r + 1.0;
    // 2^k from t's low mantissa bits (t = MAGIC + k exactly): integer ops only. `k as i32` is a
    // saturating conversion that compilers scalarize lane by lane, which made every loop over
    // exp_fast (softmax, GELU's erf, tanh) run at scalar speed.
    let kbits = t.to_bits().wrapping_sub(MAGIC.to_bits());
    y * f32::from_bits(kbits.wrapping_add(127) << 23)
}

/// erf(x), Abramowitz & Stegun 7.1.26 (max abs error 1.5e-7).
#[inline(always)]
pub fn erf_fast(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = ((((1.061_405_4 * t - 1.453_152_1) * t + 1.421_413_8) * t - 0.284_496_74) * t + 0.254_829_6) * t;
    let y = 1.0 - poly * exp_fast(-a * a);
    y.copysign(x)
}

// Dropout masks from a stateless hash (used by training; inference runs with p = 0).

/// SplitMix64 finalizer: derives the seed of each dropout site and batch. Masks come from the
/// stateless `keep` hash, so backward recomputes them instead of storing them, and they are
/// identical on native and wasm.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 32-bit avalanche hash (xor-shift / multiply rounds): 32-bit multiplies vectorize on AVX2
/// and simd128, where the 64-bit ones of `mix64` do not.
#[inline(always)]
fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x21F0_AAAD);
    x ^= x >> 15;
    x = x.wrapping_mul(0x735A_2D97);
    x ^ (x >> 15)
}

/// Keep decision for element `idx` of the dropout stream `seed` (itself a `mix64` output) with
/// drop probability given as a 24-bit threshold. Two 32-bit rounds, keyed by both seed halves.
#[inline(always)]
pub fn keep(seed: u64, idx: u64, threshold: u32) -> bool {
    let x = hash32((idx as u32) ^ seed as u32);
    let x = hash32(x ^ (seed >> 32) as u32 ^ ((idx >> 32) as u32).wrapping_mul(0x9E37_79B9));
    (x >> 8) >= threshold
}

/// row[j] *= keep(seed, idx0 + j) / (1 - p) for a row of dropout stream `seed`, or 0 when dropped.
#[inline(always)]
pub fn dropout_row(row: &mut [f32], seed: u64, idx0: u64, threshold: u32, scale: f32) {
    for (j, v) in row.iter_mut().enumerate() {
        *v = if keep(seed, idx0 + j as u64, threshold) { *v * scale } else { 0.0 };
    }
}

/// Drop probability p as the 24-bit threshold `keep` compares with.
pub fn drop_threshold(p: f32) -> u32 {
    (p.clamp(0.0, 1.0) as f64 * (1u64 << 24) as f64).round() as u32
}

simd_dispatch! {
    /// In place: x = x * 0.5 * (1 + erf(x / sqrt(2))) (the exact GELU BERT uses).
    pub(crate) fn gelu_serial(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = 0.5 * *v * (1.0 + erf_fast(*v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// GELU (erf form) over a whole activation buffer, in parallel chunks.
pub fn gelu(x: &mut [f32]) {
    par_chunks_mut(x, 1 << 16, |_, c| gelu_serial(c));
}

/// sqrt(2 / pi) and the cubic coefficient of the tanh form of GELU.
pub const GELU_TANH_K: f32 = 0.797_884_6;
pub const GELU_TANH_C: f32 = 0.044_715;

/// tanh(u) = 1 - 2 / (e^{2u} + 1): saturates cleanly at both ends through `exp_fast`'s clamp.
#[inline(always)]
pub fn tanh_fast(u: f32) -> f32 {
    1.0 - 2.0 / (exp_fast(2.0 * u) + 1.0)
}

simd_dispatch! {
    /// In place: x = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (`gelu_new`, ALBERT).
    pub(crate) fn gelu_tanh_serial(x: &mut [f32]) {
        for v in x.iter_mut() {
            let u = GELU_TANH_K * (*v + GELU_TANH_C * *v * *v * *v);
            *v = 0.5 * *v * (1.0 + tanh_fast(u));
        }
    }
}

/// A layer activation over a whole buffer, in place.
pub fn act_in_place(act: Act, x: &mut [f32]) {
    match act {
        Act::Gelu => gelu(x),
        Act::GeluTanh => par_chunks_mut(x, 1 << 16, |_, c| gelu_tanh_serial(c)),
        Act::Relu => par_chunks_mut(x, 1 << 16, |_, c| c.iter_mut().for_each(|v| *v = v.max(0.0))),
        Act::Tanh => par_chunks_mut(x, 1 << 16, |_, c| c.iter_mut().for_each(|v| *v = tanh_fast(*v))),
    }
}

simd_dispatch! {
    pub(crate) fn layer_norm_row(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let n = x.len() as f32;
        let mean = sum8(x) / n;
        let mut var8 = [0f32; 8];
        let chunks = x.chunks_exact(8);
        let rem = chunks.remainder();
        for c in chunks {
            for l in 0..8 {
                let d = c[l] - mean;
                var8[l] += d * d;
            }
        }
        let var = (var8.iter().sum::<f32>() + rem.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>()) / n;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in x.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

/// Sum with 8 independent lanes (vectorizes; summation order differs from a serial sum).
#[inline(always)]
pub fn sum8(x: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let rem = chunks.remainder();
    for c in chunks {
        for l in 0..8 {
            acc[l] += c[l];
        }
    }
    acc.iter().sum::<f32>() + rem.iter().sum::<f32>()
}

/// Row-wise LayerNorm in place over `rows` rows of width gamma.len().
pub fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let w = gamma.len();
    let rows = x.len() / w;
    let p = SharedMut(x.as_mut_ptr());
    par_for(rows, |r| layer_norm_row(unsafe { p.slice(r * w, w) }, gamma, beta, eps));
}

/// x[r] += residual[r] for every row, then LayerNorm (the post-LN BERT sub-layer ending).
pub fn add_layer_norm(x: &mut [f32], residual: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
    add_assign(x, residual);
    layer_norm(x, gamma, beta, eps);
}

simd_dispatch! {
    /// x += y element-wise.
    pub fn add_assign(x: &mut [f32], y: &[f32]) {
        for (a, b) in x.iter_mut().zip(y) {
            *a += b;
        }
    }
}

/// Fill every row of `out` (row width bias.len()) with the bias (a GEMM then accumulates).
pub fn fill_rows(out: &mut [f32], bias: &[f32]) {
    for row in out.chunks_exact_mut(bias.len()) {
        row.copy_from_slice(bias);
    }
}

simd_dispatch! {
    /// Softmax in place over one row (max-subtracted for stability).
    pub fn softmax_row(x: &mut [f32]) {
        let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut s = 0f32;
        for v in x.iter_mut() {
            *v = exp_fast(*v - m);
            s += *v;
        }
        let inv = 1.0 / s;
        x.iter_mut().for_each(|v| *v *= inv);
    }
}

/// f64 references for tests.
pub mod reference {
    pub fn gelu(x: f64) -> f64 {
        0.5 * x * (1.0 + libm_erf(x / std::f64::consts::SQRT_2))
    }
    pub fn gelu_tanh(x: f64) -> f64 {
        0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
    }
    /// erf via its Taylor series / continued fraction is overkill: use a high-precision
    /// rational approximation (W. J. Cody) good to ~1e-15 for the test range.
    pub fn libm_erf(x: f64) -> f64 {
        // erf(x) = 2/sqrt(pi) * sum_{n} (-1)^n x^(2n+1) / (n! (2n+1)), converges fast for |x| < 4.
        if x.abs() > 5.0 {
            return x.signum();
        }
        let mut term = x;
        let mut sum = x;
        let x2 = x * x;
        for n in 1..200 {
            term *= -x2 / n as f64;
            let add = term / (2 * n + 1) as f64;
            sum += add;
            if add.abs() < 1e-17 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }
    pub fn layer_norm(x: &[f64], g: &[f64], b: &[f64], eps: f64) -> Vec<f64> {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        x.iter().zip(g).zip(b).map(|((v, g), b)| (v - mean) / (var + eps).sqrt() * g + b).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_fast_matches_std() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let rel = ((exp_fast(x) - x.exp()) / x.exp()).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
    }

    #[test]
    fn gelu_matches_f64_reference() {
        let xs: Vec<f32> = (-4000..4000).map(|i| i as f32 * 0.0025).collect();
        let mut y = xs.clone();
        gelu(&mut y);
        for (x, y) in xs.iter().zip(&y) {
            let want = reference::gelu(*x as f64);
            assert!((*y as f64 - want).abs() < 2e-6, "gelu({x}) = {y}, want {want}");
        }
    }

    #[test]
    fn gelu_tanh_matches_f64_reference() {
        let xs: Vec<f32> = (-4000..4000).map(|i| i as f32 * 0.0025).chain([-30.0, -9.5, 9.5, 30.0]).collect();
        let mut y = xs.clone();
        act_in_place(Act::GeluTanh, &mut y);
        for (x, y) in xs.iter().zip(&y) {
            let want = reference::gelu_tanh(*x as f64);
            assert!((*y as f64 - want).abs() < 2e-6 * (1.0 + want.abs()), "gelu_new({x}) = {y}, want {want}");
        }
    }

    #[test]
    fn layer_norm_matches_f64_reference() {
        let w = 37;
        let x: Vec<f32> = (0..w * 3).map(|i| ((i * 7919) % 101) as f32 * 0.1 - 3.0).collect();
        let g: Vec<f32> = (0..w).map(|i| 0.5 + i as f32 * 0.01).collect();
        let b: Vec<f32> = (0..w).map(|i| -0.2 + i as f32 * 0.02).collect();
        let mut y = x.clone();
        layer_norm(&mut y, &g, &b, 1e-12);
        for r in 0..3 {
            let want = reference::layer_norm(
                &x[r * w..(r + 1) * w].iter().map(|&v| v as f64).collect::<Vec<_>>(),
                &g.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                &b.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                1e-12,
            );
            for (a, b) in y[r * w..(r + 1) * w].iter().zip(&want) {
                assert!((*a as f64 - b).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn softmax_sums_to_one_and_survives_large_inputs() {
        let mut x = vec![1000.0, 999.0, -1000.0, 0.0];
        softmax_row(&mut x);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((x[0] / x[1] - std::f32::consts::E).abs() < 1e-4);
    }
}
