// `biomeg data fetch`: download the public datasets into the data directory, streaming,
// with sha256 verification, a progress line on stderr and an atomic rename (a file is
// either absent or complete and verified). A mirror base URL (option or $BIOMEG_DATA_MIRROR)
// replaces every canonical URL by `<mirror>/<dest>`; the tests serve fixtures that way.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { convertChemprot, chemprotSplitFiles, writeChemprotTsv } from './chemprot-convert.js';
import { BiomegError } from './errors.js';
import { CHEMPROT_ORIGINAL } from './registry.js';
import { DATA_SOURCES, DERIVED_SHA256, type DataSource } from './sources.js';

export interface Progress {
  dest: string;
  received: number;
  total?: number;
}

export interface FetchOptions {
  dataDir: string;
  sources?: readonly DataSource[];
  /** Only these groups (ner, chemprot, squad) or destinations. Default: all. */
  only?: readonly string[];
  mirror?: string;
  /** Download again even when a verified copy exists. */
  force?: boolean;
  onProgress?: (p: Progress) => void;
  /** Build chemprot/blue-style-rebuilt/*.tsv from the original ChemProt files. Default true. */
  deriveChemprot?: boolean;
  timeoutMs?: number;
}

export interface FetchedFile {
  dest: string;
  status: 'downloaded' | 'present' | 'derived';
  bytes: number;
  /** Derived files: whether the result has the sha256 of the reference copy. */
  verified?: boolean;
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h);
  return h.digest('hex');
}

function get(url: string, timeoutMs: number, redirects = 5): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : url.startsWith('http:') ? http : null;
    if (!mod) return reject(new BiomegError('BIOMEG_USAGE', `unsupported URL: ${url}`));
    const req = mod.get(url, { headers: { 'user-agent': 'biomeg-data-fetch' } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects <= 0) return reject(new BiomegError('BIOMEG_DOWNLOAD', `too many redirects: ${url}`));
        return resolve(get(new URL(res.headers.location, url).toString(), timeoutMs, redirects - 1));
      }
      if (status !== 200) {
        res.resume();
        return reject(new BiomegError('BIOMEG_DOWNLOAD', `HTTP ${status} for ${url}`));
      }
      resolve(res);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new BiomegError('BIOMEG_DOWNLOAD', `no answer within ${timeoutMs / 1000} s: ${url}`)));
    req.on('error', (e) => reject(e instanceof BiomegError ? e : new BiomegError('BIOMEG_DOWNLOAD', `${e.message}: ${url}`)));
  });
}

/** Download url to file, verifying sha256 before the file appears under its final name. */
export async function downloadFile(
  url: string,
  file: string,
  sha256: string,
  opts: { onProgress?: (received: number, total?: number) => void; timeoutMs?: number } = {},
): Promise<number> {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.part-${process.pid}`;
  const hash = createHash('sha256');
  let received = 0;
  try {
    const res = await get(url, opts.timeoutMs ?? 60_000);
    const len = Number(res.headers['content-length']);
    const total = Number.isFinite(len) && len > 0 ? len : undefined;
    res.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      received += chunk.length;
      opts.onProgress?.(received, total);
    });
    await pipeline(res, createWriteStream(tmp));
    const got = hash.digest('hex');
    if (got !== sha256) throw new BiomegError('BIOMEG_CHECKSUM', `sha256 mismatch for ${url}: expected ${sha256}, got ${got}`, { file });
    renameSync(tmp, file);
    return received;
  } finally {
    rmSync(tmp, { force: true });
  }
}

export function mirrorUrl(mirror: string, dest: string): string {
  return `${mirror.replace(/\/+$/, '')}/${dest.split('/').map(encodeURIComponent).join('/')}`;
}

export async function fetchDatasets(opts: FetchOptions): Promise<FetchedFile[]> {
  const all = opts.sources ?? DATA_SOURCES;
  const only = opts.only?.length ? opts.only : undefined;
  const chosen = only ? all.filter((s) => only.includes(s.group) || only.includes(s.dest)) : all;
  if (only && !chosen.length)
    throw new BiomegError(
      'BIOMEG_USAGE',
      `nothing to fetch for: ${only.join(', ')} (groups: ${[...new Set(all.map((s) => s.group))].join(', ')})`,
    );
  const mirror = opts.mirror ?? process.env.BIOMEG_DATA_MIRROR;
  const out: FetchedFile[] = [];
  for (const s of chosen) {
    const file = path.join(opts.dataDir, s.dest);
    if (!opts.force && existsSync(file) && (await sha256File(file)) === s.sha256) {
      out.push({ dest: s.dest, status: 'present', bytes: s.bytes });
      continue;
    }
    const url = mirror ? mirrorUrl(mirror, s.dest) : s.url;
    const bytes = await downloadFile(url, file, s.sha256, {
      timeoutMs: opts.timeoutMs,
      onProgress: (received, total) => opts.onProgress?.({ dest: s.dest, received, total: total ?? s.bytes }),
    });
    out.push({ dest: s.dest, status: 'downloaded', bytes });
  }
  if (opts.deriveChemprot ?? true) out.push(...(await deriveChemprot(opts.dataDir, opts.force ?? false)));
  return out;
}

/** Write chemprot/blue-style-rebuilt/{train,dev,test}.tsv where the originals are present. */
export async function deriveChemprot(dataDir: string, force: boolean): Promise<FetchedFile[]> {
  const out: FetchedFile[] = [];
  for (const [split, dir] of Object.entries(CHEMPROT_ORIGINAL)) {
    const src = path.join(dataDir, dir);
    const dest = `chemprot/blue-style-rebuilt/${split}.tsv`;
    const file = path.join(dataDir, dest);
    if (!existsSync(src) || (existsSync(file) && !force)) continue;
    const { rows } = convertChemprot(chemprotSplitFiles(src));
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.part-${process.pid}`;
    writeChemprotTsv(tmp, rows);
    renameSync(tmp, file);
    out.push({ dest, status: 'derived', bytes: statSync(file).size, verified: (await sha256File(file)) === DERIVED_SHA256[dest] });
  }
  return out;
}
