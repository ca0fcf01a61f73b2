//! GELU throughput probe: `cargo run --release -p biomeg-core --example gelu_speed`.
use biomeg_core::kernels::ops::gelu;
fn main() {
    biomeg_core::kernels::set_threads(1);
    for n in [4096usize, 3 << 20] {
        let mut x: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 / 250.0 - 2.0).collect();
        let reps = (40_000_000 / n).max(1);
        let t = std::time::Instant::now();
        for _ in 0..reps {
            gelu(&mut x);
            x.iter_mut().for_each(|v| *v = *v * 0.5 - 0.3);
        }
        let ns = t.elapsed().as_secs_f64() * 1e9 / (reps * n) as f64;
        println!("n {n}: {ns:.3} ns per element (GELU + one affine pass)");
    }
}
