// The pre-training run's data: the corpus prepared once into two shard directories (training
// documents and every Nth document held out), reused when an earlier run (or --resume) prepared
// the same corpus with the same vocabulary and length; masked batches from the training shards
// with a resumable cursor, and a fixed masked held-out set (same masks every evaluation).
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { BiomegError } from '../errors.js';
import type { Tokenizer } from '../text/index.js';
import { writeFileAtomic } from '../report.js';
import {
  corpusFiles,
  openShards,
  prepareCorpus,
  pretrainVocab,
  readManifest,
  type ShardBatch,
  type ShardCursor,
  type ShardManifest,
} from './data/index.js';
import type { ObjectiveBatch } from './objective.js';

export interface PretrainDataOptions {
  corpus?: string;
  /** A directory prepared by an earlier run (its train/ and heldout/ shard directories). */
  data?: string;
  /** Where to prepare the shards (when `corpus` is given). */
  outDir: string;
  tokenizer: Tokenizer;
  maxLength: number;
  holdoutEvery: number;
  seed: number;
  maskProb: number;
  wholeWord: boolean;
  onMessage?: (m: string) => void;
}

export interface TrainBatch extends ObjectiveBatch {
  tokens: number;
  epoch: number;
}

export interface PretrainData {
  stats: { documents: number; sequences: number; heldOutSequences: number; tokens: number };
  /** Endless stream of masked training batches starting at `cursor` (null: the beginning). */
  train(batch: number, cursor: unknown): { next(): Promise<TrainBatch>; cursor(): ShardCursor | null };
  /** The first `maxSequences` held-out sequences, masked with a fixed seed. */
  heldOut(batch: number, maxSequences: number): AsyncIterable<ObjectiveBatch>;
}

/** split.json beside the two shard directories: what they were made from. */
interface SplitRecord {
  corpus: string;
  sources: { file: string; bytes: number }[];
  holdoutEvery: number;
  maxLength: number;
  vocabSha256: string;
}

function sameSplit(a: SplitRecord, b: SplitRecord): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const nonPad = (b: ShardBatch) => b.mask.reduce((a, v) => a + v, 0);

export async function openPretrainData(o: PretrainDataOptions): Promise<PretrainData> {
  const dirs = { train: path.join(o.data ?? o.outDir, 'train'), heldOut: path.join(o.data ?? o.outDir, 'heldout') };
  const every = o.holdoutEvery;
  const splitFile = path.join(o.data ?? o.outDir, 'split.json');
  const prepared: Partial<Record<'train' | 'heldOut', ShardManifest>> = {};
  const old: SplitRecord | null = existsSync(splitFile) ? JSON.parse(readFileSync(splitFile, 'utf8')) : null;
  if (o.data) {
    if (!old)
      throw new BiomegError('BIOMEG_BAD_DATA', `${splitFile}: missing; --data takes the data/ directory of an earlier pretrain run`);
    for (const part of ['train', 'heldOut'] as const) prepared[part] = readManifest(dirs[part]);
    if (prepared.train!.maxLen !== o.maxLength || prepared.train!.vocabSize !== o.tokenizer.vocabSize)
      throw new BiomegError(
        'BIOMEG_BAD_DATA',
        `${o.data}: shards of max length ${prepared.train!.maxLen} and vocabulary size ${prepared.train!.vocabSize}, not ${o.maxLength} / ${o.tokenizer.vocabSize}`,
      );
  } else {
    if (!o.corpus) throw new BiomegError('BIOMEG_BAD_ARGUMENT', 'give a corpus (or the data/ directory of an earlier run)');
    if (!existsSync(o.corpus)) throw new BiomegError('BIOMEG_IO', `${o.corpus}: no such corpus file or directory`);
    const want: SplitRecord = {
      corpus: path.resolve(o.corpus),
      sources: corpusFiles(o.corpus).map((f) => ({ file: path.resolve(f), bytes: statSync(f).size })),
      holdoutEvery: every,
      maxLength: o.maxLength,
      vocabSha256: pretrainVocab(o.tokenizer).sha256,
    };
    const reuse =
      old &&
      sameSplit(old, want) &&
      existsSync(path.join(dirs.train, 'manifest.json')) &&
      existsSync(path.join(dirs.heldOut, 'manifest.json'));
    for (const part of ['train', 'heldOut'] as const) {
      if (reuse) {
        prepared[part] = readManifest(dirs[part]);
        continue;
      }
      o.onMessage?.(
        `preparing ${part === 'train' ? 'training' : `held-out (every ${every}th document)`} shards from ${o.corpus} -> ${dirs[part]}`,
      );
      const t0 = performance.now();
      const r = await prepareCorpus({
        corpus: o.corpus,
        tokenizer: o.tokenizer,
        outDir: dirs[part],
        maxLen: o.maxLength,
        seed: o.seed,
        selectDocument: (i: number) => (i % every === every - 1) === (part === 'heldOut'),
        onWarning: (w: string) => o.onMessage?.(`warning: ${w}`),
      });
      const c = r.manifest.counts;
      o.onMessage?.(
        `  ${c.documents} documents, ${c.sentences} sentences, ${c.tokens} tokens -> ${c.sequences} sequences in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      prepared[part] = r.manifest;
    }
    if (!reuse) writeFileAtomic(splitFile, JSON.stringify(want, null, 1) + '\n');
  }
  const tm = prepared.train!;
  const hm = prepared.heldOut!;
  if (!hm.counts.sequences)
    throw new BiomegError('BIOMEG_BAD_DATA', `${o.corpus ?? o.data}: the held-out split is empty (fewer than ${every} documents?)`);
  const masking = { maskProb: o.maskProb, wholeWord: o.wholeWord };
  return {
    stats: {
      documents: tm.counts.documents + hm.counts.documents,
      sequences: tm.counts.sequences,
      heldOutSequences: hm.counts.sequences,
      tokens: tm.counts.tokens,
    },
    train(batch, cursor) {
      let last: ShardCursor | null = (cursor as ShardCursor | null) ?? null;
      let it: AsyncIterator<ShardBatch> | null = null;
      return {
        async next(): Promise<TrainBatch> {
          it ??= (await openShards(dirs.train, { batch, seed: o.seed, epochs: Infinity, cursor: last ?? undefined, ...masking }))[
            Symbol.asyncIterator
          ]();
          const r = await it.next();
          if (r.done) throw new BiomegError('BIOMEG_BAD_DATA', `${dirs.train}: no training sequences`);
          last = r.value.cursor;
          return { ...r.value, tokens: nonPad(r.value), epoch: r.value.epochs[0] };
        },
        cursor: () => last,
      };
    },
    async *heldOut(batch, maxSequences) {
      let seen = 0;
      const stream = await openShards(dirs.heldOut, { batch, seed: o.seed + 1, epochs: 1, shuffle: false, ...masking });
      for await (const b of stream) {
        if (seen >= maxSequences) break;
        seen += b.batch;
        yield b;
      }
    },
  };
}
