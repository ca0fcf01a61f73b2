// Overlapping windows over a token sequence, so inputs longer than the model's maximum length are
// processed whole: every token lies in at least one window, and each token's output is taken from
// the window where it has the most context on both sides.

export interface Window {
  start: number;
  end: number;
}

/** Windows of at most `size` tokens over n tokens, consecutive ones sharing `overlap` tokens. */
export function planWindows(n: number, size: number, overlap: number): Window[] {
  if (size < 1) throw new RangeError(`window size ${size} < 1`);
  const step = Math.max(1, size - Math.max(0, Math.min(overlap, size - 1)));
  const out: Window[] = [];
  for (let start = 0; ; start += step) {
    const end = Math.min(n, start + size);
    out.push({ start, end });
    if (end >= n) break;
  }
  return out;
}

/** Index of the window in which token t is furthest from an edge (earliest on ties). */
export function bestWindowFor(windows: Window[], t: number): number {
  let best = -1;
  let bestScore = -1;
  windows.forEach((w, i) => {
    if (t < w.start || t >= w.end) return;
    const score = Math.min(t - w.start, w.end - 1 - t);
    if (score > bestScore) {
      best = i;
      bestScore = score;
    }
  });
  if (best < 0) throw new RangeError(`token ${t} is in no window`);
  return best;
}
