// End-to-end NER in documents per second over BC5CDR-chem test documents (issue 12): biomeg
// native, biomeg wasm and the Hugging Face token-classification pipeline (PyTorch, CPU) on the
// same model folder, the same documents and the same machine.
//   node bench/ner_docs.mjs --model DIR [--docs 100] [--engines native,wasm,hf] [--threads 2]
//                           [--data DIR] [--python PATH] [--json]
// DIR: a token-classification folder with tokenizer files that both biomeg and transformers load
// (e.g. OUT/best of `biomeg train ner --model all-MiniLM-L6-v2 --dataset bc5cdr-chem`).
//
// Documents: the CoNLL test file (data/bc5cdr-chem/mtl-iob/test.tsv) has no document ids or
// document breaks, only sentences in corpus order (500 PubMed abstracts, title first). So the
// 4797 sentences are cut, in order, into 500 runs of 9-10 consecutive sentences (the corpus mean
// per abstract), each run's words joined with single spaces: same text, same total length and
// about the same length per document as the abstracts, but the cuts are not the real abstract
// boundaries. --docs N takes the first N of them.
//
// Windows: 512 sub-tokens overlapping by 128, 8 windows per forward, for all three engines.
// Engines run one after the other (not interleaved), each after a 2-document warm-up.
// Skips (exit 0, message) when the model or the data is absent; the hf row when python lacks
// torch/transformers.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BiomegModel, setThreads, TASKS } from '../dist/index.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { values: o } = parseArgs({
  options: {
    model: { type: 'string' },
    data: { type: 'string', default: process.env.BIOMEG_DATA },
    docs: { type: 'string', default: '100' },
    engines: { type: 'string', default: 'native,wasm,hf' },
    threads: { type: 'string', default: '2' },
    python: { type: 'string', default: process.env.BIOMEG_PYTHON ?? '/opt/biomeg-py/bin/python' },
    json: { type: 'boolean' },
  },
});
const ABSTRACTS = 500; // BC5CDR test set: 500 PubMed titles + abstracts
const test = o.data && path.join(o.data, 'bc5cdr-chem', 'mtl-iob', 'test.tsv');
if (!o.model || !existsSync(path.join(o.model, 'config.json'))) {
  console.log('SKIPPED: --model DIR (a token-classification folder) not given or missing');
  process.exit(0);
}
if (!test || !existsSync(test)) {
  console.log('SKIPPED: BC5CDR-chem test set not found (--data or BIOMEG_DATA)');
  process.exit(0);
}

/** The test sentences cut in order into `ABSTRACTS` runs of consecutive sentences. */
function documents(rows) {
  const docs = [];
  for (let d = 0; d < ABSTRACTS; d++) {
    const from = Math.round((d * rows.length) / ABSTRACTS);
    const to = Math.round(((d + 1) * rows.length) / ABSTRACTS);
    docs.push(
      rows
        .slice(from, to)
        .map((r) => r.tokens.join(' '))
        .join(' '),
    );
  }
  return docs;
}

const rows = TASKS.ner.read(test);
const docs = documents(rows).slice(0, Number(o.docs));
const chars = docs.reduce((a, d) => a + d.length, 0);
console.log(`${docs.length} documents from ${rows.length} test sentences, ${(chars / docs.length).toFixed(0)} characters each on average`);
const threads = Number(o.threads);
const results = [];
for (const engine of o.engines.split(',')) {
  if (engine === 'hf') {
    try {
      execFileSync(o.python, ['-c', 'import torch, transformers']);
    } catch {
      results.push({ engine: 'hf-pipeline-pytorch', skipped: `${o.python} with torch + transformers not found` });
      continue;
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'biomeg-ner-docs-'));
    try {
      const file = path.join(dir, 'docs.json');
      writeFileSync(file, JSON.stringify(docs));
      const out = execFileSync(
        o.python,
        [path.join(root, 'bench/hf_ner_docs.py'), '--model', o.model, '--docs', file, '--threads', String(threads)],
        {
          env: { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_VERBOSITY: 'error' },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      results.push(JSON.parse(out.toString().trim().split('\n').pop()));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else {
    // wasm runs on one thread
    const t = engine === 'wasm' ? 1 : threads;
    await setThreads(t, engine);
    const model = await BiomegModel.load(o.model, { backend: engine });
    await model.ner(docs.slice(0, 2));
    const start = performance.now();
    const ents = await model.ner(docs, { batchSize: 8 });
    const s = (performance.now() - start) / 1000;
    results.push({
      engine: `biomeg-${engine}`,
      threads: t,
      docs: docs.length,
      seconds: s,
      docs_per_s: docs.length / s,
      entities: ents.reduce((a, e) => a + e.length, 0),
    });
  }
  const r = results.at(-1);
  console.log(
    r.skipped
      ? `${r.engine}: SKIPPED (${r.skipped})`
      : `${r.engine} (${r.threads} thread(s)): ${r.docs_per_s.toFixed(2)} documents/s (${r.seconds.toFixed(1)} s, ${r.entities} entities)`,
  );
}
if (o.json) console.log(JSON.stringify(results, null, 2));
