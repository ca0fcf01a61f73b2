// Small SVG charts for study reports: several named line series on shared axes, and bars with
// error whiskers (mean +- sd). No dependency; the output is a standalone .svg file.

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const COLORS = ['#08519c', '#d94801', '#238b45', '#6a51a3', '#cb181d', '#737373'];
const W = 680;
const H = 340;
const L = 60;
const R = 170;
const T = 34;
const B = 44;

function frame(title: string, xLabel: string, yLabel: string, yMin: number, yMax: number): string[] {
  const ph = H - T - B;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${(W - R + L) / 2}" y="18" text-anchor="middle" font-size="13">${esc(title)}</text>`,
    `<line x1="${L}" y1="${T + ph}" x2="${W - R}" y2="${T + ph}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${T + ph}" stroke="black"/>`,
    `<text x="${(W - R + L) / 2}" y="${H - 8}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="14" y="${T + ph / 2}" text-anchor="middle" transform="rotate(-90 14 ${T + ph / 2})">${esc(yLabel)}</text>`,
    `<text x="${L - 6}" y="${T + 4}" text-anchor="end">${+yMax.toPrecision(3)}</text>`,
    `<text x="${L - 6}" y="${T + ph}" text-anchor="end">${+yMin.toPrecision(3)}</text>`,
  ];
}

export interface Series {
  name: string;
  points: [number, number][];
}

/** Lines on shared axes, with a legend on the right; y from 0 (or the data minimum if negative). */
export function lineChartSvg(series: Series[], o: { title: string; xLabel: string; yLabel: string }): string {
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  const xMax = Math.max(1, ...xs);
  const yMin = Math.min(0, ...ys);
  const yMax = Math.max(1e-9, ...ys);
  const pw = W - L - R;
  const ph = H - T - B;
  const x = (v: number) => L + (v / xMax) * pw;
  const y = (v: number) => T + ph - ((v - yMin) / (yMax - yMin)) * ph;
  const parts = frame(o.title, `${o.xLabel} (max ${xMax})`, o.yLabel, yMin, yMax);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    if (pts.length)
      parts.push(
        `<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${pts.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ')}"/>`,
      );
    parts.push(
      `<line x1="${W - R + 10}" y1="${T + 10 + i * 16}" x2="${W - R + 28}" y2="${T + 10 + i * 16}" stroke="${c}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${W - R + 32}" y="${T + 14 + i * 16}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

export interface Bar {
  label: string;
  mean: number;
  sd: number;
  group?: string;
}

/** Vertical bars with +-sd whiskers and the value printed above each; y from 0 to yMax. */
export function barChartSvg(bars: Bar[], o: { title: string; yLabel: string; yMax?: number }): string {
  const yMax = o.yMax ?? Math.max(1e-9, ...bars.map((b) => b.mean + b.sd));
  const pw = W - L - R;
  const ph = H - T - B;
  const y = (v: number) => T + ph - (Math.max(0, v) / yMax) * ph;
  const slot = pw / Math.max(1, bars.length);
  const groups = [...new Set(bars.map((b) => b.group ?? ''))];
  const parts = frame(o.title, '', o.yLabel, 0, yMax);
  bars.forEach((b, i) => {
    const c = COLORS[groups.indexOf(b.group ?? '') % COLORS.length];
    const cx = L + slot * (i + 0.5);
    const w = slot * 0.6;
    parts.push(
      `<rect x="${(cx - w / 2).toFixed(1)}" y="${y(b.mean).toFixed(1)}" width="${w.toFixed(1)}" height="${(T + ph - y(b.mean)).toFixed(1)}" fill="${c}" opacity="0.8"/>`,
    );
    if (b.sd > 0)
      parts.push(
        `<line x1="${cx.toFixed(1)}" y1="${y(b.mean - b.sd).toFixed(1)}" x2="${cx.toFixed(1)}" y2="${y(b.mean + b.sd).toFixed(1)}" stroke="black"/>`,
      );
    parts.push(`<text x="${cx.toFixed(1)}" y="${(y(b.mean + b.sd) - 4).toFixed(1)}" text-anchor="middle">${b.mean.toFixed(2)}</text>`);
    parts.push(`<text x="${cx.toFixed(1)}" y="${T + ph + 14}" text-anchor="middle" font-size="10">${esc(b.label)}</text>`);
  });
  groups.forEach((g, i) => {
    if (!g) return;
    parts.push(`<rect x="${W - R + 10}" y="${T + 4 + i * 16}" width="14" height="10" fill="${COLORS[i % COLORS.length]}" opacity="0.8"/>`);
    parts.push(`<text x="${W - R + 30}" y="${T + 14 + i * 16}">${esc(g)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
