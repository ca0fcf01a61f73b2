//! Per-op time accounting for `biomeg bench --profile`: while enabled, the forward pass adds the
//! wall time of each op kind (on the calling thread) into process-wide counters, and the GEMMs
//! also add the time they spend packing and handing work to threads. Off (the default), a scope
//! costs one relaxed atomic load.
//!
//! wasm32-unknown-unknown has no clock of its own: the binding installs one (`set_clock`) before
//! enabling.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

/// The op kinds of an encoder forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Embeddings,
    QkvGemm,
    Attention,
    AttnOutGemm,
    FfnInGemm,
    FfnOutGemm,
    Gelu,
    LayerNorm,
    /// Residual adds (biases are filled as the GEMMs' starting value).
    BiasResidual,
    Head,
    /// Inside the GEMMs above (not in addition to them): packing A and B panels (f32), or
    /// quantizing activation rows (int8), on the calling thread.
    GemmPacking,
    /// Inside the GEMMs above: from handing the parts to the pool threads (kernels/pool.rs) until
    /// the last has finished, minus the calling thread's own share (hand-off and load imbalance).
    ThreadHandoff,
}

pub const OPS: [Op; 12] = [
    Op::Embeddings,
    Op::QkvGemm,
    Op::Attention,
    Op::AttnOutGemm,
    Op::FfnInGemm,
    Op::FfnOutGemm,
    Op::Gelu,
    Op::LayerNorm,
    Op::BiasResidual,
    Op::Head,
    Op::GemmPacking,
    Op::ThreadHandoff,
];

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Embeddings => "embeddings",
            Op::QkvGemm => "qkv_gemm",
            Op::Attention => "attention",
            Op::AttnOutGemm => "attn_out_gemm",
            Op::FfnInGemm => "ffn_in_gemm",
            Op::FfnOutGemm => "ffn_out_gemm",
            Op::Gelu => "gelu",
            Op::LayerNorm => "layer_norm",
            Op::BiasResidual => "bias_residual",
            Op::Head => "head",
            Op::GemmPacking => "gemm_packing",
            Op::ThreadHandoff => "thread_handoff",
        }
    }
    /// Part of another op's time rather than a slice of the forward pass of its own.
    pub fn is_inner(self) -> bool {
        matches!(self, Op::GemmPacking | Op::ThreadHandoff)
    }
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static NANOS: [AtomicU64; 12] = [const { AtomicU64::new(0) }; 12];
static CALLS: [AtomicU64; 12] = [const { AtomicU64::new(0) }; 12];
static CLOCK: OnceLock<fn() -> f64> = OnceLock::new();

/// Install the clock (milliseconds, any origin) wasm uses; native has its own.
pub fn set_clock(f: fn() -> f64) {
    let _ = CLOCK.set(f);
}

/// Milliseconds since an arbitrary origin, or None where no clock is available.
pub fn now_ms() -> Option<f64> {
    if let Some(f) = CLOCK.get() {
        return Some(f());
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        static T0: OnceLock<std::time::Instant> = OnceLock::new();
        Some(T0.get_or_init(std::time::Instant::now).elapsed().as_secs_f64() * 1e3)
    }
    #[cfg(target_arch = "wasm32")]
    None
}

/// Zero the counters and start (or stop) accounting.
pub fn enable(on: bool) {
    for i in 0..OPS.len() {
        NANOS[i].store(0, Ordering::Relaxed);
        CALLS[i].store(0, Ordering::Relaxed);
    }
    ENABLED.store(on && now_ms().is_some(), Ordering::Relaxed);
}

#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Add `ms` to `op`.
pub fn add(op: Op, ms: f64) {
    let i = OPS.iter().position(|&o| o == op).unwrap();
    NANOS[i].fetch_add((ms.max(0.0) * 1e6) as u64, Ordering::Relaxed);
    CALLS[i].fetch_add(1, Ordering::Relaxed);
}

/// Times from now until dropped, into `op` (nothing when accounting is off).
pub struct Scope {
    op: Op,
    start: Option<f64>,
}

#[inline]
pub fn scope(op: Op) -> Scope {
    Scope { op, start: if enabled() { now_ms() } else { None } }
}

impl Scope {
    /// Run `f` inside this scope.
    pub fn run<T>(self, f: impl FnOnce() -> T) -> T {
        f()
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let (Some(t0), Some(t1)) = (self.start, self.start.and_then(|_| now_ms())) {
            add(self.op, t1 - t0);
        }
    }
}

/// (op, total ms, calls) for every op kind since `enable(true)`.
pub fn take() -> Vec<(Op, f64, u64)> {
    OPS.iter().enumerate().map(|(i, &op)| (op, NANOS[i].load(Ordering::Relaxed) as f64 / 1e6, CALLS[i].load(Ordering::Relaxed))).collect()
}

/// The counters as JSON: `{"ops": [{"op", "ms", "calls", "inner"}]}` (what the bindings return).
pub fn take_json() -> String {
    let ops: Vec<serde_json::Value> = take()
        .into_iter()
        .map(|(op, ms, calls)| serde_json::json!({"op": op.name(), "ms": ms, "calls": calls, "inner": op.is_inner()}))
        .collect();
    serde_json::json!({ "ops": ops }).to_string()
}
