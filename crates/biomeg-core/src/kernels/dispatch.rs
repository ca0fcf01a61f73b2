//! GEMM dispatch: cuBLAS when a CUDA device and libcublas are found at run time, else the CPU.
//!
//! CUDA libraries are opened with dlopen on first use (the build needs no CUDA; see
//! `dispatch/probe.rs` for the search); nothing is called before presence is confirmed and a
//! self-test GEMM has matched the CPU. The first runtime failure turns CUDA off for the process
//! (the GEMM that failed, and every later one, runs on the CPU) and keeps the reason for `info`.
//!
//! The probe state is process-global (`cuda_status`, `matmul`), but everything it does is also
//! available on an explicit `Dispatcher` opened from library paths, which is how the tests drive
//! the stand-in library (`tests/cuda_standin/standin.c`) without touching the global.
//!
//! Which GEMMs go to the GPU: see `CUDA_MIN_MACS` and `CUDA_MIN_INTENSITY`.

use super::gemm::{gemm, MatRef};
use super::int8::{gemm_i8, PackedI8};
use super::packed::{gemm_packed, Epilogue, PackedF32};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
#[cfg(not(target_arch = "wasm32"))]
use std::sync::OnceLock;

#[cfg(not(target_arch = "wasm32"))]
mod cuda;
#[cfg(not(target_arch = "wasm32"))]
mod probe;
#[cfg(not(target_arch = "wasm32"))]
pub use cuda::{Cuda, GpuError, OpenOptions};
#[cfg(not(target_arch = "wasm32"))]
pub use probe::ProbeConfig;

/// Where a GEMM ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmDevice {
    Cpu,
    Cuda,
}

/// What the CUDA probe found.
#[derive(Clone, Debug)]
pub struct CudaStatus {
    pub available: bool,
    /// Library paths, runtime version and math mode when available; otherwise why not (including
    /// the runtime failure that turned CUDA off).
    pub detail: String,
}

/// GEMMs below this many multiply-adds stay on the CPU whatever their shape: one cuBLAS call
/// costs a few synchronous copies and a launch, ~30-50 us all told, and 2^24 MACs is about what a
/// 16-core AVX-512 CPU does in that time. (BIOMEG_CUDA_MIN_MACS overrides; tune on a GPU.)
pub const CUDA_MIN_MACS: usize = 1 << 24;

/// ... and below this arithmetic intensity: multiply-adds per f32 element moved over PCIe,
/// `m*n*k / (m*k + [k*n unless B is a resident weight] + m*n [+ m*n when C is accumulated])`.
/// The GPU wins when the CPU's time for the GEMM exceeds the transfer time (the GPU's own compute
/// is ~50x faster than the CPU's and is neglected): m*n*k / R_cpu > 4 * elements / BW, i.e.
/// intensity > 4 * R_cpu / BW. With R_cpu ~ 0.4 TMAC/s (16 AVX-512 cores) and BW ~ 25 GB/s
/// (pinned PCIe 4 x16) that is ~64. A Linear with its weight resident has intensity about
/// n*k / (k + 2n) (hundreds for BERT widths), so batch size decides through `CUDA_MIN_MACS`; a
/// weight-gradient GEMM (k = tokens) needs a few hundred tokens; a rank-few outer product never
/// goes. (BIOMEG_CUDA_MIN_INTENSITY overrides; tune on a GPU.)
pub const CUDA_MIN_INTENSITY: f64 = 64.0;

/// The two thresholds above, as used by a dispatcher.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    pub min_macs: usize,
    pub min_intensity: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { min_macs: CUDA_MIN_MACS, min_intensity: CUDA_MIN_INTENSITY }
    }
}

impl Thresholds {
    /// The defaults, overridden by BIOMEG_CUDA_MIN_MACS / BIOMEG_CUDA_MIN_INTENSITY.
    pub fn from_env() -> Thresholds {
        let d = Thresholds::default();
        let var = |k: &str| std::env::var(k).ok();
        Thresholds {
            min_macs: var("BIOMEG_CUDA_MIN_MACS").and_then(|v| v.parse().ok()).unwrap_or(d.min_macs),
            min_intensity: var("BIOMEG_CUDA_MIN_INTENSITY").and_then(|v| v.parse().ok()).unwrap_or(d.min_intensity),
        }
    }

    /// Whether C[m,n] (+)= A[m,k] B[k,n] is worth sending to the GPU.
    pub fn wants_cuda(&self, m: usize, n: usize, k: usize, b_resident: bool, accumulate: bool) -> bool {
        if m == 0 || n == 0 || k == 0 {
            return false;
        }
        let macs = m.saturating_mul(n).saturating_mul(k);
        if macs < self.min_macs {
            return false;
        }
        let moved = m * k + if b_resident { 0 } else { k * n } + m * n * if accumulate { 2 } else { 1 };
        macs as f64 / moved as f64 >= self.min_intensity
    }
}

static NEXT_WEIGHT_ID: AtomicU64 = AtomicU64::new(1);

/// A weight buffer whose device copy the dispatcher may keep between GEMMs.
///
/// The device cache is keyed by `id` (unique for the life of the process: never reused, so a
/// freed buffer whose memory is reallocated to another weight can never hit the old entry) and
/// checked against `version`, the data pointer and the length. `version` is bumped by every
/// mutable access (`DerefMut`), which is the only way to change the data in safe code, so an
/// optimizer step or a reload invalidates the copy without anyone having to remember to. The
/// device copy is freed when the WeightBuf is dropped (i.e. with its model). A clone is a new
/// buffer with a new id. It derefs to `Vec<f32>`, so `&w`, `w.len()`, `&mut w[..]` work as before.
#[derive(Default)]
pub struct WeightBuf {
    data: Vec<f32>,
    id: u64,
    version: u64,
    /// The int8 form that forward GEMMs on this weight use instead (quantized inference);
    /// dropped by any mutable access, like a device copy.
    int8: Option<Arc<PackedI8>>,
    /// The weight packed once for the f32 micro-kernel (inference models); dropped like `int8`.
    packed: Option<Arc<PackedF32>>,
    /// The CUDA instances holding a copy, freed on drop.
    #[cfg(not(target_arch = "wasm32"))]
    holders: cuda::Holders,
}

impl WeightBuf {
    pub fn new(data: Vec<f32>) -> WeightBuf {
        WeightBuf {
            data,
            id: NEXT_WEIGHT_ID.fetch_add(1, Ordering::Relaxed),
            version: 0,
            int8: None,
            packed: None,
            #[cfg(not(target_arch = "wasm32"))]
            holders: Default::default(),
        }
    }
    /// Quantized inference: forward GEMMs through this weight (`Linear::forward`, B viewed as
    /// the transposed weight) use `q` instead. Does not count as a change of the data.
    pub fn set_int8(&mut self, q: Option<Arc<PackedI8>>) {
        self.int8 = q;
    }
    pub fn int8(&self) -> Option<&PackedI8> {
        self.int8.as_deref()
    }
    /// Inference: forward GEMMs through this weight use `p`, packed once, instead of packing the
    /// weight on every call. Does not count as a change of the data.
    pub fn set_packed(&mut self, p: Option<Arc<PackedF32>>) {
        self.packed = p;
    }
    pub fn packed(&self) -> Option<&PackedF32> {
        self.packed.as_deref()
    }
    /// Inference with an int8 form: free the f32 values, which nothing reads any more (forward
    /// GEMMs use `int8`). The buffer is then empty; its shape lives in the Linear. Not for
    /// training, whose optimizer updates the f32 values.
    pub fn release_f32(&mut self) {
        if self.int8.is_some() {
            self.data = Vec::new();
        }
    }
    /// Identity for the device cache (0 for a `Default` buffer, which is never cached).
    pub fn id(&self) -> u64 {
        self.id
    }
    /// Bumped by every mutable access.
    pub fn version(&self) -> u64 {
        self.version
    }
    pub fn into_vec(mut self) -> Vec<f32> {
        std::mem::take(&mut self.data)
    }
}

impl Deref for WeightBuf {
    type Target = Vec<f32>;
    fn deref(&self) -> &Vec<f32> {
        &self.data
    }
}

impl DerefMut for WeightBuf {
    fn deref_mut(&mut self) -> &mut Vec<f32> {
        self.version = self.version.wrapping_add(1);
        self.int8 = None;
        self.packed = None;
        if self.id == 0 {
            self.id = NEXT_WEIGHT_ID.fetch_add(1, Ordering::Relaxed);
        }
        &mut self.data
    }
}

impl From<Vec<f32>> for WeightBuf {
    fn from(v: Vec<f32>) -> Self {
        WeightBuf::new(v)
    }
}

impl Clone for WeightBuf {
    fn clone(&self) -> Self {
        let mut w = WeightBuf::new(self.data.clone());
        w.int8 = self.int8.clone();
        w.packed = self.packed.clone();
        w
    }
}

impl std::fmt::Debug for WeightBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.data.fmt(f)
    }
}

impl PartialEq for WeightBuf {
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data
    }
}

impl Drop for WeightBuf {
    fn drop(&mut self) {
        #[cfg(not(target_arch = "wasm32"))]
        self.holders.evict(self.id);
    }
}

/// C (+)= A * B on the best device; returns the device used.
#[allow(clippy::too_many_arguments)]
pub fn matmul(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, c: &mut [f32], ldc: usize, accumulate: bool) -> GemmDevice {
    dispatch(m, n, k, a, b, None, c, ldc, accumulate)
}

/// As `matmul` with B a view of the weight `w` (e.g. `MatRef::transposed(&w, k)` for a Linear's
/// forward, `MatRef::row_major(&w, n)` for its input gradient): on the GPU the weight is uploaded
/// once per version and kept there until `w` is dropped.
#[allow(clippy::too_many_arguments)]
pub fn matmul_weight(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef,
    w: &WeightBuf,
    b: MatRef,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) -> GemmDevice {
    dispatch(m, n, k, a, b, Some(w), c, ldc, accumulate)
}

/// `matmul` and `matmul_weight`: the global dispatcher when the thresholds say the GPU (checked
/// first, so small GEMMs never probe), else the CPU.
#[allow(clippy::too_many_arguments)]
fn dispatch(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef,
    b: MatRef,
    w: Option<&WeightBuf>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) -> GemmDevice {
    // A quantized weight in its forward layout (C = A W^T, A with contiguous rows).
    if let Some(q) = w.and_then(|w| w.int8().filter(|_| std::ptr::eq(w.as_ptr(), b.data.as_ptr()))) {
        if b.rs == 1 && b.cs == k && a.cs == 1 && a.rs == k && q.n == n && q.k == k {
            gemm_i8(&a.data[..m * k], m, q, c, ldc, accumulate);
            return GemmDevice::Cpu;
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    if global_thresholds().wants_cuda(m, n, k, w.is_some(), accumulate) {
        return global().matmul(m, n, k, a, b, w, c, ldc, accumulate);
    }
    let _ = w;
    gemm(m, n, k, a, b, c, ldc, accumulate);
    GemmDevice::Cpu
}

/// An inference Linear without its bias: y[m, n] = x[m, k] W^T, then `epi` (bias, bias +
/// activation). The epilogue runs inside the GEMM when the weight is packed (`set_packed`),
/// otherwise as one parallel pass after it (int8, CUDA, or a weight packed per call).
#[allow(clippy::too_many_arguments)]
pub fn linear_inference(m: usize, n: usize, k: usize, x: &[f32], w: &WeightBuf, y: &mut [f32], epi: Epilogue) {
    let y = &mut y[..m * n];
    let x = &x[..m * k];
    match w.packed().filter(|p| p.n == n && p.k == k && w.int8().is_none()) {
        Some(p) if !ran_on_cuda(m, n, k, x, w, y) => gemm_packed(m, x, p, y, n, false, epi),
        Some(_) => epi.apply_all(y),
        None => {
            matmul_weight(m, n, k, MatRef::row_major(x, k), w, MatRef::transposed(w, k), y, n, false);
            epi.apply_all(y);
        }
    }
}

/// y = x W^T on the GPU when the thresholds send it there and CUDA works; false otherwise.
fn ran_on_cuda(m: usize, n: usize, k: usize, x: &[f32], w: &WeightBuf, y: &mut [f32]) -> bool {
    #[cfg(not(target_arch = "wasm32"))]
    return global_thresholds().wants_cuda(m, n, k, true, false)
        && global().on_gpu(m, n, k, MatRef::row_major(x, k), MatRef::transposed(w, k), Some(w), y, n, false).is_ok();
    #[cfg(target_arch = "wasm32")]
    {
        let _ = (m, n, k, x, w, y);
        false
    }
}

/// As `matmul`, but on the device asked for (tests compare the two); errors if CUDA is absent,
/// has been turned off, or cannot take this layout.
#[allow(clippy::too_many_arguments)]
pub fn matmul_on(
    device: GemmDevice,
    m: usize,
    n: usize,
    k: usize,
    a: MatRef,
    b: MatRef,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) -> Result<(), String> {
    match device {
        GemmDevice::Cpu => {
            gemm(m, n, k, a, b, c, ldc, accumulate);
            Ok(())
        }
        #[cfg(not(target_arch = "wasm32"))]
        GemmDevice::Cuda => global().matmul_on(GemmDevice::Cuda, m, n, k, a, b, None, c, ldc, accumulate),
        #[cfg(target_arch = "wasm32")]
        GemmDevice::Cuda => Err("CUDA is not available on wasm".into()),
    }
}

/// C = A[m,k] * B for dense buffers, B given as [k,n] or, when `trans_b`, as [n,k] (a Linear
/// weight); `device` is "cpu", "cuda" or "auto". The bindings' `matmul` is this call.
#[allow(clippy::too_many_arguments)]
pub fn matmul_dense(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, trans_b: bool, device: &str) -> crate::Result<Vec<f32>> {
    use crate::CoreError;
    if a.len() != m * k || b.len() != k * n {
        return Err(CoreError::Input(format!("matmul: A has {} values (need {}), B has {} (need {})", a.len(), m * k, b.len(), k * n)));
    }
    let bm = if trans_b { MatRef::transposed(b, k) } else { MatRef::row_major(b, n) };
    let am = MatRef::row_major(a, k);
    let mut c = vec![0f32; m * n];
    match device {
        "auto" => {
            matmul(m, n, k, am, bm, &mut c, n, false);
        }
        "cpu" => matmul_on(GemmDevice::Cpu, m, n, k, am, bm, &mut c, n, false).map_err(CoreError::NoCuda)?,
        "cuda" => matmul_on(GemmDevice::Cuda, m, n, k, am, bm, &mut c, n, false).map_err(CoreError::NoCuda)?,
        other => return Err(CoreError::Input(format!("device '{other}' is not one of cpu, cuda, auto"))),
    }
    Ok(c)
}

/// What the process-wide probe found (probing on first call), or why CUDA was turned off.
pub fn cuda_status() -> CudaStatus {
    #[cfg(not(target_arch = "wasm32"))]
    return global().status();
    #[cfg(target_arch = "wasm32")]
    CudaStatus { available: false, detail: "not available on wasm".into() }
}

#[cfg(not(target_arch = "wasm32"))]
static GLOBAL: OnceLock<Dispatcher> = OnceLock::new();

/// The process-wide dispatcher, probed from the BIOMEG_* variables on first use.
#[cfg(not(target_arch = "wasm32"))]
pub fn global() -> &'static Dispatcher {
    GLOBAL.get_or_init(|| Dispatcher::probe(&ProbeConfig::from_env()))
}

/// The thresholds the global dispatcher uses, read without probing (small GEMMs never dlopen).
#[cfg(not(target_arch = "wasm32"))]
fn global_thresholds() -> &'static Thresholds {
    static T: OnceLock<Thresholds> = OnceLock::new();
    T.get_or_init(Thresholds::from_env)
}

/// A CUDA instance (or the reason there is none) with the CPU fallback and the threshold.
#[cfg(not(target_arch = "wasm32"))]
pub struct Dispatcher {
    cuda: Result<Cuda, String>,
    /// The first runtime failure; once set CUDA is off for this dispatcher.
    failed: OnceLock<String>,
    pub thresholds: Thresholds,
}

#[cfg(not(target_arch = "wasm32"))]
impl Dispatcher {
    /// Probe as the process does (overrides, then matching pairs); thresholds from the environment.
    pub fn probe(cfg: &ProbeConfig) -> Dispatcher {
        Dispatcher { cuda: probe::probe(cfg), failed: OnceLock::new(), thresholds: Thresholds::from_env() }
    }

    /// Exactly these two libraries (what BIOMEG_CUDART / BIOMEG_CUBLAS mean), fp32 math, device 0.
    pub fn from_paths(cudart: &str, cublas: &str) -> Dispatcher {
        let cfg = ProbeConfig { cudart: Some(cudart.into()), cublas: Some(cublas.into()), ..Default::default() };
        Dispatcher { cuda: probe::probe(&cfg), failed: OnceLock::new(), thresholds: Thresholds::default() }
    }

    /// Try these pairs in order, as the probe does with its candidates.
    pub fn from_pairs(pairs: &[(String, String)], opts: &OpenOptions) -> Dispatcher {
        let cuda = probe::probe_pairs(pairs, opts, &ProbeConfig::default());
        Dispatcher { cuda, failed: OnceLock::new(), thresholds: Thresholds::default() }
    }

    /// The CUDA instance while it is usable.
    pub fn cuda(&self) -> Result<&Cuda, String> {
        if let Some(why) = self.failed.get() {
            return Err(why.clone());
        }
        self.cuda.as_ref().map_err(|e| e.clone())
    }

    pub fn status(&self) -> CudaStatus {
        match (&self.cuda, self.failed.get()) {
            (Ok(c), None) => CudaStatus { available: true, detail: c.libs().to_string() },
            (_, Some(why)) => CudaStatus { available: false, detail: why.clone() },
            (Err(e), None) => CudaStatus { available: false, detail: e.clone() },
        }
    }

    fn disable(&self, cuda: &Cuda, reason: String) {
        let _ = self.failed.set(format!("turned off after a runtime failure: {reason} (was {})", cuda.libs()));
        cuda.release();
    }

    /// Run on the GPU; a library failure turns CUDA off. Err when it did not run there.
    #[allow(clippy::too_many_arguments)]
    fn on_gpu(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: MatRef,
        b: MatRef,
        w: Option<&WeightBuf>,
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) -> Result<(), String> {
        let cuda = self.cuda()?;
        let key = w.filter(|w| w.id != 0 && std::ptr::eq(w.as_ptr(), b.data.as_ptr())).map(|w| (w.id, w.version));
        match cuda.sgemm(m, n, k, a, b, key, c, ldc, accumulate) {
            Ok(()) => {
                if let (Some(w), Some(_)) = (w, key) {
                    w.holders.add(cuda);
                }
                Ok(())
            }
            Err(GpuError::Unsupported(e)) => Err(e),
            Err(GpuError::Failed(e)) => {
                self.disable(cuda, e.clone());
                Err(e)
            }
        }
    }

    /// C (+)= A * B where the thresholds say, on the CPU otherwise or when the GPU fails.
    /// `w`: the weight B views, whose device copy may be kept.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: MatRef,
        b: MatRef,
        w: Option<&WeightBuf>,
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) -> GemmDevice {
        if self.thresholds.wants_cuda(m, n, k, w.is_some(), accumulate) && self.on_gpu(m, n, k, a, b, w, c, ldc, accumulate).is_ok() {
            return GemmDevice::Cuda;
        }
        gemm(m, n, k, a, b, c, ldc, accumulate);
        GemmDevice::Cpu
    }

    /// On the device asked for, whatever the size. Empty shapes (m, n or k = 0) are done on the
    /// host even for Cuda (cuBLAS would need ld = 0), after checking that CUDA is usable.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul_on(
        &self,
        device: GemmDevice,
        m: usize,
        n: usize,
        k: usize,
        a: MatRef,
        b: MatRef,
        w: Option<&WeightBuf>,
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) -> Result<(), String> {
        if device == GemmDevice::Cuda {
            self.cuda()?;
            if m != 0 && n != 0 && k != 0 {
                return self.on_gpu(m, n, k, a, b, w, c, ldc, accumulate);
            }
        }
        gemm(m, n, k, a, b, c, ldc, accumulate);
        Ok(())
    }
}
