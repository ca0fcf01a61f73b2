//! Node binding (napi-rs): thin conversion layer over biomeg-core and biomeg-text.
//! Every exported function catches panics (`catch_unwind`, or by hand in async tasks) and
//! returns errors as JS `Error`s with a stable code (see `js_err`).
#![deny(clippy::all)]

mod kernels;
mod model;
mod text;
mod train;

/// A JS error carrying a stable code (e.g. "BIOMEG_BAD_WEIGHTS") and a message naming the culprit.
/// napi's generated glue only throws status-typed errors, so the code travels as a "[CODE] "
/// message prefix; ts/errors.ts moves it to `err.code` (the wasm binding does the same).
pub(crate) fn js_err(code: &str, msg: impl std::fmt::Display) -> napi::Error {
    napi::Error::new(napi::Status::GenericFailure, format!("[{code}] {msg}"))
}

/// The text of a caught panic payload.
pub(crate) fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    let s = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
    format!("internal error (Rust panic): {}", s.unwrap_or_else(|| "unknown".into()))
}

/// Parity with the wasm binding (where panics trap and leave a message here); panics in this
/// binding become thrown errors directly, so there is never a pending message.
#[napi_derive::napi(catch_unwind)]
pub fn take_panic_message() -> Option<String> {
    None
}
