// int8 quantization of a Hugging Face model folder (`biomeg quantize`, docs/quantization.md):
// every encoder-layer Linear weight becomes `<name>.weight` I8 [out, in] (symmetric, per output
// channel) plus `<name>.weight_scale` F32 [out]; everything else stays F32; config.json gets
// `"biomeg_quantization": "int8"`. The values are exactly those the core computes when an f32
// model is loaded with `quantize: 'int8'` (crates/biomeg-core/src/kernels/int8.rs quantize_weight).
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { withFileSource } from './convert/io.js';
import { type NamedTensor, readSafetensors } from './convert/safetensors.js';
import { BiomegError } from './errors.js';
import { type ByteSink, writeFileAtomic, writeFileStreaming } from './report.js';

export { QUANTIZATION_KEY, type Quantization, withQuantization } from './core/quantization.js';
import { QUANTIZATION_KEY, withQuantization } from './core/quantization.js';

/** The Linear weights of the encoder layers (BERT / ELECTRA / Megatron-BERT and ALBERT names). */
export function isQuantizedWeight(t: { name: string; shape: number[] }): boolean {
  return (
    t.shape.length === 2 &&
    t.name.endsWith('.weight') &&
    /(^|\.)encoder\.(layer\.\d+|albert_layer_groups\.\d+\.albert_layers\.\d+)\./.test(t.name)
  );
}

/** Round half away from zero, as Rust's f32::round. */
function roundAway(x: number): number {
  return Math.sign(x) * Math.floor(Math.abs(x) + 0.5);
}

/** Per-output-channel symmetric int8 of a row-major [n, k] weight: s = max|w| / 127 (in f32),
 *  q = round(w / s) (f32 division), the same values as the core's quantize_weight. */
export function quantizeWeight(w: Float32Array, n: number, k: number): { q: Int8Array; scale: Float32Array } {
  const q = new Int8Array(n * k);
  const scale = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    let amax = 0;
    for (let p = 0; p < k; p++) amax = Math.max(amax, Math.abs(w[j * k + p]));
    const s = amax > 0 ? Math.fround(amax / 127) : 1;
    scale[j] = s;
    for (let p = 0; p < k; p++) q[j * k + p] = Math.max(-127, Math.min(127, roundAway(Math.fround(w[j * k + p] / s))));
  }
  return { q, scale };
}

/** Files copied next to the quantized weights when present. */
const TOKENIZER_FILES = ['vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'spiece.model'];

export interface QuantizeResult {
  files: string[];
  quantized: number;
  kept: number;
  bytesIn: number;
  bytesOut: number;
}

type OutTensor = { name: string; shape: number[]; dtype: 'F32' | 'I8'; data: Float32Array | Int8Array };

/** safetensors with F32 and I8 tensors: F32 first so every F32 tensor stays 4-byte aligned. */
function writeMixed(sink: ByteSink, tensors: OutTensor[], metadata: Record<string, string>): void {
  const ordered = [...tensors.filter((t) => t.dtype === 'F32'), ...tensors.filter((t) => t.dtype === 'I8')];
  const header: Record<string, unknown> = { __metadata__: metadata };
  let off = 0;
  for (const t of ordered) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const h = new TextEncoder().encode(json);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(h.length), true);
  sink.write(len);
  sink.write(h);
  for (const t of ordered) sink.write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

/** Quantize the model folder `inDir` (config.json + model.safetensors) into `outDir`. */
export function quantizeModel(inDir: string, outDir: string): QuantizeResult {
  const cfgFile = path.join(inDir, 'config.json');
  const wFile = path.join(inDir, 'model.safetensors');
  for (const f of [cfgFile, wFile])
    if (!existsSync(f)) throw new BiomegError('BIOMEG_IO', `${f} not found (a model directory holds config.json and model.safetensors)`);
  if (path.resolve(inDir) === path.resolve(outDir)) throw new BiomegError('BIOMEG_BAD_ARGUMENT', '--out must differ from --in');
  const cfgText = readFileSync(cfgFile, 'utf8');
  const cfg = JSON.parse(withQuantization(cfgText, 'int8', cfgFile));
  if (JSON.parse(cfgText)[QUANTIZATION_KEY] !== undefined)
    throw new BiomegError('BIOMEG_BAD_ARGUMENT', `${cfgFile} is already quantized (${QUANTIZATION_KEY})`);
  const tensors: Map<string, NamedTensor> = withFileSource(wFile, (src) => readSafetensors(src));
  const out: OutTensor[] = [];
  let quantized = 0;
  for (const t of tensors.values()) {
    if (isQuantizedWeight(t)) {
      const { q, scale } = quantizeWeight(t.data, t.shape[0], t.shape[1]);
      out.push({ name: t.name, shape: t.shape, dtype: 'I8', data: q });
      out.push({ name: `${t.name}_scale`, shape: [t.shape[0]], dtype: 'F32', data: scale });
      quantized++;
    } else out.push({ name: t.name, shape: t.shape, dtype: 'F32', data: t.data });
  }
  if (quantized === 0) throw new BiomegError('BIOMEG_BAD_WEIGHTS', 'no encoder-layer Linear weights found to quantize', { file: wFile });
  const outW = path.join(outDir, 'model.safetensors');
  writeFileStreaming(outW, (sink) => writeMixed(sink, out, { format: 'pt', [QUANTIZATION_KEY]: 'int8' }));
  const outCfg = path.join(outDir, 'config.json');
  writeFileAtomic(outCfg, `${JSON.stringify(cfg, null, 2)}\n`);
  const files = [outCfg, outW];
  for (const f of TOKENIZER_FILES) {
    if (existsSync(path.join(inDir, f))) {
      copyFileSync(path.join(inDir, f), path.join(outDir, f));
      files.push(path.join(outDir, f));
    }
  }
  return { files, quantized, kept: tensors.size - quantized, bytesIn: statSync(wFile).size, bytesOut: statSync(outW).size };
}
