//! Node binding (napi-rs): thin conversion layer over biomeg-core and biomeg-text.
//! Every exported function catches panics (`catch_unwind`, or by hand in async tasks) and
//! returns errors as JS `Error`s with a stable code (see `js_err`).
#![deny(clippy::all)]

mod electra;
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

/// The errors of the core crates: each has a stable code.
pub(crate) trait Coded: std::fmt::Display {
    fn code(&self) -> &'static str;
}
macro_rules! coded {
    ($($t:ty),*) => {$(impl Coded for $t { fn code(&self) -> &'static str { <$t>::code(self) } })*};
}
coded!(biomeg_core::CoreError, biomeg_core::train::TrainError, biomeg_text::TextError);
impl Coded for std::convert::Infallible {
    fn code(&self) -> &'static str {
        match *self {}
    }
}

/// Every exported call runs inside `guard`: a core error becomes a coded JS error and a panic
/// becomes a `BIOMEG_PANIC` error (napi's own `catch_unwind` would drop the code), so the
/// process and the addon stay usable.
pub(crate) fn guard<T, E: Coded>(f: impl FnOnce() -> Result<T, E>) -> napi::Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(js_err(e.code(), e)),
        Err(p) => Err(js_err("BIOMEG_PANIC", panic_message(p))),
    }
}

/// `guard` for calls that cannot fail except by panicking.
pub(crate) fn safe<T>(f: impl FnOnce() -> T) -> napi::Result<T> {
    guard(|| Ok::<T, std::convert::Infallible>(f()))
}

/// Keep freed activation buffers in the heap instead of returning them to the OS after every
/// forward/backward pass. glibc's defaults mmap and unmap each multi-MB buffer, and the page
/// faults that followed cost about 15 % of a training step at MiniLM size (measured with perf;
/// 1293 -> 1479 tokens/s). Peak RSS is unchanged; memory is retained up to 1 GiB after a call.
/// One arena: the libuv worker that runs a step and the kernel threads it spawns would otherwise
/// get secondary arenas, whose heaps the trim threshold does not hold on to (measured at batch
/// 32 x 96: page faults 706k -> 311k per run, 1590 -> 1804 tokens/s).
#[napi_derive::module_init]
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// The text of a caught panic payload.
pub(crate) fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    let s = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
    format!("internal error (Rust panic): {}", s.unwrap_or_else(|| "unknown".into()))
}

/// Parity with the wasm binding (where panics trap and leave a message here); panics in this
/// binding become thrown errors directly, so there is never a pending message.
#[napi_derive::napi]
pub fn take_panic_message() -> Option<String> {
    None
}

/// TEST-ONLY entry point (test/panic.test.mjs): panics with `message`, to check that a Rust panic
/// reaches JS as a `BIOMEG_PANIC` error and leaves the binding usable. Not library API.
#[napi_derive::napi]
pub fn debug_panic(message: String) -> napi::Result<()> {
    safe(|| panic!("{message}"))
}
