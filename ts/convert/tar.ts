// The .nemo container: a tar (plain, or gzip'd by older NeMo) holding model_config.yaml,
// model_weights.ckpt and the tokenizer files. A plain tar's members are windows into the file
// (nothing is read until used); a gzip'd one is inflated in memory first.
import { gunzipSync } from 'node:zlib';
import { type ByteSink, type ByteSource, badCheckpoint, bufferSource, windowSource } from './io.js';

const BLOCK = 512;

/** Regular-file members by name (a leading './' removed). */
export function readTar(file: ByteSource): Map<string, ByteSource> {
  let src = file;
  const magic = file.size >= 2 ? file.read(0, 2) : new Uint8Array(0);
  if (magic[0] === 0x1f && magic[1] === 0x8b) {
    try {
      src = bufferSource(file.name, gunzipSync(file.read(0, file.size)));
    } catch (e) {
      throw badCheckpoint(file.name, `gzip stream is corrupt or truncated (${(e as Error).message})`);
    }
  }
  const members = new Map<string, ByteSource>();
  let at = 0;
  let longName: string | null = null;
  while (at + BLOCK <= src.size) {
    const h = src.read(at, BLOCK);
    if (h.every((b) => b === 0)) return members;
    const field = (o: number, n: number) => new TextDecoder().decode(h.subarray(o, o + n)).replace(/\0.*$/s, '');
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    if (!Number.isFinite(size) || (field(257, 5) !== 'ustar' && field(257, 5) !== ''))
      throw badCheckpoint(file.name, `not a tar archive (bad header at byte ${at})`);
    const type = String.fromCharCode(h[156] || 0x30);
    const prefix = field(345, 155);
    const name: string = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    longName = null;
    const data = at + BLOCK;
    if (data + size > src.size) throw badCheckpoint(file.name, `truncated: tar member ${name} runs past the end`);
    if (type === 'L') longName = new TextDecoder().decode(src.read(data, size)).replace(/\0.*$/s, '');
    else if (type === 'x') longName = paxPath(new TextDecoder().decode(src.read(data, size)));
    else if (type === '0' || type === '7') members.set(name.replace(/^\.\//, ''), windowSource(src, data, size, `${file.name}:${name}`));
    at = data + Math.ceil(size / BLOCK) * BLOCK;
  }
  throw badCheckpoint(file.name, 'truncated tar archive (no end-of-archive blocks)');
}

/** The path record of a PAX extended header, if any. */
function paxPath(text: string): string | null {
  for (const rec of text.split('\n')) {
    const m = /^\d+ path=(.*)$/.exec(rec);
    if (m) return m[1];
  }
  return null;
}

/** Write a plain ustar archive: `members` are [name, chunks] in order. */
export function writeTar(sink: ByteSink, members: Array<[string, Uint8Array[]]>): void {
  for (const [name, chunks] of members) {
    const size = chunks.reduce((a, c) => a + c.length, 0);
    const h = new Uint8Array(BLOCK);
    const put = (o: number, s: string) => h.set(new TextEncoder().encode(s), o);
    if (name.length > 99) throw new Error(`tar member name too long: ${name}`);
    put(0, name);
    put(100, '0000644\0');
    put(108, '0000000\0');
    put(116, '0000000\0');
    put(124, `${size.toString(8).padStart(11, '0')}\0`);
    put(136, '00000000000\0');
    put(148, '        ');
    h[156] = 0x30;
    put(257, 'ustar\0');
    put(263, '00');
    const sum = h.reduce((a, b) => a + b, 0);
    put(148, `${sum.toString(8).padStart(6, '0')}\0 `);
    sink.write(h);
    for (const c of chunks) sink.write(c);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad) sink.write(new Uint8Array(pad));
  }
  sink.write(new Uint8Array(2 * BLOCK));
}
