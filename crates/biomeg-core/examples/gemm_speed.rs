//! Quick GEMM speed probe: `cargo run --release -p biomeg-core --example gemm_speed -- M K N THREADS [ta|packed]`.
use biomeg_core::kernels::{
    gemm::{gemm_with, MatRef},
    packed::{gemm_packed_with, Epilogue, PackedF32},
    peak::fma_peak_gflops,
    simd,
};
use std::time::Instant;

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).take(4).map(|s| s.parse().unwrap()).collect();
    let (m, k, n, t) = (
        a.first().copied().unwrap_or(1024),
        a.get(1).copied().unwrap_or(768),
        a.get(2).copied().unwrap_or(3072),
        a.get(3).copied().unwrap_or(2),
    );
    let x = vec![0.5f32; m * k];
    let w = vec![0.25f32; n * k];
    let mut c = vec![0f32; m * n];
    let isa = simd::detect();
    // 5th argument "ta": A is given transposed (k x m storage), as in a weight gradient dY^T X;
    // "packed": the weight packed once beforehand (inference).
    let mode = std::env::args().nth(5).unwrap_or_default();
    let (a_ref, b_ref) = if mode == "ta" {
        (MatRef::transposed(&x, m), MatRef::row_major(&w, n))
    } else {
        (MatRef::row_major(&x, k), MatRef::transposed(&w, k))
    };
    let pw = PackedF32::pack_for(isa, &w, n, k);
    let mut best = f64::MAX;
    for _ in 0..10 {
        let s = Instant::now();
        if mode == "packed" {
            gemm_packed_with(t, m, &x, &pw, &mut c, n, false, Epilogue::None);
        } else {
            gemm_with(isa, t, m, n, k, a_ref, b_ref, &mut c, n, false);
        }
        best = best.min(s.elapsed().as_secs_f64());
    }
    let peak = fma_peak_gflops(t, 300);
    let g = 2.0 * (m * n * k) as f64 / best / 1e9;
    println!("{} {mode} m{m} k{k} n{n} t{t}: {g:.1} GFLOP/s, FMA peak {peak:.1}, {:.1}%", isa.name(), 100.0 * g / peak);
}
