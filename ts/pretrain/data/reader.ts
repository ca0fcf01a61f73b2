// Streaming reader of a shard directory: masked batches, deterministic by seed and resumable.
// Per epoch the shard order is a seeded permutation; inside a shard, records are read in windows
// of at most `maxBufferBytes` (normally the whole shard) and each window is a seeded permutation.
// A cursor (epoch, shard position, record position) names the next record, so a run restarted
// from the cursor of its last batch yields exactly the batches an uninterrupted run would.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BiomegError } from '../../errors.js';
import { mulberry32 } from '../../rng.js';
import { type MaskedBatch, Masker, type MaskingOptions, mixSeed, type SequenceRecord } from './masking.js';
import type { ShardManifest } from './prepare.js';
import { decodeRecord, ShardFile } from './shards.js';

/** Position of the next record: epoch, index into that epoch's shard order, index into the shard's
 *  (shuffled) record order. */
export interface ShardCursor {
  epoch: number;
  shard: number;
  record: number;
}

export interface OpenShardsOptions extends Omit<MaskingOptions, 'vocabSize' | 'special'> {
  /** Sequences per batch. */
  batch: number;
  /** Shuffle and masking seed (default: the manifest's seed). */
  seed?: number;
  /** Passes over the data (default 1; Infinity for an endless stream). */
  epochs?: number;
  /** Start here (a batch's `cursor`) instead of at the beginning. */
  cursor?: ShardCursor;
  /** Most bytes of shard records held at once (default 64 MiB): a larger shard is read and
   *  shuffled in windows of this size. */
  maxBufferBytes?: number;
  /** Shuffle shard order and records (default true). */
  shuffle?: boolean;
  /** Columns of a batch: `max` = maxLen (default), `longest` = the batch's longest sequence. */
  seq?: 'max' | 'longest';
}

export interface ShardBatch extends MaskedBatch {
  /** Where the next batch starts: pass it as `cursor` to resume after this batch. */
  cursor: ShardCursor;
  /** Epoch of each row and its record index in the dataset (shard order of the manifest). */
  epochs: Uint32Array;
  records: Float64Array;
}

/** Read and check a shard directory's manifest.json. */
export function readManifest(dir: string): ShardManifest {
  const file = path.join(dir, 'manifest.json');
  let m: ShardManifest;
  try {
    m = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new BiomegError('BIOMEG_IO', `${file}: cannot read the shard manifest (${(e as Error).message})`);
  }
  if (m?.format !== 'biomeg-pretrain-shards' || !Array.isArray(m.shards))
    throw new BiomegError('BIOMEG_BAD_DATA', `${file}: not a biomeg pre-training shard manifest`);
  return m;
}

function permutation(n: number, seed: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const rand = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

const SHARD_ORDER = 0x5348; // salts keep the shard-order, window and masking streams apart
const WINDOW = 0x5749;

/** A resumable stream of masked batches over a shard directory (see openShards). */
export class ShardStream implements AsyncIterable<ShardBatch> {
  readonly seed: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly windowRecords: number;
  private readonly masker: Masker;
  private readonly buf: Uint8Array;
  private readonly base: number[] = [];
  private pos: ShardCursor;
  private order: Uint32Array | null = null;
  private orderEpoch = -1;
  private file: ShardFile | null = null;
  private fileIndex = -1;
  private window = -1;
  private windowEpoch = -1;
  private windowPerm: Uint32Array = new Uint32Array(0);

  constructor(
    readonly dir: string,
    readonly manifest: ShardManifest,
    private readonly opts: OpenShardsOptions,
  ) {
    const bad = (m: string) => new BiomegError('BIOMEG_BAD_ARGUMENT', m);
    this.seed = opts.seed ?? manifest.seed;
    this.epochs = opts.epochs ?? 1;
    this.batchSize = opts.batch;
    if (!(Number.isInteger(opts.batch) && opts.batch >= 1)) throw bad(`batch must be an integer >= 1 (got ${opts.batch})`);
    if (!(this.epochs >= 1)) throw bad(`epochs must be >= 1 (got ${this.epochs})`);
    const budget = opts.maxBufferBytes ?? 64 * 1024 * 1024;
    this.windowRecords = Math.floor(budget / manifest.recordBytes);
    if (this.windowRecords < 1) throw bad(`maxBufferBytes=${budget} is smaller than one record (${manifest.recordBytes} bytes)`);
    const largest = manifest.shards.reduce((m, s) => Math.max(m, s.count), 0);
    this.buf = new Uint8Array(Math.min(this.windowRecords, Math.max(1, largest)) * manifest.recordBytes);
    let total = 0;
    for (const s of manifest.shards) {
      this.base.push(total);
      total += s.count;
    }
    this.masker = new Masker({ ...opts, vocabSize: manifest.vocabSize, special: manifest.vocab.special });
    const c = opts.cursor ?? { epoch: 0, shard: 0, record: 0 };
    if (!(c.epoch >= 0 && c.shard >= 0 && c.shard <= manifest.shards.length && c.record >= 0)) throw bad(`bad cursor ${JSON.stringify(c)}`);
    if (c.shard < manifest.shards.length && c.record > manifest.shards[this.orderFor(c.epoch)[c.shard]].count)
      throw bad(`cursor ${JSON.stringify(c)} is past the end of its shard`);
    this.pos = { ...c };
  }

  /** Bytes of the record buffer this reader owns (never more than maxBufferBytes). */
  get bufferBytes(): number {
    return this.buf.byteLength;
  }

  /** Position of the next record. */
  get cursor(): ShardCursor {
    return { ...this.pos };
  }

  /** Records in one epoch. */
  get recordsPerEpoch(): number {
    return this.manifest.shards.reduce((a, s) => a + s.count, 0);
  }

  private orderFor(epoch: number): Uint32Array {
    if (this.orderEpoch !== epoch) {
      const n = this.manifest.shards.length;
      this.order =
        this.opts.shuffle === false ? Uint32Array.from({ length: n }, (_, i) => i) : permutation(n, mixSeed(this.seed, epoch, SHARD_ORDER));
      this.orderEpoch = epoch;
    }
    return this.order as Uint32Array;
  }

  /** The next record and where it came from, or null after the last epoch. */
  private nextRecord(): { rec: SequenceRecord; epoch: number; index: number } | null {
    const shards = this.manifest.shards;
    if (this.recordsPerEpoch === 0) return null;
    for (;;) {
      if (this.pos.epoch >= this.epochs) return null;
      if (this.pos.shard >= shards.length) {
        this.pos = { epoch: this.pos.epoch + 1, shard: 0, record: 0 };
        continue;
      }
      const fi = this.orderFor(this.pos.epoch)[this.pos.shard];
      if (this.pos.record >= shards[fi].count) {
        this.pos = { epoch: this.pos.epoch, shard: this.pos.shard + 1, record: 0 };
        continue;
      }
      const inFile = this.locate(fi, this.pos.epoch, this.pos.record);
      const h = (this.file as ShardFile).header;
      const rec = decodeRecord(this.buf, inFile.slot, h);
      const out = { rec, epoch: this.pos.epoch, index: this.base[fi] + inFile.record };
      this.pos = { ...this.pos, record: this.pos.record + 1 };
      return out;
    }
  }

  /** Load the window holding position `p` of shard `fi` (epoch `epoch`); its slot in the buffer. */
  private locate(fi: number, epoch: number, p: number): { slot: number; record: number } {
    const W = this.windowRecords;
    const w = Math.floor(p / W);
    if (this.fileIndex !== fi || this.window !== w || this.windowEpoch !== epoch) this.load(fi, epoch, w);
    const slot = this.opts.shuffle === false ? p - w * W : this.windowPerm[p - w * W];
    return { slot, record: w * W + slot };
  }

  private load(fi: number, epoch: number, w: number): void {
    const entry = this.manifest.shards[fi];
    if (this.fileIndex !== fi) {
      this.file?.close();
      this.file = null;
      this.fileIndex = -1;
      const f = new ShardFile(path.join(this.dir, entry.file));
      const h = f.header;
      const m = this.manifest;
      if (h.maxLen !== m.maxLen || h.vocabSize !== m.vocabSize || h.count !== entry.count || h.crc !== entry.crc32) {
        f.close();
        throw new BiomegError(
          'BIOMEG_BAD_DATA',
          `${f.file}: shard header does not match manifest.json (maxLen, vocabSize, count or checksum)`,
        );
      }
      if (h.count > this.windowRecords) f.verify(this.buf); // checked before any of its records is used
      this.file = f;
      this.fileIndex = fi;
    }
    const f = this.file as ShardFile;
    const from = w * this.windowRecords;
    const n = Math.min(this.windowRecords, f.count - from);
    const bytes = f.readRecords(from, n, this.buf);
    if (f.count <= this.windowRecords) f.verifyLoaded(bytes);
    this.windowPerm = this.opts.shuffle === false ? new Uint32Array(0) : permutation(n, mixSeed(this.seed, epoch, fi, w, WINDOW));
    this.window = w;
    this.windowEpoch = epoch;
  }

  /** The next batch (synchronous), or null when the last epoch is done. */
  nextBatch(): ShardBatch | null {
    const recs: SequenceRecord[] = [];
    const seeds: number[] = [];
    const epochs = new Uint32Array(this.batchSize);
    const records = new Float64Array(this.batchSize);
    while (recs.length < this.batchSize) {
      const r = this.nextRecord();
      if (!r) break;
      epochs[recs.length] = r.epoch;
      records[recs.length] = r.index;
      seeds.push(mixSeed(this.seed, r.epoch, r.index));
      recs.push(r.rec);
    }
    if (recs.length === 0) {
      this.file?.close();
      this.file = null;
      this.fileIndex = -1;
      return null;
    }
    const b = this.masker.maskBatch(recs, seeds, this.opts.seq === 'longest' ? undefined : this.manifest.maxLen);
    return { ...b, cursor: this.cursor, epochs: epochs.subarray(0, recs.length), records: records.subarray(0, recs.length) };
  }

  close(): void {
    this.file?.close();
    this.file = null;
    this.fileIndex = -1;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ShardBatch> {
    try {
      for (let b = this.nextBatch(); b; b = this.nextBatch()) yield b;
    } finally {
      this.close();
    }
  }
}

/** Open a shard directory written by prepareCorpus: an async iterable of masked batches with a
 *  resumable cursor. */
export async function openShards(dir: string, opts: OpenShardsOptions): Promise<ShardStream> {
  return new ShardStream(dir, readManifest(dir), opts);
}
