// pretrain() and `biomeg pretrain` / `biomeg study` end to end on tiny models: from scratch and
// continued, MLM and ELECTRA, both backends, resume after a pause, checkpoints that load, bad
// input. The objectives' numerics are tested against PyTorch in test/pretrain-objectives.test.mjs
// and crates/biomeg-core/tests/pretrain_parity.rs; the data pipeline in test/pretrain-data.test.mjs.
import test from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BiomegModel, TrainSession, domainTransfer, pretrain } from '../dist/index.js';
import { BACKENDS, needOrSkip } from './helpers/backends.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const tinyVocab = path.join(root, 'test/fixtures/models/tiny-bert-token/vocab.txt');
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'biomeg-pretrain-'));
const TINY = {
  model_type: 'bert',
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 64,
  max_position_embeddings: 64,
  type_vocab_size: 2,
  hidden_act: 'gelu',
  layer_norm_eps: 1e-12,
  initializer_range: 0.02,
};

/** A corpus of `docs` documents made of the tiny vocabulary's whole words (seeded). */
function writeCorpus(dir, docs = 60) {
  const words =
    'the patient was treated with aspirin protein gene cell cancer tumor dose mg dna binds grow in vitro which of and is brca mutation risk expression'.split(
      ' ',
    );
  let x = 7;
  const r = (n) => (x = (x * 1103515245 + 12345) % 2 ** 31) % n;
  const lines = [];
  for (let d = 0; d < docs; d++) {
    const sents = [];
    for (let s = 0; s < 3 + r(3); s++) {
      const w = Array.from({ length: 5 + r(8) }, () => words[r(words.length)]);
      w[0] = w[0][0].toUpperCase() + w[0].slice(1);
      sents.push(w.join(' ') + '.');
    }
    lines.push(sents.join(' '));
  }
  const f = path.join(dir, 'corpus.txt');
  writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

const readLog = (dir) =>
  readFileSync(path.join(dir, 'log.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
const steps = (dir) => readLog(dir).filter((r) => r.type === 'step');

const scratch = (dir, corpus, extra = {}) => ({
  objective: 'mlm',
  corpus,
  config: JSON.stringify(TINY),
  vocab: tinyVocab,
  outDir: dir,
  maxLength: 32,
  batchSize: 4,
  maxSteps: 6,
  evalEvery: 3,
  evalSequences: 8,
  holdoutEvery: 5,
  lr: 1e-3,
  progress: false,
  ...extra,
});

test('mlm from scratch: same losses on native and wasm, log, curve, held-out metrics, a checkpoint that loads', async (t) => {
  const dir = tmp();
  const corpus = writeCorpus(dir);
  const res = {};
  for (const backend of BACKENDS) {
    const out = path.join(dir, backend);
    const r = await pretrain(scratch(out, corpus, { backend }));
    t.is(r.status, 'done');
    t.is(r.steps, 6);
    t.is(r.backend, backend);
    const s = steps(out);
    t.is(s.length, 6);
    t.true(s.every((x) => Number.isFinite(x.loss) && x.loss > 0 && x.masked > 0));
    t.deepEqual(
      r.heldOut.map((h) => h.step),
      [0, 3, 6],
    );
    for (const h of r.heldOut) {
      t.true(h.accuracy >= 0 && h.accuracy <= 1);
      t.true(Math.abs(h.perplexity - Math.exp(h.loss)) < 1e-6 * h.perplexity);
    }
    t.true(existsSync(path.join(out, 'curve.svg')));
    const ck = r.checkpoints[0];
    const cfg = JSON.parse(readFileSync(path.join(ck, 'config.json'), 'utf8'));
    t.deepEqual(cfg.architectures, ['BertForMaskedLM']);
    t.true(existsSync(path.join(ck, 'vocab.txt')));
    t.true(existsSync(path.join(ck, 'tokenizer_config.json')));
    // the checkpoint loads as an encoder for inference and as a training session
    const m = await BiomegModel.load(ck, { backend });
    const [enc] = await m.encode(['the patient was treated with aspirin']);
    t.is(enc.tokens.length, 6);
    t.true(enc.hidden.every(Number.isFinite));
    const again = await TrainSession.load(ck, {}, backend);
    t.is(again.config.vocab_size, 122);
    res[backend] = s.map((x) => x.loss);
  }
  for (let i = 0; i < 6; i++)
    t.true(Math.abs(res.native[i] - res.wasm[i]) < 1e-4 * (1 + res.native[i]), `step ${i + 1}: ${res.native[i]} vs ${res.wasm[i]}`);
});

test('a paused run resumed gives the same loss curve as an uninterrupted one', async (t) => {
  const dir = tmp();
  const corpus = writeCorpus(dir);
  const full = await pretrain(scratch(path.join(dir, 'full'), corpus, { saveEvery: 2 }));
  const out = path.join(dir, 'paused');
  const p = await pretrain(scratch(out, corpus, { saveEvery: 2, pauseAfterSteps: 4 }));
  t.is(p.status, 'paused');
  t.is(steps(out).length, 4);
  const r = await pretrain(scratch(out, corpus, { saveEvery: 2, resume: true }));
  t.is(r.status, 'done');
  t.deepEqual(
    steps(out).map((x) => x.loss),
    steps(path.join(dir, 'full')).map((x) => x.loss),
  );
  t.deepEqual(r.final, full.final);
  // the shards were prepared once and reused
  t.true(readLog(out).filter((x) => x.type === 'start').length === 1);
});

test('continued pre-training from a Hugging Face BertForMaskedLM checkpoint keeps its MLM head', async (t) => {
  const dir = tmp();
  const corpus = writeCorpus(dir, 30);
  const ck = path.join(dir, 'hf');
  cpSync(path.join(root, 'test/fixtures/pretrain/tiny-bert-mlm'), ck, { recursive: true });
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', 'the', 'patient', 'was', 'treated', 'with', 'aspirin'];
  for (const c of 'abcdefghijklmnopqrstuvwxyz') vocab.push(`##${c}`);
  while (vocab.length < 48) vocab.push(`[unused${vocab.length}]`);
  writeFileSync(path.join(ck, 'vocab.txt'), vocab.join('\n') + '\n');
  const out = path.join(dir, 'continued');
  const r = await pretrain({
    objective: 'mlm',
    corpus,
    model: ck,
    outDir: out,
    maxLength: 16,
    batchSize: 4,
    maxSteps: 4,
    evalEvery: 2,
    holdoutEvery: 5,
    progress: false,
  });
  t.is(r.steps, 4);
  const before = await TrainSession.load(ck, {});
  t.is(before.config.vocab_size, 48);
  const cfg = JSON.parse(readFileSync(path.join(r.checkpoints[0], 'config.json'), 'utf8'));
  t.deepEqual(cfg.architectures, ['BertForMaskedLM']);
  t.is(cfg.hidden_size, 16);
});

test('electra from scratch writes discriminator and generator directories; the discriminator fine-tunes', async (t) => {
  const dir = tmp();
  const corpus = writeCorpus(dir);
  const out = path.join(dir, 'electra');
  const r = await pretrain({
    ...scratch(out, corpus),
    objective: 'electra',
    config: JSON.stringify({ ...TINY, model_type: 'electra', embedding_size: 32 }),
    generatorFraction: 0.5,
  });
  t.is(r.steps, 6);
  const s = steps(out);
  t.true(s.every((x) => Number.isFinite(x.genLoss) && Number.isFinite(x.discLoss)));
  t.true(r.final.discAccuracy >= 0 && r.final.discAccuracy <= 1);
  t.is(r.checkpoints.length, 2);
  const [disc, gen] = r.checkpoints;
  t.deepEqual(JSON.parse(readFileSync(path.join(disc, 'config.json'), 'utf8')).architectures, ['ElectraForPreTraining']);
  t.deepEqual(JSON.parse(readFileSync(path.join(gen, 'config.json'), 'utf8')).architectures, ['ElectraForMaskedLM']);
  const ft = await TrainSession.load(disc, { newHead: { task: 'token', labels: ['O', 'B', 'I'] } });
  const ids = new Uint32Array(8).fill(6);
  const step = await ft.step({ ids, batch: 1, seq: 8 }, new Int32Array(8).fill(1));
  t.true(Number.isFinite(step.loss));
});

test('bad input: empty corpus, vocabulary without [MASK], conflicting options, CLI usage', async (t) => {
  const dir = tmp();
  const empty = path.join(dir, 'empty.txt');
  writeFileSync(empty, '\n\n');
  const e1 = await t.throwsAsync(pretrain(scratch(path.join(dir, 'a'), empty)));
  t.is(e1.code, 'BIOMEG_BAD_DATA');
  t.regex(e1.message, /empty/);
  const noMask = path.join(dir, 'vocab.txt');
  writeFileSync(noMask, readFileSync(tinyVocab, 'utf8').replace('[MASK]\n', '[MASQ]\n'));
  const e2 = await t.throwsAsync(pretrain(scratch(path.join(dir, 'b'), writeCorpus(dir), { vocab: noMask })));
  t.is(e2.code, 'BIOMEG_BAD_VOCAB');
  t.true(e2.message.includes(noMask));
  const e3 = await t.throwsAsync(pretrain({ ...scratch(path.join(dir, 'c'), empty), model: dir }));
  t.is(e3.code, 'BIOMEG_BAD_ARGUMENT');
  const cli = path.join(root, 'dist/cli.js');
  const u = spawnSync(process.execPath, [cli, 'pretrain', 'bert', '--out', dir], { encoding: 'utf8' });
  t.is(u.status, 2);
  t.regex(u.stderr, /mlm or electra/);
  const h = execFileSync(process.execPath, [cli, 'pretrain', '--help'], { encoding: 'utf8' });
  t.regex(h, /--whole-word/);
});

test('biomeg pretrain CLI: a short run prints the held-out table and writes result.json', (t) => {
  const dir = tmp();
  const corpus = writeCorpus(dir);
  const cfg = path.join(dir, 'config.json');
  writeFileSync(cfg, JSON.stringify(TINY));
  const out = path.join(dir, 'run');
  const stdout = execFileSync(
    process.execPath,
    [
      path.join(root, 'dist/cli.js'),
      'pretrain',
      'mlm',
      '--corpus',
      corpus,
      '--config',
      cfg,
      '--vocab',
      tinyVocab,
      '--out',
      out,
      '--max-steps',
      '3',
      '--batch-size',
      '4',
      '--max-length',
      '32',
      '--holdout-every',
      '5',
      '--eval-every',
      '2',
      '--whole-word',
      '--quiet',
    ],
    { encoding: 'utf8' },
  );
  t.regex(stdout, /held-out loss/);
  t.regex(stdout, /done: 3 optimizer steps/);
  const r = JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8'));
  t.is(r.steps, 3);
  t.true(JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')).wholeWord);
});

const dataDir = process.env.BIOMEG_DATA;
const minilm = path.join(root, '.cache/models/all-MiniLM-L6-v2');

test('study domain-transfer at toy scale: four arms, a table and plots', async (t) => {
  if (!needOrSkip(t, dataDir && existsSync(path.join(dataDir, 'ncbi-disease')), 'BIOMEG_DATA with ncbi-disease is not set')) return;
  if (!needOrSkip(t, existsSync(path.join(minilm, 'config.json')), `${minilm} missing (scripts/fetch-minilm.sh)`)) return;
  const dir = tmp();
  const corpus = path.join(dir, 'corpus.txt');
  const real = readFileSync(path.join(dataDir, 'pubmed-abstracts-mini', 'pubmed_abstracts_mini.txt'), 'utf8')
    .split('\n')
    .slice(0, 60);
  writeFileSync(corpus, real.join('\n') + '\n');
  const out = path.join(dir, 'study');
  const r = await domainTransfer({
    outDir: out,
    dataDir,
    corpus,
    general: minilm,
    seeds: 2,
    epochs: 1,
    limit: 24,
    daptSteps: 2,
    scratchSteps: 2,
    scratch: { layers: 1, hidden: 32, heads: 2, intermediate: 64 },
    vocabSize: 400,
    batchSize: 4,
    maxLength: 32,
    progress: false,
  });
  t.deepEqual(
    r.arms.map((a) => a.arm),
    ['general', 'general+pubmed-mlm', 'scratch-pubmed-vocab', 'scratch-bert-vocab'],
  );
  for (const a of r.arms) {
    const n = a.ner['ncbi-disease'];
    t.is(n.n, 2);
    t.true(n.f1 >= 0 && n.f1 <= 1);
  }
  t.true(r.arms[2].pretrain.vocabSize <= 400);
  t.is(r.arms[3].pretrain.vocabSize, 30522);
  for (const f of ['study.md', 'study.json', 'mlm-curves.svg', 'f1.svg']) t.true(existsSync(path.join(out, f)), f);
  t.regex(readFileSync(path.join(out, 'study.md'), 'utf8'), /scratch-pubmed-vocab/);
});

test.serial('a run killed mid-training resumes with --resume and gives the uninterrupted loss curve', async (t) => {
  const dir = tmp();
  const corpus = writeCorpus(dir);
  const cfg = path.join(dir, 'config.json');
  writeFileSync(cfg, JSON.stringify(TINY));
  const args = (out) => [
    path.join(root, 'dist/cli.js'),
    'pretrain',
    'mlm',
    '--corpus',
    corpus,
    '--config',
    cfg,
    '--vocab',
    tinyVocab,
    '--out',
    out,
    '--max-steps',
    '120',
    '--batch-size',
    '4',
    '--max-length',
    '32',
    '--holdout-every',
    '5',
    '--eval-every',
    '40',
    '--eval-sequences',
    '8',
    '--save-every',
    '1',
    '--quiet',
  ];
  const full = path.join(dir, 'full');
  execFileSync(process.execPath, args(full));
  const out = path.join(dir, 'killed');
  const child = spawn(process.execPath, args(out), { stdio: 'ignore' });
  const progress = path.join(out, 'state', 'progress.json');
  for (let i = 0; i < 800 && !existsSync(progress); i++) await new Promise((r) => setTimeout(r, 25));
  await new Promise((r) => setTimeout(r, 100 + Math.random() * 150));
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  t.true(existsSync(progress), 'state written before the kill');
  const at = JSON.parse(readFileSync(progress, 'utf8')).step;
  t.true(at >= 1 && at < 120, `killed at step ${at}`);
  execFileSync(process.execPath, [...args(out), '--resume']);
  t.deepEqual(
    steps(out).map((x) => x.loss),
    steps(full).map((x) => x.loss),
  );
  t.deepEqual(
    JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8')).final,
    JSON.parse(readFileSync(path.join(full, 'result.json'), 'utf8')).final,
  );
});
