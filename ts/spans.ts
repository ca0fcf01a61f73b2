// Extractive-QA span search shared by inference (BiomegModel.answer) and evaluation: the best
// (start, end) pairs of each window's logits, mapped to character spans; a span found in several
// overlapping windows keeps its best logit.

export interface SpanWindow {
  /** First context token of the window and one past its last. */
  start: number;
  end: number;
  /** Start / end logit of the window's t-th context token. */
  startLogit(t: number): number;
  endLogit(t: number): number;
}

export interface Span {
  start: number;
  end: number;
  logit: number;
}

/** Top `limit` character spans by start + end logit, searching the `candidates` best starts and
 *  ends of every window; `offsets` holds the context tokens' [start, end) pairs, flattened. */
export function bestSpans(
  windows: SpanWindow[],
  offsets: Uint32Array,
  opts: { candidates?: number; maxAnswerTokens?: number; limit: number },
): Span[] {
  const candidates = opts.candidates ?? 20;
  const maxTok = opts.maxAnswerTokens ?? 30;
  const best = new Map<string, Span>();
  for (const w of windows) {
    const idx = Array.from({ length: w.end - w.start }, (_, t) => t);
    const starts = [...idx].sort((a, b) => w.startLogit(b) - w.startLogit(a)).slice(0, candidates);
    const ends = [...idx].sort((a, b) => w.endLogit(b) - w.endLogit(a)).slice(0, candidates);
    for (const s of starts) {
      for (const e of ends) {
        if (e < s || e - s + 1 > maxTok) continue;
        const span = { start: offsets[2 * (w.start + s)], end: offsets[2 * (w.start + e) + 1], logit: w.startLogit(s) + w.endLogit(e) };
        const key = `${span.start}:${span.end}`;
        const prev = best.get(key);
        if (!prev || prev.logit < span.logit) best.set(key, span);
      }
    }
  }
  return [...best.values()].sort((a, b) => b.logit - a.logit).slice(0, opts.limit);
}
