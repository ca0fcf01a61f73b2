// Headless Chromium for the browser tests: Debian's `chromium` (scripts/setup.sh installs it)
// driven by playwright-core, no browser download. `browserOrSkip` skips with a visible reason
// (fails under CI=true) when the browser, playwright-core or the browser bundle is missing.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { needOrSkip } from './backends.mjs';

export const CHROMIUM = process.env.BIOMEG_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
export const SHOTS = path.resolve('test-output/browser');

let playwright;
try {
  playwright = await import('playwright-core');
} catch {
  playwright = null;
}

/** What is missing for the browser tests, or null. */
export function browserMissing() {
  if (!CHROMIUM) return 'chromium not found (Debian package `chromium`; scripts/setup.sh installs it, or set BIOMEG_CHROMIUM)';
  if (!playwright) return 'playwright-core not installed (npm install)';
  if (!existsSync('dist/web/biomeg.js') || !existsSync('dist/web/biomeg_wasm_bg.wasm'))
    return 'dist/web not built (node scripts/build-ts.mjs after bash scripts/build-wasm.sh)';
  return null;
}

export function browserOrSkip(t) {
  const why = browserMissing();
  return needOrSkip(t, why === null, why ?? '');
}

export async function launchChromium() {
  mkdirSync(SHOTS, { recursive: true });
  // --no-sandbox: the tests may run as root (containers), where Chromium's sandbox refuses to start.
  return playwright.chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
}

/** A page that records console errors and uncaught exceptions (a test can assert there were none). */
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') page.problems.push(`console: ${m.text()}`);
  });
  return page;
}
