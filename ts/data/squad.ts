// SQuAD v1.1 and v2.0 JSON (also BioBERT's BioASQ snippet files, which use the v1.1 layout).
// v2.0 adds unanswerable questions: `is_impossible: true`, empty `answers` and
// `plausible_answers` (a span that looks like an answer but is not one).
import { readFileSync } from '../core/fs.js';
import { badData } from './errors.js';
import { field, isArray, isNumber, isObject, isString, readJsonFile, type LocatedJson } from './json.js';

export interface SquadAnswer {
  text: string;
  answer_start: number;
}

export interface SquadExample {
  /** Example id; BioASQ snippet files use `<questionId>_<nnn>`. */
  id: string;
  question: string;
  context: string;
  /** Empty for an unanswerable (SQuAD v2.0) question. */
  answers: SquadAnswer[];
  title?: string;
  /** SQuAD v2.0 `is_impossible` (absent in v1.1 files). */
  isImpossible?: boolean;
  /** SQuAD v2.0 `plausible_answers` of an unanswerable question (never trained or scored on). */
  plausibleAnswers?: SquadAnswer[];
}

export interface SquadReadOptions {
  /** Check that each answer text sits at answer_start in its context. Default true. */
  checkOffsets?: boolean;
}

export function readSquad(file: string, opts: SquadReadOptions = {}): { version?: string; examples: SquadExample[] } {
  return squadFromJson(readJsonFile(file), opts);
}

export function squadFromJson(doc: LocatedJson, opts: SquadReadOptions = {}): { version?: string; examples: SquadExample[] } {
  const check = opts.checkOffsets ?? true;
  const root = doc.value;
  if (!isObject(root)) throw badData(doc.file, 1, "expected a JSON object with a 'data' array (SQuAD format)");
  const data = field(doc, root, 'data', isArray, 'an array', '$');
  const examples: SquadExample[] = [];
  data.forEach((article, a) => {
    const ap = `data[${a}]`;
    if (!isObject(article)) throw badData(doc.file, doc.lineOf(data), `${ap}: expected an object`);
    const title = isString(article.title) ? article.title : undefined;
    const paragraphs = field(doc, article, 'paragraphs', isArray, 'an array', ap);
    paragraphs.forEach((para, p) => {
      const pp = `${ap}.paragraphs[${p}]`;
      if (!isObject(para)) throw badData(doc.file, doc.lineOf(paragraphs), `${pp}: expected an object`);
      const context = field(doc, para, 'context', isString, 'a string', pp);
      const qas = field(doc, para, 'qas', isArray, 'an array', pp);
      qas.forEach((qa, q) => {
        const qp = `${pp}.qas[${q}]`;
        if (!isObject(qa)) throw badData(doc.file, doc.lineOf(qas), `${qp}: expected an object`);
        const id = field(doc, qa, 'id', isString, 'a string', qp);
        const question = field(doc, qa, 'question', isString, 'a string', qp);
        const spans = (key: string): SquadAnswer[] => {
          const raw = field(doc, qa, key, isArray, 'an array', qp);
          return raw.map((ans, k) => {
            const kp = `${qp}.${key}[${k}]`;
            if (!isObject(ans)) throw badData(doc.file, doc.lineOf(raw), `${kp}: expected an object`);
            const text = field(doc, ans, 'text', isString, 'a string', kp);
            const answer_start = field(doc, ans, 'answer_start', isNumber, 'a number', kp);
            if (check && context.substr(answer_start, text.length) !== text) {
              throw badData(doc.file, doc.lineOf(ans), `${kp}: answer '${text}' is not at offset ${answer_start} of its context`);
            }
            return { text, answer_start };
          });
        };
        const answers = spans('answers');
        const ex: SquadExample = { id, question, context, answers, title };
        if (qa.is_impossible !== undefined) {
          const impossible = field(doc, qa, 'is_impossible', isBoolean, 'true or false', qp);
          // The official v2.0 scorer goes by `answers` alone, so an impossible question with
          // answers is contradictory. (Unanswered test files may say false with no answers.)
          if (impossible && answers.length)
            throw badData(doc.file, doc.lineOf(qa), `${qp}: is_impossible is true but the question has answers`);
          ex.isImpossible = impossible;
        }
        if (qa.plausible_answers !== undefined) ex.plausibleAnswers = spans('plausible_answers');
        examples.push(ex);
      });
    });
  });
  return { version: isString(root.version) ? root.version : undefined, examples };
}

/** Question id of a BioASQ snippet example (`<qid>_<nnn>` -> `<qid>`); other ids unchanged. */
export function questionIdOf(exampleId: string): string {
  const m = /^(.*)_\d+$/.exec(exampleId);
  return m ? m[1] : exampleId;
}

const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';

/** SQuAD prediction file: a JSON object mapping question id to answer text. */
export function readSquadPredictions(file: string): Map<string, string> {
  const doc = readJsonFile(file);
  const root = doc.value;
  if (!isObject(root)) throw badData(file, 1, 'expected a JSON object {"question id": "answer text", ...}');
  const out = new Map<string, string>();
  for (const [id, v] of Object.entries(root)) {
    if (!isString(v)) throw badData(file, doc.lineOf(root), `prediction for '${id}' is not a string`);
    out.set(id, v);
  }
  return out;
}

/**
 * SQuAD v2.0 na-prob file: {"question id": no-answer probability (or any score), ...}, in file
 * order. The official best-threshold search takes tied probabilities in that order, and a JS
 * object would move integer-like ids to the front, so the order is read from the text (every
 * string in a valid file is a key: the values are numbers).
 */
export function readSquadNaProbs(file: string): Map<string, number> {
  const doc = readJsonFile(file);
  const root = doc.value;
  if (!isObject(root)) throw badData(file, 1, 'expected a JSON object {"question id": no-answer probability, ...}');
  for (const [id, v] of Object.entries(root))
    if (!isNumber(v)) throw badData(file, doc.lineOf(root), `na_prob for '${id}' is not a number`);
  const out = new Map<string, number>();
  for (const m of readFileSync(file, 'utf8').matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
    const id = JSON.parse(`"${m[1]}"`) as string;
    if (!out.has(id)) out.set(id, root[id] as number);
  }
  return out;
}
