//! Single-precision GEMM, BLIS-style: B and A are packed into panels that a register-tiled
//! micro-kernel streams through. The micro-kernel is chosen at run time from the CPU's features
//! (AVX-512, AVX2+FMA, portable), simd128 on wasm. Native builds split the N dimension across
//! threads; every thread packs its own panels, so no synchronisation happens inside a call.
//!
//! C[m,n] (+)= sum_p A[i,p] * B[p,j], where A and B are strided views (so a transposed
//! weight matrix W[n,k] is just B with row stride 1 and column stride k).

use super::simd::{self, Isa};

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
const MC: usize = 48; // multiple of every MR below (12, 6, 4)
const NC: usize = 2048;

/// Work per call below which threads are not worth spawning (FLOPs).
const PARALLEL_MIN_FLOPS: usize = 4 << 20;

/// C (m x n, row stride ldc) = A (m x k) * B (k x n), or += when `accumulate`.
pub fn gemm(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, c: &mut [f32], ldc: usize, accumulate: bool) {
    gemm_with(simd::detect(), super::threads(), m, n, k, a, b, c, ldc, accumulate)
}

/// As `gemm`, with the micro-kernel family and thread count given (benchmarks and tests).
#[allow(clippy::too_many_arguments)]
pub fn gemm_with(isa: Isa, threads: usize, m: usize, n: usize, k: usize, a: MatRef, b: MatRef, c: &mut [f32], ldc: usize, accumulate: bool) {
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
    let nr = isa.nr();
    let threads = if 2 * m * n * k < PARALLEL_MIN_FLOPS { 1 } else { threads.max(1) };
    // Column ranges per thread, multiples of NR so panels stay whole.
    let panels = n.div_ceil(nr);
    let per = panels.div_ceil(threads);
    if threads == 1 || per == panels {
        gemm_serial(isa, m, n, k, a, b, CPtr(c.as_mut_ptr()), ldc, accumulate, 0, n);
        return;
    }
    let cptr = CPtr(c.as_mut_ptr());
    #[cfg(not(target_arch = "wasm32"))]
    std::thread::scope(|s| {
        for t in 1..threads {
            let (j0, j1) = ((t * per * nr).min(n), ((t + 1) * per * nr).min(n));
            if j0 < j1 {
                s.spawn(move || gemm_serial(isa, m, n, k, a, b, cptr, ldc, accumulate, j0, j1));
            }
        }
        gemm_serial(isa, m, n, k, a, b, cptr, ldc, accumulate, 0, (per * nr).min(n));
    });
    #[cfg(target_arch = "wasm32")]
    gemm_serial(isa, m, n, k, a, b, cptr, ldc, accumulate, 0, n);
}

/// A raw C pointer shared by threads that write disjoint column ranges.
#[derive(Clone, Copy)]
struct CPtr(*mut f32);
unsafe impl Send for CPtr {}
unsafe impl Sync for CPtr {}

#[allow(clippy::too_many_arguments)]
fn gemm_serial(isa: Isa, m: usize, _n: usize, k: usize, a: MatRef, b: MatRef, c: CPtr, ldc: usize, accumulate: bool, j_begin: usize, j_end: usize) {
    let (mr, nr) = (isa.mr(), isa.nr());
    // Sized to the problem: attention calls this for small blocks many times.
    let mut apack = vec![0f32; MC.min(m.next_multiple_of(mr)) * KC.min(k)];
    let mut bpack = vec![0f32; NC.min((j_end - j_begin).next_multiple_of(nr)) * KC.min(k)];
    let mut jc = j_begin;
    while jc < j_end {
        let nc = NC.min(j_end - jc);
        let mut pc = 0;
        while pc < k {
            let kc = KC.min(k - pc);
            pack_b(b, pc, kc, jc, nc, nr, &mut bpack);
            let acc = accumulate || pc > 0;
            let mut ic = 0;
            while ic < m {
                let mc = MC.min(m - ic);
                pack_a(a, ic, mc, pc, kc, mr, &mut apack);
                for jr in (0..nc).step_by(nr) {
                    let nr_eff = nr.min(nc - jr);
                    let bp = &bpack[jr * kc..(jr + nr) * kc];
                    for ir in (0..mc).step_by(mr) {
                        let mr_eff = mr.min(mc - ir);
                        let ap = &apack[ir * kc..(ir + mr) * kc];
                        // SAFETY: (ic+ir, jc+jr) tile lies inside C and inside this thread's columns.
                        unsafe {
                            let cp = c.0.add((ic + ir) * ldc + jc + jr);
                            simd::microkernel(isa, kc, ap, bp, cp, ldc, mr_eff, nr_eff, acc);
                        }
                    }
                }
                ic += mc;
            }
            pc += kc;
        }
        jc += nc;
    }
}

/// Pack A[i0..i0+mc, p0..p0+kc] into MR-row panels: panel r holds, for each p, MR consecutive
/// values (zero-padded past the last row).
fn pack_a(a: MatRef, i0: usize, mc: usize, p0: usize, kc: usize, mr: usize, out: &mut [f32]) {
    for (pi, ir) in (0..mc).step_by(mr).enumerate() {
        let panel = &mut out[pi * mr * kc..(pi + 1) * mr * kc];
        let rows = mr.min(mc - ir);
        if a.cs == 1 && rows == mr {
            transpose_into(&a.data[(i0 + ir) * a.rs + p0..], a.rs, mr, kc, panel, mr);
        } else if a.rs == 1 && rows == mr {
            // Transposed A (e.g. dY^T in a weight gradient): the MR rows of one column are contiguous.
            for p in 0..kc {
                let src = &a.data[(p0 + p) * a.cs + i0 + ir..][..mr];
                panel[p * mr..(p + 1) * mr].copy_from_slice(src);
            }
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
fn pack_b(b: MatRef, p0: usize, kc: usize, j0: usize, nc: usize, nr: usize, out: &mut [f32]) {
    for (qi, jr) in (0..nc).step_by(nr).enumerate() {
        let panel = &mut out[qi * nr * kc..(qi + 1) * nr * kc];
        let cols = nr.min(nc - jr);
        if b.cs == 1 && cols == nr {
            for p in 0..kc {
                let src = &b.data[(p0 + p) * b.rs + j0 + jr..][..nr];
                panel[p * nr..(p + 1) * nr].copy_from_slice(src);
            }
        } else if b.rs == 1 && cols == nr {
            // Transposed weight: column j is contiguous in memory.
            transpose_into(&b.data[(j0 + jr) * b.cs + p0..], b.cs, nr, kc, panel, nr);
        } else {
            for p in 0..kc {
                for q in 0..nr {
                    panel[p * nr + q] = if q < cols { b.at(p0 + p, j0 + jr + q) } else { 0.0 };
                }
            }
        }
    }
}

/// out[c * out_stride + r] = src[r * src_stride + c] for r < rows, c < cols, through 8 x 8 tiles:
/// reads rows of 8 contiguous values and writes each column's `rows` values contiguously, instead
/// of one scattered store per element (which cost ~7 % of a training step).
fn transpose_into(src: &[f32], src_stride: usize, rows: usize, cols: usize, out: &mut [f32], out_stride: usize) {
    let mut c0 = 0;
    while c0 + 8 <= cols {
        for r0 in (0..rows).step_by(8) {
            let rn = 8.min(rows - r0);
            let mut t = [[0f32; 8]; 8];
            for r in 0..rn {
                t[r].copy_from_slice(&src[(r0 + r) * src_stride + c0..][..8]);
            }
            for c in 0..8 {
                let o = &mut out[(c0 + c) * out_stride + r0..][..rn];
                for r in 0..rn {
                    o[r] = t[r][c];
                }
            }
        }
        c0 += 8;
    }
    for c in c0..cols {
        for r in 0..rows {
            out[c * out_stride + r] = src[r * src_stride + c];
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
        check(isa, 3, 200, 300, 128, true, false);
    }
}
