// Bundle ts/ (library, CLI and the bench worker ts/bench/worker.ts -> dist/bench/worker.js, which
// ts/bench/suite.ts spawns) into dist/ as ESM with esbuild, then run tsc: declarations, and the
// check that both bindings' generated .d.ts implement BindingApi (ts/binding-check.ts). The browser
// bundle is scripts/build-web.mjs (dist/web).
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
  'ts/node/static-server.ts',
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
  // The Node platform layer (ts/core/host.ts) is registered in every bundle, whatever it imports.
  inject: ['ts/node/platform.ts'],
});
// The browser bundle (dist/web) needs the wasm package; without it only the Node build is made.
if (existsSync('bindings/wasm/pkg/biomeg_wasm_bg.wasm')) {
  execFileSync(process.execPath, ['scripts/build-web.mjs'], { stdio: 'inherit' });
} else {
  console.warn('build-ts: bindings/wasm/pkg not built: dist/web (browser bundle) skipped');
}
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
