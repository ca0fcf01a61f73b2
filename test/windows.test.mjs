import test from 'ava';
import { planWindows, bestWindowFor } from '../dist/index.js';

test('windows cover every token with the requested overlap', (t) => {
  t.deepEqual(planWindows(0, 10, 2), [{ start: 0, end: 0 }]);
  t.deepEqual(planWindows(10, 10, 2), [{ start: 0, end: 10 }]);
  t.deepEqual(planWindows(20, 10, 4), [
    { start: 0, end: 10 },
    { start: 6, end: 16 },
    { start: 12, end: 20 },
  ]);
  for (const [n, size, ov] of [
    [1000, 126, 31],
    [7, 3, 5],
    [50, 1, 0],
  ]) {
    const w = planWindows(n, size, ov);
    for (let tok = 0; tok < n; tok++) {
      const i = bestWindowFor(w, tok);
      t.true(w[i].start <= tok && tok < w[i].end);
    }
    t.is(w.at(-1).end, n);
  }
});

test('each token is read from the window where it is most central', (t) => {
  const w = planWindows(20, 10, 4); // [0,10) [6,16) [12,20)
  t.is(bestWindowFor(w, 2), 0);
  t.is(bestWindowFor(w, 8), 1); // 1 token from window 0's end, 2 from window 1's start
  t.is(bestWindowFor(w, 15), 2);
});
