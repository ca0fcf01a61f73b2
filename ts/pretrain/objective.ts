// The two pre-training objectives behind one interface for the pretrain() loop: masked LM (a
// TrainSession whose head is the tied MLM head) and ELECTRA (an ElectraSession: generator +
// discriminator). Each trains on a masked batch, evaluates held-out batches, saves/loads its
// optimizer state and writes Hugging Face checkpoint directories.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { BackendChoice } from '../backend.js';
import { BiomegError } from '../errors.js';
import { modelFiles } from '../model.js';
import { writeFileAtomic } from '../report.js';
import { ElectraSession, type StepResult, TrainSession, type TrainOptions } from '../train/index.js';

export type ObjectiveName = 'mlm' | 'electra';

/** A masked batch as the data pipeline gives it. */
export interface ObjectiveBatch {
  ids: Uint32Array;
  mask: Uint8Array;
  labels: Int32Array;
  batch: number;
  seq: number;
}

/** A training step's result (as TrainSession's) with the objective's parts of the loss for the
 *  log (ELECTRA: genLoss, discLoss, ...). */
export interface ObjectiveStep extends StepResult {
  parts: Record<string, number>;
}

export interface ObjectiveEval {
  /** Mean masked-LM loss per masked position (ELECTRA: the generator's). */
  loss: number;
  accuracy: number;
  counted: number;
  /** ELECTRA: the discriminator's per-token accuracy. */
  discAccuracy?: number;
}

export interface Objective {
  readonly backend: string;
  step(b: ObjectiveBatch): Promise<ObjectiveStep>;
  evaluate(batches: AsyncIterable<ObjectiveBatch> | Iterable<ObjectiveBatch>): Promise<ObjectiveEval>;
  saveStateFile(file: string): void;
  loadStateFile(file: string): void;
  /** Write the checkpoint directories under outDir; returns them. */
  saveCheckpoints(outDir: string, vocabFiles: string[], extraConfig: Record<string, unknown>): string[];
}

export interface ObjectiveInit {
  model?: string;
  config?: string;
  vocabSize: number;
  maxLength: number;
  backend?: BackendChoice;
  generatorFraction: number;
  discWeight: number;
  padTokenId: number;
  lowercase: boolean;
  train: TrainOptions;
}

/** config.json text of a from-scratch model: a file, inline JSON, or a preset name; the
 *  vocabulary's size wins over the config's. */
function scratchConfig(spec: string, vocabSize: number, maxLength: number, padTokenId: number): string {
  let cfg: Record<string, unknown>;
  if (spec.trim().startsWith('{')) cfg = JSON.parse(spec);
  else if (existsSync(spec)) {
    try {
      cfg = JSON.parse(readFileSync(spec, 'utf8'));
    } catch (e) {
      throw new BiomegError('BIOMEG_BAD_CONFIG', `${spec}: not valid JSON (${(e as Error).message})`);
    }
  } else return spec; // a preset name: the core resolves it (and says which presets exist)
  const maxPos = Number(cfg.max_position_embeddings ?? 512);
  if (maxLength > maxPos)
    throw new BiomegError('BIOMEG_BAD_ARGUMENT', `maxLength ${maxLength} exceeds the config's max_position_embeddings ${maxPos}`);
  return JSON.stringify({ ...cfg, vocab_size: vocabSize, pad_token_id: padTokenId });
}

/** Files of the tokenizer copied into a checkpoint, plus a tokenizer_config.json when missing. */
function copyTokenizer(dir: string, vocabFiles: string[], lowercase: boolean): void {
  for (const f of vocabFiles) {
    const name = path.basename(f).endsWith('.txt') ? 'vocab.txt' : path.basename(f);
    writeFileAtomic(path.join(dir, name), readFileSync(f));
  }
  const tc = path.join(dir, 'tokenizer_config.json');
  if (!existsSync(tc) && existsSync(path.join(dir, 'vocab.txt')))
    writeFileAtomic(
      tc,
      JSON.stringify({ tokenizer_class: 'BertTokenizer', do_lower_case: lowercase, model_max_length: 512 }, null, 1) + '\n',
    );
}

async function evalLoop(
  batches: AsyncIterable<ObjectiveBatch> | Iterable<ObjectiveBatch>,
  one: (b: ObjectiveBatch) => Promise<{ lossSum: number; counted: number; correct: number; discCounted?: number; discCorrect?: number }>,
): Promise<ObjectiveEval> {
  let lossSum = 0;
  let counted = 0;
  let correct = 0;
  let dc = 0;
  let dk = 0;
  for await (const b of batches) {
    const r = await one(b);
    lossSum += r.lossSum;
    counted += r.counted;
    correct += r.correct;
    dc += r.discCounted ?? 0;
    dk += r.discCorrect ?? 0;
  }
  if (!counted)
    throw new BiomegError('BIOMEG_BAD_DATA', 'held-out set has no masked position to score (corpus too small for --holdout-every?)');
  return { loss: lossSum / counted, accuracy: correct / counted, counted, ...(dc ? { discAccuracy: dk / dc } : {}) };
}

class MlmObjective implements Objective {
  constructor(
    private readonly s: TrainSession,
    private readonly lowercase: boolean,
  ) {}
  get backend() {
    return this.s.backend;
  }
  async step(b: ObjectiveBatch): Promise<ObjectiveStep> {
    return { ...(await this.s.step(b, b.labels)), parts: {} };
  }
  evaluate(batches: AsyncIterable<ObjectiveBatch> | Iterable<ObjectiveBatch>): Promise<ObjectiveEval> {
    return evalLoop(batches, async (b) => {
      const r = await this.s.evalMetrics(b, b.labels);
      return { lossSum: r.loss * r.counted, counted: r.counted, correct: r.correct };
    });
  }
  saveStateFile(file: string) {
    this.s.saveStateFile(file);
  }
  loadStateFile(file: string) {
    this.s.loadStateFile(file);
  }
  saveCheckpoints(outDir: string, vocabFiles: string[], extra: Record<string, unknown>): string[] {
    const dir = path.join(outDir, 'checkpoint');
    mkdirSync(dir, { recursive: true });
    this.s.saveCheckpoint(dir, undefined, extra);
    copyTokenizer(dir, vocabFiles, this.lowercase);
    return [dir];
  }
}

class ElectraObjective implements Objective {
  constructor(
    private readonly s: ElectraSession,
    private readonly lowercase: boolean,
  ) {}
  get backend() {
    return this.s.backend;
  }
  async step(b: ObjectiveBatch): Promise<ObjectiveStep> {
    const r = await this.s.step(b, b.labels);
    return {
      loss: r.loss,
      counted: r.masked,
      correct: r.genCorrect,
      updated: r.updated,
      lr: r.lr,
      gradNorm: r.gradNorm,
      step: r.step,
      parts: { genLoss: r.genLoss, discLoss: r.discLoss, replaced: r.replaced, discAccuracy: r.discCorrect / Math.max(1, r.discCounted) },
    };
  }
  evaluate(batches: AsyncIterable<ObjectiveBatch> | Iterable<ObjectiveBatch>): Promise<ObjectiveEval> {
    return evalLoop(batches, async (b) => {
      const r = await this.s.evaluate(b, b.labels);
      return {
        lossSum: r.genLoss * r.masked,
        counted: r.masked,
        correct: r.genCorrect,
        discCounted: r.discCounted,
        discCorrect: r.discCorrect,
      };
    });
  }
  saveStateFile(file: string) {
    this.s.saveStateFile(file);
  }
  loadStateFile(file: string) {
    this.s.loadStateFile(file);
  }
  saveCheckpoints(outDir: string, vocabFiles: string[], extra: Record<string, unknown>): string[] {
    const dirs = this.s.saveCheckpoints(path.join(outDir, 'discriminator'), path.join(outDir, 'generator'), extra);
    for (const d of dirs) copyTokenizer(d, vocabFiles, this.lowercase);
    return dirs;
  }
}

/** The objective's session: continued from `init.model` or from scratch with `init.config`. */
export async function openObjective(name: ObjectiveName, init: ObjectiveInit): Promise<Objective> {
  const train: TrainOptions = { ...init.train, padTokenId: init.padTokenId };
  if (name === 'mlm') {
    if (init.model) {
      const cfg = JSON.parse(readFileSync(modelFiles(init.model).config, 'utf8'));
      const hasMlm =
        cfg.biomeg_head?.task === 'mlm' || (cfg.architectures ?? []).some((a: string) => /ForMaskedLM$|ForPreTraining$/.test(a));
      const s = await TrainSession.load(init.model, hasMlm ? train : { ...train, newHead: { task: 'mlm' } }, init.backend);
      return new MlmObjective(s, init.lowercase);
    }
    const config = scratchConfig(init.config!, init.vocabSize, init.maxLength, init.padTokenId);
    const s = await TrainSession.fromConfig(config, { ...train, newHead: { task: 'mlm' } }, init.backend);
    return new MlmObjective(s, init.lowercase);
  }
  const opts = { ...train, discWeight: init.discWeight, generatorFraction: init.generatorFraction };
  const s = init.model
    ? await ElectraSession.load(init.model, opts, init.backend)
    : await ElectraSession.fromConfig(scratchConfig(init.config!, init.vocabSize, init.maxLength, init.padTokenId), opts, init.backend);
  return new ElectraObjective(s, init.lowercase);
}
