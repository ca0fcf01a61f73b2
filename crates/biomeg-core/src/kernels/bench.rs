//! Fixed buffers for timing GEMM at a given shape (callers time `run`; wasm has no clock here).

use super::gemm::{gemm_with, MatRef};
use super::simd;
use crate::rng::Rng;

pub struct GemmBench {
    m: usize,
    k: usize,
    n: usize,
    a: Vec<f32>,
    w: Vec<f32>,
    c: Vec<f32>,
}

impl GemmBench {
    pub fn new(m: usize, k: usize, n: usize) -> Self {
        let mut rng = Rng::new(42);
        let a = (0..m * k).map(|_| rng.uniform() - 0.5).collect();
        let w = (0..n * k).map(|_| rng.uniform() - 0.5).collect();
        GemmBench { m, k, n, a, w, c: vec![0.0; m * n] }
    }
    pub fn run(&mut self, threads: usize) {
        let (m, k, n) = (self.m, self.k, self.n);
        gemm_with(simd::detect(), threads, m, n, k, MatRef::row_major(&self.a, k), MatRef::transposed(&self.w, k), &mut self.c, n, false);
    }
}
