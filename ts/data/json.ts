// A small JSON parser that remembers the line where every object and array starts, so that
// errors about a missing field can name file and line (JSON.parse cannot).
import { readFileSync } from '../core/fs.js';
import { BiomegError, badData } from './errors.js';

export interface LocatedJson {
  file: string;
  value: unknown;
  /** 1-based line where an object/array of the parsed value starts. */
  lineOf(node: object): number | undefined;
}

export function readJsonFile(file: string): LocatedJson {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new BiomegError('BIOMEG_IO', `cannot read: ${(e as Error).message}`, { file });
  }
  return parseJsonLocated(text, file);
}

export function parseJsonLocated(text: string, file = '<json>'): LocatedJson {
  const lines = new WeakMap<object, number>();
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const fail = (msg: string): never => {
    throw badData(file, line, `invalid JSON: ${msg}`);
  };
  const ws = (): void => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 10) line++;
      else if (c !== 32 && c !== 9 && c !== 13) return;
      i++;
    }
  };
  const str = (): string => {
    const start = ++i; // after the opening quote
    let simple = true;
    for (;;) {
      const c = text.charCodeAt(i);
      if (Number.isNaN(c)) fail('unterminated string');
      if (c === 34) break;
      if (c === 92) {
        simple = false;
        i += 2;
        continue;
      }
      if (c < 32) fail('control character in string');
      i++;
    }
    const raw = text.slice(start, i++);
    if (simple) return raw;
    try {
      return JSON.parse(`"${raw}"`) as string;
    } catch {
      return fail('bad escape in string');
    }
  };
  const NUM = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const value = (): unknown => {
    ws();
    const c = text.charCodeAt(i);
    if (c === 123) {
      const obj: Record<string, unknown> = {};
      lines.set(obj, line);
      i++;
      ws();
      if (text.charCodeAt(i) === 125) {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text.charCodeAt(i) !== 34) fail('expected a property name');
        const k = str();
        ws();
        if (text.charCodeAt(i) !== 58) fail("expected ':'");
        i++;
        obj[k] = value();
        ws();
        const d = text.charCodeAt(i++);
        if (d === 125) return obj;
        if (d !== 44) fail("expected ',' or '}'");
      }
    }
    if (c === 91) {
      const arr: unknown[] = [];
      lines.set(arr, line);
      i++;
      ws();
      if (text.charCodeAt(i) === 93) {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        ws();
        const d = text.charCodeAt(i++);
        if (d === 93) return arr;
        if (d !== 44) fail("expected ',' or ']'");
      }
    }
    if (c === 34) return str();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    NUM.lastIndex = i;
    const m = NUM.exec(text);
    if (!m) return fail(Number.isNaN(c) ? 'unexpected end of input' : `unexpected character '${text[i]}'`);
    i += m[0].length;
    return Number(m[0]);
  };
  const v = value();
  ws();
  if (i < text.length) fail('trailing characters after the JSON value');
  return { file, value: v, lineOf: (node) => lines.get(node) };
}

/** Helpers to check the shape of located JSON with errors that say file and line. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function field<T>(
  doc: LocatedJson,
  obj: Record<string, unknown>,
  key: string,
  check: (v: unknown) => v is T,
  what: string,
  path: string,
): T {
  const v = obj[key];
  if (v === undefined) throw badData(doc.file, doc.lineOf(obj), `${path}: missing field '${key}'`);
  if (!check(v)) throw badData(doc.file, doc.lineOf(obj), `${path}.${key}: expected ${what}`);
  return v;
}

export const isString = (v: unknown): v is string => typeof v === 'string';
export const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
export const isNumber = (v: unknown): v is number => typeof v === 'number';
