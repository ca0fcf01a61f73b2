// What a backend provides: the one binding surface that the native addon (napi-rs,
// bindings/node) and the WebAssembly package (wasm-bindgen, bindings/wasm) both implement.
// Types only, no platform code. The generated declaration files of both bindings are checked
// against this interface by tsc (ts/binding-check.ts), so a method renamed, dropped or retyped on
// either side fails the TypeScript build.
//
// Conventions:
// - Members are function-typed properties, not method signatures, so that tsc checks parameter
//   types strictly (contravariantly): a binding must accept every argument declared here.
// - Calls that run off the event loop on native (libuv pool) and synchronously on wasm return
//   `T | Promise<T>`; the library awaits both alike (Backend.callAsync).
// - Errors are thrown as JS errors whose message starts with "[BIOMEG_CODE] "; Backend.call /
//   callAsync turn them into BiomegError (ts/errors.ts).

/** `{ simd, simdAvailable, threads, cuda, cudaDetail }` of the running backend. */
export interface BindingRuntimeInfo {
  simd: string;
  /** Every instruction set usable here, best first. */
  simdAvailable: string[];
  threads: number;
  cuda: boolean;
  cudaDetail: string;
}

/** One forward pass: the last hidden state [batch * seq * hidden] and the head logits when asked. */
export interface BindingForwardOutput {
  hidden: Float32Array;
  /** null (wasm) or absent (native) when no head was asked for or the model has none. */
  logits?: Float32Array | null;
}

/** An encoding; `offsets` are flattened [start, end) pairs in UTF-16 code units. */
export interface BindingEncoding {
  ids: Uint32Array;
  offsets: Uint32Array;
  wordIds: Uint32Array;
  tokens: string[];
}

export interface BindingSpecialIds {
  cls: number | null;
  sep: number | null;
  pad: number | null;
  unk: number | null;
  mask: number | null;
}

/** What one TrainSession.step did. */
export interface BindingStepResult {
  loss: number;
  counted: number;
  /** Counted labels whose logit argmax is the label (token, sequence, mlm heads; 0 for qa). */
  correct: number;
  updated: boolean;
  lr: number;
  gradNorm?: number | null;
  step: number;
}

/** TrainSession.evalMetrics: mean loss, counted and correct labels without dropout. */
export interface BindingEvalResult {
  loss: number;
  counted: number;
  correct: number;
}

/** What one ElectraSession.step / eval did. */
export interface BindingElectraStepResult {
  /** genLoss + discWeight * discLoss. */
  loss: number;
  genLoss: number;
  discLoss: number;
  masked: number;
  genCorrect: number;
  replaced: number;
  discCounted: number;
  discCorrect: number;
  updated: boolean;
  lr: number;
  gradNorm?: number | null;
  step: number;
}

/** A loaded encoder (`Model` class instance). */
export interface ModelHandle {
  /** config.json text. */
  config: () => string;
  numParams: () => number;
  forward: (
    ids: Uint32Array,
    typeIds: Uint32Array,
    mask: Uint8Array,
    batch: number,
    seq: number,
    withHead: boolean,
  ) => BindingForwardOutput | Promise<BindingForwardOutput>;
}

/** The `Model` class's factories. */
export interface ModelStatic {
  fromBytes: (configJson: string, configName: string, weights: Uint8Array, weightsName: string) => ModelHandle;
  /** Native only reads files; wasm throws BIOMEG_UNSUPPORTED. */
  fromFile: (configJson: string, configName: string, weightsPath: string) => ModelHandle;
  /** From config.json text or a preset name. */
  random: (configOrPreset: string, seed: number) => ModelHandle;
}

/** A fine-tuning session (`TrainSession` class instance): weights, gradients and AdamW state in Rust. */
export interface TrainSessionHandle {
  step: (
    ids: Uint32Array,
    typeIds: Uint32Array,
    mask: Uint8Array,
    labels: Int32Array,
    batch: number,
    seq: number,
  ) => BindingStepResult | Promise<BindingStepResult>;
  evalLogits: (
    ids: Uint32Array,
    typeIds: Uint32Array,
    mask: Uint8Array,
    batch: number,
    seq: number,
  ) => Float32Array | Promise<Float32Array>;
  evalLoss: (
    ids: Uint32Array,
    typeIds: Uint32Array,
    mask: Uint8Array,
    labels: Int32Array,
    batch: number,
    seq: number,
  ) => number | Promise<number>;
  evalMetrics: (
    ids: Uint32Array,
    typeIds: Uint32Array,
    mask: Uint8Array,
    labels: Int32Array,
    batch: number,
    seq: number,
  ) => BindingEvalResult | Promise<BindingEvalResult>;
  saveState: () => Uint8Array;
  loadState: (bytes: Uint8Array, name: string) => void;
  exportWeights: () => Uint8Array;
  /** config.json text for exportWeights. */
  config: () => string;
  optimizerSteps: () => number;
  /** The options in effect, as JSON. */
  options: () => string;
}

export interface TrainSessionStatic {
  /** config.json text, safetensors bytes (with a task head) and options JSON. */
  fromBytes: (configJson: string, weights: Uint8Array, optionsJson: string) => TrainSessionHandle;
  /** A randomly initialised encoder from config.json text or a preset name (head from newHead). */
  fromConfig: (configOrPreset: string, optionsJson: string) => TrainSessionHandle;
}

/** ELECTRA pre-training (`ElectraSession` class instance): generator + discriminator in Rust. */
export interface ElectraSessionHandle {
  /** `sampled`: one replacement token per masked position (else sampled from the generator). */
  step: (
    ids: Uint32Array,
    typeIds: Uint32Array,
    mask: Uint8Array,
    labels: Int32Array,
    batch: number,
    seq: number,
    sampled?: Uint32Array | null,
  ) => BindingElectraStepResult | Promise<BindingElectraStepResult>;
  eval: (
    ids: Uint32Array,
    typeIds: Uint32Array,
    mask: Uint8Array,
    labels: Int32Array,
    batch: number,
    seq: number,
    sampled?: Uint32Array | null,
  ) => BindingElectraStepResult | Promise<BindingElectraStepResult>;
  saveState: () => Uint8Array;
  loadState: (bytes: Uint8Array, name: string) => void;
  exportGenerator: () => Uint8Array;
  generatorConfig: () => string;
  exportDiscriminator: () => Uint8Array;
  discriminatorConfig: () => string;
  optimizerSteps: () => number;
  options: () => string;
}

export interface ElectraSessionStatic {
  /** Both models random from the discriminator's config.json text; options add discWeight and
   *  generatorFraction to the TrainSession keys. */
  fromConfig: (configJson: string, optionsJson: string) => ElectraSessionHandle;
  /** ElectraForMaskedLM generator and ElectraForPreTraining discriminator files. */
  fromBytes: (
    genConfig: string,
    genWeights: Uint8Array,
    discConfig: string,
    discWeights: Uint8Array,
    optionsJson: string,
  ) => ElectraSessionHandle;
}

/** A tokenizer (`Tokenizer` class instance). */
export interface TokenizerHandle {
  encode: (text: string) => BindingEncoding;
  encodeWords: (words: string[]) => BindingEncoding;
  tokenToId: (token: string) => number | null | undefined;
  idToToken: (id: number) => string | null | undefined;
  vocabSize: () => number;
  lowercase: () => boolean;
  specialIds: () => BindingSpecialIds;
  /** Break-out analysis of packed NER data; returns JSON. */
  breakout: (
    text: string,
    wordLengths: Uint32Array,
    sentenceLengths: Uint32Array,
    labelNames: string[],
    labelIds: Uint32Array,
    topK: number,
    source: string,
  ) => string;
  /** Figure-1-style examples as JSON. */
  labelExamples: (words: string[], labels: string[]) => string;
}

export interface TokenizerStatic {
  /** BERT WordPiece from vocab.txt text; `lowercase` null/undefined = detect. */
  fromVocab: (vocabText: string, lowercase: boolean | null | undefined, source: string) => TokenizerHandle;
  fromTokenizerJson: (json: string, source: string) => TokenizerHandle;
  /** A unigram SentencePiece model (spiece.model bytes) with tokenizer_config.json text (null:
   *  ALBERT's defaults); `source` / `configSource` name the files in errors. */
  fromSpiece: (bytes: Uint8Array, source: string, configJson: string | null | undefined, configSource: string) => TokenizerHandle;
}

/** GEMM timing buffers (`GemmBench` class instance). */
export interface GemmBenchHandle {
  run: (threads: number) => void;
}

/** Everything a backend provides. */
export interface BindingApi {
  Model: ModelStatic;
  TrainSession: TrainSessionStatic;
  ElectraSession: ElectraSessionStatic;
  Tokenizer: TokenizerStatic;
  GemmBench: new (m: number, k: number, n: number) => GemmBenchHandle;

  runtimeInfo: () => BindingRuntimeInfo;
  /** Threads for the native kernels (0 = default); a no-op on wasm. */
  setThreads: (n: number) => void;
  /** C = A[m,k] * B ([k,n], or [n,k] when transB) on device 'cpu' | 'cuda' | 'auto'. */
  matmul: (a: Float32Array, b: Float32Array, m: number, k: number, n: number, transB: boolean, device: string) => Float32Array;
  /** fp32 FMA peak GFLOP/s (NaN on wasm). */
  fmaPeak: (threads: number, millis: number) => number;
  /** config.json text of a named preset. */
  presetConfig: (name: string) => string;
  /** Start (zeroing the counters) or stop per-op time accounting in the forward pass. */
  setProfiling: (on: boolean) => void;
  /** Per-op times since profiling started: JSON `{"ops": [{op, ms, calls, inner}]}`. */
  takeProfile: () => string;
  /** Sub-token labels from word labels; scheme 'all' | 'first'. */
  alignLabels: (wordIds: Uint32Array, labels: Int32Array, scheme: string, ignoreIndex: number) => Int32Array;
  /** Learn a vocabulary; options and result as JSON. */
  trainVocab: (corpus: string, optionsJson: string) => string;
  /** The message of the last Rust panic (wasm: kept by the panic hook before the trap; native:
   *  always null, panics are thrown directly). Read by the backend layer only. */
  takePanicMessage: () => string | null | undefined;
  /** TEST-ONLY: panics with `message` inside Rust (test/panic.test.mjs). */
  debugPanic: (message: string) => void;
}
