// onnxruntime-node / -web for the benches (bench/ort_pairs.mjs, bench/int8_ner.mjs --ort), installed on
// demand into .cache/bench-ort: its linux binary is ~290 MB, too large for a devDependency of
// every checkout.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const PREFIX = path.join(ROOT, '.cache/bench-ort');

/** An onnxruntime package (onnxruntime-node, onnxruntime-web) from .cache/bench-ort, installed
 *  first when missing (`npm install --ignore-scripts`). Throws an Error saying why when it cannot
 *  be had (no network, no binary for the platform). */
export function loadOrtPackage(pkg, version) {
  const req = createRequire(path.join(PREFIX, 'index.js'));
  try {
    return req(pkg);
  } catch {
    console.log(`installing ${pkg}@${version} into .cache/bench-ort (--ignore-scripts)`);
    try {
      execFileSync(
        'npm',
        ['install', `${pkg}@${version}`, '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', PREFIX],
        {
          stdio: 'inherit',
        },
      );
      return req(pkg);
    } catch (e) {
      throw new Error(`${pkg} not available: ${e.message.split('\n')[0]}`);
    }
  }
}

/** onnxruntime-node (`loadOrtPackage`). */
export const loadOrtNode = (version) => loadOrtPackage('onnxruntime-node', version);

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
