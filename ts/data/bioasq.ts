// BioASQ Task B files: official golden JSON (all question types) and system answer JSON.
import { badData } from './errors.js';
import { field, isArray, isObject, isString, readJsonFile, type LocatedJson } from './json.js';

export interface BioasqGoldQuestion {
  id: string;
  type: string;
  body?: string;
  /** Factoid/list: synonym groups, e.g. [["PD-L1 status"]]; empty for other types. */
  exactAnswer: string[][];
  /** Number of snippets listed for the question. */
  snippets: number;
}

export function readBioasqGolden(file: string): BioasqGoldQuestion[] {
  return bioasqGoldenFromJson(readJsonFile(file));
}

export function bioasqGoldenFromJson(doc: LocatedJson): BioasqGoldQuestion[] {
  const qs = questionsOf(doc);
  return qs.map((q, i) => {
    const path = `questions[${i}]`;
    if (!isObject(q)) throw badData(doc.file, doc.lineOf(qs), `${path}: expected an object`);
    const id = field(doc, q, 'id', isString, 'a string', path);
    const type = field(doc, q, 'type', isString, 'a string', `${path} (id ${id})`);
    let exactAnswer: string[][] = [];
    if (type === 'factoid' || type === 'list') {
      const ea = field(doc, q, 'exact_answer', isArray, 'an array', `${path} (id ${id})`);
      exactAnswer = synonymGroups(doc, ea, `${path}.exact_answer`, true);
      if (!exactAnswer.some((g) => g.length > 0))
        throw badData(doc.file, doc.lineOf(q), `${path} (id ${id}): exact_answer has no answer string`);
    }
    const sn = q.snippets;
    return { id, type, body: isString(q.body) ? q.body : undefined, exactAnswer, snippets: isArray(sn) ? sn.length : 0 };
  });
}

function questionsOf(doc: LocatedJson): unknown[] {
  const root = doc.value;
  if (!isObject(root)) throw badData(doc.file, 1, "expected a JSON object with a 'questions' array (BioASQ format)");
  return field(doc, root, 'questions', isArray, 'an array', '$');
}

/**
 * exact_answer as a list of answers, each a list of synonyms. `[["a","b"],["c"]]` is the
 * standard layout; a flat `["a","b"]` is read as one synonym group for gold files and as
 * answers ranked one per entry for system files.
 */
function synonymGroups(doc: LocatedJson, ea: unknown[], path: string, gold: boolean): string[][] {
  if (ea.every(isString)) return gold ? [ea as string[]] : (ea as string[]).map((s) => [s]);
  return ea.map((g, k) => {
    if (!isArray(g) || !g.every(isString)) throw badData(doc.file, doc.lineOf(ea), `${path}[${k}]: expected a list of strings`);
    return g as string[];
  });
}

/** System answers: `{"questions":[{"id":..., "exact_answer":[["first"],["second"],...]}]}`. */
export function readBioasqAnswers(file: string): Map<string, string[][]> {
  const doc = readJsonFile(file);
  const qs = questionsOf(doc);
  const out = new Map<string, string[][]>();
  qs.forEach((q, i) => {
    const path = `questions[${i}]`;
    if (!isObject(q)) throw badData(doc.file, doc.lineOf(qs), `${path}: expected an object`);
    const id = field(doc, q, 'id', isString, 'a string', path);
    const ea = q.exact_answer;
    if (ea === undefined) throw badData(doc.file, doc.lineOf(q), `${path} (id ${id}): missing field 'exact_answer'`);
    if (isString(ea)) return; // a yes/no answer: not a factoid, nothing to score here
    if (!isArray(ea)) throw badData(doc.file, doc.lineOf(q), `${path} (id ${id}).exact_answer: expected an array`);
    if (out.has(id)) throw badData(doc.file, doc.lineOf(q), `${path}: question id ${id} appears twice`);
    out.set(id, synonymGroups(doc, ea, `${path}.exact_answer`, false));
  });
  return out;
}
