//! Inference GEMM on a Linear weight packed once at load: C = A W^T (+ an epilogue).
//!
//! `gemm` (gemm.rs) packs both operands on every call. For a weight that does not change
//! between forward passes that is wasted work: 13 % of a bert-base forward on one thread. Here
//! the weight W[n, k] is laid out once in the micro-kernel's NR-column panels, the whole of k
//! per panel, so any K block of a panel is one contiguous run. A call packs only A, once per
//! (row block, K block), and sweeps every panel of W with it.
//!
//! Threads split the rows of A (each packs only its own rows; the packed weight is shared and
//! read-only), or the panels of W when A has few rows.
//!
//! The epilogue (bias, bias + activation) runs on each C tile right after its last K block, while
//! the tile is still in L1, in the same order as the separate passes of `fused.rs` (x + bias,
//! then the activation), so it gives the same bits as GEMM followed by those passes.

use super::fused::{add_bias, bias_act, bias_act_row};
use super::gemm::{pack_a, pack_b, MatRef};
use super::simd::{self, Isa};
use super::SharedMut;
use crate::model::Act;

/// K block: a 32-wide B micro-panel of KC rows is 32 KiB, so it stays in L1 across the MC / MR
/// tiles that reuse it.
const KC: usize = 768;
/// Rows of A packed per block (a multiple of every MR): MC x KC floats = 192 KiB, held in L2.
const MC: usize = 48;
/// FLOPs below which a call stays on one thread.
const PARALLEL_MIN_FLOPS: usize = 4 << 20;

/// W[n, k] (a Linear weight, row-major [out, in]) in NR-column panels of the micro-kernel of
/// `isa`: element (p, x) of panel q, i.e. W[q*NR + x, p], is at `data[(q*k + p)*NR + x]`;
/// columns past n are zero.
pub struct PackedF32 {
    pub isa: Isa,
    pub n: usize,
    pub k: usize,
    data: Vec<f32>,
}

impl PackedF32 {
    /// Pack `w` ([n, k], row-major) for this CPU's micro-kernel.
    pub fn pack(w: &[f32], n: usize, k: usize) -> PackedF32 {
        Self::pack_for(simd::detect(), w, n, k)
    }

    pub fn pack_for(isa: Isa, w: &[f32], n: usize, k: usize) -> PackedF32 {
        assert_eq!(w.len(), n * k, "PackedF32: weight has {} values, not {n} x {k}", w.len());
        let mut data = Vec::new();
        pack_panels(isa, MatRef::transposed(w, k), k, n, &mut data);
        PackedF32 { isa, n, k, data }
    }

    /// Memory held by the packed copy.
    pub fn bytes(&self) -> usize {
        self.data.len() * 4
    }
}

/// What happens to C after the product (inference only; training keeps separate passes).
#[derive(Clone, Copy)]
pub enum Epilogue<'a> {
    None,
    /// C += bias (per column).
    Bias(&'a [f32]),
    /// C = act(C + bias).
    BiasAct(&'a [f32], Act),
}

impl Epilogue<'_> {
    /// Apply to one row segment: columns j0..j0+row.len() of a C row.
    #[inline]
    fn apply(self, row: &mut [f32], j0: usize) {
        match self {
            Epilogue::None => {}
            Epilogue::Bias(b) => bias_act_row(row, &b[j0..j0 + row.len()], None),
            Epilogue::BiasAct(b, act) => bias_act_row(row, &b[j0..j0 + row.len()], Some(act)),
        }
    }

    /// Apply to a whole row-major C (the path for GEMMs that do not fuse it: int8, CUDA, unpacked).
    pub fn apply_all(self, c: &mut [f32]) {
        match self {
            Epilogue::None => {}
            Epilogue::Bias(b) => add_bias(c, b),
            Epilogue::BiasAct(b, act) => bias_act(c, b, act),
        }
    }
}

/// C (m x n, stride ldc) = A (m x k, row-major) W^T, or += when `accumulate`; then `epi`.
pub fn gemm_packed(m: usize, a: &[f32], w: &PackedF32, c: &mut [f32], ldc: usize, accumulate: bool, epi: Epilogue) {
    gemm_packed_with(super::threads(), m, a, w, c, ldc, accumulate, epi)
}

#[allow(clippy::too_many_arguments)]
pub fn gemm_packed_with(threads: usize, m: usize, a: &[f32], w: &PackedF32, c: &mut [f32], ldc: usize, accumulate: bool, epi: Epilogue) {
    let (n, k) = (w.n, w.k);
    if m == 0 || n == 0 {
        return;
    }
    assert!(a.len() >= m * k, "gemm_packed: A has {} values, need {m} x {k}", a.len());
    assert!(ldc >= n && c.len() >= (m - 1) * ldc + n, "gemm_packed: C buffer too small");
    if let Epilogue::Bias(b) | Epilogue::BiasAct(b, _) = epi {
        assert_eq!(b.len(), n, "gemm_packed: bias has {} values, need {n}", b.len());
    }
    if k == 0 {
        if !accumulate {
            (0..m).for_each(|i| c[i * ldc..i * ldc + n].fill(0.0));
        }
        (0..m).for_each(|i| epi.apply(&mut c[i * ldc..i * ldc + n], 0));
        return;
    }
    let cp = SharedMut(c.as_mut_ptr());
    let (a, b) = (MatRef::row_major(a, k), w.panels());
    let (isa, panels) = (w.isa, b.count(w.isa));
    let threads = if 2 * m * n * k < PARALLEL_MIN_FLOPS || cfg!(target_arch = "wasm32") { 1 } else { threads.max(1) };
    let part = |rows: (usize, usize), qs: (usize, usize), caller: bool| {
        // SAFETY: C's columns from panel qs.0 on; each part owns its rows x panels.
        let c = unsafe { cp.add(qs.0 * isa.nr()) };
        panel_gemm(isa, a, rows, b, qs, (0, k), c, ldc, accumulate, epi, caller);
    };
    if threads == 1 {
        part((0, m), (0, panels), true);
        return;
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let t0 = super::profile::enabled().then(super::profile::now_ms).flatten();
        let mr = isa.mr();
        let own = if m >= threads * 2 * mr {
            let per = m.div_ceil(mr).div_ceil(threads) * mr;
            super::pool::run(threads, &|t| part(((t * per).min(m), ((t + 1) * per).min(m)), (0, panels), t == 0))
        } else {
            let per = panels.div_ceil(threads);
            super::pool::run(threads, &|t| part((0, m), ((t * per).min(panels), ((t + 1) * per).min(panels)), t == 0))
        };
        if let (Some(t0), Some(t1)) = (t0, super::profile::now_ms()) {
            super::profile::add(super::profile::Op::ThreadHandoff, t1 - t0 - own);
        }
    }
}

/// B as NR-column panels (`pack_b`'s layout over all of B): element (p, x) of panel q at
/// `data[(q * k_total + p) * NR + x]`, for B with `k_total` rows and `n` columns.
#[derive(Clone, Copy)]
pub(crate) struct Panels<'a> {
    pub data: &'a [f32],
    pub k_total: usize,
    pub n: usize,
}

impl Panels<'_> {
    pub fn count(&self, isa: Isa) -> usize {
        self.n.div_ceil(isa.nr())
    }
}

impl PackedF32 {
    fn panels(&self) -> Panels<'_> {
        Panels { data: &self.data, k_total: self.k, n: self.n }
    }
}

/// Pack all of B (k x n, any strides) into `Panels` for `isa` (reusing `buf`).
pub(crate) fn pack_panels<'a>(isa: Isa, b: MatRef, k: usize, n: usize, buf: &'a mut Vec<f32>) -> Panels<'a> {
    buf.clear();
    buf.resize(n.next_multiple_of(isa.nr()) * k, 0.0);
    if n > 0 && k > 0 {
        pack_b(b, 0, k, 0, n, isa.nr(), buf);
    }
    Panels { data: buf, k_total: k, n }
}

/// Whether `mr` rows `lda` floats apart would crowd into a few L1 sets: L1 is indexed by the
/// address bits below 4 KiB, so rows whose stride is a multiple of 4 KiB (e.g. 1024 or 3072
/// floats: BERT-large's hidden size, BERT-base's FFN width) all land in the same sets and evict
/// each other. The in-place kernel then ran at 45 % of peak instead of 90 % (1024 x 3072 x 768, one
/// thread); such A is packed instead.
fn aliases_4k(lda: usize, mr: usize) -> bool {
    let bytes = lda * 4;
    let offsets = 4096 / gcd(bytes, 4096);
    offsets.min(mr) < 4
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// On this thread: C[rows, panels] (+)= A[rows, 0..ks.1-ks.0] * B[ks.0..ks.1, panels], then `epi`
/// on each tile. A is any strided view whose column 0 is B's row ks.0; `c`
/// points at C's column of panel `qs.0`, row 0. Full MR-row tiles read A in place where the ISA
/// has that micro-kernel; the rest of A is packed per (row block, K block).
#[allow(clippy::too_many_arguments)]
pub(crate) fn panel_gemm(
    isa: Isa,
    a: MatRef,
    rows: (usize, usize),
    b: Panels,
    qs: (usize, usize),
    ks: (usize, usize),
    c: SharedMut,
    ldc: usize,
    accumulate: bool,
    epi: Epilogue,
    caller: bool,
) {
    let (mr, nr) = (isa.mr(), isa.nr());
    if rows.0 >= rows.1 || qs.0 >= qs.1 || ks.0 >= ks.1 {
        return;
    }
    let prof = caller && super::profile::enabled();
    let mut packing = 0.0;
    let rows_kernel = simd::has_rows_kernel(isa) && a.cs == 1 && !aliases_4k(a.rs, mr);
    let mut apack = vec![0f32; if rows_kernel { mr } else { MC.min((rows.1 - rows.0).next_multiple_of(mr)) } * KC.min(ks.1 - ks.0)];
    // Row blocks outermost: a block's C rows (MC x the part's columns) stay in L2 across the K
    // blocks instead of travelling to L3 and back once per K block.
    let mut ic = rows.0;
    while ic < rows.1 {
        let mc = MC.min(rows.1 - ic);
        let in_place = if rows_kernel { mc / mr * mr } else { 0 };
        let mut pc = ks.0;
        while pc < ks.1 {
            let kc = KC.min(ks.1 - pc);
            let (last, acc, ac) = (pc + kc == ks.1, accumulate || pc > ks.0, pc - ks.0);
            if in_place < mc {
                let t = prof.then(super::profile::now_ms).flatten();
                pack_a(a, ic + in_place, mc - in_place, ac, kc, mr, &mut apack);
                if let (Some(t0), Some(t1)) = (t, super::profile::now_ms()) {
                    packing += t1 - t0;
                }
            }
            for q in qs.0..qs.1 {
                let (j, jc) = (q * nr, (q - qs.0) * nr);
                let nr_eff = nr.min(b.n - j);
                let bp = &b.data[(q * b.k_total + pc) * nr..][..kc * nr];
                for ir in (0..mc).step_by(mr) {
                    let mr_eff = mr.min(mc - ir);
                    // SAFETY: the tile lies inside C and inside this part's rows and panels, which
                    // no other part writes; full in-place tiles have MR rows of A.
                    unsafe {
                        let tile = c.add((ic + ir) * ldc + jc);
                        if ir < in_place {
                            let ap = a.data.as_ptr().add((ic + ir) * a.rs + ac);
                            simd::microkernel_rows(isa, kc, ap, a.rs, bp, tile.0, ldc, nr_eff, acc);
                        } else {
                            let ap = &apack[(ir - in_place) * kc..];
                            simd::microkernel(isa, kc, ap, bp, tile.0, ldc, mr_eff, nr_eff, acc);
                        }
                        if last {
                            for r in 0..mr_eff {
                                epi.apply(tile.slice(r * ldc, nr_eff), j);
                            }
                        }
                    }
                }
            }
            pc += kc;
        }
        ic += mc;
    }
    if prof {
        super::profile::add(super::profile::Op::GemmPacking, packing);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gemm::{gemm_reference, gemm_with};

    fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::Rng::new(seed);
        (0..n).map(|_| rng.uniform() * 2.0 - 1.0).collect()
    }

    #[test]
    fn packed_gemm_matches_reference_on_ragged_shapes_for_every_isa_and_split() {
        for isa in simd::available() {
            for &(m, n, k) in &[(1, 1, 1), (7, 13, 5), (12, 32, 256), (13, 33, 257), (200, 70, 300), (37, 2100, 19), (400, 96, 530)] {
                let a = rand_vec(m * k, 1);
                let w = rand_vec(n * k, 2);
                let pw = PackedF32::pack_for(isa, &w, n, k);
                let want = gemm_reference(m, n, k, MatRef::row_major(&a, k), MatRef::transposed(&w, k));
                for threads in [1, 2, 3] {
                    for accumulate in [false, true] {
                        let mut c = vec![0.5f32; m * n];
                        gemm_packed_with(threads, m, &a, &pw, &mut c, n, accumulate, Epilogue::None);
                        for (i, (x, y)) in c.iter().zip(&want).enumerate() {
                            let y = if accumulate { y + 0.5 } else { *y };
                            assert!(
                                (x - y).abs() <= 1e-4 * (1.0 + k as f32).sqrt(),
                                "{isa:?} m{m} n{n} k{k} t{threads} idx {i}: {x} vs {y}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The fused epilogue equals GEMM (same blocking) followed by the separate passes, bit for bit.
    #[test]
    fn epilogue_equals_the_separate_passes() {
        for isa in simd::available() {
            for &(m, n, k) in &[(5, 37, 64), (130, 100, 300), (64, 3072, 96)] {
                let a = rand_vec(m * k, 3);
                let w = rand_vec(n * k, 4);
                let bias = rand_vec(n, 5);
                let pw = PackedF32::pack_for(isa, &w, n, k);
                for epi in [
                    Epilogue::Bias(&bias),
                    Epilogue::BiasAct(&bias, Act::Gelu),
                    Epilogue::BiasAct(&bias, Act::GeluTanh),
                    Epilogue::BiasAct(&bias, Act::Relu),
                ] {
                    for threads in [1, 2] {
                        let mut fused = vec![0f32; m * n];
                        gemm_packed_with(threads, m, &a, &pw, &mut fused, n, false, epi);
                        let mut plain = vec![0f32; m * n];
                        gemm_packed_with(threads, m, &a, &pw, &mut plain, n, false, Epilogue::None);
                        epi.apply_all(&mut plain);
                        assert!(fused == plain, "{isa:?} m{m} n{n} k{k} t{threads}");
                    }
                }
            }
        }
    }

    /// Same products as the per-call packing GEMM (which the HF-parity tests cover), to float noise.
    #[test]
    fn packed_agrees_with_per_call_packing() {
        let (m, n, k) = (256, 768, 768);
        let a = rand_vec(m * k, 6);
        let w = rand_vec(n * k, 7);
        let isa = simd::detect();
        let mut c1 = vec![0f32; m * n];
        gemm_with(isa, 2, m, n, k, MatRef::row_major(&a, k), MatRef::transposed(&w, k), &mut c1, n, false);
        let mut c2 = vec![0f32; m * n];
        gemm_packed_with(2, m, &a, &PackedF32::pack_for(isa, &w, n, k), &mut c2, n, false, Epilogue::None);
        let worst = c1.iter().zip(&c2).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-4, "max |diff| {worst}");
    }
}
