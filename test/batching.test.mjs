// Length-aware batching (ts/tasks/batch.ts featureLogits): rows are sorted by length, padded per
// batch to that batch's longest row, and the outputs come back in the callers' order.
import test from 'ava';
import path from 'node:path';
import { BiomegModel, featureLogits } from '../dist/index.js';
import { BACKENDS } from './helpers/backends.mjs';

/** Features of the given lengths; token t of feature i has id 1000 * i + t. */
function features(lengths) {
  return lengths.map((len, i) => ({
    ids: Uint32Array.from({ length: len }, (_, t) => 1000 * i + t),
    typeIds: new Uint32Array(len),
    labels: new Int32Array(0),
    example: i,
    window: 0,
  }));
}

/** A logit source whose output for each token is its id (width 1; a sequence head: the row's
 *  first id), recording every batch. */
function echoSource(batches, perRow = false) {
  return {
    async evalLogits(b) {
      batches.push({ batch: b.batch, seq: b.seq, real: b.mask.reduce((a, v) => a + v, 0) });
      if (perRow) return Float32Array.from({ length: b.batch }, (_, r) => b.ids[r * b.seq]);
      return Float32Array.from(b.ids, (id, i) => (b.mask[i] ? id : -1));
    },
  };
}

const padded = (batches) => batches.reduce((a, b) => a + b.batch * b.seq - b.real, 0);

test('featureLogits restores the input order and pads far less than input-order batches', async (t) => {
  // Lengths as in a set of abstracts' windows: mostly short sentences, some long.
  let s = 7;
  const lengths = Array.from({ length: 203 }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return 8 + (s % 9 === 0 ? 300 + (s % 200) : s % 60);
  });
  const feats = features(lengths);
  const batches = [];
  const out = await featureLogits(echoSource(batches), feats, 'token', 1, 8);
  t.is(out.length, feats.length);
  for (const [i, f] of feats.entries()) t.deepEqual(Array.from(out[i]), Array.from(f.ids), `feature ${i} got another row's outputs`);
  t.is(batches.length, Math.ceil(feats.length / 8));
  const sortedPad = padded(batches);
  // The same features batched in input order, for comparison.
  let naive = 0;
  for (let i = 0; i < lengths.length; i += 8) {
    const l = lengths.slice(i, i + 8);
    naive += l.length * Math.max(...l) - l.reduce((a, b) => a + b, 0);
  }
  const real = lengths.reduce((a, b) => a + b, 0);
  t.log(`${real} real positions: padding ${sortedPad} sorted vs ${naive} in input order`);
  t.true(sortedPad * 10 < naive, `sorted ${sortedPad} vs input order ${naive}`);
  // Sequence heads: one output row per feature, also in input order.
  const seqOut = await featureLogits(echoSource([], true), feats, 'sequence', 1, 8);
  for (const [i, f] of feats.entries()) t.is(seqOut[i][0], f.ids[0], `sequence feature ${i}`);
});

for (const backend of BACKENDS) {
  test(`ner() over texts of mixed lengths equals one text at a time (${backend})`, async (t) => {
    const model = await BiomegModel.load(path.resolve('test/fixtures/models/tiny-bert-token'), { backend });
    const texts = [
      'aspirin',
      'Naloxone reverses the antihypertensive effect of clonidine in a long sentence that goes on.',
      'cocaine and heroin',
      'x',
      'The patient received lithium, then haloperidol, then nothing at all for days.',
    ];
    const together = await model.ner(texts, { batchSize: 4 });
    const single = [];
    for (const tx of texts) single.push((await model.ner([tx], { batchSize: 1 }))[0]);
    t.is(together.length, texts.length);
    for (let i = 0; i < texts.length; i++) {
      t.deepEqual(
        together[i].map((e) => [e.label, e.start, e.end, e.text]),
        single[i].map((e) => [e.label, e.start, e.end, e.text]),
        texts[i],
      );
      for (const [j, e] of together[i].entries()) t.true(Math.abs(e.score - single[i][j].score) < 1e-4);
    }
  });
}
