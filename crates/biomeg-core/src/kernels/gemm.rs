//! Single-precision GEMM, BLIS-style: B and A are packed into panels that a register-tiled
//! micro-kernel streams through. The micro-kernel is chosen at run time from the CPU's features
//! (AVX-512, AVX2+FMA, portable), simd128 on wasm. Native builds split the longer of M and N
//! across threads; every thread packs its own panels, so no synchronisation happens inside a call.
//!
//! C[m,n] (+)= sum_p A[i,p] * B[p,j], where A and B are strided views (so a transposed
//! weight matrix W[n,k] is just B with row stride 1 and column stride k).

use super::packed::{pack_panels, panel_gemm, Epilogue};
use super::profile::{self, Op};
use super::simd::{self, Isa};
use super::SharedMut;

/// A strided read-only matrix view: element (r, c) lives at `data[r * rs + c * cs]`.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// Row-major matrix with `cols` columns.
    pub fn row_major(data: &'a [f32], cols: usize) -> Self {
        MatRef { data, rs: cols, cs: 1 }
    }
    /// The transpose of a row-major matrix with `cols` columns (e.g. a Linear weight W[out,in]
    /// viewed as W^T[in,out]).
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        MatRef { data, rs: 1, cs: cols }
    }
    #[inline(always)]
    fn at(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.rs + c * self.cs]
    }
}

const KC: usize = 768;
const NC: usize = 2048;

/// Work per call below which threads are not worth spawning (FLOPs).
const PARALLEL_MIN_FLOPS: usize = 4 << 20;

/// C (m x n, row stride ldc) = A (m x k) * B (k x n), or += when `accumulate`.
pub fn gemm(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, c: &mut [f32], ldc: usize, accumulate: bool) {
    gemm_with(simd::detect(), super::threads(), m, n, k, a, b, c, ldc, accumulate)
}

/// As `gemm`, with the micro-kernel family and thread count given (benchmarks and tests).
#[allow(clippy::too_many_arguments)]
pub fn gemm_with(
    isa: Isa,
    threads: usize,
    m: usize,
    n: usize,
    k: usize,
    a: MatRef,
    b: MatRef,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(ldc >= n && c.len() >= (m - 1) * ldc + n, "gemm: C buffer too small");
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                c[i * ldc..i * ldc + n].fill(0.0);
            }
        }
        return;
    }
    let threads = if 2 * m * n * k < PARALLEL_MIN_FLOPS { 1 } else { threads.max(1) };
    if threads == 1 || cfg!(target_arch = "wasm32") {
        gemm_serial(isa, m, n, k, a, b, SharedMut(c.as_mut_ptr()), ldc, accumulate, 0, n, true);
        return;
    }
    let t0 = profile::enabled().then(profile::now_ms).flatten();
    #[allow(unused_mut, unused_assignments)]
    let mut own = 0.0;
    // Split the longer of M and N: every thread packs the whole of the other operand, so the
    // duplicated packing is the smaller one (activations are usually much taller than weights).
    // Part 0 runs on this thread (its packing is profiled), the others on pool threads.
    #[cfg(not(target_arch = "wasm32"))]
    let (cptr, mr, nr) = (SharedMut(c.as_mut_ptr()), isa.mr(), isa.nr());
    #[cfg(not(target_arch = "wasm32"))]
    if m > n {
        let per = m.div_ceil(mr).div_ceil(threads) * mr;
        own = super::pool::run(threads, &|t| {
            let (i0, i1) = ((t * per).min(m), ((t + 1) * per).min(m));
            if i0 < i1 {
                let a_rows = MatRef { data: &a.data[i0 * a.rs..], ..a };
                // SAFETY: rows i0..i1 of C belong to this part alone.
                let c_rows = unsafe { cptr.add(i0 * ldc) };
                gemm_serial(isa, i1 - i0, n, k, a_rows, b, c_rows, ldc, accumulate, 0, n, t == 0);
            }
        });
    } else {
        // Column ranges per thread, multiples of NR so panels stay whole.
        let per = n.div_ceil(nr).div_ceil(threads) * nr;
        own = super::pool::run(threads, &|t| {
            let (j0, j1) = ((t * per).min(n), ((t + 1) * per).min(n));
            if j0 < j1 {
                gemm_serial(isa, m, n, k, a, b, cptr, ldc, accumulate, j0, j1, t == 0);
            }
        });
    }
    if let (Some(t0), Some(t1)) = (t0, profile::now_ms()) {
        profile::add(Op::ThreadHandoff, t1 - t0 - own);
    }
}

/// Milliseconds `f` took while profiling (0 otherwise).
pub(crate) fn timed(f: impl FnOnce()) -> f64 {
    let t0 = if profile::enabled() { profile::now_ms() } else { None };
    f();
    match (t0, profile::now_ms()) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    }
}

/// Columns j_begin..j_end of C on this thread: each (column block, K block) of B is packed into
/// micro-kernel panels here, then `packed::panel_gemm` sweeps A over them (reading A's rows in
/// place where the ISA can, packing them otherwise).
#[allow(clippy::too_many_arguments)]
fn gemm_serial(
    isa: Isa,
    m: usize,
    _n: usize,
    k: usize,
    a: MatRef,
    b: MatRef,
    c: SharedMut,
    ldc: usize,
    accumulate: bool,
    j_begin: usize,
    j_end: usize,
    caller: bool,
) {
    let nr = isa.nr();
    // Packing B is recorded on the calling thread only (the workers pack alike meanwhile);
    // panel_gemm records its own packing of A.
    let prof = caller && profile::enabled();
    let mut packing = 0.0;
    // Sized to the problem: attention-sized calls come many times.
    let mut bpack = Vec::with_capacity(NC.min((j_end - j_begin).next_multiple_of(nr)) * KC.min(k));
    let mut jc = j_begin;
    while jc < j_end {
        let nc = NC.min(j_end - jc);
        let mut pc = 0;
        while pc < k {
            let kc = KC.min(k - pc);
            let t = prof.then(profile::now_ms).flatten();
            let b_block = MatRef { data: &b.data[pc * b.rs + jc * b.cs..], ..b };
            let panels = pack_panels(isa, b_block, kc, nc, &mut bpack);
            if let (Some(t0), Some(t1)) = (t, profile::now_ms()) {
                packing += t1 - t0;
            }
            let a_block = MatRef { data: &a.data[pc * a.cs..], ..a };
            // SAFETY: columns jc.. of C belong to this part.
            let cj = unsafe { c.add(jc) };
            panel_gemm(
                isa,
                a_block,
                (0, m),
                panels,
                (0, panels.count(isa)),
                (0, kc),
                cj,
                ldc,
                accumulate || pc > 0,
                Epilogue::None,
                caller,
            );
            pc += kc;
        }
        jc += nc;
    }
    if prof {
        profile::add(Op::GemmPacking, packing);
    }
}

/// Pack A[i0..i0+mc, p0..p0+kc] into MR-row panels: panel r holds, for each p, MR consecutive
/// values (zero-padded past the last row).
pub(crate) fn pack_a(a: MatRef, i0: usize, mc: usize, p0: usize, kc: usize, mr: usize, out: &mut [f32]) {
    for (pi, ir) in (0..mc).step_by(mr).enumerate() {
        let panel = &mut out[pi * mr * kc..(pi + 1) * mr * kc];
        let rows = mr.min(mc - ir);
        if a.cs == 1 && rows == mr {
            pack_panel(&a.data[(i0 + ir) * a.rs + p0..], a.rs, true, mr, kc, panel);
        } else if a.rs == 1 && rows == mr {
            // Transposed A (e.g. dY^T in a weight gradient): the MR rows of one column are contiguous.
            pack_panel(&a.data[p0 * a.cs + i0 + ir..], a.cs, false, mr, kc, panel);
        } else {
            for p in 0..kc {
                for r in 0..mr {
                    panel[p * mr + r] = if r < rows { a.at(i0 + ir + r, p0 + p) } else { 0.0 };
                }
            }
        }
    }
}

/// Pack B[p0..p0+kc, j0..j0+nc] into NR-column panels: panel q holds, for each p, NR consecutive
/// values (zero-padded past the last column).
pub(crate) fn pack_b(b: MatRef, p0: usize, kc: usize, j0: usize, nc: usize, nr: usize, out: &mut [f32]) {
    for (qi, jr) in (0..nc).step_by(nr).enumerate() {
        let panel = &mut out[qi * nr * kc..(qi + 1) * nr * kc];
        let cols = nr.min(nc - jr);
        if b.cs == 1 && cols == nr {
            pack_panel(&b.data[p0 * b.rs + j0 + jr..], b.rs, false, nr, kc, panel);
        } else if b.rs == 1 && cols == nr {
            // Transposed weight: column j is contiguous in memory.
            pack_panel(&b.data[(j0 + jr) * b.cs + p0..], b.cs, true, nr, kc, panel);
        } else {
            for p in 0..kc {
                for q in 0..nr {
                    panel[p * nr + q] = if q < cols { b.at(p0 + p, j0 + jr + q) } else { 0.0 };
                }
            }
        }
    }
}

/// Fill a `w`-wide panel: panel[p * w + x] = element (x, p) of the source, for p < kc and x < w.
/// When `transposed`, line x is contiguous (src[x * stride + p], a row of row-major A or a
/// column of a transposed weight); otherwise the w values of one p are (src[p * stride + x]).
/// Each panel width used by a micro-kernel gets a copy with `w` known at compile time, so the
/// copies become vector moves instead of a memcpy call per 24–64 bytes.
fn pack_panel(src: &[f32], stride: usize, transposed: bool, w: usize, kc: usize, panel: &mut [f32]) {
    macro_rules! widths {
        ($($w:literal),*) => {
            match (w, transposed) {
                $(($w, true) => transpose_lines::<$w>(src, stride, kc, panel),
                  ($w, false) => copy_lines::<$w>(src, stride, kc, panel),)*
                _ => unreachable!("no micro-kernel has panel width {w}"),
            }
        };
    }
    widths!(4, 6, 8, 12, 16, 32)
}

fn copy_lines<const W: usize>(src: &[f32], stride: usize, kc: usize, panel: &mut [f32]) {
    for (p, dst) in panel[..kc * W].chunks_exact_mut(W).enumerate() {
        let line: &[f32; W] = src[p * stride..][..W].try_into().unwrap();
        dst.copy_from_slice(line);
    }
}

/// W lines of kc contiguous values, transposed through W x 8 tiles: 8-wide loads from each line,
/// W-wide contiguous stores per p.
fn transpose_lines<const W: usize>(src: &[f32], stride: usize, kc: usize, panel: &mut [f32]) {
    let mut p0 = 0;
    while p0 + 8 <= kc {
        let mut t = [[0f32; 8]; W];
        for (x, row) in t.iter_mut().enumerate() {
            *row = src[x * stride + p0..][..8].try_into().unwrap();
        }
        for c in 0..8 {
            let dst = &mut panel[(p0 + c) * W..][..W];
            for x in 0..W {
                dst[x] = t[x][c];
            }
        }
        p0 += 8;
    }
    for p in p0..kc {
        for x in 0..W {
            panel[p * W + x] = src[x * stride + p];
        }
    }
}

/// Plain triple loop in f64 accumulation: the reference the fast paths are tested against.
pub fn gemm_reference(m: usize, n: usize, k: usize, a: MatRef, b: MatRef) -> Vec<f32> {
    let mut c = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0f64;
            for p in 0..k {
                s += a.at(i, p) as f64 * b.at(p, j) as f64;
            }
            c[i * n + j] = s as f32;
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::Rng::new(seed);
        (0..n).map(|_| rng.uniform() * 2.0 - 1.0).collect()
    }

    fn check(isa: Isa, threads: usize, m: usize, n: usize, k: usize, trans_b: bool, accumulate: bool) {
        let a = rand_vec(m * k, 1);
        let bdata = rand_vec(k * n, 2);
        let b = if trans_b { MatRef::transposed(&bdata, k) } else { MatRef::row_major(&bdata, n) };
        let a_ref = MatRef::row_major(&a, k);
        let mut want = gemm_reference(m, n, k, a_ref, b);
        let mut c = vec![0.5f32; m * n];
        if accumulate {
            want.iter_mut().for_each(|v| *v += 0.5);
        }
        gemm_with(isa, threads, m, n, k, a_ref, b, &mut c, n, accumulate);
        for (i, (x, y)) in c.iter().zip(&want).enumerate() {
            assert!((x - y).abs() <= 1e-4 * (1.0 + k as f32).sqrt(), "{isa:?} m{m} n{n} k{k} t{threads} idx {i}: {x} vs {y}");
        }
    }

    #[test]
    fn every_available_kernel_matches_reference_on_ragged_shapes() {
        for isa in simd::available() {
            for &(m, n, k) in &[(1, 1, 1), (7, 13, 5), (12, 32, 256), (13, 33, 257), (130, 70, 300), (37, 2100, 19)] {
                for &tb in &[false, true] {
                    check(isa, 1, m, n, k, tb, false);
                    check(isa, 2, m, n, k, tb, true);
                }
            }
        }
    }

    #[test]
    fn threads_split_large_problem_identically() {
        let isa = simd::detect();
        // N split (m <= n) and M split (m > n), ragged ranges, with and without accumulation.
        check(isa, 3, 200, 300, 128, true, false);
        check(isa, 3, 301, 70, 129, false, true);
        check(isa, 2, 1000, 40, 64, true, true);
    }
}
