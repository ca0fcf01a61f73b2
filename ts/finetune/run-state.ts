// The resumable state of one training run, all in one place: counters and per-epoch records
// (run_dir/state/progress.json), the optimizer state next to it, the best checkpoint
// (run_dir/best) and the learning curve. Every write is atomic, and progress.json names the state
// file it goes with, so a run killed at any point resumes (--resume) with the same loss curve.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../report.js';
import type { EvalResult } from '../tasks/index.js';
import type { TrainSession } from '../train/index.js';
import { learningCurveSvg, type JsonlLog } from './log.js';

export interface EpochRecord {
  epoch: number;
  step: number;
  trainLoss: number;
  trainSec: number;
  tokensPerSec: number;
  evalSec: number;
  dev?: EvalResult;
}

/** progress.json: counters of batches (g), time and tokens, epochs so far and the best one. */
const fresh = () => ({
  version: 1 as const,
  g: 0,
  stateFile: '',
  logLines: 0,
  epochs: [] as EpochRecord[],
  bestEpoch: -1,
  bestDev: null as number | null,
  trainSec: 0,
  trainTokens: 0,
  epochLossSum: 0,
  epochLossN: 0,
  epochSec: 0,
  epochTokens: 0,
});

export class RunState {
  readonly stateDir: string;
  readonly bestDir: string;
  private readonly progressFile: string;
  private c = fresh();

  constructor(
    readonly runDir: string,
    private readonly session: TrainSession,
    private readonly log: JsonlLog,
  ) {
    this.stateDir = path.join(runDir, 'state');
    this.bestDir = path.join(runDir, 'best');
    this.progressFile = path.join(this.stateDir, 'progress.json');
  }

  get counters(): Readonly<ReturnType<typeof fresh>> {
    return this.c;
  }

  /** Continue from the saved state when `resume` and there is one (returns true); otherwise
   *  start clean: empty log, no state files. */
  open(resume: boolean): boolean {
    if (resume && existsSync(this.progressFile)) {
      this.c = JSON.parse(readFileSync(this.progressFile, 'utf8'));
      this.session.loadStateFile(path.join(this.stateDir, this.c.stateFile));
      this.log.truncate(this.c.logLines);
      return true;
    }
    if (existsSync(this.log.file)) this.log.truncate(0);
    rmSync(this.stateDir, { recursive: true, force: true });
    return false;
  }

  /** Count one training batch. */
  addBatch(sec: number, tokens: number, loss: number): void {
    const c = this.c;
    c.g++;
    c.trainSec += sec;
    c.trainTokens += tokens;
    c.epochSec += sec;
    c.epochTokens += tokens;
    c.epochLossSum += loss;
    c.epochLossN++;
  }

  /** The epoch's record from its batches (then reset for the next epoch). */
  closeEpoch(epoch: number, evalSec: number, dev: EvalResult | undefined): EpochRecord {
    const c = this.c;
    const rec: EpochRecord = {
      epoch,
      step: c.g,
      trainLoss: c.epochLossSum / Math.max(1, c.epochLossN),
      trainSec: c.epochSec,
      tokensPerSec: c.epochTokens / Math.max(1e-9, c.epochSec),
      evalSec,
      dev,
    };
    c.epochs.push(rec);
    c.epochLossSum = c.epochLossN = c.epochSec = c.epochTokens = 0;
    return rec;
  }

  /** Write the session as the best checkpoint when its dev score beats the best so far (or
   *  when there is no dev score). */
  keepIfBest(epoch: number, score: number | null, modelDir: string, run: { task: string; seed: number }): void {
    if (this.c.bestDev !== null && score !== null && score <= this.c.bestDev) return;
    this.session.saveCheckpoint(this.bestDir, modelDir, { biomeg_finetune: { task: run.task, epoch, dev: score, seed: run.seed } });
    this.c.bestDev = score;
    this.c.bestEpoch = epoch;
  }

  hasBest(): boolean {
    return existsSync(path.join(this.bestDir, 'model.safetensors'));
  }

  /** The last good weights, for error messages. */
  lastGood(): string {
    return this.hasBest() ? this.bestDir : this.c.stateFile ? path.join(this.stateDir, this.c.stateFile) : 'none yet';
  }

  /** Optimizer state, then progress.json naming it; older state files and torn temporaries go. */
  save(): void {
    mkdirSync(this.stateDir, { recursive: true });
    const name = `state-${String(this.c.g).padStart(8, '0')}.safetensors`;
    this.session.saveStateFile(path.join(this.stateDir, name));
    const old = this.c.stateFile;
    this.c.stateFile = name;
    this.c.logLines = this.log.lines;
    writeFileAtomic(this.progressFile, JSON.stringify(this.c) + '\n');
    for (const f of readdirSync(this.stateDir)) {
      if (f.startsWith('state-') && f !== name && (f === old || f.includes('.tmp-') || f.endsWith('.safetensors')))
        rmSync(path.join(this.stateDir, f), { force: true });
    }
  }

  /** curve.svg: the logged step losses and the dev score per epoch. */
  writeCurve(title: string): void {
    const steps = this.log
      .records()
      .filter((x) => x.type === 'step')
      .map((x) => ({ step: x.g as number, loss: x.loss as number }));
    const dev = this.c.epochs.filter((e) => e.dev).map((e) => ({ step: e.step, score: e.dev!.main }));
    writeFileAtomic(
      path.join(this.runDir, 'curve.svg'),
      learningCurveSvg(steps, dev, title, this.c.epochs.find((e) => e.dev)?.dev?.mainName ?? 'score'),
    );
  }
}
