// The break-out table: vocabularies x NER datasets (BioMegatron's sub-token break-out rate
// over the words inside entity mentions), as rows, Markdown and JSON.
import path from 'node:path';
import { findDataset } from '../data/registry.js';
import { loadTokenizer, readNerData, TextError, type BreakoutReport } from './tokenizer.js';
import type { BackendChoice } from '../backend.js';

export const DEFAULT_DATASETS = ['bc5cdr-chem', 'bc5cdr-disease', 'ncbi-disease'];

export interface VocabSpec {
  path: string;
  /** forced casing; undefined = meta.json or detected */
  lowercase?: boolean;
}

/** `FILE`, `FILE:cased` or `FILE:uncased`. */
export function parseVocabSpec(s: string): VocabSpec {
  const m = /^(.*):(cased|uncased)$/.exec(s);
  return m ? { path: m[1], lowercase: m[2] === 'uncased' } : { path: s };
}

export interface BreakoutRow {
  vocab: string;
  dataset: string;
  split: string;
  /** words inside entity mentions, their sub-tokens and the break-out rate */
  words: number;
  subtokens: number;
  rate: number;
  mentions: number;
  subtokensPerMention: number;
  unkRate: number;
  allWords: number;
  allSubtokens: number;
  allRate: number;
  lowercase: boolean;
  vocabSize: number;
  vocabFile: string;
  byType: Record<string, { mentions: number; words: number; subtokens: number; rate: number }>;
  histogram: number[];
  mostFragmented: BreakoutReport['mostFragmented'];
}

export interface BreakoutTableOptions {
  dataDir: string;
  datasets?: string[];
  split?: string;
  backend?: BackendChoice;
  topK?: number;
}

export async function breakoutTable(vocabs: VocabSpec[], opts: BreakoutTableOptions): Promise<BreakoutRow[]> {
  const split = opts.split ?? 'train';
  const datasets = (opts.datasets ?? DEFAULT_DATASETS).map((name) => {
    const d = findDataset(name);
    if (d?.kind !== 'ner') throw new TextError('BIOMEG_BAD_ARGUMENT', `unknown NER dataset '${name}'`);
    const s = d.splits.find((x) => x.split === split);
    if (!s)
      throw new TextError('BIOMEG_BAD_ARGUMENT', `dataset '${name}' has no split '${split}' (${d.splits.map((x) => x.split).join(', ')})`);
    return { name, file: path.join(opts.dataDir, s.file) };
  });
  const data = datasets.map((d) => ({ name: d.name, data: readNerData(d.file) }));
  const rows: BreakoutRow[] = [];
  for (const v of vocabs) {
    const tok = await loadTokenizer(v.path, { lowercase: v.lowercase, backend: opts.backend });
    // a forced casing is part of the name, so FILE and FILE:cased can share a table
    const vocab = v.lowercase === undefined ? tok.name : `${tok.name}:${v.lowercase ? 'uncased' : 'cased'}`;
    for (const d of data) {
      const r = tok.breakout(d.data, { topK: opts.topK ?? 10 });
      const byType: BreakoutRow['byType'] = {};
      for (const [t, c] of Object.entries(r.byType))
        byType[t] = { mentions: c.mentions, words: c.words, subtokens: c.subtokens, rate: c.rate };
      rows.push({
        vocab,
        dataset: d.name,
        split,
        words: r.entity.words,
        subtokens: r.entity.subtokens,
        rate: r.entity.rate,
        mentions: r.mentions.mentions,
        subtokensPerMention: r.mentions.subtokensPerMention,
        unkRate: r.entity.unkRate,
        allWords: r.all.words,
        allSubtokens: r.all.subtokens,
        allRate: r.all.rate,
        lowercase: r.lowercase,
        vocabSize: r.vocabSize,
        vocabFile: tok.source,
        byType,
        histogram: r.histogram,
        mostFragmented: r.mostFragmented,
      });
    }
  }
  return rows;
}

function mdTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

/** Markdown: the rate matrix (vocabularies x datasets), then the details per cell. */
export function breakoutMarkdown(rows: BreakoutRow[]): string {
  const vocabs = [...new Set(rows.map((r) => r.vocab))];
  const dsets = [...new Set(rows.map((r) => r.dataset))];
  const split = rows[0]?.split ?? 'train';
  const cell = (v: string, d: string): BreakoutRow | undefined => rows.find((r) => r.vocab === v && r.dataset === d);
  const casing = (v: string): string => {
    const r = rows.find((x) => x.vocab === v);
    return r ? `${r.lowercase ? 'uncased' : 'cased'}, ${r.vocabSize.toLocaleString('en-US')}` : '';
  };
  const matrix = mdTable(
    ['vocabulary', ...dsets.map((d) => `${d} (${split})`)],
    vocabs.map((v) => [`${v} (${casing(v)})`, ...dsets.map((d) => (cell(v, d) ? cell(v, d)!.rate.toFixed(3) : ''))]),
  );
  const details = mdTable(
    ['vocabulary', 'dataset', 'entity words', 'sub-tokens', 'rate', 'sub-tokens/mention', '[UNK] rate', 'all words rate'],
    rows.map((r) => [
      r.vocab,
      r.dataset,
      String(r.words),
      String(r.subtokens),
      r.rate.toFixed(3),
      r.subtokensPerMention.toFixed(2),
      (100 * r.unkRate).toFixed(2) + '%',
      r.allRate.toFixed(3),
    ]),
  );
  return [
    `Sub-token break-out rate (sub-tokens / words over the words inside entity mentions), ${split} split:`,
    '',
    matrix,
    '',
    details,
    '',
  ].join('\n');
}
