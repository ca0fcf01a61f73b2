// Runtime: info, the GEMM dispatch (CPU here; cuBLAS only when a GPU and libcublas exist),
// and identical exports on the two bindings.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { runtimeInfo, matmul, loadBackend } from '../dist/index.js';
import { BACKENDS } from './helpers/backends.mjs';

function refMatmul(a, b, m, k, n) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) c[i * n + j] += a[i * k + p] * b[p * n + j];
  return c;
}

for (const backend of BACKENDS) {
  test(`info and CPU GEMM (${backend})`, async (t) => {
    const info = await runtimeInfo(backend);
    t.is(info.backend, backend);
    t.true(info.threads >= 1);
    t.true(info.simdAvailable.includes(info.simd));
    if (backend === 'wasm') t.is(info.simd, 'simd128');
    const [m, k, n] = [37, 300, 45];
    const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i));
    const want = refMatmul(a, b, m, k, n);
    const c = await matmul(a, b, m, k, n, { backend, device: 'cpu' });
    let worst = 0;
    c.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - want[i]));
    });
    t.true(worst < 1e-3, `max diff ${worst}`);
    // Without a GPU + libcublas, asking for CUDA is a clear error and 'auto' runs on the CPU.
    if (!info.backends.cuda) {
      const e = await t.throwsAsync(matmul(a, b, m, k, n, { backend, device: 'cuda' }));
      t.is(e.code, 'BIOMEG_NO_CUDA');
      t.deepEqual(await matmul(a, b, m, k, n, { backend, device: 'auto' }), c);
    }
  });
}

test('a broken libcublas path falls back to the CPU with the reason in info', (t) => {
  const out = execFileSync(process.execPath, ['dist/cli.js', 'info', '--json'], {
    env: { ...process.env, BIOMEG_CUDART: '/etc/hostname', BIOMEG_CUBLAS: '/etc/hostname' },
    encoding: 'utf8',
  });
  const info = JSON.parse(out);
  t.false(info.backends.cuda);
  t.regex(info.cudaDetail, /hostname|no libcudart|no CUDA device/);
});

test('both bindings export the same classes, functions and methods', async (t) => {
  const shape = (raw) => {
    const out = {};
    for (const [k, v] of Object.entries(raw)) {
      if (typeof v !== 'function' || k === 'default' || k.startsWith('init') || k === 'initSync' || k === 'install_panic_hook') continue;
      const proto = Object.getOwnPropertyNames(v.prototype ?? {}).filter(
        (p) => p !== 'constructor' && p !== 'free' && !p.startsWith('__') && p !== Symbol.dispose?.toString(),
      );
      const statics = Object.getOwnPropertyNames(v).filter(
        (p) => !['length', 'name', 'prototype', '__wrap', 'arguments', 'caller'].includes(p),
      );
      out[k] = [
        ...proto.filter(
          (p) =>
            typeof Object.getOwnPropertyDescriptor(v.prototype, p)?.value === 'function' ||
            Object.getOwnPropertyDescriptor(v.prototype, p)?.get,
        ),
        ...statics.map((s) => `static ${s}`),
      ].sort();
    }
    return out;
  };
  const native = shape((await loadBackend('native')).raw);
  const wasm = shape((await loadBackend('wasm')).raw);
  t.deepEqual(Object.keys(native).sort(), Object.keys(wasm).sort());
  for (const k of Object.keys(native)) t.deepEqual(native[k], wasm[k], k);
});
