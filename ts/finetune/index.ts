// fineTune(): NER (either labelling scheme), RE (ChemProt) and QA (SQuAD-format, BioASQ) on the
// Rust training core through either backend, one loop for every task (the task itself lives in
// ts/tasks). Per epoch: dev scores with the exact metrics, best checkpoint kept (atomic writes);
// test scores at the end; JSON-lines log, learning-curve SVG and a progress line; --resume
// continues from run_dir/state with the same loss curve; N seeds give mean and standard deviation.
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { BackendChoice } from '../backend.js';
import { findDataset, type DatasetSplit } from '../data/registry.js';
import { resolveDataDir } from '../data/paths.js';
import { BiomegError } from '../errors.js';
import { modelFiles } from '../model.js';
import { writeFileAtomic } from '../report.js';
import { hasLabel, padBatch, type FeatureSet, type HeadTaskName, type LogitSource } from '../tasks/batch.js';
import { TASKS, type EvalResult, type TaskSpec } from '../tasks/index.js';
import { loadTokenizer } from '../text/index.js';
import { type StepResult, TrainSession, type TrainOptions } from '../train/index.js';
import { JsonlLog, Progress } from './log.js';
import { resolveRecipe, type FineTuneTask, type Recipe } from './presets.js';
import { RunState, type EpochRecord } from './run-state.js';
import { mulberry32 } from '../rng.js';

export { PRESETS, DEFAULT_PRESET, resolveRecipe, type Recipe, type Preset, type FineTuneTask } from './presets.js';
export { TASKS, type TaskSpec, type TaskName, type EvalResult } from '../tasks/index.js';
export { padBatch, type Feature, type FeatureSet, type PaddedBatch, type LogitSource } from '../tasks/batch.js';
export { nerFeatures } from '../tasks/token.js';
export { sequenceFeatures } from '../tasks/sequence.js';
export { qaFeatures } from '../tasks/qa.js';
export { learningCurveSvg } from './log.js';
export type { EpochRecord } from './run-state.js';

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
  /** Dev file of the transfer stage (e.g. SQuAD v2.0 dev): scored each epoch, best epoch kept
   *  [none: the last epoch]. */
  transferDev?: string;
  /** QA: question sub-tokens kept, the rest cut (as Hugging Face's max_query_length) [64]. */
  maxQueryLength?: number;
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

type Split = { rows: unknown[]; set: FeatureSet<unknown> };

interface Prepared {
  spec: TaskSpec;
  labels: string[];
  splits: { train: Split; dev?: Split; test?: Split };
  unseen: string[];
  testGold?: string;
}

function splitFiles(o: FineTuneOptions, spec: TaskSpec): Partial<Record<'train' | 'dev' | 'test' | 'testGold', string>> {
  const out: ReturnType<typeof splitFiles> = {};
  if (o.dataset) {
    const info = findDataset(o.dataset);
    if (!info) throw new BiomegError('BIOMEG_BAD_ARGUMENT', `unknown dataset '${o.dataset}'`);
    const dir = resolveDataDir(o.dataDir).dir;
    if (!spec.dataKinds.includes(info.kind))
      throw new BiomegError('BIOMEG_BAD_ARGUMENT', `dataset '${o.dataset}' is ${info.kind} data, not ${o.task}`);
    const f = (s: DatasetSplit | undefined) => (s ? path.join(dir, s.file) : undefined);
    const by = (n: string) => info.splits.find((s) => s.split === n);
    out.train = f(by('train'));
    out.dev = f(by('devel') ?? by('dev'));
    out.test = f(by('test'));
    if (o.dataset.startsWith('bioasq')) out.testGold = path.join(path.dirname(out.test!), '7B_golden.json');
  }
  for (const k of ['train', 'dev', 'test', 'testGold'] as const) if (o[k]) out[k] = o[k];
  for (const [k, f] of Object.entries(out))
    if (f && !existsSync(f)) throw new BiomegError('BIOMEG_IO', `${f}: ${k} file not found (set --data-dir or BIOMEG_DATA)`);
  if (!out.train) throw new BiomegError('BIOMEG_BAD_ARGUMENT', 'no training data: give --dataset or --train');
  return out;
}

/** Seeded permutation (mulberry32 + Fisher-Yates): the epoch's batch order (bench/pytorch_finetune.py
 *  has the Python port). */
export function permutation(n: number, seed: number, epoch: number): Uint32Array {
  const rand = mulberry32(seed * 0x9e3779b1 + epoch * 0x85ebca6b + 0x27d4eb2f);
  const p = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Keep the checkpoint's head when it is of the right task with the same labels (if any). */
function reusableHead(modelDir: string, head: HeadTaskName, labels: string[]): boolean {
  const cfg = JSON.parse(readFileSync(modelFiles(modelDir).config, 'utf8'));
  if (cfg.biomeg_head?.task !== head) return false;
  if (!labels.length) return true;
  const names = Object.keys(cfg.id2label ?? {})
    .sort((a, b) => +a - +b)
    .map((k) => cfg.id2label[k]);
  return names.length === labels.length && names.every((n: string, i: number) => n === labels[i]);
}

async function prepare(o: FineTuneOptions, r: Recipe): Promise<Prepared> {
  const spec = TASKS[o.task];
  const files = splitFiles(o, spec);
  const read = (file: string) => spec.read(file).slice(0, o.limit || undefined);
  const rows = { train: read(files.train!), dev: files.dev ? read(files.dev) : undefined, test: files.test ? read(files.test) : undefined };
  const tok = await loadTokenizer(o.model, { backend: o.backend });
  const labels = spec.labelsOf(rows.train);
  const known = new Set(labels);
  const unseen = spec
    .labelsOf(rows.dev ?? [])
    .filter((l) => !known.has(l))
    .sort();
  const split = (rows: unknown[]): Split => ({ rows, set: spec.features(tok, rows, labels, { ...r, maxQueryLength: o.maxQueryLength }) });
  const splits: Prepared['splits'] = { train: split(rows.train) };
  if (rows.dev) splits.dev = split(rows.dev);
  if (rows.test) splits.test = split(rows.test);
  return { spec, labels, splits, unseen, testGold: files.testGold };
}

async function runOne(o: FineTuneOptions, r: Recipe & { preset: string }, p: Prepared, seed: number, runDir: string): Promise<RunResult> {
  mkdirSync(runDir, { recursive: true });
  const { spec } = p;
  const progress = new Progress(o.progress ?? true);
  const log = new JsonlLog(path.join(runDir, 'log.jsonl'));
  const trainRows = p.splits.train.set.features.filter(hasLabel);
  if (!trainRows.length) throw new BiomegError('BIOMEG_BAD_DATA', `${o.train ?? o.dataset}: no training example has a label`);
  const bpe = Math.ceil(trainRows.length / r.batchSize);
  const totalBatches = o.maxSteps ? Math.min(o.maxSteps * r.accumSteps, r.epochs * bpe) : r.epochs * bpe;
  const totalSteps = Math.ceil(totalBatches / r.accumSteps);
  const keepHead = !o.newHead && reusableHead(o.model, spec.head, p.labels);
  const { lr, weightDecay, maxGradNorm, accumSteps, hiddenDropout, attnDropout, headDropout } = r;
  const newHead = { task: spec.head, labels: p.labels, layers: r.headLayers, hidden: r.headHidden, seed };
  const trainOpts: TrainOptions = {
    lr,
    weightDecay,
    warmupSteps: Math.round(r.warmupRatio * totalSteps),
    totalSteps,
    maxGradNorm,
    accumSteps,
    hiddenDropout,
    attnDropout,
    headDropout,
    seed,
    ...(keepHead ? {} : { newHead }),
  };
  const session = await TrainSession.load(o.model, trainOpts, o.backend);
  const run = new RunState(runDir, session, log);
  if (run.open(o.resume ?? false))
    progress.message(`resuming ${runDir} at batch ${run.counters.g}/${totalBatches} (optimizer step ${session.optimizerSteps})`);
  writeFileAtomic(
    path.join(runDir, 'run.json'),
    JSON.stringify(
      {
        task: o.task,
        model: o.model,
        dataset: o.dataset,
        seed,
        recipe: r,
        totalSteps,
        batchesPerEpoch: bpe,
        trainFeatures: trainRows.length,
        labels: p.labels,
        backend: session.backend,
        keptHead: keepHead,
      },
      null,
      1,
    ) + '\n',
  );
  if (run.counters.g === 0) {
    log.write({
      type: 'start',
      seed,
      backend: session.backend,
      totalSteps,
      batchesPerEpoch: bpe,
      trainFeatures: trainRows.length,
      labels: p.labels,
      windowed: windowedCounts(p),
    });
    if (p.unseen.length) {
      const msg = `dev labels unseen in training: ${p.unseen.join(', ')} (they cannot be predicted; they still count as gold)`;
      log.write({ type: 'warning', message: msg });
      progress.message(`warning: ${msg}`);
    }
  }
  const evaluate = async (src: LogitSource, split: 'dev' | 'test'): Promise<EvalResult | undefined> => {
    const s = p.splits[split];
    return (
      s &&
      spec.evaluate(src, s.rows, s.set, {
        labels: p.labels,
        scheme: r.scheme,
        batchSize: o.evalBatchSize ?? 64,
        split,
        testGold: p.testGold,
      })
    );
  };
  const title = `${o.task} ${o.dataset ?? ''} seed ${seed}`;
  let perm: Uint32Array | null = null;
  let permEpoch = -1;
  const gStart = run.counters.g;
  const sessionStart = Date.now();
  let paused = false;
  while (run.counters.g < totalBatches) {
    const epoch = Math.floor(run.counters.g / bpe);
    const b = run.counters.g % bpe;
    if (permEpoch !== epoch) {
      perm = permutation(trainRows.length, seed, epoch);
      permEpoch = epoch;
    }
    const batch = padBatch(
      Array.from(perm!.subarray(b * r.batchSize, (b + 1) * r.batchSize), (i) => trainRows[i]),
      spec.head,
    );
    const ts = performance.now();
    let res: StepResult;
    try {
      res = await session.step(batch, batch.labels);
    } catch (e) {
      const err = e as BiomegError;
      if (err.code !== 'BIOMEG_NONFINITE_LOSS') throw e;
      const msg = `training stopped at epoch ${epoch + 1}, batch ${b + 1}: ${err.message}. Last good checkpoint: ${run.lastGood()}`;
      log.write({ type: 'stopped', reason: 'nonfinite', g: run.counters.g, message: msg });
      progress.message(msg);
      throw new BiomegError('BIOMEG_NONFINITE_LOSS', msg);
    }
    const dt = (performance.now() - ts) / 1000;
    run.addBatch(dt, batch.tokens, res.loss);
    const g = run.counters.g;
    log.write({
      type: 'step',
      g,
      step: res.step,
      epoch: epoch + 1,
      loss: res.loss,
      lr: res.lr,
      gradNorm: res.gradNorm,
      tokens: batch.tokens,
      positions: batch.batch * batch.seq,
      sec: +dt.toFixed(4),
    });
    const rate = run.counters.trainTokens / Math.max(1e-9, run.counters.trainSec);
    const eta = ((Date.now() - sessionStart) / 1000 / Math.max(1, g - gStart)) * (totalBatches - g);
    progress.update({
      label: `${o.task} seed ${seed} ep ${epoch + 1}/${Math.ceil(totalBatches / bpe)}`,
      done: g,
      total: totalBatches,
      loss: res.loss,
      tokensPerSec: rate,
      etaSec: eta,
    });
    if (g % bpe === 0 || g === totalBatches) {
      const te = performance.now();
      const dev = await evaluate(session, 'dev');
      const rec = run.closeEpoch(epoch + 1, (performance.now() - te) / 1000, dev);
      log.write({ type: 'epoch', ...rec });
      progress.message(
        `epoch ${rec.epoch}: loss ${rec.trainLoss.toFixed(4)}, ${rec.trainSec.toFixed(1)} s, ${Math.round(rec.tokensPerSec)} tok/s${dev ? `, dev ${dev.mainName} ${(dev.main * 100).toFixed(2)}` : ''}`,
      );
      run.keepIfBest(rec.epoch, dev ? dev.main : null, o.model, { task: o.task, seed });
      if (res.updated) run.save();
      run.writeCurve(title);
    } else if (res.updated && (o.saveEverySteps ?? 100) > 0 && res.step % (o.saveEverySteps ?? 100) === 0) {
      run.save();
    }
    if (o.pauseAfterSteps && res.updated && res.step >= o.pauseAfterSteps && g < totalBatches) {
      run.save();
      paused = true;
      progress.message(`paused after optimizer step ${res.step}; continue with --resume`);
      break;
    }
  }
  let test: EvalResult | undefined;
  if (!paused && p.splits.test) {
    test = await evaluate(run.hasBest() ? await TrainSession.load(run.bestDir, {}, o.backend) : session, 'test');
    if (test) {
      log.write({ type: 'test', epoch: run.counters.bestEpoch, ...test });
      progress.message(`test (best epoch ${run.counters.bestEpoch}): ${test.mainName} ${(test.main * 100).toFixed(2)}`);
    }
  }
  if (!paused) run.writeCurve(title);
  const { epochs, bestEpoch, bestDev, trainSec, trainTokens } = run.counters;
  const result: RunResult = {
    seed,
    runDir,
    status: paused ? 'paused' : 'done',
    backend: session.backend,
    recipe: r,
    labels: p.labels,
    epochs,
    bestEpoch,
    bestDev,
    test,
    steps: session.optimizerSteps,
    trainTokens,
    trainSec,
    tokensPerSec: trainTokens / Math.max(1e-9, trainSec),
    secPerEpoch: epochs.length ? epochs.reduce((a, e) => a + e.trainSec, 0) / epochs.length : trainSec,
    unseenDevLabels: p.unseen,
    windowed: windowedCounts(p),
  };
  if (!paused) writeFileAtomic(path.join(runDir, 'result.json'), JSON.stringify(result, null, 1) + '\n');
  return result;
}

function windowedCounts(p: Prepared): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, s] of Object.entries(p.splits)) if (s) out[k] = s.set.windowed;
  return out;
}

function numericLeaves(prefix: string, v: unknown, out: Record<string, number>): void {
  if (typeof v === 'number') out[prefix] = v;
  else if (v && typeof v === 'object' && !Array.isArray(v))
    for (const [k, x] of Object.entries(v))
      if (!['per_type', 'per_class'].includes(k)) numericLeaves(prefix ? `${prefix}.${k}` : k, x, out);
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
  for (const k of [
    'epochs',
    'batchSize',
    'lr',
    'weightDecay',
    'warmupRatio',
    'maxGradNorm',
    'accumSteps',
    'maxLength',
    'stride',
    'scheme',
    'headLayers',
    'headHidden',
    'headDropout',
    'hiddenDropout',
    'attnDropout',
  ] as const) {
    (overrides as Record<string, unknown>)[k] = (rest as Record<string, unknown>)[k];
  }
  const r = resolveRecipe(task, preset, overrides);
  if (opts.transferDev && !opts.transferFrom) throw new BiomegError('BIOMEG_BAD_ARGUMENT', '--transfer-dev needs --transfer-from');
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
  if (n > 1 && runs.every((x) => x.status === 'done'))
    writeFileAtomic(path.join(opts.outDir, 'summary.json'), JSON.stringify({ seeds: runs.map((x) => x.seed), summary }, null, 1) + '\n');
  return { runs, summary, outDir: opts.outDir };
}

/**
 * The first stage of the transfer recipe: the same recipe (epochs: transferEpochs) on the
 * SQuAD-format file (v1.1 or v2.0), dev: transferDev, no test. A finished stage (result.json) is
 * reused on --resume.
 */
async function transferStage(opts: FineTuneOptions, r: Recipe & { preset: string }) {
  if (!TASKS[opts.task].dataKinds.includes('squad'))
    throw new BiomegError('BIOMEG_BAD_ARGUMENT', `--transfer-from is for qa (SQuAD-format data), not ${opts.task}`);
  const o: FineTuneOptions = {
    ...opts,
    dataset: undefined,
    train: opts.transferFrom,
    dev: opts.transferDev,
    test: undefined,
    testGold: undefined,
  };
  const r1 = { ...r, epochs: opts.transferEpochs ?? r.epochs };
  if (!(Number.isInteger(r1.epochs) && r1.epochs > 0))
    throw new BiomegError('BIOMEG_BAD_ARGUMENT', `transfer epochs must be a positive integer, got ${r1.epochs}`);
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
