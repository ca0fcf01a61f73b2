// Byte sources and sinks for the checkpoint readers and writers. A checkpoint can be larger
// than a Node Buffer may be, so readers take positional reads from a file descriptor (or a
// window of one: a tar member, a zip entry) and writers stream chunks into a temporary file
// that is renamed into place only when complete.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import * as zlib from 'node:zlib';
import { BiomegError } from '../errors.js';
import type { ByteSink } from '../report.js';

export { type ByteSink, writeFileStreaming } from '../report.js';

/** Random access to bytes; `name` is what errors cite. */
export interface ByteSource {
  readonly name: string;
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
}

export function badCheckpoint(file: string, msg: string): BiomegError {
  return new BiomegError('BIOMEG_BAD_CHECKPOINT', msg, { file });
}

function checkRange(src: ByteSource, offset: number, length: number): void {
  if (offset < 0 || length < 0 || offset + length > src.size) {
    throw badCheckpoint(src.name, `truncated: needs bytes ${offset}..${offset + length} but has ${src.size}`);
  }
}

export function bufferSource(name: string, bytes: Uint8Array): ByteSource {
  return {
    name,
    size: bytes.length,
    read(offset, length) {
      checkRange(this, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** Bytes [offset, offset + size) of `src`, addressed from 0. */
export function windowSource(src: ByteSource, offset: number, size: number, name: string): ByteSource {
  checkRange(src, offset, size);
  return {
    name,
    size,
    read(o, length) {
      checkRange(this, o, length);
      return src.read(offset + o, length);
    },
  };
}

/** Run `fn` with a source over `file`; the descriptor is closed afterwards. */
export function withFileSource<T>(file: string, fn: (src: ByteSource) => T): T {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new BiomegError('BIOMEG_IO', `${file}: cannot open (${(e as Error).message})`);
  }
  try {
    const size = fstatSync(fd).size;
    const src: ByteSource = {
      name: file,
      size,
      read(offset, length) {
        checkRange(this, offset, length);
        const out = new Uint8Array(length);
        let done = 0;
        while (done < length) {
          const n = readSync(fd, out, done, length - done, offset + done);
          if (n === 0) throw badCheckpoint(file, `truncated while reading byte ${offset + done}`);
          done += n;
        }
        return out;
      },
    };
    return fn(src);
  } finally {
    closeSync(fd);
  }
}

/** Collects chunks by reference (writers never reuse a chunk they passed). */
export class MemorySink implements ByteSink {
  private chunks: Uint8Array[] = [];
  position = 0;
  write(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.position += chunk.length;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.position);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

let table: Uint32Array | null = null;

/** CRC-32 (zip's): node:zlib's when this Node has it (>= 20.15), else a table version. */
export function crc32(bytes: Uint8Array, prev = 0): number {
  const native = (zlib as { crc32?: (b: Uint8Array, v: number) => number }).crc32;
  if (typeof native === 'function') return native(bytes, prev);
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = ~prev >>> 0;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** Little-endian field access over a byte array. */
export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
