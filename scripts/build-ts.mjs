// Bundle ts/ into dist/ (ESM) with esbuild, then emit declarations with tsc.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

const entries = ['ts/index.ts', 'ts/wasm.ts', 'ts/cli.ts', 'ts/eval/index.ts', 'ts/data/index.ts'].filter((f) => existsSync(f));
for (const dir of ['ts/commands']) {
  if (existsSync(dir)) for (const f of readdirSync(dir)) if (f.endsWith('.ts')) entries.push(path.join(dir, f));
}
await build({
  entryPoints: entries,
  outdir: 'dist',
  outbase: 'ts',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  banner: { js: '' },
});
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
