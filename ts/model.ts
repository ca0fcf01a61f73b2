// The model API, identical on the native and wasm backends: load a checkpoint directory (or
// bytes), encode texts to hidden states, and the task pipelines (NER, sentence classification,
// extractive QA). Long inputs are split into overlapping windows, never truncated.
import { loadBackend, type Backend, type BackendChoice, type BackendName } from './core/backend.js';
import { existsSync, readFileSync } from './core/fs.js';
import { host } from './core/host.js';
import path from './core/path.js';
import { checkFitsWasm32, fetchModelParts, type FromUrlOptions } from './core/fetch-model.js';
import type { ModelHandle } from './binding.js';
import { BiomegError } from './errors.js';
import { type Tokenizer, loadTokenizer, tokenizerFromData, type TokenizerData } from './text/tokenizer.js';
import type { LogitSource } from './tasks/batch.js';
import type { InferenceOptions } from './tasks/index.js';
import { type Quantization, QUANTIZATION_KEY, withQuantization } from './core/quantization.js';
import { answerSpans } from './tasks/qa.js';
import { classifyInputs } from './tasks/sequence.js';
import { encodeTexts, recognize } from './tasks/token.js';

export interface ModelConfigJson {
  model_type: string;
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  num_labels?: number;
  id2label?: Record<string, string>;
  biomeg_head?: { task: 'token' | 'sequence' | 'qa' | 'discriminator' | 'mlm'; layers: number; hidden?: number; activation?: string };
  [key: string]: unknown;
}

export interface LoadOptions {
  /** 'auto' (default) prefers the native addon and falls back to wasm. */
  backend?: BackendChoice;
  /** Force the tokenizer's casing; detected from the vocabulary when omitted. */
  lowercase?: boolean;
  /** 'int8': quantize the encoder layers' Linears at load (docs/quantization.md). A folder
   *  written by `biomeg quantize` is int8 without it. */
  quantize?: Quantization;
}

export interface WindowOptions {
  /** Tokens per window including [CLS]/[SEP] (default: min(512, max_position_embeddings)). */
  maxLength?: number;
  /** Tokens shared by consecutive windows (default: a quarter of the window; answer():
   *  min(128, half of what the question leaves), as in ts/tasks). */
  stride?: number;
  /** Windows per forward call (default 8). */
  batchSize?: number;
}

export interface EncodedText {
  tokens: string[];
  /** [start, end) of each sub-token in UTF-16 code units of the input. */
  offsets: Array<[number, number]>;
  /** Last hidden state, row-major [tokens.length, hidden] (no [CLS]/[SEP] rows). */
  hidden: Float32Array;
  hiddenSize: number;
}

export interface Entity {
  label: string;
  /** Mean probability of the predicted labels of the entity's words. */
  score: number;
  start: number;
  end: number;
  text: string;
}

export interface Classification {
  label: string;
  score: number;
  scores: Record<string, number>;
}

export interface Answer {
  text: string;
  start: number;
  end: number;
  /** Probability among the returned n-best (softmax over their logits). */
  score: number;
  /** start logit + end logit. */
  logit: number;
  /** Only on the no-answer entry of `answer(..., { allowNoAnswer: true })`: text '', start = end = 0,
   *  logit = the null score (start + end logit at [CLS], least over the windows). */
  noAnswer?: boolean;
  /** On the no-answer entry: null score minus the best span's logit (+Infinity when no span fits),
   *  the na_prob that the SQuAD v2.0 scorer thresholds. */
  scoreDiff?: number;
}

export interface AnswerOptions extends WindowOptions {
  /** Spans returned [5]. */
  topK?: number;
  /** Longest answer in sub-tokens [30]. */
  maxAnswerTokens?: number;
  /** Question sub-tokens kept [64]. */
  maxQueryLength?: number;
  /** SQuAD v2.0: add a no-answer entry (`noAnswer: true`) to the list, first exactly when its
   *  `scoreDiff` > `nullThreshold`; `score` is then the softmax over the spans and the null score. */
  allowNoAnswer?: boolean;
  /** Null score minus best span logit above which "no answer" ranks first [0]. */
  nullThreshold?: number;
}

/** Files of a Hugging Face-style model directory. */
export interface ModelFiles {
  config: string;
  weights: string;
  vocab?: string;
}

/** The files of a model directory (Node: needs the file system). */
export function modelFiles(dir: string): ModelFiles {
  const config = path.join(dir, 'config.json');
  const weights = path.join(dir, 'model.safetensors');
  for (const f of [config, weights]) {
    if (!existsSync(f)) throw new BiomegError('BIOMEG_IO', `${f} not found (a model directory holds config.json and model.safetensors)`);
  }
  // tokenizer.json first, as Hugging Face prefers it; spiece.model loads with tokenizer_config.json
  const vocab = ['tokenizer.json', 'vocab.txt', 'spiece.model'].map((f) => path.join(dir, f)).find((f) => existsSync(f));
  return { config, weights, vocab };
}

export class BiomegModel {
  private constructor(
    private readonly be: Backend,
    private readonly raw: ModelHandle,
    readonly config: ModelConfigJson,
    readonly tokenizer: Tokenizer | null,
    readonly source: string,
  ) {}

  get backend(): BackendName {
    return this.be.name;
  }
  get hiddenSize(): number {
    return this.config.hidden_size;
  }
  get task(): string | null {
    return this.config.biomeg_head?.task ?? null;
  }
  /** Label names of a classification head, by id. */
  get labels(): string[] {
    const n = this.config.num_labels ?? 0;
    const m = this.config.id2label ?? {};
    return Array.from({ length: n }, (_, i) => m[String(i)] ?? `LABEL_${i}`);
  }
  /** 'int8' when the encoder runs int8 GEMMs, else null. */
  get quantization(): Quantization | null {
    return this.config[QUANTIZATION_KEY] === 'int8' ? 'int8' : null;
  }
  get numParams(): number {
    return this.call(() => this.raw.numParams());
  }

  /** Load config.json + model.safetensors (+ tokenizer.json, vocab.txt or spiece.model) from a directory, or a
   *  Megatron-LM / NeMo checkpoint (docs/megatron.md). */
  static async load(dir: string, opts: LoadOptions = {}): Promise<BiomegModel> {
    // In a browser a model directory is a URL.
    if (!host().fs) return BiomegModel.fromUrl(dir, opts);
    // A Megatron-LM / NeMo checkpoint (.pt, .nemo or a folder holding one) is converted in memory.
    const megatron = host().megatron;
    if (megatron?.find(dir)) {
      const parts = megatron.parts(dir);
      return BiomegModel.fromBytes(parts, { ...opts, lowercase: opts.lowercase ?? parts.lowercase });
    }
    const files = modelFiles(dir);
    const be = await loadBackend(opts.backend);
    const configJson = withQuantization(readFileSync(files.config, 'utf8'), opts.quantize, files.config);
    const raw =
      be.name === 'native'
        ? be.call((api) => api.Model.fromFile(configJson, files.config, files.weights))
        : be.call((api) => api.Model.fromBytes(configJson, files.config, readFileSync(files.weights), files.weights));
    const tok = files.vocab ? await loadTokenizer(files.vocab, { backend: be.name, lowercase: opts.lowercase }) : null;
    return BiomegModel.assemble(be, raw, tok, dir, files.vocab, configJson);
  }

  /** Load from bytes (browsers, bundles): the same model as `load` on any backend. */
  static async fromBytes(
    parts: { config: string; weights: Uint8Array; vocab?: string; vocabName?: string; tokenizer?: TokenizerData; source?: string },
    opts: LoadOptions = {},
  ): Promise<BiomegModel> {
    const be = await loadBackend(opts.backend);
    const src = parts.source ? `${parts.source.replace(/\/$/, '')}/` : '';
    if (be.name === 'wasm') checkFitsWasm32(parseConfig(parts.config, `${src}config.json`), `${src}config.json`);
    const configJson = withQuantization(parts.config, opts.quantize, `${src}config.json`);
    const raw = be.call((api) => api.Model.fromBytes(configJson, `${src}config.json`, parts.weights, `${src}model.safetensors`));
    const tok = parts.tokenizer
      ? await tokenizerFromData(parts.tokenizer, { backend: be.name, lowercase: opts.lowercase })
      : parts.vocab
        ? await loadTokenizer(parts.vocab, { backend: be.name, lowercase: opts.lowercase })
        : null;
    return BiomegModel.assemble(be, raw, tok, parts.source ?? 'bytes', parts.tokenizer?.name ?? parts.vocabName, configJson);
  }

  /** Load a model directory served over HTTP (config.json, model.safetensors and tokenizer.json
   *  or vocab.txt under `baseUrl`), with download progress and, in a browser, the Cache API so a
   *  second load does not download again (ts/core/fetch-model.ts). */
  static async fromUrl(baseUrl: string | URL, opts: LoadOptions & FromUrlOptions = {}): Promise<BiomegModel> {
    const be = await loadBackend(opts.backend);
    const parts = await fetchModelParts(baseUrl, { ...opts, backend: be.name });
    return BiomegModel.fromBytes(parts, { ...opts, backend: be.name });
  }

  /** A randomly initialised model from a preset name (bert-base, biomegatron-345m, ...) or config. */
  static async random(
    presetOrConfig: string | ModelConfigJson,
    opts: LoadOptions & { seed?: number; vocab?: string } = {},
  ): Promise<BiomegModel> {
    const be = await loadBackend(opts.backend);
    let spec = typeof presetOrConfig === 'string' ? presetOrConfig : JSON.stringify(presetOrConfig);
    if (opts.quantize) spec = withQuantization(spec.startsWith('{') ? spec : be.call((api) => api.presetConfig(spec)), opts.quantize);
    const raw = be.call((api) => api.Model.random(spec, opts.seed ?? 0));
    const tok = opts.vocab ? await loadTokenizer(opts.vocab, { backend: be.name, lowercase: opts.lowercase }) : null;
    const source = typeof presetOrConfig === 'string' ? presetOrConfig : 'config';
    return BiomegModel.assemble(be, raw, tok, source, opts.vocab, spec.startsWith('{') ? spec : undefined);
  }

  private static assemble(
    be: Backend,
    raw: ModelHandle,
    tok: Tokenizer | null,
    source: string,
    vocabFile?: string,
    configJson?: string,
  ): BiomegModel {
    const config = JSON.parse(be.call(() => raw.config())) as ModelConfigJson;
    // The core's config() omits the quantization key; keep what the loaded config asked for.
    const q = configJson && (JSON.parse(configJson) as Record<string, unknown>)[QUANTIZATION_KEY];
    if (q) config[QUANTIZATION_KEY] = q;
    if (tok && tok.vocabSize > config.vocab_size) {
      throw new BiomegError(
        'BIOMEG_VOCAB_MISMATCH',
        `${vocabFile ?? 'vocabulary'} has ${tok.vocabSize} entries but the model's embedding has vocab_size ${config.vocab_size}: wrong vocabulary for this checkpoint`,
      );
    }
    return new BiomegModel(be, raw, config, tok, source);
  }

  private call<T>(fn: () => T): T {
    return this.be.call(fn);
  }

  /** One forward pass over a padded batch of ids ([batch, seq] row-major). */
  async forward(
    batch: { ids: Uint32Array; typeIds?: Uint32Array; mask?: Uint8Array; batch: number; seq: number },
    withHead = false,
  ): Promise<{ hidden: Float32Array; logits: Float32Array | null }> {
    const n = batch.batch * batch.seq;
    const typeIds = batch.typeIds ?? new Uint32Array(n);
    const mask = batch.mask ?? new Uint8Array(n).fill(1);
    const out = await this.be.callAsync(() => this.raw.forward(batch.ids, typeIds, mask, batch.batch, batch.seq, withHead));
    return { hidden: out.hidden, logits: out.logits ?? null };
  }

  private requireTokenizer(): Tokenizer {
    if (!this.tokenizer)
      throw new BiomegError(
        'BIOMEG_NO_TOKENIZER',
        `${this.source}: no vocab.txt, tokenizer.json or spiece.model was loaded with this model`,
      );
    return this.tokenizer;
  }

  private requireHead(task: string): void {
    if (this.task !== task) {
      throw new BiomegError(
        'BIOMEG_WRONG_HEAD',
        `${this.source}: this needs a '${task}' head but the model has ${this.task ? `a '${this.task}' head` : 'no task head'}`,
      );
    }
  }

  private windowLength(opts: WindowOptions): number {
    const max = Math.min(512, this.config.max_position_embeddings);
    const len = opts.maxLength ?? max;
    if (len > max || len < 8) throw new BiomegError('BIOMEG_BAD_INPUT', `maxLength ${len} must lie in [8, ${max}]`);
    return len;
  }

  /** The windowing of the task layer (ts/tasks), resolved against this model. */
  private windowing(opts: WindowOptions): InferenceOptions {
    return { maxLength: this.windowLength(opts), stride: opts.stride, batchSize: opts.batchSize ?? 8 };
  }

  /** This model as the task layer's logit source: head logits, or hidden states without the head. */
  private outputs(withHead: boolean): LogitSource {
    return { evalLogits: async (b) => (withHead ? (await this.forward(b, true)).logits! : (await this.forward(b)).hidden) };
  }

  /** Hidden states of every sub-token of each text (long texts via overlapping windows). */
  async encode(texts: string[], opts: WindowOptions = {}): Promise<EncodedText[]> {
    return encodeTexts(this.outputs(false), this.requireTokenizer(), texts, this.hiddenSize, this.windowing(opts));
  }

  /** Named entities with character offsets (UTF-16) from a token-classification model. */
  async ner(texts: string[], opts: WindowOptions = {}): Promise<Entity[][]> {
    this.requireHead('token');
    return recognize(this.outputs(true), this.requireTokenizer(), this.labels, texts, this.windowing(opts));
  }

  /** Sentence (or sentence-pair) classification from a sequence-classification model. */
  async classify(inputs: Array<string | [string, string]>, opts: WindowOptions = {}): Promise<Classification[]> {
    this.requireHead('sequence');
    return classifyInputs(this.outputs(true), this.requireTokenizer(), this.labels, inputs, this.windowing(opts));
  }

  /**
   * Extractive QA: the n-best answer spans of `context` for `question`. A question longer than
   * `maxQueryLength` (64) sub-tokens keeps its first 64, as in fine-tuning (ts/tasks/qa.ts).
   * With `allowNoAnswer` (a SQuAD v2.0 model), `answers[0].noAnswer` says the model abstains.
   */
  async answer(question: string, context: string, opts: AnswerOptions = {}): Promise<Answer[]> {
    this.requireHead('qa');
    return answerSpans(this.outputs(true), this.requireTokenizer(), question, context, { ...opts, ...this.windowing(opts) });
  }
}

/** config.json text as an object, or BIOMEG_BAD_CONFIG naming the file. */
function parseConfig(text: string, source: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new BiomegError('BIOMEG_BAD_CONFIG', `${source}: not valid JSON (${(e as Error).message})`);
  }
}

/** config.json of a named preset (bert-base, bert-large, biomegatron-345m/800m/1.2b, tiny). */
export async function presetConfig(name: string, backend?: BackendChoice): Promise<ModelConfigJson> {
  const be = await loadBackend(backend);
  return JSON.parse(be.call((api) => api.presetConfig(name))) as ModelConfigJson;
}

export { softmax } from './tasks/batch.js';
export { entitiesFromWords } from './tasks/token.js';
