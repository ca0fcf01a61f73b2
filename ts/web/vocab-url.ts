// A tokenizer from a URL: a vocab.txt, a tokenizer.json, or a folder URL holding one of them
// (tokenizer.json first). Used by the break-out view and BiomegWorker.loadTokenizer.
import { BiomegError } from '../errors.js';
import { tokenizerFromData, type Tokenizer } from '../text/tokenizer.js';

export async function fetchVocabulary(
  url: string,
  opts: { lowercase?: boolean; name?: string; fetch?: typeof fetch } = {},
): Promise<Tokenizer> {
  const loc = (globalThis as { location?: { href: string } }).location?.href;
  const u = new URL(url, loc);
  const f = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const candidates = /\.(txt|json)$/.test(u.pathname)
    ? [u]
    : ['tokenizer.json', 'vocab.txt'].map((n) => new URL(n, u.href.endsWith('/') ? u : `${u.href}/`));
  for (const c of candidates) {
    let res: Response;
    try {
      res = await f(c.href);
    } catch (e) {
      throw new BiomegError('BIOMEG_DOWNLOAD', `${c.href}: ${(e as Error).message}`);
    }
    if (res.status === 404 && candidates.length > 1) continue;
    if (!res.ok) throw new BiomegError('BIOMEG_DOWNLOAD', `${c.href}: HTTP ${res.status} ${res.statusText}`.trim());
    const kind = c.pathname.endsWith('.json') ? 'tokenizer.json' : 'vocab.txt';
    const name = opts.name ?? c.pathname.split('/').filter(Boolean).slice(-2, -1)[0] ?? kind;
    const data = await res.text();
    const lowercase = opts.lowercase ?? (await learnedCasing(f, new URL('meta.json', c), kind));
    return tokenizerFromData({ kind, data, name: c.href }, { lowercase, name });
  }
  throw new BiomegError('BIOMEG_DOWNLOAD', `${u.href}: neither tokenizer.json nor vocab.txt found there`);
}

/** The casing a learned vocabulary's meta.json records (`biomeg vocab train`), as
 *  loadTokenizer(path) reads it in Node; undefined when there is none (then it is detected). */
async function learnedCasing(f: typeof fetch, url: URL, file: string): Promise<boolean | undefined> {
  try {
    const res = await f(url.href);
    if (!res.ok) return undefined;
    const m = (await res.json()) as { lowercase?: unknown; file?: unknown };
    return typeof m.lowercase === 'boolean' && m.file === file ? m.lowercase : undefined;
  } catch {
    return undefined;
  }
}
