// onnxruntime-node for the benches (bench/ort_pairs.mjs, bench/int8_ner.mjs --ort), installed on
// demand into .cache/bench-ort: its linux binary is ~290 MB, too large for a devDependency of
// every checkout.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const PREFIX = path.join(ROOT, '.cache/bench-ort');

/** The onnxruntime-node module, installed first when missing (`npm install --ignore-scripts`).
 *  Throws an Error saying why when it cannot be had (no network, no binary for the platform). */
export function loadOrtNode(version) {
  const req = createRequire(path.join(PREFIX, 'index.js'));
  try {
    return req('onnxruntime-node');
  } catch {
    console.log(`installing onnxruntime-node@${version} into .cache/bench-ort (--ignore-scripts)`);
    try {
      execFileSync(
        'npm',
        ['install', `onnxruntime-node@${version}`, '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', PREFIX],
        { stdio: 'inherit' },
      );
      return req('onnxruntime-node');
    } catch (e) {
      throw new Error(`onnxruntime-node not available: ${e.message.split('\n')[0]}`);
    }
  }
}

/** Why `python` cannot run the ONNX export (`modules` missing), or null when it can. */
export function pythonLacks(python, modules) {
  try {
    execFileSync(python, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' });
    return null;
  } catch {
    return `${python} not found or lacks one of ${modules.join(', ')} (--python or BIOMEG_PYTHON)`;
  }
}

/** A session with the benches' settings: `threads` intra-op threads, sequential, all graph
 *  optimisations. */
export function ortSession(ort, file, threads) {
  return ort.InferenceSession.create(file, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
}
