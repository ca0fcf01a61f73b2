// SQuAD v2.0 in the QA pipeline, on native AND wasm: answer()'s null-score decision (the null
// score is the least [CLS] start + end logit over the windows, checked against forward());
// training targets of unanswerable questions and of windows without the answer on [CLS]; a
// short fine-tuning run on test/fixtures/finetune/qa2-*.json (scripts/fixtures/make_squad2_fixtures.py)
// that learns to abstain, which the same run without the unanswerable questions does not; the
// BioM-Transformers recipe (SQuAD v2.0 stage with its dev file, then the target data).
import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BiomegModel, nativeAvailable, qaFeatures, readSquad, wasmAvailable } from '../dist/index.js';
import { fineTune } from '../dist/finetune/index.js';
import { BACKENDS, needOrSkip } from './helpers/backends.mjs';

const FT = path.resolve('test/fixtures/finetune');
const QA_MODEL = path.resolve('test/fixtures/models/tiny-bert-qa');
const BASE = path.resolve('test/fixtures/models/tiny-bert-token');
const built = (b) => (b === 'native' ? nativeAvailable() : wasmAvailable());
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'biomeg-squad2-'));
const CONTEXT = 'the patient was treated with aspirin and the tumor dose was risk . '.repeat(4);
const QUESTION = 'what was the patient treated with ?';
const V2 = { train: path.join(FT, 'qa2-train.json'), dev: path.join(FT, 'qa2-dev.json') };
const RECIPE = { epochs: 10, batchSize: 8, lr: 2e-3, maxLength: 32, stride: 8, headLayers: 1, progress: false };

/** The null score computed apart from the task layer: one forward per window row. */
async function nullScoreByForward(model, opts) {
  const set = qaFeatures(model.tokenizer, [{ question: QUESTION, context: CONTEXT }], opts.maxLength, opts.stride);
  let least = Number.POSITIVE_INFINITY;
  for (const f of set.features) {
    const { logits } = await model.forward({ ids: f.ids, typeIds: f.typeIds, batch: 1, seq: f.ids.length }, true);
    least = Math.min(least, logits[0] + logits[1]);
  }
  return { least, windows: set.features.length };
}

test('training targets: unanswerable questions and windows without the answer point at [CLS]', async (t) => {
  const model = await BiomegModel.load(QA_MODEL, { backend: nativeAvailable() ? 'native' : 'wasm' });
  const tok = model.tokenizer;
  const aspirin = tok.encode('aspirin').ids[0];
  const examples = readSquad(V2.train).examples;
  const set = qaFeatures(tok, examples, 20, 2);
  t.true(set.windowed > 10, `${set.windowed} windowed examples`);
  let outside = 0;
  for (const f of set.features) {
    const ex = examples[f.example];
    const [s, e] = f.labels;
    if (ex.isImpossible) {
      t.deepEqual([s, e], [0, 0], `${ex.id} window ${f.window}`);
    } else if (s === 0) {
      t.is(e, 0);
      t.false(f.ids.includes(aspirin), `${ex.id} window ${f.window} holds the answer but is labelled [CLS]`);
      outside++;
    } else {
      t.is(s, e);
      t.is(f.ids[s], aspirin, `${ex.id} window ${f.window}`);
    }
  }
  t.true(outside > 0, 'some windows of answerable questions lack the answer');
  t.true(examples.some((e) => e.isImpossible) && examples.some((e) => !e.isImpossible));
});

for (const backend of BACKENDS) {
  test.serial(`answer(): the null score decides "no answer" against the best span, as threshold says (${backend})`, async (t) => {
    if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
    const model = await BiomegModel.load(QA_MODEL, { backend });
    const opts = { maxLength: 24, stride: 4, topK: 3 };
    const plain = await model.answer(QUESTION, CONTEXT, opts);
    const withNull = await model.answer(QUESTION, CONTEXT, { ...opts, allowNoAnswer: true });
    t.false(plain.some((a) => a.noAnswer));
    const none = withNull.find((a) => a.noAnswer);
    t.truthy(none);
    t.is(withNull.length, plain.length + 1);
    t.deepEqual(
      withNull.filter((a) => !a.noAnswer).map((a) => [a.text, a.start, a.end, a.logit]),
      plain.map((a) => [a.text, a.start, a.end, a.logit]),
    );
    t.like(none, { text: '', start: 0, end: 0 });
    const { least, windows } = await nullScoreByForward(model, opts);
    t.true(windows > 2, `${windows} windows`);
    t.true(Math.abs(none.logit - least) < 1e-4, `null score ${none.logit} vs forward ${least}`);
    t.true(Math.abs(none.scoreDiff - (none.logit - plain[0].logit)) < 1e-12);
    t.true(Math.abs(withNull.reduce((s, a) => s + a.score, 0) - 1) < 1e-6);
    // The threshold moves the decision: just below the difference "no answer" ranks first, just above it the best span does.
    const below = await model.answer(QUESTION, CONTEXT, { ...opts, allowNoAnswer: true, nullThreshold: none.scoreDiff - 1e-3 });
    const above = await model.answer(QUESTION, CONTEXT, { ...opts, allowNoAnswer: true, nullThreshold: none.scoreDiff + 1e-3 });
    t.true(below[0].noAnswer);
    t.falsy(above[0].noAnswer);
    t.is(above[0].text, plain[0].text);
    t.is(withNull[0].noAnswer === true, none.scoreDiff > 0, 'default threshold 0');
  });

  test.serial(`fine-tuning with unanswerable questions learns to abstain; v2.0 dev metric (${backend})`, async (t) => {
    if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
    const out = tmp();
    const r = (await fineTune({ task: 'qa', model: BASE, outDir: out, backend, ...V2, ...RECIPE })).runs[0];
    const dev = r.epochs.at(-1).dev.metrics;
    for (const k of ['exact', 'f1', 'HasAns_f1', 'NoAns_f1', 'best_f1', 'best_f1_thresh']) t.true(k in dev, k);
    t.is(dev.NoAns_total, 12);
    t.true(dev.NoAns_exact >= 0.9 && dev.HasAns_exact >= 0.9, JSON.stringify(dev));
    // Without the unanswerable questions the same recipe never abstains.
    const ans = JSON.parse(readFileSync(V2.train, 'utf8'));
    for (const a of ans.data) a.paragraphs = a.paragraphs.filter((p) => !p.qas[0].is_impossible);
    const answerable = path.join(tmp(), 'answerable.json');
    writeFileSync(answerable, JSON.stringify(ans));
    const base = (await fineTune({ task: 'qa', model: BASE, outDir: tmp(), backend, ...V2, ...RECIPE, train: answerable })).runs[0];
    const devBase = base.epochs.at(-1).dev.metrics;
    t.true(devBase.NoAns_exact <= 0.1, JSON.stringify(devBase));
    // The saved model abstains through answer() on an unanswerable dev question and answers the others.
    const model = await BiomegModel.load(path.join(out, 'best'), { backend });
    let right = 0;
    const dv = readSquad(V2.dev).examples;
    for (const ex of dv) {
      const [top] = await model.answer(ex.question, ex.context, { maxLength: 32, stride: 8, allowNoAnswer: true });
      right += ex.isImpossible ? Number(top.noAnswer === true) : Number(top.text === 'aspirin');
    }
    t.true(right >= 0.9 * dv.length, `${right}/${dv.length} right`);
  });
}

test.serial(
  'the BioM-Transformers recipe: a SQuAD v2.0 stage scored on its dev file, then the target data from its best checkpoint',
  async (t) => {
    const backend = nativeAvailable() ? 'native' : 'wasm';
    if (!needOrSkip(t, built(backend), 'no backend built')) return;
    const out = tmp();
    const res = await fineTune({
      task: 'qa',
      preset: 'biom-qa',
      model: BASE,
      outDir: out,
      backend,
      train: path.join(FT, 'qa-train.json'),
      dev: path.join(FT, 'qa-dev.json'),
      transferFrom: V2.train,
      transferDev: V2.dev,
      transferEpochs: 4,
      ...RECIPE,
      epochs: 2,
    });
    const r = res.runs[0];
    t.is(r.recipe.preset, 'biom-qa');
    t.is(r.recipe.accumSteps, 2);
    t.is(r.transfer.epochs.length, 4);
    for (const e of r.transfer.epochs) t.is(e.dev.metrics.NoAns_total, 12, 'the v2.0 stage is scored with the v2.0 metric');
    t.true(r.transfer.bestDev !== null);
    const run = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8'));
    t.is(run.model, path.join(out, 'transfer', 'best'));
    t.true(run.keptHead);
    t.false('NoAns_total' in r.epochs[0].dev.metrics, 'the v1.1-style target dev keeps the v1.1 metric');
    await t.throwsAsync(() => fineTune({ task: 'qa', model: BASE, outDir: tmp(), backend, ...V2, ...RECIPE, transferDev: V2.dev }), {
      message: /--transfer-dev needs --transfer-from/,
    });
  },
);
