// Fine-tuning sessions, identical on the native and wasm backends. A TrainSession keeps the
// weights, gradients and AdamW moments inside Rust; each `step` hands over one padded batch and
// its labels, and returns the loss. Checkpoints and optimizer state are written atomically
// (temporary file + rename), so an interrupted run never leaves a half-written file.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadBackend, type Backend, type BackendChoice, type BackendName } from '../backend.js';
import type { TrainSessionHandle } from '../binding.js';
import { modelFiles, type ModelConfigJson } from '../model.js';
import { writeFileAtomic } from '../report.js';

/** Hyper-parameters (all optional; defaults in brackets). */
export interface TrainOptions {
  /** 'adamw' [default] or 'lamb' (You et al. 2020: AdamW's step scaled per tensor by the trust
   *  ratio ||w|| / ||update||; biases and LayerNorm keep 1), for large-batch pre-training. */
  optimizer?: 'adamw' | 'lamb';
  /** Peak learning rate [5e-5]. */
  lr?: number;
  /** Decoupled weight decay, never on biases or LayerNorm [0.01]. */
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Linear warm-up over this many optimizer steps [0]. */
  warmupSteps?: number;
  /** Linear decay to 0 at this optimizer step; 0 = constant [0]. */
  totalSteps?: number;
  /** Clip gradients to this global L2 norm; 0 = off [1.0]. */
  maxGradNorm?: number;
  /** Batches per optimizer step (gradient accumulation) [1]. */
  accumSteps?: number;
  hiddenDropout?: number;
  attnDropout?: number;
  /** Dropout on the task head's input (the BioMegatron NER recipe uses 0.5) [0.1]. */
  headDropout?: number;
  /** Seed of every dropout mask [42]. */
  seed?: number;
  /** Word-embedding row never updated; default config.json's pad_token_id (else 0). */
  padTokenId?: number | null;
  /** Replace (or add) the task head with a freshly initialised one (normal(0, initStd), zero
   *  bias): for base encoders without a head. */
  newHead?: NewHeadOptions;
}

/** A freshly initialised task head (`TrainOptions.newHead`). 'mlm' is the masked-LM head of
 *  BertForMaskedLM (transform normal(0, initStd), LayerNorm 1/0, bias 0; decoder tied to the
 *  word embeddings; labels are not used). */
export interface NewHeadOptions {
  task: 'token' | 'sequence' | 'qa' | 'mlm';
  /** Label names (token / sequence heads; at least 2). */
  labels?: string[];
  /** 1 or 2 fully-connected layers [1]. */
  layers?: number;
  /** Width of a 2-FC head's first layer; 0 = the encoder's hidden size [0]. */
  hidden?: number;
  /** Between the two layers [relu]. */
  activation?: 'relu' | 'gelu' | 'tanh';
  /** Seed of the weights [42]. */
  seed?: number;
  /** Standard deviation of the weights [config.json's initializer_range, else 0.02]. */
  initStd?: number;
}

export interface StepResult {
  loss: number;
  /** Labels that counted (not -100). */
  counted: number;
  /** Counted labels whose logit argmax is the label (token, sequence and mlm heads; 0 for qa):
   *  masked-token accuracy = correct / counted. */
  correct: number;
  /** True when this batch completed an accumulation window and the weights changed. */
  updated: boolean;
  lr: number;
  gradNorm: number | null;
  /** Optimizer steps taken so far. */
  step: number;
}

/** `evalMetrics`: mean loss over the counted labels, without dropout. */
export interface EvalResult {
  loss: number;
  counted: number;
  correct: number;
}

export interface TrainBatch {
  ids: Uint32Array;
  typeIds?: Uint32Array;
  mask?: Uint8Array;
  batch: number;
  seq: number;
}

export class TrainSession {
  private constructor(
    private readonly be: Backend,
    private readonly handle: TrainSessionHandle,
    readonly source: string,
  ) {}

  get backend(): BackendName {
    return this.be.name;
  }

  /** Start from a model directory (config.json + model.safetensors with a task head). */
  static async load(dir: string, opts: TrainOptions = {}, backend?: BackendChoice): Promise<TrainSession> {
    const f = modelFiles(dir);
    return TrainSession.fromBytes({ config: readFileSync(f.config, 'utf8'), weights: readFileSync(f.weights) }, opts, backend, dir);
  }

  static async fromBytes(
    parts: { config: string; weights: Uint8Array },
    opts: TrainOptions = {},
    backend?: BackendChoice,
    source = 'bytes',
  ): Promise<TrainSession> {
    const be = await loadBackend(backend);
    const handle = be.call((api) => api.TrainSession.fromBytes(parts.config, parts.weights, JSON.stringify(opts)));
    return new TrainSession(be, handle, source);
  }

  /** A randomly initialised encoder (pre-training from scratch): config.json text or a preset
   *  name; BERT init (normal(0, initializer_range), LayerNorm 1/0, biases 0, padding row 0),
   *  seeded by `opts.seed`. The head comes from `opts.newHead` (e.g. `{ task: 'mlm' }`). */
  static async fromConfig(configOrPreset: string, opts: TrainOptions = {}, backend?: BackendChoice): Promise<TrainSession> {
    const be = await loadBackend(backend);
    const handle = be.call((api) => api.TrainSession.fromConfig(configOrPreset, JSON.stringify(opts)));
    return new TrainSession(be, handle, 'config');
  }

  private call<T>(fn: (t: TrainSessionHandle) => T): T {
    return this.be.call(() => fn(this.handle));
  }

  private filled(b: TrainBatch): [Uint32Array, Uint32Array, Uint8Array] {
    const n = b.batch * b.seq;
    return [b.ids, b.typeIds ?? new Uint32Array(n), b.mask ?? new Uint8Array(n).fill(1)];
  }

  /** Forward + backward on one batch, AdamW update when an accumulation window completes.
   *  A NaN/inf loss rejects with code BIOMEG_NONFINITE_LOSS and leaves the weights as they were. */
  async step(b: TrainBatch, labels: Int32Array): Promise<StepResult> {
    const [ids, tys, mask] = this.filled(b);
    const r = await this.be.callAsync(() => this.handle.step(ids, tys, mask, labels, b.batch, b.seq));
    return {
      loss: r.loss,
      counted: r.counted,
      correct: r.correct,
      updated: r.updated,
      lr: r.lr,
      gradNorm: r.gradNorm ?? null,
      step: r.step,
    };
  }

  /** Head logits without dropout. */
  async evalLogits(b: TrainBatch): Promise<Float32Array> {
    const [ids, tys, mask] = this.filled(b);
    return this.be.callAsync(() => this.handle.evalLogits(ids, tys, mask, b.batch, b.seq));
  }

  /** Mean loss without dropout; gradients untouched. */
  async evalLoss(b: TrainBatch, labels: Int32Array): Promise<number> {
    const [ids, tys, mask] = this.filled(b);
    return this.be.callAsync(() => this.handle.evalLoss(ids, tys, mask, labels, b.batch, b.seq));
  }

  /** Mean loss, counted and correct labels without dropout (an mlm head scores only the
   *  labelled positions); gradients untouched. */
  async evalMetrics(b: TrainBatch, labels: Int32Array): Promise<EvalResult> {
    const [ids, tys, mask] = this.filled(b);
    const r = await this.be.callAsync(() => this.handle.evalMetrics(ids, tys, mask, labels, b.batch, b.seq));
    return { loss: r.loss, counted: r.counted, correct: r.correct };
  }

  get optimizerSteps(): number {
    return this.call((t) => t.optimizerSteps());
  }
  get options(): Required<TrainOptions> {
    return JSON.parse(this.call((t) => t.options()));
  }
  get config(): ModelConfigJson {
    return JSON.parse(this.call((t) => t.config()));
  }

  /** Weights + AdamW moments + counters (safetensors bytes). */
  saveState(): Uint8Array {
    return this.call((t) => t.saveState());
  }
  loadState(bytes: Uint8Array, name = 'state.safetensors'): void {
    this.call((t) => t.loadState(bytes, name));
  }
  /** Current weights under Hugging Face names. */
  exportWeights(): Uint8Array {
    return this.call((t) => t.exportWeights());
  }

  /** Write a loadable model directory (config.json, model.safetensors, vocabulary copied from
   *  `vocabFrom` when given), each file atomically. */
  saveCheckpoint(dir: string, vocabFrom?: string, extraConfig: Record<string, unknown> = {}): void {
    mkdirSync(dir, { recursive: true });
    writeFileAtomic(path.join(dir, 'model.safetensors'), this.exportWeights());
    writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify({ ...this.config, ...extraConfig }, null, 1) + '\n');
    if (vocabFrom) {
      for (const f of ['vocab.txt', 'tokenizer.json', 'tokenizer_config.json']) {
        const src = path.join(vocabFrom, f);
        if (existsSync(src)) writeFileAtomic(path.join(dir, f), readFileSync(src));
      }
    }
  }

  /** Optimizer state to a file, atomically (for --resume). */
  saveStateFile(file: string): void {
    writeFileAtomic(file, this.saveState());
  }
  loadStateFile(file: string): void {
    this.loadState(readFileSync(file), file);
  }
}

export { ElectraSession, type ElectraOptions, type ElectraStepResult } from './electra.js';
