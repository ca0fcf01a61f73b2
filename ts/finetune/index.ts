// fineTune(): NER (either labelling scheme), RE (ChemProt) and QA (SQuAD-format, BioASQ) on the
// Rust training core through either backend. Per epoch: dev scores with the exact metrics, best
// checkpoint kept (atomic writes); test scores at the end; JSON-lines log, learning-curve SVG and
// a progress line; --resume continues from run_dir/state with the same loss curve; N seeds give
// mean and standard deviation.
import { existsSync, readFileSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { BackendChoice } from '../backend.js';
import { readConll, type ConllSentence } from '../data/conll.js';
import { readChemprotTsv, type ChemprotRow } from '../data/chemprot.js';
import { readSquad, type SquadExample } from '../data/squad.js';
import { readBioasqGolden } from '../data/bioasq.js';
import { findDataset, type DatasetSplit } from '../data/registry.js';
import { resolveDataDir } from '../data/paths.js';
import { BiomegError } from '../errors.js';
import { modelFiles } from '../model.js';
import { writeFileAtomic } from '../report.js';
import { loadTokenizer, type Tokenizer } from '../text/index.js';
import { TrainSession } from '../train/index.js';
import { hasLabel, nerFeatures, padBatch, qaFeatures, sequenceFeatures, type Feature } from './features.js';
import { evalBioasq, evalNer, evalSequence, evalSquad, type EvalResult, type HeadTaskName, type LogitSource } from './evaluate.js';
import { JsonlLog, learningCurveSvg, Progress } from './log.js';
import { resolveRecipe, type FineTuneTask, type Recipe } from './presets.js';

export { PRESETS, DEFAULT_PRESET, resolveRecipe, type Recipe, type Preset, type FineTuneTask } from './presets.js';
export { nerFeatures, sequenceFeatures, qaFeatures, padBatch, type Feature, type PaddedBatch } from './features.js';
export { learningCurveSvg } from './log.js';

export interface FineTuneOptions extends Partial<Recipe> {
  task: FineTuneTask;
  /** Model directory (config.json, model.safetensors, vocabulary). A base encoder gets a new head. */
  model: string;
  /** Run directory (log, curve, checkpoints, state). */
  outDir: string;
  /** Registry dataset (bc5cdr-chem, ncbi-disease, chemprot, bioasq-7b, ...) under the data directory. */
  dataset?: string;
  dataDir?: string;
  /** Explicit split files (override the dataset's). */
  train?: string;
  dev?: string;
  test?: string;
  /** BioASQ official golden JSON: QA test scores as strict/lenient accuracy and MRR. */
  testGold?: string;
  preset?: string;
  /** Stop after this many optimizer steps (the schedule decays to 0 there). */
  maxSteps?: number;
  evalBatchSize?: number;
  /**
   * QA only, the SQuAD -> BioASQ recipe: first fine-tune on this SQuAD-format file (run directory
   * OUT/transfer, per seed), then on the target data from its best checkpoint, keeping the QA head
   * with a fresh optimizer and schedule.
   */
  transferFrom?: string;
  /** Epochs of the transfer stage [the recipe's epochs]. */
  transferEpochs?: number;
  /** Always start from a freshly initialised head, even if the checkpoint has a matching one. */
  newHead?: boolean;
  seed?: number;
  /** Run this many seeds (seed, seed+1, ...) and report mean and standard deviation. */
  seeds?: number;
  /** Use only the first N examples of each split (quick runs). */
  limit?: number;
  backend?: BackendChoice;
  /** Continue an interrupted run from outDir/state. */
  resume?: boolean;
  /** Save the optimizer state every N optimizer steps (and at each epoch end) [100]. */
  saveEverySteps?: number;
  /** Stop after this many optimizer steps as if interrupted (state saved; --resume continues). */
  pauseAfterSteps?: number;
  /** Progress line on stderr [true]. */
  progress?: boolean;
}

export interface EpochRecord {
  epoch: number;
  step: number;
  trainLoss: number;
  trainSec: number;
  tokensPerSec: number;
  evalSec: number;
  dev?: EvalResult;
}

export interface RunResult {
  seed: number;
  runDir: string;
  status: 'done' | 'paused';
  backend: string;
  recipe: Recipe & { preset: string };
  labels: string[];
  epochs: EpochRecord[];
  bestEpoch: number;
  bestDev: number | null;
  test?: EvalResult;
  steps: number;
  trainTokens: number;
  trainSec: number;
  /** Training tokens (non-padding) per second of step time. */
  tokensPerSec: number;
  secPerEpoch: number;
  unseenDevLabels: string[];
  windowed: Record<string, number>;
  /** The transfer stage's run (transferFrom), which this run started from. */
  transfer?: RunResult;
}

export interface FineTuneResult {
  runs: RunResult[];
  /** Per metric: mean and sample standard deviation over the seeds' test (else best dev) scores. */
  summary: Record<string, { mean: number; std: number; n: number }>;
  outDir: string;
}

interface TaskData {
  train: unknown[];
  dev?: unknown[];
  test?: unknown[];
}

function splitFiles(o: FineTuneOptions): { train?: string; dev?: string; test?: string; testGold?: string } {
  const out: { train?: string; dev?: string; test?: string; testGold?: string } = {};
  if (o.dataset) {
    const info = findDataset(o.dataset);
    if (!info) throw new BiomegError('BIOMEG_BAD_ARGUMENT', `unknown dataset '${o.dataset}'`);
    const dir = resolveDataDir(o.dataDir).dir;
    const want = o.task === 'qa' ? ['qa', 'squad'] : [o.task];
    if (!want.includes(info.kind)) throw new BiomegError('BIOMEG_BAD_ARGUMENT', `dataset '${o.dataset}' is ${info.kind} data, not ${o.task}`);
    const f = (s: DatasetSplit | undefined) => (s ? path.join(dir, s.file) : undefined);
    const by = (n: string) => info.splits.find((s) => s.split === n);
    out.train = f(by('train'));
    out.dev = f(by('devel') ?? by('dev'));
    out.test = f(by('test'));
    if (o.dataset.startsWith('bioasq')) out.testGold = path.join(path.dirname(out.test!), '7B_golden.json');
  }
  for (const k of ['train', 'dev', 'test', 'testGold'] as const) if (o[k]) out[k] = o[k];
  for (const [k, f] of Object.entries(out)) if (f && !existsSync(f)) throw new BiomegError('BIOMEG_IO', `${f}: ${k} file not found (set --data-dir or BIOMEG_DATA)`);
  if (!out.train) throw new BiomegError('BIOMEG_BAD_ARGUMENT', 'no training data: give --dataset or --train');
  return out;
}

function readSplit(task: FineTuneTask, file: string, limit?: number): unknown[] {
  const all: unknown[] = task === 'ner' ? readConll(file) : task === 're' ? readChemprotTsv(file) : readSquad(file).examples;
  return limit ? all.slice(0, limit) : all;
}

/** Label list of a token/sequence head: from the training data ('O' first, the rest sorted). */
function labelsOf(task: FineTuneTask, train: unknown[]): string[] {
  const set = new Set<string>();
  if (task === 'ner') for (const s of train as ConllSentence[]) s.labels.forEach((l) => set.add(l));
  else for (const r of train as ChemprotRow[]) set.add(r.label);
  return [...set].sort((a, b) => (a === 'O' ? -1 : b === 'O' ? 1 : a < b ? -1 : a > b ? 1 : 0));
}

function goldLabels(task: FineTuneTask, rows: unknown[]): Set<string> {
  const set = new Set<string>();
  if (task === 'ner') for (const s of rows as ConllSentence[]) s.labels.forEach((l) => set.add(l));
  else if (task === 're') for (const r of rows as ChemprotRow[]) set.add(r.label);
  return set;
}

/** Seeded permutation (mulberry32 + Fisher-Yates): the epoch's batch order. */
function permutation(n: number, seed: number, epoch: number): Uint32Array {
  let a = (seed * 0x9e3779b1 + epoch * 0x85ebca6b + 0x27d4eb2f) >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const p = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

function headTaskOf(task: FineTuneTask): HeadTaskName {
  return task === 'ner' ? 'token' : task === 're' ? 'sequence' : 'qa';
}

/** Keep the checkpoint's head when it is of the right task with the same labels. */
function reusableHead(modelDir: string, head: HeadTaskName, labels: string[]): boolean {
  const cfg = JSON.parse(readFileSync(modelFiles(modelDir).config, 'utf8'));
  if (cfg.biomeg_head?.task !== head) return false;
  if (head === 'qa') return true;
  const names = Object.keys(cfg.id2label ?? {})
    .sort((a, b) => +a - +b)
    .map((k) => cfg.id2label[k]);
  return names.length === labels.length && names.every((n: string, i: number) => n === labels[i]);
}

interface Progress0 {
  version: 1;
  g: number;
  stateFile: string;
  logLines: number;
  epochs: EpochRecord[];
  bestEpoch: number;
  bestDev: number | null;
  trainSec: number;
  trainTokens: number;
  epochLossSum: number;
  epochLossN: number;
  epochSec: number;
  epochTokens: number;
}

interface Prepared {
  tok: Tokenizer;
  labels: string[];
  data: TaskData;
  sets: { train: { features: Feature[]; layouts: unknown[]; windowed: number }; dev?: { features: Feature[]; layouts: unknown[]; windowed: number }; test?: { features: Feature[]; layouts: unknown[]; windowed: number } };
  unseen: string[];
  testGold?: string;
}

async function prepare(o: FineTuneOptions, r: Recipe): Promise<Prepared> {
  const files = splitFiles(o);
  const data: TaskData = { train: readSplit(o.task, files.train!, o.limit) };
  if (files.dev) data.dev = readSplit(o.task, files.dev, o.limit);
  if (files.test) data.test = readSplit(o.task, files.test, o.limit);
  const tok = await loadTokenizer(o.model, { backend: o.backend });
  const labels = o.task === 'qa' ? [] : labelsOf(o.task, data.train);
  const index = new Map(labels.map((l, i) => [l, i]));
  const known = new Set(labels);
  const unseen = [...goldLabels(o.task, data.dev ?? [])].filter((l) => !known.has(l)).sort();
  const build = (rows: unknown[]) =>
    o.task === 'ner'
      ? nerFeatures(tok, rows as ConllSentence[], index, r.scheme, r.maxLength, r.stride)
      : o.task === 're'
        ? sequenceFeatures(tok, rows as ChemprotRow[], index, r.maxLength, r.stride)
        : qaFeatures(tok, rows as SquadExample[], r.maxLength, r.stride);
  const sets: Prepared['sets'] = { train: build(data.train) };
  if (data.dev) sets.dev = build(data.dev);
  if (data.test) sets.test = build(data.test);
  return { tok, labels, data, sets, unseen, testGold: files.testGold };
}

async function evaluate(o: FineTuneOptions, r: Recipe, p: Prepared, src: LogitSource, split: 'dev' | 'test'): Promise<EvalResult | undefined> {
  const rows = p.data[split];
  const set = p.sets[split];
  if (!rows || !set) return undefined;
  const bs = o.evalBatchSize ?? 64;
  if (o.task === 'ner') {
    const { predictions: _p, ...res } = await evalNer(src, rows as ConllSentence[], set as never, p.labels, r.scheme, bs);
    return res;
  }
  if (o.task === 're') {
    const { predictions: _p, ...res } = await evalSequence(src, rows as ChemprotRow[], set as never, p.labels, bs);
    return res;
  }
  const ex = rows as SquadExample[];
  if (split === 'test' && p.testGold) {
    const { answers: _a, ...res } = await evalBioasq(src, ex, set as never, readBioasqGolden(p.testGold), bs);
    return res;
  }
  if (!ex.some((e) => e.answers.length)) return undefined;
  return evalSquad(src, ex, set as never, bs);
}

function statePaths(runDir: string) {
  const dir = path.join(runDir, 'state');
  return { dir, progress: path.join(dir, 'progress.json') };
}

async function runOne(o: FineTuneOptions, r: Recipe & { preset: string }, p: Prepared, seed: number, runDir: string): Promise<RunResult> {
  mkdirSync(runDir, { recursive: true });
  const head = headTaskOf(o.task);
  const progress = new Progress(o.progress ?? true);
  const sp = statePaths(runDir);
  const log = new JsonlLog(path.join(runDir, 'log.jsonl'));
  const trainRows = p.sets.train.features.filter(hasLabel);
  if (!trainRows.length) throw new BiomegError('BIOMEG_BAD_DATA', `${o.train ?? o.dataset}: no training example has a label`);
  const bpe = Math.ceil(trainRows.length / r.batchSize);
  const totalBatches = o.maxSteps ? Math.min(o.maxSteps * r.accumSteps, r.epochs * bpe) : r.epochs * bpe;
  const totalSteps = Math.ceil(totalBatches / r.accumSteps);
  const keepHead = !o.newHead && reusableHead(o.model, head, p.labels);
  const trainOpts = {
    lr: r.lr,
    weightDecay: r.weightDecay,
    warmupSteps: Math.round(r.warmupRatio * totalSteps),
    totalSteps,
    maxGradNorm: r.maxGradNorm,
    accumSteps: r.accumSteps,
    hiddenDropout: r.hiddenDropout,
    attnDropout: r.attnDropout,
    headDropout: r.headDropout,
    seed,
    ...(keepHead ? {} : { newHead: { task: head, labels: p.labels, layers: r.headLayers, hidden: r.headHidden, seed } }),
  };
  const session = await TrainSession.load(o.model, trainOpts as never, o.backend);
  const bestDir = path.join(runDir, 'best');
  let st: Progress0 = { version: 1, g: 0, stateFile: '', logLines: 0, epochs: [], bestEpoch: -1, bestDev: null, trainSec: 0, trainTokens: 0, epochLossSum: 0, epochLossN: 0, epochSec: 0, epochTokens: 0 };
  if (o.resume && existsSync(sp.progress)) {
    st = JSON.parse(readFileSync(sp.progress, 'utf8'));
    session.loadStateFile(path.join(sp.dir, st.stateFile));
    log.truncate(st.logLines);
    progress.message(`resuming ${runDir} at batch ${st.g}/${totalBatches} (optimizer step ${session.optimizerSteps})`);
  } else {
    if (existsSync(log.file)) log.truncate(0);
    rmSync(sp.dir, { recursive: true, force: true });
  }
  writeFileAtomic(path.join(runDir, 'run.json'), JSON.stringify({ task: o.task, model: o.model, dataset: o.dataset, seed, recipe: r, totalSteps, batchesPerEpoch: bpe, trainFeatures: trainRows.length, labels: p.labels, backend: session.backend, keptHead: keepHead }, null, 1) + '\n');
  if (st.g === 0) {
    log.write({ type: 'start', seed, backend: session.backend, totalSteps, batchesPerEpoch: bpe, trainFeatures: trainRows.length, labels: p.labels, windowed: windowedCounts(p) });
    if (p.unseen.length) {
      const msg = `dev labels unseen in training: ${p.unseen.join(', ')} (they cannot be predicted; they still count as gold)`;
      log.write({ type: 'warning', message: msg });
      progress.message(`warning: ${msg}`);
    }
  }
  const saveState = () => {
    mkdirSync(sp.dir, { recursive: true });
    const name = `state-${String(st.g).padStart(8, '0')}.safetensors`;
    session.saveStateFile(path.join(sp.dir, name));
    const old = st.stateFile;
    st.stateFile = name;
    st.logLines = log.lines;
    writeFileAtomic(sp.progress, JSON.stringify(st) + '\n');
    for (const f of readdirSync(sp.dir)) if (f.startsWith('state-') && f !== name && (f === old || f.includes('.tmp-') || f.endsWith('.safetensors'))) rmSync(path.join(sp.dir, f), { force: true });
  };
  const curve = () => {
    const recs = log.records();
    const steps = recs.filter((x) => x.type === 'step').map((x) => ({ step: x.g as number, loss: x.loss as number }));
    const dev = st.epochs.filter((e) => e.dev).map((e) => ({ step: e.step, score: e.dev!.main }));
    writeFileAtomic(path.join(runDir, 'curve.svg'), learningCurveSvg(steps, dev, `${o.task} ${o.dataset ?? ''} seed ${seed}`, st.epochs.find((e) => e.dev)?.dev?.mainName ?? 'score'));
  };
  let perm: Uint32Array | null = null;
  let permEpoch = -1;
  const gStart = st.g;
  const sessionStart = Date.now();
  let paused = false;
  while (st.g < totalBatches) {
    const epoch = Math.floor(st.g / bpe);
    const b = st.g % bpe;
    if (permEpoch !== epoch) (perm = permutation(trainRows.length, seed, epoch)), (permEpoch = epoch);
    const rows = Array.from(perm!.subarray(b * r.batchSize, (b + 1) * r.batchSize), (i) => trainRows[i]);
    const batch = padBatch(rows, head);
    const ts = performance.now();
    let res;
    try {
      res = await session.step(batch, batch.labels);
    } catch (e) {
      const err = e as BiomegError;
      if (err.code !== 'BIOMEG_NONFINITE_LOSS') throw e;
      const kept = existsSync(path.join(bestDir, 'model.safetensors')) ? bestDir : st.stateFile ? path.join(sp.dir, st.stateFile) : 'none yet';
      const msg = `training stopped at epoch ${epoch + 1}, batch ${b + 1}: ${err.message}. Last good checkpoint: ${kept}`;
      log.write({ type: 'stopped', reason: 'nonfinite', g: st.g, message: msg });
      progress.message(msg);
      throw new BiomegError('BIOMEG_NONFINITE_LOSS', msg);
    }
    const dt = (performance.now() - ts) / 1000;
    st.g++;
    st.trainSec += dt;
    st.trainTokens += batch.tokens;
    st.epochSec += dt;
    st.epochTokens += batch.tokens;
    st.epochLossSum += res.loss;
    st.epochLossN++;
    log.write({ type: 'step', g: st.g, step: res.step, epoch: epoch + 1, loss: res.loss, lr: res.lr, gradNorm: res.gradNorm, tokens: batch.tokens, positions: batch.batch * batch.seq, sec: +dt.toFixed(4) });
    const rate = st.trainTokens / Math.max(1e-9, st.trainSec);
    const elapsed = (Date.now() - sessionStart) / 1000;
    const eta = (elapsed / Math.max(1, st.g - gStart)) * (totalBatches - st.g);
    progress.update({ label: `${o.task} seed ${seed} ep ${epoch + 1}/${Math.ceil(totalBatches / bpe)}`, done: st.g, total: totalBatches, loss: res.loss, tokensPerSec: rate, etaSec: eta });
    const endOfEpoch = st.g % bpe === 0 || st.g === totalBatches;
    if (endOfEpoch) {
      const te = performance.now();
      const dev = await evaluate(o, r, p, session, 'dev');
      const evalSec = (performance.now() - te) / 1000;
      const rec: EpochRecord = {
        epoch: epoch + 1,
        step: st.g,
        trainLoss: st.epochLossSum / Math.max(1, st.epochLossN),
        trainSec: st.epochSec,
        tokensPerSec: st.epochTokens / Math.max(1e-9, st.epochSec),
        evalSec,
        dev,
      };
      st.epochs.push(rec);
      st.epochLossSum = st.epochLossN = st.epochSec = st.epochTokens = 0;
      log.write({ type: 'epoch', ...rec });
      progress.message(`epoch ${rec.epoch}: loss ${rec.trainLoss.toFixed(4)}, ${rec.trainSec.toFixed(1)} s, ${Math.round(rec.tokensPerSec)} tok/s${dev ? `, dev ${dev.mainName} ${(dev.main * 100).toFixed(2)}` : ''}`);
      const score = dev ? dev.main : null;
      if (st.bestDev === null || score === null || (score as number) > st.bestDev) {
        session.saveCheckpoint(bestDir, o.model, { biomeg_finetune: { task: o.task, epoch: rec.epoch, dev: score, seed } });
        st.bestDev = score;
        st.bestEpoch = rec.epoch;
      }
      if (res.updated) saveState();
      curve();
    } else if (res.updated && (o.saveEverySteps ?? 100) > 0 && res.step % (o.saveEverySteps ?? 100) === 0) {
      saveState();
    }
    if (o.pauseAfterSteps && res.updated && res.step >= o.pauseAfterSteps && st.g < totalBatches) {
      saveState();
      paused = true;
      progress.message(`paused after optimizer step ${res.step}; continue with --resume`);
      break;
    }
  }
  let test: EvalResult | undefined;
  if (!paused && p.sets.test) {
    const best = existsSync(path.join(bestDir, 'model.safetensors')) ? await TrainSession.load(bestDir, {}, o.backend) : session;
    test = await evaluate(o, r, p, best, 'test');
    if (test) {
      log.write({ type: 'test', epoch: st.bestEpoch, ...test });
      progress.message(`test (best epoch ${st.bestEpoch}): ${test.mainName} ${(test.main * 100).toFixed(2)}`);
    }
  }
  if (!paused) curve();
  const nEp = st.epochs.length;
  const result: RunResult = {
    seed,
    runDir,
    status: paused ? 'paused' : 'done',
    backend: session.backend,
    recipe: r,
    labels: p.labels,
    epochs: st.epochs,
    bestEpoch: st.bestEpoch,
    bestDev: st.bestDev,
    test,
    steps: session.optimizerSteps,
    trainTokens: st.trainTokens,
    trainSec: st.trainSec,
    tokensPerSec: st.trainTokens / Math.max(1e-9, st.trainSec),
    secPerEpoch: nEp ? st.epochs.reduce((a, e) => a + e.trainSec, 0) / nEp : st.trainSec,
    unseenDevLabels: p.unseen,
    windowed: windowedCounts(p),
  };
  if (!paused) writeFileAtomic(path.join(runDir, 'result.json'), JSON.stringify(result, null, 1) + '\n');
  return result;
}

function windowedCounts(p: Prepared): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, s] of Object.entries(p.sets)) if (s) out[k] = s.windowed;
  return out;
}

function numericLeaves(prefix: string, v: unknown, out: Record<string, number>): void {
  if (typeof v === 'number') out[prefix] = v;
  else if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) if (!['per_type', 'per_class'].includes(k)) numericLeaves(prefix ? `${prefix}.${k}` : k, x, out);
}

/** Mean and sample standard deviation of every numeric test metric (dev when no test). */
export function summarize(runs: RunResult[]): FineTuneResult['summary'] {
  const cols: Record<string, number[]> = {};
  for (const r of runs) {
    const flat: Record<string, number> = {};
    numericLeaves(r.test ? 'test' : 'dev', r.test ? r.test.metrics : r.epochs.find((e) => e.epoch === r.bestEpoch)?.dev?.metrics, flat);
    flat.tokensPerSec = r.tokensPerSec;
    flat.secPerEpoch = r.secPerEpoch;
    for (const [k, v] of Object.entries(flat)) (cols[k] ??= []).push(v);
  }
  const out: FineTuneResult['summary'] = {};
  for (const [k, v] of Object.entries(cols)) {
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const std = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
    out[k] = { mean, std, n: v.length };
  }
  return out;
}

/** Fine-tune `opts.model` on a task; see FineTuneOptions. */
export async function fineTune(opts: FineTuneOptions): Promise<FineTuneResult> {
  const { task, preset, ...rest } = opts;
  const overrides: Partial<Recipe> = {};
  for (const k of ['epochs', 'batchSize', 'lr', 'weightDecay', 'warmupRatio', 'maxGradNorm', 'accumSteps', 'maxLength', 'stride', 'scheme', 'headLayers', 'headHidden', 'headDropout', 'hiddenDropout', 'attnDropout'] as const) {
    (overrides as Record<string, unknown>)[k] = (rest as Record<string, unknown>)[k];
  }
  const r = resolveRecipe(task, preset, overrides);
  const transfer = opts.transferFrom ? await transferStage(opts, r) : undefined;
  const p = await prepare(opts, r);
  const seed0 = opts.seed ?? 42;
  const n = opts.seeds ?? 1;
  const runs: RunResult[] = [];
  for (let k = 0; k < n; k++) {
    const dir = n > 1 ? path.join(opts.outDir, `seed-${seed0 + k}`) : opts.outDir;
    if (!transfer) {
      runs.push(await runOne(opts, r, p, seed0 + k, dir));
      continue;
    }
    const first = await transfer.run(seed0 + k, path.join(dir, 'transfer'));
    if (first.status !== 'done') return { runs: [...runs, first], summary: summarize(runs), outDir: opts.outDir };
    const run = await runOne({ ...opts, model: path.join(first.runDir, 'best') }, r, p, seed0 + k, dir);
    runs.push({ ...run, transfer: first });
  }
  const summary = summarize(runs);
  if (n > 1 && runs.every((x) => x.status === 'done')) writeFileAtomic(path.join(opts.outDir, 'summary.json'), JSON.stringify({ seeds: runs.map((x) => x.seed), summary }, null, 1) + '\n');
  return { runs, summary, outDir: opts.outDir };
}

/**
 * The first stage of the transfer recipe: the same recipe (epochs: transferEpochs) on the
 * SQuAD-format file, no dev/test. A finished stage (result.json) is reused on --resume.
 */
async function transferStage(opts: FineTuneOptions, r: Recipe & { preset: string }) {
  if (opts.task !== 'qa') throw new BiomegError('BIOMEG_BAD_ARGUMENT', `--transfer-from is for qa (SQuAD-format data), not ${opts.task}`);
  const o: FineTuneOptions = { ...opts, dataset: undefined, train: opts.transferFrom, dev: undefined, test: undefined, testGold: undefined };
  const r1 = { ...r, epochs: opts.transferEpochs ?? r.epochs };
  if (!(Number.isInteger(r1.epochs) && r1.epochs > 0)) throw new BiomegError('BIOMEG_BAD_ARGUMENT', `transfer epochs must be a positive integer, got ${r1.epochs}`);
  const p = await prepare(o, r1);
  return {
    async run(seed: number, dir: string): Promise<RunResult> {
      const done = path.join(dir, 'result.json');
      const progress = new Progress(opts.progress ?? true);
      if (opts.resume && existsSync(done)) {
        progress.message(`transfer stage already done: ${dir}`);
        return JSON.parse(readFileSync(done, 'utf8')) as RunResult;
      }
      progress.message(`transfer stage: ${opts.transferFrom}, ${r1.epochs} epoch(s) -> ${dir}`);
      const res = await runOne({ ...o, maxSteps: undefined }, r1, p, seed, dir);
      if (res.status === 'done') progress.message(`target stage from ${path.join(dir, 'best')}`);
      return res;
    },
  };
}
