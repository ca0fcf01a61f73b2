// Encoder runtime: parity with PyTorch/transformers reference outputs (committed fixtures made by
// scripts/fixtures/make_model_fixtures.py) on both backends, native == wasm, and bad input.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BiomegModel } from '../dist/index.js';
import { readSafetensors, maxAbsDiff, maxRelDiff } from './helpers/safetensors.mjs';
import { BACKENDS, needOrSkip } from './helpers/backends.mjs';

const FIX = path.resolve('test/fixtures/models');
const index = JSON.parse(readFileSync(path.join(FIX, 'index.json'), 'utf8'));
const TOL = 1e-4;

/** Run a model on a reference's inputs; returns { hidden, logits }. */
async function runReference(model, ref) {
  const [batch, seq] = ref.input_ids.shape;
  const ids = Uint32Array.from(ref.input_ids.data);
  const typeIds = Uint32Array.from(ref.token_type_ids.data);
  const mask = Uint8Array.from(ref.attention_mask.data);
  return model.forward({ ids, typeIds, mask, batch, seq }, model.task !== null);
}

/** The reference's head output laid out like biomeg's logits. */
function expectedLogits(ref) {
  if (ref.logits) return ref.logits.data;
  if (ref.start_logits) {
    const s = ref.start_logits.data,
      e = ref.end_logits.data;
    const out = new Float32Array(2 * s.length);
    s.forEach((v, i) => {
      out[2 * i] = v;
      out[2 * i + 1] = e[i];
    });
    return out;
  }
  return null;
}

const outputs = {};
for (const name of Object.keys(index)) {
  for (const backend of BACKENDS) {
    test(`${name} matches transformers within ${TOL} (${backend})`, async (t) => {
      const model = await BiomegModel.load(path.join(FIX, name), { backend });
      t.is(model.backend, backend);
      const ref = readSafetensors(path.join(FIX, name, 'reference.safetensors'));
      const out = await runReference(model, ref);
      const dh = maxAbsDiff(out.hidden, ref.last_hidden_state.data);
      t.true(dh < TOL, `last_hidden_state max abs diff ${dh}`);
      const want = expectedLogits(ref);
      if (want) {
        const dl = maxAbsDiff(out.logits, want);
        t.true(dl < TOL, `logits max abs diff ${dl}`);
      }
      t.log(`hidden ${dh.toExponential(2)}`);
      (outputs[name] ??= {})[backend] = out;
    });
  }
}

test.serial.after('native and wasm give the same outputs (1e-5 relative)', (t) => {
  for (const [name, o] of Object.entries(outputs)) {
    if (!o.native || !o.wasm) continue;
    t.true(maxRelDiff(o.native.hidden, o.wasm.hidden) < 1e-5, `${name} hidden`);
    if (o.native.logits) t.true(maxRelDiff(o.native.logits, o.wasm.logits) < 1e-5, `${name} logits`);
  }
});

const MINILM = process.env.BIOMEG_MINILM_DIR ?? path.resolve('.cache/models/all-MiniLM-L6-v2');
for (const backend of BACKENDS) {
  test(`all-MiniLM-L6-v2 (real pretrained weights) matches transformers, tokenizer included (${backend})`, async (t) => {
    if (!needOrSkip(t, existsSync(path.join(MINILM, 'model.safetensors')), `${MINILM} missing (scripts/fetch-minilm.sh fetches it)`))
      return;
    const model = await BiomegModel.load(MINILM, { backend });
    const refJson = JSON.parse(readFileSync(path.join(FIX, 'minilm-reference.json'), 'utf8'));
    const ref = readSafetensors(path.join(FIX, 'minilm-reference.safetensors'));
    // Our tokenizer gives the reference ids for each sentence.
    refJson.encodings.forEach((e) => {
      const enc = model.tokenizer.encode(e.text);
      t.deepEqual([101, ...enc.ids, 102], e.ids, e.text);
      const offs = e.offsets_utf16.slice(1, -1).flat();
      t.deepEqual(Array.from(enc.offsets), offs, `${e.text} offsets`);
    });
    const out = await runReference(model, ref);
    const d = maxAbsDiff(out.hidden, ref.last_hidden_state.data);
    t.true(d < TOL, `max abs diff ${d}`);
    t.log(`MiniLM last_hidden_state max abs diff ${d.toExponential(2)} over ${out.hidden.length} values`);
  });
}

// Bad checkpoints: each gives its documented error code and names the culprit.
const expected = JSON.parse(readFileSync(path.join(FIX, 'bad', 'expected_errors.json'), 'utf8'));
for (const [name, want] of Object.entries(expected)) {
  for (const backend of BACKENDS) {
    test(`bad checkpoint '${name}' (${backend})`, async (t) => {
      const dir = path.join(FIX, 'bad', name);
      if (want.ok) {
        await t.notThrowsAsync(BiomegModel.load(dir, { backend }));
        return;
      }
      const err = await t.throwsAsync(BiomegModel.load(dir, { backend }));
      const code = name === 'vocab-size-mismatch' ? 'BIOMEG_VOCAB_MISMATCH' : want.code;
      t.is(err.code, code, err.message);
      for (const s of want.must_contain ?? []) t.true(err.message.includes(s), `'${s}' not in: ${err.message}`);
    });
  }
}

for (const backend of BACKENDS) {
  test(`bad inputs give clear errors, never an abort (${backend})`, async (t) => {
    const model = await BiomegModel.load(path.join(FIX, 'tiny-bert-token'), { backend });
    const ids = new Uint32Array(4).fill(5);
    let e = await t.throwsAsync(model.forward({ ids, batch: 2, seq: 3 }));
    t.is(e.code, 'BIOMEG_BAD_INPUT');
    e = await t.throwsAsync(model.forward({ ids: Uint32Array.of(1, 2, 99999), batch: 1, seq: 3 }));
    t.is(e.code, 'BIOMEG_BAD_INPUT');
    t.regex(e.message, /99999.*vocab/);
    e = await t.throwsAsync(model.forward({ ids: new Uint32Array(100).fill(5), batch: 1, seq: 100 }));
    t.regex(e.message, /max_position_embeddings/);
    e = await t.throwsAsync(model.classify(['x']));
    t.is(e.code, 'BIOMEG_WRONG_HEAD');
  });

  test(`NER pipeline: empty string, non-BMP characters, 100k-character input windowed (${backend})`, async (t) => {
    const model = await BiomegModel.load(path.join(FIX, 'tiny-bert-token'), { backend });
    t.deepEqual(await model.ner(['']), [[]]);
    const text = 'The 🧬 patient was treated with aspirin. '.repeat(2);
    const [ents] = await model.ner([text]);
    for (const e of ents) t.is(text.slice(e.start, e.end), e.text);
    const enc = await model.encode([text]);
    // Offsets are UTF-16 indices: the token after the emoji starts at its JS index.
    const i = enc[0].tokens.indexOf('patient');
    t.is(enc[0].offsets[i][0], text.indexOf('patient'));
    const long = 'aspirin treated the patient . '.repeat(3400); // ~102k characters
    t.true(long.length > 100_000);
    const [encLong] = await model.encode([long], { maxLength: 64 });
    // Every token of the input is present (no truncation) and its row is its best window's.
    t.is(encLong.tokens.length, model.tokenizer.encode(long).ids.length);
    t.is(encLong.hidden.length, encLong.tokens.length * model.hiddenSize);
    const [entsLong] = await model.ner([long], { maxLength: 64 });
    for (const e of entsLong) t.true(e.end <= long.length && long.slice(e.start, e.end) === e.text);
  });

  test(`windowed encoding equals unwindowed where a token has full context (${backend})`, async (t) => {
    const model = await BiomegModel.load(path.join(FIX, 'tiny-bert-token'), { backend });
    const text = 'aspirin treated the patient with aspirin and the patient was treated .';
    const [whole] = await model.encode([text], { maxLength: 64 });
    const [win] = await model.encode([text], { maxLength: 10, stride: 4 });
    t.deepEqual(win.tokens, whole.tokens);
    t.is(win.hidden.length, whole.hidden.length);
    // Windows change the context, so values differ; the shapes and token order must not.
    t.false(maxAbsDiff(win.hidden, whole.hidden) === 0);
  });

  test(`QA and classification pipelines return well-formed answers (${backend})`, async (t) => {
    const qa = await BiomegModel.load(path.join(FIX, 'tiny-bert-qa'), { backend });
    const ctx = 'the patient was treated with aspirin . '.repeat(30);
    const answers = await qa.answer('what was the patient treated with ?', ctx, { maxLength: 48, topK: 5 });
    t.true(answers.length > 0 && answers.length <= 5);
    for (const a of answers) t.is(ctx.slice(a.start, a.end), a.text);
    t.true(Math.abs(answers.reduce((s, a) => s + a.score, 0) - 1) < 1e-6);
    const cls = await BiomegModel.load(path.join(FIX, 'tiny-bert-seqcls'), { backend });
    const [r] = await cls.classify([['aspirin', 'the patient was treated .']]);
    t.true(cls.labels.includes(r.label));
    t.true(Math.abs(Object.values(r.scores).reduce((a, b) => a + b, 0) - 1) < 1e-6);
  });
}

test('wasm refuses a model whose fp32 weights exceed its 4 GiB memory, with a clear error', async (t) => {
  const e = await t.throwsAsync(BiomegModel.random('biomegatron-1.2b', { backend: 'wasm' }));
  t.is(e.code, 'BIOMEG_BAD_CONFIG');
  t.regex(e.message, /wasm memory caps at 4 GiB.*native/);
});
