// Readers, converter and `data stats` on ../shared/data (BIOMEG_DATA) against MANIFEST.md.
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  readConll,
  iob1ToIob2,
  detectScheme,
  convertChemprot,
  chemprotSplitFiles,
  readChemprotTsv,
  readSquad,
  readBioasqGolden,
  resolveDataDir,
  splitSentences,
} from '../dist/data/index.js';
import { runCliJson, runCli } from './fixtures/eval/run-cli.mjs';

const DATA = process.env.BIOMEG_DATA;
const haveData = Boolean(DATA && existsSync(path.join(DATA, 'MANIFEST.md')));
// Tests on the shared data skip with a visible reason when it is absent, and fail on CI.
const dataTest = (title, fn) => {
  if (haveData) return test(title, fn);
  if (process.env.CI === 'true')
    return test(title, (t) => t.fail(`BIOMEG_DATA is not set to the shared data directory (needed on CI): ${DATA ?? 'unset'}`));
  return test(title, (t) => {
    t.log(`SKIPPED: BIOMEG_DATA does not point at ../shared/data (${DATA ?? 'unset'})`);
    t.pass();
  });
};

test('CoNLL reader: IOB1 input, -DOCSTART-, sentences', (t) => {
  const s = readConll('test/fixtures/data/iob1.tsv');
  t.is(s.length, 2);
  t.deepEqual(s[0].tokens, ['Selegiline', '-', 'induced', 'postural', 'hypotension']);
  t.is(s[1].line, 9);
  t.is(detectScheme(s.map((x) => x.labels)), 'iob1');
  const iob2 = readConll('test/fixtures/data/iob1.tsv', { toIob2: true });
  t.deepEqual(iob2[0].labels, ['B-Chemical', 'O', 'O', 'B-Disease', 'I-Disease']);
  t.deepEqual(iob2[1].labels, ['B-Chemical', 'I-Chemical', 'B-Chemical']);
  t.deepEqual(iob1ToIob2(['I', 'I', 'O', 'I']), ['B', 'I', 'O', 'B']);
  t.is(detectScheme(iob2.map((x) => x.labels)), 'iob2');
});

test('CoNLL reader: one column and malformed tags are errors with file:line', (t) => {
  const e = t.throws(() => readConll('test/fixtures/eval/files/one-column.tsv'));
  t.is(e.code, 'BIOMEG_BAD_DATA');
  t.regex(e.message, /one-column\.tsv:4: /);
  const e2 = t.throws(() => readConll('test/fixtures/eval/files/bad-tag.tsv'));
  t.regex(e2.message, /bad-tag\.tsv:3: malformed tag 'B_Chemical'/);
});

test('ChemProt converter on a tiny hand-made corpus', (t) => {
  const r = convertChemprot({
    abstracts: 'test/fixtures/data/chemprot/tiny_abstracts.tsv',
    entities: 'test/fixtures/data/chemprot/tiny_entities.tsv',
    goldStandard: 'test/fixtures/data/chemprot/tiny_gold_standard.tsv',
  });
  t.is(r.goldRelations, 4);
  t.is(r.goldInSentences, 3, 'T1-T3 crosses a sentence boundary');
  t.deepEqual(
    r.rows.map((x) => `${x.index} ${x.label}`),
    ['100.T1.T2 CPR:4', '100.T4.T3 false', '100.T4.T5 CPR:4', '100.T4.T5 CPR:9'],
  );
  t.is(r.rows[0].sentence, '@CHEMICAL$ inhibits @GENE$ in cells.');
  // no split after an abbreviation ("Fig.", "(i.v.).") or before a lower-case word
  t.deepEqual(splitSentences('See Fig. 2 and (i.v.). Then A. B c. d'), [
    [0, 30],
    [31, 37],
  ]);
});

test('data directory: --data, then BIOMEG_DATA, then the user cache', (t) => {
  t.is(resolveDataDir('/x/y', { BIOMEG_DATA: '/e' }).dir, path.resolve('/x/y'));
  t.deepEqual(resolveDataDir(undefined, { BIOMEG_DATA: '/e' }), { dir: path.resolve('/e'), source: 'env' });
  const c = resolveDataDir(undefined, { XDG_CACHE_HOME: '/cache' });
  t.is(c.source, 'cache');
  if (process.platform === 'linux') t.is(c.dir, '/cache/biomeg/data');
});

// Counts from ../shared/data/MANIFEST.md
const MANIFEST_NER = {
  'bc5cdr-chem': { train: [4560, 118170, 5203, 7103, 777], devel: [4581, 117453, 5347, 7095, 725], test: [4797, 124750, 5385, 7013, 644] },
  'bc5cdr-disease': {
    train: [4560, 118170, 4182, 7100, 1774],
    devel: [4581, 117453, 4246, 6969, 1733],
    test: [4797, 124750, 4424, 7161, 1758],
  },
  'ncbi-disease': { train: [5424, 135701, 5134, 11249, 2876], devel: [923, 23969, 787, 1877, 504], test: [940, 24497, 960, 2047, 537] },
};

dataTest('data stats reproduces the MANIFEST.md NER and ChemProt counts', (t) => {
  const { stats } = runCliJson(t, ['data', 'stats', '--json', '--data', DATA]);
  const get = (d, s) => stats.find((x) => x.dataset === d && x.split === s);
  for (const [d, splits] of Object.entries(MANIFEST_NER)) {
    for (const [split, [sentences, tokens, mentions, words, multi]] of Object.entries(splits)) {
      for (const name of [d, `${d}-biobert`]) {
        const s = get(name, split);
        t.deepEqual(
          [s.sentences, s.tokens, Object.values(s.mentions).reduce((a, b) => a + b, 0), s.wordsInEntities, s.multiwordMentions],
          [sentences, tokens, mentions, words, multi],
          `${name} ${split}`,
        );
      }
    }
  }
  t.deepEqual(get('bc5cdr-chem', 'train').mentions, { Chemical: 5203 });
  t.deepEqual(get('bc5cdr-chem-biobert', 'train').mentions, { _: 5203 });
  t.deepEqual(get('chemprot', 'train').labels, { false: 14426, 'CPR:4': 2254, 'CPR:6': 235, 'CPR:5': 173, 'CPR:9': 727, 'CPR:3': 768 });
  t.is(get('chemprot', 'dev').sentences, 11674);
  t.is(get('chemprot', 'test').sentences, 16199);
  t.is(get('squad-v1.1', 'dev').questions, 10570);
  t.is(get('squad-v1.1', 'dev').answers, 34726);
  t.is(get('bioasq-7b', 'train').examples, 4231);
  t.is(get('bioasq-7b', 'train').questions, 530);
  t.is(get('bioasq-7b', 'test').questions, 162);
  const labelBias = get('bc5cdr-chem', 'train').labelBias;
  t.true(Math.abs(labelBias - (5203 + 1900) / 111067) < 1e-12);
  const text = runCli(['data', 'stats', '--data', DATA, 'bc5cdr-chem']);
  t.regex(text.stdout, /bc5cdr-chem\s+train\s+4,560\s+118,170\s+Chemical=5,203/);
});

dataTest('ChemProt converter: gold relations 4157 / 2416 / 3458 all placed; output byte-identical to blue-style-rebuilt', (t) => {
  const want = { train: 4157, dev: 2416, test: 3458 };
  const dirs = { train: 'chemprot_training', dev: 'chemprot_development', test: 'chemprot_test_gs' };
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'biomeg-cp-'));
  for (const [split, n] of Object.entries(want)) {
    const r = convertChemprot(chemprotSplitFiles(path.join(DATA, 'chemprot/original-biocreative6', dirs[split])));
    t.is(r.goldRelations, n, split);
    t.is(r.goldInSentences, n, split);
    const out = path.join(tmp, `${split}.tsv`);
    const cli = runCliJson(t, ['data', 'convert-chemprot', '--data', DATA, '--split', split, '--out', out, '--json']);
    t.is(cli.goldInSentences, n);
    t.true(readFileSync(out).equals(readFileSync(path.join(DATA, 'chemprot/blue-style-rebuilt', `${split}.tsv`))), `${split} differs`);
  }
  t.is(readChemprotTsv(path.join(DATA, 'chemprot/blue-style-rebuilt/train.tsv')).length, 18583);
});

dataTest('SQuAD and BioASQ readers on the shared files', (t) => {
  const squad = readSquad(path.join(DATA, 'squad-v1.1/dev-v1.1.json'));
  t.is(squad.examples.length, 10570);
  const golden = readBioasqGolden(path.join(DATA, 'bioasq-7b/biobert/7B_golden.json'));
  t.is(golden.filter((q) => q.type === 'factoid').length, 162);
  const batches = [1, 2, 3, 4, 5].map((b) => readBioasqGolden(path.join(DATA, `bioasq-7b/official-golden-per-batch/7B${b}_golden.json`)));
  t.deepEqual(
    batches.map((b) => b.filter((q) => q.type === 'factoid').length),
    [39, 25, 29, 34, 35],
  );
});

test('BioASQ reader: a question missing fields is an error with file and line', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'biomeg-bq-'));
  const f = path.join(dir, 'g.json');
  writeFileSync(f, '{"questions": [\n  {"id": "a", "type": "factoid", "exact_answer": [["x"]]},\n  {"type": "factoid"}\n]}');
  const e = t.throws(() => readBioasqGolden(f));
  t.is(e.code, 'BIOMEG_BAD_DATA');
  t.regex(e.message, /g\.json:3: questions\[1\]: missing field 'id'/);
  writeFileSync(f, '{"questions": [\n  {"id": "a", "type": "factoid", "exact_answer": [["x"], 3]}\n]}');
  t.regex(t.throws(() => readBioasqGolden(f)).message, /g\.json:2: questions\[0\]\.exact_answer\[1\]: expected a list of strings/);
  writeFileSync(f, '{"questions": [\n  {"id": "a",, }\n]}');
  t.regex(t.throws(() => readBioasqGolden(f)).message, /g\.json:2: invalid JSON/);
});
