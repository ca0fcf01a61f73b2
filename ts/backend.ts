// Backend selection in Node: the platform-neutral selection and error normalisation of
// ts/core/backend.ts, with the Node platform layer (ts/node/platform.ts: native addon, wasm
// package from disk, node:fs) registered, and the paths of the built bindings.
import './node/platform.js';

export * from './core/backend.js';
export { ROOT, NATIVE_ADDON, WASM_JS, WASM_BIN } from './node/platform.js';
