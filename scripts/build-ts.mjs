// Bundle ts/ (and the bench worker) into dist/ as ESM with esbuild, then emit declarations with tsc.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

const entries = {};
for (const f of ['ts/index.ts', 'ts/wasm.ts', 'ts/cli.ts', 'ts/eval/index.ts', 'ts/data/index.ts', 'ts/text/index.ts', 'ts/train/index.ts', 'ts/finetune/index.ts', 'bench/worker.ts']) {
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
