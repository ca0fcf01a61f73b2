// The task layer: one module per task (token.ts NER, sequence.ts RE / sentence classification,
// qa.ts extractive QA) owns reading its data, its labels, its windows (for dataset rows and raw
// text alike), decoding logits and exact evaluation. BiomegModel's pipelines and fineTune both go
// through these modules, so inference and evaluation share one path; fineTune drives any task
// through the TaskSpec below.
import type { LabelScheme } from '../eval/decode.js';
import type { Tokenizer } from '../text/index.js';
import type { FeatureSet, HeadTaskName, LogitSource } from './batch.js';
import { qaTask } from './qa.js';
import { sequenceTask } from './sequence.js';
import { tokenTask } from './token.js';

export type TaskName = 'ner' | 're' | 'qa';

export interface EvalResult {
  /** The score that selects the best checkpoint (F1 in [0, 1], or strict accuracy for BioASQ). */
  main: number;
  mainName: string;
  metrics: Record<string, unknown>;
}

/** How dataset rows become model rows (a fine-tuning Recipe has all of these). */
export interface FeatureOptions {
  maxLength: number;
  /** Sub-tokens shared by consecutive windows (default: the task's). */
  stride?: number;
  scheme: LabelScheme;
  /** QA: question sub-tokens kept [64]. */
  maxQueryLength?: number;
}

/** Windowing of BiomegModel's pipelines (WindowOptions, resolved against the model). */
export interface InferenceOptions {
  maxLength: number;
  stride?: number;
  batchSize: number;
}

export interface EvalContext {
  labels: string[];
  scheme: LabelScheme;
  batchSize: number;
  split: 'dev' | 'test';
  /** BioASQ golden JSON: QA test scores as strict/lenient accuracy and MRR. */
  testGold?: string;
}

/** What fineTune needs of a task (Row: one dataset example; Layout: its decoding information). */
export interface TaskSpec<Row = unknown, Layout = unknown> {
  readonly name: TaskName;
  /** The model head it trains. */
  readonly head: HeadTaskName;
  /** Registry dataset kinds it trains on. */
  readonly dataKinds: readonly string[];
  read(file: string): Row[];
  /** Head labels from the training rows ('O' first, the rest sorted); none for QA. */
  labelsOf(rows: Row[]): string[];
  features(tok: Tokenizer, rows: Row[], labels: string[], o: FeatureOptions): FeatureSet<Layout>;
  /** Scores of `src` on the rows; undefined when the split has nothing to score. */
  evaluate(src: LogitSource, rows: Row[], set: FeatureSet<Layout>, c: EvalContext): Promise<EvalResult | undefined>;
}

export const TASKS: Record<TaskName, TaskSpec> = { ner: tokenTask, re: sequenceTask, qa: qaTask };
