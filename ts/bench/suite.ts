// The default benchmark suite behind `biomeg bench`: FMA peak, GEMM at BERT shapes and encoder
// forward speed on native and wasm. Each GEMM / encoder row runs in its own process
// (ts/bench/worker.ts, bundled to dist/bench/worker.js) so its peak RSS is its own and a crash
// cannot take the suite down. When cuBLAS is found, the CPU rows run with BIOMEG_DEVICE=cpu and
// GPU rows (device 'cuda': GEMM through matmul including its transfers, encoder forward with
// large GEMMs on the GPU) are added beside them.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { ROOT, nativeAvailable, wasmAvailable, loadBackend, type BackendName } from '../backend.js';

const run = promisify(execFile);

export interface GemmRow {
  m: number;
  k: number;
  n: number;
  threads: number;
  backend: BackendName;
  /** 'cuda': through cuBLAS (native backend), transfers included. */
  device?: 'cpu' | 'cuda';
  gflops: number;
}
export interface EncoderRow {
  preset: string;
  backend: BackendName;
  /** 'cuda': large GEMMs on the GPU (native backend). */
  device?: 'cpu' | 'cuda';
  threads: number;
  batch: number;
  seq: number;
  ms: number;
  ms_min: number;
  ms_max: number;
  runs: number;
  tokens_per_s: number;
  peak_rss_mb: number;
  params: number;
}
/** What a forward-pass row was measured on: model, backend, threads, batch shape, runs. */
export interface ForwardRun {
  preset: string;
  backend: BackendName;
  threads: number;
  batch: number;
  seq: number;
  runs: number;
}
/** fp32 vs int8 forward on the same weights, alternating runs in one process. */
export interface Int8Row extends ForwardRun {
  fp32_ms: number;
  int8_ms: number;
  /** Median of the per-pair fp32 / int8 time ratios. */
  speedup: number;
  int8_tokens_per_s: number;
}

export interface BenchReport {
  peak_gflops: number;
  peak_gflops_1t: number;
  threads: number;
  gemm: GemmRow[];
  encoder: EncoderRow[];
  errors: string[];
  [section: string]: unknown;
}

export interface SuiteOptions {
  threads: number;
  presets: string[];
  backends: BackendName[];
  gemmReps: number;
  /** GEMM rows [m, k, n] (BERT_GEMM_SHAPES in the default suite). */
  gemmShapes: Array<[number, number, number]>;
  encoderReps: number;
  /** Presets for the int8 vs fp32 pairs ([] skips them). */
  int8Presets: string[];
  /** Runs of each model per int8 pair row. */
  int8Reps: number;
  batch: number;
  seq: number;
  progress: (msg: string) => void;
}

/** The GEMMs of one BERT-base layer on 8 x 128 tokens: QKV, attention output, FFN in, FFN out. */
export const BERT_GEMM_SHAPES: Array<[number, number, number]> = [
  [1024, 768, 2304],
  [1024, 768, 768],
  [1024, 768, 3072],
  [1024, 3072, 768],
];

/** Per-op breakdown of one forward configuration (`biomeg bench --profile`), times per forward. */
export interface ProfileRow extends ForwardRun {
  quantization: 'fp32' | 'int8';
  forward_ms: number;
  /** `inner` ops (GEMM packing / activation quantization, thread hand-off) are part of others. */
  ops: Array<{ op: string; ms: number; calls: number; inner: boolean }>;
}

/** Profile rows: each preset x backend (native: `threads` and 1) x fp32 / int8. */
export async function runProfile(o: {
  threads: number;
  presets: string[];
  backends: BackendName[];
  reps: number;
  batch: number;
  seq: number;
  quantizations: Array<'fp32' | 'int8'>;
  progress: (msg: string) => void;
}): Promise<{ rows: ProfileRow[]; errors: string[] }> {
  const rows: ProfileRow[] = [];
  const errors: string[] = [];
  for (const preset of o.presets) {
    for (const backend of o.backends.filter((b) => (b === 'native' ? nativeAvailable() : wasmAvailable()))) {
      for (const threads of backend === 'native' ? [...new Set([o.threads, 1])] : [1]) {
        for (const q of o.quantizations) {
          o.progress(`profile ${preset} ${q} ${backend} ${threads}t (${o.batch}x${o.seq}, ${o.reps} runs)`);
          try {
            const args = ['profile', backend, String(threads), preset, String(o.batch), String(o.seq), String(o.reps), q];
            rows.push(await worker<ProfileRow>(args, 1_800_000));
          } catch (e) {
            errors.push(`profile ${preset} ${q} ${backend} ${threads}t: ${(e as Error).message.split('\n').slice(-2).join(' ')}`);
          }
        }
      }
    }
  }
  return { rows, errors };
}

async function worker<T>(args: string[], timeoutMs: number, device: 'cpu' | 'cuda' = 'cpu'): Promise<T> {
  const file = path.join(ROOT, 'dist', 'bench', 'worker.js');
  const env = device === 'cpu' ? { ...process.env, BIOMEG_DEVICE: 'cpu' } : process.env;
  const { stdout } = await run(process.execPath, [file, ...args, device], { timeout: timeoutMs, maxBuffer: 1 << 20, env });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

export async function runSuite(o: SuiteOptions): Promise<BenchReport> {
  const errors: string[] = [];
  const backends = o.backends.filter((b) => (b === 'native' ? nativeAvailable() : wasmAvailable()));
  for (const b of o.backends) if (!backends.includes(b)) errors.push(`${b} backend not built: skipped (run npm run setup)`);
  let peak = NaN;
  let peak1 = NaN;
  let cuda = false;
  if (nativeAvailable()) {
    o.progress('measuring FMA peak');
    const be = await loadBackend('native');
    cuda = backends.includes('native') && be.call((api) => api.runtimeInfo().cuda);
    peak1 = be.call((api) => api.fmaPeak(1, 400));
    peak = o.threads > 1 ? be.call((api) => api.fmaPeak(o.threads, 400)) : peak1;
  }
  const gemm: GemmRow[] = [];
  for (const backend of backends) {
    const threadSet = backend === 'native' ? [...new Set([o.threads, 1])] : [1];
    for (const threads of threadSet) {
      for (const [m, k, n] of o.gemmShapes) {
        o.progress(`GEMM ${m}x${k}x${n} ${backend} ${threads}t`);
        try {
          gemm.push(
            await worker<GemmRow>(['gemm', backend, String(threads), String(m), String(k), String(n), String(o.gemmReps)], 300_000),
          );
        } catch (e) {
          errors.push(`gemm ${m}x${k}x${n} ${backend}: ${(e as Error).message.split('\n').slice(-2).join(' ')}`);
        }
      }
    }
  }
  for (const [m, k, n] of cuda ? o.gemmShapes : []) {
    o.progress(`GEMM ${m}x${k}x${n} native+cuda`);
    try {
      gemm.push(
        await worker<GemmRow>(['gemm', 'native', String(o.threads), String(m), String(k), String(n), String(o.gemmReps)], 300_000, 'cuda'),
      );
    } catch (e) {
      errors.push(`gemm ${m}x${k}x${n} cuda: ${(e as Error).message.split('\n').slice(-2).join(' ')}`);
    }
  }
  const encoder: EncoderRow[] = [];
  for (const preset of o.presets) {
    for (const backend of backends) {
      const threadSet = backend === 'native' ? [...new Set([o.threads, 1])] : [1];
      for (const threads of threadSet) {
        o.progress(`encoder ${preset} ${backend} ${threads}t (${o.batch}x${o.seq}, ${o.encoderReps} runs)`);
        try {
          encoder.push(
            await worker<EncoderRow>(
              ['encoder', backend, String(threads), preset, String(o.batch), String(o.seq), String(o.encoderReps)],
              900_000,
            ),
          );
        } catch (e) {
          errors.push(`encoder ${preset} ${backend} ${threads}t: ${(e as Error).message.split('\n').slice(-2).join(' ')}`);
        }
      }
    }
    if (!cuda) continue;
    o.progress(`encoder ${preset} native+cuda (${o.batch}x${o.seq}, ${o.encoderReps} runs)`);
    try {
      const args = ['encoder', 'native', String(o.threads), preset, String(o.batch), String(o.seq), String(o.encoderReps)];
      encoder.push(await worker<EncoderRow>(args, 900_000, 'cuda'));
    } catch (e) {
      errors.push(`encoder ${preset} cuda: ${(e as Error).message.split('\n').slice(-2).join(' ')}`);
    }
  }
  const int8: Int8Row[] = [];
  for (const preset of o.int8Presets) {
    for (const backend of backends) {
      const threadSet = backend === 'native' ? [...new Set([o.threads, 1])] : [1];
      for (const threads of threadSet) {
        o.progress(`int8 vs fp32 ${preset} ${backend} ${threads}t (${o.batch}x${o.seq}, ${o.int8Reps} pairs)`);
        try {
          const args = ['int8', backend, String(threads), preset, String(o.batch), String(o.seq), String(o.int8Reps)];
          int8.push(await worker<Int8Row>(args, 1_800_000));
        } catch (e) {
          errors.push(`int8 ${preset} ${backend} ${threads}t: ${(e as Error).message.split('\n').slice(-2).join(' ')}`);
        }
      }
    }
  }
  return { peak_gflops: peak, peak_gflops_1t: peak1, threads: o.threads, gemm, encoder, int8, errors };
}
