// safetensors in TypeScript for the converters: write float32 tensors (streamed, so a large
// model is never one buffer) and read F32 / F16 / BF16 ones from a Hugging Face directory.
import { BiomegError } from '../errors.js';
import { type ByteSink, type ByteSource, view } from './io.js';
import { DTYPE_BYTES, type DType, decode } from './torch-load.js';

const SAFETENSORS_DTYPES: Record<string, DType> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Header then data, tensors in the given order, header padded to 8 bytes. */
export function writeSafetensors(sink: ByteSink, tensors: NamedTensor[], metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const h = new TextEncoder().encode(json);
  const len = new Uint8Array(8);
  view(len).setBigUint64(0, BigInt(h.length), true);
  sink.write(len);
  sink.write(h);
  for (const t of tensors) sink.write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

/** Every tensor of a safetensors file as float32. */
export function readSafetensors(src: ByteSource): Map<string, NamedTensor> {
  const bad = (m: string) => new BiomegError('BIOMEG_BAD_WEIGHTS', m, { file: src.name });
  if (src.size < 8) throw bad('file too short for a safetensors header');
  const n = Number(view(src.read(0, 8)).getBigUint64(0, true));
  if (8 + n > src.size) throw bad('truncated header');
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(src.read(8, n)));
  } catch (e) {
    throw bad(`header is not JSON (${(e as Error).message})`);
  }
  const out = new Map<string, NamedTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const dtype = SAFETENSORS_DTYPES[info.dtype];
    if (!dtype) continue; // integer buffers (position_ids) are not weights
    const [b, e] = info.data_offsets;
    const numel = info.shape.reduce((a, c) => a * c, 1);
    if (e - b !== numel * DTYPE_BYTES[dtype] || 8 + n + e > src.size)
      throw bad(`tensor ${name}: data_offsets do not match its shape or the file`);
    const data = decode(new Uint8Array(src.read(8 + n + b, e - b)), dtype, numel, (m) => bad(`tensor ${name}: ${m}`));
    out.set(name, { name, shape: info.shape, data });
  }
  return out;
}
