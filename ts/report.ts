// Terminal tables and report files (written atomically: a temp file renamed into place, so a
// crash never leaves a half-written report over a good one).
import { closeSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { BiomegError } from './errors.js';

export function writeFileAtomic(file: string, contents: string | Uint8Array): void {
  const bytes = typeof contents === 'string' ? Buffer.from(contents) : contents;
  writeFileStreaming(file, (sink) => sink.write(bytes));
}

/** Where writers put their bytes, in order. */
export interface ByteSink {
  readonly position: number;
  write(chunk: Uint8Array): void;
}

/** Stream into `file` atomically: `fill` writes to a temporary file in the same folder, which
 *  replaces `file` only when `fill` returns; on any error it is removed. Large outputs (converted
 *  checkpoints) never have to be one buffer. */
export function writeFileStreaming(file: string, fill: (sink: ByteSink) => void): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'w');
    const h = fd;
    const sink = {
      position: 0,
      write(chunk: Uint8Array) {
        let done = 0;
        while (done < chunk.length) done += writeSync(h, chunk, done, chunk.length - done);
        this.position += chunk.length;
      },
    };
    fill(sink);
    closeSync(fd);
    fd = null;
    renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* never created */
    }
    if (e instanceof BiomegError) throw e;
    throw new BiomegError('BIOMEG_IO', `${file}: cannot write (${(e as Error).message})`);
  }
}

export type Cell = string | number | null | undefined;

function fmt(c: Cell): string {
  if (c == null || (typeof c === 'number' && Number.isNaN(c))) return '-';
  if (typeof c === 'number') return Number.isInteger(c) ? String(c) : c >= 100 ? c.toFixed(0) : c >= 10 ? c.toFixed(1) : c.toFixed(3);
  return c;
}

/** A fixed-width text table. */
export function textTable(header: string[], rows: Cell[][]): string {
  const cells = [header, ...rows.map((r) => r.map(fmt))];
  const w = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [line(cells[0]), w.map((n) => '-'.repeat(n)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** A GitHub-flavoured Markdown table. */
export function markdownTable(header: string[], rows: Cell[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(fmt).join(' | ')} |`)].join(
    '\n',
  );
}
