// Megatron-LM / NeMo checkpoints (fixtures by scripts/fixtures/make_megatron_fixtures.py):
// converted and loaded, they give Hugging Face's outputs on both backends; the reverse export
// round-trips bit for bit (and torch.load reads it when the Python env is there); hostile and
// broken inputs give clear errors and run nothing.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BiomegModel, convertMegatron, exportMegatron, readMegatron } from '../dist/index.js';
import { BACKENDS } from './helpers/backends.mjs';
import { maxAbsDiff, readSafetensors } from './helpers/safetensors.mjs';

const FIX = path.resolve('test/fixtures/megatron');
const VOCAB = path.join(FIX, 'vocab.txt');
const TOL = 1e-4;
const PYTHON = '/opt/biomeg-py/bin/python';
const tmp = mkdtempSync(path.join(tmpdir(), 'biomeg-megatron-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));

// case -> [checkpoint, reference]
const CASES = {
  v0: ['v0/model_optim_rng.pt', 'v0/reference.json'],
  v1: ['v1/model_optim_rng.pt', 'v1/reference.json'],
  v3: ['v3', 'v3/reference.json'], // a Megatron save folder (latest_checkpointed_iteration.txt)
  nemo: ['biomegatron-tiny.nemo', 'nemo-reference.json'],
  legacy: ['legacy/model_optim_rng.pt', 'v1/reference.json'], // torch < 1.6 serialization
};
const ref = (name) => JSON.parse(readFileSync(path.join(FIX, CASES[name][1]), 'utf8'));

async function hidden(model, r) {
  const [batch, seq] = [r.input_ids.length, r.input_ids[0].length];
  const out = await model.forward({
    ids: Uint32Array.from(r.input_ids.flat()),
    typeIds: Uint32Array.from(r.token_type_ids.flat()),
    mask: Uint8Array.from(r.attention_mask.flat()),
    batch,
    seq,
  });
  return out.hidden;
}

for (const name of Object.keys(CASES)) {
  for (const backend of BACKENDS) {
    test(`${name}: BiomegModel.load on the checkpoint matches Hugging Face's conversion within ${TOL} (${backend})`, async (t) => {
      const model = await BiomegModel.load(path.join(FIX, CASES[name][0]), { backend });
      const r = ref(name);
      const d = maxAbsDiff(await hidden(model, r), r.last_hidden_state);
      t.true(d < TOL, `last_hidden_state max abs diff ${d}`);
      t.is(model.config.hidden_act, r.hf_config.hidden_act);
      if (name === 'nemo') t.true(model.tokenizer.encode('aspirin').tokens.length > 0, 'the .nemo vocabulary is loaded');
      t.log(`${name} ${backend}: max abs diff ${d.toExponential(2)}`);
    });
  }
}

test('the layout matters: reading v3 as version 0 gives outputs far from the reference', async (t) => {
  const dir = path.join(tmp, 'v3-as-v0');
  await convertMegatron(path.join(FIX, 'v3'), dir, { checkpointVersion: 0 });
  const model = await BiomegModel.load(dir, { backend: 'wasm' });
  const r = ref('v3');
  const d = maxAbsDiff(await hidden(model, r), r.last_hidden_state);
  t.true(d > 0.05, `wrong layout only differs by ${d}`);
});

test('convertMegatron writes a Hugging Face folder that loads with its vocabulary and tokenizes', async (t) => {
  const dir = path.join(tmp, 'v1-hf');
  const res = await convertMegatron(path.join(FIX, CASES.v1[0]), dir, { vocab: VOCAB });
  t.is(res.checkpointVersion, 1);
  for (const f of ['config.json', 'model.safetensors', 'vocab.txt', 'tokenizer_config.json']) t.true(existsSync(path.join(dir, f)), f);
  const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
  t.is(config.model_type, 'megatron-bert');
  t.deepEqual(config.architectures, ['MegatronBertForPreTraining']);
  t.true(JSON.parse(readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')).do_lower_case);
  const model = await BiomegModel.load(dir, { backend: 'wasm' });
  const r = ref('v1');
  t.true(maxAbsDiff(await hidden(model, r), r.last_hidden_state) < TOL);
  t.truthy(model.tokenizer, 'vocab.txt loaded');
  // The .nemo carries its vocabulary (named by model_config.yaml) and tokenizer type.
  const nemo = readMegatron(path.join(FIX, CASES.nemo[0]));
  t.regex(nemo.vocab.from, /3e1c2f4a_vocab\.txt$/);
  t.is(nemo.lowercase, true);
  t.is(nemo.config.hidden_act, 'gelu_new'); // bias_gelu_fusion: true
});

/** Tensors of a converted folder. */
function weights(dir) {
  return readSafetensors(path.join(dir, 'model.safetensors'));
}

function sameTensors(t, a, b, what) {
  t.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), `${what}: tensor names`);
  const differ = Object.keys(a).filter((k) => Buffer.compare(Buffer.from(a[k].data.buffer), Buffer.from(b[k].data.buffer)) !== 0);
  t.deepEqual(differ, [], `${what}: tensors not bit-identical`);
}

for (const name of ['v0', 'v1', 'v3', 'nemo']) {
  test(`${name}: convert -> export (.pt, .nemo, Megatron folder) -> convert gives bit-identical tensors`, async (t) => {
    const first = path.join(tmp, `${name}-rt-a`);
    await convertMegatron(path.join(FIX, CASES[name][0]), first, { vocab: VOCAB });
    const a = weights(first);
    for (const out of [`${name}.pt`, `${name}.nemo`, `${name}-megatron`]) {
      const target = path.join(tmp, out);
      const res = await exportMegatron(first, target);
      t.deepEqual(res.initialised, [], 'every head came from the checkpoint');
      const back = path.join(tmp, `${out}-back`);
      const again = await convertMegatron(target, back);
      t.is(again.checkpointVersion, 3);
      sameTensors(t, a, weights(back), out);
      if (out.endsWith('.nemo')) t.truthy(again.vocab, 'the exported .nemo carries vocab.txt');
    }
  });
}

test('the exported checkpoint reads in PyTorch (torch.load weights_only=True) with the original tensors bit for bit', async (t) => {
  if (!existsSync(PYTHON)) {
    t.log(`SKIPPED: ${PYTHON} not installed (docs/fixtures.md); the round trip above still ran`);
    t.pass();
    return;
  }
  for (const name of ['v0', 'v1', 'v3']) {
    const original = path.join(FIX, CASES[name][0]);
    // Export from a converted folder, as a user would.
    const dir = path.join(tmp, `${name}-py`);
    const converted = await convertMegatron(original, dir);
    const exported = path.join(tmp, `${name}-py.pt`);
    await exportMegatron(dir, exported);
    const r = spawnSync(PYTHON, ['scripts/fixtures/make_megatron_fixtures.py', 'check-export', exported, converted.file], {
      encoding: 'utf8',
      env: { ...process.env, HF_HUB_OFFLINE: '1' },
    });
    t.is(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout.trim().split('\n').pop());
    t.true(res.ok);
    t.log(`${name}: ${res.tensors} HF tensors equal, ${res.raw_equal} Megatron tensors equal as stored`);
  }
});

test('export initialises the heads a fine-tuned model lacks, the way Megatron-LM would', async (t) => {
  const src = path.join(tmp, 'v1-heads');
  await convertMegatron(path.join(FIX, CASES.v1[0]), src, { vocab: VOCAB });
  // Drop the pre-training heads: rewrite model.safetensors without pooler / cls.
  const all = weights(src);
  const kept = Object.fromEntries(Object.entries(all).filter(([k]) => !k.startsWith('cls.') && !k.includes('pooler')));
  writeSafetensorsF32(path.join(src, 'model.safetensors'), kept);
  const res = await exportMegatron(src, path.join(tmp, 'heads.pt'));
  t.true(res.initialised.includes('cls.seq_relationship.weight'));
  t.true(res.initialised.includes('bert.pooler.dense.weight'));
  const back = readMegatron(path.join(tmp, 'heads.pt'));
  const ln = back.tensors.find((x) => x.name === 'cls.predictions.transform.LayerNorm.weight');
  t.true(ln.data.every((v) => v === 1));
});

function writeSafetensorsF32(file, tensors) {
  const header = {};
  let off = 0;
  for (const [k, v] of Object.entries(tensors)) {
    header[k] = { dtype: 'F32', shape: v.shape, data_offsets: [off, off + v.data.byteLength] };
    off += v.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([len, Buffer.from(json), ...Object.values(tensors).map((v) => Buffer.from(v.data.buffer))]));
}

// ---------------------------------------------------------------------------------------------
// Bad input

const expected = JSON.parse(readFileSync(path.join(FIX, 'bad', 'expected_errors.json'), 'utf8'));
for (const [file, want] of Object.entries(expected)) {
  test(`bad input ${file}: ${want.code}, nothing executed`, (t) => {
    if (want.marker) rmSync(want.marker, { force: true });
    const err = t.throws(() => readMegatron(path.join(FIX, 'bad', file)));
    t.is(err.code, want.code, err.message);
    for (const s of want.contains) t.true(err.message.includes(s), `message lacks '${s}': ${err.message}`);
    if (want.marker) t.false(existsSync(want.marker), 'the hostile pickle ran');
  });
}

test('BiomegModel.load refuses the os.system pickle the same way', async (t) => {
  const err = await t.throwsAsync(() => BiomegModel.load(path.join(FIX, 'bad', 'os-system.pt'), { backend: 'wasm' }));
  t.is(err.code, 'BIOMEG_UNSAFE_PICKLE');
});

test('a checkpoint without args converts once the head count is given', (t) => {
  const m = readMegatron(path.join(FIX, 'bad', 'no-args.pt'), { heads: 4 });
  t.is(m.config.num_attention_heads, 4);
  t.is(m.config.hidden_act, 'gelu'); // no args: no bias_gelu_fusion to read
});

test('truncated and corrupt files: clear errors naming the file', (t) => {
  const cases = [
    ['v3/release/mp_rank_00/model_optim_rng.pt', (b) => b.subarray(0, b.length >> 1), 'truncated.pt', /truncated/],
    ['v3/release/mp_rank_00/model_optim_rng.pt', (b) => b.subarray(0, b.length - 30), 'cut-end.pt', /truncated|zip/],
    ['biomegatron-tiny.nemo', (b) => b.subarray(0, b.length >> 1), 'truncated.nemo', /gzip|truncated/],
    ['legacy/model_optim_rng.pt', (b) => b.subarray(0, b.length - 100), 'truncated-legacy.pt', /truncated/],
    [
      'v1/model_optim_rng.pt',
      (b) => {
        // flip a byte of storage data/0 (data starts at the 64-byte boundary after its local
        // header's name and 'FB' padding record): CRC-32 mismatch
        const c = Buffer.from(b);
        const name = 'model_optim_rng/data/0';
        const at = Math.ceil((c.indexOf(name) + name.length + 4) / 64) * 64 + 3;
        c[at] ^= 0xff;
        return c;
      },
      'corrupt.pt',
      /CRC-32/,
    ],
    ['vocab.txt', (b) => b, 'not-a-checkpoint.pt', /not a PyTorch checkpoint/],
  ];
  for (const [from, mutate, name, re] of cases) {
    const file = path.join(tmp, name);
    writeFileSync(file, mutate(readFileSync(path.join(FIX, from))));
    const err = t.throws(() => readMegatron(file), undefined, name);
    t.is(err.code, 'BIOMEG_BAD_CHECKPOINT', `${name}: ${err.message}`);
    t.true(err.message.includes(file), `${name}: message does not name the file: ${err.message}`);
    t.regex(err.message, re, name);
  }
});

test('CLI: convert megatron and convert --to megatron', (t) => {
  const cli = (...args) => spawnSync(process.execPath, ['dist/cli.js', 'convert', ...args], { encoding: 'utf8' });
  const out = path.join(tmp, 'cli-hf');
  let r = cli('megatron', '--in', path.join(FIX, 'biomegatron-tiny.nemo'), '--out', out, '--json');
  t.is(r.status, 0, r.stderr);
  t.is(JSON.parse(r.stdout).checkpointVersion, 3);
  r = cli('--to', 'megatron', '--in', out, '--out', path.join(tmp, 'cli.nemo'));
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /checkpoint_version 3\.0/);
  r = cli('megatron', '--in', path.join(FIX, 'bad', 'os-system.pt'), '--out', path.join(tmp, 'x'));
  t.is(r.status, 1);
  t.regex(r.stderr, /os\.system.*\[BIOMEG_UNSAFE_PICKLE\]/s);
  r = cli('--in', out);
  t.is(r.status, 1);
  t.regex(r.stderr, /BIOMEG_USAGE/);
});
