// Sentence splitter for biomedical abstracts (rule-based, no dependency). A sentence ends at
// . ? or ! (optionally followed by closing quotes/brackets) when whitespace and then a capital
// letter, a digit or an opening bracket/quote follow - except after an abbreviation (e.g., i.e.,
// et al., Fig., vs., approx., Dr., No., ...), a single capital initial (J. Smith, E. coli) or
// dotted initials (U.S.), nor after an enumeration marker alone ("2. The dose ..."). A newline
// always ends a sentence. Known limits: a sentence that starts
// lowercase (a gene name such as p53) is joined to the previous one, and a sentence that really
// ends with an abbreviation or an initial ("... vitamin A. The") is not split there.

/** Lowercased abbreviations (without their final period) after which a period never ends a sentence. */
export const ABBREVIATIONS: ReadonlySet<string> = new Set([
  'e.g',
  'i.e',
  'al', // et al.
  'fig',
  'figs',
  'vs',
  'approx',
  'ca',
  'cf',
  'dr',
  'drs',
  'mr',
  'mrs',
  'ms',
  'prof',
  'no',
  'nos',
  'vol',
  'pp',
  'p',
  'ref',
  'refs',
  'eq',
  'eqs',
  'tab',
  'suppl',
  'inc',
  'ltd',
  'co',
  'corp',
  'jr',
  'sr',
  'st',
  'resp',
  'sp',
  'spp',
  'subsp',
  'var',
  'cv',
  'viz',
  'chap',
  'sect',
  'dept',
  'univ',
  'jan',
  'feb',
  'mar',
  'apr',
  'jun',
  'jul',
  'aug',
  'sep',
  'sept',
  'oct',
  'nov',
  'dec',
  // journal-name abbreviations in citations (J. Biol. Chem. 279, ...)
  'biol',
  'chem',
  'biochem',
  'pharmacol',
  'physiol',
  'natl',
  'acad',
  'proc',
  'soc',
  'clin',
  'biomed',
  'environ',
  'toxicol',
  'expt',
]);

/** An enumeration marker such as "2." or "(iii)." that would otherwise be a sentence of its own. */
const LIST_MARKER = /^(?:\(?\d{1,3}\)?|\(?[ivx]{1,5}\)?|\(?[a-z]\))$/i;

const CLOSERS = new Set([')', ']', '}', '"', "'", '\u2019', '\u201d']);
const OPENERS = new Set(['(', '[', '{', '"', "'", '\u2018', '\u201c']);
const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\u00a0' || c === '\r';
const isUpperOrDigit = (c: string) => (c >= '0' && c <= '9') || (c !== c.toLowerCase() && c === c.toUpperCase());

/** Does the word ending with the period at `dot` make that period an abbreviation's? */
function abbreviationBefore(text: string, dot: number): boolean {
  let s = dot;
  while (s > 0 && !isSpace(text[s - 1]) && text[s - 1] !== '\n' && !OPENERS.has(text[s - 1])) s--;
  const word = text.slice(s, dot);
  if (word.length === 0) return false;
  if (ABBREVIATIONS.has(word.toLowerCase())) return true;
  if (word.length === 1 && isUpperOrDigit(word) && !(word >= '0' && word <= '9')) return true; // initial: J. Smith
  return /^(?:\p{L}\.)+\p{L}$/u.test(word); // dotted initials: U.S., e.g (any case), i.v
}

/** Split a text into sentences (trimmed, empty ones dropped). */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  const push = (end: number) => {
    const s = text.slice(start, end).trim();
    if (s) out.push(s);
  };
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text[i];
    if (c === '\n') {
      push(i);
      start = i + 1;
      continue;
    }
    if (c !== '.' && c !== '?' && c !== '!') continue;
    let j = i + 1;
    while (j < n && (text[j] === '.' || text[j] === '?' || text[j] === '!')) j++; // "...", "?!"
    while (j < n && CLOSERS.has(text[j])) j++;
    if (j >= n || !isSpace(text[j])) {
      i = j - 1;
      continue;
    }
    let k = j;
    while (k < n && isSpace(text[k])) k++;
    if (k >= n) break;
    let next = text[k];
    if (OPENERS.has(next) && k + 1 < n) next = text[k + 1];
    const ends =
      isUpperOrDigit(next) && !(c === '.' && j === i + 1 && abbreviationBefore(text, i)) && !LIST_MARKER.test(text.slice(start, i).trim());
    if (ends) {
      push(j);
      start = k;
    }
    i = j - 1;
  }
  push(n);
  return out;
}
