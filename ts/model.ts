// The model API, identical on the native and wasm backends: load a checkpoint directory (or
// bytes), encode texts to hidden states, and the task pipelines (NER, sentence classification,
// extractive QA). Long inputs are split into overlapping windows, never truncated.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadBackend, type Backend, type BackendChoice, type BackendName } from './backend.js';
import { BiomegError, callBinding, callBindingAsync } from './errors.js';
import { Tokenizer, loadTokenizer, type Encoding } from './text/index.js';
import { planWindows, bestWindowFor, type Window } from './windows.js';
import { bestSpans } from './spans.js';

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
  biomeg_head?: { task: 'token' | 'sequence' | 'qa' | 'discriminator'; layers: number; hidden?: number; activation?: string };
  [key: string]: unknown;
}

export interface LoadOptions {
  /** 'auto' (default) prefers the native addon and falls back to wasm. */
  backend?: BackendChoice;
  /** Force the tokenizer's casing; detected from the vocabulary when omitted. */
  lowercase?: boolean;
}

export interface WindowOptions {
  /** Tokens per window including [CLS]/[SEP] (default: min(512, max_position_embeddings)). */
  maxLength?: number;
  /** Tokens shared by consecutive windows (default: a quarter of the window). */
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
}

/** Files of a Hugging Face-style model directory. */
export interface ModelFiles {
  config: string;
  weights: string;
  vocab?: string;
}

export function modelFiles(dir: string): ModelFiles {
  const config = path.join(dir, 'config.json');
  const weights = path.join(dir, 'model.safetensors');
  for (const f of [config, weights]) {
    if (!existsSync(f)) throw new BiomegError('BIOMEG_IO', `${f} not found (a model directory holds config.json and model.safetensors)`);
  }
  const vocab = ['tokenizer.json', 'vocab.txt'].map((f) => path.join(dir, f)).find((f) => existsSync(f));
  return { config, weights, vocab };
}

export class BiomegModel {
  private constructor(
    private readonly be: Backend,
    private readonly raw: any,
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
  get numParams(): number {
    return this.call(() => this.raw.numParams());
  }

  /** Load config.json + model.safetensors (+ tokenizer.json or vocab.txt) from a directory. */
  static async load(dir: string, opts: LoadOptions = {}): Promise<BiomegModel> {
    const files = modelFiles(dir);
    const be = await loadBackend(opts.backend);
    const configJson = readFileSync(files.config, 'utf8');
    const M = be.raw.Model;
    const raw =
      be.name === 'native'
        ? callBinding(() => M.fromFile(configJson, files.config, files.weights))
        : callBinding(() => M.fromBytes(configJson, files.config, readFileSync(files.weights), files.weights), () => be.raw.takePanicMessage());
    const tok = files.vocab ? await loadTokenizer(files.vocab, { backend: be.name, lowercase: opts.lowercase }) : null;
    return BiomegModel.assemble(be, raw, tok, dir, files.vocab);
  }

  /** Load from bytes (browsers, bundles): the same model as `load` on any backend. */
  static async fromBytes(
    parts: { config: string; weights: Uint8Array; vocab?: string; vocabName?: string },
    opts: LoadOptions = {},
  ): Promise<BiomegModel> {
    const be = await loadBackend(opts.backend);
    const raw = callBinding(() => be.raw.Model.fromBytes(parts.config, 'config.json', parts.weights, 'model.safetensors'));
    const tok = parts.vocab ? await loadTokenizer(parts.vocab, { backend: be.name, lowercase: opts.lowercase }) : null;
    return BiomegModel.assemble(be, raw, tok, 'bytes', parts.vocabName);
  }

  /** A randomly initialised model from a preset name (bert-base, biomegatron-345m, ...) or config. */
  static async random(presetOrConfig: string | ModelConfigJson, opts: LoadOptions & { seed?: number; vocab?: string } = {}): Promise<BiomegModel> {
    const be = await loadBackend(opts.backend);
    const spec = typeof presetOrConfig === 'string' ? presetOrConfig : JSON.stringify(presetOrConfig);
    const raw = callBinding(() => be.raw.Model.random(spec, opts.seed ?? 0));
    const tok = opts.vocab ? await loadTokenizer(opts.vocab, { backend: be.name, lowercase: opts.lowercase }) : null;
    return BiomegModel.assemble(be, raw, tok, typeof presetOrConfig === 'string' ? presetOrConfig : 'config', opts.vocab);
  }

  private static assemble(be: Backend, raw: any, tok: Tokenizer | null, source: string, vocabFile?: string): BiomegModel {
    const config = JSON.parse(callBinding(() => raw.config())) as ModelConfigJson;
    if (tok && tok.vocabSize > config.vocab_size) {
      throw new BiomegError(
        'BIOMEG_VOCAB_MISMATCH',
        `${vocabFile ?? 'vocabulary'} has ${tok.vocabSize} entries but the model's embedding has vocab_size ${config.vocab_size}: wrong vocabulary for this checkpoint`,
      );
    }
    return new BiomegModel(be, raw, config, tok, source);
  }

  private call<T>(fn: () => T): T {
    return callBinding(fn, () => this.be.raw.takePanicMessage());
  }

  /** One forward pass over a padded batch of ids ([batch, seq] row-major). */
  async forward(
    batch: { ids: Uint32Array; typeIds?: Uint32Array; mask?: Uint8Array; batch: number; seq: number },
    withHead = false,
  ): Promise<{ hidden: Float32Array; logits: Float32Array | null }> {
    const n = batch.batch * batch.seq;
    const typeIds = batch.typeIds ?? new Uint32Array(n);
    const mask = batch.mask ?? new Uint8Array(n).fill(1);
    const out = await callBindingAsync(() => this.raw.forward(batch.ids, typeIds, mask, batch.batch, batch.seq, withHead), () => this.be.raw.takePanicMessage());
    return { hidden: out.hidden, logits: out.logits ?? null };
  }

  private requireTokenizer(): Tokenizer {
    if (!this.tokenizer) throw new BiomegError('BIOMEG_NO_TOKENIZER', `${this.source}: no vocab.txt or tokenizer.json was loaded with this model`);
    return this.tokenizer;
  }

  private requireHead(task: string): void {
    if (this.task !== task) {
      throw new BiomegError('BIOMEG_WRONG_HEAD', `${this.source}: this needs a '${task}' head but the model has ${this.task ? `a '${this.task}' head` : 'no task head'}`);
    }
  }

  private specials(): { cls: number; sep: number; pad: number } {
    const s = this.requireTokenizer().specialIds;
    if (s.cls == null || s.sep == null) throw new BiomegError('BIOMEG_BAD_VOCAB', `${this.source}: the vocabulary has no [CLS]/[SEP] tokens`);
    return { cls: s.cls, sep: s.sep, pad: s.pad ?? 0 };
  }

  private windowLength(opts: WindowOptions): number {
    const max = Math.min(512, this.config.max_position_embeddings);
    const len = opts.maxLength ?? max;
    if (len > max || len < 8) throw new BiomegError('BIOMEG_BAD_INPUT', `maxLength ${len} must lie in [8, ${max}]`);
    return len;
  }

  /**
   * Run windows ([CLS] prefix [SEP] segment [SEP]) through the model in padded batches.
   * Returns, per window, the hidden rows and logits (the model's head when `withHead`).
   */
  private async runWindows(
    rows: Array<{ ids: number[]; typeIds: number[] }>,
    withHead: boolean,
    batchSize: number,
  ): Promise<Array<{ hidden: Float32Array; logits: Float32Array | null; len: number }>> {
    const out: Array<{ hidden: Float32Array; logits: Float32Array | null; len: number }> = [];
    const { pad } = this.specials();
    const h = this.hiddenSize;
    const perTokenHead = this.task !== 'sequence';
    const labels = this.task === 'qa' ? 2 : this.task === 'discriminator' ? 1 : this.config.num_labels ?? 0;
    for (let b0 = 0; b0 < rows.length; b0 += batchSize) {
      const chunk = rows.slice(b0, b0 + batchSize);
      const seq = Math.max(...chunk.map((r) => r.ids.length));
      const ids = new Uint32Array(chunk.length * seq).fill(pad);
      const typeIds = new Uint32Array(chunk.length * seq);
      const mask = new Uint8Array(chunk.length * seq);
      chunk.forEach((r, i) => {
        ids.set(r.ids, i * seq);
        typeIds.set(r.typeIds, i * seq);
        mask.fill(1, i * seq, i * seq + r.ids.length);
      });
      const res = await this.forward({ ids, typeIds, mask, batch: chunk.length, seq }, withHead);
      chunk.forEach((r, i) => {
        const hidden = res.hidden.subarray(i * seq * h, (i * seq + r.ids.length) * h);
        let logits: Float32Array | null = null;
        if (res.logits) {
          logits = perTokenHead ? res.logits.subarray(i * seq * labels, (i * seq + r.ids.length) * labels) : res.logits.subarray(i * labels, (i + 1) * labels);
        }
        out.push({ hidden, logits, len: r.ids.length });
      });
    }
    return out;
  }

  /** Token windows over one text's encoding: [CLS] tokens [SEP]. */
  private textWindows(enc: Encoding, opts: WindowOptions): Window[] {
    const len = this.windowLength(opts);
    return planWindows(enc.ids.length, len - 2, opts.stride ?? Math.floor((len - 2) / 4));
  }

  /** Hidden states of every sub-token of each text (long texts via overlapping windows). */
  async encode(texts: string[], opts: WindowOptions = {}): Promise<EncodedText[]> {
    const out: EncodedText[] = [];
    for (const text of texts) {
      const { enc, perToken } = await this.tokenLevel(text, false, opts);
      const h = this.hiddenSize;
      const hidden = new Float32Array(enc.ids.length * h);
      perToken.forEach((p, t) => hidden.set(p.hidden, t * h));
      out.push({ tokens: enc.tokens, offsets: pairs(enc.offsets), hidden, hiddenSize: h });
    }
    return out;
  }

  /** For every sub-token of `text`: its hidden row and head logits, from its best window. */
  private async tokenLevel(text: string, withHead: boolean, opts: WindowOptions) {
    const tok = this.requireTokenizer();
    const { cls, sep } = this.specials();
    const enc = tok.encode(text);
    const windows = this.textWindows(enc, opts);
    const rows = windows.map((w) => {
      const ids = [cls, ...enc.ids.subarray(w.start, w.end), sep];
      return { ids, typeIds: new Array(ids.length).fill(0) };
    });
    const res = await this.runWindows(rows, withHead, opts.batchSize ?? 8);
    const h = this.hiddenSize;
    const labels = withHead ? (res[0]?.logits?.length ?? 0) / Math.max(1, res[0]?.len ?? 1) : 0;
    const perToken = Array.from({ length: enc.ids.length }, (_, t) => {
      const wi = bestWindowFor(windows, t);
      const row = t - windows[wi].start + 1; // +1 for [CLS]
      return {
        hidden: res[wi].hidden.subarray(row * h, (row + 1) * h),
        logits: res[wi].logits ? res[wi].logits!.subarray(row * labels, (row + 1) * labels) : null,
      };
    });
    return { enc, perToken };
  }

  /** Named entities with character offsets (UTF-16) from a token-classification model. */
  async ner(texts: string[], opts: WindowOptions = {}): Promise<Entity[][]> {
    this.requireHead('token');
    const labels = this.labels;
    const results: Entity[][] = [];
    for (const text of texts) {
      const { enc, perToken } = await this.tokenLevel(text, true, opts);
      // One prediction per word: the first sub-token's (labelling scheme (b)).
      const words: Array<{ label: string; prob: number; start: number; end: number }> = [];
      let lastWord = -1;
      for (let t = 0; t < enc.ids.length; t++) {
        const [start, end] = [enc.offsets[2 * t], enc.offsets[2 * t + 1]];
        if (enc.wordIds[t] === lastWord) {
          words[words.length - 1].end = end;
          continue;
        }
        lastWord = enc.wordIds[t];
        const p = softmax(perToken[t].logits!);
        const best = argmax(p);
        words.push({ label: labels[best], prob: p[best], start, end });
      }
      results.push(entitiesFromWords(words, text));
    }
    return results;
  }

  /** Sentence (or sentence-pair) classification from a sequence-classification model. */
  async classify(inputs: Array<string | [string, string]>, opts: WindowOptions = {}): Promise<Classification[]> {
    this.requireHead('sequence');
    const tok = this.requireTokenizer();
    const { cls, sep } = this.specials();
    const len = this.windowLength(opts);
    const out: Classification[] = [];
    for (const input of inputs) {
      const [a, b] = typeof input === 'string' ? [input, null] : input;
      const ea = tok.encode(a);
      const eb = b == null ? null : tok.encode(b);
      // Pairs keep the first text whole and window the second; single texts window themselves.
      const fixed = eb ? ea.ids.length + 3 : 2;
      const body = eb ?? ea;
      if (eb && fixed >= len) throw new BiomegError('BIOMEG_BAD_INPUT', `first text of a pair has ${ea.ids.length} tokens, too long for windows of ${len}`);
      const windows = planWindows(body.ids.length, len - fixed, opts.stride ?? Math.floor((len - fixed) / 4));
      const rows = windows.map((w) => {
        const seg = Array.from(body.ids.subarray(w.start, w.end));
        const ids = eb ? [cls, ...ea.ids, sep, ...seg, sep] : [cls, ...seg, sep];
        const typeIds = eb ? ids.map((_, i) => (i < ea.ids.length + 2 ? 0 : 1)) : new Array(ids.length).fill(0);
        return { ids, typeIds };
      });
      const res = await this.runWindows(rows, true, opts.batchSize ?? 8);
      // Long inputs: average the windows' logits.
      const n = res[0].logits!.length;
      const mean = new Float32Array(n);
      for (const r of res) for (let i = 0; i < n; i++) mean[i] += r.logits![i] / res.length;
      const p = softmax(mean);
      const names = this.labels;
      const best = argmax(p);
      out.push({ label: names[best], score: p[best], scores: Object.fromEntries(names.map((l, i) => [l, p[i]])) });
    }
    return out;
  }

  /** Extractive QA: the n-best answer spans of `context` for `question`. */
  async answer(
    question: string,
    context: string,
    opts: WindowOptions & { topK?: number; maxAnswerTokens?: number } = {},
  ): Promise<Answer[]> {
    this.requireHead('qa');
    const tok = this.requireTokenizer();
    const { cls, sep } = this.specials();
    const len = this.windowLength(opts);
    const q = tok.encode(question);
    const c = tok.encode(context);
    const room = len - q.ids.length - 3;
    if (room < 8) throw new BiomegError('BIOMEG_BAD_INPUT', `question has ${q.ids.length} tokens, too long for windows of ${len}`);
    const windows = planWindows(c.ids.length, room, opts.stride ?? Math.min(128, Math.floor(room / 2)));
    const rows = windows.map((w) => {
      const ids = [cls, ...q.ids, sep, ...c.ids.subarray(w.start, w.end), sep];
      return { ids, typeIds: ids.map((_, i) => (i < q.ids.length + 2 ? 0 : 1)) };
    });
    const res = await this.runWindows(rows, true, opts.batchSize ?? 8);
    const offset = q.ids.length + 2;
    const top = bestSpans(
      res.map((r, wi) => ({
        start: windows[wi].start,
        end: windows[wi].end,
        startLogit: (i: number) => r.logits![2 * (offset + i)],
        endLogit: (i: number) => r.logits![2 * (offset + i) + 1],
      })),
      c.offsets,
      { maxAnswerTokens: opts.maxAnswerTokens ?? 30, limit: opts.topK ?? 5 },
    );
    const p = softmax(Float32Array.from(top.map((t) => t.logit)));
    return top.map((t, i) => ({ text: context.slice(t.start, t.end), start: t.start, end: t.end, score: p[i], logit: t.logit }));
  }
}

/** config.json of a named preset (bert-base, bert-large, biomegatron-345m/800m/1.2b, tiny). */
export async function presetConfig(name: string, backend?: BackendChoice): Promise<ModelConfigJson> {
  const be = await loadBackend(backend);
  return JSON.parse(callBinding(() => be.raw.presetConfig(name))) as ModelConfigJson;
}

function pairs(flat: Uint32Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

export function softmax(x: Float32Array | number[]): number[] {
  const m = Math.max(...x);
  const e = Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function argmax(x: number[]): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** IOB word labels -> entity spans (conlleval's rules: I- after O or another type opens one). */
export function entitiesFromWords(words: Array<{ label: string; prob: number; start: number; end: number }>, text: string): Entity[] {
  const out: Entity[] = [];
  let cur: { type: string; start: number; end: number; probs: number[] } | null = null;
  const close = () => {
    if (cur) out.push({ label: cur.type, score: cur.probs.reduce((a, b) => a + b, 0) / cur.probs.length, start: cur.start, end: cur.end, text: text.slice(cur.start, cur.end) });
    cur = null;
  };
  for (const w of words) {
    const m = /^([BI])(?:-(.+))?$/.exec(w.label);
    if (!m) {
      close();
      continue;
    }
    const type = m[2] ?? 'ENTITY';
    if (m[1] === 'B' || !cur || (cur as { type: string }).type !== type) {
      close();
      cur = { type, start: w.start, end: w.end, probs: [w.prob] };
    } else {
      const c = cur as { type: string; start: number; end: number; probs: number[] };
      c.end = w.end;
      c.probs.push(w.prob);
    }
  }
  close();
  return out;
}
