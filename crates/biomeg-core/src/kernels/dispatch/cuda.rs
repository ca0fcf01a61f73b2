//! The cuBLAS back end: FFI through dlopen (libloading), one handle per instance, a grow-only
//! device buffer pool and pinned staging buffer under the handle's lock, and a device cache of
//! model weights keyed to `WeightBuf` identities (see `super::WeightBuf`).

use super::MatRef;
use libloading::Library;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Arc, Mutex, Weak};

type Sgemm = unsafe extern "C" fn(
    *mut c_void,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    *const f32,
    *const f32,
    c_int,
    *const f32,
    c_int,
    *const f32,
    *mut f32,
    c_int,
) -> c_int;
type IntOut = unsafe extern "C" fn(*mut c_int) -> c_int;
type IntIn = unsafe extern "C" fn(c_int) -> c_int;
type Alloc = unsafe extern "C" fn(*mut *mut c_void, usize) -> c_int;
type Free = unsafe extern "C" fn(*mut c_void) -> c_int;
type Memcpy = unsafe extern "C" fn(*mut c_void, *const c_void, usize, c_int) -> c_int;
type ErrStr = unsafe extern "C" fn(c_int) -> *const c_char;
type Create = unsafe extern "C" fn(*mut *mut c_void) -> c_int;
type SetMath = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;

const H2D: c_int = 1;
const D2H: c_int = 2;
const OP_N: c_int = 0;
const OP_T: c_int = 1;
const CUDA_ERROR_MEMORY_ALLOCATION: c_int = 2;
/// cublasMath_t: CUBLAS_DEFAULT_MATH keeps fp32 GEMMs in fp32 (no TF32 unless asked for);
/// CUBLAS_TF32_TENSOR_OP_MATH lets them use TF32 tensor cores (BIOMEG_TF32=1).
const CUBLAS_DEFAULT_MATH: c_int = 0;
const CUBLAS_TF32_TENSOR_OP_MATH: c_int = 3;

/// Every symbol biomeg uses, resolved before any CUDA call so a missing one never leaves a
/// half-initialised handle behind.
struct Fns {
    device_count: IntOut,
    set_device: IntIn,
    malloc: Alloc,
    free: Free,
    malloc_host: Alloc,
    free_host: Free,
    memcpy: Memcpy,
    error_string: Option<ErrStr>,
    runtime_version: Option<IntOut>,
    driver_version: Option<IntOut>,
    create: Create,
    destroy: Free,
    set_math_mode: SetMath,
    sgemm: Sgemm,
}

impl Fns {
    /// SAFETY: the types above match the CUDA runtime and cuBLAS v2 C APIs.
    unsafe fn resolve(rt: &Library, bl: &Library) -> Result<Fns, String> {
        unsafe fn get<T: Copy>(lib: &Library, name: &str) -> Result<T, String> {
            let sym = lib.get::<T>(format!("{name}\0").as_bytes()).map_err(|e| format!("symbol {name} not found ({e})"))?;
            Ok(*sym)
        }
        Ok(Fns {
            device_count: get(rt, "cudaGetDeviceCount")?,
            set_device: get(rt, "cudaSetDevice")?,
            malloc: get(rt, "cudaMalloc")?,
            free: get(rt, "cudaFree")?,
            malloc_host: get(rt, "cudaMallocHost")?,
            free_host: get(rt, "cudaFreeHost")?,
            memcpy: get(rt, "cudaMemcpy")?,
            error_string: get(rt, "cudaGetErrorString").ok(),
            runtime_version: get(rt, "cudaRuntimeGetVersion").ok(),
            driver_version: get(rt, "cudaDriverGetVersion").ok(),
            create: get(bl, "cublasCreate_v2")?,
            destroy: get(bl, "cublasDestroy_v2")?,
            set_math_mode: get(bl, "cublasSetMathMode")?,
            sgemm: get(bl, "cublasSgemm_v2")?,
        })
    }

    fn cuda_err(&self, what: &str, rc: c_int) -> String {
        let text = self.error_string.map(|f| {
            // SAFETY: cudaGetErrorString returns a static NUL-terminated string (or null).
            let p = unsafe { f(rc) };
            if p.is_null() {
                String::new()
            } else {
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            }
        });
        match text {
            Some(t) if !t.is_empty() => format!("{what} failed: {t} (cudaError {rc})"),
            _ => format!("{what} failed: cudaError {rc}"),
        }
    }
}

fn cublas_err(what: &str, rc: c_int) -> String {
    let name = match rc {
        1 => "CUBLAS_STATUS_NOT_INITIALIZED",
        3 => "CUBLAS_STATUS_ALLOC_FAILED",
        7 => "CUBLAS_STATUS_INVALID_VALUE",
        8 => "CUBLAS_STATUS_ARCH_MISMATCH",
        11 => "CUBLAS_STATUS_MAPPING_ERROR",
        13 => "CUBLAS_STATUS_EXECUTION_FAILED",
        14 => "CUBLAS_STATUS_INTERNAL_ERROR",
        15 => "CUBLAS_STATUS_NOT_SUPPORTED",
        16 => "CUBLAS_STATUS_LICENSE_ERROR",
        _ => "unknown cublasStatus",
    };
    format!("{what} failed: {name} ({rc})")
}

/// A device (or pinned host) allocation that only grows.
#[derive(Clone, Copy)]
struct Buf {
    ptr: *mut c_void,
    bytes: usize,
}
const NO_BUF: Buf = Buf { ptr: std::ptr::null_mut(), bytes: 0 };

/// A weight kept on the device: valid while the WeightBuf's id, version, pointer and length match.
struct Cached {
    version: u64,
    host: usize,
    len: usize,
    buf: Buf,
}

/// Everything behind the handle's lock.
struct State {
    handle: *mut c_void,
    /// Pool slots: 0 = A, 1 = B (when not a cached weight), 2 = C.
    pool: [Buf; 3],
    /// Pinned staging for uploads and downloads; `None` after cudaMallocHost failed once
    /// (then copies go straight from pageable memory).
    stage: Option<Buf>,
    weights: HashMap<u64, Cached>,
}
// SAFETY: the raw pointers are CUDA handles/allocations, used only under the Mutex.
unsafe impl Send for State {}

/// Why a GEMM did not run on the GPU.
#[derive(Debug)]
pub enum GpuError {
    /// Shape or layout cuBLAS cannot take: run on the CPU, CUDA stays on.
    Unsupported(String),
    /// The library or device failed: run on the CPU and turn CUDA off.
    Failed(String),
}

pub(super) struct Shared {
    fns: Fns,
    state: Mutex<State>,
    device: c_int,
    pub libs: String,
    // Dropped last (fields drop in order, after `Drop for Shared` has freed the state).
    _cublas: Library,
    _cudart: Library,
}

/// A cuBLAS instance opened from explicit library paths.
pub struct Cuda(Arc<Shared>);

/// The CUDA instances holding a device copy of one `WeightBuf` (weak: an instance dropped first
/// has freed its copies already). Only these are touched when the weight is dropped, so dropping
/// a weight never delays the teardown of an unrelated instance.
#[derive(Default)]
pub struct Holders(Mutex<Vec<Weak<Shared>>>);

impl Holders {
    pub(super) fn add(&self, cuda: &Cuda) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !v.iter().any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&cuda.0))) {
            v.retain(|w| w.strong_count() > 0);
            v.push(Arc::downgrade(&cuda.0));
        }
    }

    /// Free the device copies of weight `id` (called from `WeightBuf::drop`).
    pub(super) fn evict(&mut self, id: u64) {
        let v = self.0.get_mut().unwrap_or_else(|e| e.into_inner());
        for s in v.drain(..).filter_map(|w| w.upgrade()) {
            if let Ok(mut st) = s.state.lock() {
                if let Some(c) = st.weights.remove(&id) {
                    s.set_device();
                    // SAFETY: the buffer came from cudaMalloc and is no longer referenced.
                    unsafe { (s.fns.free)(c.buf.ptr) };
                }
            }
        }
    }
}

pub struct OpenOptions {
    pub device: i32,
    pub tf32: bool,
}

impl Cuda {
    /// Open cudart and cuBLAS from these paths (or loader names), select the device, create a
    /// handle, set the math mode and run a self-test GEMM against the CPU.
    pub fn open(cudart: &str, cublas: &str, opts: &OpenOptions) -> Result<Cuda, String> {
        // SAFETY: loading a shared library runs its initialisers; these are CUDA's (or the stand-in's).
        let rt = unsafe { Library::new(cudart) }.map_err(|e| format!("cannot open {cudart}: {e}"))?;
        let bl = unsafe { Library::new(cublas) }.map_err(|e| format!("cannot open {cublas}: {e}"))?;
        // SAFETY: signatures match the C APIs.
        let fns = unsafe { Fns::resolve(&rt, &bl) }?;
        let mut n: c_int = 0;
        // SAFETY: plain C calls with valid out-pointers.
        let rc = unsafe { (fns.device_count)(&mut n) };
        if rc != 0 || n <= 0 {
            let mut drv: c_int = 0;
            let driver = match fns.driver_version.map(|f| unsafe { f(&mut drv) }) {
                Some(0) if drv > 0 => format!(", driver supports CUDA {}.{}", drv / 1000, drv % 1000 / 10),
                _ => String::new(),
            };
            return Err(format!("{} ({n} devices{driver})", fns.cuda_err("cudaGetDeviceCount", rc)));
        }
        if opts.device < 0 || opts.device >= n {
            return Err(format!("BIOMEG_CUDA_DEVICE={} but {n} device(s)", opts.device));
        }
        let rc = unsafe { (fns.set_device)(opts.device) };
        if rc != 0 {
            return Err(fns.cuda_err(&format!("cudaSetDevice({})", opts.device), rc));
        }
        let mut handle: *mut c_void = std::ptr::null_mut();
        let rc = unsafe { (fns.create)(&mut handle) };
        if rc != 0 {
            return Err(cublas_err("cublasCreate", rc));
        }
        let mut rv: c_int = 0;
        let version = match fns.runtime_version.map(|f| unsafe { f(&mut rv) }) {
            Some(0) => format!("CUDA runtime {}.{}, ", rv / 1000, rv % 1000 / 10),
            _ => String::new(),
        };
        let math = if opts.tf32 { "TF32 tensor-op math (BIOMEG_TF32=1)" } else { "fp32 math" };
        let shared = Shared {
            state: Mutex::new(State { handle, pool: [NO_BUF; 3], stage: Some(NO_BUF), weights: HashMap::new() }),
            device: opts.device,
            libs: format!("{cudart} + {cublas}; {version}device {} of {n}; {math}", opts.device),
            fns,
            _cublas: bl,
            _cudart: rt,
        };
        // From here on the handle is owned by `shared`: any error below drops it (Drop destroys it).
        let mode = if opts.tf32 { CUBLAS_TF32_TENSOR_OP_MATH } else { CUBLAS_DEFAULT_MATH };
        let rc = unsafe { (shared.fns.set_math_mode)(handle, mode) };
        if rc != 0 {
            return Err(cublas_err("cublasSetMathMode", rc));
        }
        let cuda = Cuda(Arc::new(shared));
        cuda.self_test().map_err(|e| format!("self-test GEMM: {e}"))?;
        Ok(cuda)
    }

    pub fn libs(&self) -> &str {
        &self.0.libs
    }

    /// Small non-square GEMMs in every layout the dispatcher uses, compared exactly with the CPU
    /// (integer-valued inputs, so TF32 gives the same answer).
    fn self_test(&self) -> Result<(), String> {
        let (m, n, k) = (5usize, 3usize, 4usize);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 3) % 7) as f32 - 3.0).collect();
        let c0: Vec<f32> = (0..m * n).map(|i| (i % 3) as f32).collect();
        // A row-major or transposed ([k, m] storage), B row-major ([k, n]) or transposed ([n, k]).
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        for (ta, tb, acc) in [(false, false, false), (false, true, false), (true, false, true), (true, true, true)] {
            let am = if ta { MatRef::transposed(&at, m) } else { MatRef::row_major(&a, k) };
            let bm = if tb { MatRef::transposed(&bt, k) } else { MatRef::row_major(&b, n) };
            let mut want = crate::kernels::gemm::gemm_reference(m, n, k, am, bm);
            if acc {
                want.iter_mut().zip(&c0).for_each(|(w, c)| *w += c);
            }
            let mut got = c0.clone();
            self.sgemm(m, n, k, am, bm, None, &mut got, n, acc).map_err(|e| match e {
                GpuError::Unsupported(s) | GpuError::Failed(s) => s,
            })?;
            if got != want {
                return Err(format!(
                    "wrong result ({m}x{k} * {k}x{n}, A {}, B {}): got {:?}, expected {:?}",
                    if ta { "transposed" } else { "row-major" },
                    if tb { "transposed" } else { "row-major" },
                    &got[..4],
                    &want[..4]
                ));
            }
        }
        Ok(())
    }

    /// Row-major C[m,n] (+)= A[m,k] B[k,n] on the GPU. `weight` = (id, version) when B views a
    /// `WeightBuf` whose device copy may be kept. cuBLAS is column-major: a row-major X with row
    /// stride ld is X^T column-major with the same ld, so we compute C^T = B^T A^T with
    /// M = n, N = m, K = k.
    #[allow(clippy::too_many_arguments)]
    pub fn sgemm(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: MatRef,
        b: MatRef,
        weight: Option<(u64, u64)>,
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) -> Result<(), GpuError> {
        let plan = Plan::new(m, n, k, a, b, c.len(), ldc).map_err(GpuError::Unsupported)?;
        let s = &*self.0;
        let mut guard = s.state.lock().map_err(|_| GpuError::Failed("cuBLAS state poisoned by a panic".into()))?;
        let st = &mut *guard;
        s.set_device_checked().map_err(GpuError::Failed)?;
        s.gemm_locked(st, &plan, m, n, k, a, b, weight, c, ldc, accumulate).map_err(GpuError::Failed)
    }

    /// Free the pool, staging and weight cache (after a failure, so memory goes back).
    pub fn release(&self) {
        if let Ok(mut st) = self.0.state.lock() {
            self.0.free_all(&mut st);
        }
    }

    /// Device bytes held for cached weights (tests, `info`).
    pub fn cached_weight_bytes(&self) -> usize {
        self.0.state.lock().map(|st| st.weights.values().map(|c| c.buf.bytes).sum()).unwrap_or(0)
    }
}

/// Layout of one GEMM in cuBLAS terms (see `Cuda::sgemm`), with the element extents to move.
struct Plan {
    op_a: c_int,
    lda: usize,
    ext_a: usize,
    op_b: c_int,
    ldb: usize,
    ext_b: usize,
    ext_c: usize,
}

impl Plan {
    fn new(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, c_len: usize, ldc: usize) -> Result<Plan, String> {
        if m == 0 || n == 0 || k == 0 {
            return Err("empty GEMM (handled on the CPU, never with ld = 0)".into());
        }
        // A [m,k] row-major (rs >= k, cs = 1) is column-major k x m: op N, ld = rs.
        // A transposed (rs = 1, cs >= m) is column-major m x k: op T, ld = cs.
        let (op_a, lda, ext_a) = if a.cs == 1 && a.rs >= k.max(1) {
            (OP_N, a.rs, (m - 1) * a.rs + k)
        } else if a.rs == 1 && a.cs >= m {
            (OP_T, a.cs, (k - 1) * a.cs + m)
        } else {
            return Err(format!("A layout (row stride {}, column stride {}) is not row-major or transposed", a.rs, a.cs));
        };
        // B [k,n] row-major (rs >= n, cs = 1) is column-major n x k: op N, ld = rs.
        // B transposed (rs = 1, cs >= k), e.g. a Linear weight [n,k]: column-major k x n: op T.
        let (op_b, ldb, ext_b) = if b.cs == 1 && b.rs >= n {
            (OP_N, b.rs, (k - 1) * b.rs + n)
        } else if b.rs == 1 && b.cs >= k {
            (OP_T, b.cs, (n - 1) * b.cs + k)
        } else {
            return Err(format!("B layout (row stride {}, column stride {}) is not row-major or transposed", b.rs, b.cs));
        };
        let ext_c = (m - 1) * ldc + n;
        if ldc < n || a.data.len() < ext_a || b.data.len() < ext_b || c_len < ext_c {
            return Err("operand buffers are smaller than their shapes".into());
        }
        let max = i32::MAX as usize;
        if [m, n, k, lda, ldb, ldc, ext_a, ext_b, ext_c].iter().any(|&v| v > max) {
            return Err("sizes beyond cuBLAS's 32-bit range".into());
        }
        Ok(Plan { op_a, lda, ext_a, op_b, ldb, ext_b, ext_c })
    }
}

/// Host copies of at least this many bytes are split across the kernel threads.
const PAR_COPY_MIN_BYTES: usize = 1 << 20;

fn par_copy(dst: &mut [f32], src: &[f32]) {
    debug_assert_eq!(dst.len(), src.len());
    let bytes = std::mem::size_of_val(src);
    let threads = crate::kernels::threads();
    if bytes < PAR_COPY_MIN_BYTES || threads <= 1 {
        dst.copy_from_slice(src);
        return;
    }
    let per = src.len().div_ceil(threads);
    std::thread::scope(|sc| {
        for (d, s) in dst.chunks_mut(per).zip(src.chunks(per)) {
            sc.spawn(move || d.copy_from_slice(s));
        }
    });
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    fn gemm_locked(
        &self,
        st: &mut State,
        plan: &Plan,
        m: usize,
        n: usize,
        k: usize,
        a: MatRef,
        b: MatRef,
        weight: Option<(u64, u64)>,
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) -> Result<(), String> {
        let (s, f) = (self, &self.fns);
        let bdata = &b.data[..plan.ext_b];
        let db = match weight {
            Some((id, version)) => s.cached_weight(st, id, version, bdata)?,
            None => {
                let d = s.pool(st, 1, plan.ext_b * 4)?;
                s.upload(st, d, bdata)?;
                d
            }
        };
        let da = s.pool(st, 0, plan.ext_a * 4)?;
        s.upload(st, da, &a.data[..plan.ext_a])?;
        let dc = s.pool(st, 2, plan.ext_c * 4)?;
        if accumulate {
            s.upload(st, dc, &c[..plan.ext_c])?;
        }
        let (alpha, beta) = (1f32, if accumulate { 1f32 } else { 0f32 });
        // SAFETY: every operand lies inside its device buffer (extents checked by Plan); dims fit in i32.
        let rc = unsafe {
            (f.sgemm)(
                st.handle,
                plan.op_b,
                plan.op_a,
                n as c_int,
                m as c_int,
                k as c_int,
                &alpha,
                db as *const f32,
                plan.ldb as c_int,
                da as *const f32,
                plan.lda as c_int,
                &beta,
                dc as *mut f32,
                ldc as c_int,
            )
        };
        if rc != 0 {
            return Err(cublas_err("cublasSgemm", rc));
        }
        s.download(st, c, dc, plan.ext_c, m, n, ldc)
    }

    fn set_device(&self) {
        // SAFETY: plain C call; the device index was validated at open.
        unsafe { (self.fns.set_device)(self.device) };
    }
    /// The CUDA runtime's current device is per host thread: select ours on every call.
    fn set_device_checked(&self) -> Result<(), String> {
        let rc = unsafe { (self.fns.set_device)(self.device) };
        if rc != 0 {
            return Err(self.fns.cuda_err("cudaSetDevice", rc));
        }
        Ok(())
    }

    /// cudaMalloc; on out-of-memory, drop the weight cache and try once more.
    fn malloc(&self, st: &mut State, bytes: usize) -> Result<*mut c_void, String> {
        let mut p: *mut c_void = std::ptr::null_mut();
        // SAFETY: p receives a device allocation.
        let mut rc = unsafe { (self.fns.malloc)(&mut p, bytes.max(4)) };
        if rc == CUDA_ERROR_MEMORY_ALLOCATION && !st.weights.is_empty() {
            for (_, c) in st.weights.drain() {
                unsafe { (self.fns.free)(c.buf.ptr) };
            }
            rc = unsafe { (self.fns.malloc)(&mut p, bytes.max(4)) };
        }
        if rc != 0 {
            return Err(self.fns.cuda_err(&format!("cudaMalloc({bytes} bytes)"), rc));
        }
        Ok(p)
    }

    /// Pool slot `i` with room for `bytes`, grown (never shrunk) as needed.
    fn pool(&self, st: &mut State, i: usize, bytes: usize) -> Result<*mut c_void, String> {
        let old = st.pool[i];
        if old.bytes < bytes {
            if !old.ptr.is_null() {
                // SAFETY: the pool buffer came from cudaMalloc and nothing refers to it now.
                unsafe { (self.fns.free)(old.ptr) };
                st.pool[i] = NO_BUF;
            }
            // Grow by at least 1/4 so slowly growing shapes do not reallocate on every call.
            let want = bytes.max(old.bytes + old.bytes / 4);
            let (ptr, got) = match self.malloc(st, want) {
                Ok(p) => (p, want),
                Err(_) if want > bytes => (self.malloc(st, bytes)?, bytes),
                Err(e) => return Err(e),
            };
            st.pool[i] = Buf { ptr, bytes: got };
        }
        Ok(st.pool[i].ptr)
    }

    /// The device copy of weight `id` at `version`, uploading it when missing or stale.
    fn cached_weight(&self, st: &mut State, id: u64, version: u64, host: &[f32]) -> Result<*mut c_void, String> {
        let (hp, len) = (host.as_ptr() as usize, host.len());
        if let Some(c) = st.weights.get(&id) {
            if c.version == version && c.host == hp && c.len == len {
                return Ok(c.buf.ptr);
            }
        }
        let bytes = len * 4;
        let buf = match st.weights.remove(&id) {
            Some(c) if c.buf.bytes >= bytes => c.buf,
            Some(c) => {
                unsafe { (self.fns.free)(c.buf.ptr) };
                Buf { ptr: self.malloc(st, bytes)?, bytes }
            }
            None => Buf { ptr: self.malloc(st, bytes)?, bytes },
        };
        if let Err(e) = self.upload(st, buf.ptr, host) {
            unsafe { (self.fns.free)(buf.ptr) };
            return Err(e);
        }
        st.weights.insert(id, Cached { version, host: hp, len, buf });
        Ok(buf.ptr)
    }

    /// Pinned staging with room for `bytes`, or None (pageable copies) when it cannot be had.
    fn stage(&self, st: &mut State, bytes: usize) -> Option<*mut f32> {
        let cur = st.stage?;
        if cur.bytes < bytes {
            if !cur.ptr.is_null() {
                unsafe { (self.fns.free_host)(cur.ptr) };
            }
            let mut p: *mut c_void = std::ptr::null_mut();
            let want = bytes.max(cur.bytes + cur.bytes / 4);
            // SAFETY: p receives a pinned host allocation.
            if unsafe { (self.fns.malloc_host)(&mut p, want) } != 0 || p.is_null() {
                st.stage = None;
                return None;
            }
            st.stage = Some(Buf { ptr: p, bytes: want });
        }
        st.stage.map(|b| b.ptr as *mut f32)
    }

    /// Host -> device through the pinned staging buffer (parallel host copy, then one DMA).
    fn upload(&self, st: &mut State, dst: *mut c_void, src: &[f32]) -> Result<(), String> {
        let bytes = std::mem::size_of_val(src);
        let from = match self.stage(st, bytes) {
            Some(p) => {
                // SAFETY: the staging buffer holds at least `bytes`.
                par_copy(unsafe { std::slice::from_raw_parts_mut(p, src.len()) }, src);
                p as *const c_void
            }
            None => src.as_ptr() as *const c_void,
        };
        // SAFETY: dst holds at least `bytes` (pool/cache sized by the caller). From pinned
        // memory cudaMemcpy returns after the copy, so the stage may be reused at once.
        let rc = unsafe { (self.fns.memcpy)(dst, from, bytes, H2D) };
        if rc != 0 {
            return Err(self.fns.cuda_err(&format!("cudaMemcpy to device ({bytes} bytes)"), rc));
        }
        Ok(())
    }

    /// Device C (extent `ext` elements, row stride ldc) -> host rows of `n` values. Goes through
    /// the staging buffer (or a temporary) so C is written only once the copy has succeeded (a
    /// failed call then falls back to the CPU on an untouched C), and the gaps between rows of a
    /// strided C keep their host values.
    #[allow(clippy::too_many_arguments)]
    fn download(&self, st: &mut State, c: &mut [f32], src: *mut c_void, ext: usize, m: usize, n: usize, ldc: usize) -> Result<(), String> {
        let bytes = ext * 4;
        let mut tmp = Vec::new();
        let into = match self.stage(st, bytes) {
            Some(p) => p,
            None => {
                tmp.resize(ext, 0f32);
                tmp.as_mut_ptr()
            }
        };
        // SAFETY: `into` holds `ext` floats; src holds the device C of that extent.
        let rc = unsafe { (self.fns.memcpy)(into as *mut c_void, src, bytes, D2H) };
        if rc != 0 {
            return Err(self.fns.cuda_err(&format!("cudaMemcpy to host ({bytes} bytes)"), rc));
        }
        // SAFETY: the copy above filled `ext` floats.
        let staged = unsafe { std::slice::from_raw_parts(into as *const f32, ext) };
        if ldc == n {
            par_copy(&mut c[..ext], staged);
        } else {
            for i in 0..m {
                c[i * ldc..i * ldc + n].copy_from_slice(&staged[i * ldc..i * ldc + n]);
            }
        }
        Ok(())
    }

    fn free_all(&self, st: &mut State) {
        self.set_device();
        // SAFETY: every pointer below came from the matching allocator and is dropped from the state.
        unsafe {
            for b in st.pool.iter_mut() {
                if !b.ptr.is_null() {
                    (self.fns.free)(b.ptr);
                }
                *b = NO_BUF;
            }
            if let Some(b) = st.stage {
                if !b.ptr.is_null() {
                    (self.fns.free_host)(b.ptr);
                }
                st.stage = Some(NO_BUF);
            }
            for (_, c) in st.weights.drain() {
                (self.fns.free)(c.buf.ptr);
            }
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        let mut st = std::mem::replace(st, State { handle: std::ptr::null_mut(), pool: [NO_BUF; 3], stage: None, weights: HashMap::new() });
        self.free_all(&mut st);
        if !st.handle.is_null() {
            // SAFETY: the handle came from cublasCreate and is used by nobody else now.
            unsafe { (self.fns.destroy)(st.handle) };
        }
    }
}
