// Score CoNLL prediction files, streaming. Two layouts:
//  - gold file (token ... label) + prediction file (token ... pred): read in lockstep, tokens
//    must match one for one; sentence boundaries come from the gold file;
//  - one file with gold and prediction as its last two columns (conlleval's own input).
import { isBoundary, malformedTagMessage, splitColumns } from '../data/conll.js';
import { BiomegError, badData } from '../data/errors.js';
import { LineReader } from '../data/lines.js';
import { ConllEvaluator, type NerResult } from './conlleval.js';

export interface NerFiles {
  /** Gold CoNLL file; omit to read gold from the prediction file's second-to-last column. */
  gold?: string;
  pred: string;
}

export function scoreConllFiles({ gold, pred }: NerFiles): NerResult {
  return gold === undefined ? scoreConllevalFile(pred) : scoreGoldAndPred(gold, pred);
}

function tagCode(ev: ConllEvaluator, tag: string, file: string, line: number): number {
  const c = ev.code(tag);
  if (c < 0) throw badData(file, line, malformedTagMessage(tag));
  return c;
}

function scoreConllevalFile(file: string): NerResult {
  const ev = new ConllEvaluator();
  const r = new LineReader(file);
  try {
    for (let line = r.next(); line !== null; line = r.next()) {
      if (isBoundary(line)) {
        ev.boundary();
        continue;
      }
      const cols = splitColumns(line);
      const n = cols.length;
      if (n < 3)
        throw badData(
          file,
          r.lineNo,
          `expected 'token … gold prediction' columns (or pass --gold), found ${n} column${n === 1 ? '' : 's'}`,
        );
      ev.addCodes(tagCode(ev, cols[n - 2], file, r.lineNo), tagCode(ev, cols[n - 1], file, r.lineNo));
    }
  } finally {
    r.close();
  }
  return ev.result();
}

/** Next non-boundary line of a prediction file (its blank lines carry no information). */
function nextToken(r: LineReader): string | null {
  for (let line = r.next(); line !== null; line = r.next()) if (!isBoundary(line)) return line;
  return null;
}

/** First and last column of a CoNLL line, without splitting it (hot path); null if < 2 columns. */
function firstAndLast(line: string): [string, string] | null {
  const a = line.indexOf('\t');
  if (a >= 0) return [line.slice(0, a), line.slice(line.lastIndexOf('\t') + 1)];
  const cols = splitColumns(line);
  return cols.length < 2 ? null : [cols[0], cols[cols.length - 1]];
}

function scoreGoldAndPred(goldFile: string, predFile: string): NerResult {
  const ev = new ConllEvaluator();
  const g = new LineReader(goldFile);
  const p = new LineReader(predFile);
  let goldTokens = 0;
  try {
    for (let gl = g.next(); gl !== null; gl = g.next()) {
      if (isBoundary(gl)) {
        ev.boundary();
        continue;
      }
      goldTokens++;
      const gc = firstAndLast(gl);
      if (!gc) throw badData(goldFile, g.lineNo, `expected 'token<TAB>label', found 1 column`);
      const pl = nextToken(p);
      if (pl === null) {
        throw new BiomegError(
          'BIOMEG_MISMATCH',
          `prediction file ${predFile} ends after ${goldTokens - 1} tokens; gold has more (token ${goldTokens} '${gc[0]}' at this line)`,
          { file: goldFile, line: g.lineNo },
        );
      }
      const pc = firstAndLast(pl);
      if (!pc) throw badData(predFile, p.lineNo, `expected 'token<TAB>prediction', found 1 column`);
      if (pc[0] !== gc[0]) {
        throw new BiomegError(
          'BIOMEG_MISMATCH',
          `token ${goldTokens} is '${pc[0]}' but gold has '${gc[0]}' (${goldFile}:${g.lineNo}); files are out of step`,
          { file: predFile, line: p.lineNo },
        );
      }
      ev.addCodes(tagCode(ev, gc[1], goldFile, g.lineNo), tagCode(ev, pc[1], predFile, p.lineNo));
    }
    const extra = nextToken(p);
    if (extra !== null) {
      throw new BiomegError(
        'BIOMEG_MISMATCH',
        `prediction file has more tokens than gold (${goldTokens}); first extra token '${splitColumns(extra)[0]}'`,
        {
          file: predFile,
          line: p.lineNo,
        },
      );
    }
  } finally {
    g.close();
    p.close();
  }
  return ev.result();
}
