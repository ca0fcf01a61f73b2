//! The process-global probe and the model's GEMMs (Linear forward, linear_backward, the bindings'
//! matmul) through the stand-in, selected with BIOMEG_CUDART / BIOMEG_CUBLAS as a user would.
//! One test in its own binary: the probe runs once per process, so the steps run in order here.
#![cfg(not(target_arch = "wasm32"))]
// `.into()` on the Linear fields works whether they are Vec<f32> or dispatch::WeightBuf.
#![allow(clippy::useless_conversion)]

#[path = "cuda_standin/helper.rs"]
mod helper;

use biomeg_core::kernels::dispatch::{cuda_status, matmul_dense};
use biomeg_core::kernels::gemm::{gemm, MatRef};
use biomeg_core::model::Linear;
use biomeg_core::train::ops::linear_backward;
use helper::{assert_close, data, standin, Ctl};

fn linear(inp: usize, out: usize, seed: u64) -> Linear {
    Linear { w: data(out * inp, seed).into(), b: data(out, seed + 1).into(), inp, out }
}

fn forward_cpu(l: &Linear, x: &[f32], rows: usize) -> Vec<f32> {
    let mut y: Vec<f32> = (0..rows).flat_map(|_| l.b.iter().copied()).collect();
    gemm(rows, l.out, l.inp, MatRef::row_major(x, l.inp), MatRef::transposed(&l.w, l.inp), &mut y, l.out, true);
    y
}

#[test]
fn global_probe_and_model_gemms_through_the_stand_in() {
    let lib = standin("global");
    std::env::set_var("BIOMEG_CUDART", &lib);
    std::env::set_var("BIOMEG_CUBLAS", &lib);
    std::env::remove_var("BIOMEG_DEVICE");
    std::env::remove_var("BIOMEG_CUDA_MIN_MACS");
    std::env::remove_var("BIOMEG_CUDA_MIN_INTENSITY");
    let ctl = Ctl::open(&lib);
    let st = cuda_status();
    assert!(st.available, "{}", st.detail);
    assert!(st.detail.starts_with(&format!("{lib} + {lib}")), "{}", st.detail);

    // A large Linear goes to the GPU, a small one stays on the CPU; both equal the CPU.
    let calls = ctl.stat("sgemm_calls");
    let (rows, l) = (128, linear(512, 512, 1));
    let x = data(rows * 512, 3);
    let mut y = vec![0f32; rows * 512];
    l.forward(&x, rows, &mut y);
    assert_close(&y, &forward_cpu(&l, &x, rows), "large Linear");
    assert_eq!(ctl.stat("sgemm_calls"), calls + 1, "large Linear ran on the stand-in");
    let (rows_s, ls) = (4, linear(64, 64, 5));
    let xs = data(rows_s * 64, 6);
    let mut ys = vec![0f32; rows_s * 64];
    ls.forward(&xs, rows_s, &mut ys);
    assert_close(&ys, &forward_cpu(&ls, &xs, rows_s), "small Linear");
    assert_eq!(ctl.stat("sgemm_calls"), calls + 1, "small Linear stayed on the CPU");

    // Training: the weight-gradient GEMM (transposed A) and the input-gradient GEMM both go.
    let (rows, l) = (512, linear(256, 256, 7));
    let (x, dy) = (data(rows * 256, 8), data(rows * 256, 9));
    let (mut gw, mut gb) = (data(256 * 256, 10), vec![0f32; 256]);
    let mut want_gw = gw.clone();
    let calls = ctl.stat("sgemm_calls");
    let dx = linear_backward(&l, &mut gw, &mut gb, &x, &dy, rows, true).unwrap();
    assert_eq!(ctl.stat("sgemm_calls"), calls + 2, "dW and dx on the stand-in");
    gemm(256, 256, rows, MatRef::transposed(&dy, 256), MatRef::row_major(&x, 256), &mut want_gw, 256, true);
    let mut want_dx = vec![0f32; rows * 256];
    gemm(rows, 256, 256, MatRef::row_major(&dy, 256), MatRef::row_major(&l.w, 256), &mut want_dx, 256, false);
    assert_close(&gw, &want_gw, "dW");
    assert_close(&dx, &want_dx, "dx");

    // The bindings' matmul: device 'cuda' whatever the size.
    let (a, b) = (data(3 * 7, 11), data(5 * 7, 12));
    let c = matmul_dense(&a, &b, 3, 7, 5, true, "cuda").unwrap();
    assert_close(&c, &matmul_dense(&a, &b, 3, 7, 5, true, "cpu").unwrap(), "matmul_dense");

    // A runtime failure: same result from the CPU, CUDA off, and `info` says why.
    ctl.sgemm_status(14, 0);
    let (m, k, n) = (256, 256, 256);
    let (a, b) = (data(m * k, 13), data(k * n, 14));
    let auto = matmul_dense(&a, &b, m, k, n, false, "auto").unwrap();
    assert_close(&auto, &matmul_dense(&a, &b, m, k, n, false, "cpu").unwrap(), "fallback");
    let st = cuda_status();
    assert!(!st.available && st.detail.contains("CUBLAS_STATUS_INTERNAL_ERROR"), "{}", st.detail);
    let err = matmul_dense(&a, &b, m, k, n, false, "cuda").unwrap_err().to_string();
    assert!(err.contains("CUBLAS_STATUS_INTERNAL_ERROR"), "{err}");
    let mut y = vec![0f32; 128 * 512];
    let x = data(128 * 512, 3);
    let l = linear(512, 512, 1);
    l.forward(&x, 128, &mut y);
    assert_close(&y, &forward_cpu(&l, &x, 128), "Linear after the failure");
}
