// Break-out analysis speed: words/s over a 10M-word corpus (the three NER training sets repeated,
// real labels) on the native and wasm backends, plus a cold-cache number (PubMed abstracts, every
// distinct word tokenized for the first time). Median of --runs runs.
//
//   npx esbuild bench/breakout.ts --bundle --platform=node --format=esm --outfile=dist/bench/breakout.js
//   node dist/bench/breakout.js [--words 10000000] [--runs 5] [--vocab DIR] [--backend native,wasm] [--json]
import { parseArgs } from 'node:util';
import { breakoutSpeed, corpusWords, repeatedNerCorpus } from '../ts/text/bench.js';
import type { BackendChoice } from '../ts/backend.js';

const { values } = parseArgs({
  options: {
    words: { type: 'string', default: '10000000' },
    runs: { type: 'string', default: '5' },
    data: { type: 'string', default: process.env.BIOMEG_DATA ?? '' },
    vocab: { type: 'string', default: `${process.env.BIOMEG_VOCABS ?? ''}/pubmedbert-base-uncased` },
    backend: { type: 'string', default: 'native,wasm' },
    json: { type: 'boolean', default: false },
  },
});
if (!values.data) {
  console.error('breakout bench: set --data DIR or BIOMEG_DATA');
  process.exit(2);
}
const data = repeatedNerCorpus(values.data, Number(values.words));
const cold = corpusWords(`${values.data}/pubmed-abstracts-mini/pubmed_abstracts_mini.txt`);
const results = [];
for (const backend of values.backend.split(',') as BackendChoice[]) {
  const r = await breakoutSpeed({ vocab: values.vocab, backend, data, cold, runs: Number(values.runs) });
  results.push(r);
  if (!values.json) {
    console.log(
      `${r.backend.padEnd(6)} ${r.vocab}: ${(r.wordsPerSecond / 1e6).toFixed(2)} M words/s over ${(r.words / 1e6).toFixed(1)}M words ` +
        `(median of ${r.runs}: ${r.seconds.map((s) => s.toFixed(2)).join(' ')} s; ${r.distinctWords} distinct); ` +
        `cold ${(r.coldWordsPerSecond / 1e6).toFixed(2)} M words/s over ${cold.words.length} corpus words`,
    );
  }
}
if (values.json) console.log(JSON.stringify({ results }, null, 2));
