// The demo page: a model folder loaded by URL into a Web Worker (BiomegWorker), NER with the
// entities highlighted, and the break-out view of a vocabulary. Query parameters: ?model=URL and
// any number of &vocab=NAME|URL. window.biomegDemo exposes the last results (for the tests).
import { BiomegWorker } from '../../dist/web/biomeg.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const demo = { lastEntities: null, lastBreakout: null, lastError: null, ticks: 0, maxGapMs: 0, busy: false, model: null };
window.biomegDemo = demo;

// The heartbeat shows (and the tests measure) that the main thread stays free during a forward.
let lastTick = performance.now();
setInterval(() => {
  const now = performance.now();
  if (demo.busy) demo.maxGapMs = Math.max(demo.maxGapMs, now - lastTick);
  lastTick = now;
  demo.ticks++;
  $('heartbeat').style.opacity = demo.ticks % 2 ? '1' : '0.3';
}, 50);

const worker = new BiomegWorker();
let model = null;
const tokenizers = new Map();

function showError(e) {
  demo.lastError = { code: e.code ?? 'ERROR', message: e.message ?? String(e) };
  $('error').hidden = false;
  $('error').textContent = `${demo.lastError.code}: ${demo.lastError.message}`;
}
function clearError() {
  demo.lastError = null;
  $('error').hidden = true;
  $('error').textContent = '';
}
const fmtBytes = (n) => (n > 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`);

async function loadModel() {
  clearError();
  const url = $('model-url').value.trim();
  $('run').disabled = true;
  $('status').textContent = `loading ${url} ...`;
  $('progress').value = 0;
  const t0 = performance.now();
  try {
    const m = await worker.load(url, {
      onProgress: (p) => {
        if (p.total) $('progress').value = p.loaded / p.total;
        $('status').textContent = `${p.file}: ${fmtBytes(p.loaded)}${p.total ? ` of ${fmtBytes(p.total)}` : ''}${p.cached ? ' (cache)' : ''}`;
      },
    });
    model = m;
    demo.model = { source: m.source, labels: m.labels, task: m.task, numParams: m.numParams };
    $('progress').value = 1;
    $('status').textContent = `loaded ${m.source}: ${m.config.model_type}, ${(m.numParams / 1e6).toFixed(2)}M parameters, task ${m.task ?? 'none'}, labels ${m.labels.join(' ')} (${(performance.now() - t0).toFixed(0)} ms)`;
    $('run').disabled = false;
    addVocabOption('model vocabulary', new URL('./', new URL(url, location.href)).href, true);
  } catch (e) {
    $('status').textContent = model ? `still using ${model.source}` : 'no model loaded';
    $('progress').value = 0;
    $('run').disabled = !model;
    showError(e);
  }
}

const COLORS = ['#ffd8a8', '#b2f2bb', '#a5d8ff', '#eebefa', '#ffec99', '#c3fae8', '#ffc9c9', '#d0bfff'];
const labelColor = (label) => COLORS[[...label].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % COLORS.length];

function renderEntities(text, entities) {
  const out = $('entities');
  out.textContent = '';
  let at = 0;
  for (const e of entities) {
    if (e.start > at) out.append(text.slice(at, e.start));
    const mark = document.createElement('mark');
    mark.style.background = labelColor(e.label);
    mark.title = `${e.label} ${e.score.toFixed(3)} [${e.start}, ${e.end})`;
    mark.append(text.slice(e.start, e.end));
    const tag = document.createElement('span');
    tag.className = 'tag';
    tag.textContent = `${e.label} ${e.score.toFixed(2)}`;
    mark.append(tag);
    out.append(mark);
    at = e.end;
  }
  out.append(text.slice(at));
  const body = $('entity-table').querySelector('tbody');
  body.textContent = '';
  for (const e of entities.slice(0, 200)) {
    const tr = document.createElement('tr');
    for (const v of [e.label, e.text, e.start, e.end, e.score.toFixed(3)]) {
      const td = document.createElement('td');
      td.textContent = String(v);
      tr.append(td);
    }
    body.append(tr);
  }
}

async function runNer() {
  clearError();
  if (!model) return;
  const text = $('text').value;
  $('run').disabled = true;
  $('timing').textContent = 'running ...';
  demo.busy = true;
  demo.maxGapMs = 0;
  try {
    const [entities] = await model.ner([text]);
    const s = worker.lastStats;
    const per = s.forwardMs.length ? s.forwardMs.reduce((a, b) => a + b, 0) / s.forwardMs.length : 0;
    $('timing').textContent = `${entities.length} entities in ${s.ms.toFixed(0)} ms: ${s.forwardMs.length} forward pass${s.forwardMs.length === 1 ? '' : 'es'}, ${per.toFixed(1)} ms per forward`;
    demo.lastEntities = entities;
    demo.lastStats = s;
    renderEntities(text, entities);
  } catch (e) {
    $('timing').textContent = '';
    showError(e);
  } finally {
    demo.busy = false;
    $('run').disabled = !model;
  }
}

function addVocabOption(name, url, select = false) {
  const sel = $('vocab');
  let opt = [...sel.options].find((o) => o.value === url);
  if (!opt) {
    opt = new Option(`${name} (${url})`, url);
    sel.append(opt);
  }
  if (select) sel.value = url;
}

async function showBreakout() {
  clearError();
  const url = $('vocab-url').value.trim() || $('vocab').value;
  if (!url) return showError(new Error('choose a vocabulary'));
  const words = $('text').value.split(/\s+/).filter(Boolean);
  try {
    let tok = tokenizers.get(url);
    if (!tok) {
      tok = await worker.loadTokenizer(url);
      tokenizers.set(url, tok);
    }
    const examples = await tok.labelExamples(words);
    demo.lastBreakout = { vocab: tok.name, lowercase: tok.lowercase, examples };
    const out = $('breakout');
    out.textContent = '';
    let pieces = 0;
    for (const ex of examples) {
      pieces += ex.tokens.length;
      const w = document.createElement('span');
      w.className = `word f${Math.min(4, Math.max(1, ex.tokens.length))}`;
      w.title = `${ex.word}: ${ex.tokens.length} sub-token${ex.tokens.length === 1 ? '' : 's'}`;
      for (const t of ex.tokens) {
        const p = document.createElement('span');
        p.className = 'piece';
        p.textContent = t;
        w.append(p);
      }
      out.append(w);
    }
    const broken = examples.filter((e) => e.tokens.length > 1).length;
    $('breakout-summary').textContent = `${tok.name} (${tok.lowercase ? 'uncased' : 'cased'}, ${tok.vocabSize} entries): ${examples.length} words, ${pieces} sub-tokens (${(pieces / Math.max(1, examples.length)).toFixed(2)} per word), ${broken} words broken into pieces`;
  } catch (e) {
    showError(e);
  }
}

$('load').addEventListener('click', loadModel);
$('run').addEventListener('click', runNer);
$('show-breakout').addEventListener('click', showBreakout);
for (const v of params.getAll('vocab')) {
  const [name, url] = v.includes('|') ? v.split('|') : [v, v];
  addVocabOption(name, url);
}
$('model-url').value = params.get('model') ?? '../../test/fixtures/models/tiny-bert-ner/';
if (params.get('autoload') !== '0') loadModel();
