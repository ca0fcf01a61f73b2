// Streaming line reader: reads a file in fixed-size chunks (bounded memory) and hands out
// one line at a time, synchronously, so two files can be read in lockstep cheaply.
import { closeSync, openSync, readSync } from '../core/fs.js';
import { BiomegError } from './errors.js';

const CHUNK = 1 << 22;

export class LineReader {
  readonly file: string;
  /** 1-based number of the line last returned by next(). */
  lineNo = 0;
  private fd: number;
  private buf = new Uint8Array(CHUNK);
  private decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private lines: string[] = [];
  private pos = 0;
  private rest = '';
  private eof = false;
  private first = true;

  constructor(file: string) {
    this.file = file;
    try {
      this.fd = openSync(file, 'r');
    } catch (e) {
      throw new BiomegError('BIOMEG_IO', `cannot open: ${(e as Error).message}`, { file });
    }
  }

  /** Next line without its line terminator (\n or \r\n), or null at end of file. */
  next(): string | null {
    while (this.pos >= this.lines.length) {
      if (this.eof) return null;
      this.fill();
    }
    this.lineNo++;
    const line = this.lines[this.pos++];
    return line.length > 0 && line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private fill(): void {
    const n = readSync(this.fd, this.buf, 0, CHUNK, null);
    let text = this.rest + this.decoder.decode(this.buf.subarray(0, n), { stream: n > 0 });
    if (this.first && text.charCodeAt(0) === 0xfeff) text = text.slice(1); // UTF-8 BOM
    this.first = false;
    if (n === 0) {
      this.eof = true;
      this.close();
      this.rest = '';
      this.lines = text.length > 0 ? [text] : [];
    } else {
      const parts = text.split('\n');
      this.rest = parts.pop() as string;
      this.lines = parts;
    }
    this.pos = 0;
  }
}

/** Iterate over the lines of a file with their 1-based line numbers. */
export function* readLines(file: string): Generator<{ line: string; lineNo: number }> {
  const r = new LineReader(file);
  try {
    for (let l = r.next(); l !== null; l = r.next()) yield { line: l, lineNo: r.lineNo };
  } finally {
    r.close();
  }
}
