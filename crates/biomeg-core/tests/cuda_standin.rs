//! The cuBLAS dispatch driven through the stand-in library (no GPU needed): every test opens its
//! own `Dispatcher` on its own copy of the library, so nothing here touches the process-global
//! probe or depends on test order.
#![cfg(not(target_arch = "wasm32"))]

#[path = "cuda_standin/helper.rs"]
mod helper;

use biomeg_core::kernels::dispatch::{Dispatcher, GemmDevice, OpenOptions, ProbeConfig, WeightBuf};
use biomeg_core::kernels::gemm::{gemm, MatRef};
use helper::{assert_close, data, standin, standin_without_sgemm, Ctl};

const SHAPES: [(usize, usize, usize); 5] = [(1, 1, 1), (3, 5, 7), (64, 1, 33), (129, 65, 1), (37, 300, 45)];

fn open(test: &str) -> (Dispatcher, Ctl, String) {
    let lib = standin(test);
    let ctl = Ctl::open(&lib);
    let d = Dispatcher::from_paths(&lib, &lib);
    assert!(d.status().available, "stand-in did not load: {}", d.status().detail);
    (d, ctl, lib)
}

/// A [m,k] (row-major or stored transposed), B [k,n] (row-major or stored [n,k]).
struct Case {
    a: Vec<f32>,
    b: Vec<f32>,
    c0: Vec<f32>,
    ta: bool,
    tb: bool,
}
impl Case {
    fn new(m: usize, n: usize, k: usize, ta: bool, tb: bool, seed: u64) -> Case {
        Case { a: data(m * k, seed), b: data(k * n, seed + 1), c0: data(m * n, seed + 2), ta, tb }
    }
    fn a(&self, m: usize, k: usize) -> MatRef<'_> {
        if self.ta {
            MatRef::transposed(&self.a, m)
        } else {
            MatRef::row_major(&self.a, k)
        }
    }
    fn b(&self, k: usize, n: usize) -> MatRef<'_> {
        if self.tb {
            MatRef::transposed(&self.b, k)
        } else {
            MatRef::row_major(&self.b, n)
        }
    }
}

fn cpu(m: usize, n: usize, k: usize, a: MatRef, b: MatRef, c0: &[f32], acc: bool) -> Vec<f32> {
    let mut c = c0.to_vec();
    gemm(m, n, k, a, b, &mut c, n, acc);
    c
}

#[test]
fn gpu_path_equals_cpu_on_every_shape_layout_and_accumulate() {
    let (d, ctl, _) = open("parity");
    let mut calls = ctl.stat("sgemm_calls");
    for &(x, y, z) in &SHAPES {
        // The triples read both as (m, n, k) and as (m, k, n).
        for (m, n, k) in [(x, y, z), (x, z, y)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    for acc in [false, true] {
                        let case = Case::new(m, n, k, ta, tb, (m * 31 + n * 7 + k) as u64);
                        let want = cpu(m, n, k, case.a(m, k), case.b(k, n), &case.c0, acc);
                        let mut got = case.c0.clone();
                        d.matmul_on(GemmDevice::Cuda, m, n, k, case.a(m, k), case.b(k, n), None, &mut got, n, acc)
                            .unwrap_or_else(|e| panic!("({m},{n},{k}) ta={ta} tb={tb} acc={acc}: {e}"));
                        assert_close(&got, &want, &format!("({m},{n},{k}) ta={ta} tb={tb} acc={acc}"));
                        calls += 1;
                        assert_eq!(ctl.stat("sgemm_calls"), calls, "every case ran on the stand-in");
                    }
                }
            }
        }
    }
    assert!(d.status().available, "{}", d.status().detail);
    assert!(ctl.stat("live_pinned_allocs") >= 1, "uploads go through pinned staging");
    assert!(ctl.stat("set_device_calls") >= 1, "cudaSetDevice is called");
}

#[test]
fn strided_operands_keep_the_gaps_of_c() {
    let (d, _ctl, _) = open("strided");
    let (m, n, k, lda, ldb, ldc) = (7, 5, 6, 9, 8, 11);
    let a = data((m - 1) * lda + k, 1);
    let b = data((k - 1) * ldb + n, 2);
    for acc in [false, true] {
        let mut want = vec![777f32; (m - 1) * ldc + n];
        let (am, bm) = (MatRef { data: &a, rs: lda, cs: 1 }, MatRef { data: &b, rs: ldb, cs: 1 });
        gemm(m, n, k, am, bm, &mut want, ldc, acc);
        let mut got = vec![777f32; (m - 1) * ldc + n];
        d.matmul_on(GemmDevice::Cuda, m, n, k, am, bm, None, &mut got, ldc, acc).unwrap();
        assert_close(&got, &want, "strided");
    }
}

#[test]
fn empty_shapes_never_reach_cublas() {
    let (mut d, ctl, _) = open("empty");
    d.thresholds.min_macs = 0;
    let before = ctl.stat("sgemm_calls");
    let a = data(12, 3);
    let b = data(12, 4);
    // k = 0: C = 0, or unchanged when accumulating.
    for acc in [false, true] {
        let mut c = vec![5f32; 12];
        d.matmul_on(GemmDevice::Cuda, 3, 4, 0, MatRef::row_major(&a, 0), MatRef::row_major(&b, 4), None, &mut c, 4, acc).unwrap();
        assert!(c.iter().all(|&v| v == if acc { 5.0 } else { 0.0 }));
        // Through the dispatcher too, with a threshold of zero.
        assert_eq!(d.matmul(3, 4, 0, MatRef::row_major(&a, 0), MatRef::row_major(&b, 4), None, &mut c, 4, acc), GemmDevice::Cpu);
    }
    // n = 0 and m = 0: nothing to do.
    let mut c: Vec<f32> = vec![];
    d.matmul_on(GemmDevice::Cuda, 3, 0, 4, MatRef::row_major(&a, 4), MatRef::row_major(&b, 0), None, &mut c, 0, false).unwrap();
    d.matmul_on(GemmDevice::Cuda, 0, 3, 4, MatRef::row_major(&a, 4), MatRef::row_major(&b, 3), None, &mut c, 3, true).unwrap();
    assert_eq!(ctl.stat("sgemm_calls"), before);
    assert!(d.status().available);
}

#[test]
fn c_is_not_uploaded_when_beta_is_zero() {
    let (d, ctl, _) = open("beta0");
    let (m, n, k) = (37, 45, 30);
    let case = Case::new(m, n, k, false, true, 9);
    for acc in [false, true] {
        let h0 = ctl.stat("h2d_bytes");
        let mut c = case.c0.clone();
        d.matmul_on(GemmDevice::Cuda, m, n, k, case.a(m, k), case.b(k, n), None, &mut c, n, acc).unwrap();
        let moved = ctl.stat("h2d_bytes") - h0;
        let expect = 4 * (m * k + k * n + if acc { m * n } else { 0 });
        assert_eq!(moved as usize, expect, "accumulate={acc}");
    }
}

#[test]
fn weights_are_uploaded_once_per_version_and_freed_with_their_buffer() {
    let (d, ctl, _) = open("weights");
    let (rows, inp, out) = (20, 48, 40);
    let x = data(rows * inp, 5);
    let mut w = WeightBuf::from(data(out * inp, 6));
    let run = |w: &WeightBuf| {
        let mut y = vec![0f32; rows * out];
        let h0 = ctl.stat("h2d_bytes");
        d.matmul_on(GemmDevice::Cuda, rows, out, inp, MatRef::row_major(&x, inp), MatRef::transposed(w, inp), Some(w), &mut y, out, false)
            .unwrap();
        let mut want = vec![0f32; rows * out];
        gemm(rows, out, inp, MatRef::row_major(&x, inp), MatRef::transposed(w, inp), &mut want, out, false);
        assert_close(&y, &want, "weight GEMM");
        (ctl.stat("h2d_bytes") - h0) as usize
    };
    let (xa, wb) = (4 * rows * inp, 4 * out * inp);
    assert_eq!(run(&w), xa + wb, "first use uploads the weight");
    assert_eq!(run(&w), xa, "second use finds it on the device");
    // The input-gradient GEMM views the same weight row-major: same device copy.
    let dy = data(rows * out, 7);
    let mut dx = vec![0f32; rows * inp];
    let h0 = ctl.stat("h2d_bytes");
    d.matmul_on(GemmDevice::Cuda, rows, inp, out, MatRef::row_major(&dy, out), MatRef::row_major(&w, inp), Some(&w), &mut dx, inp, false)
        .unwrap();
    assert_eq!((ctl.stat("h2d_bytes") - h0) as usize, 4 * rows * out);
    // A mutation (an optimizer step) bumps the version: uploaded again, and the result is right.
    w[3] += 1.0;
    assert_eq!(run(&w), xa + wb, "a changed weight is uploaded again");
    assert_eq!(run(&w), xa);
    let cuda = d.cuda().unwrap();
    assert_eq!(cuda.cached_weight_bytes(), wb);
    let (bytes, allocs) = (ctl.stat("live_device_bytes"), ctl.stat("live_device_allocs"));
    // A clone is another buffer: its own upload.
    let w2 = w.clone();
    assert_ne!(w2.id(), w.id());
    assert_eq!(run(&w2), xa + wb);
    drop(w2);
    drop(w);
    assert_eq!(cuda.cached_weight_bytes(), 0, "dropping the weights frees their device copies");
    assert_eq!(ctl.stat("live_device_allocs"), allocs - 1);
    assert_eq!(ctl.stat("live_device_bytes"), bytes - wb as i64);
}

#[test]
fn dispatcher_picks_the_gpu_for_a_large_linear_and_the_cpu_below_the_threshold() {
    let (d, ctl, _) = open("threshold");
    let linear = |rows: usize, inp: usize, out: usize| {
        let x = data(rows * inp, 11);
        let w = WeightBuf::from(data(out * inp, 12));
        let bias = data(rows * out, 13);
        let mut y = bias.clone();
        let dev = d.matmul(rows, out, inp, MatRef::row_major(&x, inp), MatRef::transposed(&w, inp), Some(&w), &mut y, out, true);
        let mut want = bias;
        gemm(rows, out, inp, MatRef::row_major(&x, inp), MatRef::transposed(&w, inp), &mut want, out, true);
        assert_close(&y, &want, "linear");
        dev
    };
    let calls = ctl.stat("sgemm_calls");
    assert_eq!(linear(128, 512, 512), GemmDevice::Cuda, "128 x 512 -> 512 (33M MACs)");
    assert_eq!(ctl.stat("sgemm_calls"), calls + 1);
    assert_eq!(linear(8, 768, 768), GemmDevice::Cpu, "8 x 768 -> 768 (4.7M MACs) stays on the CPU");
    assert_eq!(linear(4, 64, 64), GemmDevice::Cpu);
    // Enough work but too little per element moved: a rank-4 update of a 4096 x 4096 C.
    let (m, n, k) = (4096, 4096, 4);
    let (a, b) = (data(m * k, 1), data(k * n, 2));
    let mut c = vec![0f32; m * n];
    assert!(m * n * k >= d.thresholds.min_macs);
    assert_eq!(d.matmul(m, n, k, MatRef::row_major(&a, k), MatRef::row_major(&b, n), None, &mut c, n, true), GemmDevice::Cpu);
    assert_eq!(ctl.stat("sgemm_calls"), calls + 1);
}

#[test]
fn weight_gradient_gemm_with_transposed_a_goes_to_the_gpu() {
    let (d, ctl, _) = open("wgrad");
    let (rows, inp, out) = (512, 256, 256);
    let (x, dy) = (data(rows * inp, 21), data(rows * out, 22));
    let g0 = data(out * inp, 23);
    // dW[out, in] += dy^T [out, rows] x [rows, in], exactly as train::ops::linear_backward.
    let mut gw = g0.clone();
    let dev = d.matmul(out, inp, rows, MatRef::transposed(&dy, out), MatRef::row_major(&x, inp), None, &mut gw, inp, true);
    assert_eq!(dev, GemmDevice::Cuda);
    assert_eq!(ctl.stat("sgemm_calls"), 1 + 4, "self-test ran 4, this one 1");
    let mut want = g0;
    gemm(out, inp, rows, MatRef::transposed(&dy, out), MatRef::row_major(&x, inp), &mut want, inp, true);
    assert_close(&gw, &want, "dW");
}

fn big_case() -> (usize, usize, usize, Case) {
    let (m, n, k) = (256, 256, 256);
    (m, n, k, Case::new(m, n, k, false, true, 40))
}

#[test]
fn out_of_memory_falls_back_to_the_cpu_and_says_why() {
    let (d, ctl, _) = open("oom");
    ctl.fail_malloc_after(0);
    let (m, n, k, case) = big_case();
    let want = cpu(m, n, k, case.a(m, k), case.b(k, n), &case.c0, true);
    let mut c = case.c0.clone();
    assert_eq!(d.matmul(m, n, k, case.a(m, k), case.b(k, n), None, &mut c, n, true), GemmDevice::Cpu);
    assert_eq!(c, want, "same result as the CPU, C untouched by the failed attempt");
    let st = d.status();
    assert!(!st.available);
    assert!(st.detail.contains("cudaMalloc") && st.detail.contains("out of memory"), "{}", st.detail);
    assert!(st.detail.contains("turned off after a runtime failure"), "{}", st.detail);
    // Off for good: no further attempts, and the device memory went back.
    let calls = ctl.stat("sgemm_calls");
    let mut c2 = case.c0.clone();
    assert_eq!(d.matmul(m, n, k, case.a(m, k), case.b(k, n), None, &mut c2, n, true), GemmDevice::Cpu);
    assert_eq!(c2, want);
    assert_eq!(ctl.stat("sgemm_calls"), calls);
    assert_eq!(ctl.stat("live_device_allocs"), 0);
    let err = d.matmul_on(GemmDevice::Cuda, 2, 2, 2, case.a(2, 2), case.b(2, 2), None, &mut c2, 2, false).unwrap_err();
    assert!(err.contains("out of memory"), "{err}");
}

#[test]
fn error_status_falls_back_to_the_cpu_and_says_why() {
    let (d, ctl, _) = open("status");
    ctl.sgemm_status(13, 0);
    let (m, n, k, case) = big_case();
    for acc in [true, false] {
        let want = cpu(m, n, k, case.a(m, k), case.b(k, n), &case.c0, acc);
        let mut c = case.c0.clone();
        assert_eq!(d.matmul(m, n, k, case.a(m, k), case.b(k, n), None, &mut c, n, acc), GemmDevice::Cpu);
        assert_eq!(c, want);
    }
    let st = d.status();
    assert!(!st.available && st.detail.contains("CUBLAS_STATUS_EXECUTION_FAILED"), "{}", st.detail);
}

#[test]
fn a_bad_override_path_is_reported_exactly_and_nothing_else_is_tried() {
    let bogus = "/no/such/dir/libcudart-typo.so.13";
    let d = Dispatcher::probe(&ProbeConfig { cudart: Some(bogus.into()), ..Default::default() });
    let st = d.status();
    assert!(!st.available);
    assert!(st.detail.contains(&format!("BIOMEG_CUDART={bogus}")), "{}", st.detail);
    assert!(!st.detail.contains("libcudart.so.12") && !st.detail.contains("libcublas"), "no fallback: {}", st.detail);
    // A good cudart with a bad cuBLAS override.
    let lib = standin("badblas");
    let bogus = "/no/such/libcublas.so.99";
    let d = Dispatcher::probe(&ProbeConfig { cudart: Some(lib.clone()), cublas: Some(bogus.into()), ..Default::default() });
    assert!(d.status().detail.contains(&format!("BIOMEG_CUBLAS={bogus}")), "{}", d.status().detail);
    // Both overrides good: that pair, exactly.
    let d = Dispatcher::probe(&ProbeConfig { cudart: Some(lib.clone()), cublas: Some(lib.clone()), ..Default::default() });
    assert!(d.status().available && d.status().detail.starts_with(&format!("{lib} + {lib}")), "{}", d.status().detail);
}

#[test]
fn overrides_replace_their_side_of_every_candidate_pair() {
    let cfg = ProbeConfig { cudart: Some("/x/rt.so".into()), ..Default::default() };
    let pairs = cfg.candidates();
    assert!(pairs.iter().all(|(rt, _)| rt == "/x/rt.so"));
    assert!(pairs.iter().any(|(_, bl)| bl == "libcublas.so.13") && pairs.iter().any(|(_, bl)| bl == "libcublas.so.12"));
    let pairs = ProbeConfig::default().candidates();
    let pos = |rt: &str, bl: &str| pairs.iter().position(|p| p.0 == rt && p.1 == bl).unwrap();
    assert!(pos("libcudart.so.13", "libcublas.so.13") < pos("libcudart.so.12", "libcublas.so.12"));
    assert!(!pairs.iter().any(|(rt, bl)| rt.ends_with(".so.13") && bl.ends_with(".so.12")), "majors are not mixed");
}

#[test]
fn probe_moves_to_the_next_pair_when_one_fails() {
    let first = standin("pair1");
    let ctl1 = Ctl::open(&first);
    ctl1.device_count(0); // like libcudart.so.13 on a CUDA 12 driver: opens, finds no device
    let second = standin("pair2");
    let d = Dispatcher::from_pairs(
        &[(first.clone(), first.clone()), (second.clone(), second.clone())],
        &OpenOptions { device: 0, tf32: false },
    );
    let st = d.status();
    assert!(st.available, "{}", st.detail);
    assert!(st.detail.starts_with(&format!("{second} + {second}")), "{}", st.detail);
    assert_eq!(ctl1.stat("live_handles"), 0);
    // When every pair fails, every reason is kept.
    let d = Dispatcher::from_pairs(&[(first.clone(), first.clone())], &OpenOptions { device: 0, tf32: false });
    assert!(d.status().detail.contains("cudaGetDeviceCount") && d.status().detail.contains(&first), "{}", d.status().detail);
}

#[test]
fn self_test_rejects_a_library_with_wrong_results_without_leaking() {
    let lib = standin("corrupt");
    let ctl = Ctl::open(&lib);
    ctl.corrupt(true);
    let d = Dispatcher::from_paths(&lib, &lib);
    assert!(!d.status().available && d.status().detail.contains("self-test GEMM"), "{}", d.status().detail);
    assert_eq!(ctl.stat("handles_created"), 1);
    assert_eq!(ctl.stat("live_handles"), 0);
    assert_eq!(ctl.stat("live_device_allocs") + ctl.stat("live_pinned_allocs"), 0);
}

#[test]
fn failures_after_cublas_create_do_not_leak_the_handle() {
    let lib = standin("mathmode");
    let ctl = Ctl::open(&lib);
    ctl.math_mode_status(14);
    let d = Dispatcher::from_paths(&lib, &lib);
    assert!(d.status().detail.contains("cublasSetMathMode"), "{}", d.status().detail);
    assert_eq!((ctl.stat("handles_created"), ctl.stat("live_handles")), (1, 0));
    // A missing symbol is found before any handle exists.
    let lib = standin_without_sgemm("nosgemm");
    let ctl = Ctl::open(&lib);
    let d = Dispatcher::from_paths(&lib, &lib);
    assert!(d.status().detail.contains("cublasSgemm_v2"), "{}", d.status().detail);
    assert_eq!(ctl.stat("handles_created"), 0);
}

#[test]
fn fp32_math_by_default_and_tf32_only_when_asked() {
    let (d, ctl, lib) = open("math");
    assert_eq!(ctl.stat("math_mode"), 0, "CUBLAS_DEFAULT_MATH");
    assert!(d.status().detail.contains("fp32 math"));
    drop(d);
    let d = Dispatcher::probe(&ProbeConfig { cudart: Some(lib.clone()), cublas: Some(lib), tf32: true, ..Default::default() });
    assert!(d.status().available);
    assert_eq!(ctl.stat("math_mode"), 3, "CUBLAS_TF32_TENSOR_OP_MATH");
}

#[test]
fn dropping_a_dispatcher_frees_everything() {
    let (d, ctl, _) = open("drop");
    let (m, n, k, case) = big_case();
    let w = WeightBuf::from(case.b.clone());
    let mut c = case.c0.clone();
    assert_eq!(d.matmul(m, n, k, case.a(m, k), MatRef::transposed(&w, k), Some(&w), &mut c, n, true), GemmDevice::Cuda);
    assert!(ctl.stat("live_device_allocs") > 0);
    drop(d);
    assert_eq!(ctl.stat("live_handles"), 0);
    assert_eq!(ctl.stat("live_device_allocs"), 0);
    assert_eq!(ctl.stat("live_pinned_allocs"), 0);
    drop(w); // its instance is gone: nothing to free, nothing to crash
    assert!(ctl.last_error().is_empty(), "{}", ctl.last_error());
}
