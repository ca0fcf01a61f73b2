// Tokenizer on both backends: hand-computed cases over a tiny vocabulary, Hugging Face reference
// fixtures (scripts/fixtures/make_text_fixtures.py) for the shared vocabularies, native == wasm.
import test from 'ava';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { loadTokenizer } from '../dist/text/index.js';

const BACKENDS = ['native', 'wasm'];
const FIX = new URL('./fixtures/text/', import.meta.url);
const fixturePath = (f) => new URL(f, FIX).pathname;
const TINY = fixturePath('tiny-vocab.txt');
const VOCABS = process.env.BIOMEG_VOCABS;
const CI = process.env.CI === 'true';

/** Shared vocabularies: skip with a visible message locally, fail in CI. */
function needVocabs(t) {
  if (VOCABS && existsSync(VOCABS)) return true;
  if (CI) t.fail('BIOMEG_VOCABS is not set (required in CI)');
  else {
    console.warn(`SKIP ${t.title}: set BIOMEG_VOCABS=/path/to/shared/vocab`);
    t.pass();
  }
  return false;
}

const plain = (e) => ({ ids: [...e.ids], offsets: [...e.offsets], wordIds: [...e.wordIds], tokens: e.tokens });

for (const backend of BACKENDS) {
  const tiny = (lowercase) => loadTokenizer(TINY, { lowercase, backend });

  test(`${backend}: WordPiece ids, UTF-16 offsets and word ids`, async (t) => {
    const tok = await tiny(true);
    const e = tok.encode('Unaffable, hello!');
    t.deepEqual(plain(e), {
      ids: [5, 6, 7, 9, 8, 11],
      offsets: [0, 2, 2, 5, 5, 9, 9, 10, 11, 16, 16, 17],
      wordIds: [0, 0, 0, 1, 2, 3],
      tokens: ['un', '##aff', '##able', ',', 'hello', '!'],
    });
    t.true(e.ids instanceof Uint32Array && e.offsets instanceof Uint32Array && e.wordIds instanceof Uint32Array);
  });

  test(`${backend}: cased vs uncased, accents`, async (t) => {
    t.deepEqual((await tiny(true)).encode('HELLO Hello Café naïve').tokens, ['hello', 'hello', 'cafe', 'na', '##ive']);
    t.deepEqual((await tiny(false)).encode('HELLO Hello café').tokens, ['[UNK]', 'Hello', '[UNK]']);
    t.true((await tiny(true)).lowercase);
    t.false((await tiny(false)).lowercase);
    // detected from the vocabulary: one upper-case piece in 28 entries is more than 2%
    t.false((await loadTokenizer(TINY, { backend })).lowercase);
  });

  test(`${backend}: non-BMP characters, CJK, punctuation: offsets index the JS string`, async (t) => {
    const tok = await tiny(true);
    const s = '𝛂 hello 😀 world';
    const e = tok.encode(s);
    t.deepEqual(e.tokens, ['𝛂', 'hello', '[UNK]', 'world']);
    t.deepEqual([...e.offsets], [0, 2, 3, 8, 9, 11, 12, 17]);
    t.is(s.slice(e.offsets[6], e.offsets[7]), 'world');
    t.is(s.slice(e.offsets[4], e.offsets[5]), '😀');
    const c = tok.encode('中文s');
    t.deepEqual(plain(c), { ids: [15, 16, 1], offsets: [0, 1, 1, 2, 2, 3], wordIds: [0, 1, 2], tokens: ['中', '文', '[UNK]'] });
    t.deepEqual(tok.encode('hello,world!').tokens, ['hello', ',', 'world', '!']);
  });

  test(`${backend}: empty input, words over 100 characters, 100k-character input`, async (t) => {
    const tok = await tiny(true);
    t.deepEqual(plain(tok.encode('')), { ids: [], offsets: [], wordIds: [], tokens: [] });
    t.is(tok.encode('a'.repeat(100)).ids.length, 100);
    const e = tok.encode(`hello ${'a'.repeat(101)}`);
    t.deepEqual(e.tokens, ['hello', '[UNK]']);
    t.deepEqual([...e.offsets], [0, 5, 6, 107]);
    let s = '𝛂';
    while (s.length < 100_000) s += ' hello';
    const big = tok.encode(s);
    t.is(big.ids.length, 1 + (s.length - 2) / 6);
    t.deepEqual([...big.offsets.slice(-2)], [s.length - 5, s.length]);
  });

  test(`${backend}: encodeWords maps sub-tokens to words, offsets per word`, async (t) => {
    const e = (await tiny(true)).encodeWords(['Unaffable', 'hello!', '𝛂hello']);
    t.deepEqual(plain(e), {
      ids: [5, 6, 7, 8, 11, 1],
      offsets: [0, 2, 2, 5, 5, 9, 0, 5, 5, 6, 0, 7],
      wordIds: [0, 0, 0, 1, 1, 2],
      tokens: ['un', '##aff', '##able', 'hello', '!', '[UNK]'],
    });
    t.deepEqual(plain((await tiny(true)).encodeWords([])).ids, []);
  });

  test(`${backend}: lookups, vocab size, special ids`, async (t) => {
    const tok = await tiny(true);
    t.is(tok.tokenToId('##aff'), 6);
    t.is(tok.tokenToId('nope'), undefined);
    t.is(tok.idToToken(8), 'hello');
    t.is(tok.idToToken(99999), undefined);
    t.is(tok.vocabSize, 28);
    t.deepEqual(tok.specialIds, { cls: 2, sep: 3, pad: 0, unk: 1, mask: 4 });
    const noSpecials = await loadTokenizer('[UNK]\nhello\n', { backend });
    t.deepEqual(noSpecials.specialIds, { cls: null, sep: null, pad: null, unk: 0, mask: null });
  });

  test(`${backend}: bad vocabularies give coded errors naming file and line`, async (t) => {
    const dup = fixturePath('dup-vocab.txt');
    const e1 = await t.throwsAsync(() => loadTokenizer(dup, { backend }));
    t.is(e1.code, 'BIOMEG_BAD_VOCAB');
    t.is(e1.message, `${dup}:5: duplicate vocabulary entry "hello" (first seen on line 3)`);
    const nounk = fixturePath('nounk-vocab.txt');
    const e2 = await t.throwsAsync(() => loadTokenizer(nounk, { backend }));
    t.is(e2.code, 'BIOMEG_BAD_VOCAB');
    t.is(e2.message, `${nounk}: vocabulary has no [UNK] entry`);
    const e3 = await t.throwsAsync(() => loadTokenizer(fixturePath('no-such-vocab.txt'), { backend }));
    t.is(e3.code, 'BIOMEG_IO');
    const e4 = await t.throwsAsync(() => loadTokenizer(fixturePath('toy.tsv').replace('toy.tsv', 'hf-bert-base-cased.json'), { backend }));
    t.is(e4.code, 'BIOMEG_BAD_TOKENIZER');
  });

  test(`${backend}: shared vocabularies match Hugging Face BertTokenizerFast`, async (t) => {
    if (!needVocabs(t)) return;
    const files = readdirSync(FIX).filter((f) => f.startsWith('hf-') && f !== 'hf-breakout.json');
    t.is(files.length, 4);
    for (const f of files) {
      const fx = JSON.parse(readFileSync(fixturePath(f), 'utf8'));
      const tok = await loadTokenizer(`${VOCABS}/${fx.vocab}/vocab.txt`, { backend });
      t.is(tok.lowercase, fx.lowercase, `${fx.vocab}: detected casing`);
      t.is(tok.vocabSize, fx.vocabSize);
      for (const c of fx.texts) {
        const e = tok.encode(c.text);
        t.deepEqual([...e.ids], c.ids, `${fx.vocab}: ids of ${JSON.stringify(c.text)}`);
        t.deepEqual([...e.offsets], c.offsets.flat(), `${fx.vocab}: offsets of ${JSON.stringify(c.text)}`);
        t.deepEqual([...e.wordIds], c.wordIds, `${fx.vocab}: word ids of ${JSON.stringify(c.text)}`);
        // the pure-Python tokenizer agrees too, except that it keeps a cased "e + combining
        // accent" together (HF's own fast and slow tokenizers differ there)
        if (fx.lowercase || !c.text.includes('\u0301'))
          t.deepEqual(e.tokens, c.slowTokens, `${fx.vocab}: slow tokens of ${JSON.stringify(c.text)}`);
      }
      for (const c of fx.words) {
        const e = tok.encodeWords(c.words);
        t.deepEqual([...e.ids], c.ids, `${fx.vocab}: ids of ${JSON.stringify(c.words)}`);
        t.deepEqual([...e.wordIds], c.wordIds);
        t.deepEqual([...e.offsets], c.offsets.flat());
      }
    }
  });
}

test('native and wasm tokenize identically', async (t) => {
  const strings = ['Unaffable, hello!', '𝛂 hello 😀 world', 'Café naïve 中文s', '', 'a'.repeat(150), 'x\u0000y\u200bz [CLS]'];
  for (const lowercase of [true, false]) {
    const [n, w] = await Promise.all(BACKENDS.map((backend) => loadTokenizer(TINY, { lowercase, backend })));
    for (const s of strings) t.deepEqual(plain(n.encode(s)), plain(w.encode(s)), JSON.stringify(s));
    t.deepEqual(plain(n.encodeWords(strings)), plain(w.encodeWords(strings)));
  }
  if (VOCABS && existsSync(VOCABS)) {
    const text = readFileSync(fixturePath('hf-bert-base-cased.json'), 'utf8');
    for (const name of ['bert-base-cased', 'pubmedbert-base-uncased']) {
      const [n, w] = await Promise.all(BACKENDS.map((backend) => loadTokenizer(`${VOCABS}/${name}/vocab.txt`, { backend })));
      t.deepEqual(plain(n.encode(text)), plain(w.encode(text)), name);
    }
  }
});
