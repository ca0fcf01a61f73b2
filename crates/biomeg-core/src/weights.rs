//! safetensors reader: validates the header against the file, then reads each tensor straight into
//! its final f32 buffer (F32, F16 and BF16 on disk), so a loaded model holds one copy of its weights.
//!
//! Format: 8-byte little-endian header length N, N bytes of JSON
//! `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__"?: {...}}`, then data.

use crate::error::{CoreError, Result};
use serde_json::Value;
use std::collections::HashMap;

/// Random access to the bytes of a safetensors file (a file on native, a buffer anywhere).
pub trait ByteSource {
    fn len(&self) -> u64;
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl ByteSource for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = offset as usize;
        let src = self.get(start..start + buf.len()).ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

#[cfg(unix)]
impl ByteSource for std::fs::File {
    fn len(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F16,
    BF16,
    Other,
}

impl Dtype {
    fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            Dtype::Other => 1,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TensorInfo {
    pub dtype: Dtype,
    pub dtype_name: String,
    pub shape: Vec<usize>,
    pub begin: u64,
    pub end: u64,
}

/// An opened safetensors file: header parsed and checked; tensors read on demand.
pub struct SafeTensors<S: ByteSource> {
    pub file: String,
    src: S,
    data_start: u64,
    pub tensors: HashMap<String, TensorInfo>,
}

impl<S: ByteSource> SafeTensors<S> {
    pub fn open(src: S, file: &str) -> Result<Self> {
        let bad = |msg: String| CoreError::Weights { file: file.to_string(), msg };
        let total = src.len();
        if total < 8 {
            return Err(bad(format!("file is {total} bytes, too short for a safetensors header")));
        }
        let mut n = [0u8; 8];
        src.read_at(0, &mut n).map_err(|e| bad(format!("cannot read header length: {e}")))?;
        let n = u64::from_le_bytes(n);
        if n > total - 8 || n > 256 << 20 {
            return Err(bad(format!("header length {n} exceeds the file size {total} (truncated or not a safetensors file)")));
        }
        let mut header = vec![0u8; n as usize];
        src.read_at(8, &mut header).map_err(|e| bad(format!("cannot read header: {e}")))?;
        let header: Value = serde_json::from_slice(&header).map_err(|e| bad(format!("header is not valid JSON: {e}")))?;
        let obj = header.as_object().ok_or_else(|| bad("header is not a JSON object".into()))?;
        let data_len = total - 8 - n;
        let mut tensors = HashMap::new();
        for (name, info) in obj {
            if name == "__metadata__" {
                continue;
            }
            let dtype_name = info.get("dtype").and_then(Value::as_str).ok_or_else(|| bad(format!("tensor '{name}': missing dtype")))?;
            let dtype = match dtype_name {
                "F32" => Dtype::F32,
                "F16" => Dtype::F16,
                "BF16" => Dtype::BF16,
                _ => Dtype::Other,
            };
            let shape: Vec<usize> = info
                .get("shape")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect())
                .ok_or_else(|| bad(format!("tensor '{name}': missing or invalid shape")))?;
            let offs: Vec<u64> = info
                .get("data_offsets")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().map(Value::as_u64).collect())
                .filter(|v: &Vec<u64>| v.len() == 2)
                .ok_or_else(|| bad(format!("tensor '{name}': missing or invalid data_offsets")))?;
            let (begin, end) = (offs[0], offs[1]);
            if begin > end || end > data_len {
                return Err(bad(format!(
                    "tensor '{name}': data [{begin}, {end}) lies outside the {data_len} data bytes (file truncated?)"
                )));
            }
            let numel: usize = shape.iter().product();
            if dtype != Dtype::Other && (end - begin) as usize != numel * dtype.size() {
                return Err(bad(format!("tensor '{name}': {} bytes for shape {shape:?} of {dtype_name}", end - begin)));
            }
            tensors.insert(name.clone(), TensorInfo { dtype, dtype_name: dtype_name.to_string(), shape, begin, end });
        }
        Ok(SafeTensors { file: file.to_string(), src, data_start: 8 + n, tensors })
    }

    /// Whether any tensor is stored as I8 (an int8 checkpoint, docs/quantization.md).
    pub fn has_int8(&self) -> bool {
        self.tensors.values().any(|t| t.dtype_name == "I8")
    }

    /// An I8 tensor [rows, ...] dequantized with its per-row F32 scales `<name>_scale` [rows].
    fn read_int8(&self, name: &str, info: &TensorInfo, out: &mut [f32]) -> Result<()> {
        let rows = info.shape.first().copied().unwrap_or(1);
        let scale_name = format!("{name}_scale");
        if !self.contains(&scale_name) {
            return Err(CoreError::Weights {
                file: self.file.clone(),
                msg: format!("tensor '{name}' is I8 but '{scale_name}' (F32 [{rows}], one scale per output channel) is missing"),
            });
        }
        let scale = self.read(&scale_name, &[rows])?;
        let mut q = vec![0u8; out.len()];
        let off = self.data_start + info.begin;
        self.src
            .read_at(off, &mut q)
            .map_err(|e| CoreError::Weights { file: self.file.clone(), msg: format!("tensor '{name}': read failed: {e}") })?;
        let cols = out.len() / rows.max(1);
        for (i, (o, &b)) in out.iter_mut().zip(&q).enumerate() {
            *o = b as i8 as f32 * scale[i / cols.max(1)];
        }
        Ok(())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Read tensor `name` (whose shape must equal `shape`) into `out` as f32.
    pub fn read_into(&self, name: &str, shape: &[usize], out: &mut [f32]) -> Result<()> {
        let info = self.tensors.get(name).ok_or_else(|| CoreError::MissingTensor { file: self.file.clone(), name: name.into() })?;
        if info.shape != shape {
            return Err(CoreError::Shape {
                file: self.file.clone(),
                name: name.into(),
                expected: shape.to_vec(),
                found: info.shape.clone(),
            });
        }
        debug_assert_eq!(out.len(), shape.iter().product::<usize>());
        let off = self.data_start + info.begin;
        let io = |e: std::io::Error| CoreError::Weights { file: self.file.clone(), msg: format!("tensor '{name}': read failed: {e}") };
        match info.dtype {
            Dtype::F32 => {
                // SAFETY: f32 has no invalid bit patterns; the file is little-endian like every
                // target we build for.
                let bytes = unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut u8, out.len() * 4) };
                self.src.read_at(off, bytes).map_err(io)?;
            }
            Dtype::F16 | Dtype::BF16 => {
                let mut buf = vec![0u8; out.len() * 2];
                self.src.read_at(off, &mut buf).map_err(io)?;
                for (o, h) in out.iter_mut().zip(buf.chunks_exact(2)) {
                    let h = u16::from_le_bytes([h[0], h[1]]);
                    *o = if info.dtype == Dtype::BF16 { f32::from_bits((h as u32) << 16) } else { f16_to_f32(h) };
                }
            }
            Dtype::Other if info.dtype_name == "I8" && (info.end - info.begin) as usize == out.len() => {
                self.read_int8(name, info, out)?;
            }
            Dtype::Other => {
                return Err(CoreError::Weights {
                    file: self.file.clone(),
                    msg: format!("tensor '{name}' has dtype {} (expected F32, F16, BF16 or I8 with a scale)", info.dtype_name),
                })
            }
        }
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(CoreError::Weights {
                file: self.file.clone(),
                msg: format!("tensor '{name}' holds a non-finite value at index {i}"),
            });
        }
        Ok(())
    }

    pub fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let mut v = vec![0f32; shape.iter().product()];
        self.read_into(name, shape, &mut v)?;
        Ok(v)
    }
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match exp {
        0 if frac == 0 => sign,
        0 => {
            // subnormal: renormalise
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        0x1f => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// Serialize named f32 tensors as safetensors bytes (used for random-init presets and tests).
pub fn write_safetensors(tensors: &[(&str, &[usize], &[f32])]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut off = 0usize;
    for (name, shape, data) in tensors {
        let len = data.len() * 4;
        header.insert(name.to_string(), serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [off, off + len]}));
        off += len;
    }
    let mut h = Value::Object(header).to_string().into_bytes();
    while (8 + h.len()) % 8 != 0 {
        h.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + off);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    for (_, _, data) in tensors {
        for v in *data {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_errors() {
        let bytes = write_safetensors(&[("a", &[2, 3], &[1., 2., 3., 4., 5., 6.]), ("b", &[1], &[7.])]);
        let st = SafeTensors::open(bytes.as_slice(), "m.safetensors").unwrap();
        assert_eq!(st.read("a", &[2, 3]).unwrap(), vec![1., 2., 3., 4., 5., 6.]);
        let e = st.read("a", &[3, 2]).unwrap_err();
        assert_eq!(e.code(), "BIOMEG_SHAPE_MISMATCH");
        assert!(e.to_string().contains("'a'"));
        assert_eq!(st.read("zz", &[1]).unwrap_err().code(), "BIOMEG_MISSING_TENSOR");
        // truncated file
        let cut = &bytes[..bytes.len() - 3];
        let e = SafeTensors::open(cut, "cut.safetensors").err().unwrap();
        assert!(e.to_string().contains("cut.safetensors") && e.to_string().contains("outside"), "{e}");
        // garbage header length
        let e = SafeTensors::open(&b"\xff\xff\xff\xff\xff\xff\xff\x7fxx"[..], "g").err().unwrap();
        assert_eq!(e.code(), "BIOMEG_BAD_WEIGHTS");
    }

    #[test]
    fn half_precision_conversions() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert!(f16_to_f32(0x7c00).is_infinite());
    }
}
