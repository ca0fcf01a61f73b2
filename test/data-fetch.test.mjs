// `biomeg data fetch` against a loopback HTTP server serving fixture files (no real network:
// every run passes its own source table or a mirror on 127.0.0.1).
import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fetchDatasets } from '../dist/data/index.js';

const FILES = {
  'ner/gold.tsv': 'test/fixtures/eval/files/gold.tsv',
  'chemprot/original-biocreative6/chemprot_training/tiny_abstracts.tsv': 'test/fixtures/data/chemprot/tiny_abstracts.tsv',
  'chemprot/original-biocreative6/chemprot_training/tiny_entities.tsv': 'test/fixtures/data/chemprot/tiny_entities.tsv',
  'chemprot/original-biocreative6/chemprot_training/tiny_gold_standard.tsv': 'test/fixtures/data/chemprot/tiny_gold_standard.tsv',
};
const sha = (f) => createHash('sha256').update(readFileSync(f)).digest('hex');

let server;
let base;
const hits = [];
test.before(async () => {
  server = http.createServer((req, res) => {
    hits.push(req.url);
    const key = decodeURIComponent(req.url.replace(/^\/mirror\//, '').replace(/^\//, ''));
    if (key === 'redirect') {
      res.writeHead(302, { location: '/mirror/ner/gold.tsv' });
      return res.end();
    }
    const f = FILES[key];
    if (!f) {
      res.writeHead(404);
      return res.end('not found');
    }
    const body = readFileSync(f);
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
});
test.after.always(() => server?.close());

const sources = (urlOf) =>
  Object.entries(FILES).map(([dest, f]) => ({
    dest,
    url: urlOf(dest),
    sha256: sha(f),
    bytes: readFileSync(f).length,
    group: dest.split('/')[0],
  }));
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'biomeg-fetch-'));

test.serial('API: downloads, verifies, derives ChemProt, skips verified copies', async (t) => {
  const dir = tmp();
  const progress = [];
  const out = await fetchDatasets({ dataDir: dir, sources: sources((d) => `${base}/${d}`), onProgress: (p) => progress.push(p) });
  t.deepEqual(
    out.map((f) => f.status),
    ['downloaded', 'downloaded', 'downloaded', 'downloaded', 'derived'],
  );
  t.true(readFileSync(path.join(dir, 'ner/gold.tsv')).equals(readFileSync(FILES['ner/gold.tsv'])));
  const derived = readFileSync(path.join(dir, 'chemprot/blue-style-rebuilt/train.tsv'), 'utf8');
  t.regex(derived, /^index\tsentence\tlabel\n100\.T1\.T2\t@CHEMICAL\$ inhibits @GENE\$ in cells\.\tCPR:4\n/);
  t.true(progress.some((p) => p.received === p.total));
  const again = await fetchDatasets({ dataDir: dir, sources: sources((d) => `${base}/${d}`), only: ['ner'] });
  t.deepEqual(
    again.map((f) => f.status),
    ['present'],
  );
});

test.serial('API: a checksum mismatch leaves no file behind', async (t) => {
  const dir = tmp();
  const bad = sources((d) => `${base}/${d}`)
    .slice(0, 1)
    .map((s) => ({ ...s, sha256: '0'.repeat(64) }));
  const e = await t.throwsAsync(fetchDatasets({ dataDir: dir, sources: bad }));
  t.is(e.code, 'BIOMEG_CHECKSUM');
  t.false(existsSync(path.join(dir, 'ner/gold.tsv')));
  t.deepEqual(readdirSync(path.join(dir, 'ner')), [], 'no partial file');
});

test.serial('API: HTTP errors and redirects', async (t) => {
  const dir = tmp();
  const s = sources((d) => `${base}/${d}`)[0];
  const e = await t.throwsAsync(fetchDatasets({ dataDir: dir, sources: [{ ...s, url: `${base}/missing` }] }));
  t.is(e.code, 'BIOMEG_DOWNLOAD');
  t.regex(e.message, /HTTP 404/);
  const r = await fetchDatasets({ dataDir: dir, sources: [{ ...s, url: `${base}/redirect` }] });
  t.is(r[0].status, 'downloaded');
});

const cli = (args, env) =>
  new Promise((resolve) => {
    // Async spawn: the HTTP server lives in this process and must keep answering.
    const p = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import('./dist/commands/data.js').then(m=>m.main(process.argv.slice(1))).then(c=>process.exit(c),e=>{console.error(e.message+' ['+e.code+']');process.exit(1)})`,
        '--',
        ...args,
      ],
      {
        env: { ...process.env, ...env },
      },
    );
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });

test.serial('CLI: data fetch through a mirror (BIOMEG_DATA_MIRROR), progress on stderr', async (t) => {
  const dir = tmp();
  const table = path.join(dir, 'sources.json');
  // canonical URLs that must NOT be contacted: the mirror replaces them
  writeFileSync(table, JSON.stringify(sources((d) => `https://example.invalid/${d}`)));
  hits.length = 0;
  const r = await cli(['fetch', 'ner', '--sources', table, '--data', path.join(dir, 'data')], { BIOMEG_DATA_MIRROR: `${base}/mirror` });
  t.is(r.code, 0, r.stderr);
  t.deepEqual(hits, ['/mirror/ner/gold.tsv']);
  t.regex(r.stdout, /downloaded\s+ner\/gold\.tsv/);
  t.regex(r.stderr, /ner\/gold\.tsv\s+0\.0\/0\.0 MB 100%/);
  const bad = await cli(['fetch', 'nothing', '--sources', table, '--data', dir], { BIOMEG_DATA_MIRROR: `${base}/mirror` });
  t.is(bad.code, 1);
  t.regex(bad.stderr, /nothing to fetch for: nothing/);
});

test('CLI: data --help and where', async (t) => {
  const h = await cli(['--help']);
  t.is(h.code, 0);
  t.regex(h.stdout, /fetch \[GROUP\|FILE \.\.\.\]/);
  const w = await cli(['where', '--json'], { BIOMEG_DATA: '/some/where' });
  t.deepEqual(JSON.parse(w.stdout), { dir: '/some/where', source: 'env' });
});
