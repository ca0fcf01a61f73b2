//! Measures this CPU's fp32 FMA peak in the same process that measures GEMM, so the bench can
//! state GEMM speed as a fraction of a limit taken under the same conditions.

/// Peak GFLOP/s of independent FMA chains on `threads` threads over about `millis` ms.
#[cfg(not(target_arch = "wasm32"))]
pub fn fma_peak_gflops(threads: usize, millis: u64) -> f64 {
    let threads = threads.max(1);
    // Calibrate the iteration count on one thread, then run all threads together.
    let mut iters = 1u64 << 16;
    loop {
        let t = std::time::Instant::now();
        std::hint::black_box(fma_loop(iters));
        let el = t.elapsed().as_secs_f64();
        if el > 0.02 {
            iters = ((iters as f64) * (millis as f64 / 1000.0) / el).max(1.0) as u64;
            break;
        }
        iters *= 4;
    }
    let t = std::time::Instant::now();
    let flops_per = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads).map(|_| s.spawn(move || fma_loop(iters))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<f64>()
    });
    flops_per / t.elapsed().as_secs_f64() / 1e9
}

/// Returns the FLOPs done (2 per lane per FMA).
#[cfg(not(target_arch = "wasm32"))]
fn fma_loop(iters: u64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: feature checked above. Cores with a full-width 512-bit FMA (Zen 5, Intel
        // server parts) double their peak on zmm; Zen 4 splits it and reads the same as ymm.
        return unsafe { fma_loop_avx512(iters) };
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: features checked above.
        return unsafe { fma_loop_avx2(iters) };
    }
    let mut acc = [1.0f32; 32];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = a.mul_add(0.999_999, 1e-7);
        }
    }
    std::hint::black_box(acc);
    iters as f64 * 64.0
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop_avx2(iters: u64) -> f64 {
    use std::arch::x86_64::*;
    // 12 independent chains: enough to cover FMA latency x throughput on current cores.
    let mut acc = [_mm256_set1_ps(1.0); 12];
    let m = _mm256_set1_ps(0.999_999);
    let a = _mm256_set1_ps(1e-7);
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, m, a);
        }
    }
    std::hint::black_box(acc);
    iters as f64 * 12.0 * 8.0 * 2.0
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_loop_avx512(iters: u64) -> f64 {
    use std::arch::x86_64::*;
    // 16 chains: 2 FMA pipes x latency 4, with room for a slower part.
    let mut acc = [_mm512_set1_ps(1.0); 16];
    let m = _mm512_set1_ps(0.999_999);
    let a = _mm512_set1_ps(1e-7);
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, m, a);
        }
    }
    std::hint::black_box(acc);
    iters as f64 * 16.0 * 16.0 * 2.0
}

#[cfg(target_arch = "wasm32")]
pub fn fma_peak_gflops(_threads: usize, millis: u64) -> f64 {
    // wasm has no FMA: measure mul+add chains as the comparable single-thread limit.
    let _ = millis;
    f64::NAN
}
