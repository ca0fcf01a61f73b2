//! GEMM dispatch: cuBLAS when a CUDA device and libcublas are found at run time, else the CPU.
//! CUDA libraries are opened with dlopen on first use (the build needs no CUDA); nothing is
//! called before presence is confirmed, and any failure falls back to the CPU with the reason
//! kept for `info`.

use super::gemm::{gemm, MatRef};

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
    /// Library paths when found; otherwise why not.
    pub detail: String,
}

/// Problems smaller than this many multiply-adds stay on the CPU (transfers would dominate).
const CUDA_MIN_MACS: usize = 1 << 22;

/// C (+)= A * B on the best device; returns the device used.
#[allow(clippy::too_many_arguments)]
pub fn matmul(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, c: &mut [f32], ldc: usize, accumulate: bool) -> GemmDevice {
    #[cfg(not(target_arch = "wasm32"))]
    if m * n * k >= CUDA_MIN_MACS && prefer_cuda() {
        if let Ok(cuda) = cuda::get() {
            if cuda.sgemm(m, n, k, a, b, c, ldc, accumulate).is_ok() {
                return GemmDevice::Cuda;
            }
        }
    }
    let _ = CUDA_MIN_MACS;
    gemm(m, n, k, a, b, c, ldc, accumulate);
    GemmDevice::Cpu
}

/// As `matmul`, but on the device asked for (tests compare the two); errors if CUDA is absent.
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
        GemmDevice::Cuda => cuda::get()?.sgemm(m, n, k, a, b, c, ldc, accumulate),
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

/// BIOMEG_DEVICE=cpu turns the GPU path off.
#[cfg(not(target_arch = "wasm32"))]
fn prefer_cuda() -> bool {
    !matches!(std::env::var("BIOMEG_DEVICE").as_deref(), Ok("cpu"))
}

pub fn cuda_status() -> CudaStatus {
    #[cfg(not(target_arch = "wasm32"))]
    return match cuda::get() {
        Ok(c) => CudaStatus { available: true, detail: c.libs.clone() },
        Err(e) => CudaStatus { available: false, detail: e.clone() },
    };
    #[cfg(target_arch = "wasm32")]
    CudaStatus { available: false, detail: "not available on wasm".into() }
}

#[cfg(not(target_arch = "wasm32"))]
mod cuda {
    use super::MatRef;
    use libloading::{Library, Symbol};
    use std::ffi::c_void;
    use std::os::raw::{c_int, c_void as void};
    use std::sync::{Mutex, OnceLock};

    type CudaGetDeviceCount = unsafe extern "C" fn(*mut c_int) -> c_int;
    type CudaMalloc = unsafe extern "C" fn(*mut *mut void, usize) -> c_int;
    type CudaFree = unsafe extern "C" fn(*mut void) -> c_int;
    type CudaMemcpy = unsafe extern "C" fn(*mut void, *const void, usize, c_int) -> c_int;
    type CublasCreate = unsafe extern "C" fn(*mut *mut c_void) -> c_int;
    #[allow(clippy::type_complexity)]
    type CublasSgemm = unsafe extern "C" fn(
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

    const H2D: c_int = 1;
    const D2H: c_int = 2;
    const OP_N: c_int = 0;
    const OP_T: c_int = 1;

    pub struct Cuda {
        _cudart: Library,
        _cublas: Library,
        malloc: CudaMalloc,
        free: CudaFree,
        memcpy: CudaMemcpy,
        sgemm_fn: CublasSgemm,
        handle: Mutex<usize>,
        pub libs: String,
    }

    static CUDA: OnceLock<Result<Cuda, String>> = OnceLock::new();

    pub fn get() -> Result<&'static Cuda, &'static String> {
        CUDA.get_or_init(probe).as_ref()
    }

    fn open(env: &str, names: &[&str]) -> Result<(Library, String), String> {
        let mut candidates: Vec<String> = std::env::var(env).ok().into_iter().collect();
        candidates.extend(names.iter().map(|s| s.to_string()));
        let mut errs = Vec::new();
        for name in &candidates {
            // SAFETY: loading a shared library runs its initialisers; these are CUDA's own.
            match unsafe { Library::new(name) } {
                Ok(lib) => return Ok((lib, name.clone())),
                Err(e) => errs.push(format!("{name}: {e}")),
            }
        }
        Err(format!("no {} found ({})", names[0], errs.join("; ")))
    }

    fn probe() -> Result<Cuda, String> {
        if matches!(std::env::var("BIOMEG_DEVICE").as_deref(), Ok("cpu")) {
            return Err("disabled by BIOMEG_DEVICE=cpu".into());
        }
        let (cudart, rt_name) = open("BIOMEG_CUDART", &["libcudart.so", "libcudart.so.13", "libcudart.so.12"])?;
        let (cublas, bl_name) = open("BIOMEG_CUBLAS", &["libcublas.so", "libcublas.so.13", "libcublas.so.12"])?;
        // SAFETY: symbol types match the CUDA runtime / cuBLAS v2 C API.
        unsafe {
            let sym = |lib: &Library, n: &[u8]| -> Result<*const (), String> {
                let s: Symbol<*const ()> = lib.get(n).map_err(|e| format!("{}: {e}", String::from_utf8_lossy(n)))?;
                Ok(*s)
            };
            let count: CudaGetDeviceCount = std::mem::transmute(sym(&cudart, b"cudaGetDeviceCount\0")?);
            let mut n: c_int = 0;
            let rc = count(&mut n);
            if rc != 0 || n == 0 {
                return Err(format!("no CUDA device (cudaGetDeviceCount returned {rc}, {n} devices)"));
            }
            let create: CublasCreate = std::mem::transmute(sym(&cublas, b"cublasCreate_v2\0")?);
            let mut handle: *mut c_void = std::ptr::null_mut();
            let rc = create(&mut handle);
            if rc != 0 {
                return Err(format!("cublasCreate failed with status {rc}"));
            }
            Ok(Cuda {
                malloc: std::mem::transmute(sym(&cudart, b"cudaMalloc\0")?),
                free: std::mem::transmute(sym(&cudart, b"cudaFree\0")?),
                memcpy: std::mem::transmute(sym(&cudart, b"cudaMemcpy\0")?),
                sgemm_fn: std::mem::transmute(sym(&cublas, b"cublasSgemm_v2\0")?),
                handle: Mutex::new(handle as usize),
                libs: format!("{rt_name}, {bl_name}, {n} device(s)"),
                _cudart: cudart,
                _cublas: cublas,
            })
        }
    }

    /// Device buffer freed on drop.
    struct DevBuf<'a>(&'a Cuda, *mut void);
    impl Drop for DevBuf<'_> {
        fn drop(&mut self) {
            // SAFETY: pointer came from cudaMalloc.
            unsafe { (self.0.free)(self.1) };
        }
    }

    impl Cuda {
        fn upload(&self, host: &[f32]) -> Result<DevBuf<'_>, String> {
            let mut p: *mut void = std::ptr::null_mut();
            let bytes = std::mem::size_of_val(host);
            // SAFETY: p receives a device allocation of `bytes`; the copy reads exactly `bytes`.
            unsafe {
                let rc = (self.malloc)(&mut p, bytes.max(4));
                if rc != 0 {
                    return Err(format!("cudaMalloc({bytes}) failed: {rc}"));
                }
                let buf = DevBuf(self, p);
                let rc = (self.memcpy)(p, host.as_ptr() as *const void, bytes, H2D);
                if rc != 0 {
                    return Err(format!("cudaMemcpy to device failed: {rc}"));
                }
                Ok(buf)
            }
        }

        /// Row-major C[m,n] (+)= A[m,k] B[k,n] via column-major cuBLAS computing C^T = B^T A^T.
        #[allow(clippy::too_many_arguments)]
        pub fn sgemm(
            &self,
            m: usize,
            n: usize,
            k: usize,
            a: MatRef,
            b: MatRef,
            c: &mut [f32],
            ldc: usize,
            accumulate: bool,
        ) -> Result<(), String> {
            if a.cs != 1 || a.rs != k {
                return Err("cuBLAS path needs a contiguous row-major A".into());
            }
            let (op_b, ldb) = match (b.rs, b.cs) {
                (rs, 1) if rs == n => (OP_N, n),
                (1, cs) if cs == k => (OP_T, k),
                _ => return Err("cuBLAS path needs B row-major or a transposed row-major weight".into()),
            };
            let (ia, ib) = (i32::try_from(m * k), i32::try_from(k * n));
            if ia.is_err() || ib.is_err() || ldc != n {
                return Err("cuBLAS path: sizes out of range".into());
            }
            let da = self.upload(&a.data[..m * k])?;
            let db = self.upload(&b.data[..k * n])?;
            let dc = self.upload(&c[..m * n])?;
            let (alpha, beta) = (1f32, if accumulate { 1f32 } else { 0f32 });
            let handle = self.handle.lock().map_err(|_| "cuBLAS handle poisoned".to_string())?;
            // SAFETY: device buffers sized above; dims fit in i32.
            unsafe {
                let rc = (self.sgemm_fn)(
                    *handle as *mut c_void,
                    op_b,
                    OP_N,
                    n as c_int,
                    m as c_int,
                    k as c_int,
                    &alpha,
                    db.1 as *const f32,
                    ldb as c_int,
                    da.1 as *const f32,
                    k as c_int,
                    &beta,
                    dc.1 as *mut f32,
                    n as c_int,
                );
                if rc != 0 {
                    return Err(format!("cublasSgemm failed with status {rc}"));
                }
                let rc = (self.memcpy)(c.as_mut_ptr() as *mut void, dc.1, m * n * 4, D2H);
                if rc != 0 {
                    return Err(format!("cudaMemcpy to host failed: {rc}"));
                }
            }
            Ok(())
        }
    }
}
