// BiomegModel.fromUrl in Node (fetch, no Cache API) on both backends, against the static server of
// `biomeg serve`: the same entities as load(dir); coded errors for a 404, a truncated safetensors,
// a Content-Length the body does not reach, a config.json that is not JSON, and a model too big for
// wasm32 (refused from config.json before the weights download). Also the parameter estimate
// behind that limit, and the server's MIME types and path checks. (test/browser.test.mjs runs the
// same cases in Chromium.)
import test from 'ava';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BiomegModel, checkSafetensors, estimateParams, presetConfig } from '../dist/index.js';
import { resolveRequest, startStaticServer } from '../dist/node/static-server.js';
import { BACKENDS } from './helpers/backends.mjs';

const MODEL = path.resolve('test/fixtures/models/tiny-bert-ner');
const TEXT = 'The patient 🧬 was treated with aspirin in vitro; BRCA1 mutation risk of cancer.';
const ctx = {};

test.before(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'biomeg-fromurl-'));
  const weights = readFileSync(path.join(MODEL, 'model.safetensors'));
  const mk = (name, files) => {
    mkdirSync(path.join(dir, name));
    for (const [f, data] of Object.entries(files)) writeFileSync(path.join(dir, name, f), data);
  };
  const config = readFileSync(path.join(MODEL, 'config.json'));
  mk('truncated', { 'config.json': config, 'model.safetensors': weights.subarray(0, weights.length - 100) });
  mk('notjson', { 'config.json': '{"model_type": "bert",' });
  const huge = {
    ...JSON.parse(config),
    vocab_size: 50176,
    hidden_size: 2560,
    num_hidden_layers: 36,
    num_attention_heads: 40,
    intermediate_size: 10240,
  };
  mk('huge', { 'config.json': JSON.stringify(huge) });
  mkdirSync(path.join(dir, 'good'));
  for (const f of ['config.json', 'model.safetensors', 'vocab.txt']) copyFileSync(path.join(MODEL, f), path.join(dir, 'good', f));
  ctx.site = await startStaticServer({ root: dir });
  // A server that promises the whole file and sends half.
  ctx.lying = createServer((req, res) => {
    if (req.url.endsWith('config.json')) return res.end(config);
    res.writeHead(200, { 'content-length': String(weights.length) });
    res.write(weights.subarray(0, weights.length >> 1));
    setTimeout(() => res.socket.destroy(), 20);
  });
  await new Promise((r) => ctx.lying.listen(0, '127.0.0.1', r));
  ctx.lyingUrl = `http://127.0.0.1:${ctx.lying.address().port}/m/`;
});

test.after.always(() => {
  ctx.site?.server.close();
  ctx.lying?.close();
});

for (const backend of BACKENDS) {
  test(`fromUrl gives the model load(dir) gives, with progress (${backend})`, async (t) => {
    const seen = [];
    const m = await BiomegModel.fromUrl(`${ctx.site.url}/good`, { backend, onProgress: (p) => seen.push(p) });
    t.is(m.backend, backend);
    const want = await BiomegModel.load(MODEL, { backend });
    t.deepEqual(await m.ner([TEXT]), await want.ner([TEXT]));
    const done = seen.filter((p) => p.done);
    t.deepEqual(
      done.map((p) => p.file),
      ['config.json', 'model.safetensors', 'vocab.txt'],
    );
    const size = readFileSync(path.join(MODEL, 'model.safetensors')).length;
    t.deepEqual(done[1], {
      file: 'model.safetensors',
      url: `${ctx.site.url}/good/model.safetensors`,
      loaded: size,
      total: size,
      cached: false,
      done: true,
    });
  });

  test(`fromUrl: coded errors naming the URL (${backend})`, async (t) => {
    const u = ctx.site.url;
    const e404 = await t.throwsAsync(BiomegModel.fromUrl(`${u}/missing/`, { backend }));
    t.is(e404.code, 'BIOMEG_DOWNLOAD');
    t.is(e404.message, `${u}/missing/config.json: HTTP 404 Not Found`);
    const trunc = await t.throwsAsync(BiomegModel.fromUrl(`${u}/truncated/`, { backend }));
    t.is(trunc.code, 'BIOMEG_BAD_WEIGHTS');
    t.regex(trunc.message, /truncated\/model\.safetensors: the tensors end at byte \d+ of the data but only \d+ bytes arrived/);
    const lying = await t.throwsAsync(BiomegModel.fromUrl(ctx.lyingUrl, { backend }));
    t.is(lying.code, 'BIOMEG_DOWNLOAD');
    t.regex(lying.message, /m\/model\.safetensors: (truncated download|download failed after)/);
    const notjson = await t.throwsAsync(BiomegModel.fromUrl(`${u}/notjson/`, { backend }));
    t.is(notjson.code, 'BIOMEG_BAD_CONFIG');
    t.regex(notjson.message, /notjson\/config\.json: config\.json is not valid JSON/);
    const bad = await t.throwsAsync(BiomegModel.fromUrl('not a url', { backend }));
    t.is(bad.code, 'BIOMEG_BAD_ARGUMENT');
  });
}

test('too big for wasm32: refused on wasm from config.json; native goes on to the weights', async (t) => {
  const wasm = await t.throwsAsync(BiomegModel.fromUrl(`${ctx.site.url}/huge/`, { backend: 'wasm' }));
  t.is(wasm.code, 'BIOMEG_TOO_BIG');
  t.regex(wasm.message, /huge\/config\.json: the model has about 29\d\dM parameters \(11\.\d\d GiB in fp32\)/);
  const native = await t.throwsAsync(BiomegModel.fromUrl(`${ctx.site.url}/huge/`, { backend: 'native' }));
  t.is(native.code, 'BIOMEG_DOWNLOAD', 'native has no such limit: it fails on the missing weights instead');
  t.regex(native.message, /huge\/model\.safetensors: HTTP 404/);
  // fromBytes on wasm applies the same limit.
  const cfg = readFileSync(path.join(MODEL, 'config.json'), 'utf8');
  const big = JSON.stringify({
    ...JSON.parse(cfg),
    hidden_size: 4096,
    num_hidden_layers: 48,
    intermediate_size: 16384,
    num_attention_heads: 32,
  });
  const e = await t.throwsAsync(BiomegModel.fromBytes({ config: big, weights: new Uint8Array(8) }, { backend: 'wasm' }));
  t.is(e.code, 'BIOMEG_TOO_BIG');
});

test('estimateParams: exact for bert-base (random preset: no pooler), close for ALBERT and the fixture', async (t) => {
  const base = await BiomegModel.random('bert-base', { backend: 'native' });
  t.is(estimateParams(await presetConfig('bert-base', 'native')), base.numParams);
  const albert = await BiomegModel.random('albert-base', { backend: 'native' });
  const a = estimateParams(await presetConfig('albert-base', 'native'));
  t.true(Math.abs(a - albert.numParams) / albert.numParams < 0.01, `${a} vs ${albert.numParams}`);
  const tiny = await BiomegModel.load(MODEL, { backend: 'native' });
  const e = estimateParams(JSON.parse(readFileSync(path.join(MODEL, 'config.json'), 'utf8')));
  t.true(e <= tiny.numParams && e > 0.95 * tiny.numParams, `${e} vs ${tiny.numParams} (head not counted)`);
});

test('checkSafetensors: short files, a header past the end, tensors past the end', (t) => {
  const good = new Uint8Array(readFileSync(path.join(MODEL, 'model.safetensors')));
  t.notThrows(() => checkSafetensors(good, 'good'));
  for (const [bytes, re] of [
    [good.subarray(0, 5), /5 bytes is too short/],
    [good.subarray(0, 200), /the header claims \d+ bytes but the file has 200/],
    [good.subarray(0, good.length - 1), /the tensors end at byte \d+ of the data but only \d+ bytes arrived/],
  ]) {
    const e = t.throws(() => checkSafetensors(bytes, 'x.safetensors'));
    t.is(e.code, 'BIOMEG_BAD_WEIGHTS');
    t.regex(e.message, re);
  }
});

test('the static server: MIME types, 404, no escape from the served folder', async (t) => {
  const { server, url } = await startStaticServer({ root: path.resolve('.') });
  t.teardown(() => server.close());
  const wasm = await fetch(`${url}/bindings/wasm/pkg/biomeg_wasm_bg.wasm`, { method: 'HEAD' });
  t.is(wasm.headers.get('content-type'), 'application/wasm');
  t.is((await fetch(`${url}/examples/web/`)).headers.get('content-type'), 'text/html; charset=utf-8');
  t.is((await fetch(`${url}/no/such/file`)).status, 404);
  t.is((await fetch(`${url}/..%2f..%2fetc/passwd`)).status, 404, 'normalised to <root>/etc/passwd, which is not there');
  t.is((await fetch(`${url}/x%00y`)).status, 403);
  t.is(resolveRequest('/../../etc/passwd', { root: '/srv/www' }), '/srv/www/etc/passwd', 'normalised inside the root');
  t.is(resolveRequest('/v/a.txt', { root: '/srv/www', mounts: { '/v': '/data/vocab' } }), '/data/vocab/a.txt');
  t.is(resolveRequest('/x%00y', { root: '/srv/www' }), null);
});
