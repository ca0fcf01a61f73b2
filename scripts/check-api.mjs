// Diff the two generated binding declaration files (napi-rs: bindings/node/index.d.ts,
// wasm-bindgen: bindings/wasm/pkg/biomeg_wasm.d.ts): every exported class, method and function,
// with its parameter names, must be the same on both. Exits 1 and prints the differences if not.
import { readFileSync } from 'node:fs';

const camel = (s) => s.replace(/^_+/, '').replace(/_([a-z])/g, (_, c) => c.toUpperCase());

/** "Class.method(a,b)" / "static Class.f(a)" / "function f(a,b)" lines of a .d.ts. */
function surface(file, ignore = []) {
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const out = new Set();
  const params = (p) => p.split(',').map((x) => camel(x.trim().split(/[?:]/)[0])).filter(Boolean).join(',');
  for (const m of text.matchAll(/export (?:declare )?function (\w+)\(([^)]*)\)/g)) if (!ignore.includes(m[1])) out.add(`function ${m[1]}(${params(m[2])})`);
  for (const c of text.matchAll(/export (?:declare )?class (\w+) \{([\s\S]*?)\n\}/g)) {
    for (const line of c[2].split('\n')) {
      const m = /^\s*(static\s+)?(\w+)\(([^)]*)\)/.exec(line);
      if (!m || m[2] === 'free') continue; // wasm-bindgen's memory release
      out.add(`${m[1] ? 'static ' : ''}${c[1]}.${m[2]}(${params(m[3])})`);
    }
  }
  return out;
}

const nativeFile = 'bindings/node/index.d.ts';
const wasmFile = 'bindings/wasm/pkg/biomeg_wasm.d.ts';
const a = surface(nativeFile);
const b = surface(wasmFile, ['install_panic_hook', 'initSync']); // wasm start/instantiation, not API
const onlyA = [...a].filter((x) => !b.has(x));
const onlyB = [...b].filter((x) => !a.has(x));
if (onlyA.length || onlyB.length) {
  console.error(`binding APIs differ:\n  only in ${nativeFile}:\n    ${onlyA.join('\n    ') || '-'}\n  only in ${wasmFile}:\n    ${onlyB.join('\n    ') || '-'}`);
  process.exit(1);
}
console.log(`binding APIs identical: ${a.size} exported classes' methods and functions`);
