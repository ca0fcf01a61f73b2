//! Runtime and kernel bindings (napi): info, thread count, GEMM and FMA peak for the bench.

use biomeg_core::kernels::{dispatch, peak, profile, set_threads as core_set_threads, simd};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::{guard, safe};

#[napi(object)]
pub struct RuntimeInfo {
    pub simd: String,
    /// Every instruction set usable on this CPU, best first.
    pub simd_available: Vec<String>,
    pub threads: u32,
    pub cuda: bool,
    pub cuda_detail: String,
}

#[napi]
pub fn runtime_info() -> Result<RuntimeInfo> {
    safe(|| {
        let i = biomeg_core::runtime_info();
        RuntimeInfo {
            simd: i.simd.into(),
            simd_available: simd::available().iter().map(|s| s.name().to_string()).collect(),
            threads: i.threads as u32,
            cuda: i.cuda,
            cuda_detail: i.cuda_detail,
        }
    })
}

/// Threads for parallel kernels (0 = default: BIOMEG_THREADS or all cores).
#[napi]
pub fn set_threads(n: u32) -> Result<()> {
    safe(|| core_set_threads(n as usize))
}

/// C[m,n] = A[m,k] * B, with B given as [k,n] or, when `trans_b`, as [n,k] (a Linear weight).
/// `device`: "cpu", "cuda" or "auto". Returns C.
#[napi]
pub fn matmul(a: Float32Array, b: Float32Array, m: u32, k: u32, n: u32, trans_b: bool, device: String) -> Result<Float32Array> {
    guard(|| dispatch::matmul_dense(&a, &b, m as usize, k as usize, n as usize, trans_b, &device)).map(Float32Array::new)
}

/// Buffers for timing GEMMs from JS: [m,k] x [k,n] with B held as a transposed weight, the
/// shape of a Linear layer. JS times `run` (wasm has no clock inside).
#[napi]
pub struct GemmBench {
    inner: biomeg_core::kernels::bench::GemmBench,
}

#[napi]
impl GemmBench {
    #[napi(constructor)]
    pub fn new(m: u32, k: u32, n: u32) -> Result<Self> {
        safe(|| GemmBench { inner: biomeg_core::kernels::bench::GemmBench::new(m as usize, k as usize, n as usize) })
    }
    /// One C = A * B on `threads` threads (CPU).
    #[napi]
    pub fn run(&mut self, threads: u32) -> Result<()> {
        safe(|| self.inner.run(threads as usize))
    }
}

/// fp32 FMA peak GFLOP/s on `threads` threads, measured now over about `millis` ms.
#[napi]
pub fn fma_peak(threads: u32, millis: u32) -> Result<f64> {
    safe(|| peak::fma_peak_gflops(threads as usize, millis as u64))
}

/// Start (zeroing the counters) or stop per-op time accounting (`biomeg bench --profile`).
#[napi]
pub fn set_profiling(on: bool) -> Result<()> {
    safe(|| profile::enable(on))
}

/// Per-op times since profiling started, as JSON `{"ops": [{op, ms, calls, inner}]}`.
#[napi]
pub fn take_profile() -> Result<String> {
    safe(profile::take_json)
}
