//! WebAssembly binding (wasm-bindgen): thin conversion layer over biomeg-core and biomeg-text,
//! exporting the same names and signatures as the Node binding.
use wasm_bindgen::prelude::*;

mod electra;
mod kernels;
mod model;
mod text;
mod train;

/// A JS `Error` with a stable code, shaped like the Node binding's errors: message
/// "[CODE] text" (ts/errors.ts normalizes both) and a `code` property.
pub(crate) fn js_err(code: &str, msg: impl std::fmt::Display) -> JsValue {
    let e = js_sys::Error::new(&format!("[{code}] {msg}"));
    let _ = js_sys::Reflect::set(&e, &JsValue::from_str("code"), &JsValue::from_str(code));
    e.into()
}

/// The errors of the core crates: each has a stable code.
pub(crate) trait Coded: std::fmt::Display {
    fn code(&self) -> &'static str;
}
macro_rules! coded {
    ($($t:ty),*) => {$(impl Coded for $t { fn code(&self) -> &'static str { <$t>::code(self) } })*};
}
coded!(biomeg_core::CoreError, biomeg_core::train::TrainError, biomeg_text::TextError);

/// A core error as a coded JS error (`.map_err(coded)`).
pub(crate) fn coded<E: Coded>(e: E) -> JsValue {
    js_err(e.code(), e)
}

// The shapes of the plain objects returned where the Rust signature says `JsValue`/`Object`
// (referenced by `unchecked_return_type`), the same as the Node binding's generated interfaces.
#[wasm_bindgen(typescript_custom_section)]
const TS_SHAPES: &'static str = r#"
export interface RuntimeInfo { simd: string; simdAvailable: Array<string>; threads: number; cuda: boolean; cudaDetail: string }
export interface ForwardOutput { hidden: Float32Array; logits: Float32Array | null }
export interface Encoded { ids: Uint32Array; offsets: Uint32Array; wordIds: Uint32Array; tokens: Array<string> }
export interface SpecialIds { cls: number | null; sep: number | null; pad: number | null; unk: number | null; mask: number | null }
export interface StepResult { loss: number; counted: number; correct: number; updated: boolean; lr: number; gradNorm: number | null; step: number }
export interface EvalResult { loss: number; counted: number; correct: number }
export interface ElectraStepResult { loss: number; genLoss: number; discLoss: number; masked: number; genCorrect: number; replaced: number; discCounted: number; discCorrect: number; updated: boolean; lr: number; gradNorm: number | null; step: number }
"#;

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Panics abort (trap) in wasm; this hook keeps the message so the TS layer can report it after
/// catching the trap (and then re-instantiates the module).
#[wasm_bindgen(start)]
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("internal error (Rust panic): {info}")));
    }));
}

/// The message of the last panic, if any (cleared by reading).
#[wasm_bindgen(js_name = takePanicMessage)]
pub fn take_panic_message() -> Option<String> {
    LAST_PANIC.with(|p| p.borrow_mut().take())
}

/// TEST-ONLY entry point (test/panic.test.mjs): panics with `message`, to check that a Rust panic
/// (a trap here) reaches JS as a `BIOMEG_PANIC` error and the next call works. Not library API.
#[wasm_bindgen(js_name = debugPanic)]
pub fn debug_panic(message: &str) {
    panic!("{message}")
}
