// Child process of test/isa.test.mjs: BIOMEG_SIMD (set by the parent) pins the native kernels'
// instruction set for this process. Runs every committed fixture model (fp32 and int8) and
// prints one JSON line: the instruction sets in use and each output.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BiomegModel, runtimeInfo } from '../../dist/index.js';
import { readSafetensors } from './safetensors.mjs';

const FIX = path.resolve('test/fixtures/models');
const names = Object.keys(JSON.parse(readFileSync(path.join(FIX, 'index.json'), 'utf8')));
const out = { simd: (await runtimeInfo('native')).simd, models: {} };
for (const name of names) {
  const ref = readSafetensors(path.join(FIX, name, 'reference.safetensors'));
  const [batch, seq] = ref.input_ids.shape;
  const input = {
    ids: Uint32Array.from(ref.input_ids.data),
    typeIds: Uint32Array.from(ref.token_type_ids.data),
    mask: Uint8Array.from(ref.attention_mask.data),
    batch,
    seq,
  };
  const row = {};
  for (const quantize of [undefined, 'int8']) {
    const model = await BiomegModel.load(path.join(FIX, name), { backend: 'native', quantize });
    const r = await model.forward(input, model.task !== null);
    row[quantize ?? 'fp32'] = { hidden: Array.from(r.hidden), logits: r.logits ? Array.from(r.logits) : null };
  }
  out.models[name] = row;
}
process.stdout.write(`${JSON.stringify(out)}\n`);
