// BiomegWorker: the model API on a Web Worker, so a forward pass never blocks the page. Models
// and tokenizers live in the worker; the page holds proxies whose methods have the same names and
// results as BiomegModel's / Tokenizer's (all async). A Rust panic traps the worker's wasm
// instance: the worker is then replaced by a fresh one on the next load.
import type { DownloadProgress } from '../core/fetch-model.js';
import { BiomegError } from '../errors.js';
import type { AnswerOptions, Answer, Classification, EncodedText, Entity, ModelConfigJson, WindowOptions } from '../model.js';
import type { Encoding, LabelExample } from '../text/tokenizer.js';
import type { CallStats, WorkerOp, WorkerReply } from './worker-protocol.js';

export type { CallStats };

export interface WorkerModelInfo {
  handle: number;
  config: ModelConfigJson;
  labels: string[];
  task: string | null;
  numParams: number;
  source: string;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  onProgress?: (p: DownloadProgress) => void;
}

export class BiomegWorker {
  private worker: Worker | null = null;
  private generation = 0;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Timing of the last call that finished (inside the worker: total and each forward pass). */
  lastStats: CallStats | null = null;

  /** `workerUrl`: the worker script (default: worker.js next to this bundle); `wasmUrl`: the .wasm
   *  the worker loads (default: next to the worker script). */
  constructor(private readonly opts: { workerUrl?: string | URL; wasmUrl?: string | URL } = {}) {}

  private spawn(): Worker {
    if (this.worker) return this.worker;
    const url = this.opts.workerUrl ?? new URL('./worker.js', import.meta.url);
    const w = new Worker(url, { type: 'module' });
    w.onmessage = (e: MessageEvent<WorkerReply>) => this.receive(e.data);
    w.onerror = (e) => {
      e.preventDefault();
      this.failAll(new BiomegError('BIOMEG_NO_BACKEND', `the worker failed: ${e.message || 'cannot load the worker script'}`));
    };
    this.worker = w;
    this.generation++;
    if (this.opts.wasmUrl) this.post(w, { op: 'setWasmSource', src: String(new URL(String(this.opts.wasmUrl), location.href)) });
    return w;
  }

  private receive(msg: WorkerReply): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    if (msg.kind === 'progress') {
      p.onProgress?.(msg.progress as DownloadProgress);
      return;
    }
    this.pending.delete(msg.id);
    if (msg.kind === 'result') {
      this.lastStats = msg.stats;
      p.resolve(msg.value);
    } else {
      // A trapped wasm instance cannot be trusted: the next request starts a fresh worker.
      if (msg.code === 'BIOMEG_PANIC') this.terminate();
      p.reject(new BiomegError(msg.code, msg.message));
    }
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.terminate();
  }

  private post(w: Worker, op: WorkerOp, onProgress?: (p: DownloadProgress) => void): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      w.postMessage({ ...op, id });
    });
  }

  /** @internal a request on the current worker, refused when it was made by an earlier worker. */
  request(op: WorkerOp, generation?: number, onProgress?: (p: DownloadProgress) => void): Promise<unknown> {
    if (generation !== undefined && generation !== this.generation) {
      return Promise.reject(
        new BiomegError('BIOMEG_PANIC', 'this object lived in a worker that was restarted after a panic; load it again'),
      );
    }
    return this.post(this.spawn(), op, onProgress);
  }

  /** BiomegModel.fromUrl in the worker. */
  async load(
    url: string | URL,
    opts: { onProgress?: (p: DownloadProgress) => void; cache?: boolean | string; lowercase?: boolean } = {},
  ): Promise<WorkerModel> {
    const abs = new URL(String(url), location.href).href;
    this.spawn();
    const gen = this.generation;
    const info = (await this.request(
      { op: 'loadModel', url: abs, opts: { cache: opts.cache, lowercase: opts.lowercase } },
      gen,
      opts.onProgress,
    )) as WorkerModelInfo;
    return new WorkerModel(this, gen, info);
  }

  /** A tokenizer from a vocab.txt / tokenizer.json URL or a folder URL holding one. */
  async loadTokenizer(url: string | URL, opts: { lowercase?: boolean } = {}): Promise<WorkerTokenizer> {
    const abs = new URL(String(url), location.href).href;
    this.spawn();
    const gen = this.generation;
    const info = (await this.request({ op: 'loadTokenizer', url: abs, opts }, gen)) as WorkerTokenizerInfo;
    return new WorkerTokenizer(this, gen, info);
  }

  /** Stop the worker; pending calls fail, the next load starts a new one. */
  terminate(): void {
    this.worker?.terminate();
    this.worker = null;
    for (const p of this.pending.values()) p.reject(new BiomegError('BIOMEG_PANIC', 'the worker was stopped'));
    this.pending.clear();
  }
}

export class WorkerModel {
  readonly config: ModelConfigJson;
  readonly labels: string[];
  readonly task: string | null;
  readonly numParams: number;
  readonly source: string;
  constructor(
    private readonly w: BiomegWorker,
    private readonly generation: number,
    private readonly info: WorkerModelInfo,
  ) {
    ({ config: this.config, labels: this.labels, task: this.task, numParams: this.numParams, source: this.source } = info);
  }
  get hiddenSize(): number {
    return this.config.hidden_size;
  }
  private call<T>(method: string, args: unknown[]): Promise<T> {
    return this.w.request({ op: 'call', handle: this.info.handle, method, args }, this.generation) as Promise<T>;
  }
  ner(texts: string[], opts: WindowOptions = {}): Promise<Entity[][]> {
    return this.call('ner', [texts, opts]);
  }
  encode(texts: string[], opts: WindowOptions = {}): Promise<EncodedText[]> {
    return this.call('encode', [texts, opts]);
  }
  classify(inputs: Array<string | [string, string]>, opts: WindowOptions = {}): Promise<Classification[]> {
    return this.call('classify', [inputs, opts]);
  }
  answer(question: string, context: string, opts: AnswerOptions = {}): Promise<Answer[]> {
    return this.call('answer', [question, context, opts]);
  }
  /** The model's tokenizer on one text (null when the model has none). */
  tokenize(text: string): Promise<Encoding | null> {
    return this.call('tokenize', [text]);
  }
  dispose(): Promise<void> {
    return this.w.request({ op: 'dispose', handle: this.info.handle }, this.generation).then(() => undefined);
  }
}

interface WorkerTokenizerInfo {
  handle: number;
  name: string;
  source: string;
  vocabSize: number;
  lowercase: boolean;
}

export class WorkerTokenizer {
  readonly name: string;
  readonly source: string;
  readonly vocabSize: number;
  readonly lowercase: boolean;
  constructor(
    private readonly w: BiomegWorker,
    private readonly generation: number,
    private readonly info: WorkerTokenizerInfo,
  ) {
    ({ name: this.name, source: this.source, vocabSize: this.vocabSize, lowercase: this.lowercase } = info);
  }
  private call<T>(method: string, args: unknown[]): Promise<T> {
    return this.w.request({ op: 'call', handle: this.info.handle, method, args }, this.generation) as Promise<T>;
  }
  encode(text: string): Promise<Encoding> {
    return this.call('encode', [text]);
  }
  /** Sub-tokens of each word and both labellings (what `biomeg vocab show` prints). */
  labelExamples(words: string[], labels: string[] = []): Promise<LabelExample[]> {
    return this.call('labelExamples', [words, labels]);
  }
}
