// Every backend-facing test runs once per backend.
export const BACKENDS = ['native', 'wasm'];

/** Skip with a visible reason, or fail under CI=true (where everything must be present). */
export function needOrSkip(t, ok, why) {
  if (ok) return true;
  if (process.env.CI === 'true') {
    t.fail(`required under CI: ${why}`);
  } else {
    t.log(`SKIPPED: ${why}`);
    t.pass();
  }
  return false;
}
