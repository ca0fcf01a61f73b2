// Score a ChemProt prediction TSV against the gold BLUE-style TSV. Rows are matched by their
// index (`PMID.Tchem.Tgene`); an index listed twice in gold (a pair with two CPR groups)
// needs as many prediction rows, matched in file order.
import { iterIndexLabelTsv, type LabelRow } from '../data/chemprot.js';
import { BiomegError, badData } from '../data/errors.js';
import { CHEMPROT_LABELS, chemprotEval, type ReOptions, type ReResult } from './chemprot.js';

export function scoreChemprotFiles(goldFile: string, predFile: string, opts: ReOptions = {}): ReResult {
  const labels = new Set(opts.labels ?? CHEMPROT_LABELS);
  const gold = [...iterIndexLabelTsv(goldFile)];
  const byIndex = new Map<string, LabelRow[]>();
  for (const p of iterIndexLabelTsv(predFile)) {
    if (!labels.has(p.label)) throw badData(predFile, p.line, `unknown label '${p.label}' (expected one of ${[...labels].join(', ')})`);
    const q = byIndex.get(p.index);
    if (q) q.push(p);
    else byIndex.set(p.index, [p]);
  }
  const g: string[] = [];
  const p: string[] = [];
  for (const row of gold) {
    if (!labels.has(row.label))
      throw badData(goldFile, row.line, `unknown label '${row.label}' (expected one of ${[...labels].join(', ')})`);
    const q = byIndex.get(row.index);
    const hit = q?.shift();
    if (!hit)
      throw new BiomegError('BIOMEG_MISMATCH', `no prediction for index '${row.index}' in ${predFile}`, { file: goldFile, line: row.line });
    g.push(row.label);
    p.push(hit.label);
  }
  for (const q of byIndex.values()) {
    if (q.length)
      throw new BiomegError('BIOMEG_MISMATCH', `prediction for index '${q[0].index}' has no gold row left in ${goldFile}`, {
        file: predFile,
        line: q[0].line,
      });
  }
  return chemprotEval(g, p, opts);
}
