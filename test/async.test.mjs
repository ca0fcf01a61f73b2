// Native forward passes run on the libuv pool: the event loop keeps turning meanwhile.
import test from 'ava';
import { BiomegModel } from '../dist/index.js';

test('a native forward pass does not block the event loop', async (t) => {
  const model = await BiomegModel.random('bert-base', { backend: 'native', seed: 3 });
  const ids = new Uint32Array(4 * 128).fill(1000);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const start = performance.now();
  const out = await model.forward({ ids, batch: 4, seq: 128 });
  const ms = performance.now() - start;
  clearInterval(timer);
  t.is(out.hidden.length, 4 * 128 * 768);
  t.log(`forward ${ms.toFixed(0)} ms, ${ticks} timer ticks meanwhile`);
  t.true(ticks >= Math.min(3, Math.floor(ms / 20)), `only ${ticks} ticks in ${ms} ms`);
});
