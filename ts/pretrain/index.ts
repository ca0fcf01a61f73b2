// pretrain(): masked-LM or ELECTRA pre-training on the Rust training core (either backend), from
// scratch (a config or preset and a vocabulary) or continued from a checkpoint (domain-adaptive
// pre-training). Raw text goes through the data pipeline (ts/pretrain/data) into shards once; each
// step masks a batch dynamically (BERT recipe), trains, and logs one JSON line with the loss. The
// held-out split gives masked-token accuracy and perplexity. Checkpoints (Hugging Face layout) and
// the optimizer state + data cursor are written atomically, so --resume continues the same loss
// curve after a kill.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { BackendChoice } from '../backend.js';
import { BiomegError } from '../errors.js';
import { JsonlLog, Progress, learningCurveSvg } from '../finetune/log.js';
import { modelFiles } from '../model.js';
import { writeFileAtomic } from '../report.js';
import { loadTokenizer, type Tokenizer } from '../text/index.js';
import { openObjective, type Objective, type ObjectiveName } from './objective.js';
import { openPretrainData, type PretrainData } from './corpus.js';

export type { ObjectiveName } from './objective.js';

export interface PretrainOptions {
  objective: ObjectiveName;
  /** Raw text: a file (one document per line), a directory of files, or .gz. */
  corpus?: string;
  /** A directory of shards made by an earlier run or `prepareCorpus` (instead of corpus). */
  data?: string;
  /** Continue from this checkpoint (config.json, model.safetensors, vocabulary). */
  model?: string;
  /** From scratch: config.json file or preset name (tiny, bert-base, ...) and a vocabulary. */
  config?: string;
  /** Vocabulary (vocab.txt / tokenizer.json) for a model from scratch. */
  vocab?: string;
  /** Lower-case text for a vocab.txt from scratch [the vocabulary's own convention]. */
  lowercase?: boolean;
  outDir: string;
  /** Tokens per sequence incl. [CLS]/[SEP] [128]. */
  maxLength?: number;
  /** Sequences per batch [32]. */
  batchSize?: number;
  /** Optimizer steps [1000]; epochs over the shards repeat as needed (new masks each epoch). */
  maxSteps?: number;
  lr?: number;
  warmupRatio?: number;
  weightDecay?: number;
  accumSteps?: number;
  optimizer?: 'adamw' | 'lamb';
  maxGradNorm?: number;
  /** Fraction of sub-tokens chosen for prediction [0.15]. */
  maskProb?: number;
  /** Mask whole words (all sub-tokens of a chosen word) [false]. */
  wholeWord?: boolean;
  /** ELECTRA: generator hidden size as a fraction of the discriminator's [0.25]. */
  generatorFraction?: number;
  /** ELECTRA: weight of the discriminator loss [50]. */
  discWeight?: number;
  /** Documents held out for masked-token accuracy / perplexity: every Nth document [20]. */
  holdoutEvery?: number;
  /** Held-out evaluation every N optimizer steps (and at the end) [200]. */
  evalEvery?: number;
  /** Held-out sequences evaluated [256]. */
  evalSequences?: number;
  seed?: number;
  backend?: BackendChoice;
  resume?: boolean;
  /** Optimizer state + data cursor every N optimizer steps [100]. */
  saveEvery?: number;
  /** Stop after this many optimizer steps as if interrupted (state saved; resume continues). */
  pauseAfterSteps?: number;
  progress?: boolean;
}

export interface HeldOut {
  step: number;
  loss: number;
  accuracy: number;
  perplexity: number;
  counted: number;
  /** ELECTRA: replaced-token detection accuracy of the discriminator. */
  discAccuracy?: number;
}

export interface PretrainResult {
  objective: ObjectiveName;
  status: 'done' | 'paused';
  outDir: string;
  backend: string;
  steps: number;
  tokens: number;
  trainSec: number;
  tokensPerSec: number;
  heldOut: HeldOut[];
  final?: HeldOut;
  /** Checkpoint directories: mlm -> [checkpoint]; electra -> [discriminator, generator]. */
  checkpoints: string[];
  data: { sequences: number; heldOutSequences: number; tokens: number; documents: number };
}

const defaults = {
  maxLength: 128,
  batchSize: 32,
  maxSteps: 1000,
  warmupRatio: 0.06,
  weightDecay: 0.01,
  accumSteps: 1,
  optimizer: 'adamw' as const,
  maxGradNorm: 1.0,
  maskProb: 0.15,
  wholeWord: false,
  generatorFraction: 0.25,
  discWeight: 50,
  holdoutEvery: 20,
  evalEvery: 200,
  evalSequences: 256,
  seed: 42,
  saveEvery: 100,
};

/** Counters and the data cursor, saved next to the optimizer state (state/progress.json). */
interface Progressed {
  version: 1;
  step: number;
  batches: number;
  tokens: number;
  trainSec: number;
  cursor: unknown;
  stateFile: string;
  logLines: number;
  heldOut: HeldOut[];
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0) throw new BiomegError('BIOMEG_BAD_ARGUMENT', `${name} must be a positive integer, got ${v}`);
  return v;
}

/** The tokenizer and where its files are (copied into each checkpoint). */
async function resolveTokenizer(o: PretrainOptions): Promise<{ tok: Tokenizer; vocabFiles: string[] }> {
  if (o.model) {
    const f = modelFiles(o.model);
    if (!f.vocab)
      throw new BiomegError('BIOMEG_IO', `${o.model}: no vocab.txt / tokenizer.json / spiece.model to tokenize the corpus with`);
    const tok = await loadTokenizer(o.model, { backend: o.backend, lowercase: o.lowercase });
    const dir = path.dirname(f.vocab);
    const vocabFiles = ['vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'spiece.model']
      .map((n) => path.join(dir, n))
      .filter(existsSync);
    return { tok, vocabFiles };
  }
  if (!o.vocab) throw new BiomegError('BIOMEG_BAD_ARGUMENT', 'pre-training from scratch needs --vocab FILE (or continue from --model DIR)');
  if (!existsSync(o.vocab)) throw new BiomegError('BIOMEG_IO', `${o.vocab}: no such vocabulary file`);
  const tok = await loadTokenizer(o.vocab, { backend: o.backend, lowercase: o.lowercase });
  return { tok, vocabFiles: [o.vocab] };
}

/** Pre-train; see PretrainOptions. */
export async function pretrain(opts: PretrainOptions): Promise<PretrainResult> {
  const o = { ...defaults, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as typeof defaults &
    PretrainOptions;
  if (!['mlm', 'electra'].includes(o.objective))
    throw new BiomegError('BIOMEG_BAD_ARGUMENT', `objective must be mlm or electra, got '${o.objective}'`);
  if (!o.model && !o.config)
    throw new BiomegError('BIOMEG_BAD_ARGUMENT', 'give --model DIR (continue) or --config FILE|PRESET (from scratch)');
  if (o.model && o.config) throw new BiomegError('BIOMEG_BAD_ARGUMENT', '--model and --config exclude each other');
  for (const k of ['maxLength', 'batchSize', 'maxSteps', 'accumSteps', 'holdoutEvery', 'evalEvery', 'evalSequences'] as const)
    positiveInt(k, o[k]);
  if (!(o.maskProb > 0 && o.maskProb < 1)) throw new BiomegError('BIOMEG_BAD_ARGUMENT', `maskProb must be in (0, 1), got ${o.maskProb}`);
  mkdirSync(o.outDir, { recursive: true });
  const progress = new Progress(o.progress ?? true);
  const { tok, vocabFiles } = await resolveTokenizer(o);

  const data: PretrainData = await openPretrainData({
    corpus: o.corpus,
    data: o.data,
    outDir: path.join(o.outDir, 'data'),
    tokenizer: tok,
    maxLength: o.maxLength,
    holdoutEvery: o.holdoutEvery,
    seed: o.seed,
    maskProb: o.maskProb,
    wholeWord: o.wholeWord,
    onMessage: (m) => progress.message(m),
  });
  const totalSteps = o.maxSteps;
  const objective: Objective = await openObjective(o.objective, {
    model: o.model,
    config: o.config,
    vocabSize: tok.vocabSize,
    maxLength: o.maxLength,
    backend: o.backend,
    generatorFraction: o.generatorFraction,
    discWeight: o.discWeight,
    padTokenId: tok.specialIds?.pad ?? 0,
    lowercase: tok.lowercase,
    train: {
      lr: o.lr ?? (o.model ? 5e-5 : 1e-4),
      weightDecay: o.weightDecay,
      warmupSteps: Math.round(o.warmupRatio * totalSteps),
      totalSteps,
      maxGradNorm: o.maxGradNorm,
      accumSteps: o.accumSteps,
      optimizer: o.optimizer,
      seed: o.seed,
    },
  });

  const stateDir = path.join(o.outDir, 'state');
  const progressFile = path.join(stateDir, 'progress.json');
  const log = new JsonlLog(path.join(o.outDir, 'log.jsonl'));
  let c: Progressed = { version: 1, step: 0, batches: 0, tokens: 0, trainSec: 0, cursor: null, stateFile: '', logLines: 0, heldOut: [] };
  if (o.resume && existsSync(progressFile)) {
    c = JSON.parse(readFileSync(progressFile, 'utf8'));
    objective.loadStateFile(path.join(stateDir, c.stateFile));
    log.truncate(c.logLines);
    progress.message(`resuming ${o.outDir} at optimizer step ${c.step}/${totalSteps}`);
  } else {
    if (existsSync(log.file)) log.truncate(0);
    rmSync(stateDir, { recursive: true, force: true });
    log.write({
      type: 'start',
      objective: o.objective,
      backend: objective.backend,
      totalSteps,
      batchSize: o.batchSize,
      maxLength: o.maxLength,
      accumSteps: o.accumSteps,
      data: data.stats,
      model: o.model ?? o.config,
    });
  }
  writeFileAtomic(
    path.join(o.outDir, 'run.json'),
    JSON.stringify({ ...o, tokenizer: tok.source, vocabSize: tok.vocabSize, data: data.stats, backend: objective.backend }, null, 1) + '\n',
  );

  const saveState = () => {
    mkdirSync(stateDir, { recursive: true });
    const name = `state-${String(c.batches).padStart(9, '0')}.safetensors`;
    objective.saveStateFile(path.join(stateDir, name));
    const old = c.stateFile;
    c.stateFile = name;
    c.cursor = batches.cursor();
    c.logLines = log.lines;
    writeFileAtomic(progressFile, JSON.stringify(c) + '\n');
    if (old && old !== name) rmSync(path.join(stateDir, old), { force: true });
  };
  const evaluate = async (): Promise<HeldOut> => {
    const r = await objective.evaluate(data.heldOut(o.batchSize, o.evalSequences));
    const h: HeldOut = {
      step: c.step,
      loss: r.loss,
      accuracy: r.accuracy,
      perplexity: Math.exp(r.loss),
      counted: r.counted,
      ...(r.discAccuracy !== undefined ? { discAccuracy: r.discAccuracy } : {}),
    };
    c.heldOut.push(h);
    log.write({ type: 'eval', ...h });
    progress.message(
      `held-out at step ${h.step}: masked-LM loss ${h.loss.toFixed(4)}, perplexity ${h.perplexity.toFixed(1)}, accuracy ${(100 * h.accuracy).toFixed(2)} %` +
        (h.discAccuracy !== undefined ? `, replaced-token detection ${(100 * h.discAccuracy).toFixed(2)} %` : ''),
    );
    return h;
  };
  const writeCurve = () => {
    const steps = log
      .records()
      .filter((x) => x.type === 'step' && x.updated)
      .map((x) => ({ step: x.step as number, loss: x.loss as number }));
    const acc = c.heldOut.map((h) => ({ step: h.step, score: h.accuracy }));
    writeFileAtomic(
      path.join(o.outDir, 'curve.svg'),
      learningCurveSvg(steps, acc, `${o.objective} pre-training (${path.basename(o.outDir)})`, 'held-out masked-token accuracy'),
    );
  };

  const batches = data.train(o.batchSize, c.cursor);
  const startWall = Date.now();
  const stepStart = c.step;
  let paused = false;
  let lossSum = 0;
  let lossN = 0;
  if (c.step === 0 && !c.heldOut.length) await evaluate();
  while (c.step < totalSteps) {
    const b = await batches.next();
    const t0 = performance.now();
    const r = await objective.step(b);
    const sec = (performance.now() - t0) / 1000;
    c.batches++;
    c.tokens += b.tokens;
    c.trainSec += sec;
    lossSum += r.loss;
    lossN++;
    if (r.updated) c.step = r.step;
    log.write({
      type: 'step',
      g: c.batches,
      step: r.step,
      updated: r.updated,
      epoch: b.epoch + 1,
      loss: lossN ? lossSum / lossN : r.loss,
      ...r.parts,
      lr: r.lr,
      gradNorm: r.gradNorm,
      tokens: b.tokens,
      masked: r.counted,
      sec: +sec.toFixed(4),
    });
    if (r.updated) lossSum = lossN = 0;
    const rate = c.tokens / Math.max(1e-9, c.trainSec);
    const eta = ((Date.now() - startWall) / 1000 / Math.max(1, c.step - stepStart)) * (totalSteps - c.step);
    progress.update({
      label: `${o.objective} ep ${b.epoch + 1}`,
      done: c.step,
      total: totalSteps,
      loss: r.loss,
      tokensPerSec: rate,
      etaSec: eta,
    });
    if (!r.updated) continue;
    if (c.step % o.evalEvery === 0 && c.step < totalSteps) {
      await evaluate();
      writeCurve();
    }
    if (o.saveEvery > 0 && c.step % o.saveEvery === 0) saveState();
    if (o.pauseAfterSteps && c.step >= o.pauseAfterSteps && c.step < totalSteps) {
      saveState();
      paused = true;
      progress.message(`paused after optimizer step ${c.step}; continue with --resume`);
      break;
    }
  }
  let final: HeldOut | undefined;
  let checkpoints: string[] = [];
  if (!paused) {
    final = await evaluate();
    checkpoints = objective.saveCheckpoints(o.outDir, vocabFiles, {
      biomeg_pretrain: { objective: o.objective, steps: c.step, seed: o.seed, heldOut: final },
    });
    saveState();
  }
  writeCurve();
  const result: PretrainResult = {
    objective: o.objective,
    status: paused ? 'paused' : 'done',
    outDir: o.outDir,
    backend: objective.backend,
    steps: c.step,
    tokens: c.tokens,
    trainSec: c.trainSec,
    tokensPerSec: c.tokens / Math.max(1e-9, c.trainSec),
    heldOut: c.heldOut,
    final,
    checkpoints,
    data: data.stats,
  };
  if (!paused) writeFileAtomic(path.join(o.outDir, 'result.json'), JSON.stringify(result, null, 1) + '\n');
  return result;
}
