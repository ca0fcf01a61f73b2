//! Runtime and kernel bindings (wasm-bindgen), the same names as the Node binding.

use biomeg_core::kernels::{dispatch, profile, simd};
use wasm_bindgen::prelude::*;

use crate::coded;

/// `{ simd, simdAvailable, threads, cuda, cudaDetail }` like the Node binding.
#[wasm_bindgen(js_name = runtimeInfo, unchecked_return_type = "RuntimeInfo")]
pub fn runtime_info() -> Result<JsValue, JsValue> {
    let i = biomeg_core::runtime_info();
    let o = js_sys::Object::new();
    let avail: js_sys::Array = simd::available().iter().map(|s| JsValue::from_str(s.name())).collect();
    js_sys::Reflect::set(&o, &"simd".into(), &i.simd.into())?;
    js_sys::Reflect::set(&o, &"simdAvailable".into(), &avail)?;
    js_sys::Reflect::set(&o, &"threads".into(), &(i.threads as u32).into())?;
    js_sys::Reflect::set(&o, &"cuda".into(), &i.cuda.into())?;
    js_sys::Reflect::set(&o, &"cudaDetail".into(), &i.cuda_detail.into())?;
    Ok(o.into())
}

/// Accepted for API parity; wasm always runs on one thread.
#[wasm_bindgen(js_name = setThreads)]
pub fn set_threads(_n: u32) {}

#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn matmul(a: &[f32], b: &[f32], m: u32, k: u32, n: u32, trans_b: bool, device: &str) -> Result<Vec<f32>, JsValue> {
    dispatch::matmul_dense(a, b, m as usize, k as usize, n as usize, trans_b, device).map_err(coded)
}

#[wasm_bindgen]
pub struct GemmBench {
    inner: biomeg_core::kernels::bench::GemmBench,
}

#[wasm_bindgen]
impl GemmBench {
    #[wasm_bindgen(constructor)]
    pub fn new(m: u32, k: u32, n: u32) -> GemmBench {
        GemmBench { inner: biomeg_core::kernels::bench::GemmBench::new(m as usize, k as usize, n as usize) }
    }
    pub fn run(&mut self, threads: u32) {
        self.inner.run(threads as usize);
    }
}

/// No FMA instruction and no clock inside wasm: NaN (the bench reports the native peak).
#[wasm_bindgen(js_name = fmaPeak)]
pub fn fma_peak(_threads: u32, _millis: u32) -> f64 {
    f64::NAN
}

/// `performance.now()` of the JS host (0 where there is none).
fn js_now() -> f64 {
    use wasm_bindgen::JsCast;
    let perf = js_sys::Reflect::get(&js_sys::global(), &"performance".into()).ok();
    perf.and_then(|p| {
        let now = js_sys::Reflect::get(&p, &"now".into()).ok()?.dyn_into::<js_sys::Function>().ok()?;
        now.call0(&p).ok()?.as_f64()
    })
    .unwrap_or(0.0)
}

/// Start (zeroing the counters) or stop per-op time accounting (`biomeg bench --profile`).
#[wasm_bindgen(js_name = setProfiling)]
pub fn set_profiling(on: bool) {
    profile::set_clock(js_now);
    profile::enable(on);
}

/// Per-op times since profiling started, as JSON `{"ops": [{op, ms, calls, inner}]}`.
#[wasm_bindgen(js_name = takeProfile)]
pub fn take_profile() -> String {
    profile::take_json()
}
