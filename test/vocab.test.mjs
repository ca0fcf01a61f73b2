// Break-out analysis, label alignment, vocabulary training and the `biomeg vocab` CLI, on both
// backends. Hand-computed cases use test/fixtures/text/{tiny-vocab.txt,toy.tsv}.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { alignLabels, breakoutTable, loadTokenizer, readNerData, trainVocab } from '../dist/text/index.js';

const BACKENDS = ['native', 'wasm'];
const FIX = new URL('./fixtures/text/', import.meta.url);
const fixturePath = (f) => new URL(f, FIX).pathname;
const TINY = fixturePath('tiny-vocab.txt');
const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const CI = process.env.CI === 'true';
const DATA = process.env.BIOMEG_DATA;
const VOCABS = process.env.BIOMEG_VOCABS;

function needShared(t) {
  if (DATA && VOCABS && existsSync(DATA) && existsSync(VOCABS)) return true;
  if (CI) t.fail('BIOMEG_DATA and BIOMEG_VOCABS must be set in CI');
  else {
    console.warn(`SKIP ${t.title}: set BIOMEG_DATA and BIOMEG_VOCABS`);
    t.pass();
  }
  return false;
}

const close = (t, a, b, what) => t.true(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

for (const backend of BACKENDS) {
  test(`${backend}: break-out counts on hand-computed toy data (uncased)`, async (t) => {
    const tok = await loadTokenizer(TINY, { lowercase: true, backend });
    const data = readNerData(fixturePath('toy.tsv'));
    t.deepEqual([...data.sentenceLengths], [4, 3]);
    const r = tok.breakout(data);
    // entity words: Unaffable (un ##aff ##able) hello | undifferentiated (5) | zzz ([UNK]) Café (cafe)
    t.like(r.entity, { words: 5, subtokens: 11, unkSubtokens: 1, emptyWords: 0 });
    close(t, r.entity.rate, 2.2, 'rate');
    close(t, r.entity.unkRate, 1 / 11, 'unk rate');
    t.like(r.all, { words: 7, subtokens: 13 });
    t.like(r.mentions, { mentions: 3, fragmentedMentions: 2 });
    close(t, r.mentions.subtokensPerMention, 11 / 3, 'per mention');
    t.like(r.byType.Chem, { mentions: 1, words: 2, subtokens: 4, rate: 2 });
    t.like(r.byType.Dis, { mentions: 2, words: 3, subtokens: 7 });
    t.deepEqual(r.histogram.slice(0, 7), [0, 3, 0, 1, 0, 1, 0]);
    t.deepEqual(
      r.mostFragmented.map((f) => [f.word, f.subtokens]),
      [
        ['undifferentiated', 5],
        ['Unaffable', 3],
        ['Café', 1],
        ['hello', 1],
        ['zzz', 1],
      ],
    );
    t.deepEqual(r.mostFragmented[0].tokens, ['und', '##iff', '##ere', '##nti', '##ated']);
  });

  test(`${backend}: break-out cased, empty entities, long words`, async (t) => {
    const cased = await loadTokenizer(TINY, { lowercase: false, backend });
    t.like(cased.breakout(readNerData(fixturePath('toy.tsv'))).entity, { words: 5, subtokens: 9, unkSubtokens: 3 });
    const tok = await loadTokenizer(TINY, { lowercase: true, backend });
    const r = tok.breakout({
      words: ['\u200b', 'hello', 'a'.repeat(101)],
      sentenceLengths: new Uint32Array([3]),
      labels: ['B-X', 'O', 'B-X'],
      source: 'inline',
    });
    t.like(r.entity, { words: 2, subtokens: 1, emptyWords: 1, unkSubtokens: 1 });
    const none = tok.breakout({ words: ['hello'], sentenceLengths: new Uint32Array([1]), labels: ['O'], source: 'inline' });
    t.like(none.entity, { words: 0, subtokens: 0, rate: 0 });
  });

  test(`${backend}: bad data gives coded errors`, async (t) => {
    const tok = await loadTokenizer(TINY, { backend });
    const e = t.throws(() =>
      tok.breakout({ words: ['a', 'b'], sentenceLengths: new Uint32Array([2]), labels: ['O', 'X-Foo'], source: 'mem.tsv' }),
    );
    t.is(e.code, 'BIOMEG_BAD_DATA');
    t.is(e.message, 'mem.tsv: sentence 1, word 2 ("b"): label "X-Foo" is not an IOB tag (O, B, I, B-<type>, I-<type>)');
    const e2 = t.throws(() => tok.breakout({ words: ['a'], sentenceLengths: new Uint32Array([2]), labels: ['O'], source: 'mem.tsv' }));
    t.is(e2.message, 'mem.tsv: sentence lengths add up to 2 but 1 words were given');
  });

  test(`${backend}: label alignment, both schemes`, async (t) => {
    const ids = new Uint32Array([0, 0, 0, 1, 2, 2]);
    t.deepEqual([...(await alignLabels(ids, [1, 2, 0], 'all', { backend }))], [1, 1, 1, 2, 0, 0]);
    t.deepEqual([...(await alignLabels(ids, [1, 2, 0], 'first', { backend }))], [1, -100, -100, 2, 0, -100]);
    const e = await t.throwsAsync(() => alignLabels(ids, [1], 'first', { backend }));
    t.is(e.code, 'BIOMEG_BAD_ARGUMENT');
    const e2 = await t.throwsAsync(() => alignLabels(ids, [1, 2, 0], 'middle', { backend }));
    t.regex(e2.message, /unknown labelling scheme "middle"/);
    const tok = await loadTokenizer(TINY, { lowercase: true, backend });
    const enc = tok.encodeWords(['Unaffable', 'hello']);
    t.deepEqual([...tok.alignLabels(enc.wordIds, [7, 8], 'first', -1)], [7, -1, -1, 8]);
    const [ex] = tok.labelExamples(['undifferentiated'], ['B-Disease']);
    t.deepEqual(ex, {
      word: 'undifferentiated',
      label: 'B-Disease',
      tokens: ['und', '##iff', '##ere', '##nti', '##ated'],
      all: Array(5).fill('B-Disease'),
      first: ['B-Disease', 'X', 'X', 'X', 'X'],
    });
  });

  test(`${backend}: train WordPiece and unigram vocabularies that load back`, async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'biomeg-vocab-'));
    try {
      const wp = await trainVocab(fixturePath('corpus.txt'), path.join(dir, 'wp'), { size: 80, lowercase: true, minFrequency: 1, backend });
      t.is(path.basename(wp.file), 'vocab.txt');
      t.like(wp.meta, { model: 'wordpiece', size: 80, lowercase: true, corpusLines: 3, file: 'vocab.txt' });
      t.deepEqual(readFileSync(wp.file, 'utf8').split('\n').slice(0, 5), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
      t.deepEqual(readdirSync(path.join(dir, 'wp')).sort(), ['meta.json', 'vocab.txt']);
      const tok = await loadTokenizer(path.join(dir, 'wp'), { backend });
      t.true(tok.lowercase);
      t.is(tok.name, 'wp');
      t.false(tok.encode('Fibrillation').tokens.includes('[UNK]'));
      const uni = await trainVocab(fixturePath('corpus.txt'), path.join(dir, 'uni'), { size: 60, model: 'unigram', backend });
      t.is(path.basename(uni.file), 'tokenizer.json');
      const u = await loadTokenizer(path.join(dir, 'uni'), { backend });
      t.false(u.lowercase);
      t.true(u.encode('atrial fibrillation').ids.length >= 2);
      t.not(u.specialIds.unk, null);
      const e = await t.throwsAsync(() => trainVocab(fixturePath('nope.txt'), path.join(dir, 'x'), { size: 100, backend }));
      t.is(e.code, 'BIOMEG_IO');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('break-out counts on the shared vocabularies and data match Hugging Face (fast and pure-Python)', async (t) => {
  if (!needShared(t)) return;
  const ref = JSON.parse(readFileSync(fixturePath('hf-breakout.json'), 'utf8')).results;
  t.is(ref.length, 12);
  const vocabs = [...new Set(ref.map((r) => r.vocab))].map((v) => ({ path: `${VOCABS}/${v}` }));
  for (const backend of BACKENDS) {
    const rows = await breakoutTable(vocabs, { dataDir: DATA, backend });
    for (const r of ref) {
      const row = rows.find((x) => x.vocab === r.vocab && x.dataset === r.dataset);
      const what = `${backend} ${r.vocab} ${r.dataset}`;
      t.deepEqual([row.words, row.subtokens, row.allWords, row.allSubtokens], [r.words, r.subtokens, r.allWords, r.allSubtokens], what);
      t.is(row.subtokens, r.slowSubtokens, `${what}: pure-Python tokenizer`);
    }
  }
});

test('native and wasm give identical break-out reports', async (t) => {
  const [n, w] = await Promise.all(BACKENDS.map((backend) => loadTokenizer(TINY, { backend })));
  const data = readNerData(fixturePath('toy.tsv'));
  t.deepEqual(n.breakout(data), w.breakout(data));
  if (DATA && VOCABS && existsSync(DATA)) {
    const big = readNerData(`${DATA}/ncbi-disease/mtl-iob/train.tsv`);
    const [a, b] = await Promise.all(BACKENDS.map((backend) => loadTokenizer(`${VOCABS}/scibert-scivocab-uncased/vocab.txt`, { backend })));
    t.deepEqual(a.breakout(big), b.breakout(big));
  }
});

test('malformed NER lines name the file and line', (t) => {
  const e = t.throws(() => readNerData(fixturePath('malformed.tsv')));
  t.is(e.code, 'BIOMEG_BAD_DATA');
  t.regex(e.message, /malformed\.tsv:4: /);
  const e2 = t.throws(() => readNerData(fixturePath('badtag.tsv')));
  t.regex(e2.message, /badtag\.tsv:2: malformed tag 'E-Chem'/);
});

const cli = (...args) => spawnSync(process.execPath, [CLI, 'vocab', ...args], { encoding: 'utf8' });

test('CLI: vocab show prints tokenizations and both labellings', (t) => {
  const r = cli('show', 'undifferentiated', 'Hello', '--vocab', TINY, '--vocab', `${TINY}:uncased`, '--label', 'B-Disease');
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /tiny-vocab \(cased\)/);
  t.regex(r.stdout, /tiny-vocab \(uncased\)/);
  t.regex(r.stdout, /\(b\) first\s+B-Disease X/);
  const j = JSON.parse(cli('show', 'Hello', '--vocab', `${TINY}:uncased`, '--json').stdout);
  t.deepEqual(j.results[0].examples[0].tokens, ['hello']);
});

test('CLI: clear errors for bad vocabularies and bad arguments', (t) => {
  const r = cli('show', 'x', '--vocab', fixturePath('dup-vocab.txt'));
  t.is(r.status, 1);
  t.regex(r.stderr, /dup-vocab\.txt:5: duplicate vocabulary entry "hello" \(first seen on line 3\) \[BIOMEG_BAD_VOCAB\]/);
  const r2 = cli('train', '--corpus', fixturePath('corpus.txt'), '--size', 'many', '--out', os.tmpdir());
  t.is(r2.status, 1);
  t.regex(r2.stderr, /--size N/);
});

test('CLI: vocab breakout over the shared data and vocabularies', (t) => {
  if (!needShared(t)) return;
  const out = mkdtempSync(path.join(os.tmpdir(), 'biomeg-bo-'));
  try {
    const args = ['breakout', '--data', DATA, '--out', out, '--json'];
    for (const v of ['bert-base-cased', 'pubmedbert-base-uncased']) args.push('--vocab', `${VOCABS}/${v}`);
    const stdout = execFileSync(process.execPath, [CLI, 'vocab', ...args], { encoding: 'utf8' });
    const { results } = JSON.parse(stdout);
    t.is(results.length, 6);
    for (const r of results) t.like(r, { split: 'train' });
    // words inside entities, as counted in shared/data/MANIFEST.md
    const words = Object.fromEntries(results.map((r) => [r.dataset, r.words]));
    t.deepEqual(words, { 'bc5cdr-chem': 7103, 'bc5cdr-disease': 7100, 'ncbi-disease': 11249 });
    const rate = (v, d) => results.find((r) => r.vocab === v && r.dataset === d).rate;
    for (const d of ['bc5cdr-chem', 'bc5cdr-disease', 'ncbi-disease'])
      t.true(rate('pubmedbert-base-uncased', d) < rate('bert-base-cased', d));
    t.true(existsSync(path.join(out, 'breakout.md')));
    t.deepEqual(JSON.parse(readFileSync(path.join(out, 'breakout.json'), 'utf8')), { results });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
