//! WebAssembly binding (wasm-bindgen): thin conversion layer over biomeg-core and biomeg-text,
//! exporting the same names and signatures as the Node binding.
use wasm_bindgen::prelude::*;

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
