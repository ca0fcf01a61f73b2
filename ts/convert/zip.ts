// The zip container of torch.save (PyTorch >= 1.6): entries `<archive>/data.pkl`,
// `<archive>/data/<key>` (raw storage bytes), `<archive>/byteorder`, `<archive>/version`. torch
// writes them stored (no compression), each entry's data aligned to 64 bytes through padding in
// the local header's extra field, sizes in a data descriptor (so the central directory is the
// only reliable index), and zip64 records past 4 GiB. The reader also inflates deflated
// entries (zips re-packed by other tools); the writer produces what torch.load expects.
import * as zlib from 'node:zlib';
import { type ByteSink, type ByteSource, badCheckpoint, crc32, view } from './io.js';

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX32 = 0xffffffff;
const ALIGN = 64;

export interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** The central directory of a zip held in `src`. */
export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();

  constructor(readonly src: ByteSource) {
    const { cdOffset, cdSize, count } = this.findDirectory();
    const cd = src.read(cdOffset, cdSize);
    const dv = view(cd);
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || dv.getUint32(p, true) !== CENTRAL) throw this.bad(`central directory entry ${i} is malformed`);
      const nameLen = dv.getUint16(p + 28, true);
      const extraLen = dv.getUint16(p + 30, true);
      const commentLen = dv.getUint16(p + 32, true);
      const e: ZipEntry = {
        name: new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen)),
        method: dv.getUint16(p + 10, true),
        crc: dv.getUint32(p + 16, true),
        compressedSize: dv.getUint32(p + 20, true),
        size: dv.getUint32(p + 24, true),
        localOffset: dv.getUint32(p + 42, true),
      };
      readZip64Extra(dv, p + 46 + nameLen, extraLen, e);
      this.entries.set(e.name, e);
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  private bad(msg: string) {
    return badCheckpoint(this.src.name, `not a readable zip (${msg})`);
  }

  private findDirectory(): { cdOffset: number; cdSize: number; count: number } {
    const { src } = this;
    const tailLen = Math.min(src.size, 22 + 0xffff);
    const tail = src.read(src.size - tailLen, tailLen);
    const dv = view(tail);
    let at = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (dv.getUint32(i, true) === EOCD) {
        at = i;
        break;
      }
    }
    if (at < 0) throw badCheckpoint(src.name, 'truncated or not a zip: no end-of-central-directory record');
    let count = dv.getUint16(at + 10, true);
    let cdSize = dv.getUint32(at + 12, true);
    let cdOffset = dv.getUint32(at + 16, true);
    const locAt = at - 20;
    if (locAt >= 0 && dv.getUint32(locAt, true) === EOCD64_LOCATOR) {
      const recOffset = Number(dv.getBigUint64(locAt + 8, true));
      const rec = view(src.read(recOffset, 56));
      if (rec.getUint32(0, true) !== EOCD64) throw this.bad('zip64 end record missing');
      count = Number(rec.getBigUint64(32, true));
      cdSize = Number(rec.getBigUint64(40, true));
      cdOffset = Number(rec.getBigUint64(48, true));
    }
    if (cdOffset + cdSize > src.size) throw badCheckpoint(src.name, 'truncated: the central directory lies past the end of the file');
    return { cdOffset, cdSize, count };
  }

  /** Offset of an entry's data in `src` (after its local header). */
  dataOffset(e: ZipEntry): number {
    const h = view(this.src.read(e.localOffset, 30));
    if (h.getUint32(0, true) !== LOCAL) throw this.bad(`local header of ${e.name} is malformed`);
    const at = e.localOffset + 30 + h.getUint16(26, true) + h.getUint16(28, true);
    if (at + e.compressedSize > this.src.size)
      throw badCheckpoint(this.src.name, `truncated: entry ${e.name} runs past the end of the file`);
    return at;
  }

  /** An entry's bytes, inflated if deflated, CRC-checked. */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw this.bad(`no entry ${name}`);
    const raw = this.src.read(this.dataOffset(e), e.compressedSize);
    let data: Uint8Array;
    if (e.method === 0) data = raw;
    else if (e.method === 8) data = zlib.inflateRawSync(raw);
    else throw this.bad(`entry ${name} uses compression method ${e.method} (only stored and deflate are read)`);
    if (data.length !== e.size) throw this.bad(`entry ${name} has ${data.length} bytes, the directory says ${e.size}`);
    if (crc32(data) !== e.crc) throw badCheckpoint(this.src.name, `entry ${name} is corrupt (CRC-32 mismatch)`);
    return data;
  }
}

function readZip64Extra(dv: DataView, start: number, len: number, e: ZipEntry): void {
  let p = start;
  while (p + 4 <= start + len) {
    const id = dv.getUint16(p, true);
    const size = dv.getUint16(p + 2, true);
    if (id === 0x0001) {
      let q = p + 4;
      const next = () => {
        const v = Number(dv.getBigUint64(q, true));
        q += 8;
        return v;
      };
      if (e.size === MAX32) e.size = next();
      if (e.compressedSize === MAX32) e.compressedSize = next();
      if (e.localOffset === MAX32) e.localOffset = next();
    }
    p += 4 + size;
  }
}

interface Written {
  name: Uint8Array;
  crc: number;
  size: number;
  offset: number;
}

/** Writes stored entries the way torch.save does (64-byte aligned data, zip64 when needed). */
export class ZipWriter {
  private written: Written[] = [];

  constructor(private readonly sink: ByteSink) {}

  /** One entry from its chunks (written as they come; the CRC is computed first). */
  add(name: string, chunks: Uint8Array[]): void {
    const nameBytes = new TextEncoder().encode(name);
    let crc = 0;
    let size = 0;
    for (const c of chunks) {
      crc = crc32(c, crc);
      size += c.length;
    }
    const offset = this.sink.position;
    const big = size >= MAX32 || offset >= MAX32;
    const zip64Len = big ? 20 : 0;
    const base = offset + 30 + nameBytes.length + zip64Len;
    // torch's padding record: id 'FB', filled with 'Z', bringing the data to a 64-byte boundary.
    const pad = (ALIGN - ((base + 4) % ALIGN)) % ALIGN;
    const extra = new Uint8Array(zip64Len + 4 + pad);
    const xv = view(extra);
    if (big) {
      xv.setUint16(0, 0x0001, true);
      xv.setUint16(2, 16, true);
      xv.setBigUint64(4, BigInt(size), true);
      xv.setBigUint64(12, BigInt(size), true);
    }
    xv.setUint16(zip64Len, 0x4246, true);
    xv.setUint16(zip64Len + 2, pad, true);
    extra.fill(0x5a, zip64Len + 4);
    const h = new Uint8Array(30);
    const hv = view(h);
    hv.setUint32(0, LOCAL, true);
    hv.setUint16(4, big ? 45 : 20, true);
    hv.setUint16(6, 0x0800, true); // UTF-8 names
    hv.setUint16(8, 0, true); // stored
    hv.setUint32(14, crc, true);
    hv.setUint32(18, big ? MAX32 : size, true);
    hv.setUint32(22, big ? MAX32 : size, true);
    hv.setUint16(26, nameBytes.length, true);
    hv.setUint16(28, extra.length, true);
    this.sink.write(h);
    this.sink.write(nameBytes);
    this.sink.write(extra);
    for (const c of chunks) this.sink.write(c);
    this.written.push({ name: nameBytes, crc, size, offset });
  }

  /** Central directory and end records. */
  finish(): void {
    const cdOffset = this.sink.position;
    for (const w of this.written) {
      const big = w.size >= MAX32 || w.offset >= MAX32;
      const extra = new Uint8Array(big ? 28 : 0);
      if (big) {
        const xv = view(extra);
        xv.setUint16(0, 0x0001, true);
        xv.setUint16(2, 24, true);
        xv.setBigUint64(4, BigInt(w.size), true);
        xv.setBigUint64(12, BigInt(w.size), true);
        xv.setBigUint64(20, BigInt(w.offset), true);
      }
      const h = new Uint8Array(46);
      const hv = view(h);
      hv.setUint32(0, CENTRAL, true);
      hv.setUint16(4, big ? 45 : 20, true);
      hv.setUint16(6, big ? 45 : 20, true);
      hv.setUint16(8, 0x0800, true);
      hv.setUint32(16, w.crc, true);
      hv.setUint32(20, big ? MAX32 : w.size, true);
      hv.setUint32(24, big ? MAX32 : w.size, true);
      hv.setUint16(28, w.name.length, true);
      hv.setUint16(30, extra.length, true);
      hv.setUint32(42, big ? MAX32 : w.offset, true);
      this.sink.write(h);
      this.sink.write(w.name);
      this.sink.write(extra);
    }
    const cdSize = this.sink.position - cdOffset;
    const n = this.written.length;
    const big = cdOffset >= MAX32 || cdSize >= MAX32 || n >= 0xffff;
    if (big) {
      const rec = new Uint8Array(56 + 20);
      const rv = view(rec);
      const recOffset = this.sink.position;
      rv.setUint32(0, EOCD64, true);
      rv.setBigUint64(4, 44n, true);
      rv.setUint16(12, 45, true);
      rv.setUint16(14, 45, true);
      rv.setBigUint64(24, BigInt(n), true);
      rv.setBigUint64(32, BigInt(n), true);
      rv.setBigUint64(40, BigInt(cdSize), true);
      rv.setBigUint64(48, BigInt(cdOffset), true);
      rv.setUint32(56, EOCD64_LOCATOR, true);
      rv.setBigUint64(64, BigInt(recOffset), true);
      rv.setUint32(72, 1, true);
      this.sink.write(rec);
    }
    const end = new Uint8Array(22);
    const ev = view(end);
    ev.setUint32(0, EOCD, true);
    ev.setUint16(8, Math.min(n, 0xffff), true);
    ev.setUint16(10, Math.min(n, 0xffff), true);
    ev.setUint32(12, Math.min(cdSize, MAX32), true);
    ev.setUint32(16, Math.min(cdOffset, MAX32), true);
    this.sink.write(end);
  }
}
