// The cuBLAS path end to end without a GPU: the stand-in library of the Rust tests
// (crates/biomeg-core/tests/cuda_standin/standin.c: cudart + cublas symbols, a naive column-major
// sgemm that checks leading dimensions and bounds) is compiled here and named with BIOMEG_CUDART /
// BIOMEG_CUBLAS, as a user names real libraries. Each check runs the CLI or the library in a
// child process, since the probe runs once per process.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nativeAvailable } from '../dist/index.js';

const SRC = 'crates/biomeg-core/tests/cuda_standin/standin.c';
/** sgemm calls of the probe's self-test (dispatch/cuda.rs). */
const SELF_TEST_GEMMS = '4';

/** The compiled stand-in, or why there is none. */
function standin() {
  if (!nativeAvailable()) return { why: 'native addon not built' };
  const lib = path.join(mkdtempSync(path.join(os.tmpdir(), 'biomeg-standin-')), 'libstandin.so');
  try {
    execFileSync(process.env.CC ?? 'cc', ['-shared', '-fPIC', '-O2', '-pthread', '-o', lib, SRC], { stdio: 'pipe' });
  } catch (e) {
    return { why: `cannot compile the stand-in with ${process.env.CC ?? 'cc'}: ${e.message.split('\n')[0]}` };
  }
  return { lib };
}

const S = standin();
const env = (extra = {}) => ({ ...process.env, BIOMEG_CUDART: S.lib, BIOMEG_CUBLAS: S.lib, ...extra });
const skip = (t) => {
  if (S.lib) return false;
  if (process.env.CI === 'true') t.fail(S.why);
  else t.log(`skipped: ${S.why}`);
  t.pass();
  return true;
};

test('info reports the stand-in as cuBLAS, and GPU-path GEMMs equal the CPU', (t) => {
  if (skip(t)) return;
  const info = JSON.parse(
    execFileSync(process.execPath, ['dist/cli.js', 'info', '--json', '--backend', 'native'], { env: env(), encoding: 'utf8' }),
  );
  t.true(info.backends.cuda, info.cudaDetail);
  t.true(info.cudaDetail.includes(S.lib), info.cudaDetail);
  const script = `
    import { matmul } from './dist/index.js';
    const out = [];
    for (const [m, k, n] of [[1, 1, 1], [3, 5, 7], [64, 1, 33], [129, 65, 1], [37, 300, 45]]) {
      for (const transB of [false, true]) {
        const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i));
        const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i));
        const gpu = await matmul(a, b, m, k, n, { backend: 'native', device: 'cuda', transB });
        const cpu = await matmul(a, b, m, k, n, { backend: 'native', device: 'cpu', transB });
        const scale = Math.max(1, ...cpu.map(Math.abs));
        out.push(Math.max(...gpu.map((v, i) => Math.abs(v - cpu[i]))) / scale);
      }
    }
    console.log(JSON.stringify(out));`;
  const diffs = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: env(), encoding: 'utf8' }));
  t.is(diffs.length, 10);
  // the two sum in different orders: equal to float32 rounding, relative to the result's scale
  for (const d of diffs) t.true(d <= 1e-5, `max |gpu - cpu| / max |cpu| = ${d}`);
});

test('bench adds native+cuda GEMM and encoder rows beside the CPU rows', (t) => {
  if (skip(t)) return;
  const args = ['dist/cli.js', 'bench', '--json', '--quick', '--presets', 'tiny', '--backends', 'native', '--no-data'];
  const out = execFileSync(
    process.execPath,
    [...args, '--gemm-shapes', '64x32x48,16x8x24', '--threads', '1', '--out', mkdtempSync(path.join(os.tmpdir(), 'biomeg-bench-'))],
    {
      env: env({ BIOMEG_CUDA_MIN_MACS: '0', BIOMEG_CUDA_MIN_INTENSITY: '0' }),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const r = JSON.parse(out);
  t.deepEqual(r.errors, []);
  const gpuGemm = r.gemm.filter((g) => g.device === 'cuda');
  t.deepEqual(
    gpuGemm.map((g) => `${g.m}x${g.k}x${g.n}`),
    ['64x32x48', '16x8x24'],
  );
  t.true(gpuGemm.every((g) => g.gflops > 0));
  t.true(r.gemm.some((g) => g.device === 'cpu'));
  const enc = r.encoder.filter((e) => e.preset === 'tiny');
  t.deepEqual(enc.map((e) => e.device).sort(), ['cpu', 'cuda']);
});

test('a failing GPU falls back to the CPU with the same result, and info says why', (t) => {
  if (skip(t)) return;
  const script = `
    import { matmul, runtimeInfo } from './dist/index.js';
    const [m, k, n] = [48, 64, 40];
    const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i));
    const auto = await matmul(a, b, m, k, n, { backend: 'native', device: 'auto' });
    const cpu = await matmul(a, b, m, k, n, { backend: 'native', device: 'cpu' });
    const info = await runtimeInfo('native');
    console.log(JSON.stringify({ same: auto.every((v, i) => v === cpu[i]), cuda: info.backends.cuda, detail: info.cudaDetail }));`;
  // The stand-in's sgemm returns CUBLAS_STATUS_EXECUTION_FAILED (13) once the probe's self-test
  // GEMMs have passed.
  const r = JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      env: env({
        BIOMEG_CUDA_MIN_MACS: '0',
        BIOMEG_CUDA_MIN_INTENSITY: '0',
        STANDIN_SGEMM_FAIL_AFTER: SELF_TEST_GEMMS,
        STANDIN_SGEMM_STATUS: '13',
      }),
      encoding: 'utf8',
    }),
  );
  t.true(r.same);
  t.false(r.cuda);
  t.regex(r.detail, /runtime failure/);
});
