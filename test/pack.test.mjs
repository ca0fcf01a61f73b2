// `npm pack` gives a package that works without the source tree: the tarball installs into an
// empty folder (offline: biomeg has no runtime dependencies), `npx biomeg info` sees both
// backends, a library call runs on native and on wasm, the types resolve for Node and for the
// browser condition, and a user's own `import { BiomegModel } from 'biomeg'` bundled by esbuild
// for the browser runs NER in Chromium with the .wasm next to the bundle.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { BiomegModel } from '../dist/index.js';
import { startStaticServer } from '../dist/node/static-server.js';
import { needOrSkip } from './helpers/backends.mjs';
import { SHOTS, browserMissing, launchChromium, newPage } from './helpers/browser.mjs';

const REPO = path.resolve('.');
const FIXTURE = path.resolve('test/fixtures/models/tiny-bert-ner');
const TEXT = 'The patient 🧬 was treated with aspirin (5 mg) in vitro; BRCA1 mutation risk of cancer.';
const ctx = {};

function sh(cmd, args, cwd) {
  return execFileSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
}

test.before(() => {
  const built = ['dist/index.js', 'dist/web/biomeg.js', 'bindings/node/biomeg.node', 'bindings/wasm/pkg/biomeg_wasm_bg.wasm'].every((f) =>
    existsSync(f),
  );
  if (!built) return;
  const dir = mkdtempSync(path.join(tmpdir(), 'biomeg-pack-'));
  const packed = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', dir], REPO));
  ctx.tarball = path.join(dir, packed[0].filename);
  ctx.files = packed[0].files.map((f) => f.path);
  ctx.app = path.join(dir, 'app');
  mkdirSync(ctx.app);
  writeFileSync(path.join(ctx.app, 'package.json'), JSON.stringify({ name: 'pack-test-app', private: true, type: 'module' }));
  sh('npm', ['install', ctx.tarball, '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], ctx.app);
  cpSync(FIXTURE, path.join(ctx.app, 'model'), { recursive: true });
});

const ready = (t) =>
  needOrSkip(t, ctx.app !== undefined, 'the native addon, the wasm package and dist (with dist/web) must be built first');

test.serial('the tarball holds the addon, the wasm package, both bundles and the types, and no sources', (t) => {
  if (!ready(t)) return;
  for (const f of [
    'package.json',
    'dist/index.js',
    'dist/cli.js',
    'dist/web/biomeg.js',
    'dist/web/worker.js',
    'dist/web/biomeg_wasm_bg.wasm',
    'dist/types/ts/index.d.ts',
    'dist/types/ts/web/index.d.ts',
    'bindings/node/biomeg.node',
    'bindings/wasm/pkg/biomeg_wasm.js',
    'bindings/wasm/pkg/biomeg_wasm_bg.wasm',
    'examples/web/index.html',
  ])
    t.true(ctx.files.includes(f), `${f} in the tarball`);
  t.false(
    ctx.files.some((f) => f.startsWith('ts/') || f.startsWith('crates/') || f.startsWith('test/')),
    'no sources or tests',
  );
});

test.serial('installed from the tarball: `npx biomeg info` sees both backends', (t) => {
  if (!ready(t)) return;
  const info = JSON.parse(sh('npx', ['--no-install', 'biomeg', 'info', '--json'], ctx.app));
  t.true(info.backends.native);
  t.true(info.backends.wasm);
  t.is(info.backend, 'native');
  t.true(existsSync(path.join(ctx.app, 'node_modules/biomeg/bindings/node/biomeg.node')));
});

test.serial('installed from the tarball: a library call on native and on wasm gives the repo results', async (t) => {
  if (!ready(t)) return;
  const script = `
    import { BiomegModel } from 'biomeg';
    const out = {};
    for (const backend of ['native', 'wasm']) {
      const m = await BiomegModel.load('./model', { backend });
      out[backend] = { backend: m.backend, entities: (await m.ner([${JSON.stringify(TEXT)}]))[0] };
    }
    const wasmEntry = await import('biomeg/wasm');
    out.wasmEntry = (await wasmEntry.BiomegModel.load('./model')).backend;
    out.resolved = import.meta.resolve('biomeg');
    console.log(JSON.stringify(out));`;
  writeFileSync(path.join(ctx.app, 'call.mjs'), script);
  const r = JSON.parse(sh(process.execPath, ['call.mjs'], ctx.app));
  t.regex(r.resolved, /node_modules\/biomeg\/dist\/index\.js$/);
  t.is(r.native.backend, 'native');
  t.is(r.wasm.backend, 'wasm');
  t.is(r.wasmEntry, 'wasm');
  const repo = await BiomegModel.load(FIXTURE, { backend: 'native' });
  const [want] = await repo.ner([TEXT]);
  t.true(want.length > 0);
  t.deepEqual(r.native.entities, want);
  t.deepEqual(
    r.wasm.entities.map((e) => [e.label, e.start, e.end]),
    want.map((e) => [e.label, e.start, e.end]),
  );
});

/** tsc over one consumer file in the app folder; returns its output ('' when clean). */
function typeCheck(file, source, compilerOptions) {
  writeFileSync(path.join(ctx.app, file), source);
  const config = `tsconfig.${file}.json`;
  const base = { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false };
  writeFileSync(path.join(ctx.app, config), JSON.stringify({ compilerOptions: { ...base, ...compilerOptions }, files: [file] }));
  try {
    return sh(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', config], ctx.app).trim();
  } catch (e) {
    return `${e.stdout}${e.stderr}`.trim();
  }
}

test.serial('installed from the tarball: the types resolve for Node, and for the browser without @types/node', (t) => {
  if (!ready(t)) return;
  const node = typeCheck(
    'use-node.ts',
    `import { BiomegModel, type Entity, fineTune } from 'biomeg';
export async function f(): Promise<Entity[]> {
  void fineTune;
  const m = await BiomegModel.load('./model', { backend: 'wasm' });
  return (await m.ner(['x']))[0];
}
`,
    { lib: ['ES2022'], types: ['node'], typeRoots: [path.join(REPO, 'node_modules/@types')] },
  );
  t.is(node, '', 'a Node consumer type-checks');
  const web = typeCheck(
    'use-web.ts',
    `import { BiomegModel, BiomegWorker, setWasmSource, type Entity } from 'biomeg/web';
export async function f(): Promise<Entity[]> {
  setWasmSource('/biomeg_wasm_bg.wasm');
  const m = await BiomegModel.fromUrl('https://example.org/model/', { onProgress: (p) => console.log(p.file, p.loaded, p.total) });
  const w = await new BiomegWorker().load('/model/');
  await w.ner(['y']);
  return (await m.ner(['x']))[0];
}
`,
    { lib: ['ES2022', 'DOM'], types: [] },
  );
  t.is(web, '', 'a browser consumer type-checks without @types/node');
});

test.serial("a user's own esbuild browser bundle of `import { BiomegModel } from 'biomeg'` runs in Chromium", async (t) => {
  if (!ready(t)) return;
  const site = path.join(ctx.app, 'site');
  mkdirSync(site);
  writeFileSync(
    path.join(ctx.app, 'main.js'),
    `import { BiomegModel } from 'biomeg';
window.result = BiomegModel.fromUrl('./model/').then((m) => m.ner([${JSON.stringify(TEXT)}])).then(([e]) => ({ backend: 'wasm', entities: e }), (e) => ({ error: e.message }));
`,
  );
  const res = await build({
    entryPoints: [path.join(ctx.app, 'main.js')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    outfile: path.join(site, 'app.js'),
    metafile: true,
    logLevel: 'silent',
  });
  const inputs = Object.keys(res.metafile.inputs);
  t.true(
    inputs.some((f) => f.includes('node_modules/biomeg/dist/web/')),
    'the browser condition picked dist/web',
  );
  t.false(
    inputs.some((f) => f.startsWith('node:')),
    'no Node built-ins',
  );
  // The .wasm is found next to the bundle (new URL('./biomeg_wasm_bg.wasm', import.meta.url)).
  copyFileSync(path.join(ctx.app, 'node_modules/biomeg/dist/web/biomeg_wasm_bg.wasm'), path.join(site, 'biomeg_wasm_bg.wasm'));
  cpSync(FIXTURE, path.join(site, 'model'), { recursive: true });
  writeFileSync(
    path.join(site, 'index.html'),
    '<!doctype html><meta charset="utf-8"><script type="module" src="app.js"></script><p>bundle test</p>',
  );
  // A second app names the .wasm itself (setWasmSource): nothing lies next to its bundle.
  mkdirSync(path.join(site, 'elsewhere'));
  mkdirSync(path.join(site, 'assets'));
  copyFileSync(path.join(site, 'biomeg_wasm_bg.wasm'), path.join(site, 'assets', 'engine.wasm'));
  writeFileSync(
    path.join(ctx.app, 'main2.js'),
    `import { BiomegModel, setWasmSource } from 'biomeg';
setWasmSource('/assets/engine.wasm');
window.result = BiomegModel.fromUrl('/model/').then((m) => m.ner([${JSON.stringify(TEXT)}])).then(([e]) => ({ entities: e }), (e) => ({ error: e.message }));
`,
  );
  await build({
    entryPoints: [path.join(ctx.app, 'main2.js')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    outfile: path.join(site, 'elsewhere', 'app.js'),
    logLevel: 'silent',
  });
  writeFileSync(
    path.join(site, 'elsewhere', 'index.html'),
    '<!doctype html><meta charset="utf-8"><script type="module" src="app.js"></script>',
  );
  if (!needOrSkip(t, browserMissing() === null, browserMissing() ?? '')) return;
  const server = await startStaticServer({ root: site });
  const browser = await launchChromium();
  try {
    const page = await newPage(browser);
    await page.goto(`${server.url}/`);
    const r = await page.evaluate(() => window.result);
    t.is(r.error, undefined);
    const repo = await BiomegModel.load(FIXTURE, { backend: 'native' });
    const [want] = await repo.ner([TEXT]);
    t.deepEqual(
      r.entities.map((e) => [e.label, e.start, e.end, e.text]),
      want.map((e) => [e.label, e.start, e.end, e.text]),
    );
    await page.screenshot({ path: path.join(SHOTS, 'pack-bundle.png') });
    const page2 = await newPage(browser);
    await page2.goto(`${server.url}/elsewhere/`);
    const r2 = await page2.evaluate(() => window.result);
    t.is(r2.error, undefined);
    t.deepEqual(r2.entities, r.entities, 'the same results with the .wasm named by setWasmSource');
  } finally {
    await browser.close();
    server.server.close();
  }
});
