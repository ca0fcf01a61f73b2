// int8 vs fp32 on a fine-tuned NER model: word-level conlleval F1 on the BC5CDR-chem test set
// (the exact scoring of `biomeg train`) with the time of that test-set pass, and end-to-end NER
// throughput in documents per second over real PubMed abstracts (BiomegModel.ner, length-sorted
// batches), native and wasm.
//
//   node bench/int8_ner.mjs --model DIR [--data DIR] [--backends native,wasm] [--docs 60]
//                           [--threads N] [--rounds 1] [--ort] [--ort-version 1.30.0] [--python PATH]
//                           [--json]
//
// DIR: a token-classification model folder, e.g. OUT/best of
//   biomeg train ner --model .cache/models/all-MiniLM-L6-v2 --dataset bc5cdr-chem --out OUT
// --threads: native threads, and onnxruntime's intra-op threads (default: every core; wasm runs 1).
// --rounds N: N test-set passes per engine, the engines in turn each round (median time).
// --docs 0 skips the abstracts.
// --ort adds onnxruntime-node rows, fp32 and int8, on the same folder: exported with
// torch.onnx.export (scripts/export_onnx.py --token-classification: the encoder and its head,
// logits, opset 17) and quantized with onnxruntime's quantize_dynamic (per-channel QInt8 weights,
// u8 activations quantized at run time; the head too). Its rows go through the same features,
// batches (32 windows, sorted by length), decoding and conlleval as biomeg's: only the engine
// differs. Documents/s is biomeg's ner() and has no onnxruntime row.
// Skips (exit 0, message) when the model or the data is absent; the onnxruntime rows (message)
// when python/torch/transformers/onnx/onnxruntime or onnxruntime-node are missing.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BiomegModel, setThreads, TASKS } from '../dist/index.js';
import { loadOrtNode, ortSession, pythonLacks, ROOT } from './ort_node.mjs';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    data: { type: 'string' },
    backends: { type: 'string' },
    docs: { type: 'string' },
    threads: { type: 'string' },
    rounds: { type: 'string', default: '1' },
    ort: { type: 'boolean' },
    'ort-version': { type: 'string', default: '1.30.0' },
    python: { type: 'string', default: process.env.BIOMEG_PYTHON ?? '/opt/biomeg-py/bin/python' },
    json: { type: 'boolean' },
  },
});
const BATCH = 32;
const data = values.data ?? process.env.BIOMEG_DATA;
const test = data && path.join(data, 'bc5cdr-chem', 'mtl-iob', 'test.tsv');
const abstracts = data && path.join(data, 'pubmed-abstracts-mini', 'pubmed_abstracts_mini.txt');
if (!values.model || !existsSync(path.join(values.model, 'config.json'))) {
  console.log(`SKIPPED: --model DIR (a fine-tuned token-classification folder) not given or missing`);
  process.exit(0);
}
if (!test || !existsSync(test) || !existsSync(abstracts)) {
  console.log('SKIPPED: BC5CDR-chem test set or pubmed-abstracts-mini not found (--data or BIOMEG_DATA)');
  process.exit(0);
}
const threads = Number(values.threads ?? os.availableParallelism());
const rows = TASKS.ner.read(test);
const docs = readFileSync(abstracts, 'utf8')
  .split('\n')
  .filter(Boolean)
  .slice(0, Number(values.docs ?? 60));

/** The fp32 and int8 ONNX files of the model folder in a temporary directory, or why not. */
function exportOrt() {
  const lacks = pythonLacks(values.python, ['torch', 'transformers', 'onnx', 'onnxruntime']);
  if (lacks) return { skipped: lacks };
  let ort;
  try {
    ort = loadOrtNode(values['ort-version']);
  } catch (e) {
    return { skipped: e.message };
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'biomeg-ort-ner-'));
  const files = { fp32: path.join(dir, 'fp32.onnx'), int8: path.join(dir, 'int8.onnx') };
  const t = performance.now();
  execFileSync(
    values.python,
    [
      path.join(ROOT, 'scripts/export_onnx.py'),
      '--model-dir',
      values.model,
      '--token-classification',
      '--out',
      files.fp32,
      '--int8',
      files.int8,
    ],
    // its messages go to stderr: stdout is the --json result
    { stdio: ['ignore', 2, 'inherit'], env: { ...process.env, HF_HUB_OFFLINE: '1' } },
  );
  console.error(`exported and quantized in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return { ort, dir, files };
}

/** The label names in the order of the folder's config.json id2label (the ONNX logits' order). */
function configLabels(dir) {
  const id2label = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')).id2label ?? {};
  return Object.keys(id2label)
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => id2label[k]);
}

/** A LogitSource running an onnxruntime-node session on each padded batch. */
function ortSource(ort, session, width) {
  const tensor = (a, dims) => new ort.Tensor('int64', BigInt64Array.from(a, BigInt), dims);
  return {
    evalLogits: async (b) => {
      const dims = [b.batch, b.seq];
      const out = await session.run({
        input_ids: tensor(b.ids, dims),
        attention_mask: tensor(b.mask, dims),
        token_type_ids: tensor(b.typeIds, dims),
      });
      if (out.logits.dims[2] !== width) throw new Error(`ONNX logits have ${out.logits.dims[2]} labels, the model ${width}`);
      return out.logits.data;
    },
  };
}

// The same features for every row: the tokenizer and labels of the first model loaded.
let set;
let labels;
/** Windows of 128 sub-tokens (as `biomeg train ner`), fewer where the model has fewer positions. */
const nerFeatures = (model) =>
  TASKS.ner.features(model.tokenizer, rows, labels, { scheme: 'first', maxLength: Math.min(128, model.config.max_position_embeddings) });
const median = (x) => [...x].sort((a, b) => a - b)[x.length >> 1];
const pause = (ms) => new Promise((r) => setTimeout(r, ms));

// Every engine: its row and LogitSource (and what to release at the end).
const engines = [];
const ortSetup = values.ort ? exportOrt() : null;
if (ortSetup?.skipped) console.error(`onnxruntime rows SKIPPED: ${ortSetup.skipped}`);
for (const backend of (values.backends ?? 'native,wasm').split(',')) {
  if (backend === 'native') await setThreads(threads, 'native');
  for (const quantize of [undefined, 'int8']) {
    const model = await BiomegModel.load(values.model, { backend, quantize });
    labels ??= model.labels;
    set ??= nerFeatures(model);
    engines.push({
      row: { engine: 'biomeg', backend, quantization: quantize ?? 'fp32', threads: backend === 'wasm' ? 1 : threads },
      model,
      src: { evalLogits: async (b) => (await model.forward(b, true)).logits },
    });
  }
}
if (ortSetup && !ortSetup.skipped) {
  const { ort, files } = ortSetup;
  if (!set) {
    const model = await BiomegModel.load(values.model);
    labels = model.labels;
    set = nerFeatures(model);
  }
  const onnxLabels = configLabels(values.model);
  if (onnxLabels.join() !== labels.join()) {
    throw new Error(`${values.model}/config.json id2label [${onnxLabels}] is not the model's label order [${labels}]`);
  }
  for (const [quantization, file] of Object.entries(files)) {
    const session = await ortSession(ort, file, threads);
    engines.push({
      row: { engine: 'onnxruntime-node', backend: 'native', quantization, threads, onnx_bytes: statSync(file).size },
      session,
      src: ortSource(ort, session, labels.length),
    });
  }
}

// The test-set passes: one warm-up batch each, then `rounds` rounds of one pass per engine in
// turn, so load from other processes falls on every engine alike; the time is the median.
const f = set.features[0];
const one = { ids: f.ids, typeIds: f.typeIds, mask: new Uint8Array(f.ids.length).fill(1), batch: 1, seq: f.ids.length };
for (const e of engines) await e.src.evalLogits(one);
const rounds = Number(values.rounds);
for (let round = 0; round < rounds; round++) {
  for (const { row, src } of engines) {
    await pause(200); // lets onnxruntime's spinning pool threads go idle
    const t = performance.now();
    const { metrics } = await TASKS.ner.evaluate(src, rows, set, { labels, scheme: 'first', batchSize: BATCH, split: 'test' });
    const s = (performance.now() - t) / 1000;
    if (row.f1 !== undefined && row.f1 !== metrics.f1) throw new Error(`${row.engine} ${row.quantization}: F1 changed between rounds`);
    Object.assign(row, { f1: metrics.f1, precision: metrics.precision, recall: metrics.recall, test_sentences: rows.length });
    row.test_batch_size = BATCH;
    (row.test_eval_runs_s ??= []).push(s);
    row.test_eval_s = median(row.test_eval_runs_s);
    console.error(
      `round ${round + 1} ${row.engine} ${row.backend} ${row.quantization} ${row.threads}t: F1 ${(100 * row.f1).toFixed(2)} (P ${(100 * row.precision).toFixed(2)} R ${(100 * row.recall).toFixed(2)}), ${rows.length} test sentences in ${s.toFixed(1)} s`,
    );
  }
}

// Documents per second: biomeg's ner() over whole abstracts.
for (const { row, model } of engines) {
  if (!model || !docs.length) continue;
  await model.ner(docs.slice(0, 2)); // warm-up
  const t = performance.now();
  const ents = await model.ner(docs, { batchSize: 8 });
  const docS = (performance.now() - t) / 1000;
  Object.assign(row, { docs: docs.length, docs_per_s: docs.length / docS, entities: ents.reduce((a, e) => a + e.length, 0) });
  console.error(
    `${row.backend} ${row.quantization}: ${row.docs_per_s.toFixed(2)} abstracts/s (${docs.length} abstracts, ner(), batches of 8)`,
  );
}
for (const { session } of engines) await session?.release();
if (ortSetup?.dir) rmSync(ortSetup.dir, { recursive: true, force: true });
const results = engines.map((e) => e.row);
if (values.json) {
  const ort = values.ort ? { version: values['ort-version'], skipped: ortSetup.skipped } : undefined;
  console.log(JSON.stringify({ ort, rows: results }, null, 2));
}
