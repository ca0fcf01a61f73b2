// The CLI's machine-readable outputs keep the shapes other tools read.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const run = promisify(execFile);
const cli = (args, env = {}) =>
  run(process.execPath, ['dist/cli.js', ...args], { env: { ...process.env, ...env }, maxBuffer: 1 << 24, timeout: 240_000 });

test('info --json', async (t) => {
  const { stdout } = await cli(['info', '--json']);
  const info = JSON.parse(stdout);
  t.deepEqual(Object.keys(info.backends).sort(), ['cuda', 'native', 'wasm']);
  t.is(typeof info.simd, 'string');
  t.true(Number.isInteger(info.threads) && info.threads >= 1);
});

test('bench --json has the documented shape and writes its reports atomically', async (t) => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'biomeg-bench-'));
  const { stdout } = await cli(['bench', '--quick', '--presets', 'tiny', '--no-data', '--json', '--out', out]);
  const r = JSON.parse(stdout);
  t.true(r.peak_gflops > 0);
  t.true(r.gemm.length >= 8);
  for (const g of r.gemm) for (const k of ['m', 'k', 'n', 'threads', 'backend', 'gflops']) t.true(k in g, k);
  t.true(r.gemm.some((g) => g.backend === 'wasm') && r.gemm.some((g) => g.backend === 'native'));
  t.is(r.encoder.length, 3);
  for (const e of r.encoder)
    for (const k of ['preset', 'backend', 'threads', 'batch', 'seq', 'ms', 'tokens_per_s', 'peak_rss_mb']) t.true(k in e, k);
  t.deepEqual(JSON.parse(readFileSync(path.join(out, 'bench.json'), 'utf8')).encoder.length, 3);
  t.true(existsSync(path.join(out, 'bench.md')));
  t.deepEqual(r.errors, []);
});

test('unknown commands and presets fail with a message, not a stack', async (t) => {
  const e = await t.throwsAsync(cli(['frobnicate']));
  t.regex(e.stderr, /unknown command 'frobnicate'/);
  const e2 = await t.throwsAsync(cli(['bench', '--presets', 'nope', '--backends', 'native', '--no-data']));
  t.regex(e2.stderr + e2.stdout, /unknown preset 'nope'/);
});
