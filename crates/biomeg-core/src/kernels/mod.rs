//! Compute kernels: GEMM (with cuBLAS dispatch), int8 GEMM, fused attention, LayerNorm, GELU, softmax.
//! Each fast kernel has a plain reference version that tests compare it with.

pub mod attention;
pub mod bench;
pub mod dispatch;
pub mod fused;
pub mod gemm;
pub mod int8;
pub mod ops;
pub mod packed;
pub mod peak;
#[cfg(not(target_arch = "wasm32"))]
pub mod pool;
pub mod profile;
pub mod simd;

use std::sync::atomic::{AtomicUsize, Ordering};

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Threads used by parallel kernels: set_threads(n), else BIOMEG_THREADS, else every core.
/// Always 1 on wasm (no shared-memory threads there).
pub fn threads() -> usize {
    if cfg!(target_arch = "wasm32") {
        return 1;
    }
    match THREADS.load(Ordering::Relaxed) {
        0 => {
            let n = std::env::var("BIOMEG_THREADS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
            THREADS.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// Set the thread count for parallel kernels (0 = back to the default).
pub fn set_threads(n: usize) {
    THREADS.store(n, Ordering::Relaxed);
}

/// Run `f(i)` for i in 0..n, spread over the kernel threads in contiguous chunks.
pub fn par_for<F: Fn(usize) + Sync>(n: usize, f: F) {
    let t = threads().min(n);
    if t <= 1 {
        (0..n).for_each(f);
        return;
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let t0 = profile::enabled().then(profile::now_ms).flatten();
        let per = n.div_ceil(t);
        let own = pool::run(t, &|w| (w * per..((w + 1) * per).min(n)).for_each(&f));
        if let (Some(t0), Some(t1)) = (t0, profile::now_ms()) {
            profile::add(profile::Op::ThreadHandoff, t1 - t0 - own);
        }
    }
    #[cfg(target_arch = "wasm32")]
    (0..n).for_each(f);
}

/// Run `f(start, chunk)` over consecutive `chunk`-long pieces of `x` (the last may be shorter),
/// spread over the kernel threads. The pieces do not depend on the thread count.
pub fn par_chunks_mut<F: Fn(usize, &mut [f32]) + Sync>(x: &mut [f32], chunk: usize, f: F) {
    let n = x.len();
    let p = SharedMut(x.as_mut_ptr());
    par_for(n.div_ceil(chunk), |c| {
        let start = c * chunk;
        // SAFETY: the pieces are disjoint.
        f(start, unsafe { p.slice(start, chunk.min(n - start)) })
    });
}

/// A raw pointer that parallel loops use to write disjoint parts of one buffer.
#[derive(Clone, Copy)]
pub struct SharedMut(pub *mut f32);
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}
impl SharedMut {
    /// # Safety
    /// The caller guarantees no two threads touch overlapping ranges.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, start: usize, len: usize) -> &mut [f32] {
        std::slice::from_raw_parts_mut(self.0.add(start), len)
    }

    /// The pointer `n` elements on (a method, so closures capture the Sync wrapper, not the field).
    /// # Safety
    /// As `slice`: the caller keeps the ranges written through it disjoint.
    pub unsafe fn add(&self, n: usize) -> SharedMut {
        SharedMut(self.0.add(n))
    }
}

/// Compile a kernel body three times (portable, AVX2+FMA, AVX-512) and pick at run time by
/// `simd::detect()` (so BIOMEG_SIMD=avx2 pins the element-wise kernels too). Element-wise
/// bodies give the same bits at every width: Rust neither reorders float sums nor fuses a*b+c.
macro_rules! simd_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn imp($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? { imp($($arg),*) }
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? { imp($($arg),*) }
                match $crate::kernels::simd::detect() {
                    // SAFETY: detect() found these features on this CPU.
                    $crate::kernels::simd::Isa::Avx512 => return unsafe { avx512($($arg),*) },
                    $crate::kernels::simd::Isa::Avx2 => return unsafe { avx2($($arg),*) },
                    _ => {}
                }
            }
            imp($($arg),*)
        }
    };
}
pub(crate) use simd_dispatch;
