// BiomegModel.fromUrl: download a model directory (config.json, model.safetensors, tokenizer.json
// or vocab.txt) with progress, check each file before use (HTTP status, Content-Length against
// the bytes received, the safetensors header against the file size, config.json parses), and keep
// checked files in the Cache API (browsers) so a second load does not download again.
import { BiomegError } from '../errors.js';
import type { TokenizerData } from '../text/tokenizer.js';

export interface DownloadProgress {
  /** File name within the model directory ('config.json', 'model.safetensors', ...). */
  file: string;
  url: string;
  loaded: number;
  /** From Content-Length; null when the server sent none. */
  total: number | null;
  /** True when the file came from the Cache API. */
  cached: boolean;
  done: boolean;
}

export interface FromUrlOptions {
  onProgress?: (p: DownloadProgress) => void;
  /** Cache API: true (default, cache 'biomeg-models'), false, or a cache name. Ignored where
   *  `caches` does not exist (Node, insecure origins). */
  cache?: boolean | string;
  /** The fetch to use (default: globalThis.fetch). */
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/** fp32 parameter bytes above which a model does not fit wasm32: its 4 GiB address space holds
 *  the safetensors bytes copied in and the tensors made from them, plus activations. */
export const WASM32_MAX_PARAM_BYTES = 2 * 1024 ** 3;

/** Parameters of a BERT-style encoder from its config.json: embeddings (with their LayerNorm)
 *  and layers; a pooler or task head adds a little (this is a lower bound). */
export function estimateParams(c: Record<string, unknown>): number {
  const n = (k: string, d = 0) => (typeof c[k] === 'number' ? (c[k] as number) : d);
  const h = n('hidden_size');
  const e = n('embedding_size', h);
  const inter = n('intermediate_size', 4 * h);
  const emb = (n('vocab_size') + n('max_position_embeddings') + n('type_vocab_size', 2)) * e + (e !== h ? e * h : 0);
  // ALBERT shares layers across groups: only the distinct groups hold weights.
  const layers = c.model_type === 'albert' ? n('num_hidden_groups', 1) : n('num_hidden_layers');
  return emb + 2 * e + layers * (4 * h * h + 2 * h * inter + 9 * h + inter);
}

/** Throw BIOMEG_TOO_BIG when a config's parameters cannot be loaded into wasm32 memory. */
export function checkFitsWasm32(config: Record<string, unknown>, source: string): void {
  const bytes = estimateParams(config) * 4;
  if (bytes > WASM32_MAX_PARAM_BYTES) {
    throw new BiomegError(
      'BIOMEG_TOO_BIG',
      `${source}: the model has about ${(bytes / 4 / 1e6).toFixed(0)}M parameters (${gib(bytes)} GiB in fp32), more than the wasm backend can hold (wasm32: 4 GiB of memory, at most ${gib(WASM32_MAX_PARAM_BYTES)} GiB of weights); use the native backend in Node`,
    );
  }
}

function gib(b: number): string {
  return (b / 1024 ** 3).toFixed(2);
}

const TOKENIZER_FILES = ['tokenizer.json', 'vocab.txt'] as const;

/** Download and check the parts BiomegModel.fromBytes takes. `backend` 'wasm' checks the size
 *  limit of wasm32 from config.json before the weights are downloaded. */
export async function fetchModelParts(
  baseUrl: string | URL,
  opts: FromUrlOptions & { backend?: string } = {},
): Promise<{ config: string; weights: Uint8Array; tokenizer?: TokenizerData; source: string }> {
  const base = directoryUrl(baseUrl);
  const get = new Downloader(opts);
  const configUrl = new URL('config.json', base).href;
  const config = new TextDecoder().decode(await get.file('config.json', configUrl, 'required'));
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(config);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
  } catch (e) {
    get.forget(configUrl);
    throw new BiomegError('BIOMEG_BAD_CONFIG', `${configUrl}: config.json is not valid JSON (${(e as Error).message})`);
  }
  if (opts.backend === 'wasm') checkFitsWasm32(parsed, configUrl);
  const weightsUrl = new URL('model.safetensors', base).href;
  const weights = await get.file('model.safetensors', weightsUrl, 'required', (bytes) => checkSafetensors(bytes, weightsUrl));
  let tokenizer: TokenizerData | undefined;
  for (const name of TOKENIZER_FILES) {
    const url = new URL(name, base).href;
    const bytes = await get.file(name, url, 'optional');
    if (bytes) {
      tokenizer = { kind: name, data: new TextDecoder().decode(bytes), name: url };
      break;
    }
  }
  return { config, weights, tokenizer, source: base.href };
}

/** The URL as a directory (a trailing slash, so relative file names resolve inside it). */
function directoryUrl(u: string | URL): URL {
  const loc = (globalThis as { location?: { href: string } }).location?.href;
  let url: URL;
  try {
    url = new URL(String(u), loc);
  } catch {
    throw new BiomegError('BIOMEG_BAD_ARGUMENT', `'${String(u)}' is not a URL (give an absolute URL or one relative to the page)`);
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/** A safetensors file: u64 header length, JSON header, data; every tensor's end lies in the file. */
export function checkSafetensors(bytes: Uint8Array, source: string): void {
  const bad = (msg: string) => new BiomegError('BIOMEG_BAD_WEIGHTS', `${source}: ${msg}`);
  if (bytes.byteLength < 8) throw bad(`${bytes.byteLength} bytes is too short for a safetensors file (truncated download?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (8 + headerLen > bytes.byteLength) {
    throw bad(`the header claims ${headerLen} bytes but the file has ${bytes.byteLength} (truncated download?)`);
  }
  let header: Record<string, { data_offsets?: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw bad(`the header is not JSON (${(e as Error).message})`);
  }
  let end = 0;
  for (const [name, t] of Object.entries(header)) {
    if (name !== '__metadata__' && Array.isArray(t?.data_offsets)) end = Math.max(end, t.data_offsets[1]);
  }
  const have = bytes.byteLength - 8 - headerLen;
  if (end > have) throw bad(`the tensors end at byte ${end} of the data but only ${have} bytes arrived (truncated download?)`);
}

type Need = 'required' | 'optional';

class Downloader {
  private readonly fetch: typeof fetch;
  private cache: Promise<Cache | null> | null = null;

  constructor(private readonly opts: FromUrlOptions) {
    const f = opts.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new BiomegError('BIOMEG_UNSUPPORTED', 'fromUrl needs fetch (Node >= 18 or a browser)');
    this.fetch = f.bind(globalThis);
  }

  private openCache(): Promise<Cache | null> {
    if (!this.cache) {
      const c = this.opts.cache ?? true;
      const store = (globalThis as { caches?: CacheStorage }).caches;
      this.cache = c === false || !store ? Promise.resolve(null) : store.open(c === true ? 'biomeg-models' : c).catch(() => null);
    }
    return this.cache;
  }

  /** Drop a cached file found to be bad, so the next load downloads it again. */
  forget(url: string): void {
    void this.openCache().then((c) => c?.delete(url));
  }

  async file(name: string, url: string, need: 'required', check?: (b: Uint8Array) => void): Promise<Uint8Array>;
  async file(name: string, url: string, need: Need, check?: (b: Uint8Array) => void): Promise<Uint8Array | null>;
  async file(name: string, url: string, need: Need, check?: (b: Uint8Array) => void): Promise<Uint8Array | null> {
    const cache = await this.openCache();
    const hit = cache ? await cache.match(url) : undefined;
    if (hit) {
      const bytes = new Uint8Array(await hit.arrayBuffer());
      try {
        check?.(bytes);
        this.opts.onProgress?.({ file: name, url, loaded: bytes.byteLength, total: bytes.byteLength, cached: true, done: true });
        return bytes;
      } catch {
        await cache!.delete(url); // a bad cached copy: download again
      }
    }
    let res: Response;
    try {
      res = await this.fetch(url, { signal: this.opts.signal });
    } catch (e) {
      throw new BiomegError('BIOMEG_DOWNLOAD', `${url}: ${(e as Error).message}`);
    }
    if (!res.ok) {
      if (need === 'optional' && (res.status === 404 || res.status === 403)) return null;
      throw new BiomegError('BIOMEG_DOWNLOAD', `${url}: HTTP ${res.status} ${res.statusText}`.trim());
    }
    const bytes = await this.read(name, url, res);
    check?.(bytes);
    if (cache) {
      await cache
        .put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': res.headers.get('content-type') ?? '' } }))
        .catch(() => undefined); // quota exceeded: still usable, just not cached
    }
    return bytes;
  }

  /** The body with progress; a Content-Length the bytes do not match is a truncated download. */
  private async read(name: string, url: string, res: Response): Promise<Uint8Array> {
    const header = res.headers.get('content-length');
    // A compressed body's length differs from the header's (which counts encoded bytes).
    const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
    const total = header !== null && !encoded ? Number(header) : null;
    const report = (loaded: number, done: boolean) => this.opts.onProgress?.({ file: name, url, loaded, total, cached: false, done });
    const chunks: Uint8Array[] = [];
    let loaded = 0;
    if (res.body) {
      const reader = res.body.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks.push(value);
          loaded += value.byteLength;
          report(loaded, false);
        }
      } catch (e) {
        throw new BiomegError('BIOMEG_DOWNLOAD', `${url}: download failed after ${loaded} bytes (${(e as Error).message})`);
      }
    } else {
      const b = new Uint8Array(await res.arrayBuffer());
      chunks.push(b);
      loaded = b.byteLength;
    }
    if (total !== null && loaded !== total) {
      throw new BiomegError('BIOMEG_DOWNLOAD', `${url}: truncated download: ${loaded} of ${total} bytes (Content-Length)`);
    }
    report(loaded, true);
    if (chunks.length === 1) return chunks[0];
    const out = new Uint8Array(loaded);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}
