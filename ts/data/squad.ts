// SQuAD v1.1 JSON (also BioBERT's BioASQ snippet files, which use the same layout).
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
  answers: SquadAnswer[];
  title?: string;
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
        const answersRaw = field(doc, qa, 'answers', isArray, 'an array', qp);
        const answers = answersRaw.map((ans, k) => {
          const kp = `${qp}.answers[${k}]`;
          if (!isObject(ans)) throw badData(doc.file, doc.lineOf(answersRaw), `${kp}: expected an object`);
          const text = field(doc, ans, 'text', isString, 'a string', kp);
          const answer_start = field(doc, ans, 'answer_start', isNumber, 'a number', kp);
          if (check && context.substr(answer_start, text.length) !== text) {
            throw badData(doc.file, doc.lineOf(ans), `${kp}: answer '${text}' is not at offset ${answer_start} of its context`);
          }
          return { text, answer_start };
        });
        examples.push({ id, question, context, answers, title });
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
