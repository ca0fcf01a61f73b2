// Minimal safetensors reader for test references (F32, I64, I32).
import { readFileSync } from 'node:fs';

export function readSafetensors(file) {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const data = buf.subarray(8 + n);
  const out = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [b, e] = info.data_offsets;
    const bytes = new Uint8Array(data.subarray(b, e)); // copy: aligned
    const view =
      info.dtype === 'F32'
        ? new Float32Array(bytes.buffer)
        : info.dtype === 'I64'
          ? Float64Array.from(new BigInt64Array(bytes.buffer), Number)
          : info.dtype === 'I32'
            ? new Int32Array(bytes.buffer)
            : null;
    if (!view) throw new Error(`${file}: unsupported dtype ${info.dtype} for ${name}`);
    out[name] = { shape: info.shape, data: view };
  }
  return out;
}

export function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Max |a-b| / (1 + |b|): the relative check used for native vs wasm. */
export function maxRelDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return m;
}
