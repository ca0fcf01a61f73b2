// Per dataset and split: sentences, tokens, mentions per type, label distribution, label bias.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { answerBias, labelBias } from '../eval/bias.js';
import { UNTYPED } from '../eval/conlleval.js';
import { iterChemprotTsv } from './chemprot.js';
import { iterConllSentences, parseTag } from './conll.js';
import { DATASETS, type DatasetInfo, type DatasetKind } from './registry.js';
import { questionIdOf, readSquad } from './squad.js';

export interface SplitStats {
  dataset: string;
  split: string;
  kind: DatasetKind;
  file: string;
  /** NER: sentences; RE: rows (one masked pair each); QA/SQuAD: contexts (paragraphs). */
  sentences: number;
  /** Whitespace tokens (NER: token lines; RE: sentence words; QA: context words). */
  tokens: number;
  /** Label histogram: NER tags, RE classes, QA: none. */
  labels: Record<string, number>;
  /** labelBias(labels) for NER/RE; min/max answer repeats for QA. */
  labelBias: number;
  /** NER: entity mentions per type (untyped under '_'). */
  mentions?: Record<string, number>;
  wordsInEntities?: number;
  multiwordMentions?: number;
  /** QA/SQuAD */
  questions?: number;
  examples?: number;
  answers?: number;
  answerRepeats?: { min: number; max: number; distinct: number };
}

const words = (s: string): number => {
  const t = s.trim();
  return t ? t.split(/\s+/).length : 0;
};

export function nerStats(file: string): Omit<SplitStats, 'dataset' | 'split' | 'kind'> {
  let sentences = 0;
  let tokens = 0;
  let wordsInEntities = 0;
  let multiwordMentions = 0;
  const labels: Record<string, number> = {};
  const mentions: Record<string, number> = {};
  for (const s of iterConllSentences(file, { toIob2: true })) {
    sentences++;
    tokens += s.tokens.length;
    let len = 0;
    for (const l of s.labels) {
      labels[l] = (labels[l] ?? 0) + 1;
      const t = parseTag(l)!;
      if (t.prefix === 'B') {
        if (len > 1) multiwordMentions++;
        const type = t.type || UNTYPED;
        mentions[type] = (mentions[type] ?? 0) + 1;
        len = 1;
      } else if (t.prefix === 'I') len++;
      else {
        if (len > 1) multiwordMentions++;
        len = 0;
      }
      if (t.prefix !== 'O') wordsInEntities++;
    }
    if (len > 1) multiwordMentions++;
  }
  return { file, sentences, tokens, labels, labelBias: labelBias(labels), mentions, wordsInEntities, multiwordMentions };
}

export function chemprotStats(file: string): Omit<SplitStats, 'dataset' | 'split' | 'kind'> {
  let sentences = 0;
  let tokens = 0;
  const labels: Record<string, number> = {};
  for (const r of iterChemprotTsv(file)) {
    sentences++;
    tokens += words(r.sentence);
    labels[r.label] = (labels[r.label] ?? 0) + 1;
  }
  return { file, sentences, tokens, labels, labelBias: labelBias(labels) };
}

export function squadStats(file: string): Omit<SplitStats, 'dataset' | 'split' | 'kind'> {
  const { examples } = readSquad(file);
  const contexts = new Set<string>();
  const qids = new Set<string>();
  let tokens = 0;
  const answers: string[] = [];
  for (const ex of examples) {
    if (!contexts.has(ex.context)) {
      contexts.add(ex.context);
      tokens += words(ex.context);
    }
    qids.add(questionIdOf(ex.id));
    for (const a of ex.answers) answers.push(a.text);
  }
  const ab = answerBias(answers);
  return {
    file,
    sentences: contexts.size,
    tokens,
    labels: {},
    labelBias: ab.bias,
    questions: qids.size,
    examples: examples.length,
    answers: answers.length,
    answerRepeats: { min: ab.minRepeats, max: ab.maxRepeats, distinct: ab.distinct },
  };
}

export function splitStats(dataDir: string, d: DatasetInfo, split: string, file: string): SplitStats {
  const f = path.join(dataDir, file);
  const s = d.kind === 'ner' ? nerStats(f) : d.kind === 're' ? chemprotStats(f) : squadStats(f);
  return { dataset: d.name, split, kind: d.kind, ...s };
}

/** Stats for every dataset split present under dataDir; missing files are listed apart. */
export function datasetStats(dataDir: string, names?: string[]): { stats: SplitStats[]; missing: string[] } {
  const stats: SplitStats[] = [];
  const missing: string[] = [];
  for (const d of DATASETS) {
    if (names?.length && !names.includes(d.name)) continue;
    for (const { split, file } of d.splits) {
      if (!existsSync(path.join(dataDir, file))) missing.push(file);
      else stats.push(splitStats(dataDir, d, split, file));
    }
  }
  return { stats, missing };
}
