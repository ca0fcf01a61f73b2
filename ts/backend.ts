// Backend selection: the native addon (napi-rs) or the WebAssembly package, behind one shape.
// Both bindings export the same names; this module loads one and hands it to the library.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export type BackendName = 'native' | 'wasm';
export type BackendChoice = BackendName | 'auto';

/** The raw binding module (native addon or wasm-bindgen exports). Typed loosely on purpose:
 *  the library's typed API lives in ts/, the bindings only convert types. */
export interface Backend {
  readonly name: BackendName;
  readonly raw: any;
}

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

let nativeCache: Backend | null = null;
let wasmCache: Promise<Backend> | null = null;

export function nativeAvailable(): boolean {
  return existsSync(NATIVE_ADDON);
}

export function wasmAvailable(): boolean {
  return existsSync(WASM_JS) && existsSync(WASM_BIN);
}

function loadNative(): Backend {
  if (nativeCache) return nativeCache;
  if (!nativeAvailable()) {
    throw Object.assign(new Error(`native addon not built: ${NATIVE_ADDON} is missing (run \`npm run setup\`)`), {
      code: 'BIOMEG_NO_BACKEND',
    });
  }
  const require = createRequire(import.meta.url);
  nativeCache = { name: 'native', raw: require(NATIVE_ADDON) };
  return nativeCache;
}

async function loadWasm(): Promise<Backend> {
  if (!wasmCache) {
    wasmCache = (async () => {
      if (!wasmAvailable()) {
        throw Object.assign(new Error(`wasm package not built: ${WASM_JS} is missing (run \`npm run setup\`)`), {
          code: 'BIOMEG_NO_BACKEND',
        });
      }
      const mod = await import(WASM_JS);
      await mod.default({ module_or_path: readFileSync(WASM_BIN) });
      return { name: 'wasm' as const, raw: mod };
    })();
    wasmCache.catch(() => (wasmCache = null));
  }
  return wasmCache;
}

let defaultChoice: BackendChoice = 'auto';

/** The choice used when a call names no backend ('biomeg/wasm' sets 'wasm'). */
export function setDefaultBackend(choice: BackendChoice): void {
  defaultChoice = choice;
}

/** Forget the wasm instance (after a trap its memory cannot be trusted); the next load makes a new one. */
export function resetWasm(): void {
  wasmCache = null;
}

/** Load a backend. 'auto' prefers native and falls back to wasm. */
export async function loadBackend(requested?: BackendChoice): Promise<Backend> {
  const choice = requested ?? defaultChoice;
  if (choice === 'native') return loadNative();
  if (choice === 'wasm') return loadWasm();
  if (nativeAvailable()) {
    try {
      return loadNative();
    } catch {
      /* fall through to wasm */
    }
  }
  return loadWasm();
}
