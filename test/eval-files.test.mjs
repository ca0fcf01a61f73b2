// `biomeg eval` on prediction files, and the clear errors for bad input.
import test from 'ava';
import { runCli, runCliJson } from './fixtures/eval/run-cli.mjs';

const F = (name) => `test/fixtures/eval/files/${name}`;
const TOL = 1e-9;
const close = (t, a, b, what) => t.true(Math.abs(a - b) <= TOL, `${what}: ${a} vs ${b}`);

test('ner: gold + prediction files, JSON fractions, per type', (t) => {
  const r = runCliJson(t, ['eval', '--task', 'ner', '--gold', F('gold.tsv'), '--pred', F('pred.tsv'), '--json']);
  close(t, r.precision, 0.5, 'precision');
  close(t, r.recall, 1 / 3, 'recall');
  close(t, r.f1, 0.4, 'f1');
  t.deepEqual(Object.keys(r.per_type), ['Chemical', 'Disease']);
  close(t, r.per_type.Chemical.f1, 0.5, 'Chemical f1');
  t.is(r.per_type.Disease.f1, 0);
});

test('ner: a single conlleval-style file (token gold pred) gives the same scores', (t) => {
  const a = runCliJson(t, ['eval', '--task', 'ner', '--pred', F('conlleval.txt'), '--json']);
  const b = runCliJson(t, ['eval', '--task', 'ner', '--gold', F('gold.tsv'), '--pred', F('pred.tsv'), '--json']);
  t.deepEqual(a, b);
  const text = runCli(['eval', '--task', 'ner', '--pred', F('conlleval.txt')]);
  t.regex(text.stdout, /processed 10 tokens with 3 phrases; found: 2 phrases; correct: 1\./);
});

const fails = (t, args, code, pattern) => {
  const r = runCli(args);
  t.is(r.code, 1, r.stdout);
  t.regex(r.stderr, pattern);
  t.true(r.stderr.includes(`[${code}]`), r.stderr);
  t.is(r.stdout, '', 'nothing scored');
};

test('bad input: a line with one column names file and line', (t) => {
  fails(
    t,
    ['eval', '--task', 'ner', '--gold', F('gold.tsv'), '--pred', F('one-column.tsv')],
    'BIOMEG_BAD_DATA',
    /one-column\.tsv:4: .*1 column/,
  );
  fails(t, ['eval', '--task', 'ner', '--gold', F('one-column.tsv'), '--pred', F('pred.tsv')], 'BIOMEG_BAD_DATA', /one-column\.tsv:4: /);
});

test('bad input: a malformed tag names file, line and tag', (t) => {
  fails(
    t,
    ['eval', '--task', 'ner', '--gold', F('gold.tsv'), '--pred', F('bad-tag.tsv')],
    'BIOMEG_BAD_DATA',
    /bad-tag\.tsv:3: malformed tag 'B_Chemical'/,
  );
  fails(
    t,
    ['eval', '--task', 'ner', '--gold', F('gold.tsv'), '--pred', F('iobes.tsv')],
    'BIOMEG_BAD_DATA',
    /iobes\.tsv:1: malformed tag 'S-Chemical'.*IOBES/,
  );
  // without --gold the file must hold token, gold and prediction columns
  fails(
    t,
    ['eval', '--task', 'ner', '--pred', F('gold.tsv')],
    'BIOMEG_BAD_DATA',
    /gold\.tsv:1: expected 'token … gold prediction' columns/,
  );
});

test('bad input: token count differs from gold', (t) => {
  fails(
    t,
    ['eval', '--task', 'ner', '--gold', F('gold.tsv'), '--pred', F('short-pred.tsv')],
    'BIOMEG_MISMATCH',
    /gold\.tsv:11: prediction file .*short-pred\.tsv ends after 9 tokens/,
  );
  fails(
    t,
    ['eval', '--task', 'ner', '--gold', F('gold.tsv'), '--pred', F('long-pred.tsv')],
    'BIOMEG_MISMATCH',
    /long-pred\.tsv:12: prediction file has more tokens than gold \(10\)/,
  );
  fails(
    t,
    ['eval', '--task', 'ner', '--gold', F('gold.tsv'), '--pred', F('bad-tag.tsv').replace('bad-tag', 'one-column')],
    'BIOMEG_BAD_DATA',
    /one-column/,
  );
});

test('re: index/label TSV against BLUE-style gold; duplicate indices matched in order', (t) => {
  const r = runCliJson(t, ['eval', '--task', 're', '--gold', F('re-gold.tsv'), '--pred', F('re-pred.tsv'), '--json']);
  close(t, r.precision, 0.5, 'precision');
  close(t, r.recall, 2 / 3, 'recall');
  close(t, r.f1, 4 / 7, 'f1');
  t.deepEqual(Object.keys(r.per_class), ['CPR:3', 'CPR:4', 'CPR:5', 'CPR:6', 'CPR:9']);
  t.deepEqual(r.confusion.labels, ['CPR:3', 'CPR:4', 'CPR:5', 'CPR:6', 'CPR:9', 'false']);
  t.is(r.confusion.matrix[4][0], 1, 'gold CPR:9 predicted CPR:3');
  t.is(r.confusion.matrix[5][1], 1, 'gold false predicted CPR:4');
});

test('re: unknown label, one column, missing prediction', (t) => {
  fails(
    t,
    ['eval', '--task', 're', '--gold', F('re-gold.tsv'), '--pred', F('re-bad-label.tsv')],
    'BIOMEG_BAD_DATA',
    /re-bad-label\.tsv:2: unknown label 'CPR:7'/,
  );
  fails(
    t,
    ['eval', '--task', 're', '--gold', F('re-gold.tsv'), '--pred', F('re-one-column.tsv')],
    'BIOMEG_BAD_DATA',
    /re-one-column\.tsv:2: .*1 column/,
  );
  fails(t, ['eval', '--task', 're', '--gold', F('re-gold.tsv'), '--pred', F('gold.tsv')], 'BIOMEG_BAD_DATA', /gold\.tsv:1: unknown label/);
});

test('qa: BioASQ golden + answer JSON', (t) => {
  const r = runCliJson(t, ['eval', '--task', 'qa', '--gold', F('bioasq-golden.json'), '--pred', F('bioasq-answers.json'), '--json']);
  close(t, r.strict_acc, 1 / 3, 'strict');
  close(t, r.lenient_acc, 2 / 3, 'lenient');
  close(t, r.mrr, 4 / 9, 'mrr');
  t.is(r.questions, 3);
  t.is(r.answered, 2);
});

test('qa: a BioASQ file missing fields names file and line', (t) => {
  fails(
    t,
    ['eval', '--task', 'qa', '--gold', F('bioasq-golden-missing.json'), '--pred', F('bioasq-answers.json')],
    'BIOMEG_BAD_DATA',
    /bioasq-golden-missing\.json:8: questions\[1\] \(id q2\): missing field 'exact_answer'/,
  );
  fails(
    t,
    ['eval', '--task', 'qa', '--gold', F('bioasq-golden.json'), '--pred', F('squad-pred.json')],
    'BIOMEG_BAD_DATA',
    /squad-pred\.json:1: \$: missing field 'questions'/,
  );
});

test('squad: EM and F1 as fractions', (t) => {
  const r = runCliJson(t, ['eval', '--task', 'squad', '--gold', F('squad-dev.json'), '--pred', F('squad-pred.json'), '--json']);
  close(t, r.exact_match, 0.5, 'em');
  close(t, r.f1, 5 / 6, 'f1');
});

test('usage errors and --help', (t) => {
  const h = runCli(['eval', '--help']);
  t.is(h.code, 0);
  t.regex(h.stdout, /--task ner\|re\|qa\|squad/);
  fails(t, ['eval', '--task', 'pos', '--pred', F('pred.tsv')], 'BIOMEG_USAGE', /--task must be/);
  fails(t, ['eval', '--task', 're', '--pred', F('re-pred.tsv')], 'BIOMEG_USAGE', /--gold FILE is required/);
});
