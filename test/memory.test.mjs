// Loading keeps one copy of the weights (native reads each tensor straight into its buffer).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { needOrSkip } from './helpers/backends.mjs';

const MINILM = process.env.BIOMEG_MINILM_DIR ?? path.resolve('.cache/models/all-MiniLM-L6-v2');

test('native load of a 91 MB checkpoint grows peak RSS by about one copy of the weights', (t) => {
  const weights = path.join(MINILM, 'model.safetensors');
  if (!needOrSkip(t, existsSync(weights), `${weights} missing (scripts/fetch-minilm.sh)`)) return;
  const script = `
    const { BiomegModel, loadBackend } = await import(${JSON.stringify(path.resolve('dist/index.js'))});
    await loadBackend('native');
    const before = process.resourceUsage().maxRSS;
    const m = await BiomegModel.load(${JSON.stringify(MINILM)}, { backend: 'native' });
    console.log(JSON.stringify({ before, after: process.resourceUsage().maxRSS, params: m.numParams }));`;
  const r = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
  const grownMb = (r.after - r.before) / 1024;
  const fileMb = statSync(weights).size / 2 ** 20;
  t.log(`weights ${fileMb.toFixed(1)} MiB, peak RSS grew ${grownMb.toFixed(1)} MiB, ${r.params} params`);
  t.true(grownMb < fileMb * 1.35, `grew ${grownMb} MiB for ${fileMb} MiB of weights`);
  t.true(grownMb > fileMb * 0.8, 'the weights are really resident');
});
