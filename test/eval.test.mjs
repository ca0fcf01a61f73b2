// Metrics against reference fixtures (scripts/fixtures/make_eval_fixtures.py): seqeval for
// NER, scikit-learn for ChemProt, the official SQuAD v1.1 logic, the BioASQ definitions.
import test from 'ava';
import { readFileSync } from 'node:fs';
import {
  conllEval,
  chemprotEval,
  squadEval,
  normalizeAnswer,
  bioasqFactoidEval,
  labelBias,
  answerBias,
  CHEMPROT_LABELS,
} from '../dist/eval/index.js';

const fixture = (name) => JSON.parse(readFileSync(new URL(`./fixtures/eval/${name}`, import.meta.url), 'utf8'));
const TOL = 1e-9;
const close = (t, actual, expected, what) => t.true(Math.abs(actual - expected) <= TOL, `${what}: ${actual} vs ${expected}`);

test('NER: conlleval-exact scores match seqeval on random and adversarial cases', (t) => {
  const { cases } = fixture('ner_cases.json');
  t.true(cases.length >= 150);
  for (const c of cases) {
    const r = conllEval(c.gold, c.pred);
    const e = c.expected;
    for (const k of ['precision', 'recall', 'f1']) close(t, r[k], e[k], `${c.name} ${k}`);
    t.is(r.predicted, e.predicted, `${c.name} predicted`);
    t.is(r.support, e.support, `${c.name} support`);
    t.deepEqual(Object.keys(r.per_type), Object.keys(e.per_type), `${c.name} types`);
    for (const [type, s] of Object.entries(e.per_type)) {
      for (const k of ['precision', 'recall', 'f1']) close(t, r.per_type[type][k], s[k], `${c.name} ${type} ${k}`);
      t.is(r.per_type[type].support, s.support);
    }
  }
});

test('NER: conlleval chunk rules for I- after O and after another type', (t) => {
  // gold: one X chunk opened by I-X after O; pred marks it properly with B-X
  let r = conllEval([['O', 'I-X', 'I-X']], [['O', 'B-X', 'I-X']]);
  t.is(r.f1, 1);
  // I-Y after B-X is a second chunk, so "B-X I-Y" == "B-X B-Y"
  r = conllEval([['B-X', 'I-Y']], [['B-X', 'B-Y']]);
  t.is(r.f1, 1);
  t.is(r.support, 2);
});

test('RE: micro P/R/F1 over CPR classes, per class and confusion match scikit-learn', (t) => {
  const { cases, labels } = fixture('re_cases.json');
  t.deepEqual(labels, [...CHEMPROT_LABELS]);
  for (const c of cases) {
    const r = chemprotEval(c.gold, c.pred);
    for (const k of ['precision', 'recall', 'f1']) close(t, r[k], c.expected[k], `${c.name} ${k}`);
    for (const [cls, s] of Object.entries(c.expected.per_class)) {
      for (const k of ['precision', 'recall', 'f1']) close(t, r.per_class[cls][k], s[k], `${c.name} ${cls} ${k}`);
      t.is(r.per_class[cls].support, s.support);
    }
    t.deepEqual(r.confusion.matrix, c.expected.confusion, `${c.name} confusion`);
  }
});

test('SQuAD: EM/F1 and normalization match the official v1.1 logic', (t) => {
  const { cases, normalize } = fixture('squad_cases.json');
  for (const [s, n] of normalize) t.is(normalizeAnswer(s), n, JSON.stringify(s));
  for (const c of cases) {
    const examples = c.questions.map((q) => ({
      id: q.id,
      question: '',
      context: '',
      answers: q.answers.map((text) => ({ text, answer_start: 0 })),
    }));
    const r = squadEval(examples, c.predictions);
    close(t, r.exact_match, c.expected.exact_match, `${c.name} EM`);
    close(t, r.f1, c.expected.f1, `${c.name} F1`);
  }
});

test('BioASQ: strict/lenient accuracy and MRR match the measure definitions', (t) => {
  const { cases } = fixture('bioasq_cases.json');
  for (const c of cases) {
    const gold = c.gold.map((q) => ({
      id: q.id,
      type: q.type,
      exactAnswer: Array.isArray(q.exact_answer) ? q.exact_answer : [],
      snippets: 0,
    }));
    const r = bioasqFactoidEval(gold, c.answers);
    for (const k of ['strict_acc', 'lenient_acc', 'mrr']) close(t, r[k], c.expected[k], `${c.name} ${k}`);
  }
});

test('BioASQ: only the top 5 count, only the first synonym of an answer counts', (t) => {
  const gold = [{ id: 'q', type: 'factoid', exactAnswer: [['BRCA1', 'breast cancer 1']], snippets: 0 }];
  t.is(bioasqFactoidEval(gold, { q: [['a'], ['b'], ['c'], ['d'], ['e'], ['brca1']] }).lenient_acc, 0);
  t.is(bioasqFactoidEval(gold, { q: [['x', 'BRCA1']] }).lenient_acc, 0);
  const r = bioasqFactoidEval(gold, { q: [['a'], ['Breast Cancer 1']] });
  t.deepEqual([r.strict_acc, r.lenient_acc, r.mrr], [0, 1, 0.5]);
});

test('label bias: minority sum / majority; QA min repeats / max repeats', (t) => {
  t.is(labelBias({ O: 100, 'B-X': 5, 'I-X': 3 }), 0.08);
  t.is(labelBias({}), 0);
  t.deepEqual(answerBias(['a', 'A ', 'a', 'b']), { bias: 1 / 3, minRepeats: 1, maxRepeats: 3, distinct: 2 });
});
