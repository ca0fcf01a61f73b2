//! Node binding (napi-rs): thin conversion layer over biomeg-core and biomeg-text.
//! Every exported function catches panics (`catch_unwind`) and returns errors as JS `Error`s
//! whose `code` is a stable string (see `js_err`).
#![deny(clippy::all)]

mod text;

/// A JS error with a stable `code` (e.g. "BIOMEG_BAD_WEIGHTS") and a message naming the culprit.
pub(crate) fn js_err(code: &str, msg: impl std::fmt::Display) -> napi::Error<String> {
    napi::Error::new(code.to_string(), msg.to_string())
}
