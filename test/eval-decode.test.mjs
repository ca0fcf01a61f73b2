// Decoding helpers: sub-token labels <-> word labels, QA n-best aggregation.
import test from 'ava';
import { wordLabelsToSubtokens, subtokensToWordLabels, aggregateNbest, toBioasqAnswerJson } from '../dist/eval/index.js';

// [CLS] und ##ff ##ere cells [SEP]  -> words: undifferentiated(0) cells(1)
const wordIds = [null, 0, 0, 0, 1, null];

test('scheme (a): every sub-token carries the word label', (t) => {
  t.deepEqual(wordLabelsToSubtokens(['B-X', 'O'], wordIds, 'all'), [null, 'B-X', 'B-X', 'B-X', 'O', null]);
});

test('scheme (b): only the first sub-token carries it', (t) => {
  t.deepEqual(wordLabelsToSubtokens(['B-X', 'O'], wordIds, 'first', 'X'), ['X', 'B-X', 'X', 'X', 'O', 'X']);
});

test('sub-token predictions back to word labels', (t) => {
  const sub = [null, 'B-X', 'I-X', 'O', 'O', null];
  t.deepEqual(subtokensToWordLabels(sub, wordIds, 2, 'first'), ['B-X', 'O']);
  t.deepEqual(subtokensToWordLabels(sub, wordIds, 2, 'all'), ['B-X', 'O']);
  t.deepEqual(subtokensToWordLabels([null, 'O', 'B-X', 'B-X', 'O', null], wordIds, 2, 'all', { combine: 'majority' }), ['B-X', 'O']);
  // a word cut off by the maximum length falls back to O
  t.deepEqual(subtokensToWordLabels([null, 'B-X', null], [null, 0, null], 2, 'first'), ['B-X', 'O']);
  t.throws(() => subtokensToWordLabels(['O'], [0, 0], 1, 'first'), { instanceOf: RangeError });
});

test('n-best aggregation per question across snippets and windows', (t) => {
  const cands = [
    { id: 'q1_001', text: 'BRCA1', score: 0.5 },
    { id: 'q1_002', text: ' brca1 ', score: 0.7 }, // same answer, other snippet: merged, max score
    { id: 'q1_002', text: 'p53', score: 0.6 },
    { id: 'q1_003', text: 'TP53 gene', score: 0.1 },
    { id: 'q1_003', text: '', score: 0.9 }, // empty: dropped
    { id: 'q2_001', text: 'IL-6', score: 1 },
  ];
  const m = aggregateNbest(cands, { topK: 2 });
  t.deepEqual(m.get('q1'), [
    { text: 'brca1', score: 0.7, count: 2 },
    { text: 'p53', score: 0.6, count: 1 },
  ]);
  const summed = aggregateNbest(cands, { merge: 'sum' }).get('q1');
  t.is(summed[0].score, 1.2);
  t.deepEqual(toBioasqAnswerJson(m).questions[1], { id: 'q2', exact_answer: [['IL-6']] });
});
