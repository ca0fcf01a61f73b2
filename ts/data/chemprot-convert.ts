// Converter from the original BioCreative VI ChemProt files (abstracts, entities, gold
// standard) to the BLUE sentence-classification layout. Our own re-implementation of the
// BLUE procedure, with a rule-based sentence splitter instead of spaCy:
//  text = title + ' ' + abstract (entity offsets index into it);
//  split after [.?!] (plus closing quotes/brackets) + whitespace + an upper-case letter,
//  except after a few abbreviations;
//  every CHEMICAL x GENE-Y/GENE-N pair inside one sentence is a row, labelled with its
//  gold CPR group (Arg1 = chemical, Arg2 = gene), or `false`; two gold groups = two rows.
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BiomegError, badData } from './errors.js';
import { readLines } from './lines.js';

export interface ChemprotEntity {
  id: string;
  type: string;
  start: number;
  end: number;
  text: string;
}

export interface ChemprotDocument {
  pmid: string;
  text: string;
  /** Length of the title within text. */
  titleLength: number;
  entities: ChemprotEntity[];
}

export interface ConvertedRow {
  index: string;
  sentence: string;
  label: string;
}

export interface ConvertResult {
  rows: ConvertedRow[];
  /** Gold relations in the gold-standard file. */
  goldRelations: number;
  /** Gold relations whose two arguments fall inside one sentence (= positive rows). */
  goldInSentences: number;
  /** Abstracts that gave at least one row. */
  abstracts: number;
  labels: Record<string, number>;
}

// Abbreviations after which a period does not end a sentence (case-sensitive).
const ABBREVIATIONS = new Set([
  'e.g.',
  'i.e.',
  'al.',
  'vs.',
  'Fig.',
  'Figs.',
  'ca.',
  'approx.',
  'i.v.',
  'i.p.',
  'i.c.v.',
  's.c.',
  'p.o.',
  'No.',
  'St.',
  'cf.',
  'sp.',
  'spp.',
  'U.S.',
]);

/** Sentence spans [start, end) of a text. */
export function splitSentences(text: string): [number, number][] {
  const spans: [number, number][] = [];
  const re = /[.?!]["'”’)\]}]*(\s+)(?=\p{Lu})/gu;
  let start = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const end = m.index + m[0].length - m[1].length;
    const wordStart = text.lastIndexOf(' ', m.index) + 1;
    // The word before the period, without brackets/quotes: "(i.e." -> "i.e.", "i.v.)." -> "i.v.".
    const word = text
      .slice(Math.max(wordStart, start), m.index)
      .replace(/^["'([{]+/, '')
      .replace(/[)"'\]}.]+$/, '');
    if (ABBREVIATIONS.has(`${word}.`)) continue;
    spans.push([start, end]);
    start = m.index + m[0].length;
  }
  if (start < text.length) spans.push([start, text.length]);
  return spans.filter(([s, e]) => text.slice(s, e).trim().length > 0);
}

function pair(sentence: string, offset: number, chem: ChemprotEntity, gene: ChemprotEntity): string {
  const cs = chem.start - offset;
  const ce = chem.end - offset;
  const gs = gene.start - offset;
  const ge = gene.end - offset;
  if (cs < ge && gs < ce) {
    const s = Math.min(cs, gs);
    const e = Math.max(ce, ge);
    return sentence.slice(0, s) + '@CHEM-GENE$' + sentence.slice(e);
  }
  if (cs < gs) return sentence.slice(0, cs) + '@CHEMICAL$' + sentence.slice(ce, gs) + '@GENE$' + sentence.slice(ge);
  return sentence.slice(0, gs) + '@GENE$' + sentence.slice(ge, cs) + '@CHEMICAL$' + sentence.slice(ce);
}

export interface ChemprotFiles {
  abstracts: string;
  entities: string;
  goldStandard: string;
}

/** Find the three files of one split in a BioCreative VI ChemProt directory. */
export function chemprotSplitFiles(dir: string): ChemprotFiles {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new BiomegError('BIOMEG_IO', `cannot list ChemProt directory: ${(e as Error).message}`, { file: dir });
  }
  const find = (part: string): string => {
    const f = names.find((n) => n.includes(part) && n.endsWith('.tsv'));
    if (!f) throw new BiomegError('BIOMEG_IO', `no *${part}*.tsv file in this directory`, { file: dir });
    return path.join(dir, f);
  };
  return { abstracts: find('_abstracts'), entities: find('_entities'), goldStandard: find('_gold_standard') };
}

export function readChemprotOriginal(files: ChemprotFiles): {
  docs: ChemprotDocument[];
  gold: Map<string, string[]>;
  goldRelations: number;
} {
  const docs: ChemprotDocument[] = [];
  const byPmid = new Map<string, ChemprotDocument>();
  for (const { line, lineNo } of readLines(files.abstracts)) {
    if (!line) continue;
    const c = line.split('\t');
    if (c.length !== 3) throw badData(files.abstracts, lineNo, `expected PMID<TAB>title<TAB>abstract, found ${c.length} columns`);
    const d = { pmid: c[0], text: `${c[1]} ${c[2]}`, titleLength: c[1].length, entities: [] };
    docs.push(d);
    byPmid.set(c[0], d);
  }
  for (const { line, lineNo } of readLines(files.entities)) {
    if (!line) continue;
    const c = line.split('\t');
    if (c.length !== 6) throw badData(files.entities, lineNo, `expected PMID, Tn, type, start, end, text; found ${c.length} columns`);
    const d = byPmid.get(c[0]);
    if (!d) throw badData(files.entities, lineNo, `PMID ${c[0]} is not in ${files.abstracts}`);
    const start = Number(c[3]);
    const end = Number(c[4]);
    if (!Number.isInteger(start) || !Number.isInteger(end) || d.text.slice(start, end) !== c[5]) {
      throw badData(files.entities, lineNo, `entity ${c[1]} '${c[5]}' is not at ${c[3]}-${c[4]} of title + ' ' + abstract`);
    }
    d.entities.push({ id: c[1], type: c[2], start, end, text: c[5] });
  }
  const gold = new Map<string, string[]>();
  let goldRelations = 0;
  for (const { line, lineNo } of readLines(files.goldStandard)) {
    if (!line) continue;
    const c = line.split('\t');
    if (c.length !== 4 || !c[2].startsWith('Arg1:') || !c[3].startsWith('Arg2:')) {
      throw badData(files.goldStandard, lineNo, 'expected PMID<TAB>CPR:n<TAB>Arg1:Tx<TAB>Arg2:Ty');
    }
    const key = `${c[0]}.${c[2].slice(5)}.${c[3].slice(5)}`;
    const groups = gold.get(key) ?? [];
    groups.push(c[1]);
    gold.set(key, groups);
    goldRelations++;
  }
  return { docs, gold, goldRelations };
}

export function convertChemprot(files: ChemprotFiles): ConvertResult {
  const { docs, gold, goldRelations } = readChemprotOriginal(files);
  const rows: ConvertedRow[] = [];
  const labels: Record<string, number> = {};
  let goldInSentences = 0;
  let abstracts = 0;
  for (const d of docs) {
    const before = rows.length;
    // Entity-file order, as the BLUE rows are ordered.
    const chems = d.entities.filter((e) => e.type === 'CHEMICAL');
    const genes = d.entities.filter((e) => e.type === 'GENE-Y' || e.type === 'GENE-N');
    for (const [s, e] of splitSentences(d.text)) {
      const inside = (x: ChemprotEntity): boolean => x.start >= s && x.end <= e;
      const sc = chems.filter(inside);
      const sg = genes.filter(inside);
      if (!sc.length || !sg.length) continue;
      const sentence = d.text.slice(s, e);
      for (const c of sc) {
        for (const g of sg) {
          const index = `${d.pmid}.${c.id}.${g.id}`;
          const text = pair(sentence, s, c, g);
          const groups = gold.get(index);
          if (groups) goldInSentences += groups.length;
          for (const label of groups ?? ['false']) {
            rows.push({ index, sentence: text, label });
            labels[label] = (labels[label] ?? 0) + 1;
          }
        }
      }
    }
    if (rows.length > before) abstracts++;
  }
  return { rows, goldRelations, goldInSentences, abstracts, labels };
}

export function writeChemprotTsv(file: string, rows: readonly ConvertedRow[]): void {
  const out = ['index\tsentence\tlabel', ...rows.map((r) => `${r.index}\t${r.sentence}\t${r.label}`)];
  writeFileSync(file, out.join('\n') + '\n');
}
