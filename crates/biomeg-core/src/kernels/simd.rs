//! Run-time choice of instruction set and the GEMM micro-kernels for each.
//!
//! | isa      | tile (MR x NR) | registers used                      |
//! |----------|----------------|-------------------------------------|
//! | avx512   | 12 x 32        | 24 zmm accumulators + 2 B + 1 bcast |
//! | avx2     | 6 x 16         | 12 ymm accumulators + 2 B + 1 bcast |
//! | simd128  | 4 x 8          | 8 v128 accumulators (wasm)          |
//! | portable | 4 x 8          | whatever the compiler makes of it   |
//!
//! simd128 stays at 4 x 8: a 6 x 8 tile measured 21 vs 31 GFLOP/s in Node 20 (V8 spills past
//! its 16 vector registers), same machine, alternating runs.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    Avx2,
    Simd128,
    Portable,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2+fma",
            Isa::Simd128 => "simd128",
            Isa::Portable => "portable",
        }
    }
    pub fn mr(self) -> usize {
        match self {
            Isa::Avx512 => 12,
            Isa::Avx2 => 6,
            _ => 4,
        }
    }
    pub fn nr(self) -> usize {
        match self {
            Isa::Avx512 => 32,
            Isa::Avx2 => 16,
            _ => 8,
        }
    }
    pub fn from_name(name: &str) -> Option<Isa> {
        available().into_iter().find(|i| i.name() == name || (name == "avx2" && *i == Isa::Avx2))
    }
}

/// The best instruction set this CPU supports (overridable with BIOMEG_SIMD=avx2|portable|...).
pub fn detect() -> Isa {
    use std::sync::OnceLock;
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        #[cfg(not(target_arch = "wasm32"))]
        if let Ok(want) = std::env::var("BIOMEG_SIMD") {
            if let Some(isa) = Isa::from_name(&want) {
                return isa;
            }
        }
        available()[0]
    })
}

/// Every instruction set usable here, best first.
pub fn available() -> Vec<Isa> {
    #[allow(unused_mut)]
    let mut v = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            v.push(Isa::Avx512);
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            v.push(Isa::Avx2);
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    v.push(Isa::Simd128);
    v.push(Isa::Portable);
    v
}

/// Run the micro-kernel of `isa` over one tile: C[0..mr_eff, 0..nr_eff] (+)= Apanel * Bpanel.
///
/// # Safety
/// `a` holds kc*MR packed values, `b` kc*NR, and `c` points at a tile of at least
/// mr_eff rows (stride ldc) by nr_eff columns that nobody else writes meanwhile.
#[allow(clippy::too_many_arguments)]
#[inline]
pub unsafe fn microkernel(isa: Isa, kc: usize, a: &[f32], b: &[f32], c: *mut f32, ldc: usize, mr_eff: usize, nr_eff: usize, acc: bool) {
    debug_assert!(a.len() >= kc * isa.mr() && b.len() >= kc * isa.nr());
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::mk_avx512(kc, a.as_ptr(), b.as_ptr(), c, ldc, mr_eff, nr_eff, acc),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::mk_avx2(kc, a.as_ptr(), b.as_ptr(), c, ldc, mr_eff, nr_eff, acc),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => wasm::mk_simd128(kc, a.as_ptr(), b.as_ptr(), c, ldc, mr_eff, nr_eff, acc),
        _ => mk_portable(kc, a, b, c, ldc, mr_eff, nr_eff, acc),
    }
}

/// Whether `isa` has a micro-kernel that reads A's rows in place (`microkernel_rows`), so a
/// GEMM on a packed weight need not pack A either.
pub fn has_rows_kernel(isa: Isa) -> bool {
    cfg!(target_arch = "x86_64") && isa == Isa::Avx512
}

/// As `microkernel` for a whole MR-row tile, with A read in place: row r of the tile is
/// `a[r * lda..][..kc]`. Only for the ISAs where `has_rows_kernel` is true.
///
/// # Safety
/// As `microkernel`; `a` points at MR rows of at least kc values, lda apart.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(target_arch = "wasm32", allow(unused_variables))]
#[inline]
pub unsafe fn microkernel_rows(
    isa: Isa,
    kc: usize,
    a: *const f32,
    lda: usize,
    b: &[f32],
    c: *mut f32,
    ldc: usize,
    nr_eff: usize,
    acc: bool,
) {
    debug_assert!(b.len() >= kc * isa.nr() && has_rows_kernel(isa));
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::mk_avx512_rows(kc, a, lda, b.as_ptr(), c, ldc, nr_eff, acc),
        _ => unreachable!("no in-place-A micro-kernel for {isa:?}"),
    }
}

/// Write an MR x NR accumulator tile (row-major in `tile`) into C, whole or clipped.
#[inline(always)]
unsafe fn store_tile<const MR: usize, const NR: usize>(tile: &[f32], c: *mut f32, ldc: usize, mr_eff: usize, nr_eff: usize, acc: bool) {
    for r in 0..mr_eff {
        let row = c.add(r * ldc);
        for q in 0..nr_eff {
            let v = tile[r * NR + q];
            *row.add(q) = if acc { *row.add(q) + v } else { v };
        }
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn mk_portable(kc: usize, a: &[f32], b: &[f32], c: *mut f32, ldc: usize, mr_eff: usize, nr_eff: usize, acc: bool) {
    const MR: usize = 4;
    const NR: usize = 8;
    let mut t = [0f32; MR * NR];
    for p in 0..kc {
        let ap = &a[p * MR..p * MR + MR];
        let bp = &b[p * NR..p * NR + NR];
        for r in 0..MR {
            for q in 0..NR {
                t[r * NR + q] += ap[r] * bp[q];
            }
        }
    }
    store_tile::<MR, NR>(&t, c, ldc, mr_eff, nr_eff, acc);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::store_tile;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn mk_avx2(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, mr_eff: usize, nr_eff: usize, acc: bool) {
        const MR: usize = 6;
        const NR: usize = 16;
        let mut t = [[_mm256_setzero_ps(); 2]; MR];
        for p in 0..kc {
            let b0 = _mm256_loadu_ps(b.add(p * NR));
            let b1 = _mm256_loadu_ps(b.add(p * NR + 8));
            let ap = a.add(p * MR);
            for r in 0..MR {
                let ar = _mm256_broadcast_ss(&*ap.add(r));
                t[r][0] = _mm256_fmadd_ps(ar, b0, t[r][0]);
                t[r][1] = _mm256_fmadd_ps(ar, b1, t[r][1]);
            }
        }
        if mr_eff == MR && nr_eff == NR {
            for r in 0..MR {
                let row = c.add(r * ldc);
                for h in 0..2 {
                    let v = if acc { _mm256_add_ps(_mm256_loadu_ps(row.add(8 * h)), t[r][h]) } else { t[r][h] };
                    _mm256_storeu_ps(row.add(8 * h), v);
                }
            }
        } else {
            let mut tile = [0f32; MR * NR];
            for r in 0..MR {
                _mm256_storeu_ps(tile.as_mut_ptr().add(r * NR), t[r][0]);
                _mm256_storeu_ps(tile.as_mut_ptr().add(r * NR + 8), t[r][1]);
            }
            store_tile::<MR, NR>(&tile, c, ldc, mr_eff, nr_eff, acc);
        }
    }

    /// The 12 x 32 tile body of both A layouts: C[0..mr_eff, 0..nr_eff] (+)= A B with 24 zmm
    /// accumulators, `$a(p, r)` the address of A element (r, p), masked loads / stores for ragged
    /// columns. A macro, not a function: each kernel keeps its A addressing constant (an
    /// `#[inline]` helper taking the strides was not inlined and ran 3-4 % slower).
    macro_rules! tile_12x32 {
        ($kc:expr, $b:expr, $c:expr, $ldc:expr, $mr_eff:expr, $nr_eff:expr, $acc:expr, |$p:ident, $r:ident| $a:expr) => {{
            const MR: usize = 12;
            const NR: usize = 32;
            let mut t = [[_mm512_setzero_ps(); 2]; MR];
            for $p in 0..$kc {
                let b0 = _mm512_loadu_ps($b.add($p * NR));
                let b1 = _mm512_loadu_ps($b.add($p * NR + 16));
                for $r in 0..MR {
                    let ar = _mm512_set1_ps(*$a);
                    t[$r][0] = _mm512_fmadd_ps(ar, b0, t[$r][0]);
                    t[$r][1] = _mm512_fmadd_ps(ar, b1, t[$r][1]);
                }
            }
            for (r, tr) in t.iter().enumerate().take($mr_eff) {
                let row = $c.add(r * $ldc);
                for (h, &th) in tr.iter().enumerate() {
                    let p = row.add(16 * h);
                    if $nr_eff == NR {
                        _mm512_storeu_ps(p, if $acc { _mm512_add_ps(_mm512_loadu_ps(p), th) } else { th });
                    } else {
                        let cols = $nr_eff.saturating_sub(16 * h).min(16);
                        let mask: __mmask16 = if cols == 16 { 0xFFFF } else { (1u16 << cols) - 1 };
                        let v = if $acc { _mm512_add_ps(_mm512_maskz_loadu_ps(mask, p), th) } else { th };
                        _mm512_mask_storeu_ps(p, mask, v);
                    }
                }
            }
        }};
    }

    /// 12 x 32 tile over packed A panels (element (r, p) at `a[p * 12 + r]`).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn mk_avx512(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, mr_eff: usize, nr_eff: usize, acc: bool) {
        tile_12x32!(kc, b, c, ldc, mr_eff, nr_eff, acc, |p, r| a.add(p * 12 + r))
    }

    /// The same tile broadcasting A from its 12 rows in place (element (r, p) at `a[r * lda + p]`).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn mk_avx512_rows(kc: usize, a: *const f32, lda: usize, b: *const f32, c: *mut f32, ldc: usize, nr_eff: usize, acc: bool) {
        tile_12x32!(kc, b, c, ldc, 12, nr_eff, acc, |p, r| a.add(r * lda + p))
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use super::store_tile;
    use std::arch::wasm32::*;

    #[allow(clippy::too_many_arguments)]
    pub unsafe fn mk_simd128(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, mr_eff: usize, nr_eff: usize, acc: bool) {
        const MR: usize = 4;
        const NR: usize = 8;
        let mut t = [[f32x4_splat(0.0); 2]; MR];
        for p in 0..kc {
            let b0 = v128_load(b.add(p * NR) as *const v128);
            let b1 = v128_load(b.add(p * NR + 4) as *const v128);
            let ap = a.add(p * MR);
            for r in 0..MR {
                let ar = f32x4_splat(*ap.add(r));
                t[r][0] = f32x4_add(t[r][0], f32x4_mul(ar, b0));
                t[r][1] = f32x4_add(t[r][1], f32x4_mul(ar, b1));
            }
        }
        let mut tile = [0f32; MR * NR];
        for r in 0..MR {
            v128_store(tile.as_mut_ptr().add(r * NR) as *mut v128, t[r][0]);
            v128_store(tile.as_mut_ptr().add(r * NR + 4) as *mut v128, t[r][1]);
        }
        store_tile::<MR, NR>(&tile, c, ldc, mr_eff, nr_eff, acc);
    }
}
