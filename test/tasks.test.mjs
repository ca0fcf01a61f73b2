// One task layer (ts/tasks) behind both prediction paths: BiomegModel's pipelines send the model
// exactly the rows that the fine-tuning features build for the same input (same question cut,
// same default stride, the same padBatch), and the evaluation path decodes the same answers.
import test from 'ava';
import path from 'node:path';
import { BiomegModel, TASKS, nerFeatures, padBatch, qaFeatures, sequenceFeatures } from '../dist/index.js';
import { BACKENDS } from './helpers/backends.mjs';

const FIX = path.resolve('test/fixtures/models');
const CONTEXT =
  'in protein dose with with dose gene is the with is patient dose aspirin dose which mg with with patient risk with expression mg is treated the tumor vitro treated with treated';

/** Load a fixture model whose forward calls are recorded. */
async function recorded(name, backend) {
  const model = await BiomegModel.load(path.join(FIX, name), { backend });
  const forward = model.forward.bind(model);
  const seen = [];
  model.forward = async (b, withHead) => {
    seen.push(b);
    return forward(b, withHead);
  };
  return { model, seen, src: { evalLogits: async (b) => (await forward(b, true)).logits } };
}

/** What the task layer sends for these features: length-sorted rows, one padBatch. */
function assertSameBatch(t, sent, features, head) {
  const want = padBatch(
    [...features].sort((a, b) => a.ids.length - b.ids.length),
    head,
  );
  t.is(sent.length, 1);
  for (const k of ['ids', 'typeIds', 'mask', 'batch', 'seq']) t.deepEqual(sent[0][k], want[k], k);
}

for (const backend of BACKENDS) {
  test(`QA: answer() and the qa task's features cut a 100-token question alike and give the same spans (${backend})`, async (t) => {
    const { model, seen, src } = await recorded('tiny-bert-qa', backend);
    const tok = model.tokenizer;
    const question = 'what was the patient treated with ? '.repeat(15);
    const q = tok.encode(question).ids;
    t.true(q.length >= 100, `${q.length} question tokens`);
    const opts = { maxLength: 48, maxQueryLength: 16, batchSize: 64 };
    const answers = await model.answer(question, CONTEXT, { ...opts, topK: 5 });
    t.true(answers.length > 0);
    for (const a of answers) t.is(CONTEXT.slice(a.start, a.end), a.text);
    // The features path, with no stride given: the default stride of the qa task in both paths.
    const ex = { id: 'q1', question, context: CONTEXT, answers: [{ text: answers[0].text, answer_start: answers[0].start }] };
    const set = qaFeatures(tok, [ex], opts.maxLength, undefined, opts.maxQueryLength);
    t.true(set.features.length > 1, 'the context is windowed');
    for (const f of set.features) t.deepEqual(Array.from(f.ids.subarray(1, 17)), Array.from(q.subarray(0, 16)));
    assertSameBatch(t, seen, set.features, 'qa');
    // The evaluation path decodes the same best span.
    const res = await TASKS.qa.evaluate(src, [ex], set, { labels: [], scheme: 'first', batchSize: opts.batchSize, split: 'dev' });
    t.is(res.metrics.exact_match, 1);
    // Cut at the default 64, the question leaves no room in 64-token windows: both paths say so alike.
    const e1 = await t.throwsAsync(model.answer(question, CONTEXT));
    const e2 = t.throws(() => qaFeatures(tok, [{ question, context: CONTEXT }], 64));
    t.is(e1.code, 'BIOMEG_BAD_INPUT');
    t.is(e1.message, e2.message);
    t.regex(e1.message, /question has 64 tokens/);
  });

  test(`NER: ner() sends the rows nerFeatures builds, with the same default stride (${backend})`, async (t) => {
    const { model, seen } = await recorded('tiny-bert-token', backend);
    const words = CONTEXT.split(' ');
    await model.ner([CONTEXT], { maxLength: 16, batchSize: 64 });
    const set = nerFeatures(model.tokenizer, [{ tokens: words, labels: words.map(() => 'O'), line: 1 }], new Map([['O', 0]]), 'first', 16);
    t.true(set.features.length > 2);
    assertSameBatch(t, seen, set.features, 'token');
  });

  test(`RE: classify() sends the rows sequenceFeatures builds and averages the windows (${backend})`, async (t) => {
    const { model, seen } = await recorded('tiny-electra-seqcls', backend);
    const [r] = await model.classify([CONTEXT], { maxLength: 16, batchSize: 64 });
    const set = sequenceFeatures(
      model.tokenizer,
      [{ index: 'x', sentence: CONTEXT, label: r.label, line: 1 }],
      new Map(model.labels.map((l, i) => [l, i])),
      16,
    );
    t.true(set.features.length > 2);
    assertSameBatch(t, seen, set.features, 'sequence');
    t.true(model.labels.includes(r.label));
  });
}
