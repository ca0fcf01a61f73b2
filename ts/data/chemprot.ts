// ChemProt in the BLUE sentence-classification layout: `index<TAB>sentence<TAB>label` with a
// header row, the pair masked as @CHEMICAL$ / @GENE$ (@CHEM-GENE$ when the spans overlap), no
// quoting (sentences contain '"', so the only separator is the tab).
import { badData } from './errors.js';
import { LineReader } from './lines.js';

export interface ChemprotRow {
  /** `PMID.Tchem.Tgene` */
  index: string;
  sentence: string;
  label: string;
  line: number;
}

const HEADER = 'index\tsentence\tlabel';

/** Stream rows of a BLUE-style ChemProt TSV (header optional). */
export function* iterChemprotTsv(file: string): Generator<ChemprotRow> {
  const r = new LineReader(file);
  try {
    for (let line = r.next(); line !== null; line = r.next()) {
      if (r.lineNo === 1 && line === HEADER) continue;
      if (line === '') continue;
      const cols = line.split('\t');
      if (cols.length !== 3)
        throw badData(file, r.lineNo, `expected 3 tab-separated columns (index, sentence, label), found ${cols.length}`);
      yield { index: cols[0], sentence: cols[1], label: cols[2], line: r.lineNo };
    }
  } finally {
    r.close();
  }
}

export function readChemprotTsv(file: string): ChemprotRow[] {
  return [...iterChemprotTsv(file)];
}

export interface LabelRow {
  index: string;
  label: string;
  line: number;
}

/**
 * Prediction (or gold) labels keyed by index: `index<TAB>label` rows, or full
 * `index<TAB>sentence<TAB>label` rows; the label is the last column. A first row whose first
 * column is `index` is a header.
 */
export function* iterIndexLabelTsv(file: string): Generator<LabelRow> {
  const r = new LineReader(file);
  try {
    for (let line = r.next(); line !== null; line = r.next()) {
      if (line === '') continue;
      const cols = line.split('\t');
      if (r.lineNo === 1 && cols[0] === 'index') continue;
      if (cols.length < 2 || cols.length > 3) {
        throw badData(
          file,
          r.lineNo,
          `expected 'index<TAB>label' (or index, sentence, label), found ${cols.length} column${cols.length === 1 ? '' : 's'}`,
        );
      }
      yield { index: cols[0], label: cols[cols.length - 1], line: r.lineNo };
    }
  } finally {
    r.close();
  }
}
