// fineTune() on tiny fixtures (test/fixtures/finetune, tiny models), each on native AND wasm:
// a fresh head on a base encoder loads in the runtime; NER/RE/QA loops give the same losses on
// both backends, window long inputs, and write the log, curve and best checkpoint; --resume gives
// the same loss curve as an uninterrupted run; a kill during checkpoint writes leaves a loadable
// state; a NaN loss stops with a clear message and keeps the last good checkpoint; unseen dev
// labels are reported; N seeds give mean/std; the QA transfer recipe keeps the head; the CLI runs.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BiomegModel, nativeAvailable, wasmAvailable } from '../dist/index.js';
import { TrainSession } from '../dist/train/index.js';
import { fineTune, resolveRecipe } from '../dist/finetune/index.js';
import { BACKENDS, needOrSkip } from './helpers/backends.mjs';

const FIX = path.resolve('test/fixtures/finetune');
const MODEL = path.resolve('test/fixtures/models/tiny-bert-token');
const built = (b) => (b === 'native' ? nativeAvailable() : wasmAvailable());
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'biomeg-ft-'));
const f = (n) => path.join(FIX, n);
const SMALL = { epochs: 2, batchSize: 4, lr: 1e-3, maxLength: 16, stride: 4, progress: false };
const DATA = {
  ner: { train: f('ner-train.tsv'), dev: f('ner-dev.tsv'), test: f('ner-test.tsv') },
  re: { train: f('re-train.tsv'), dev: f('re-dev.tsv'), test: f('re-test.tsv') },
  qa: { train: f('qa-train.json'), dev: f('qa-dev.json'), test: f('qa-dev.json'), maxLength: 32 },
};
const stepLosses = (dir) =>
  readFileSync(path.join(dir, 'log.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((r) => r.type === 'step')
    .map((r) => r.loss);

test('presets resolve with overrides; bad values are coded errors', (t) => {
  const r = resolveRecipe('ner', undefined, { lr: 1e-4 });
  t.is(r.preset, 'biomegatron-ner');
  t.is(r.headDropout, 0.5);
  t.is(r.maxLength, 128);
  t.is(r.lr, 1e-4);
  t.is(resolveRecipe('qa', 'biomegatron-qa', {}).headHidden, 2048);
  t.is(t.throws(() => resolveRecipe('ner', 'biomegatron-re', {})).code, 'BIOMEG_BAD_ARGUMENT');
  t.regex(t.throws(() => resolveRecipe('ner', undefined, { scheme: 'x' })).message, /scheme/);
});

const losses = {};
for (const backend of BACKENDS) {
  test.serial(`newHead on a checkpoint: HF init, exported weights load in BiomegModel with the labels (${backend})`, async (t) => {
    if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
    const labels = ['O', 'B-Chemical', 'I-Chemical'];
    const s = await TrainSession.load(MODEL, { newHead: { task: 'token', labels, layers: 2, hidden: 8, seed: 3 } }, backend);
    const cfg = s.config;
    t.deepEqual(cfg.id2label, { 0: 'O', 1: 'B-Chemical', 2: 'I-Chemical' });
    t.is(cfg.num_labels, 3);
    t.is(cfg.biomeg_head.layers, 2);
    const dir = tmp();
    s.saveCheckpoint(dir, MODEL);
    const m = await BiomegModel.load(dir, { backend });
    const ents = await m.ner(['the patient was treated with aspirin']);
    t.true(Array.isArray(ents[0]));
    const e = await t.throwsAsync(() => TrainSession.load(MODEL, { newHead: { task: 'token', labels: ['O'] } }, backend));
    t.regex(e.message, /at least 2 labels/);
  });

  for (const task of ['ner', 're', 'qa']) {
    test.serial(`${task}: 2 epochs, windows, dev/test scores, log, curve, best checkpoint (${backend})`, async (t) => {
      if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
      const out = tmp();
      const res = await fineTune({ task, model: MODEL, outDir: out, backend, ...SMALL, ...DATA[task] });
      const r = res.runs[0];
      t.is(r.status, 'done');
      t.is(r.epochs.length, 2);
      t.true(r.windowed.train > 0 && r.windowed.dev > 0, `windowed ${JSON.stringify(r.windowed)}`);
      t.true(r.epochs.every((e) => e.dev && e.dev.main >= 0 && e.dev.main <= 1));
      t.truthy(r.test);
      t.true(r.tokensPerSec > 0);
      for (const file of [
        'log.jsonl',
        'curve.svg',
        'result.json',
        'run.json',
        'best/model.safetensors',
        'best/config.json',
        'best/vocab.txt',
      ])
        t.true(existsSync(path.join(out, file)), file);
      t.regex(readFileSync(path.join(out, 'curve.svg'), 'utf8'), /^<svg[\s\S]*<polyline[\s\S]*<\/svg>\n$/);
      const l = stepLosses(out);
      t.is(l.length, r.steps);
      t.true(l.every(Number.isFinite));
      losses[`${task}/${backend}`] = l;
      const m = await BiomegModel.load(path.join(out, 'best'), { backend });
      t.truthy(m);
    });
  }
}

for (const task of ['ner', 're', 'qa']) {
  test.serial(`${task}: native and wasm give the same loss curve`, (t) => {
    const a = losses[`${task}/native`],
      b = losses[`${task}/wasm`];
    if (!a || !b) return t.pass('one backend missing');
    const worst = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    t.true(worst < 1e-4, `max diff ${worst}`);
  });
}

for (const backend of BACKENDS) {
  test.serial(`--resume after an interruption gives the same loss curve as an uninterrupted run (${backend})`, async (t) => {
    if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
    const opts = { task: 'ner', model: MODEL, backend, ...SMALL, ...DATA.ner, epochs: 3, saveEverySteps: 2 };
    const full = tmp();
    await fineTune({ ...opts, outDir: full });
    const cut = tmp();
    const p = await fineTune({ ...opts, outDir: cut, pauseAfterSteps: 9 });
    t.is(p.runs[0].status, 'paused');
    const r = await fineTune({ ...opts, outDir: cut, resume: true });
    t.is(r.runs[0].status, 'done');
    t.deepEqual(stepLosses(cut), stepLosses(full));
    t.deepEqual(
      r.runs[0].epochs.map((e) => e.dev.main),
      JSON.parse(readFileSync(path.join(full, 'result.json'), 'utf8')).epochs.map((e) => e.dev.main),
    );
  });

  test.serial(`a NaN loss stops with a clear message and keeps the last good checkpoint (${backend})`, async (t) => {
    if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
    const out = tmp();
    const opts = { task: 'ner', model: MODEL, outDir: out, backend, ...SMALL, ...DATA.ner, epochs: 3 };
    await fineTune({ ...opts, pauseAfterSteps: 8 }); // epoch 1 done: best/ and state written
    const before = readFileSync(path.join(out, 'best', 'model.safetensors'));
    const e = await t.throwsAsync(() =>
      fineTune({ ...opts, resume: true, lr: 1e9, maxGradNorm: 0, hiddenDropout: 0, attnDropout: 0, headDropout: 0 }),
    );
    t.is(e.code, 'BIOMEG_NONFINITE_LOSS');
    t.regex(e.message, /loss is (NaN|inf)[\s\S]*Last good checkpoint: .*best/);
    t.deepEqual(readFileSync(path.join(out, 'best', 'model.safetensors')), before);
    const m = await BiomegModel.load(path.join(out, 'best'), { backend });
    t.truthy(m);
    t.true(readFileSync(path.join(out, 'log.jsonl'), 'utf8').includes('"reason":"nonfinite"'));
  });

  test.serial(`dev labels unseen in training are reported (${backend})`, async (t) => {
    if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
    const out = tmp();
    const r = await fineTune({
      task: 'ner',
      model: MODEL,
      outDir: out,
      backend,
      ...SMALL,
      epochs: 1,
      train: f('ner-train.tsv'),
      dev: f('ner-dev-unseen.tsv'),
    });
    t.deepEqual(r.runs[0].unseenDevLabels, ['B-Drug']);
    t.true(readFileSync(path.join(out, 'log.jsonl'), 'utf8').includes('dev labels unseen in training: B-Drug'));
  });
}

for (const backend of BACKENDS) {
  test.serial(
    `qa transfer: a SQuAD-format stage, then the target run from its best checkpoint with the QA head kept (${backend})`,
    async (t) => {
      if (!needOrSkip(t, built(backend), `${backend} backend not built`)) return;
      const base = { task: 'qa', model: MODEL, backend, ...SMALL, ...DATA.qa };
      const out = tmp();
      const res = await fineTune({ ...base, outDir: out, transferFrom: DATA.qa.train, transferEpochs: 4 });
      const r = res.runs[0];
      t.is(r.status, 'done');
      t.is(r.transfer.runDir, path.join(out, 'transfer'));
      t.is(r.transfer.epochs.length, 4);
      t.is(r.epochs.length, SMALL.epochs);
      const run = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8'));
      t.is(run.model, path.join(out, 'transfer', 'best'));
      t.true(run.keptHead);
      // The target run starts from the trained head: its first loss (the same data) is below a fresh head's.
      const fresh = tmp();
      await fineTune({ ...base, outDir: fresh });
      const [a, b] = [stepLosses(out)[0], stepLosses(fresh)[0]];
      t.true(a < b - 0.1, `first loss after transfer ${a}, fresh head ${b}`);
      // --resume reuses a finished transfer stage rather than training it again.
      const again = await fineTune({ ...base, outDir: out, transferFrom: DATA.qa.train, transferEpochs: 4, resume: true });
      t.deepEqual(again.runs[0].transfer, JSON.parse(JSON.stringify(r.transfer)));
      await t.throwsAsync(
        () => fineTune({ ...DATA.ner, task: 'ner', model: MODEL, backend, ...SMALL, outDir: tmp(), transferFrom: DATA.qa.train }),
        { message: /transfer-from is for qa/ },
      );
    },
  );
}

test.serial('--seeds N: one run directory per seed, mean and standard deviation', async (t) => {
  const backend = nativeAvailable() ? 'native' : 'wasm';
  const out = tmp();
  const r = await fineTune({ task: 're', model: MODEL, outDir: out, backend, ...SMALL, ...DATA.re, epochs: 1, seeds: 2, seed: 5 });
  t.deepEqual(
    r.runs.map((x) => x.seed),
    [5, 6],
  );
  t.true(existsSync(path.join(out, 'seed-5', 'best', 'model.safetensors')) && existsSync(path.join(out, 'seed-6', 'result.json')));
  const s = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')).summary;
  t.is(s['test.f1'].n, 2);
  const v = r.runs.map((x) => x.test.metrics.f1);
  t.true(Math.abs(s['test.f1'].mean - (v[0] + v[1]) / 2) < 1e-12);
  t.true(Math.abs(s['test.f1'].std - Math.abs(v[0] - v[1]) / Math.SQRT2) < 1e-12);
});

test.serial('a kill during training and checkpoint writes leaves a loadable state; --resume finishes', async (t) => {
  const backend = nativeAvailable() ? 'native' : 'wasm';
  const out = tmp();
  const args = [
    'dist/cli.js',
    'train',
    'ner',
    '--model',
    MODEL,
    '--out',
    out,
    '--train',
    DATA.ner.train,
    '--dev',
    DATA.ner.dev,
    '--epochs',
    '40',
    '--batch-size',
    '4',
    '--lr',
    '1e-3',
    '--max-length',
    '16',
    '--stride',
    '4',
    '--save-every',
    '1',
    '--quiet',
    '--backend',
    backend,
  ];
  const child = spawn(process.execPath, args, { stdio: 'ignore' });
  const progress = path.join(out, 'state', 'progress.json');
  for (let i = 0; i < 400 && !existsSync(progress); i++) await new Promise((r) => setTimeout(r, 25));
  await new Promise((r) => setTimeout(r, 150 + Math.random() * 200));
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  t.true(existsSync(progress), 'state written before the kill');
  // A torn write: a half-written temporary file next to the good ones.
  writeFileSync(path.join(out, 'state', 'state-99999999.safetensors.tmp-1-2'), Buffer.alloc(100, 7));
  const st = JSON.parse(readFileSync(progress, 'utf8'));
  const s = await TrainSession.load(
    MODEL,
    { newHead: { task: 'token', labels: ['O', 'B-Chemical', 'B-Disease', 'I-Disease'], seed: 42 } },
    backend,
  );
  s.loadStateFile(path.join(out, 'state', st.stateFile));
  t.true(s.optimizerSteps > 0);
  const r = await fineTune({
    task: 'ner',
    model: MODEL,
    outDir: out,
    backend,
    ...SMALL,
    ...DATA.ner,
    test: undefined,
    epochs: 40,
    resume: true,
  });
  t.is(r.runs[0].status, 'done');
  t.is(stepLosses(out).length, r.runs[0].steps);
  t.false(
    readdirSync(path.join(out, 'state')).some((n) => n.includes('.tmp-')),
    'stale temporaries cleaned',
  );
});

test.serial('CLI: biomeg train --help and a small run with --json', (t) => {
  if (!needOrSkip(t, nativeAvailable() || wasmAvailable(), 'no backend built')) return;
  const help = execFileSync(process.execPath, ['dist/cli.js', 'train', '--help'], { encoding: 'utf8' });
  t.regex(help, /--resume/);
  t.regex(help, /biomegatron-ner/);
  const out = tmp();
  const json = execFileSync(
    process.execPath,
    [
      'dist/cli.js',
      'train',
      're',
      '--model',
      MODEL,
      '--out',
      out,
      '--train',
      DATA.re.train,
      '--dev',
      DATA.re.dev,
      '--epochs',
      '1',
      '--batch-size',
      '8',
      '--max-length',
      '16',
      '--stride',
      '4',
      '--quiet',
      '--json',
    ],
    { encoding: 'utf8' },
  );
  const r = JSON.parse(json);
  t.is(r.runs[0].status, 'done');
  t.is(r.runs[0].recipe.preset, 'biomegatron-re');
});

test.serial('real data: a few steps on BC5CDR-chem (needs BIOMEG_DATA)', async (t) => {
  const dir = process.env.BIOMEG_DATA;
  if (!needOrSkip(t, dir && existsSync(path.join(dir, 'bc5cdr-chem')), 'BIOMEG_DATA with bc5cdr-chem not set')) return;
  const backend = nativeAvailable() ? 'native' : 'wasm';
  const r = await fineTune({
    task: 'ner',
    dataset: 'bc5cdr-chem',
    dataDir: dir,
    model: MODEL,
    outDir: tmp(),
    backend,
    limit: 16,
    maxSteps: 2,
    batchSize: 8,
    maxLength: 32,
    stride: 8,
    progress: false,
  });
  t.deepEqual(r.runs[0].labels, ['O', 'B-Chemical', 'I-Chemical']);
  t.truthy(r.runs[0].test);
});
