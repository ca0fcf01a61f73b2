// Pre-training objectives on both backends: the masked-LM head (TrainSession with an mlm head,
// from a BertForMaskedLM checkpoint or from a config alone) and ELECTRA (ElectraSession:
// generator + discriminator). Same losses natively and in wasm, the loss falls when a tiny model
// overfits one batch, saved state resumes bit-identically, the first step matches the PyTorch
// fixture (scripts/fixtures/make_pretrain_fixtures.py), exports load in the runtime, and bad
// input gives coded errors.
import test from 'ava';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BiomegModel, nativeAvailable, wasmAvailable } from '../dist/index.js';
import { ElectraSession, TrainSession } from '../dist/train/index.js';
import { BACKENDS, needOrSkip } from './helpers/backends.mjs';
import { readSafetensors } from './helpers/safetensors.mjs';

const FIX = path.resolve('test/fixtures/pretrain');
const built = (b) => (b === 'native' ? nativeAvailable() : wasmAvailable());
const meta = (name) => JSON.parse(readFileSync(path.join(FIX, `${name}.json`), 'utf8'));

/** The fixture's masked batch (2 x 8, 5 masked positions, 2 padding positions). */
function fixtureBatch(name) {
  const r = readSafetensors(path.join(FIX, `${name}.safetensors`));
  const [B, S] = r.input_ids.shape;
  const batch = {
    ids: Uint32Array.from(r.input_ids.data),
    typeIds: Uint32Array.from(r.token_type_ids.data),
    mask: Uint8Array.from(r.attention_mask.data),
    batch: B,
    seq: S,
  };
  return { batch, labels: Int32Array.from(r.labels.data), sampled: r.sampled ? Uint32Array.from(r.sampled.data) : undefined };
}

const NO_DROPOUT = { hiddenDropout: 0, attnDropout: 0, headDropout: 0 };
const HP = { lr: 1e-3, weightDecay: 0.01, maxGradNorm: 1.0 };
const TINY_BERT = JSON.stringify({
  model_type: 'bert',
  vocab_size: 48,
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 32,
  max_position_embeddings: 16,
  initializer_range: 0.1,
});
const TINY_ELECTRA = JSON.stringify({ ...JSON.parse(TINY_BERT), model_type: 'electra', embedding_size: 8 });

const mlm = fixtureBatch('tiny-bert-mlm');
const electra = fixtureBatch('tiny-electra');

async function steps(session, n, ...args) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await session.step(...args));
  return out;
}

const seen = {};
for (const backend of BACKENDS) {
  test.serial(`mlm: first step matches PyTorch's BertForMaskedLM; the loss falls overfitting one batch (${backend})`, async (t) => {
    if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
    const s = await TrainSession.load(path.join(FIX, 'tiny-bert-mlm'), { ...HP, ...NO_DROPOUT }, backend);
    const [first, second] = await steps(s, 2, mlm.batch, mlm.labels);
    const want = meta('tiny-bert-mlm').losses;
    t.true(
      Math.abs(first.loss - want[0]) < 1e-4 && Math.abs(second.loss - want[1]) < 1e-4,
      `${first.loss}, ${second.loss} vs torch ${want}`,
    );
    t.is(first.counted, 5);
    t.true(first.correct >= 0 && first.correct <= 5);
    // Dropout on, a larger step: 25 more steps overfit the 5 masked tokens.
    const d = await TrainSession.load(path.join(FIX, 'tiny-bert-mlm'), { lr: 5e-3, seed: 3 }, backend);
    const losses = (await steps(d, 25, mlm.batch, mlm.labels)).map((r) => r.loss);
    t.true(losses[24] < 0.5 * losses[0], `losses ${losses.map((v) => v.toFixed(3))}`);
    const m = await d.evalMetrics(mlm.batch, mlm.labels);
    t.is(m.counted, 5);
    t.true(m.correct >= 4, `masked-token accuracy ${m.correct}/5 after overfitting`);
    t.true(Math.abs(m.loss - (await d.evalLoss(mlm.batch, mlm.labels))) < 1e-6);
    seen[`mlm/${backend}`] = losses;
  });

  test.serial(`mlm from a config alone: seeded init, fill-mask logits from the exported checkpoint (${backend})`, async (t) => {
    if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
    const s = await TrainSession.fromConfig(TINY_BERT, { newHead: { task: 'mlm' }, seed: 5, lr: 2e-3 }, backend);
    const again = await TrainSession.fromConfig(TINY_BERT, { newHead: { task: 'mlm' }, seed: 5, lr: 2e-3 }, backend);
    t.deepEqual(s.exportWeights(), again.exportWeights(), 'same seed, same weights');
    t.deepEqual(s.config.architectures, ['BertForMaskedLM']);
    const losses = (await steps(s, 6, mlm.batch, mlm.labels)).map((r) => r.loss);
    t.true(Math.abs(losses[0] - Math.log(48)) < 0.5, `an untrained model is near uniform: ${losses[0]} vs ln 48`);
    seen[`scratch/${backend}`] = losses;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'biomeg-mlm-'));
    s.saveCheckpoint(dir);
    const model = await BiomegModel.load(dir, { backend });
    const out = await model.forward(mlm.batch, true);
    t.is(out.logits.length, 2 * 8 * 48, 'one row of vocabulary logits per position');
    const ev = await s.evalLogits(mlm.batch);
    t.true(
      ev.every((v, i) => Math.abs(v - out.logits[i]) < 1e-5),
      'runtime and session agree',
    );
    // Resume from saved state: bit-identical losses.
    const state = s.saveState();
    const cont = (await steps(s, 3, mlm.batch, mlm.labels)).map((r) => r.loss);
    again.loadState(state);
    t.deepEqual(
      (await steps(again, 3, mlm.batch, mlm.labels)).map((r) => r.loss),
      cont,
    );
  });

  test.serial(`electra: first joint step matches PyTorch; loss falls; state resumes bit-identically (${backend})`, async (t) => {
    if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
    const s = await ElectraSession.load(path.join(FIX, 'tiny-electra'), { ...HP, ...NO_DROPOUT, discWeight: 50 }, backend);
    const [a, b] = await steps(s, 2, electra.batch, electra.labels, electra.sampled);
    const m = meta('tiny-electra');
    t.true(Math.abs(a.genLoss - m.gen_losses[0]) < 1e-4, `gen ${a.genLoss} vs ${m.gen_losses[0]}`);
    t.true(Math.abs(a.discLoss - m.disc_losses[0]) < 1e-5, `disc ${a.discLoss} vs ${m.disc_losses[0]}`);
    t.true(Math.abs(b.loss - m.losses[1]) < 1e-4 * m.losses[1], `step 2 ${b.loss} vs ${m.losses[1]}`);
    t.deepEqual([a.masked, a.replaced, a.discCounted], [5, 3, 14]);
    // From a config, sampling in Rust (seeded), dropout on.
    const r = await ElectraSession.fromConfig(TINY_ELECTRA, { lr: 6e-3, seed: 9, generatorFraction: 0.5 }, backend);
    t.is(r.generatorConfig.hidden_size, 8);
    t.deepEqual(r.discriminatorConfig.architectures, ['ElectraForPreTraining']);
    t.deepEqual(r.generatorConfig.architectures, ['ElectraForMaskedLM']);
    const out = await steps(r, 20, electra.batch, electra.labels);
    const gen = out.map((o) => o.genLoss);
    t.true(gen[19] < 0.8 * gen[0], `generator losses ${gen.map((v) => v.toFixed(3))}`);
    seen[`electra/${backend}`] = out.map((o) => o.loss);
    const state = r.saveState();
    const cont = (await steps(r, 3, electra.batch, electra.labels)).map((o) => o.loss);
    const q = await ElectraSession.fromConfig(TINY_ELECTRA, { lr: 6e-3, seed: 9, generatorFraction: 0.5 }, backend);
    q.loadState(state);
    t.is(q.optimizerSteps, 20);
    t.deepEqual(
      (await steps(q, 3, electra.batch, electra.labels)).map((o) => o.loss),
      cont,
    );
    // Both exports are Hugging Face directories; the discriminator fine-tunes with a new head.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'biomeg-electra-'));
    const [dd, gd] = q.saveCheckpoints(path.join(dir, 'discriminator'), path.join(dir, 'generator'));
    const ft = await TrainSession.load(dd, { newHead: { task: 'token', labels: ['O', 'B', 'I'] } }, backend);
    const tokLabels = Int32Array.from({ length: electra.labels.length }, (_, i) => (electra.batch.mask[i] ? i % 3 : -100));
    t.true(Number.isFinite((await ft.step(electra.batch, tokLabels)).loss));
    const g = await BiomegModel.load(gd, { backend });
    t.is((await g.forward(electra.batch, true)).logits.length, 2 * 8 * 48);
    const again = await ElectraSession.load(dir, {}, backend);
    t.is((await again.evaluate(electra.batch, electra.labels, electra.sampled)).masked, 5);
  });

  test(`bad input is a coded error naming the problem (${backend})`, async (t) => {
    if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
    const s = await TrainSession.load(path.join(FIX, 'tiny-bert-mlm'), {}, backend);
    const bad = Int32Array.from(mlm.labels, (v) => (v === -100 ? v : 48));
    const e1 = await t.throwsAsync(() => s.step(mlm.batch, bad));
    t.is(e1.code, 'BIOMEG_BAD_INPUT');
    t.regex(e1.message, /label 48 at position \d+ is outside 0\.\.48/);
    const e2 = await t.throwsAsync(() => s.step(mlm.batch, new Int32Array(3)));
    t.regex(e2.message, /mlm head needs 16 labels/);
    const r = await ElectraSession.fromConfig(TINY_ELECTRA, {}, backend);
    const e3 = await t.throwsAsync(() => r.step(electra.batch, electra.labels, new Uint32Array(2)));
    t.regex(e3.message, /one per masked position \(5\), got 2/);
    const e4 = await t.throwsAsync(() => r.step(electra.batch, electra.labels, Uint32Array.from([1, 2, 3, 4, 99])));
    t.regex(e4.message, /replacement 99 .* outside the vocabulary/);
    const e5 = await t.throwsAsync(() => ElectraSession.fromConfig(TINY_BERT, {}, backend));
    t.regex(e5.message, /model_type "electra"/);
    const e6 = await t.throwsAsync(() => ElectraSession.fromConfig(TINY_ELECTRA, { discWeight: -1 }, backend));
    t.regex(e6.message, /discWeight must be a number >= 0/);
    const e7 = await t.throwsAsync(() => ElectraSession.load(path.join(FIX, 'tiny-bert-mlm'), {}, backend));
    t.regex(e7.message, /generator\/ .* discriminator\//);
  });
}

for (const what of ['mlm', 'scratch', 'electra']) {
  test.serial(`${what}: native and wasm give the same losses`, (t) => {
    const [a, b] = [seen[`${what}/native`], seen[`${what}/wasm`]];
    if (!a || !b) return t.pass('one backend missing');
    const worst = Math.max(...a.map((v, i) => Math.abs(v - b[i]) / Math.max(1, Math.abs(v))));
    t.log(`native ${a.map((v) => v.toFixed(5)).join(' ')}`);
    t.log(`wasm   ${b.map((v) => v.toFixed(5)).join(' ')}  (max rel diff ${worst.toExponential(1)})`);
    t.true(worst < 1e-4, `max diff ${worst}`);
  });
}
