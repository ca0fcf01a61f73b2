// A Rust panic on either backend reaches JS as a BiomegError with code BIOMEG_PANIC and the
// panic's message, and the process goes on: native catches the unwind in Rust; wasm traps, the
// backend layer reads the message kept by the panic hook and resets the instance, and the next
// load instantiates a fresh one. Uses the bindings' test-only `debugPanic` entry point.
import test from 'ava';
import { loadBackend, loadTokenizer, BiomegModel, BiomegError } from '../dist/index.js';
import { BACKENDS } from './helpers/backends.mjs';

const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'aspirin', 'induced', 'asthma', '##s'].join('\n') + '\n';

async function realCalls(t, backend) {
  const tok = await loadTokenizer(VOCAB, { backend, lowercase: true });
  t.deepEqual(tok.encode('Aspirin induced asthmas').tokens, ['aspirin', 'induced', 'asthma', '##s']);
  const model = await BiomegModel.random('tiny', { backend, seed: 1 });
  const ids = Uint32Array.from([2, 5, 6, 7, 8, 3]);
  const out = await model.forward({ ids, batch: 1, seq: ids.length });
  t.is(out.hidden.length, ids.length * model.hiddenSize);
  t.true(out.hidden.every(Number.isFinite));
  return { tok, model };
}

for (const backend of BACKENDS) {
  test.serial(`a Rust panic becomes BIOMEG_PANIC and the next call works (${backend})`, async (t) => {
    const before = await realCalls(t, backend);
    const be = await loadBackend(backend);
    const e = t.throws(() => be.call((api) => api.debugPanic('test panic 42: boom')));
    t.true(e instanceof BiomegError, String(e));
    t.is(e.code, 'BIOMEG_PANIC');
    t.regex(e.message, /test panic 42: boom/);
    t.regex(e.message, /Rust panic/);

    // The same process goes on: new objects work.
    await realCalls(t, backend);

    if (backend === 'wasm') {
      // The trapped instance is gone: a fresh one was made, and objects of the old one refuse
      // clearly instead of running on memory a trap left behind.
      t.not(await loadBackend('wasm'), be);
      const stale = t.throws(() => before.tok.encode('aspirin'));
      t.is(stale.code, 'BIOMEG_PANIC');
      t.regex(stale.message, /reset after a Rust panic/);
      await t.throwsAsync(before.model.forward({ ids: Uint32Array.from([2, 3]), batch: 1, seq: 2 }), { code: 'BIOMEG_PANIC' });
    } else {
      // Native state is untouched by a caught panic: old objects keep working.
      t.is(await loadBackend('native'), be);
      t.deepEqual(before.tok.encode('aspirin').tokens, ['aspirin']);
      const out = await before.model.forward({ ids: Uint32Array.from([2, 3]), batch: 1, seq: 2 });
      t.is(out.hidden.length, 2 * before.model.hiddenSize);
    }

    // A second panic is reported the same way (the wasm hook is installed on the new instance).
    const again = await loadBackend(backend);
    const e2 = t.throws(() => again.call((api) => api.debugPanic('second')));
    t.is(e2.code, 'BIOMEG_PANIC');
    t.regex(e2.message, /second/);
  });
}

test('an ordinary binding error is coded, not a panic', async (t) => {
  for (const backend of BACKENDS) {
    const be = await loadBackend(backend);
    const e = t.throws(() => be.call((api) => api.presetConfig('no-such-preset')));
    t.true(e instanceof BiomegError);
    t.not(e.code, 'BIOMEG_PANIC');
    t.regex(e.code, /^BIOMEG_[A-Z_]+$/);
  }
});
