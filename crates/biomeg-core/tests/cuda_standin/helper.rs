//! Builds the CUDA stand-in (`standin.c`) with `cc` and gives every test its own copy, so each
//! test's library state (allocations, counters, failure switches) is independent of the others.
#![allow(dead_code)]

use libloading::Library;
use std::ffi::{c_char, c_int, CStr, CString};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

fn out_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cuda_standin");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Compile the stand-in (once per variant and process).
fn build(variant: &str, defines: &[&str]) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(v, _)| v == variant) {
        return p.clone();
    }
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cuda_standin/standin.c");
    let out = out_dir().join(format!("libstandin-{variant}.so"));
    let tmp = out_dir().join(format!("libstandin-{variant}.{}.tmp.so", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = std::process::Command::new(&cc)
        .args(["-shared", "-fPIC", "-O2", "-pthread", "-o"])
        .arg(&tmp)
        .arg(&src)
        .args(defines)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cc} to build the CUDA stand-in: {e}"));
    assert!(st.success(), "{cc} failed on {}", src.display());
    std::fs::rename(&tmp, &out).unwrap();
    built.push((variant.into(), out.clone()));
    out
}

/// A private copy of the stand-in for one test (a distinct file is a distinct dlopen instance).
pub fn standin(test: &str) -> String {
    copy_of(build("default", &[]), test)
}

/// The variant without cublasSgemm_v2.
pub fn standin_without_sgemm(test: &str) -> String {
    copy_of(build("nosgemm", &["-DSTANDIN_NO_SGEMM"]), test)
}

fn copy_of(lib: PathBuf, test: &str) -> String {
    let dst = out_dir().join(format!("{test}-{}.so", std::process::id()));
    std::fs::copy(&lib, &dst).unwrap();
    dst.display().to_string()
}

/// The stand-in's switches and counters (the same library instance biomeg opens from `path`).
pub struct Ctl(Library);

impl Ctl {
    pub fn open(path: &str) -> Ctl {
        Ctl(unsafe { Library::new(path) }.unwrap())
    }
    pub fn stat(&self, name: &str) -> i64 {
        let f: libloading::Symbol<unsafe extern "C" fn(*const c_char) -> i64> = unsafe { self.0.get(b"standin_stat\0") }.unwrap();
        let c = CString::new(name).unwrap();
        let v = unsafe { f(c.as_ptr()) };
        assert!(v >= 0 || name == "math_mode", "unknown stat {name}");
        v
    }
    pub fn fail_malloc_after(&self, n: i64) {
        let f: libloading::Symbol<unsafe extern "C" fn(i64)> = unsafe { self.0.get(b"standin_fail_malloc_after\0") }.unwrap();
        unsafe { f(n) }
    }
    pub fn sgemm_status(&self, status: c_int, after: i64) {
        let f: libloading::Symbol<unsafe extern "C" fn(c_int, i64)> = unsafe { self.0.get(b"standin_set_sgemm_status\0") }.unwrap();
        unsafe { f(status, after) }
    }
    fn set_int(&self, sym: &[u8], v: c_int) {
        let f: libloading::Symbol<unsafe extern "C" fn(c_int)> = unsafe { self.0.get(sym) }.unwrap();
        unsafe { f(v) }
    }
    pub fn device_count(&self, n: c_int) {
        self.set_int(b"standin_set_device_count\0", n)
    }
    pub fn corrupt(&self, on: bool) {
        self.set_int(b"standin_set_corrupt\0", on as c_int)
    }
    pub fn math_mode_status(&self, s: c_int) {
        self.set_int(b"standin_set_math_mode_status\0", s)
    }
    pub fn last_error(&self) -> String {
        let f: libloading::Symbol<unsafe extern "C" fn() -> *const c_char> = unsafe { self.0.get(b"standin_last_error\0") }.unwrap();
        unsafe { CStr::from_ptr(f()) }.to_string_lossy().into_owned()
    }
}

/// Deterministic values in [-0.5, 0.5).
pub fn data(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// |x - y| <= 1e-5 * max(1, |y|) everywhere.
pub fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{what}: element {i}: GPU path {g}, CPU {w}");
    }
}

pub fn once<T>(cell: &'static OnceLock<T>, f: impl FnOnce() -> T) -> &'static T {
    cell.get_or_init(f)
}
