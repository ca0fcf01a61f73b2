//! int8 GEMM for quantized inference: y = x W^T with W quantized per output channel (symmetric
//! i8 in [-127, 127], one f32 scale per row of W) and x quantized per row at run time
//! (asymmetric, 7 bits: q in [0, 127] with a zero point), i32 accumulation, f32 epilogue.
//!
//! Why 7-bit activations: AVX2's `vpmaddubsw` multiplies u8 by i8 and adds pairs into a
//! saturating i16; with u8 up to 255 and |w| up to 127 a pair can reach 64770 and saturate. With
//! q <= 127 a pair is at most 2 * 127 * 127 = 32258, so every kernel (scalar, AVX2, VNNI, wasm
//! simd128) computes the same exact integer dot products and the results agree bit for bit across
//! instruction sets and between native and wasm.
//!
//! y[i, j] = sa[i] * sw[j] * (sum_p qa[i, p] qw[j, p] - zp[i] * colsum[j])  (+ y[i, j] when
//! accumulating), where colsum[j] = sum_p qw[j, p] is computed at packing time.
//!
//! | isa      | tile (MR x NR) | k per step | instruction                          |
//! |----------|----------------|------------|--------------------------------------|
//! | avx512-vnni | 8 x 32      | 4          | `vpdpbusd` on zmm (AVX512-VNNI + BW)  |
//! | avx-vnni | 6 x 16         | 4          | `vpdpbusd` on ymm (AVX-VNNI)          |
//! | avx2     | 4 x 16         | 4          | `vpmaddubsw` + `vpmaddwd` + `vpaddd`  |
//! | simd128  | 4 x 8          | 2          | `i32x4.dot_i16x8` (wasm)              |
//! | scalar   | 4 x 16         | 4          | plain Rust (reference layout)         |
//!
//! W is packed once (at load) into panels of NR output channels: for each group of KG
//! consecutive k, NR x KG bytes, channel-major (`[c0 k0..KG, c1 k0..KG, ...]`), zero-padded past
//! the last channel and past k (padding contributes nothing to the sums).

/// The int8 kernel family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QIsa {
    /// `vpdpbusd` on zmm registers (AVX512-VNNI).
    Vnni512,
    /// The same instruction through AVX-VNNI (VEX encoded).
    AvxVnni,
    Avx2,
    Simd128,
    Scalar,
}

impl QIsa {
    pub fn name(self) -> &'static str {
        match self {
            QIsa::Vnni512 => "avx512-vnni",
            QIsa::AvxVnni => "avx-vnni",
            QIsa::Avx2 => "avx2",
            QIsa::Simd128 => "simd128",
            QIsa::Scalar => "scalar",
        }
    }
    pub fn mr(self) -> usize {
        match self {
            QIsa::Vnni512 => 8,
            QIsa::AvxVnni => 6,
            _ => 4,
        }
    }
    pub fn nr(self) -> usize {
        match self {
            QIsa::Vnni512 => 32,
            QIsa::Simd128 => 8,
            _ => 16,
        }
    }
    /// Consecutive k values per packed group.
    pub fn kg(self) -> usize {
        match self {
            QIsa::Simd128 => 2,
            _ => 4,
        }
    }
}

/// Every int8 kernel family usable here, best first.
pub fn available() -> Vec<QIsa> {
    #[allow(unused_mut)]
    let mut v = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512bw") {
            v.push(QIsa::Vnni512);
        }
        if is_x86_feature_detected!("avxvnni") {
            v.push(QIsa::AvxVnni);
        }
        if is_x86_feature_detected!("avx2") {
            v.push(QIsa::Avx2);
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    v.push(QIsa::Simd128);
    v.push(QIsa::Scalar);
    v
}

/// The family the f32 kernels' choice allows: BIOMEG_SIMD=avx2 keeps int8 on AVX2 (no VNNI),
/// portable on scalar code; otherwise the best available.
pub fn detect() -> QIsa {
    use super::simd::{self, Isa};
    let avail = available();
    match simd::detect() {
        Isa::Portable => QIsa::Scalar,
        Isa::Avx2 => *avail.iter().find(|i| matches!(i, QIsa::Avx2 | QIsa::Scalar)).unwrap(),
        _ => avail[0],
    }
}

/// Row stride of quantized activations and packed k: k rounded up to 4 (the largest KG).
#[inline]
pub fn padded_k(k: usize) -> usize {
    k.next_multiple_of(4)
}

/// Per-output-channel symmetric quantization of a row-major [n, k] weight: q = round(w / s),
/// s = max|w_row| / 127 (1 for an all-zero row). Rounding is half away from zero (`f32::round`);
/// `biomeg quantize` (ts/commands/quantize.ts) computes the same values.
pub fn quantize_weight(w: &[f32], n: usize, k: usize) -> (Vec<i8>, Vec<f32>) {
    assert_eq!(w.len(), n * k, "quantize_weight: weight has {} values, not {n} x {k}", w.len());
    let mut q = vec![0i8; n * k];
    let mut scale = vec![1f32; n];
    for j in 0..n {
        let row = &w[j * k..(j + 1) * k];
        let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let s = if amax > 0.0 { amax / 127.0 } else { 1.0 };
        scale[j] = s;
        for (d, v) in q[j * k..(j + 1) * k].iter_mut().zip(row) {
            *d = (v / s).round().clamp(-127.0, 127.0) as i8;
        }
    }
    (q, scale)
}

/// A quantized weight W[n, k], packed for one kernel family.
#[derive(Clone, Debug)]
pub struct PackedI8 {
    pub isa: QIsa,
    pub n: usize,
    pub k: usize,
    data: Vec<i8>,
    /// simd128 only: the packed values widened to i16 (what `i32x4.dot_i16x8` reads), in place
    /// of `data`, so the kernel does no widening per step.
    wide: Vec<i16>,
    /// Per output channel.
    pub scale: Vec<f32>,
    colsum: Vec<i32>,
}

impl PackedI8 {
    /// Quantize (per output channel) and pack an f32 weight [n, k].
    pub fn from_f32(isa: QIsa, w: &[f32], n: usize, k: usize) -> PackedI8 {
        let (q, s) = quantize_weight(w, n, k);
        PackedI8::pack(isa, &q, s, n, k)
    }

    /// Pack already quantized values q[n, k] with their per-channel scales.
    pub fn pack(isa: QIsa, q: &[i8], scale: Vec<f32>, n: usize, k: usize) -> PackedI8 {
        assert!(q.len() == n * k && scale.len() == n, "PackedI8::pack: sizes do not match {n} x {k}");
        let (nr, kg, kp) = (isa.nr(), isa.kg(), padded_k(k));
        let panels = n.div_ceil(nr);
        let mut data = vec![0i8; panels * nr * kp];
        for p in 0..panels {
            let panel = &mut data[p * nr * kp..(p + 1) * nr * kp];
            for c in 0..nr.min(n - p * nr) {
                let row = &q[(p * nr + c) * k..(p * nr + c + 1) * k];
                for (kk, &v) in row.iter().enumerate() {
                    panel[(kk / kg) * nr * kg + c * kg + kk % kg] = v;
                }
            }
        }
        let colsum = (0..n).map(|j| q[j * k..(j + 1) * k].iter().map(|&v| v as i32).sum()).collect();
        if isa == QIsa::Simd128 {
            let wide = data.iter().map(|&v| v as i16).collect();
            return PackedI8 { isa, n, k, data: Vec::new(), wide, scale, colsum };
        }
        PackedI8 { isa, n, k, data, scale, colsum, wide: Vec::new() }
    }

    /// The quantized values back as row-major [n, k] (tests, and checking a round trip).
    pub fn unpack(&self) -> Vec<i8> {
        let (nr, kg, kp) = (self.isa.nr(), self.isa.kg(), padded_k(self.k));
        let mut q = vec![0i8; self.n * self.k];
        for j in 0..self.n {
            for kk in 0..self.k {
                let at = (j / nr) * nr * kp + (kk / kg) * nr * kg + (j % nr) * kg + kk % kg;
                q[j * self.k + kk] = if self.wide.is_empty() { self.data[at] } else { self.wide[at] as i8 };
            }
        }
        q
    }

    /// Bytes held (packed values, scales, column sums).
    pub fn bytes(&self) -> usize {
        self.data.len() + 2 * self.wide.len() + 8 * self.n
    }
}

/// Activations quantized per row: x[i, p] ~= scale[i] * (q[i, p] - zp[i]), q in [0, 127].
pub struct QuantRows {
    /// Row-major with row stride `padded_k(k)` (padding zero).
    pub q: Vec<u8>,
    pub scale: Vec<f32>,
    pub zp: Vec<i32>,
}

super::simd_dispatch! {
    /// Quantize one row: the range [min(x, 0), max(x, 0)] mapped onto [0, 127], so 0 is exact.
    /// q = floor(x / s + zp + 0.5) clamped (round half up; float-to-int truncation of a value
    /// already clamped to [0, 127], which vectorizes, unlike `f32::round`).
    fn quantize_row(x: &[f32], out: &mut [u8]) -> (f32, i32) {
        // Eight lanes of running min / max, so the scan vectorizes (a single running value is a
        // serial chain the compiler must keep in order); min and max are exact in any order.
        let (mut lo8, mut hi8) = ([0f32; 8], [0f32; 8]);
        let n8 = x.len() / 8 * 8;
        for c in x[..n8].chunks_exact(8) {
            for l in 0..8 {
                lo8[l] = if c[l] < lo8[l] { c[l] } else { lo8[l] };
                hi8[l] = if c[l] > hi8[l] { c[l] } else { hi8[l] };
            }
        }
        for (l, &v) in x[n8..].iter().enumerate() {
            lo8[l] = if v < lo8[l] { v } else { lo8[l] };
            hi8[l] = if v > hi8[l] { v } else { hi8[l] };
        }
        let lo = lo8.iter().fold(0f32, |a, &v| if v < a { v } else { a });
        let hi = hi8.iter().fold(0f32, |a, &v| if v > a { v } else { a });
        let mut s = (hi - lo) / 127.0;
        if !(s > 0.0 && s.is_finite()) {
            s = 1.0;
        }
        let inv = 1.0 / s;
        let zp = (-lo * inv + 0.5).clamp(0.0, 127.0) as i32;
        let shift = zp as f32 + 0.5;
        for (d, &v) in out.iter_mut().zip(x) {
            let y = v * inv + shift;
            let c = (if y > 0.0 { y } else { 0.0 }).min(127.0);
            // SAFETY: c is in [0, 127] (NaN fails `y > 0` and becomes 0). `as u8` would saturate,
            // which compilers scalarize lane by lane; the unchecked conversion vectorizes.
            *d = unsafe { c.to_int_unchecked::<i32>() } as u8;
        }
        (s, zp)
    }
}

/// Quantize the rows of a row-major [m, k] activation (in parallel over row blocks).
pub fn quantize_rows(threads: usize, x: &[f32], m: usize, k: usize) -> QuantRows {
    let kp = padded_k(k);
    let mut q = vec![0u8; m * kp];
    let mut scale = vec![0f32; m];
    let mut zp = vec![0i32; m];
    const ROWS: usize = 32;
    let (qp, sp, zpp) = (Ptr(q.as_mut_ptr()), Ptr(scale.as_mut_ptr()), Ptr(zp.as_mut_ptr()));
    let threads = if m * k < (1 << 16) { 1 } else { threads };
    run_jobs(threads, m.div_ceil(ROWS), |b| {
        for i in b * ROWS..((b + 1) * ROWS).min(m) {
            // SAFETY: row i of q, scale and zp belongs to this job alone.
            let row = unsafe { std::slice::from_raw_parts_mut(qp.at(i * kp), k) };
            let (s, z) = quantize_row(&x[i * k..(i + 1) * k], row);
            unsafe {
                *sp.at(i) = s;
                *zpp.at(i) = z;
            }
        }
    });
    QuantRows { q, scale, zp }
}

/// C[m, n] (+)= x[m, k] W^T on the threads of the kernels (`super::threads()`).
pub fn gemm_i8(x: &[f32], m: usize, w: &PackedI8, c: &mut [f32], ldc: usize, accumulate: bool) {
    gemm_i8_with(super::threads(), x, m, w, c, ldc, accumulate)
}

/// Work below which one thread does it all (multiply-adds).
const PARALLEL_MIN_MACS: usize = 1 << 20;
/// Bytes of packed W one job streams per pass over its row block (about a quarter of L2).
const B_CHUNK_BYTES: usize = 192 << 10;

/// As `gemm_i8` with the thread count given.
pub fn gemm_i8_with(threads: usize, x: &[f32], m: usize, w: &PackedI8, c: &mut [f32], ldc: usize, accumulate: bool) {
    let (n, k) = (w.n, w.k);
    assert!(x.len() >= m * k, "gemm_i8: x has {} values, need {m} x {k}", x.len());
    if m == 0 || n == 0 {
        return;
    }
    assert!(ldc >= n && c.len() >= (m - 1) * ldc + n, "gemm_i8: C buffer too small");
    let threads = if m * n * k < PARALLEL_MIN_MACS { 1 } else { threads.max(1) };
    let mut a = None;
    let ms = super::gemm::timed(|| a = Some(quantize_rows(threads, x, m, k)));
    if super::profile::enabled() {
        super::profile::add(super::profile::Op::GemmPacking, ms);
    }
    gemm_i8_quantized(threads, &a.unwrap(), m, w, c, ldc, accumulate);
}

/// The GEMM on already quantized rows: jobs are (row block) x (chunk of W panels).
pub fn gemm_i8_quantized(threads: usize, a: &QuantRows, m: usize, w: &PackedI8, c: &mut [f32], ldc: usize, accumulate: bool) {
    let (isa, n, kp) = (w.isa, w.n, padded_k(w.k));
    let (mr, nr) = (isa.mr(), isa.nr());
    let panels = n.div_ceil(nr);
    let rows_per_block = mr * 12;
    let panels_per_chunk = (B_CHUNK_BYTES / (nr * kp)).clamp(1, panels);
    let (row_blocks, chunks) = (m.div_ceil(rows_per_block), panels.div_ceil(panels_per_chunk));
    let cp = SharedMut(c.as_mut_ptr());
    // simd128 reads a row's k values as i16 pairs, one u32 per pair (a single load-and-splat).
    let pairs: Vec<u32> =
        if isa == QIsa::Simd128 { a.q.chunks_exact(2).map(|p| p[0] as u32 | (p[1] as u32) << 16).collect() } else { Vec::new() };
    let row_ptr = |i: usize| -> *const u8 {
        if pairs.is_empty() {
            a.q[i * kp..].as_ptr()
        } else {
            pairs[i * kp / 2..].as_ptr() as *const u8
        }
    };
    run_jobs(threads, row_blocks * chunks, |job| {
        let (rb, ch) = (job / chunks, job % chunks);
        let (i0, i1) = (rb * rows_per_block, ((rb + 1) * rows_per_block).min(m));
        let mut tile = [0i32; TILE];
        for p in ch * panels_per_chunk..((ch + 1) * panels_per_chunk).min(panels) {
            let (j0, nr_eff) = (p * nr, nr.min(n - p * nr));
            let b = if w.wide.is_empty() { w.data[p * nr * kp..].as_ptr() } else { w.wide[p * nr * kp..].as_ptr() as *const i8 };
            for i in (i0..i1).step_by(mr) {
                let mr_eff = mr.min(i1 - i);
                // Rows past the matrix re-read its last row; their sums are discarded.
                let rows: [*const u8; MAX_MR] = std::array::from_fn(|r| row_ptr(i + r.min(mr_eff - 1)));
                let ep = Epilogue {
                    // SAFETY: row i, column j0 lies inside C.
                    c: unsafe { cp.slice(i * ldc + j0, 0).as_mut_ptr() },
                    ldc,
                    colsum: w.colsum[j0..].as_ptr(),
                    wscale: w.scale[j0..].as_ptr(),
                    sa: std::array::from_fn(|r| a.scale[(i + r).min(m - 1)]),
                    zp: std::array::from_fn(|r| a.zp[(i + r).min(m - 1)]),
                    accumulate,
                };
                let full = mr_eff == mr && nr_eff == nr;
                // SAFETY: every row pointer has kp readable bytes, b has nr * kp; a full tile's
                // MR rows x NR columns of C (and of colsum / wscale) belong to this job alone.
                unsafe { microkernel(isa, kp, &rows, b, full.then_some(&ep), &mut tile) };
                if !full {
                    for r in 0..mr_eff {
                        // SAFETY: row i + r, columns j0..j0 + nr_eff of C belong to this job alone.
                        let crow = unsafe { cp.slice((i + r) * ldc + j0, nr_eff) };
                        for (q, y) in crow.iter_mut().enumerate() {
                            let v = (tile[r * nr + q] - ep.zp[r] * w.colsum[j0 + q]) as f32 * (ep.sa[r] * w.scale[j0 + q]);
                            *y = if accumulate { *y + v } else { v };
                        }
                    }
                }
            }
        }
    });
}

const MAX_MR: usize = 8;
const TILE: usize = 8 * 32;

/// What a full tile's kernel needs to finish in registers: C[r, q] (+)= (acc - zp[r] colsum[q])
/// as f32 * (sa[r] * wscale[q]), the same operations in the same order as the scalar epilogue.
struct Epilogue {
    c: *mut f32,
    ldc: usize,
    colsum: *const i32,
    wscale: *const f32,
    sa: [f32; MAX_MR],
    zp: [i32; MAX_MR],
    accumulate: bool,
}

/// Exact integer reference: the same quantization, then plain i64 dot products and the same
/// epilogue. Every kernel must match it bit for bit.
pub fn gemm_i8_reference(x: &[f32], m: usize, w: &[f32], n: usize, k: usize) -> Vec<f32> {
    let a = quantize_rows(1, x, m, k);
    let (qw, sw) = quantize_weight(w, n, k);
    let kp = padded_k(k);
    let mut c = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let dot: i64 = (0..k).map(|p| a.q[i * kp + p] as i64 * qw[j * k + p] as i64).sum();
            let colsum: i64 = qw[j * k..(j + 1) * k].iter().map(|&v| v as i64).sum();
            c[i * n + j] = (dot - a.zp[i] as i64 * colsum) as i32 as f32 * (a.scale[i] * sw[j]);
        }
    }
    c
}

/// Run `f(job)` for job in 0..n over `threads` pool threads (contiguous ranges); serial on wasm.
fn run_jobs<F: Fn(usize) + Sync>(threads: usize, n: usize, f: F) {
    let t = threads.min(n);
    if t <= 1 || cfg!(target_arch = "wasm32") {
        (0..n).for_each(f);
        return;
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use super::profile;
        let t0 = profile::enabled().then(profile::now_ms).flatten();
        let per = n.div_ceil(t);
        let own = super::pool::run(t, &|w| (w * per..((w + 1) * per).min(n)).for_each(&f));
        if let (Some(t0), Some(t1)) = (t0, profile::now_ms()) {
            profile::add(profile::Op::ThreadHandoff, t1 - t0 - own);
        }
    }
}

use super::SharedMut;

#[derive(Clone, Copy)]
struct Ptr<T>(*mut T);
unsafe impl<T> Send for Ptr<T> {}
unsafe impl<T> Sync for Ptr<T> {}
impl<T> Ptr<T> {
    /// Through a method so closures capture the Sync wrapper, not the raw pointer field.
    fn at(&self, i: usize) -> *mut T {
        unsafe { self.0.add(i) }
    }
}

/// One MR x NR tile over the whole (padded) k: with `ep` (a full tile) finished into C,
/// otherwise the i32 sums left in `tile` (row-major, NR wide) for the caller's epilogue.
///
/// # Safety
/// `rows[r]` (r < MR) each point at kp readable bytes; `b` at NR * kp packed bytes of `isa`;
/// with `ep`, its MR x NR block of C and NR colsum / wscale values are valid.
#[inline]
unsafe fn microkernel(isa: QIsa, kp: usize, rows: &[*const u8; MAX_MR], b: *const i8, ep: Option<&Epilogue>, tile: &mut [i32; TILE]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        QIsa::Vnni512 => x86::mk_vnni512(kp / 4, rows, b, ep, tile),
        #[cfg(target_arch = "x86_64")]
        QIsa::AvxVnni => x86::mk_avxvnni(kp / 4, rows, b, ep, tile),
        #[cfg(target_arch = "x86_64")]
        QIsa::Avx2 => x86::mk_avx2(kp / 4, rows, b, ep, tile),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        QIsa::Simd128 => wasm::mk_simd128(kp / 2, rows, b, ep, tile),
        _ => mk_scalar(isa, kp, rows, b, ep, tile),
    }
}

/// Any packing, plain loops (the reference layout is QIsa::Scalar's).
unsafe fn mk_scalar(isa: QIsa, kp: usize, rows: &[*const u8; MAX_MR], b: *const i8, ep: Option<&Epilogue>, tile: &mut [i32; TILE]) {
    let (mr, nr, kg) = (isa.mr(), isa.nr(), isa.kg());
    tile.fill(0);
    for g in 0..kp / kg {
        let bg = b.add(g * nr * kg);
        for r in 0..mr {
            let a = rows[r].add(g * kg);
            for c in 0..nr {
                let mut s = 0i32;
                for t in 0..kg {
                    s += *a.add(t) as i32 * *bg.add(c * kg + t) as i32;
                }
                tile[r * nr + c] += s;
            }
        }
    }
    if let Some(ep) = ep {
        for r in 0..mr {
            for q in 0..nr {
                let v = (tile[r * nr + q] - ep.zp[r] * *ep.colsum.add(q)) as f32 * (ep.sa[r] * *ep.wscale.add(q));
                let y = ep.c.add(r * ep.ldc + q);
                *y = if ep.accumulate { *y + v } else { v };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Epilogue, MAX_MR, TILE};
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn bcast4(p: *const u8) -> i32 {
        (p as *const i32).read_unaligned()
    }

    /// Finish 8 columns of row r starting at column `col` (ymm).
    #[inline(always)]
    unsafe fn finish8(acc: __m256i, ep: &Epilogue, r: usize, col: usize) {
        let cs = _mm256_loadu_si256(ep.colsum.add(col) as *const __m256i);
        let v = _mm256_sub_epi32(acc, _mm256_mullo_epi32(_mm256_set1_epi32(ep.zp[r]), cs));
        let s = _mm256_mul_ps(_mm256_set1_ps(ep.sa[r]), _mm256_loadu_ps(ep.wscale.add(col)));
        let mut y = _mm256_mul_ps(_mm256_cvtepi32_ps(v), s);
        let cp = ep.c.add(r * ep.ldc + col);
        if ep.accumulate {
            y = _mm256_add_ps(_mm256_loadu_ps(cp), y);
        }
        _mm256_storeu_ps(cp, y);
    }

    #[inline(always)]
    unsafe fn done_ymm<const MR: usize>(acc: &[[__m256i; 2]; MR], ep: Option<&Epilogue>, tile: &mut [i32; TILE]) {
        for r in 0..MR {
            match ep {
                Some(ep) => {
                    finish8(acc[r][0], ep, r, 0);
                    finish8(acc[r][1], ep, r, 8);
                }
                None => {
                    _mm256_storeu_si256(tile.as_mut_ptr().add(r * 16) as *mut __m256i, acc[r][0]);
                    _mm256_storeu_si256(tile.as_mut_ptr().add(r * 16 + 8) as *mut __m256i, acc[r][1]);
                }
            }
        }
    }

    /// 4 x 16: u8 x i8 pairs into i16 (`vpmaddubsw`, exact for q <= 127), pairs of those into
    /// i32 (`vpmaddwd` by ones), added to the accumulators.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn mk_avx2(groups: usize, rows: &[*const u8; MAX_MR], b: *const i8, ep: Option<&Epilogue>, tile: &mut [i32; TILE]) {
        let ones = _mm256_set1_epi16(1);
        let mut acc = [[_mm256_setzero_si256(); 2]; 4];
        for g in 0..groups {
            let b0 = _mm256_loadu_si256(b.add(g * 64) as *const __m256i);
            let b1 = _mm256_loadu_si256(b.add(g * 64 + 32) as *const __m256i);
            for r in 0..4 {
                let a = _mm256_set1_epi32(bcast4(rows[r].add(4 * g)));
                let p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(a, b0), ones);
                let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(a, b1), ones);
                acc[r][0] = _mm256_add_epi32(acc[r][0], p0);
                acc[r][1] = _mm256_add_epi32(acc[r][1], p1);
            }
        }
        done_ymm::<4>(&acc, ep, tile);
    }

    /// 6 x 16 with `vpdpbusd` (u8 x i8, four products summed straight into i32) via AVX-VNNI.
    #[target_feature(enable = "avx2,fma,avxvnni")]
    pub unsafe fn mk_avxvnni(groups: usize, rows: &[*const u8; MAX_MR], b: *const i8, ep: Option<&Epilogue>, tile: &mut [i32; TILE]) {
        let mut acc = [[_mm256_setzero_si256(); 2]; 6];
        for g in 0..groups {
            let b0 = _mm256_loadu_si256(b.add(g * 64) as *const __m256i);
            let b1 = _mm256_loadu_si256(b.add(g * 64 + 32) as *const __m256i);
            for r in 0..6 {
                let a = _mm256_set1_epi32(bcast4(rows[r].add(4 * g)));
                acc[r][0] = _mm256_dpbusd_avx_epi32(acc[r][0], a, b0);
                acc[r][1] = _mm256_dpbusd_avx_epi32(acc[r][1], a, b1);
            }
        }
        done_ymm::<6>(&acc, ep, tile);
    }

    /// 8 x 32 with `vpdpbusd` on zmm (AVX512-VNNI): 16 accumulators, 2 B vectors, 1 broadcast.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn mk_vnni512(groups: usize, rows: &[*const u8; MAX_MR], b: *const i8, ep: Option<&Epilogue>, tile: &mut [i32; TILE]) {
        let mut acc = [[_mm512_setzero_si512(); 2]; 8];
        for g in 0..groups {
            let b0 = _mm512_loadu_si512(b.add(g * 128) as *const __m512i);
            let b1 = _mm512_loadu_si512(b.add(g * 128 + 64) as *const __m512i);
            for r in 0..8 {
                let a = _mm512_set1_epi32(bcast4(rows[r].add(4 * g)));
                acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], a, b0);
                acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], a, b1);
            }
        }
        for r in 0..8 {
            for h in 0..2 {
                match ep {
                    Some(ep) => {
                        let col = 16 * h;
                        let cs = _mm512_loadu_si512(ep.colsum.add(col) as *const __m512i);
                        let v = _mm512_sub_epi32(acc[r][h], _mm512_mullo_epi32(_mm512_set1_epi32(ep.zp[r]), cs));
                        let s = _mm512_mul_ps(_mm512_set1_ps(ep.sa[r]), _mm512_loadu_ps(ep.wscale.add(col)));
                        let mut y = _mm512_mul_ps(_mm512_cvtepi32_ps(v), s);
                        let cp = ep.c.add(r * ep.ldc + col);
                        if ep.accumulate {
                            y = _mm512_add_ps(_mm512_loadu_ps(cp), y);
                        }
                        _mm512_storeu_ps(cp, y);
                    }
                    None => _mm512_storeu_si512(tile.as_mut_ptr().add(r * 32 + 16 * h) as *mut __m512i, acc[r][h]),
                }
            }
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use super::{Epilogue, MAX_MR, TILE};
    use std::arch::wasm32::*;

    /// 4 x 8, two k per step: weights pre-widened to i16 at packing, each row's two activations
    /// one u32 (`v128.load32_splat`), `i32x4.dot_i16x8` per four channels.
    pub unsafe fn mk_simd128(groups: usize, rows: &[*const u8; MAX_MR], b: *const i8, ep: Option<&Epilogue>, tile: &mut [i32; TILE]) {
        let b = b as *const i16;
        let mut acc = [[i32x4_splat(0); 2]; 4];
        for g in 0..groups {
            let lo = v128_load(b.add(g * 16) as *const v128);
            let hi = v128_load(b.add(g * 16 + 8) as *const v128);
            for r in 0..4 {
                let a = v128_load32_splat(rows[r].add(4 * g) as *const u32);
                acc[r][0] = i32x4_add(acc[r][0], i32x4_dot_i16x8(a, lo));
                acc[r][1] = i32x4_add(acc[r][1], i32x4_dot_i16x8(a, hi));
            }
        }
        for r in 0..4 {
            for h in 0..2 {
                match ep {
                    Some(ep) => {
                        let col = 4 * h;
                        let cs = v128_load(ep.colsum.add(col) as *const v128);
                        let v = i32x4_sub(acc[r][h], i32x4_mul(i32x4_splat(ep.zp[r]), cs));
                        let s = f32x4_mul(f32x4_splat(ep.sa[r]), v128_load(ep.wscale.add(col) as *const v128));
                        let mut y = f32x4_mul(f32x4_convert_i32x4(v), s);
                        let cp = ep.c.add(r * ep.ldc + col);
                        if ep.accumulate {
                            y = f32x4_add(v128_load(cp as *const v128), y);
                        }
                        v128_store(cp as *mut v128, y);
                    }
                    None => v128_store(tile.as_mut_ptr().add(r * 8 + 4 * h) as *mut v128, acc[r][h]),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gemm::{gemm_reference, MatRef};

    fn rand_vec(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
        let mut rng = crate::rng::Rng::new(seed);
        (0..n).map(|_| lo + (hi - lo) * rng.uniform()).collect()
    }

    const RAGGED: [(usize, usize, usize); 8] =
        [(1, 1, 1), (3, 5, 7), (7, 13, 5), (5, 17, 33), (13, 33, 257), (50, 70, 300), (73, 100, 129), (130, 48, 768)];

    #[test]
    fn every_available_kernel_matches_the_exact_integer_reference() {
        for isa in available() {
            for &(m, n, k) in &RAGGED {
                // Skewed activations (post-GELU-like) and signed weights with an outlier row.
                let x = rand_vec(m * k, 1 + k as u64, -0.3, 4.0);
                let mut w = rand_vec(n * k, 2 + n as u64, -1.0, 1.0);
                w[..k].iter_mut().for_each(|v| *v *= 8.0);
                let want = gemm_i8_reference(&x, m, &w, n, k);
                let p = PackedI8::from_f32(isa, &w, n, k);
                for threads in [1, 3] {
                    let mut c = vec![f32::NAN; m * n];
                    gemm_i8_with(threads, &x, m, &p, &mut c, n, false);
                    assert_eq!(c, want, "{isa:?} m{m} n{n} k{k} t{threads}");
                    let mut acc = vec![0.25f32; m * n];
                    gemm_i8_with(threads, &x, m, &p, &mut acc, n, true);
                    let want_acc: Vec<f32> = want.iter().map(|v| 0.25 + v).collect();
                    assert_eq!(acc, want_acc, "{isa:?} accumulate m{m} n{n} k{k}");
                }
            }
        }
    }

    #[test]
    fn quantized_gemm_stays_close_to_the_f64_gemm() {
        for &(m, n, k) in &RAGGED[3..] {
            let x = rand_vec(m * k, 11, -1.0, 1.0);
            let w = rand_vec(n * k, 12, -1.0, 1.0);
            let exact = gemm_reference(m, n, k, MatRef::row_major(&x, k), MatRef::transposed(&w, k));
            let mut c = vec![0f32; m * n];
            gemm_i8_with(2, &x, m, &PackedI8::from_f32(detect(), &w, n, k), &mut c, n, false);
            let err: f64 = c.iter().zip(&exact).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>().sqrt();
            let norm: f64 = exact.iter().map(|b| (*b as f64).powi(2)).sum::<f64>().sqrt();
            // 7-bit activations (step 2/127) and 8-bit weights (step 2/254) on uniform data: a
            // relative error of about 1.5%; a wrong kernel is off by ~100%.
            assert!(err / norm < 0.03, "m{m} n{n} k{k}: relative error {}", err / norm);
        }
    }

    #[test]
    fn packing_round_trips_and_requantizing_dequantized_weights_is_exact() {
        let (n, k) = (21, 37);
        let w = rand_vec(n * k, 5, -0.2, 0.3);
        let (q, s) = quantize_weight(&w, n, k);
        for isa in available() {
            assert_eq!(PackedI8::pack(isa, &q, s.clone(), n, k).unpack(), q, "{isa:?}");
        }
        // An int8 checkpoint is loaded as q * s and quantized again: the integers come back.
        let deq: Vec<f32> = q.iter().enumerate().map(|(i, &v)| v as f32 * s[i / k]).collect();
        assert_eq!(quantize_weight(&deq, n, k).0, q);
        assert!(q.iter().any(|&v| v == 127 || v == -127));
    }

    #[test]
    fn activation_rows_use_the_full_7_bit_range_and_keep_zero_exact() {
        let x = [-1.0f32, 0.0, 0.5, 3.0, 2.0];
        let a = quantize_rows(1, &x, 1, 5);
        assert_eq!(a.q[..5].iter().copied().max(), Some(127));
        assert_eq!(a.q[..5].iter().copied().min(), Some(0));
        assert_eq!(a.q[1] as i32, a.zp[0], "zero maps to the zero point");
        for (v, &q) in x.iter().zip(&a.q) {
            assert!((a.scale[0] * (q as i32 - a.zp[0]) as f32 - v).abs() <= a.scale[0] / 2.0 + 1e-6);
        }
        // constant and all-zero rows do not divide by zero
        let z = quantize_rows(1, &[0.0; 4], 1, 4);
        assert_eq!((z.scale[0], z.zp[0]), (1.0, 0));
    }
}

#[cfg(test)]
mod speed {
    use super::*;
    use crate::kernels::gemm::{gemm_with, MatRef};

    /// Not a check: `cargo test --release -p biomeg-core int8_vs_f32_speed -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn int8_vs_f32_speed() {
        let threads: usize = std::env::var("T").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
        for (m, k, n) in [(1024, 768, 2304), (1024, 768, 768), (1024, 768, 3072), (1024, 3072, 768)] {
            let mut rng = crate::rng::Rng::new(1);
            let x: Vec<f32> = (0..m * k).map(|_| rng.uniform() - 0.5).collect();
            let w: Vec<f32> = (0..n * k).map(|_| rng.uniform() - 0.5).collect();
            let mut c = vec![0f32; m * n];
            let f32t = median(|| {
                gemm_with(
                    crate::kernels::simd::detect(),
                    threads,
                    m,
                    n,
                    k,
                    MatRef::row_major(&x, k),
                    MatRef::transposed(&w, k),
                    &mut c,
                    n,
                    false,
                )
            });
            let mut line = format!("{m}x{k}x{n} t{threads}: f32 {:.2} ms", f32t * 1e3);
            for isa in available() {
                let p = PackedI8::from_f32(isa, &w, n, k);
                let t = median(|| gemm_i8_with(threads, &x, m, &p, &mut c, n, false));
                line += &format!(" | {} {:.2} ms ({:.2}x)", isa.name(), t * 1e3, f32t / t);
            }
            eprintln!("{line}");
        }
    }

    fn median(mut f: impl FnMut()) -> f64 {
        f();
        let mut v: Vec<f64> = (0..7)
            .map(|_| {
                let t = std::time::Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[3]
    }
}
