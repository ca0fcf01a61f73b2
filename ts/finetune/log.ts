// Run-directory outputs: the JSON-lines log, the learning-curve SVG and the progress line.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../report.js';

/** Appends one JSON object per line; `truncate(n)` keeps the first n lines (used by --resume). */
export class JsonlLog {
  lines = 0;
  constructor(readonly file: string) {}
  write(rec: Record<string, unknown>): void {
    appendFileSync(this.file, JSON.stringify(rec) + '\n');
    this.lines++;
  }
  truncate(n: number): void {
    const keep = existsSync(this.file) ? readFileSync(this.file, 'utf8').split('\n').filter(Boolean).slice(0, n) : [];
    writeFileAtomic(this.file, keep.map((l) => l + '\n').join(''));
    this.lines = keep.length;
  }
  records(): Record<string, unknown>[] {
    return existsSync(this.file)
      ? readFileSync(this.file, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
  }
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** Training loss (per step, with a moving average) and dev score (per epoch) in one SVG. */
export function learningCurveSvg(
  steps: { step: number; loss: number }[],
  dev: { step: number; score: number }[],
  title: string,
  scoreName: string,
): string {
  const W = 640,
    H = 320,
    L = 50,
    R = 50,
    T = 30,
    B = 40;
  const pw = W - L - R,
    ph = H - T - B;
  const maxStep = Math.max(1, ...steps.map((s) => s.step), ...dev.map((d) => d.step));
  const losses = steps.map((s) => s.loss).filter(Number.isFinite);
  const maxLoss = Math.max(1e-9, ...losses);
  const x = (s: number) => L + (s / maxStep) * pw;
  const yl = (v: number) => T + ph - (v / maxLoss) * ph;
  const ys = (v: number) => T + ph - v * ph;
  const k = Math.max(1, Math.round(steps.length / 50));
  const smooth = steps.map((_, i) => {
    const w = steps.slice(Math.max(0, i - k + 1), i + 1);
    return { step: steps[i].step, loss: w.reduce((a, b) => a + b.loss, 0) / w.length };
  });
  const poly = (pts: [number, number][], color: string, width: number, extra = '') =>
    pts.length
      ? `<polyline fill="none" stroke="${color}" stroke-width="${width}" ${extra} points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>`
      : '';
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(title)}</text>`,
    `<line x1="${L}" y1="${T + ph}" x2="${L + pw}" y2="${T + ph}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${T + ph}" stroke="black"/>`,
    `<line x1="${L + pw}" y1="${T}" x2="${L + pw}" y2="${T + ph}" stroke="black"/>`,
    `<text x="${L + pw / 2}" y="${H - 8}" text-anchor="middle">optimizer step (max ${maxStep})</text>`,
    `<text x="${L - 6}" y="${T + 4}" text-anchor="end">${maxLoss.toPrecision(3)}</text>`,
    `<text x="${L - 6}" y="${T + ph}" text-anchor="end">0</text>`,
    `<text x="${L + pw + 6}" y="${T + 4}">1.0</text>`,
    `<text x="${L + pw + 6}" y="${T + ph}">0</text>`,
    poly(
      steps.map((s) => [x(s.step), yl(s.loss)]),
      '#9ecae1',
      1,
    ),
    poly(
      smooth.map((s) => [x(s.step), yl(s.loss)]),
      '#08519c',
      2,
    ),
    poly(
      dev.map((d) => [x(d.step), ys(d.score)]),
      '#d94801',
      2,
      'stroke-dasharray="5,3"',
    ),
    ...dev.map((d) => `<circle cx="${x(d.step).toFixed(1)}" cy="${ys(d.score).toFixed(1)}" r="3" fill="#d94801"/>`),
    `<text x="${L + 8}" y="${T + 14}" fill="#08519c">training loss (left)</text>`,
    `<text x="${L + 8}" y="${T + 28}" fill="#d94801">dev ${esc(scoreName)} (right)</text>`,
    '</svg>',
  ];
  return parts.filter(Boolean).join('\n') + '\n';
}

function clock(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60),
    sec = s % 60;
  return (h ? `${h}:${String(m).padStart(2, '0')}` : String(m)) + `:${String(sec).padStart(2, '0')}`;
}

/** One-line progress on stderr: a bar, loss, tokens/s and ETA (redrawn in place on a TTY,
 *  otherwise printed every `everySec` seconds). */
export class Progress {
  private last = 0;
  constructor(
    private readonly enabled: boolean,
    private readonly everySec = 10,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {}
  update(p: { label: string; done: number; total: number; loss: number; tokensPerSec: number; etaSec: number }): void {
    if (!this.enabled) return;
    const now = Date.now();
    const tty = this.out.isTTY;
    if (!tty && now - this.last < this.everySec * 1000 && p.done < p.total) return;
    this.last = now;
    const width = 24;
    const fill = Math.round((p.done / Math.max(1, p.total)) * width);
    const bar = '#'.repeat(fill) + '-'.repeat(width - fill);
    const line = `${p.label} [${bar}] ${p.done}/${p.total} loss ${p.loss.toFixed(4)} ${Math.round(p.tokensPerSec)} tok/s ETA ${clock(p.etaSec)}`;
    this.out.write(tty ? `\r${line}\x1b[K` : line + '\n');
  }
  message(s: string): void {
    if (!this.enabled) return;
    this.out.write((this.out.isTTY ? '\r\x1b[K' : '') + s + '\n');
  }
}
