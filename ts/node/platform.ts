// The Node platform layer: registers the host (ts/core/host.ts) that loads the native addon
// (createRequire) or the wasm package (from bindings/wasm/pkg on disk), reads files with node:fs,
// and reads Megatron-LM / NeMo checkpoints. Imported for its effect by ts/backend.ts and
// injected into every Node bundle by scripts/build-ts.mjs.
import { existsSync, readFileSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BindingApi } from '../binding.js';
import { findMegatronCheckpoint, megatronModelParts } from '../convert/index.js';
import { setHost, type HostFs } from '../core/host.js';
import { BiomegError } from '../errors.js';

/** The package root: the nearest folder above this (bundled) file that holds package.json. */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}
export const ROOT = packageRoot();
export const NATIVE_ADDON = path.join(ROOT, 'bindings', 'node', 'biomeg.node');
export const WASM_JS = path.join(ROOT, 'bindings', 'wasm', 'pkg', 'biomeg_wasm.js');
export const WASM_BIN = path.join(ROOT, 'bindings', 'wasm', 'pkg', 'biomeg_wasm_bg.wasm');

async function loadBinding(name: 'native' | 'wasm', generation: number): Promise<BindingApi> {
  if (name === 'native') {
    if (!existsSync(NATIVE_ADDON)) {
      throw new BiomegError('BIOMEG_NO_BACKEND', `native addon not built: ${NATIVE_ADDON} is missing (run \`npm run setup\`)`);
    }
    return createRequire(import.meta.url)(NATIVE_ADDON) as BindingApi;
  }
  if (!existsSync(WASM_JS) || !existsSync(WASM_BIN)) {
    throw new BiomegError('BIOMEG_NO_BACKEND', `wasm package not built: ${WASM_JS} is missing (run \`npm run setup\`)`);
  }
  // wasm-bindgen's init keeps one instance per module: a fresh instance needs a fresh module URL.
  const url = pathToFileURL(WASM_JS).href + (generation ? `?instance=${generation}` : '');
  const mod = (await import(url)) as BindingApi & { default(init: { module_or_path: Uint8Array }): Promise<unknown> };
  await mod.default({ module_or_path: readFileSync(WASM_BIN) });
  return mod;
}

setHost({
  name: 'node',
  backendAvailable: (name) => (name === 'native' ? existsSync(NATIVE_ADDON) : existsSync(WASM_JS) && existsSync(WASM_BIN)),
  loadBinding,
  fs: { existsSync, readFileSync, statSync, openSync, readSync, closeSync } as HostFs,
  path,
  megatron: { find: findMegatronCheckpoint, parts: megatronModelParts },
});
