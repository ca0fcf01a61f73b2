// One measurement in its own process, so its peak RSS is its own: prints one JSON line.
//   node dist/bench/worker.js gemm    <backend> <threads> <m> <k> <n> <reps> [cpu|cuda]
//   node dist/bench/worker.js encoder <backend> <threads> <preset> <batch> <seq> <reps> [cpu|cuda]
//   node dist/bench/worker.js int8    <backend> <threads> <preset> <batch> <seq> <reps>
//   node dist/bench/worker.js profile <backend> <threads> <preset> <batch> <seq> <reps> <fp32|int8>
// (int8: the fp32 and the int8 model of the same random weights, forward runs alternating)
// (device cuda: GEMM through matmul on cuBLAS, transfers included; the encoder with cuBLAS on)
// (spawned by ./suite.ts; bundled by scripts/build-ts.mjs)
import { loadBackend, type BackendName } from '../backend.js';
import { BiomegModel } from '../model.js';
import { setThreads } from '../runtime.js';
import { median } from './stats.js';

async function gemm(backend: BackendName, threads: number, m: number, k: number, n: number, reps: number, device: Device) {
  const be = await loadBackend(backend);
  let once: () => unknown;
  if (device === 'cuda') {
    const a = new Float32Array(m * k).fill(0.5);
    const b = new Float32Array(n * k).fill(0.25);
    once = () => be.call((api) => api.matmul(a, b, m, k, n, true, 'cuda'));
  } else {
    const g = be.call((api) => new api.GemmBench(m, k, n));
    once = () => be.call(() => g.run(threads));
  }
  once(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    once();
    times.push((performance.now() - t) / 1000);
  }
  const s = median(times);
  return { m, k, n, threads, backend, device, gflops: (2 * m * k * n) / s / 1e9, seconds: s };
}

type Device = 'cpu' | 'cuda';

async function encoder(backend: BackendName, threads: number, preset: string, batch: number, seq: number, reps: number, device: Device) {
  await setThreads(threads, backend);
  const model = await BiomegModel.random(preset, { backend, seed: 1 });
  const ids = new Uint32Array(batch * seq).map((_, i) => 1000 + ((i * 7919) % 20000));
  await model.forward({ ids, batch, seq }); // warm-up
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await model.forward({ ids, batch, seq });
    times.push(performance.now() - t);
  }
  const ms = median(times);
  return {
    preset,
    backend,
    device,
    threads,
    batch,
    seq,
    ms,
    ms_min: Math.min(...times),
    ms_max: Math.max(...times),
    runs: reps,
    tokens_per_s: (batch * seq) / (ms / 1000),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    params: model.numParams,
  };
}

/** fp32 vs int8 on the same random weights in one process, runs alternating (fp32, int8, ...),
 *  so machine noise hits both alike: medians of each and the median of the per-pair ratios. */
async function int8Pair(backend: BackendName, threads: number, preset: string, batch: number, seq: number, reps: number) {
  await setThreads(threads, backend);
  const q = await BiomegModel.random(preset, { backend, seed: 1, quantize: 'int8' });
  const f = await BiomegModel.random(preset, { backend, seed: 1 });
  const ids = new Uint32Array(batch * seq).map((_, i) => 1000 + ((i * 7919) % 20000));
  const time = async (m: BiomegModel) => {
    const t = performance.now();
    await m.forward({ ids, batch, seq });
    return performance.now() - t;
  };
  await time(f); // warm-up
  await time(q);
  const tf: number[] = [];
  const tq: number[] = [];
  for (let i = 0; i < reps; i++) {
    tf.push(await time(f));
    tq.push(await time(q));
  }
  const fp32 = median(tf);
  const int8 = median(tq);
  return {
    preset,
    backend,
    threads,
    batch,
    seq,
    runs: reps,
    fp32_ms: fp32,
    int8_ms: int8,
    speedup: median(tf.map((v, i) => v / tq[i])),
    int8_tokens_per_s: (batch * seq) / (int8 / 1000),
  };
}

/** Per-op times of `reps` forward passes (after a warm-up), per forward, with the wall time. */
async function profile(backend: BackendName, threads: number, preset: string, batch: number, seq: number, reps: number, q: string) {
  await setThreads(threads, backend);
  const be = await loadBackend(backend);
  const model = await BiomegModel.random(preset, { backend, seed: 1, quantize: q === 'int8' ? 'int8' : undefined });
  const ids = new Uint32Array(batch * seq).map((_, i) => 1000 + ((i * 7919) % 20000));
  await model.forward({ ids, batch, seq }); // warm-up
  be.call((api) => api.setProfiling(true));
  const t = performance.now();
  for (let i = 0; i < reps; i++) await model.forward({ ids, batch, seq });
  const wall = (performance.now() - t) / reps;
  const got = JSON.parse(be.call((api) => api.takeProfile())) as { ops: Array<{ op: string; ms: number; calls: number; inner: boolean }> };
  be.call((api) => api.setProfiling(false));
  const ops = got.ops.map((o) => ({ ...o, ms: o.ms / reps, calls: o.calls / reps }));
  return { preset, backend, threads, batch, seq, runs: reps, quantization: q, forward_ms: wall, ops };
}

const [kind, backend, threads, ...rest] = process.argv.slice(2);
const nums = rest.map(Number);
const run =
  kind === 'gemm'
    ? gemm(backend as BackendName, Number(threads), nums[0], nums[1], nums[2], nums[3], (rest[4] ?? 'cpu') as Device)
    : kind === 'int8'
      ? int8Pair(backend as BackendName, Number(threads), rest[0], nums[1], nums[2], nums[3])
      : kind === 'profile'
        ? profile(backend as BackendName, Number(threads), rest[0], nums[1], nums[2], nums[3], rest[4] ?? 'fp32')
        : encoder(backend as BackendName, Number(threads), rest[0], nums[1], nums[2], nums[3], (rest[4] ?? 'cpu') as Device);
run.then(
  (r) => console.log(JSON.stringify(r)),
  (e) => {
    console.error(`${e?.code ?? ''} ${e?.message ?? e}`);
    process.exit(1);
  },
);
