// Shard files of packed sequences. Layout (little-endian):
//   header, 64 bytes: magic "BMGSHARD" | u32 version (1) | u32 maxLen | u32 vocabSize |
//     u32 idBytes (2 or 4) | u32 count | u32 recordBytes | u32 CRC-32 of the records |
//     u32 CRC-32 of header bytes 0..36 | zeros
//   count fixed-size records: u32 length | maxLen ids (u16/u32, [PAD] after length) |
//     ceil(maxLen/8) bytes of word-start bits (bit i%8 of byte i/8) | zeros to a multiple of 4
// The writer fills one buffer of at most `maxBufferBytes` and writes it out as a shard (atomic
// rename) when full; the reader streams one window of records at a time.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { BiomegError } from '../../errors.js';
import { writeFileAtomic } from '../../report.js';
import { crc32 } from './crc32.js';
import type { SequenceRecord } from './masking.js';
import type { PackedSequence } from './pack.js';

export const SHARD_MAGIC = 'BMGSHARD';
export const SHARD_VERSION = 1;
export const HEADER_BYTES = 64;

export interface ShardLayout {
  maxLen: number;
  vocabSize: number;
  idBytes: 2 | 4;
}

/** Bytes of one record for a layout. */
export function recordBytes(l: ShardLayout): number {
  const raw = 4 + l.maxLen * l.idBytes + Math.ceil(l.maxLen / 8);
  return (raw + 3) & ~3;
}

/** u16 ids when every id fits. */
export function idBytesFor(vocabSize: number): 2 | 4 {
  return vocabSize <= 0x10000 ? 2 : 4;
}

export function shardFileName(index: number): string {
  return `shard-${String(index).padStart(5, '0')}.bin`;
}

export interface ShardInfo {
  file: string;
  count: number;
  bytes: number;
  crc32: number;
}

export interface ShardWriterOptions extends ShardLayout {
  dir: string;
  pad: number;
  /** Most bytes the writer's buffer may take (header included). */
  maxBufferBytes: number;
}

/** Buffers records up to the byte budget and writes full buffers out as shards. */
export class ShardWriter {
  readonly recordBytes: number;
  readonly recordsPerShard: number;
  readonly shards: ShardInfo[] = [];
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private count = 0;

  constructor(private readonly o: ShardWriterOptions) {
    this.recordBytes = recordBytes(o);
    this.recordsPerShard = Math.floor((o.maxBufferBytes - HEADER_BYTES) / this.recordBytes);
    if (!(this.recordsPerShard >= 1))
      throw new BiomegError(
        'BIOMEG_BAD_ARGUMENT',
        `maxBufferBytes=${o.maxBufferBytes} is too small: one shard needs ${HEADER_BYTES} + ${this.recordBytes} bytes per record at maxLen=${o.maxLen}`,
      );
    this.buf = new Uint8Array(HEADER_BYTES + this.recordsPerShard * this.recordBytes);
    this.view = new DataView(this.buf.buffer);
  }

  /** Bytes of the buffer this writer owns (never more than maxBufferBytes). */
  get bufferBytes(): number {
    return this.buf.byteLength;
  }

  add(seq: PackedSequence): void {
    const { maxLen, idBytes, pad } = this.o;
    const n = seq.ids.length;
    if (n > maxLen) throw new BiomegError('BIOMEG_BAD_INPUT', `sequence of ${n} tokens is longer than maxLen=${maxLen}`);
    const at = HEADER_BYTES + this.count * this.recordBytes;
    this.buf.fill(0, at, at + this.recordBytes);
    const v = this.view;
    v.setUint32(at, n, true);
    for (let i = 0; i < maxLen; i++) {
      const id = i < n ? seq.ids[i] : pad;
      if (id >= this.o.vocabSize)
        throw new BiomegError('BIOMEG_BAD_INPUT', `token id ${id} is outside the vocabulary (${this.o.vocabSize})`);
      if (idBytes === 2) v.setUint16(at + 4 + 2 * i, id, true);
      else v.setUint32(at + 4 + 4 * i, id, true);
    }
    const bits = at + 4 + maxLen * idBytes;
    for (let i = 0; i < n; i++) if (seq.wordStart[i]) this.buf[bits + (i >> 3)] |= 1 << (i & 7);
    this.count++;
    if (this.count === this.recordsPerShard) this.flush();
  }

  /** Write the records still buffered (if any) as a last shard; returns all shards written. */
  finish(): ShardInfo[] {
    if (this.count > 0) this.flush();
    return this.shards;
  }

  private flush(): void {
    const end = HEADER_BYTES + this.count * this.recordBytes;
    const payloadCrc = crc32(this.buf.subarray(HEADER_BYTES, end));
    writeHeader(this.view, { ...this.o, count: this.count, recordBytes: this.recordBytes, crc: payloadCrc });
    const file = shardFileName(this.shards.length);
    writeFileAtomic(path.join(this.o.dir, file), this.buf.subarray(0, end));
    this.shards.push({ file, count: this.count, bytes: end, crc32: payloadCrc });
    this.count = 0;
  }
}

interface HeaderFields extends ShardLayout {
  count: number;
  recordBytes: number;
  crc: number;
}

function writeHeader(v: DataView, h: HeaderFields): void {
  for (let i = 0; i < HEADER_BYTES; i++) v.setUint8(i, 0);
  for (let i = 0; i < 8; i++) v.setUint8(i, SHARD_MAGIC.charCodeAt(i));
  v.setUint32(8, SHARD_VERSION, true);
  v.setUint32(12, h.maxLen, true);
  v.setUint32(16, h.vocabSize, true);
  v.setUint32(20, h.idBytes, true);
  v.setUint32(24, h.count, true);
  v.setUint32(28, h.recordBytes, true);
  v.setUint32(32, h.crc, true);
  v.setUint32(36, crc32(new Uint8Array(v.buffer, v.byteOffset, 36)), true);
}

function readHeader(file: string, b: Uint8Array): HeaderFields {
  const bad = (m: string) => new BiomegError('BIOMEG_BAD_DATA', `${file}: ${m}`);
  if (b.length < HEADER_BYTES) throw bad(`shard cut short: ${b.length} bytes, less than the ${HEADER_BYTES}-byte header`);
  const v = new DataView(b.buffer, b.byteOffset, HEADER_BYTES);
  const magic = String.fromCharCode(...b.subarray(0, 8));
  if (magic !== SHARD_MAGIC) throw bad(`not a biomeg shard (magic ${JSON.stringify(magic)})`);
  const version = v.getUint32(8, true);
  if (version !== SHARD_VERSION) throw bad(`shard version ${version}; this biomeg reads version ${SHARD_VERSION}`);
  if (crc32(b.subarray(0, 36)) !== v.getUint32(36, true)) throw bad('shard header checksum mismatch (corrupted header)');
  const idBytes = v.getUint32(20, true);
  const h = {
    maxLen: v.getUint32(12, true),
    vocabSize: v.getUint32(16, true),
    idBytes: idBytes as 2 | 4,
    count: v.getUint32(24, true),
    recordBytes: v.getUint32(28, true),
    crc: v.getUint32(32, true),
  };
  if ((idBytes !== 2 && idBytes !== 4) || h.recordBytes !== recordBytes(h)) throw bad('inconsistent shard header');
  return h;
}

/** A shard file opened for reading: header checked, size checked against it; records read in
 *  windows into a caller-owned buffer. */
export class ShardFile {
  readonly header: HeaderFields;
  private fd: number;

  constructor(readonly file: string) {
    try {
      this.fd = openSync(file, 'r');
    } catch (e) {
      throw new BiomegError('BIOMEG_IO', `${file}: cannot open shard (${(e as Error).message})`);
    }
    try {
      const size = fstatSync(this.fd).size;
      const head = new Uint8Array(Math.min(HEADER_BYTES, size));
      readSync(this.fd, head, 0, head.length, 0);
      this.header = readHeader(file, head);
      const want = HEADER_BYTES + this.header.count * this.header.recordBytes;
      if (size < want)
        throw new BiomegError(
          'BIOMEG_BAD_DATA',
          `${file}: shard cut short: ${size} bytes, the header promises ${want} (${this.header.count} records)`,
        );
      if (size > want)
        throw new BiomegError('BIOMEG_BAD_DATA', `${file}: ${size - want} bytes of trailing data after ${this.header.count} records`);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  get count(): number {
    return this.header.count;
  }

  /** Read records [from, from + n) into `buf` (n * recordBytes bytes). */
  readRecords(from: number, n: number, buf: Uint8Array): Uint8Array {
    const rb = this.header.recordBytes;
    const out = buf.subarray(0, n * rb);
    let done = 0;
    while (done < out.length) {
      const got = readSync(this.fd, out, done, out.length - done, HEADER_BYTES + from * rb + done);
      if (got === 0)
        throw new BiomegError('BIOMEG_BAD_DATA', `${this.file}: shard cut short while reading record ${from + Math.floor(done / rb)}`);
      done += got;
    }
    return out;
  }

  /** Check the records' CRC-32, reading through `buf` (any size >= one record). */
  verify(buf: Uint8Array): void {
    const rb = this.header.recordBytes;
    const per = Math.max(1, Math.floor(buf.length / rb));
    let crc = 0;
    for (let at = 0; at < this.count; at += per) crc = crc32(this.readRecords(at, Math.min(per, this.count - at), buf), crc);
    this.checkCrc(crc);
  }

  /** Check the CRC-32 of all the records, already read in one piece. */
  verifyLoaded(records: Uint8Array): void {
    this.checkCrc(crc32(records));
  }

  private checkCrc(crc: number): void {
    if (crc !== this.header.crc)
      throw new BiomegError(
        'BIOMEG_BAD_DATA',
        `${this.file}: shard checksum mismatch (records corrupted: CRC-32 ${crc} vs ${this.header.crc} in the header)`,
      );
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** Decode record `i` of a window buffer. */
export function decodeRecord(buf: Uint8Array, i: number, h: ShardLayout & { recordBytes: number }): SequenceRecord {
  const at = i * h.recordBytes;
  const v = new DataView(buf.buffer, buf.byteOffset + at, h.recordBytes);
  const n = v.getUint32(0, true);
  if (n > h.maxLen) throw new BiomegError('BIOMEG_BAD_DATA', `record length ${n} exceeds maxLen=${h.maxLen}`);
  const ids = new Uint32Array(n);
  const wordStart = new Uint8Array(n);
  const bits = 4 + h.maxLen * h.idBytes;
  for (let k = 0; k < n; k++) {
    ids[k] = h.idBytes === 2 ? v.getUint16(4 + 2 * k, true) : v.getUint32(4 + 4 * k, true);
    wordStart[k] = (v.getUint8(bits + (k >> 3)) >> (k & 7)) & 1;
  }
  return { ids, wordStart };
}
