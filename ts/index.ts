// biomeg: biomedical BERT-style language models for JavaScript (native addon or WebAssembly).
export { BiomegModel, modelFiles, entitiesFromWords, softmax, presetConfig } from './model.js';
export type {
  ModelConfigJson,
  LoadOptions,
  WindowOptions,
  EncodedText,
  Entity,
  Classification,
  Answer,
  AnswerOptions,
  ModelFiles,
} from './model.js';
export {
  estimateParams,
  checkSafetensors,
  WASM32_MAX_PARAM_BYTES,
  type DownloadProgress,
  type FromUrlOptions,
} from './core/fetch-model.js';
export { planWindows, bestWindowFor, type Window } from './windows.js';
export { loadBackend, nativeAvailable, wasmAvailable, type Backend, type BackendChoice, type BackendName } from './backend.js';
export { BiomegError } from './errors.js';
export {
  convertMegatron,
  exportMegatron,
  readMegatron,
  findMegatronCheckpoint,
  type MegatronReadOptions,
  type MegatronModel,
  type ExportResult,
} from './convert/index.js';
export { featureLogits } from './tasks/batch.js';
export { quantizeModel, withQuantization, type Quantization, type QuantizeResult } from './quantize.js';
export { runtimeInfo, setThreads, matmul, type RuntimeInfoJson } from './runtime.js';
export * from './text/index.js';
export {
  TrainSession,
  ElectraSession,
  type TrainOptions,
  type NewHeadOptions,
  type StepResult,
  type TrainBatch,
  type ElectraOptions,
  type ElectraStepResult,
} from './train/index.js';
export * from './finetune/index.js';
export * from './data/index.js';
export * from './eval/index.js';
export { pretrain, type PretrainOptions, type PretrainResult, type HeldOut, type ObjectiveName } from './pretrain/index.js';
export {
  prepareCorpus,
  openShards,
  readCorpus,
  splitSentences,
  maskBatch,
  type PrepareCorpusOptions,
  type ShardManifest,
  type OpenShardsOptions,
  type ShardBatch,
  type ShardCursor,
} from './pretrain/data/index.js';
export { domainTransfer, type DomainTransferOptions, type DomainTransferResult, type ArmResult } from './study/domain-transfer.js';
