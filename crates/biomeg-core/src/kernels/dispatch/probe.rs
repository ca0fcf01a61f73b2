//! Finding a working cudart + cuBLAS pair.
//!
//! `BIOMEG_CUDART` / `BIOMEG_CUBLAS` mean exactly that path: when set, nothing else is tried for
//! that library, and a path that does not load is reported verbatim. Otherwise matching pairs are
//! tried in order, CUDA 13 then 12 (loader names, /usr/local/cuda/lib64, the pip wheel folders
//! `nvidia/cu13/lib`, `nvidia/cuda_runtime/lib` + `nvidia/cublas/lib` under site-packages found
//! from well-known prefixes and $VIRTUAL_ENV / $CONDA_PREFIX; no Python is run), then the
//! unversioned names; the first pair that opens, finds a device, creates a handle and passes the
//! self-test wins. A pair that fails is closed and the next one is tried.

use super::cuda::{Cuda, OpenOptions};
use std::path::{Path, PathBuf};

/// What the probe is told; `from_env` reads the BIOMEG_* variables.
#[derive(Clone, Debug, Default)]
pub struct ProbeConfig {
    /// BIOMEG_CUDART: exactly this cudart.
    pub cudart: Option<String>,
    /// BIOMEG_CUBLAS: exactly this cuBLAS.
    pub cublas: Option<String>,
    /// BIOMEG_CUDA_DEVICE (default 0).
    pub device: i32,
    /// BIOMEG_TF32=1: let fp32 GEMMs use TF32 tensor cores.
    pub tf32: bool,
    /// BIOMEG_DEVICE=cpu.
    pub disabled: bool,
}

impl ProbeConfig {
    pub fn from_env() -> ProbeConfig {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        ProbeConfig {
            cudart: var("BIOMEG_CUDART"),
            cublas: var("BIOMEG_CUBLAS"),
            device: var("BIOMEG_CUDA_DEVICE").and_then(|v| v.parse().ok()).unwrap_or(0),
            tf32: matches!(var("BIOMEG_TF32").as_deref(), Some("1" | "true" | "yes")),
            disabled: matches!(var("BIOMEG_DEVICE").as_deref(), Some("cpu")),
        }
    }

    /// The (cudart, cublas) pairs to try, in order.
    pub fn candidates(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for major in ["13", "12"] {
            let (rts, bls) = versioned(major);
            for rt in &rts {
                for bl in &bls {
                    pairs.push((rt.clone(), bl.clone()));
                }
            }
        }
        pairs.push(("libcudart.so".into(), "libcublas.so".into()));
        // Overrides replace their side of every pair.
        for (rt, bl) in pairs.iter_mut() {
            if let Some(p) = &self.cudart {
                *rt = p.clone();
            }
            if let Some(p) = &self.cublas {
                *bl = p.clone();
            }
        }
        let mut seen = std::collections::HashSet::new();
        pairs.retain(|p| seen.insert(p.clone()));
        pairs
    }
}

/// cudart and cublas candidates of one major version: loader names first, then files that exist.
fn versioned(major: &str) -> (Vec<String>, Vec<String>) {
    let (rt_name, bl_name) = (format!("libcudart.so.{major}"), format!("libcublas.so.{major}"));
    let mut rts = vec![rt_name.clone()];
    let mut bls = vec![bl_name.clone()];
    let mut dirs: Vec<(PathBuf, PathBuf)> = vec![("/usr/local/cuda/lib64".into(), "/usr/local/cuda/lib64".into())];
    for sp in site_packages() {
        let nv = sp.join("nvidia");
        dirs.push((nv.join(format!("cu{major}/lib")), nv.join(format!("cu{major}/lib"))));
        dirs.push((nv.join("cuda_runtime/lib"), nv.join("cublas/lib")));
    }
    for (rd, bd) in dirs {
        let (rt, bl) = (rd.join(&rt_name), bd.join(&bl_name));
        if rt.is_file() && !rts.contains(&rt.display().to_string()) {
            rts.push(rt.display().to_string());
        }
        if bl.is_file() && !bls.contains(&bl.display().to_string()) {
            bls.push(bl.display().to_string());
        }
    }
    (rts, bls)
}

/// Python site-packages folders found cheaply (directory listings of well-known prefixes).
fn site_packages() -> Vec<PathBuf> {
    let mut prefixes: Vec<PathBuf> = Vec::new();
    for var in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            prefixes.push(v.into());
        }
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        prefixes.push(Path::new(&home).join(".local"));
    }
    prefixes.extend(["/usr/local", "/usr", "/opt/conda"].map(PathBuf::from));
    let mut out = Vec::new();
    for p in prefixes {
        let Ok(entries) = std::fs::read_dir(p.join("lib")) else { continue };
        let mut pys: Vec<PathBuf> =
            entries.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("python3")).map(|e| e.path()).collect();
        pys.sort();
        for py in pys.into_iter().rev() {
            for sub in ["site-packages", "dist-packages"] {
                let d = py.join(sub);
                if d.join("nvidia").is_dir() && !out.contains(&d) {
                    out.push(d);
                }
            }
        }
    }
    let debian = PathBuf::from("/usr/lib/python3/dist-packages");
    if debian.join("nvidia").is_dir() && !out.contains(&debian) {
        out.push(debian);
    }
    out
}

/// Try the pairs in order; the first that works wins, else every reason joined.
pub fn probe(cfg: &ProbeConfig) -> Result<Cuda, String> {
    if cfg.disabled {
        return Err("disabled by BIOMEG_DEVICE=cpu".into());
    }
    let opts = OpenOptions { device: cfg.device, tf32: cfg.tf32 };
    probe_pairs(&cfg.candidates(), &opts, cfg)
}

pub fn probe_pairs(pairs: &[(String, String)], opts: &OpenOptions, cfg: &ProbeConfig) -> Result<Cuda, String> {
    let mut errs: Vec<String> = Vec::new();
    for (rt, bl) in pairs {
        match Cuda::open(rt, bl, opts) {
            Ok(c) => return Ok(c),
            Err(e) => {
                // An override that does not load ends the search: it means exactly that path.
                for (var, set, path) in [("BIOMEG_CUDART", &cfg.cudart, rt), ("BIOMEG_CUBLAS", &cfg.cublas, bl)] {
                    if set.as_deref() == Some(path.as_str()) && e.starts_with(&format!("cannot open {path}:")) {
                        return Err(format!("{var}={path} does not load: {e}"));
                    }
                }
                let tag = |p: &str, var: &str, set: &Option<String>| match set {
                    Some(v) if v == p => format!("{var}={p}"),
                    _ => p.to_string(),
                };
                errs.push(format!("[{} + {}] {e}", tag(rt, "BIOMEG_CUDART", &cfg.cudart), tag(bl, "BIOMEG_CUBLAS", &cfg.cublas)));
            }
        }
    }
    Err(format!("no usable CUDA: {}", errs.join("; ")))
}
