// biomeg for browsers ('biomeg' under the `browser` export condition, or 'biomeg/web'): the
// platform-neutral API (ts/core/index.ts) on the WebAssembly backend, plus the wasm location and
// the Web Worker wrapper. Bundled by scripts/build-web.mjs into dist/web/biomeg.js, next to
// biomeg_wasm_bg.wasm and worker.js.
import './platform.js';
import { setDefaultBackend } from '../core/backend.js';

export * from '../core/index.js';
export { setWasmSource, type WasmSource } from './platform.js';
export { BiomegWorker, WorkerModel, WorkerTokenizer, type WorkerModelInfo, type CallStats } from './worker-client.js';
export { fetchVocabulary as tokenizerFromUrl } from './vocab-url.js';

setDefaultBackend('wasm');
