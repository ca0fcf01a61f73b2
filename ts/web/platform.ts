// The browser platform layer: registers the host (ts/core/host.ts) whose only backend is the
// WebAssembly package, bundled with this file; the .wasm itself is fetched from next to the
// bundle (new URL(..., import.meta.url)) or from where setWasmSource says. No file system.
import init, * as glue from '../../bindings/wasm/pkg/biomeg_wasm.js';
import type { BindingApi } from '../binding.js';
import { setHost } from '../core/host.js';
import { BiomegError } from '../errors.js';

/** Where the .wasm comes from: a URL, its bytes, a compiled module, or a fetch Response. */
export type WasmSource = string | URL | Uint8Array | ArrayBuffer | WebAssembly.Module | Response | Promise<Response>;

let wasmSource: WasmSource | null = null;
let loaded = false;

/** Name the .wasm before the first model or tokenizer loads (default: biomeg_wasm_bg.wasm next to
 *  the bundle that holds this code). */
export function setWasmSource(src: WasmSource): void {
  if (loaded) throw new BiomegError('BIOMEG_BAD_ARGUMENT', 'setWasmSource must be called before the wasm backend loads');
  wasmSource = src;
}

function defaultWasmUrl(): URL {
  return new URL('./biomeg_wasm_bg.wasm', import.meta.url);
}

async function loadBinding(name: 'native' | 'wasm', generation: number): Promise<BindingApi> {
  if (name === 'native') {
    throw new BiomegError('BIOMEG_NO_BACKEND', 'the native addon runs in Node only; in a browser the backend is wasm');
  }
  if (generation > 0) {
    // The bundled wasm-bindgen glue holds one instance for the page's lifetime.
    throw new BiomegError(
      'BIOMEG_PANIC',
      'the wasm instance trapped earlier and cannot be replaced in this page: reload it (a BiomegWorker restarts its worker instead)',
    );
  }
  const src = wasmSource ?? defaultWasmUrl();
  try {
    await init({ module_or_path: src as never });
  } catch (e) {
    const where = src instanceof URL || typeof src === 'string' ? String(src) : 'the given wasm bytes';
    throw new BiomegError('BIOMEG_NO_BACKEND', `cannot load the wasm backend from ${where}: ${(e as Error).message}`);
  }
  loaded = true;
  return glue as unknown as BindingApi;
}

setHost({
  name: 'web',
  backendAvailable: (name) => name === 'wasm',
  loadBinding,
});
