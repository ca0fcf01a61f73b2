// Raw-text corpus reader: a file, several files or a directory of files (sorted, recursive,
// dot-files skipped), gzip read streaming, one document per line or blank-line-separated
// documents. Memory held: one read chunk plus the document being assembled, which is capped at
// `maxDocumentChars` (the rest of an over-long document is skipped unread into memory, with a
// warning), so any corpus size streams.
import { closeSync, createReadStream, openSync, readdirSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { BiomegError } from '../../errors.js';

/** How documents are delimited: `lines` = one per line; `blank` = separated by blank lines, each
 *  line of a document a sentence boundary (BERT's create_pretraining_data layout); `auto`
 *  decides per file from its first 64 KiB (blank lines between runs of non-blank lines -> blank). */
export type CorpusFormat = 'auto' | 'lines' | 'blank';

export interface CorpusOptions {
  format?: CorpusFormat;
  /** Longest document kept whole, in UTF-16 code units (default 8 Mi); longer ones are cut there
   *  and reported through `onWarning`. A 1 MB line is read whole by default. */
  maxDocumentChars?: number;
  /** Read chunk size in bytes (default 64 KiB). */
  chunkBytes?: number;
  onWarning?: (message: string) => void;
}

export interface CorpusDocument {
  text: string;
  /** File the document comes from and the 1-based line it starts on. */
  file: string;
  line: number;
  /** Cut at `maxDocumentChars`. */
  truncated: boolean;
}

const SNIFF_BYTES = 64 * 1024;
/** Share of U+FFFD (undecodable bytes) beyond which a file is taken as binary, not text. */
const MAX_INVALID_RATIO = 0.01;

/** Files of a corpus: the files named, directories expanded (sorted, recursive, no dot-files). */
export function corpusFiles(corpus: string | string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch {
      throw new BiomegError('BIOMEG_IO', `${p}: no such corpus file or folder`);
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) if (!name.startsWith('.')) walk(path.join(p, name));
    } else if (st.isFile()) out.push(p);
  };
  for (const p of Array.isArray(corpus) ? corpus : [corpus]) walk(p);
  if (out.length === 0) throw new BiomegError('BIOMEG_BAD_DATA', `empty corpus: no files in ${[corpus].flat().join(', ')}`);
  return out;
}

function isGzip(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new BiomegError('BIOMEG_IO', `${file}: cannot open (${(e as Error).message})`);
  }
  try {
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, 0) === 2 && b[0] === 0x1f && b[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

/** Decoded text chunks of a file (gunzipped when it starts with the gzip magic), checked for
 *  binary content: a NUL byte or more than 1 % undecodable bytes is a BIOMEG_BAD_DATA error. */
async function* textChunks(file: string, chunkBytes: number, limitBytes = Infinity): AsyncGenerator<string> {
  const gz = isGzip(file);
  const raw = createReadStream(file, { highWaterMark: chunkBytes });
  const stream = gz ? raw.pipe(createGunzip({ chunkSize: chunkBytes })) : raw;
  if (gz) raw.on('error', (e) => stream.destroy(e));
  const decoder = new TextDecoder('utf-8');
  let bytes = 0;
  let chars = 0;
  let invalid = 0;
  const binary = (why: string) =>
    new BiomegError('BIOMEG_BAD_DATA', `${file}: binary data, not UTF-8 text (${why}); give a text corpus (.txt or .txt.gz)`);
  const check = (text: string, final: boolean) => {
    chars += text.length;
    for (let i = text.indexOf('\ufffd'); i >= 0; i = text.indexOf('\ufffd', i + 1)) invalid++;
    if ((final || chars >= 4096) && invalid > MAX_INVALID_RATIO * chars)
      throw binary(`${invalid} undecodable bytes in the first ${chars} characters`);
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const nul = chunk.indexOf(0);
      if (nul >= 0) throw binary(`NUL byte at byte ${bytes + nul}${gz ? ' after gunzip' : ''}`);
      bytes += chunk.length;
      const text = decoder.decode(chunk, { stream: true });
      check(text, false);
      yield text;
      if (bytes >= limitBytes) return;
    }
    const tail = decoder.decode();
    check(tail, true);
    if (tail) yield tail;
  } catch (e) {
    if (e instanceof BiomegError) throw e;
    throw new BiomegError('BIOMEG_BAD_DATA', `${file}: cannot read${gz ? ' (gzip)' : ''}: ${(e as Error).message}`);
  } finally {
    stream.destroy();
    raw.destroy();
  }
}

/** `lines` or `blank` for one file, from its first 64 KiB (see CorpusFormat). */
export async function detectFormat(file: string): Promise<'lines' | 'blank'> {
  let text = '';
  for await (const t of textChunks(file, SNIFF_BYTES, SNIFF_BYTES)) {
    text += t;
    if (text.length >= SNIFF_BYTES) break;
  }
  const lines = text.split('\n');
  if (text.length >= SNIFF_BYTES) lines.pop(); // partial last line
  const blank = lines.map((l) => l.trim() === '');
  let consecutive = false;
  let between = false;
  let seen = false;
  for (let i = 0; i < lines.length; i++) {
    if (!blank[i] && i > 0 && !blank[i - 1]) consecutive = true;
    if (!blank[i]) seen = true;
    else if (seen && blank.slice(i + 1).includes(false)) between = true;
  }
  return consecutive && between ? 'blank' : 'lines';
}

/** Lines of a file with 1-based numbers; a line longer than `maxChars` comes back cut there, with
 *  `cut` set (the rest of it is skipped without being kept). */
async function* fileLines(
  file: string,
  chunkBytes: number,
  maxChars: number,
): AsyncGenerator<{ text: string; line: number; cut: boolean }> {
  let parts: string[] = [];
  let len = 0;
  let cut = false;
  let lineNo = 1;
  let first = true;
  const take = (s: string) => {
    if (cut) return;
    if (len + s.length > maxChars) {
      s = s.slice(0, maxChars - len);
      cut = true;
    }
    if (s) parts.push(s);
    len += s.length;
  };
  const finish = () => {
    let text = parts.join('');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    const out = { text, line: lineNo, cut };
    parts = [];
    len = 0;
    cut = false;
    lineNo++;
    return out;
  };
  for await (let chunk of textChunks(file, chunkBytes)) {
    if (first && chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1); // UTF-8 BOM
    first = false;
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', start)) {
      take(chunk.slice(start, nl));
      yield finish();
      start = nl + 1;
    }
    take(chunk.slice(start));
  }
  if (len > 0 || cut) yield finish();
}

/** Documents of a corpus in file order, with file:line provenance. An empty corpus (no files, or
 *  only blank ones) and a binary file are BIOMEG_BAD_DATA errors naming the path. */
export async function* readCorpus(corpus: string | string[], opts: CorpusOptions = {}): AsyncGenerator<CorpusDocument> {
  const maxChars = opts.maxDocumentChars ?? 8 * 1024 * 1024;
  const chunkBytes = opts.chunkBytes ?? 64 * 1024;
  if (!(maxChars >= 1)) throw new BiomegError('BIOMEG_BAD_ARGUMENT', `maxDocumentChars must be >= 1 (got ${maxChars})`);
  const warn = (file: string, line: number) =>
    opts.onWarning?.(`${file}:${line}: document longer than maxDocumentChars=${maxChars}; only its first ${maxChars} characters are used`);
  const files = corpusFiles(corpus);
  let count = 0;
  for (const file of files) {
    const format = opts.format === 'lines' || opts.format === 'blank' ? opts.format : await detectFormat(file);
    if (format === 'lines') {
      for await (const l of fileLines(file, chunkBytes, maxChars)) {
        if (l.text.trim() === '') continue;
        if (l.cut) warn(file, l.line);
        count++;
        yield { text: l.text, file, line: l.line, truncated: l.cut };
      }
      continue;
    }
    let doc: string[] = [];
    let len = 0;
    let start = 0;
    let cut = false;
    const flush = (): CorpusDocument | null => {
      if (doc.length === 0) return null;
      if (cut) warn(file, start);
      const d = { text: doc.join('\n'), file, line: start, truncated: cut };
      doc = [];
      len = 0;
      cut = false;
      return d;
    };
    for await (const l of fileLines(file, chunkBytes, maxChars)) {
      if (l.text.trim() === '') {
        const d = flush();
        if (d) {
          count++;
          yield d;
        }
        continue;
      }
      if (doc.length === 0) start = l.line;
      if (l.cut) cut = true;
      const room = maxChars - len - (doc.length > 0 ? 1 : 0); // the joining newline counts
      if (l.text.length > room) {
        cut = true;
        if (room > 0) {
          doc.push(l.text.slice(0, room));
          len = maxChars;
        }
      } else {
        len += l.text.length + (doc.length > 0 ? 1 : 0);
        doc.push(l.text);
      }
    }
    const d = flush();
    if (d) {
      count++;
      yield d;
    }
  }
  if (count === 0) throw new BiomegError('BIOMEG_BAD_DATA', `empty corpus: no text in ${files.join(', ')}`);
}
