#!/usr/bin/env node
// Browser bench: biomeg's wasm build in Node and in headless Chromium, side by side with
// onnxruntime-web's wasm backend (the engine under transformers.js) on the same shapes in the
// same browser. Medians of several runs (each after one warm-up):
//   - forward of bert-base (random weights from its config) on a batch of 8 x 128 tokens
//   - all-MiniLM-L6-v2 (real weights) on one sentence
//   - time to first result on a cold page load (fresh browser context: nothing cached), MiniLM
//
//   node bench/browser.mjs [--runs 5] [--bert-runs 3] [--no-ort] [--out reports/browser-bench.json]
//
// Needs: dist/ and dist/web built, Debian chromium + playwright-core (npm), MiniLM in
// .cache/models (scripts/fetch-minilm.sh). For onnxruntime-web: npm (installs onnxruntime-web
// into .cache/bench-web with --ignore-scripts) and /opt/biomeg-py (torch + transformers) for the
// ONNX export (scripts/export_onnx.py; the `onnx` package goes to .cache/pyonnx). Missing pieces
// are skipped with a message. ORT runs single-threaded, as biomeg's wasm build does (the page is
// not cross-origin isolated, so neither could use wasm threads).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(root);
const { values: o } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'bert-runs': { type: 'string', default: '3' },
    'no-ort': { type: 'boolean' },
    out: { type: 'string', default: 'reports/browser-bench.json' },
    python: { type: 'string', default: process.env.BIOMEG_PYTHON ?? '/opt/biomeg-py/bin/python' },
    'ort-version': { type: 'string', default: '1.30.0' },
  },
});
const RUNS = Number(o.runs);
const BERT_RUNS = Number(o['bert-runs']);
const MINILM = path.join(root, '.cache/models/all-MiniLM-L6-v2');
const SENTENCE = 'Aspirin (acetylsalicylic acid) irreversibly inhibits cyclooxygenase and reduces the risk of myocardial infarction.';
const ORT_DIR = path.join(root, '.cache/bench-web/node_modules/onnxruntime-web/dist');
const ONNX_DIR = path.join(root, '.cache/onnx');

const { BiomegModel, presetConfig } = await import(path.join(root, 'dist/index.js'));
const { startStaticServer } = await import(path.join(root, 'dist/node/static-server.js'));
const { browserMissing, launchChromium } = await import(path.join(root, 'test/helpers/browser.mjs'));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const results = [];
function record(row) {
  results.push(row);
  const ms = row.runsMs
    ? `${median(row.runsMs).toFixed(1).padStart(9)} ms  (runs: ${row.runsMs.map((x) => x.toFixed(0)).join(', ')})`
    : `skipped: ${row.skipped}`;
  console.log(`${row.where.padEnd(9)} ${row.engine.padEnd(18)} ${row.what.padEnd(34)} ${ms}`);
}

/** Deterministic ids for bert-base 8 x 128 ([CLS] ... [SEP]), the same in every engine. */
function bertIds(vocab) {
  const ids = new Uint32Array(8 * 128);
  let s = 42;
  for (let i = 0; i < ids.length; i++) ids[i] = 1000 + ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % (vocab - 1000));
  for (let b = 0; b < 8; b++) {
    ids[b * 128] = 101;
    ids[b * 128 + 127] = 102;
  }
  return ids;
}

// ---- ONNX models and onnxruntime-web (optional) -------------------------------------------
function prepareOrt() {
  if (o['no-ort']) return '--no-ort given';
  try {
    if (!existsSync(path.join(ORT_DIR, 'ort.wasm.min.mjs'))) {
      console.log(`installing onnxruntime-web@${o['ort-version']} into .cache/bench-web (--ignore-scripts)`);
      mkdirSync('.cache/bench-web', { recursive: true });
      if (!existsSync('.cache/bench-web/package.json')) writeFileSync('.cache/bench-web/package.json', '{"private":true}\n');
      execFileSync(
        'npm',
        ['install', `onnxruntime-web@${o['ort-version']}`, '--ignore-scripts', '--no-audit', '--no-fund', '--prefix', '.cache/bench-web'],
        { stdio: 'inherit' },
      );
    }
  } catch (e) {
    return `cannot install onnxruntime-web: ${e.message}`;
  }
  if (!existsSync(o.python)) return `${o.python} not found (torch + transformers export the ONNX models)`;
  const env = { ...process.env, HF_HUB_OFFLINE: '1', PYTHONPATH: path.join(root, '.cache/pyonnx') };
  try {
    execFileSync(o.python, ['-c', 'import onnx'], { env, stdio: 'ignore' });
  } catch {
    console.log('installing the onnx Python package into .cache/pyonnx (pip --target)');
    try {
      execFileSync(o.python, ['-m', 'pip', 'install', '-q', '--target', '.cache/pyonnx', 'onnx'], { stdio: 'inherit' });
    } catch (e) {
      return `cannot install the onnx package: ${e.message}`;
    }
  }
  mkdirSync(ONNX_DIR, { recursive: true });
  const exports = [['bert-base.onnx', ['--config', '.cache/onnx/bert-base.config.json']]];
  if (existsSync(MINILM)) exports.push(['minilm.onnx', ['--model-dir', MINILM]]);
  for (const [file, args] of exports) {
    if (existsSync(path.join(ONNX_DIR, file))) continue;
    console.log(`exporting ${file} with ${o.python} (torch.onnx.export)`);
    try {
      execFileSync(o.python, ['scripts/export_onnx.py', ...args, '--out', path.join(ONNX_DIR, file)], {
        env,
        stdio: ['ignore', 'inherit', 'pipe'],
      });
    } catch (e) {
      return `ONNX export of ${file} failed: ${String(e.stderr ?? e.message)
        .split('\n')
        .slice(-3)
        .join(' ')}`;
    }
  }
  return null;
}

// ---- Node ------------------------------------------------------------------------------------
async function timeRuns(n, fn) {
  await fn(); // warm-up
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

async function nodeBench() {
  for (const backend of ['wasm', 'native']) {
    const m = await BiomegModel.random('bert-base', { backend });
    const ids = bertIds(m.config.vocab_size);
    record({
      where: 'node',
      engine: `biomeg ${backend}`,
      what: 'bert-base forward 8x128',
      runsMs: await timeRuns(BERT_RUNS, () => m.forward({ ids, batch: 8, seq: 128 })),
    });
  }
  if (!existsSync(MINILM)) return record({ where: 'node', engine: 'biomeg', what: 'MiniLM one sentence', skipped: `${MINILM} missing` });
  for (const backend of ['wasm', 'native']) {
    const m = await BiomegModel.load(MINILM, { backend });
    record({
      where: 'node',
      engine: `biomeg ${backend}`,
      what: 'MiniLM one sentence (encode)',
      runsMs: await timeRuns(RUNS, () => m.encode([SENTENCE])),
    });
  }
}

// ---- Chromium --------------------------------------------------------------------------------
async function browserBench(ortSkip, minilmIds) {
  const missing = browserMissing();
  if (missing) return record({ where: 'chromium', engine: '-', what: 'all browser measurements', skipped: missing });
  const mounts = existsSync(ORT_DIR) ? { '/ort': ORT_DIR } : {};
  const site = await startStaticServer({ root, mounts });
  const browser = await launchChromium();
  try {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${site.url}/bench/browser.html`);
    const ids = Array.from(bertIds(30522));
    const b = await page.evaluate(
      async ({ ids, bertRuns, runs, sentence, minilm }) => {
        const { BiomegModel } = await import('/dist/web/biomeg.js');
        const time = async (n, fn) => {
          await fn();
          const out = [];
          for (let i = 0; i < n; i++) {
            const t0 = performance.now();
            await fn();
            out.push(performance.now() - t0);
          }
          return out;
        };
        const bert = await BiomegModel.random('bert-base');
        const u = Uint32Array.from(ids);
        const res = { backend: bert.backend, bert: await time(bertRuns, () => bert.forward({ ids: u, batch: 8, seq: 128 })) };
        if (minilm) {
          const m = await BiomegModel.fromUrl(minilm, { cache: false });
          res.minilm = await time(runs, () => m.encode([sentence]));
        }
        return res;
      },
      { ids, bertRuns: BERT_RUNS, runs: RUNS, sentence: SENTENCE, minilm: existsSync(MINILM) ? '/.cache/models/all-MiniLM-L6-v2/' : null },
    );
    record({ where: 'chromium', engine: `biomeg ${b.backend}`, what: 'bert-base forward 8x128', runsMs: b.bert });
    if (b.minilm) record({ where: 'chromium', engine: `biomeg ${b.backend}`, what: 'MiniLM one sentence (encode)', runsMs: b.minilm });

    if (ortSkip) record({ where: 'chromium', engine: 'onnxruntime-web', what: 'bert-base / MiniLM', skipped: ortSkip });
    else {
      const r = await page.evaluate(
        async ({ ids, bertRuns, runs, minilmIds }) => {
          const ort = await import('/ort/ort.wasm.min.mjs');
          ort.env.wasm.wasmPaths = '/ort/';
          ort.env.wasm.numThreads = 1;
          const feeds = (data, batch, seq) => {
            const t = (d) =>
              new ort.Tensor(
                'int64',
                BigInt64Array.from(d, (x) => BigInt(x)),
                [batch, seq],
              );
            return { input_ids: t(data), attention_mask: t(data.map(() => 1)), token_type_ids: t(data.map(() => 0)) };
          };
          const time = async (n, fn) => {
            await fn();
            const out = [];
            for (let i = 0; i < n; i++) {
              const t0 = performance.now();
              await fn();
              out.push(performance.now() - t0);
            }
            return out;
          };
          const bert = await ort.InferenceSession.create('/.cache/onnx/bert-base.onnx', { executionProviders: ['wasm'] });
          const f = feeds(ids, 8, 128);
          const res = { bert: await time(bertRuns, () => bert.run(f)) };
          await bert.release();
          if (minilmIds) {
            const m = await ort.InferenceSession.create('/.cache/onnx/minilm.onnx', { executionProviders: ['wasm'] });
            const g = feeds(minilmIds, 1, minilmIds.length);
            res.minilm = await time(runs, () => m.run(g));
          }
          return res;
        },
        { ids, bertRuns: BERT_RUNS, runs: RUNS, minilmIds },
      );
      const builds = readdirSync(ORT_DIR).filter((f) => f.endsWith('.wasm'));
      console.log(`(onnxruntime-web ${o['ort-version']}: wasm backend, numThreads 1; it ships only SIMD builds: ${builds.join(', ')})`);
      record({ where: 'chromium', engine: 'onnxruntime-web', what: 'bert-base forward 8x128', runsMs: r.bert });
      if (r.minilm) record({ where: 'chromium', engine: 'onnxruntime-web', what: 'MiniLM one sentence (forward)', runsMs: r.minilm });
    }

    // biomeg's forward alone on MiniLM's ids, to compare with ORT's run (which gets ids, no tokenizer).
    if (minilmIds) {
      const f = await page.evaluate(
        async ({ minilm, ids, runs }) => {
          const { BiomegModel } = await import('/dist/web/biomeg.js');
          const m = await BiomegModel.fromUrl(minilm, { cache: false });
          const u = Uint32Array.from(ids);
          await m.forward({ ids: u, batch: 1, seq: u.length });
          const out = [];
          for (let i = 0; i < runs; i++) {
            const t0 = performance.now();
            await m.forward({ ids: u, batch: 1, seq: u.length });
            out.push(performance.now() - t0);
          }
          return out;
        },
        { minilm: '/.cache/models/all-MiniLM-L6-v2/', ids: minilmIds, runs: RUNS },
      );
      record({ where: 'chromium', engine: 'biomeg wasm', what: 'MiniLM one sentence (forward)', runsMs: f });
    }

    // Cold page loads: a fresh context each time (empty HTTP cache and Cache API).
    if (minilmIds) {
      const engines = [['biomeg wasm', `engine=biomeg&model=/.cache/models/all-MiniLM-L6-v2/&sentence=${encodeURIComponent(SENTENCE)}`]];
      if (!ortSkip) engines.push(['onnxruntime-web', `engine=ort&onnx=/.cache/onnx/minilm.onnx&ids=${minilmIds.join(',')}`]);
      for (const [engine, query] of engines) {
        const runsMs = [];
        for (let i = 0; i < RUNS; i++) {
          const ctx = await browser.newContext();
          const p = await ctx.newPage();
          await p.goto(`${site.url}/bench/cold.html?${query}`);
          const r = await p.evaluate(() => window.firstResult);
          await ctx.close();
          if (r.error) throw new Error(`${engine} cold load: ${r.error}`);
          runsMs.push(r.ms);
        }
        record({ where: 'chromium', engine, what: 'MiniLM cold page load -> result', runsMs });
      }
    }
  } finally {
    await browser.close();
    site.server.close();
  }
}

mkdirSync('.cache/onnx', { recursive: true });
writeFileSync('.cache/onnx/bert-base.config.json', JSON.stringify(await presetConfig('bert-base', 'native'), null, 1));
const ortSkip = prepareOrt();
if (ortSkip) console.log(`onnxruntime-web skipped: ${ortSkip}`);
let minilmIds = null;
if (existsSync(MINILM)) {
  const m = await BiomegModel.load(MINILM, { backend: 'native' });
  const enc = m.tokenizer.encode(SENTENCE);
  const sp = m.tokenizer.specialIds;
  minilmIds = Array.from(enc.ids);
  if (minilmIds[0] !== sp.cls) minilmIds = [sp.cls, ...minilmIds, sp.sep];
}
console.log(
  `\nmedians of ${RUNS} runs (bert-base: ${BERT_RUNS}), each after one warm-up; MiniLM sentence: ${minilmIds?.length ?? '-'} tokens`,
);
await nodeBench();
await browserBench(ortSkip, minilmIds);
mkdirSync(path.dirname(o.out), { recursive: true });
writeFileSync(
  o.out,
  `${JSON.stringify({ date: new Date().toISOString(), runs: RUNS, bertRuns: BERT_RUNS, sentence: SENTENCE, minilmTokens: minilmIds?.length, results: results.map((r) => ({ ...r, medianMs: r.runsMs ? median(r.runsMs) : null })) }, null, 1)}\n`,
);
console.log(`\nwritten: ${o.out}`);
