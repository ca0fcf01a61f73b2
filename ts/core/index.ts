// The platform-neutral API of biomeg: models from bytes or URLs, tokenizers, the task pipelines
// and the metrics. Nothing reachable from here imports a `node:` module (scripts/build-web.mjs
// fails the build if anything does); files by path go through the platform layer (./host.ts).
// 'biomeg' in Node (ts/index.ts) and 'biomeg/web' (ts/web/index.ts) both export all of this.
export { BiomegModel, entitiesFromWords, softmax, presetConfig } from '../model.js';
export type {
  ModelConfigJson,
  LoadOptions,
  WindowOptions,
  EncodedText,
  Entity,
  Classification,
  Answer,
  AnswerOptions,
} from '../model.js';
export { estimateParams, checkSafetensors, WASM32_MAX_PARAM_BYTES, type DownloadProgress, type FromUrlOptions } from './fetch-model.js';
export { planWindows, bestWindowFor, type Window } from '../windows.js';
export { loadBackend, nativeAvailable, wasmAvailable, type Backend, type BackendChoice, type BackendName } from './backend.js';
export { BiomegError } from '../errors.js';
export { runtimeInfo, setThreads, matmul, type RuntimeInfoJson } from '../runtime.js';
export {
  Tokenizer,
  loadTokenizer,
  tokenizerFromData,
  alignLabels,
  packNerData,
  type TokenizerData,
  type Encoding,
  type SpecialIds,
  type LabelExample,
  type BreakoutReport,
  type BreakoutCounts,
  type NerData,
  type LoadTokenizerOptions,
} from '../text/tokenizer.js';
export * from '../eval/index.js';
