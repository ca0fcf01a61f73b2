//! WebAssembly binding (wasm-bindgen): thin conversion layer over biomeg-core and biomeg-text,
//! exporting the same names and signatures as the Node binding.
use wasm_bindgen::prelude::*;

mod text;

/// A JS `Error` with a stable `code` property, like the Node binding's errors.
pub(crate) fn js_err(code: &str, msg: impl std::fmt::Display) -> JsValue {
    let e = js_sys::Error::new(&msg.to_string());
    let _ = js_sys::Reflect::set(&e, &JsValue::from_str("code"), &JsValue::from_str(code));
    e.into()
}
