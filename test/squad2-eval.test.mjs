// SQuAD v2.0: the metric against the official v2.0 logic re-implemented in
// scripts/fixtures/make_squad2_fixtures.py (random and adversarial cases, every key to 1e-9),
// the reader (v1.1 unchanged, v2.0 impossible questions), `biomeg eval --task squad2` and its
// errors for bad input.
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { computeExact, computeF1, squad2Eval } from '../dist/eval/index.js';
import { readSquad, readSquadNaProbs } from '../dist/data/index.js';
import { runCli, runCliJson } from './fixtures/eval/run-cli.mjs';

const EVAL = path.resolve('test/fixtures/eval');
const D = (name) => path.join(EVAL, 'squad2', name);
const json = (file) => JSON.parse(readFileSync(file, 'utf8'));
const TOL = 1e-9;
const KEYS = ['exact', 'f1', 'total', 'HasAns_exact', 'HasAns_f1', 'HasAns_total', 'NoAns_exact', 'NoAns_f1', 'NoAns_total'];
const BEST = ['best_exact', 'best_exact_thresh', 'best_f1', 'best_f1_thresh'];

/** Every official key equal (scores: ours are fractions, the official ones percentages). */
function sameAsOfficial(t, r, want, what) {
  const official = Object.keys(r).filter((k) => k !== 'answered');
  t.deepEqual(official.sort(), Object.keys(want).sort(), `${what}: keys`);
  for (const [k, v] of Object.entries(want)) {
    const ours = k.endsWith('_total') || k === 'total' || k.endsWith('_thresh') ? r[k] : 100 * r[k];
    t.true(Math.abs(ours - v) <= TOL, `${what} ${k}: ${ours} vs ${v}`);
  }
}

const examplesOf = (questions) =>
  questions.map((q) => ({ id: q.id, question: '', context: '', answers: q.answers.map((text) => ({ text, answer_start: 0 })) }));

test('the v2.0 metric equals the official logic on random and adversarial cases, every key', (t) => {
  const { cases, f1 } = json(path.join(EVAL, 'squad2_cases.json'));
  t.true(cases.length >= 90);
  let withBest = 0;
  let missing = 0;
  for (const c of cases) {
    const r = squad2Eval(examplesOf(c.questions), c.predictions, { naProbs: c.na_probs ?? undefined, naProbThresh: c.na_prob_thresh });
    sameAsOfficial(t, r, c.expected, c.name);
    t.is(r.answered, Object.keys(c.predictions).length, `${c.name} answered`);
    if (c.na_probs) withBest++;
    if (r.answered < r.total) missing++;
  }
  t.true(withBest >= 40 && missing >= 5, `${withBest} cases with na_probs, ${missing} with missing predictions`);
  for (const [gold, pred, f, em] of f1) {
    t.true(Math.abs(computeF1(gold, pred) - f) <= TOL, `F1 ${JSON.stringify([gold, pred])}`);
    t.is(computeExact(gold, pred), em, `EM ${JSON.stringify([gold, pred])}`);
  }
});

test('ties in na_prob are taken in the given order, as the official sort does', (t) => {
  const { cases } = json(path.join(EVAL, 'squad2_cases.json'));
  const [a, b] = ['ties in na_prob, one order', 'ties in na_prob, another order'].map((n) => cases.find((c) => c.name === n));
  t.not(a.expected.best_f1, b.expected.best_f1, 'the fixture orders give different best_f1');
  for (const c of [a, b]) {
    const r = squad2Eval(examplesOf(c.questions), c.predictions, { naProbs: new Map(c.na_probs), naProbThresh: c.na_prob_thresh });
    t.true(Math.abs(100 * r.best_f1 - c.expected.best_f1) <= TOL, c.name);
  }
});

test('reader: SQuAD v2.0 impossible questions and plausible answers; v1.1 files unchanged', (t) => {
  const { version, examples } = readSquad(D('dev.json'));
  t.is(version, 'v2.0');
  t.is(examples.length, 7);
  const byId = new Map(examples.map((e) => [e.id, e]));
  const no = byId.get('10');
  t.true(no.isImpossible);
  t.deepEqual(no.answers, []);
  t.deepEqual(no.plausibleAnswers, [{ text: 'TP53', answer_start: no.context.indexOf('TP53') }]);
  t.is(byId.get('7').isImpossible, false);
  t.is(byId.get('7').answers.length, 2);
  t.is(examples.filter((e) => e.isImpossible).length, 3);
  // v1.1: no v2 fields appear.
  const v1 = readSquad(path.join(EVAL, 'files', 'squad-dev.json'));
  t.is(v1.version, '1.1');
  for (const e of v1.examples) {
    t.false('isImpossible' in e);
    t.false('plausibleAnswers' in e);
    t.true(e.answers.length > 0);
  }
  // na-prob files keep their key order, integer-like ids included (a JS object would not).
  t.deepEqual([...readSquadNaProbs(D('na-prob.json')).keys()], ['q-a', '10', '7', 'q-b', '2', '1', 'q-c']);
});

test('reader: a malformed or contradictory v2.0 file names file, line and question', (t) => {
  let e = t.throws(() => readSquad(D('dev-malformed.json')));
  t.is(e.code, 'BIOMEG_BAD_DATA');
  t.regex(e.message, /dev-malformed\.json:\d+: data\[0\]\.paragraphs\[1\]\.qas\[1\]\.is_impossible: expected true or false/);
  e = t.throws(() => readSquad(D('dev-contradiction.json')));
  t.regex(
    e.message,
    /dev-contradiction\.json:\d+: data\[0\]\.paragraphs\[0\]\.qas\[2\]: is_impossible is true but the question has answers/,
  );
});

const cli = (...extra) => ['eval', '--task', 'squad2', '--gold', D('dev.json'), '--pred', D('pred.json'), ...extra];

test('CLI: eval --task squad2 --json gives the official keys as fractions, with and without --na-prob', (t) => {
  const want = json(D('expected.json'));
  const strip = ({ task, answered, ...rest }) => {
    t.is(task, 'squad2');
    t.is(answered, 7);
    return rest;
  };
  sameAsOfficial(t, strip(runCliJson(t, cli('--json'))), want.no_na_prob, 'no na-prob');
  const r = strip(runCliJson(t, cli('--na-prob', D('na-prob.json'), '--json')));
  sameAsOfficial(t, r, want.na_prob, 'na-prob');
  for (const k of BEST) t.true(k in r, k);
  sameAsOfficial(
    t,
    strip(runCliJson(t, cli('--na-prob', D('na-prob.json'), '--na-prob-thresh', '0.4', '--json'))),
    want['na_prob_thresh_0.4'],
    'thresh 0.4',
  );
  for (const k of KEYS) t.true(k in r, k);
  const text = runCli(cli('--na-prob', D('na-prob.json')));
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /questions: 7 \(answered 7\)/);
  t.regex(text.stdout, /HasAns_f1: +91\.67%/);
  t.regex(text.stdout, /best_f1_thresh: 0\.5000/);
});

const fails = (t, args, code, pattern) => {
  const r = runCli(args);
  t.is(r.code, 1, r.stdout);
  t.regex(r.stderr, pattern);
  t.true(r.stderr.includes(`[${code}]`), r.stderr);
};

test('CLI: bad input gets a clear error naming the file', (t) => {
  fails(
    t,
    ['eval', '--task', 'squad2', '--gold', D('dev-malformed.json'), '--pred', D('pred.json')],
    'BIOMEG_BAD_DATA',
    /dev-malformed\.json:\d+: .*is_impossible/,
  );
  fails(
    t,
    cli().map((a) => (a === D('pred.json') ? D('pred-unknown-id.json') : a)),
    'BIOMEG_MISMATCH',
    /pred-unknown-id\.json: prediction for 'nope', which is not a question of the gold file/,
  );
  fails(
    t,
    cli('--na-prob', D('na-prob-missing.json')),
    'BIOMEG_MISMATCH',
    /na-prob-missing\.json: no na_prob for 2 predicted question\(s\): 2, q-b/,
  );
  fails(t, cli('--na-prob', D('pred.json')), 'BIOMEG_BAD_DATA', /pred\.json:1: na_prob for '1' is not a number/);
  fails(t, cli('--na-prob', D('nowhere.json')), 'BIOMEG_IO', /nowhere\.json/);
  fails(t, cli('--na-prob-thresh', 'x'), 'BIOMEG_USAGE', /--na-prob-thresh must be a number, got 'x'/);
  fails(
    t,
    ['eval', '--task', 'squad', '--gold', D('dev.json'), '--pred', D('pred.json'), '--na-prob', D('na-prob.json')],
    'BIOMEG_USAGE',
    /for --task squad2/,
  );
});
