// int8 vs fp32 on a fine-tuned NER model: word-level conlleval F1 on the BC5CDR-chem test set
// (the exact scoring of `biomeg train`), and end-to-end NER throughput in documents per second
// over real PubMed abstracts (BiomegModel.ner, length-sorted batches), native and wasm.
//
//   node bench/int8_ner.mjs --model DIR [--data DIR] [--backends native,wasm] [--docs 60] [--json]
//
// DIR: a token-classification model folder, e.g. OUT/best of
//   biomeg train ner --model .cache/models/all-MiniLM-L6-v2 --dataset bc5cdr-chem --out OUT
// Skips (exit 0, message) when the model or the data is absent.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BiomegModel, TASKS } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    data: { type: 'string' },
    backends: { type: 'string' },
    docs: { type: 'string' },
    json: { type: 'boolean' },
  },
});
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
const rows = TASKS.ner.read(test);
const docs = readFileSync(abstracts, 'utf8')
  .split('\n')
  .filter(Boolean)
  .slice(0, Number(values.docs ?? 60));
const results = [];
for (const backend of (values.backends ?? 'native,wasm').split(',')) {
  for (const quantize of [undefined, 'int8']) {
    const model = await BiomegModel.load(values.model, { backend, quantize });
    const src = { evalLogits: async (b) => (await model.forward(b, true)).logits };
    const set = TASKS.ner.features(model.tokenizer, rows, model.labels, { scheme: 'first', maxLength: 128 });
    let t = performance.now();
    const r = await TASKS.ner.evaluate(src, rows, set, { labels: model.labels, scheme: 'first', batchSize: 32, split: 'test' });
    const evalS = (performance.now() - t) / 1000;
    await model.ner(docs.slice(0, 2)); // warm-up
    t = performance.now();
    const ents = await model.ner(docs, { batchSize: 8 });
    const docS = (performance.now() - t) / 1000;
    const row = {
      backend,
      quantization: quantize ?? 'fp32',
      f1: r.metrics.f1,
      precision: r.metrics.precision,
      recall: r.metrics.recall,
      test_sentences: rows.length,
      test_eval_s: evalS,
      docs: docs.length,
      docs_per_s: docs.length / docS,
      entities: ents.reduce((a, e) => a + e.length, 0),
    };
    results.push(row);
    console.error(
      `${backend} ${row.quantization}: F1 ${(100 * row.f1).toFixed(2)} (P ${(100 * row.precision).toFixed(2)} R ${(100 * row.recall).toFixed(2)}), ${rows.length} test sentences in ${evalS.toFixed(1)} s; ${row.docs_per_s.toFixed(2)} abstracts/s`,
    );
  }
}
if (values.json) console.log(JSON.stringify(results, null, 2));
