// Runtime facts and low-level kernels through either backend: what `biomeg info` prints.
import { loadBackend, nativeAvailable, wasmAvailable, type BackendChoice } from './core/backend.js';

export interface RuntimeInfoJson {
  backends: { native: boolean; wasm: boolean; cuda: boolean };
  simd: string;
  simdAvailable: string[];
  threads: number;
  backend: string;
  cudaDetail: string;
}

/** Backends present, SIMD level, threads and whether cuBLAS was found (of the chosen backend). */
export async function runtimeInfo(backend?: BackendChoice): Promise<RuntimeInfoJson> {
  const be = await loadBackend(backend);
  const i = be.call((api) => api.runtimeInfo());
  let wasm = wasmAvailable();
  if (wasm && be.name !== 'wasm')
    wasm = await loadBackend('wasm').then(
      () => true,
      () => false,
    );
  return {
    backends: { native: be.name === 'native' || nativeAvailable(), wasm, cuda: i.cuda },
    simd: i.simd,
    simdAvailable: i.simdAvailable,
    threads: i.threads,
    backend: be.name,
    cudaDetail: i.cudaDetail,
  };
}

/** Threads for the native kernels (0 = default); a no-op on wasm. */
export async function setThreads(n: number, backend?: BackendChoice): Promise<void> {
  const be = await loadBackend(backend);
  be.call((api) => api.setThreads(n));
}

/** C = A[m,k] * B ([k,n], or [n,k] when transB) on 'cpu', 'cuda' or 'auto'. */
export async function matmul(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  opts: { transB?: boolean; device?: 'cpu' | 'cuda' | 'auto'; backend?: BackendChoice } = {},
): Promise<Float32Array> {
  const be = await loadBackend(opts.backend);
  return be.call((api) => api.matmul(a, b, m, k, n, opts.transB ?? false, opts.device ?? 'auto'));
}
