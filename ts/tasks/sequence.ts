// Sequence classification (ChemProt relations, sentences or sentence pairs): a long input is
// split into windows and its prediction is the mean of the windows' logits; dev/test scores are
// ChemProt micro P/R/F1 over the positive classes. Fine-tuning rows, their evaluation and
// BiomegModel.classify all go through the same code here.
//
// A pair keeps its first text whole and windows the second. Stride (sub-tokens shared by
// consecutive windows) when none is given: a quarter of the window's body. Fine-tuning recipes
// always give theirs.
import { readChemprotTsv, type ChemprotRow } from '../data/chemprot.js';
import { BiomegError } from '../errors.js';
import { chemprotEval } from '../eval/chemprot.js';
import type { Classification } from '../model.js';
import type { Tokenizer } from '../text/index.js';
import { planWindows } from '../windows.js';
import type { EvalResult, InferenceOptions, TaskSpec } from './index.js';
import {
  IGNORE,
  addExample,
  NO_LABELS,
  argmax,
  byExample,
  featureLogits,
  headLabels,
  labelIndex,
  meanLogits,
  softmax,
  specialsOf,
  type FeatureSet,
  type LogitSource,
} from './batch.js';

export interface SequenceLayout {
  windows: number;
}

export type SequenceInput = string | [string, string];

export const sequenceStride = (room: number): number => Math.floor(room / 4);

function sequenceSet(
  tok: Tokenizer,
  inputs: SequenceInput[],
  maxLength: number,
  stride?: number,
  labelOf?: (i: number) => Int32Array,
): FeatureSet<SequenceLayout> {
  const sp = specialsOf(tok);
  const set: FeatureSet<SequenceLayout> = { features: [], layouts: [], windowed: 0 };
  inputs.forEach((input, i) => {
    const [a, b] = typeof input === 'string' ? [input, null] : input;
    const ea = tok.encode(a).ids;
    const first = b == null ? null : ea;
    const body = b == null ? ea : tok.encode(b).ids;
    const room = maxLength - (first ? first.length + 3 : 2);
    if (room < 1)
      throw new BiomegError('BIOMEG_BAD_INPUT', `first text of a pair has ${ea.length} tokens, too long for windows of ${maxLength}`);
    const windows = planWindows(body.length, room, stride ?? sequenceStride(room));
    const label = labelOf?.(i) ?? NO_LABELS;
    addExample(set, { windows: windows.length }, sp, first, body, windows, () => label);
  });
  return set;
}

/** Sentence classification (ChemProt's masked pair): one label per window of the sentence. */
export function sequenceFeatures(
  tok: Tokenizer,
  rows: ChemprotRow[],
  labelIndex: Map<string, number>,
  maxLength: number,
  overlap?: number,
): FeatureSet<SequenceLayout> {
  return sequenceSet(
    tok,
    rows.map((r) => r.sentence),
    maxLength,
    overlap,
    (i) => Int32Array.of(labelIndex.get(rows[i].label) ?? IGNORE),
  );
}

/** Per example: the mean of its windows' logits. */
async function sequenceLogits(
  src: LogitSource,
  set: FeatureSet<SequenceLayout>,
  width: number,
  batchSize: number,
): Promise<Float32Array[]> {
  const outs = await featureLogits(src, set.features, 'sequence', width, batchSize);
  return byExample(set.features, outs, set.layouts.length).map((w) => meanLogits(w));
}

/** Label probabilities of each input from a sequence-classification head with these labels. */
export async function classifyInputs(
  src: LogitSource,
  tok: Tokenizer,
  labels: string[],
  inputs: SequenceInput[],
  o: InferenceOptions,
): Promise<Classification[]> {
  const logits = await sequenceLogits(src, sequenceSet(tok, inputs, o.maxLength, o.stride), labels.length, o.batchSize);
  return logits.map((l) => {
    const p = softmax(l);
    const best = argmax(p);
    return { label: labels[best], score: p[best], scores: Object.fromEntries(labels.map((name, i) => [name, p[i]])) };
  });
}

/** ChemProt micro P/R/F1 over every class but `negative`. */
export async function evalSequence(
  src: LogitSource,
  rows: ChemprotRow[],
  set: FeatureSet<SequenceLayout>,
  labels: string[],
  batchSize: number,
  negative = 'false',
): Promise<EvalResult> {
  const predicted = (await sequenceLogits(src, set, labels.length, batchSize)).map((m) => labels[argmax(m)]);
  const all = [...new Set([...labels, ...rows.map((r) => r.label)])];
  const r = chemprotEval(
    rows.map((r) => r.label),
    predicted,
    { labels: all, positive: all.filter((l) => l !== negative) },
  );
  return { main: r.f1, mainName: 'f1', metrics: { precision: r.precision, recall: r.recall, f1: r.f1, per_class: r.per_class } };
}

export const sequenceTask: TaskSpec<ChemprotRow, SequenceLayout> = {
  name: 're',
  head: 'sequence',
  dataKinds: ['re'],
  read: (file) => readChemprotTsv(file),
  labelsOf: (rows) => headLabels(rows.map((r) => r.label)),
  features: (tok, rows, labels, o) => sequenceFeatures(tok, rows, labelIndex(labels), o.maxLength, o.stride),
  evaluate: (src, rows, set, c) => evalSequence(src, rows, set, c.labels, c.batchSize),
};
