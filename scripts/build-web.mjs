// Build the browser bundle: dist/web/biomeg.js (the 'browser' export of the package), the
// worker script dist/web/worker.js, their shared chunks, and the .wasm next to them (found by
// new URL(..., import.meta.url)). The build FAILS when anything reachable imports a Node
// built-in (a resolve hook refuses them, and the metafile is checked again), and prints sizes.
import { build } from 'esbuild';
import { builtinModules } from 'node:module';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const OUT = 'dist/web';
const WASM = 'bindings/wasm/pkg/biomeg_wasm_bg.wasm';
if (!existsSync(WASM) || !existsSync('bindings/wasm/pkg/biomeg_wasm.js')) {
  console.error(`build-web: ${WASM} is missing: run \`bash scripts/build-wasm.sh\` first`);
  process.exit(1);
}

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const isBuiltin = (p) => p.startsWith('node:') || builtins.has(p) || builtins.has(p.split('/')[0]);

/** Refuse Node built-ins with the importing file named (esbuild reports every one). */
const noNodeBuiltins = {
  name: 'no-node-builtins',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === 'entry-point' || !isBuiltin(args.path)) return undefined;
      return { errors: [{ text: `browser bundle must not import the Node built-in '${args.path}' (from ${args.importer})` }] };
    });
  },
};

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const result = await build({
  entryPoints: { biomeg: 'ts/web/index.ts', worker: 'ts/web/worker.ts' },
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome111', 'firefox111', 'safari16.4'],
  minify: true,
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
  chunkNames: 'chunk-[hash]',
  plugins: [noNodeBuiltins],
}).catch(() => {
  console.error('build-web: FAILED (see the errors above)');
  process.exit(1);
});

const offenders = Object.entries(result.metafile.inputs).flatMap(([file, info]) =>
  info.imports.filter((i) => isBuiltin(i.path)).map((i) => `${file} -> ${i.path}`),
);
if (offenders.length) {
  console.error(`build-web: Node built-ins in the browser bundle:\n  ${offenders.join('\n  ')}`);
  process.exit(1);
}
copyFileSync(WASM, path.join(OUT, 'biomeg_wasm_bg.wasm'));

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const rows = Object.keys(result.metafile.outputs)
  .filter((f) => f.endsWith('.js'))
  .concat(path.join(OUT, 'biomeg_wasm_bg.wasm'))
  .map((f) => {
    const b = readFileSync(f);
    return { file: path.relative(OUT, f), bytes: b.length, gzip: gzipSync(b).length };
  });
const total = rows.reduce((s, r) => ({ bytes: s.bytes + r.bytes, gzip: s.gzip + r.gzip }), { bytes: 0, gzip: 0 });
console.log('browser bundle (dist/web), no Node built-ins:');
for (const r of rows) console.log(`  ${r.file.padEnd(28)} ${kib(r.bytes).padStart(11)}  gzip ${kib(r.gzip).padStart(10)}`);
console.log(`  ${'total'.padEnd(28)} ${kib(total.bytes).padStart(11)}  gzip ${kib(total.gzip).padStart(10)}`);
