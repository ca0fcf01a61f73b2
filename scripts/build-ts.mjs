// Bundle ts/ (library, CLI and the bench worker ts/bench/worker.ts -> dist/bench/worker.js, which
// ts/bench/suite.ts spawns) into dist/ as ESM with esbuild, then run tsc: declarations, and the
// check that both bindings' generated .d.ts implement BindingApi (ts/binding-check.ts).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

const entries = {};
for (const f of [
  'ts/index.ts',
  'ts/wasm.ts',
  'ts/cli.ts',
  'ts/eval/index.ts',
  'ts/data/index.ts',
  'ts/text/index.ts',
  'ts/train/index.ts',
  'ts/finetune/index.ts',
  'ts/pretrain/data/index.ts',
  'ts/bench/worker.ts',
]) {
  if (existsSync(f)) entries[f.replace(/^ts\//, '').replace(/\.ts$/, '')] = f;
}
for (const f of readdirSync('ts/commands')) if (f.endsWith('.ts')) entries[`commands/${f.slice(0, -3)}`] = path.join('ts/commands', f);
await build({
  entryPoints: entries,
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
});
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
