// Pre-training data pipeline (ts/pretrain/data): sentence splitting, corpus reading (.gz, binary
// and empty input, 1 MB lines), packing, shards (byte-identical by seed, byte budget, resume,
// corruption), BERT masking statistics, and the real PubMed corpus when BIOMEG_DATA is set.
// Tokenizer-dependent tests run on both backends; masking and shard reading are pure TS.
import test from 'ava';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  decodeRecord,
  HEADER_BYTES,
  IGNORE_INDEX,
  Masker,
  mixSeed,
  openShards,
  Packer,
  prepareCorpus,
  readCorpus,
  ShardFile,
  splitSentences,
} from '../dist/pretrain/data/index.js';
import { loadTokenizer, trainVocab } from '../dist/text/index.js';
import { BACKENDS, needOrSkip } from './helpers/backends.mjs';

const DATA = process.env.BIOMEG_DATA;
const VOCABS = process.env.BIOMEG_VOCABS;
const made = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'biomeg-pretrain-data-'));
  made.push(d);
  return d;
};
test.after.always(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// A small lowercase WordPiece vocabulary that covers any ASCII text (letters and digits as
// fallback pieces), and a seeded generator of abstract-like documents over its words.
const WORDS = (
  'the of and in a to with was were is are for by on at as from that this patients cells protein expression ' +
  'increased decreased disease treatment study results cancer gene levels group mice receptor activity ' +
  'clinical effect response significantly compared control analysis associated risk dose mg kg blood ' +
  'tumor therapy induced human model data cell acid role function after before between during high low'
).split(' ');
const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
function vocabLines({ omit = [] } = {}) {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789'.split('');
  const punct = '.,;:()-/<>=%?!\'"[]+'.split('');
  const lines = [...SPECIALS.filter((s) => !omit.includes(s)), ...punct, ...chars, ...chars.map((c) => `##${c}`), ...WORDS];
  for (const suf of ['s', 'ed', 'ing', 'ly', 'ase', 'in']) lines.push(`##${suf}`);
  return [...new Set(lines)];
}
const VOCAB_TEXT = `${vocabLines().join('\n')}\n`;

function lcg(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}
function genSentence(r) {
  const n = 3 + Math.floor(r() * 18);
  const w = [];
  for (let i = 0; i < n; i++) w.push(r() < 0.1 ? String(Math.floor(r() * 500)) : WORDS[Math.floor(r() * WORDS.length)]);
  if (r() < 0.2) w.push(`il-${Math.floor(r() * 20)}`);
  w[0] = w[0][0].toUpperCase() + w[0].slice(1);
  return `${w.join(' ')}.`;
}
function genCorpus(docs, seed, { minSentences = 1, maxSentences = 12 } = {}) {
  const r = lcg(seed);
  const out = [];
  for (let d = 0; d < docs; d++) {
    const n = minSentences + Math.floor(r() * (maxSentences - minSentences + 1));
    out.push(Array.from({ length: n }, () => genSentence(r)).join(' '));
  }
  return out;
}
const tokenizerFor = (backend) => loadTokenizer(VOCAB_TEXT, { lowercase: true, backend, name: 'test-vocab' });

// ---------------------------------------------------------------------------------------------
test('sentence splitter: abbreviations, initials, decimals, p-values, brackets', (t) => {
  const cases = [
    [
      'Mutations were found in 12 genes (e.g., BRCA1 and TP53). These were validated.',
      ['Mutations were found in 12 genes (e.g., BRCA1 and TP53).', 'These were validated.'],
    ],
    ['As shown by Smith et al. The effect was small.', ['As shown by Smith et al. The effect was small.']],
    ['See Fig. 2 for details. Table 1 lists the doses.', ['See Fig. 2 for details.', 'Table 1 lists the doses.']],
    [
      'The difference was significant (p < 0.05). No adverse events occurred.',
      ['The difference was significant (p < 0.05).', 'No adverse events occurred.'],
    ],
    ['The mean was 0.5 mg/kg. 25 patients responded.', ['The mean was 0.5 mg/kg.', '25 patients responded.']],
    [
      'E. coli and S. aureus were tested vs. controls. Results differed.',
      ['E. coli and S. aureus were tested vs. controls.', 'Results differed.'],
    ],
    ['Doses of approx. 5 mg were given i.v. Twice daily.', ['Doses of approx. 5 mg were given i.v. Twice daily.']],
    ['J. Smith and Dr. Jones reported case No. 5. It was rare!', ['J. Smith and Dr. Jones reported case No. 5.', 'It was rare!']],
    ['Does it work? Yes. [A] shows it.', ['Does it work?', 'Yes.', '[A] shows it.']],
    ['Levels rose (P = .03). i.e. the drug works.', ['Levels rose (P = .03). i.e. the drug works.']],
    ['It ended "here." Then another began.', ['It ended "here."', 'Then another began.']],
    ['Line one without stop\nLine two. Three', ['Line one without stop', 'Line two.', 'Three']],
    [
      'BACKGROUND: Asthma is common. METHODS: Drugs on the U.S. Food and Drug Administration list were used.',
      ['BACKGROUND: Asthma is common.', 'METHODS: Drugs on the U.S. Food and Drug Administration list were used.'],
    ],
    ['  ', []],
  ];
  for (const [text, want] of cases) t.deepEqual(splitSentences(text), want, text);
});

// ---------------------------------------------------------------------------------------------
test('packing: greedy whole sentences, [CLS]/[SEP], document boundaries, long sentences chunked', (t) => {
  const CLS = 2;
  const SEP = 3;
  const seqs = [];
  const p = new Packer({ maxLen: 10, cls: CLS, sep: SEP }, (s) => seqs.push(s));
  const sent = (from, n) => ({
    ids: Uint32Array.from({ length: n }, (_, i) => from + i),
    wordStart: Uint8Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 1 : 0)),
  });
  p.addSentence(sent(100, 3));
  p.addSentence(sent(200, 4)); // 3 + 4 = 7 <= 8
  p.addSentence(sent(300, 2)); // 9 > 8: new sequence
  p.endDocument();
  p.addSentence(sent(400, 1)); // new document, new sequence
  p.addSentence(sent(500, 19)); // longer than 8: flush, chunks 8 + 8 + 3 (the last stays open)
  p.addSentence(sent(600, 5)); // 3 + 5 = 8 fits after the last chunk
  p.endDocument();
  const rows = seqs.map((s) => [...s.ids]);
  const r = (from, n) => Array.from({ length: n }, (_, i) => from + i);
  t.deepEqual(rows, [
    [CLS, ...r(100, 3), ...r(200, 4), SEP],
    [CLS, ...r(300, 2), SEP],
    [CLS, ...r(400, 1), SEP],
    [CLS, ...r(500, 8), SEP],
    [CLS, ...r(508, 8), SEP],
    [CLS, ...r(516, 3), ...r(600, 5), SEP],
  ]);
  for (const s of seqs) t.true(s.ids.length <= 10);
  t.deepEqual([...seqs[0].wordStart], [1, 1, 0, 1, 1, 0, 1, 0, 1]);
  t.deepEqual([...seqs[4].wordStart], [1, 1, 0, 1, 0, 1, 0, 1, 0, 1]); // a chunk keeps its tokens' flags

  const sepSeqs = [];
  const q = new Packer({ maxLen: 10, cls: CLS, sep: SEP, separator: 'sep' }, (s) => sepSeqs.push(s));
  q.addSentence(sent(100, 3));
  q.addSentence(sent(200, 4)); // 4 + 5 = 9 <= 9
  q.addSentence(sent(300, 2));
  q.endDocument();
  t.deepEqual(
    sepSeqs.map((s) => [...s.ids]),
    [
      [CLS, ...r(100, 3), SEP, ...r(200, 4), SEP],
      [CLS, ...r(300, 2), SEP],
    ],
  );
  t.throws(() => new Packer({ maxLen: 2, cls: 0, sep: 1 }, () => {}), { message: /maxLen must be an integer >= 3/ });
});

// ---------------------------------------------------------------------------------------------
// Masking on a large synthetic batch: 4,000 sequences of 128 tokens.
const SPECIAL = { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 };
function syntheticRecords(n, len, seed) {
  const r = lcg(seed);
  return Array.from({ length: n }, () => {
    const L = len - Math.floor(r() * 8);
    const ids = new Uint32Array(L);
    const ws = new Uint8Array(L);
    for (let i = 0; i < L; i++) {
      ids[i] = i === 0 ? SPECIAL.cls : i === L - 1 || i === 60 ? SPECIAL.sep : 5 + Math.floor(r() * 995);
      ws[i] = i === 0 || r() < 0.6 ? 1 : 0;
    }
    return { ids, wordStart: ws };
  });
}

test('masking: 15 % of non-special tokens, 80/10/10, never special tokens or padding', (t) => {
  const recs = syntheticRecords(4000, 128, 7);
  const m = new Masker({ vocabSize: 1000, special: SPECIAL });
  const b = m.maskBatch(
    recs,
    recs.map((_, i) => mixSeed(1, 0, i)),
    128,
  );
  t.is(b.ids.length, 4000 * 128);
  let cand = 0;
  let chosen = 0;
  let masked = 0;
  let random = 0;
  let kept = 0;
  recs.forEach((rec, r) => {
    for (let i = 0; i < 128; i++) {
      const k = r * 128 + i;
      const real = i < rec.ids.length;
      t.is(b.mask[k], real ? 1 : 0);
      if (!real) {
        if (b.ids[k] !== SPECIAL.pad || b.labels[k] !== IGNORE_INDEX) t.fail(`padding at row ${r} col ${i} touched`);
        continue;
      }
      const orig = rec.ids[i];
      const special = orig <= 4;
      if (!special) cand++;
      if (b.labels[k] === IGNORE_INDEX) {
        if (b.ids[k] !== orig) t.fail(`unchosen token changed at ${r},${i}`);
        continue;
      }
      if (special) t.fail(`special token chosen at ${r},${i}`);
      t.is(b.labels[k], orig);
      chosen++;
      if (b.ids[k] === SPECIAL.mask) masked++;
      else if (b.ids[k] === orig) kept++;
      else {
        random++;
        if (b.ids[k] <= 4 || b.ids[k] >= 1000) t.fail(`random replacement ${b.ids[k]} is special or out of range`);
      }
    }
  });
  const rate = chosen / cand;
  t.log(
    `chosen ${chosen}/${cand} = ${(100 * rate).toFixed(2)} %; [MASK] ${((100 * masked) / chosen).toFixed(2)} %, random ${((100 * random) / chosen).toFixed(2)} %, kept ${((100 * kept) / chosen).toFixed(2)} %`,
  );
  t.true(Math.abs(rate - 0.15) < 0.005, `rate ${rate}`);
  t.true(Math.abs(masked / chosen - 0.8) < 0.01, `mask share ${masked / chosen}`);
  // a random draw equal to the original counts as kept (1 in 995)
  t.true(Math.abs(random / chosen - 0.1) < 0.01, `random share ${random / chosen}`);
  t.true(Math.abs(kept / chosen - 0.1) < 0.01, `kept share ${kept / chosen}`);
});

test('masking: whole-word masking chooses whole words; dynamic per epoch; same seed, same masks', (t) => {
  const recs = syntheticRecords(2000, 128, 11);
  const m = new Masker({ vocabSize: 1000, special: SPECIAL, wholeWord: true });
  const b = m.maskBatch(
    recs,
    recs.map((_, i) => mixSeed(5, 0, i)),
    128,
  );
  let words = 0;
  let partial = 0;
  let chosen = 0;
  let cand = 0;
  recs.forEach((rec, r) => {
    // words: runs of non-special tokens from a word-start flag to the next
    let start = -1;
    const close = (end) => {
      if (start < 0) return;
      let n = 0;
      for (let i = start; i < end; i++) if (b.labels[r * 128 + i] !== IGNORE_INDEX) n++;
      words++;
      if (n !== 0 && n !== end - start) partial++;
      chosen += n;
      cand += end - start;
      start = -1;
    };
    for (let i = 0; i < rec.ids.length; i++) {
      if (rec.ids[i] <= 4) close(i);
      else if (rec.wordStart[i] === 1 || start < 0) {
        close(i);
        start = i;
      }
    }
    close(rec.ids.length);
  });
  t.log(`whole-word: ${words} words, ${partial} partly chosen, ${((100 * chosen) / cand).toFixed(2)} % of tokens chosen`);
  t.is(partial, 0);
  t.true(Math.abs(chosen / cand - 0.15) < 0.01, `rate ${chosen / cand}`);

  // dynamic masking: epoch 1 masks differently; the same (seed, epoch, record) masks the same way
  const plain = new Masker({ vocabSize: 1000, special: SPECIAL });
  const e0 = plain.maskBatch(
    recs,
    recs.map((_, i) => mixSeed(5, 0, i)),
    128,
  );
  const e0again = plain.maskBatch(
    recs,
    recs.map((_, i) => mixSeed(5, 0, i)),
    128,
  );
  const e1 = plain.maskBatch(
    recs,
    recs.map((_, i) => mixSeed(5, 1, i)),
    128,
  );
  t.deepEqual(e0again.labels, e0.labels);
  t.deepEqual(e0again.ids, e0.ids);
  let differ = 0;
  for (let r = 0; r < recs.length; r++) {
    const a = e0.labels.subarray(r * 128, (r + 1) * 128);
    const c = e1.labels.subarray(r * 128, (r + 1) * 128);
    if (a.some((v, i) => v !== c[i])) differ++;
  }
  t.true(differ > 0.99 * recs.length, `${differ} of ${recs.length} rows masked differently in epoch 1`);
  t.throws(() => new Masker({ vocabSize: 1000, special: SPECIAL, maskProb: 0 }), { message: /maskProb/ });
});

// ---------------------------------------------------------------------------------------------
function writeCorpus(dir, name, docs) {
  const f = path.join(dir, name);
  writeFileSync(f, `${docs.join('\n')}\n`);
  return f;
}

/** All records of a shard directory, in file order. */
function allRecords(dir) {
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const out = [];
  for (const s of manifest.shards) {
    const f = new ShardFile(path.join(dir, s.file));
    const buf = new Uint8Array(f.count * f.header.recordBytes);
    f.readRecords(0, f.count, buf);
    for (let i = 0; i < f.count; i++) out.push(decodeRecord(buf, i, f.header));
    f.close();
  }
  return { manifest, records: out };
}

for (const backend of BACKENDS) {
  test(`${backend}: prepareCorpus round trip: every sentence's tokens in order, documents never share a sequence`, async (t) => {
    const tok = await tokenizerFor(backend);
    const dir = tmp();
    const docs = genCorpus(60, 3, { maxSentences: 15 });
    docs[5] = `${genSentence(lcg(9))} ${'protein '.repeat(90)}end.`; // one sentence longer than a sequence
    const corpus = writeCorpus(dir, 'c.txt', docs);
    const res = await prepareCorpus({ corpus, tokenizer: tok, outDir: path.join(dir, 'out'), maxLen: 48, seed: 1 });
    const { manifest, records } = allRecords(path.join(dir, 'out'));
    const sp = tok.specialIds;
    t.is(manifest.counts.documents, 60);
    t.is(manifest.counts.sequences, records.length);
    t.is(manifest.counts.chunkedSentences, 1);
    let k = 0;
    let sentences = 0;
    let tokens = 0;
    for (const doc of docs) {
      const sents = splitSentences(doc).map((s) => tok.encode(s));
      sentences += sents.length;
      const want = sents.flatMap((e) => [...e.ids]);
      const starts = sents.flatMap((e) => [...e.wordIds].map((w, i, a) => (i === 0 || w !== a[i - 1] ? 1 : 0)));
      tokens += want.length;
      const got = [];
      const gotStarts = [];
      while (got.length < want.length) {
        const r = records[k++];
        t.true(r.ids.length <= 48);
        t.is(r.ids[0], sp.cls);
        t.is(r.ids[r.ids.length - 1], sp.sep);
        const body = [...r.ids.slice(1, -1)];
        t.false(body.includes(sp.cls) || body.includes(sp.sep) || body.includes(sp.pad));
        got.push(...body);
        gotStarts.push(...r.wordStart.slice(1, -1));
      }
      t.deepEqual(got, want); // exact: a sequence spilling into the next document would overshoot
      t.deepEqual(gotStarts, starts);
    }
    t.is(k, records.length);
    t.is(manifest.counts.sentences, sentences);
    t.is(manifest.counts.tokens, tokens);
    t.true(res.peakBufferBytes <= manifest.maxBufferBytes);
  });

  test(`${backend}: vocabulary without [MASK] is refused naming the file; word starts follow the tokenizer's words`, async (t) => {
    const dir = tmp();
    const vf = path.join(dir, 'vocab.txt');
    writeFileSync(vf, `${vocabLines({ omit: ['[MASK]'] }).join('\n')}\n`);
    const corpus = writeCorpus(dir, 'c.txt', ['Some text here.']);
    const e = await t.throwsAsync(prepareCorpus({ corpus, vocab: vf, backend, outDir: path.join(dir, 'out') }));
    t.is(e.code, 'BIOMEG_BAD_VOCAB');
    t.true(e.message.includes(vf) && e.message.includes('[MASK]'), e.message);
    t.false(existsSync(path.join(dir, 'out', 'manifest.json')));

    const tok = await tokenizerFor(backend);
    const out = path.join(dir, 'ok');
    await prepareCorpus({ corpus: writeCorpus(dir, 'w.txt', ['Proteins were cleaved.']), tokenizer: tok, outDir: out, maxLen: 16 });
    const [rec] = allRecords(out).records;
    const toks = [...rec.ids].map((id) => tok.idToToken(id));
    t.deepEqual(toks, ['[CLS]', 'protein', '##s', 'were', 'c', '##l', '##e', '##a', '##v', '##ed', '.', '[SEP]']);
    t.deepEqual([...rec.wordStart], [1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1]);
  });
}

test('any vocabulary: WordPiece vocab.txt and unigram tokenizer.json learned by trainVocab', async (t) => {
  const dir = tmp();
  const docs = genCorpus(120, 17, { minSentences: 2 });
  const corpus = writeCorpus(dir, 'c.txt', docs);
  for (const model of ['wordpiece', 'unigram']) {
    const v = await trainVocab(corpus, path.join(dir, model), { size: 300, model, lowercase: true, backend: 'native' });
    t.true(v.file.endsWith(model === 'wordpiece' ? 'vocab.txt' : 'tokenizer.json'));
    const res = await prepareCorpus({ corpus, vocab: v.file, backend: 'native', outDir: path.join(dir, `out-${model}`), maxLen: 64 });
    t.is(res.manifest.vocab.source, v.file);
    t.is(res.manifest.counts.documents, 120);
    const tok = await loadTokenizer(v.file, { backend: 'native' });
    const want = splitSentences(docs[0]).flatMap((s) => [...tok.encode(s).ids]);
    const { records } = allRecords(path.join(dir, `out-${model}`));
    const got = [];
    for (let k = 0; got.length < want.length; k++) got.push(...records[k].ids.slice(1, -1));
    t.deepEqual(got, want, model);
  }
});

test('shards: byte-identical for the same corpus, vocab and seed, on native and wasm', async (t) => {
  const dir = tmp();
  const corpus = writeCorpus(dir, 'c.txt', genCorpus(200, 21));
  const runs = [];
  for (const [i, backend] of [
    [0, 'native'],
    [1, 'native'],
    [2, 'wasm'],
  ]) {
    const outDir = path.join(dir, `out${i}`);
    await prepareCorpus({ corpus, tokenizer: await tokenizerFor(backend), outDir, maxLen: 64, seed: 42, maxBufferBytes: 8192 });
    runs.push(Object.fromEntries(readdirSync(outDir).map((f) => [f, readFileSync(path.join(outDir, f))])));
  }
  t.true(Object.keys(runs[0]).length > 3, 'several shards');
  for (const r of runs.slice(1)) {
    t.deepEqual(Object.keys(r).sort(), Object.keys(runs[0]).sort());
    for (const f of Object.keys(r)) t.true(Buffer.compare(r[f], runs[0][f]) === 0, `${f} differs`);
  }
});

test('shards: a corpus 10x the byte budget streams; writer and reader stay within the budget', async (t) => {
  const dir = tmp();
  const budget = 16 * 1024;
  // several files, one gzipped: the corpus is read streaming
  const docs = genCorpus(1500, 5);
  const a = writeCorpus(dir, 'a.txt', docs.slice(0, 700));
  writeFileSync(path.join(dir, 'b.txt.gz'), gzipSync(`${docs.slice(700).join('\n')}\n`));
  const corpusBytes = readFileSync(a).length + Buffer.byteLength(`${docs.slice(700).join('\n')}\n`);
  t.true(corpusBytes > 10 * budget, `corpus ${corpusBytes} bytes vs budget ${budget}`);
  const tok = await tokenizerFor('native');
  const out = path.join(dir, 'out');
  const res = await prepareCorpus({ corpus: dir, tokenizer: tok, outDir: out, maxLen: 64, seed: 3, maxBufferBytes: budget });
  t.log(
    `corpus ${corpusBytes} B text, ${res.manifest.counts.sequences} sequences in ${res.manifest.shards.length} shards, writer peak ${res.peakBufferBytes} B <= ${budget} B`,
  );
  t.is(res.manifest.counts.documents, 1500);
  t.true(res.peakBufferBytes <= budget);
  t.true(res.manifest.shards.every((s) => s.bytes <= budget));
  t.true(res.manifest.shards.length >= 10);
  // a reader budget smaller than a shard: windows of 20 records
  const recordBytes = res.manifest.recordBytes;
  const s = await openShards(out, { batch: 16, maxBufferBytes: 20 * recordBytes + 7 });
  t.true(s.bufferBytes <= 20 * recordBytes + 7);
  const seen = new Set();
  let batches = 0;
  for await (const b of s) {
    batches++;
    for (const r of b.records) seen.add(r);
    t.true(b.ids.length === b.batch * 64);
  }
  t.is(seen.size, res.manifest.counts.sequences, 'every record once per epoch');
  t.is(batches, Math.ceil(res.manifest.counts.sequences / 16));
});

test('shards: resume from a cursor gives the same remaining batches; epochs reshuffle and remask', async (t) => {
  const dir = tmp();
  const corpus = writeCorpus(dir, 'c.txt', genCorpus(300, 8));
  const out = path.join(dir, 'out');
  const res = await prepareCorpus({
    corpus,
    tokenizer: await tokenizerFor('native'),
    outDir: out,
    maxLen: 32,
    seed: 9,
    maxBufferBytes: 6000,
  });
  const n = res.manifest.counts.sequences;
  t.true(res.manifest.shards.length >= 4);
  for (const maxBufferBytes of [undefined, 25 * res.manifest.recordBytes]) {
    const opts = { batch: 13, epochs: 2, wholeWord: true, maxBufferBytes };
    const full = [];
    for await (const b of await openShards(out, opts)) full.push(b);
    t.is(
      full.reduce((a, b) => a + b.batch, 0),
      2 * n,
    );
    for (const k of [1, 7, Math.floor(full.length / 2) + 1]) {
      const rest = [];
      for await (const b of await openShards(out, { ...opts, cursor: full[k - 1].cursor })) rest.push(b);
      t.is(rest.length, full.length - k);
      for (let i = 0; i < rest.length; i++) {
        const [x, y] = [rest[i], full[k + i]];
        if (
          Buffer.compare(Buffer.from(x.ids.buffer), Buffer.from(y.ids.buffer)) ||
          Buffer.compare(Buffer.from(x.labels.buffer), Buffer.from(y.labels.buffer))
        ) {
          t.fail(`batch ${k + i} differs after resuming at batch ${k}`);
          break;
        }
        t.deepEqual(x.cursor, y.cursor);
      }
    }
    // epoch 0 and epoch 1 each cover every record once, in different orders and with different masks
    const rows = full.flatMap((b) => [...b.records].map((r, i) => ({ r, e: b.epochs[i] })));
    const ep = [0, 1].map((e) => rows.filter((x) => x.e === e).map((x) => x.r));
    t.deepEqual(
      [...ep[0]].sort((a, b) => a - b),
      [...Array(n).keys()],
    );
    t.deepEqual(
      [...ep[1]].sort((a, b) => a - b),
      [...Array(n).keys()],
    );
    t.notDeepEqual(ep[0], ep[1]);
  }
  // another seed shuffles differently
  const a = (await openShards(out, { batch: 64 })).nextBatch();
  const b = (await openShards(out, { batch: 64, seed: 10 })).nextBatch();
  t.notDeepEqual([...a.records], [...b.records]);
});

test('held-out split: a seeded share of the documents goes to outDir/heldout and never into training', async (t) => {
  const dir = tmp();
  const docs = genCorpus(400, 13, { minSentences: 2 });
  const corpus = writeCorpus(dir, 'c.txt', docs);
  const tok = await tokenizerFor('native');
  const run = async (seed, name) => {
    const res = await prepareCorpus({
      corpus,
      tokenizer: tok,
      outDir: path.join(dir, name),
      maxLen: 64,
      seed,
      heldOut: 0.1,
      maxBufferBytes: 32768,
    });
    const key = (r) => [...r.ids].join(' ');
    return {
      res,
      train: new Set(allRecords(path.join(dir, name)).records.map(key)),
      held: allRecords(path.join(dir, name, 'heldout')).records.map(key),
    };
  };
  const a = await run(1, 'a');
  const h = a.res.heldOut.counts.documents;
  t.is(a.res.manifest.counts.documents + h, 400);
  t.true(Math.abs(h - 40) <= 4 * Math.sqrt(400 * 0.1 * 0.9), `${h} held-out documents of 400 at 10 %`);
  t.deepEqual(a.res.manifest.heldOut, { fraction: 0.1, dir: 'heldout', counts: a.res.heldOut.counts });
  t.is(a.held.length, a.res.heldOut.counts.sequences);
  t.false(
    a.held.some((k) => a.train.has(k)),
    'a held-out sequence appears in training',
  );
  t.true(a.res.peakBufferBytes <= 32768);
  const again = await run(1, 'a2');
  t.deepEqual(again.held, a.held);
  const other = await run(2, 'b');
  t.notDeepEqual(other.held, a.held);
  let rows = 0;
  for await (const b of await openShards(path.join(dir, 'a', 'heldout'), { batch: 8, shuffle: false, seq: 'longest' })) {
    rows += b.batch;
    // seq: 'longest' pads to the batch's longest sequence
    let longest = 0;
    for (let r = 0; r < b.batch; r++)
      longest = Math.max(
        longest,
        b.mask.subarray(r * b.seq, (r + 1) * b.seq).reduce((x, m) => x + m, 0),
      );
    t.is(b.seq, longest);
    t.is(b.ids.length, b.batch * b.seq);
  }
  t.is(rows, a.res.heldOut.counts.sequences);
  // a caller's own split: every 5th document
  const picked = [];
  const sel = await prepareCorpus({
    corpus,
    tokenizer: tok,
    outDir: path.join(dir, 'every5'),
    maxLen: 64,
    selectDocument: (i, doc) => {
      if (i % 5 === 0) picked.push(doc.line);
      return i % 5 === 0;
    },
  });
  t.is(sel.manifest.counts.documents, 80);
  t.deepEqual(picked.slice(0, 3), [1, 6, 11]);
});

test('shards: a truncated shard and a flipped byte give errors naming the shard file', async (t) => {
  const dir = tmp();
  const corpus = writeCorpus(dir, 'c.txt', genCorpus(120, 4));
  const out = path.join(dir, 'out');
  const { manifest } = await prepareCorpus({
    corpus,
    tokenizer: await tokenizerFor('native'),
    outDir: out,
    maxLen: 32,
    maxBufferBytes: 4096,
  });
  const copy = (name) => {
    const d = path.join(dir, name);
    mkdirSync(d);
    for (const f of readdirSync(out)) copyFileSync(path.join(out, f), path.join(d, f));
    return d;
  };
  const drain = async (d, opts = {}) => {
    for await (const _ of await openShards(d, { batch: 8, shuffle: false, ...opts }));
  };
  await t.notThrowsAsync(drain(out));

  const cut = copy('cut');
  const cutFile = path.join(cut, 'shard-00001.bin');
  truncateSync(cutFile, readFileSync(cutFile).length - 10);
  const e1 = await t.throwsAsync(drain(cut));
  t.is(e1.code, 'BIOMEG_BAD_DATA');
  t.true(e1.message.includes(cutFile) && /cut short/.test(e1.message), e1.message);

  for (const [name, at, what, opts] of [
    ['flip', HEADER_BYTES + 100, /checksum mismatch \(records corrupted/, {}],
    ['flip-windowed', HEADER_BYTES + 100, /checksum mismatch \(records corrupted/, { maxBufferBytes: 3 * manifest.recordBytes }],
    ['flip-header', 13, /header checksum mismatch/, {}],
  ]) {
    const d = copy(name);
    const f = path.join(d, 'shard-00002.bin');
    const bytes = readFileSync(f);
    bytes[at] ^= 0x10;
    writeFileSync(f, bytes);
    const e = await t.throwsAsync(drain(d, opts));
    t.is(e.code, 'BIOMEG_BAD_DATA');
    t.true(e.message.includes(f) && what.test(e.message), e.message);
  }
});

test('masking module imports no node: module (it runs in a browser)', (t) => {
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(/^\s*(?:import|export)[^'"]*?from\s+'([^']+)'/gm)) {
      t.false(m[1].startsWith('node:') || !m[1].startsWith('.'), `${path.basename(file)} imports ${m[1]}`);
      if (m[1].startsWith('.')) visit(path.resolve(path.dirname(file), m[1].replace(/\.js$/, '.ts')));
    }
  };
  visit(new URL('../ts/pretrain/data/masking.ts', import.meta.url).pathname);
  t.true(seen.size >= 3, [...seen].join(', ')); // masking.ts, errors.ts, rng.ts
});

// ---------------------------------------------------------------------------------------------
test('corpus: one document per line or blank-line separated (detected), .gz streaming, file:line provenance', async (t) => {
  const dir = tmp();
  writeFileSync(path.join(dir, 'a.txt'), 'First doc. Two sentences.\n\nSecond doc.\n');
  writeFileSync(
    path.join(dir, 'b.txt.gz'),
    gzipSync('Sentence one of doc A.\nSentence two of doc A.\n\nDoc B line one.\nDoc B line two.\n'),
  );
  writeFileSync(path.join(dir, '.hidden'), 'ignored');
  const docs = [];
  for await (const d of readCorpus(dir)) docs.push(d);
  t.deepEqual(
    docs.map((d) => [path.basename(d.file), d.line, d.text]),
    [
      ['a.txt', 1, 'First doc. Two sentences.'],
      ['a.txt', 3, 'Second doc.'],
      ['b.txt.gz', 1, 'Sentence one of doc A.\nSentence two of doc A.'],
      ['b.txt.gz', 4, 'Doc B line one.\nDoc B line two.'],
    ],
  );
  const lines = [];
  for await (const d of readCorpus(path.join(dir, 'b.txt.gz'), { format: 'lines' })) lines.push(d.line);
  t.deepEqual(lines, [1, 2, 4, 5]);
});

test('bad input: empty corpus, binary file, invalid UTF-8, corrupt gzip', async (t) => {
  const dir = tmp();
  const drain = async (p, opts) => {
    for await (const _ of readCorpus(p, opts));
  };
  const empty = path.join(dir, 'empty.txt');
  writeFileSync(empty, '');
  const blank = path.join(dir, 'blank.txt');
  writeFileSync(blank, '\n  \n\n');
  const emptyDir = path.join(dir, 'nothing');
  mkdirSync(emptyDir);
  for (const p of [empty, blank, emptyDir]) {
    const e = await t.throwsAsync(drain(p));
    t.is(e.code, 'BIOMEG_BAD_DATA');
    t.true(e.message.startsWith('empty corpus') && e.message.includes(p), e.message);
  }
  const e0 = await t.throwsAsync(prepareCorpus({ corpus: blank, tokenizer: await tokenizerFor('native'), outDir: path.join(dir, 'o') }));
  t.regex(e0.message, /empty corpus/);

  const bin = path.join(dir, 'model.bin');
  writeFileSync(bin, Buffer.concat([Buffer.from('PK\x03\x04 some header'), Buffer.alloc(64), Buffer.from([0xff, 0xfe, 0x00, 0x12])]));
  const e1 = await t.throwsAsync(drain(bin));
  t.is(e1.code, 'BIOMEG_BAD_DATA');
  t.true(e1.message.includes(bin) && /binary data.*NUL byte at byte 16/.test(e1.message), e1.message);

  const latin = path.join(dir, 'latin.txt');
  writeFileSync(latin, Buffer.from(Array.from({ length: 5000 }, (_, i) => (i % 10 === 0 ? 0xe9 : 0x61))));
  const e2 = await t.throwsAsync(drain(latin));
  t.true(e2.message.includes(latin) && /undecodable bytes/.test(e2.message), e2.message);

  const gz = path.join(dir, 'broken.txt.gz');
  writeFileSync(gz, gzipSync('Some text. '.repeat(1000)).subarray(0, 40));
  const e3 = await t.throwsAsync(drain(gz));
  t.is(e3.code, 'BIOMEG_BAD_DATA');
  t.true(e3.message.includes(gz), e3.message);

  const e4 = await t.throwsAsync(drain(path.join(dir, 'missing.txt')));
  t.is(e4.code, 'BIOMEG_IO');
});

test('bad input: a 1 MB line is split into sentences normally, or cut at maxDocumentChars with a warning', async (t) => {
  const dir = tmp();
  const sentence = 'The patients were treated with 5 mg of the drug. ';
  const big = sentence.repeat(Math.ceil((1 << 20) / sentence.length));
  t.true(big.length >= 1 << 20);
  const corpus = writeCorpus(dir, 'big.txt', ['A short first document.', big, 'A short last document.']);
  const tok = await tokenizerFor('native');
  const res = await prepareCorpus({ corpus, tokenizer: tok, outDir: path.join(dir, 'out'), maxLen: 128, maxBufferBytes: 64 * 1024 });
  const per = splitSentences(sentence).length;
  t.is(res.manifest.counts.documents, 3);
  t.is(res.manifest.counts.sentences, 2 + (big.length / sentence.length) * per);
  t.is(res.manifest.counts.truncatedDocuments, 0);
  t.true(res.peakBufferBytes <= 64 * 1024);

  const warnings = [];
  const docs = [];
  for await (const d of readCorpus(corpus, { maxDocumentChars: 1000, onWarning: (w) => warnings.push(w) })) docs.push(d);
  t.deepEqual(
    docs.map((d) => [d.line, d.text.length, d.truncated]),
    [
      [1, 23, false],
      [2, 1000, true],
      [3, 22, false],
    ],
  );
  t.is(warnings.length, 1);
  t.true(warnings[0].startsWith(`${corpus}:2:`), warnings[0]);
});

// ---------------------------------------------------------------------------------------------
test('real corpus: pubmed-abstracts-mini with the PubMedBERT vocabulary (counts and time)', async (t) => {
  const corpus = DATA && path.join(DATA, 'pubmed-abstracts-mini', 'pubmed_abstracts_mini.txt');
  const vocab = VOCABS && path.join(VOCABS, 'pubmedbert-base-uncased', 'vocab.txt');
  if (
    !needOrSkip(
      t,
      corpus && vocab && existsSync(corpus) && existsSync(vocab),
      'set BIOMEG_DATA and BIOMEG_VOCABS (pubmed-abstracts-mini, pubmedbert-base-uncased)',
    )
  )
    return;
  const dir = tmp();
  const res = await prepareCorpus({ corpus, vocab, backend: 'native', outDir: dir, maxLen: 128, seed: 0 });
  const c = res.manifest.counts;
  t.log(
    `pubmed-abstracts-mini: ${c.documents} documents, ${c.sentences} sentences, ${c.tokens} tokens, ${c.sequences} sequences of <= 128 ` +
      `(${res.manifest.shards.length} shards) in ${res.seconds.toFixed(2)} s (${Math.round(c.tokens / res.seconds)} tokens/s, native)`,
  );
  t.is(c.documents, 3363); // MANIFEST.md: 3,363 abstracts, one per line
  t.true(c.sentences > 8 * c.documents, `${c.sentences} sentences`);
  t.true(c.tokens > 772049, `${c.tokens} sub-tokens for 772,049 whitespace words`);
  t.true(c.sequences >= Math.ceil(c.tokens / 126));
  t.is(c.truncatedDocuments, 0);
  const t0 = performance.now();
  let rows = 0;
  let chosen = 0;
  let real = 0;
  for await (const b of await openShards(dir, { batch: 32, wholeWord: true })) {
    rows += b.batch;
    for (let i = 0; i < b.labels.length; i++) {
      if (b.labels[i] !== IGNORE_INDEX) chosen++;
      real += b.mask[i];
    }
  }
  t.log(
    `one masked epoch (whole-word, batch 32): ${((performance.now() - t0) / 1000).toFixed(2)} s; ${((100 * chosen) / real).toFixed(2)} % of real tokens chosen`,
  );
  t.is(rows, c.sequences);
});
