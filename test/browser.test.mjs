// The browser build in real headless Chromium (test/helpers/browser.mjs): the demo page
// (examples/web) loads the tiny committed NER model by URL into a Web Worker, and its entities and
// offsets equal Node's native backend on the same model, for a text with non-BMP characters and a
// 20k-character document; the break-out view equals `biomeg vocab show`; bad model URLs show an
// error and the page keeps working; fromUrl's Cache API and MiniLM encode parity. Screenshots go
// to test-output/browser/ (not committed).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BiomegModel } from '../dist/index.js';
import { startStaticServer } from '../dist/node/static-server.js';
import { SHOTS, browserMissing, browserOrSkip, launchChromium, newPage } from './helpers/browser.mjs';
import { needOrSkip } from './helpers/backends.mjs';

const MODEL_DIR = path.resolve('test/fixtures/models/tiny-bert-ner');
const MINILM = process.env.BIOMEG_MINILM_DIR ?? path.resolve('.cache/models/all-MiniLM-L6-v2');
const VOCABS = process.env.BIOMEG_VOCABS;
const NON_BMP =
  'The patient 🧬 was treated with aspirin (5 mg) in vitro; BRCA1 mutation 𝛼-cafe naïve 🧬🧬 risk of cancer, which binds DNA.';

/** A deterministic ~20k-character document: biomedical-ish words, punctuation, accents and
 *  astral-plane characters (surrogate pairs), so offsets are tested far from the start. */
function longDocument(chars = 20000) {
  const words = [
    'the',
    'patient',
    'was',
    'treated',
    'with',
    'aspirin',
    'protein',
    'gene',
    'cell',
    'cancer',
    'tumor',
    'dose',
    'mg',
    'DNA',
    'binds',
    'BRCA1',
    'mutation',
    'risk',
    'expression',
    'café',
    'naïve',
    '🧬',
    '𝛼-helix',
    'in',
    'vitro',
    '(5',
    'mg)',
    'of',
    'and',
    'tamoxifen',
  ];
  let s = 1234567;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) % words.length;
  let out = '';
  while (out.length < chars) out += words[next()] + (next() % 7 === 0 ? '. ' : next() % 5 === 0 ? ', ' : ' ');
  return out.slice(0, chars);
}

/** Entities compared exactly on label/offsets/text, scores to 1e-4 (wasm vs native f32 sums). */
function assertSameEntities(t, got, want, what) {
  t.is(got.length, want.length, `${what}: entity count`);
  t.deepEqual(
    got.map(({ label, start, end, text }) => ({ label, start, end, text })),
    want.map(({ label, start, end, text }) => ({ label, start, end, text })),
    `${what}: labels and offsets`,
  );
  const worst = Math.max(0, ...got.map((e, i) => Math.abs(e.score - want[i].score)));
  t.true(worst < 1e-4, `${what}: scores differ by ${worst}`);
}

/** Bad model folders, made here (not committed): each must give a clear error. */
function makeBadModels() {
  const dir = mkdtempSync(path.join(tmpdir(), 'biomeg-bad-web-'));
  const good = (f) => readFileSync(path.join(MODEL_DIR, f));
  mkdirSync(path.join(dir, 'truncated'));
  writeFileSync(path.join(dir, 'truncated', 'config.json'), good('config.json'));
  writeFileSync(path.join(dir, 'truncated', 'model.safetensors'), good('model.safetensors').subarray(0, 60000));
  mkdirSync(path.join(dir, 'notjson'));
  writeFileSync(path.join(dir, 'notjson', 'config.json'), '<html>this is not JSON</html>\n');
  copyFileSync(path.join(MODEL_DIR, 'model.safetensors'), path.join(dir, 'notjson', 'model.safetensors'));
  // ~2.9e9 parameters (11 GB in fp32): refused from config.json, before the weights download.
  mkdirSync(path.join(dir, 'huge'));
  const cfg = JSON.parse(good('config.json'));
  Object.assign(cfg, {
    vocab_size: 50176,
    hidden_size: 2560,
    num_hidden_layers: 36,
    num_attention_heads: 40,
    intermediate_size: 10240,
    max_position_embeddings: 512,
  });
  writeFileSync(path.join(dir, 'huge', 'config.json'), JSON.stringify(cfg));
  // Not bad, just a learned vocabulary whose meta.json says cased (detection would say uncased).
  mkdirSync(path.join(dir, 'learned-cased'));
  writeFileSync(path.join(dir, 'learned-cased', 'vocab.txt'), good('vocab.txt'));
  writeFileSync(path.join(dir, 'learned-cased', 'meta.json'), JSON.stringify({ lowercase: false, file: 'vocab.txt' }));
  return dir;
}

/** A server whose model.safetensors announces its full Content-Length but sends half of it. */
function startLyingServer() {
  const config = readFileSync(path.join(MODEL_DIR, 'config.json'));
  const weights = readFileSync(path.join(MODEL_DIR, 'model.safetensors'));
  const server = createServer((req, res) => {
    const cors = { 'access-control-allow-origin': '*' };
    if (req.url.endsWith('/config.json')) return res.writeHead(200, { ...cors, 'content-type': 'application/json' }).end(config);
    if (req.url.endsWith('/model.safetensors')) {
      res.writeHead(200, { ...cors, 'content-type': 'application/octet-stream', 'content-length': String(weights.length) });
      res.write(weights.subarray(0, weights.length >> 1));
      setTimeout(() => res.socket.destroy(), 50);
      return;
    }
    res.writeHead(404, cors).end();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` })),
  );
}

const ctx = {};

test.before(async () => {
  if (browserMissing()) return;
  ctx.badDir = makeBadModels();
  const mounts = { '/bad': ctx.badDir };
  if (VOCABS && existsSync(VOCABS)) mounts['/vocab'] = VOCABS;
  ctx.site = await startStaticServer({ root: path.resolve('.'), mounts });
  ctx.lying = await startLyingServer();
  ctx.browser = await launchChromium();
  ctx.page = await newPage(ctx.browser);
  ctx.native = await BiomegModel.load(MODEL_DIR, { backend: 'native' });
});

test.after.always(async () => {
  await ctx.browser?.close();
  ctx.site?.server.close();
  ctx.lying?.server.close();
});

const demoUrl = () =>
  `${ctx.site.url}/examples/web/?model=${encodeURIComponent('/test/fixtures/models/tiny-bert-ner/')}` +
  (VOCABS && existsSync(path.join(VOCABS, 'bert-base-cased'))
    ? `&vocab=${encodeURIComponent('bert-base-cased|/vocab/bert-base-cased/')}`
    : '');

async function runInPage(page, text) {
  await page.fill('#text', text);
  await page.evaluate(() => {
    window.biomegDemo.lastEntities = null;
  });
  const ticks0 = await page.evaluate(() => window.biomegDemo.ticks);
  await page.click('#run');
  await page.waitForFunction(() => window.biomegDemo.lastEntities !== null || window.biomegDemo.lastError !== null, null, {
    timeout: 120000,
  });
  const r = await page.evaluate(() => ({
    entities: window.biomegDemo.lastEntities,
    error: window.biomegDemo.lastError,
    stats: window.biomegDemo.lastStats,
    maxGapMs: window.biomegDemo.maxGapMs,
    ticks: window.biomegDemo.ticks,
  }));
  return { ...r, ticks: r.ticks - ticks0 };
}

test.serial('the demo page loads the tiny NER model by URL in a Web Worker', async (t) => {
  if (!browserOrSkip(t)) return;
  const { page } = ctx;
  await page.goto(demoUrl());
  await page.waitForFunction(() => window.biomegDemo?.model !== null || window.biomegDemo?.lastError !== null, null, { timeout: 60000 });
  const state = await page.evaluate(() => ({ model: window.biomegDemo.model, error: window.biomegDemo.lastError }));
  t.is(state.error, null);
  t.deepEqual(state.model.labels, ['O', 'B-Chemical', 'I-Chemical', 'B-Disease', 'I-Disease']);
  t.is(state.model.task, 'token');
  t.is(state.model.numParams, ctx.native.numParams);
  t.regex(await page.textContent('#status'), /loaded .*tiny-bert-ner/);
  await page.screenshot({ path: path.join(SHOTS, '1-loaded.png'), fullPage: true });
});

test.serial('NER in Chromium (wasm, worker) equals Node native: non-BMP text', async (t) => {
  if (!browserOrSkip(t)) return;
  const r = await runInPage(ctx.page, NON_BMP);
  t.is(r.error, null);
  const [want] = await ctx.native.ner([NON_BMP]);
  t.true(want.length >= 3, `the fixture predicts entities (${want.length})`);
  t.true(
    want.some((e) => e.start > NON_BMP.indexOf('🧬')),
    'entities after a surrogate pair',
  );
  assertSameEntities(t, r.entities, want, 'non-BMP text');
  for (const e of r.entities) t.is(NON_BMP.slice(e.start, e.end), e.text);
  t.true(r.stats.forwardMs.length >= 1);
  await ctx.page.screenshot({ path: path.join(SHOTS, '2-ner-non-bmp.png'), fullPage: true });
});

test.serial('NER on a 20k-character document equals Node native; the page stays responsive', async (t) => {
  if (!browserOrSkip(t)) return;
  const doc = longDocument();
  t.is(doc.length, 20000);
  const r = await runInPage(ctx.page, doc);
  t.is(r.error, null);
  const [want] = await ctx.native.ner([doc]);
  t.true(want.length > 100, `entities over the whole document (${want.length})`);
  t.true(want.at(-1).end > 19000, 'entities up to the end: windowed, not truncated');
  assertSameEntities(t, r.entities, want, '20k document');
  t.true(r.stats.forwardMs.length > 10, `${r.stats.forwardMs.length} forward passes (windows of 64 tokens)`);
  // The heartbeat (setInterval 50 ms) kept ticking on the main thread during the run.
  t.true(r.ticks >= Math.floor(r.stats.ms / 50) / 2, `heartbeat ticked ${r.ticks} times in ${r.stats.ms.toFixed(0)} ms`);
  t.true(r.maxGapMs < 500, `longest main-thread gap ${r.maxGapMs.toFixed(0)} ms`);
  t.log(
    `20k chars: ${r.entities.length} entities, ${r.stats.forwardMs.length} forwards, ${r.stats.ms.toFixed(0)} ms in the worker; longest main-thread gap ${r.maxGapMs.toFixed(0)} ms`,
  );
  await ctx.page.screenshot({ path: path.join(SHOTS, '3-ner-20k.png') });
});

async function breakoutInPage(page, vocabUrl, text) {
  await page.fill('#text', text);
  await page.fill('#vocab-url', vocabUrl);
  await page.evaluate(() => {
    window.biomegDemo.lastBreakout = null;
  });
  await page.click('#show-breakout');
  await page.waitForFunction(() => window.biomegDemo.lastBreakout !== null || window.biomegDemo.lastError !== null, null, {
    timeout: 60000,
  });
  return page.evaluate(() => ({ breakout: window.biomegDemo.lastBreakout, error: window.biomegDemo.lastError }));
}

function vocabShow(vocabPath, words) {
  const out = execFileSync(
    process.execPath,
    ['dist/cli.js', 'vocab', 'show', '--json', '--backend', 'native', '--vocab', vocabPath, ...words],
    { encoding: 'utf8' },
  );
  return JSON.parse(out).results[0];
}

const BREAKOUT_TEXT = 'Naloxone reverses the antihypertensive effect of clonidine 🧬 in BRCA1-mutated café patients.';

test.serial('the break-out view equals `biomeg vocab show` (the model vocabulary)', async (t) => {
  if (!browserOrSkip(t)) return;
  const r = await breakoutInPage(ctx.page, '/test/fixtures/models/tiny-bert-ner/vocab.txt', BREAKOUT_TEXT);
  t.is(r.error, null);
  const want = vocabShow(path.join(MODEL_DIR, 'vocab.txt'), BREAKOUT_TEXT.split(/\s+/));
  t.is(r.breakout.lowercase, want.lowercase);
  t.deepEqual(r.breakout.examples, want.examples);
  t.true(
    r.breakout.examples.some((e) => e.tokens.length > 3),
    'some words break into many pieces',
  );
  await ctx.page.locator('#breakout-panel').screenshot({ path: path.join(SHOTS, '4-breakout-model-vocab.png') });
});

test.serial("the break-out view reads a learned vocabulary's casing from meta.json, as `biomeg vocab show` does", async (t) => {
  if (!browserOrSkip(t)) return;
  const r = await breakoutInPage(ctx.page, '/bad/learned-cased/', BREAKOUT_TEXT);
  t.is(r.error, null);
  const want = vocabShow(path.join(ctx.badDir, 'learned-cased'), BREAKOUT_TEXT.split(/\s+/));
  t.false(want.lowercase);
  t.is(r.breakout.lowercase, false);
  t.is(r.breakout.vocab, 'learned-cased');
  t.deepEqual(r.breakout.examples, want.examples);
});

test.serial('the break-out view equals `biomeg vocab show` (bert-base-cased, scibert)', async (t) => {
  if (!browserOrSkip(t)) return;
  if (!needOrSkip(t, VOCABS && existsSync(path.join(VOCABS, 'bert-base-cased')), `BIOMEG_VOCABS with bert-base-cased not set (${VOCABS})`))
    return;
  for (const name of ['bert-base-cased', 'scibert-scivocab-uncased']) {
    if (!existsSync(path.join(VOCABS, name))) continue;
    const r = await breakoutInPage(ctx.page, `/vocab/${name}/`, BREAKOUT_TEXT);
    t.is(r.error, null, name);
    const want = vocabShow(path.join(VOCABS, name), BREAKOUT_TEXT.split(/\s+/));
    t.is(r.breakout.vocab, want.vocab);
    t.is(r.breakout.lowercase, want.lowercase, `${name} casing`);
    t.deepEqual(r.breakout.examples, want.examples, name);
    await ctx.page.locator('#breakout-panel').screenshot({ path: path.join(SHOTS, `5-breakout-${name}.png`) });
  }
});

test.serial('bad model URLs: a clear error in the page, and the page keeps working', async (t) => {
  if (!browserOrSkip(t)) return;
  const { page } = ctx;
  const cases = [
    ['/bad/missing/', 'BIOMEG_DOWNLOAD', /missing\/config\.json: HTTP 404/],
    ['/bad/truncated/', 'BIOMEG_BAD_WEIGHTS', /truncated\/model\.safetensors: .*only 5\d{4} bytes arrived \(truncated download\?\)/],
    [`${ctx.lying.url}/m/`, 'BIOMEG_DOWNLOAD', /m\/model\.safetensors: .*(truncated download|download failed after)/],
    ['/bad/notjson/', 'BIOMEG_BAD_CONFIG', /notjson\/config\.json: config\.json is not valid JSON/],
    ['/bad/huge/', 'BIOMEG_TOO_BIG', /huge\/config\.json: the model has about \d+M parameters .*wasm32/],
  ];
  const before = await runInPage(page, NON_BMP);
  for (const [url, code, message] of cases) {
    await page.fill('#model-url', url);
    await page.evaluate(() => {
      window.biomegDemo.lastError = null;
    });
    await page.click('#load');
    await page.waitForFunction(() => window.biomegDemo.lastError !== null, null, { timeout: 60000 });
    const err = await page.evaluate(() => window.biomegDemo.lastError);
    t.is(err.code, code, url);
    t.regex(err.message, message, url);
    t.true(await page.isVisible('#error'));
    t.regex(await page.textContent('#error'), new RegExp(code));
    if (code === 'BIOMEG_TOO_BIG') await page.screenshot({ path: path.join(SHOTS, '6-error-too-big.png'), fullPage: true });
    // The previously loaded model still answers, with the same entities.
    const again = await runInPage(page, NON_BMP);
    t.is(again.error, null, `page works after ${url}`);
    t.deepEqual(again.entities, before.entities);
  }
  // And a good model loads again after the failures.
  await page.fill('#model-url', '/test/fixtures/models/tiny-bert-ner/');
  await page.evaluate(() => {
    window.biomegDemo.model = null;
  });
  await page.click('#load');
  await page.waitForFunction(() => window.biomegDemo.model !== null, null, { timeout: 60000 });
  t.deepEqual((await runInPage(page, NON_BMP)).entities, before.entities);
  const unexpected = page.problems.filter((p) => !/Failed to load resource|ERR_CONTENT_LENGTH_MISMATCH/.test(p));
  t.deepEqual(unexpected, [], 'no uncaught errors in the page');
});

test.serial('fromUrl on the main thread: the same errors from the API; the Cache API serves a second load', async (t) => {
  if (!browserOrSkip(t)) return;
  const page = await newPage(ctx.browser);
  await page.goto(`${ctx.site.url}/examples/web/?autoload=0`);
  const r = await page.evaluate(async () => {
    const { BiomegModel } = await import('/dist/web/biomeg.js');
    const err = (p) =>
      p.then(
        () => null,
        (e) => ({ code: e.code, message: e.message, isBiomeg: e.name === 'BiomegError' }),
      );
    await caches.delete('biomeg-models');
    const progress = [];
    const m1 = await BiomegModel.fromUrl('/test/fixtures/models/tiny-bert-ner/', { onProgress: (p) => progress.push(p) });
    const second = [];
    const m2 = await BiomegModel.fromUrl('/test/fixtures/models/tiny-bert-ner', { onProgress: (p) => second.push(p) });
    const text = 'aspirin binds DNA 🧬 in vitro';
    return {
      backend: m1.backend,
      first: progress.filter((p) => p.done).map((p) => ({ file: p.file, cached: p.cached, loaded: p.loaded, total: p.total })),
      partial: progress.some((p) => !p.done && p.loaded < (p.total ?? 0)),
      second: second.filter((p) => p.done).map((p) => ({ file: p.file, cached: p.cached })),
      same: JSON.stringify(await m1.ner([text])) === JSON.stringify(await m2.ner([text])),
      missing: await err(BiomegModel.fromUrl('/bad/missing/')),
      truncated: await err(BiomegModel.fromUrl('/bad/truncated/')),
      notjson: await err(BiomegModel.fromUrl('/bad/notjson/')),
      huge: await err(BiomegModel.fromUrl('/bad/huge/')),
    };
  });
  t.is(r.backend, 'wasm');
  t.deepEqual(
    r.first.map((p) => [p.file, p.cached]),
    [
      ['config.json', false],
      ['model.safetensors', false],
      ['vocab.txt', false],
    ],
  );
  const size = readFileSync(path.join(MODEL_DIR, 'model.safetensors')).length;
  t.deepEqual(r.first[1], { file: 'model.safetensors', cached: false, loaded: size, total: size });
  t.deepEqual(
    r.second.map((p) => [p.file, p.cached]),
    [
      ['config.json', true],
      ['model.safetensors', true],
      ['vocab.txt', true],
    ],
    'second load from the Cache API',
  );
  t.true(r.same);
  t.is(r.missing.code, 'BIOMEG_DOWNLOAD');
  t.true(r.missing.isBiomeg);
  t.is(r.truncated.code, 'BIOMEG_BAD_WEIGHTS');
  t.is(r.notjson.code, 'BIOMEG_BAD_CONFIG');
  t.is(r.huge.code, 'BIOMEG_TOO_BIG');
  await page.close();
});

test.serial('MiniLM (real weights) encode in Chromium equals Node native', async (t) => {
  if (!browserOrSkip(t)) return;
  if (!needOrSkip(t, existsSync(path.join(MINILM, 'model.safetensors')), `${MINILM} missing (scripts/fetch-minilm.sh fetches it)`)) return;
  const rel = path.relative(path.resolve('.'), MINILM);
  if (!needOrSkip(t, !rel.startsWith('..'), `${MINILM} lies outside the served folder`)) return;
  const page = await newPage(ctx.browser);
  await page.goto(`${ctx.site.url}/examples/web/?autoload=0`);
  const sentence = 'Aspirin (acetylsalicylic acid) inhibits cyclooxygenase 🧬 and reduces the risk of myocardial infarction.';
  const r = await page.evaluate(
    async ({ url, sentence }) => {
      const { BiomegModel } = await import('/dist/web/biomeg.js');
      const m = await BiomegModel.fromUrl(url, { cache: false });
      const [e] = await m.encode([sentence]);
      return { tokens: e.tokens, offsets: e.offsets, hidden: Array.from(e.hidden) };
    },
    { url: `/${rel.split(path.sep).join('/')}/`, sentence },
  );
  const native = await BiomegModel.load(MINILM, { backend: 'native' });
  const [want] = await native.encode([sentence]);
  t.deepEqual(r.tokens, want.tokens);
  t.deepEqual(r.offsets, want.offsets);
  let worst = 0;
  for (let i = 0; i < want.hidden.length; i++) worst = Math.max(worst, Math.abs(r.hidden[i] - want.hidden[i]));
  t.true(worst < 1e-4, `max |wasm - native| = ${worst}`);
  await page.close();
});
