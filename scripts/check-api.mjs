// Check both bindings against the one binding surface, BindingApi (ts/binding.ts), with tsc:
// the generated declaration files bindings/node/index.d.ts (napi-rs) and
// bindings/wasm/pkg/biomeg_wasm.d.ts (wasm-bindgen) must each implement it (names AND parameter /
// return types) and export nothing it does not describe. The same check runs inside
// `node scripts/build-ts.mjs` (tsc -p tsconfig.json compiles ts/binding-check.ts); this script runs
// only that file, in a few seconds, right after the bindings are built, and reports what it checked.
// Exits 1 with tsc's diagnostics when a binding does not fit.
import { existsSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const files = { native: 'bindings/node/index.d.ts', wasm: 'bindings/wasm/pkg/biomeg_wasm.d.ts' };
for (const [name, f] of Object.entries(files)) {
  if (!existsSync(path.join(root, f))) {
    console.error(
      `check-api: ${f} is missing: build the ${name} binding first (scripts/build-${name === 'native' ? 'native' : 'wasm'}.sh)`,
    );
    process.exit(1);
  }
}

const cfgFile = path.join(root, 'tsconfig.json');
const cfg = ts.parseJsonConfigFileContent(ts.readConfigFile(cfgFile, ts.sys.readFile).config, ts.sys, root);
const program = ts.createProgram([path.join(root, 'ts/binding-check.ts')], { ...cfg.options, noEmit: true });
const diags = ts.getPreEmitDiagnostics(program);
if (diags.length) {
  const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
  console.error(ts.formatDiagnosticsWithColorAndContext(diags, host));
  console.error(`check-api: the bindings do not implement BindingApi (ts/binding.ts); ${diags.length} error(s) above`);
  process.exit(1);
}

// Report: the members of BindingApi (and of the handle interfaces it names) that were checked.
const checker = program.getTypeChecker();
const src = program.getSourceFile(path.join(root, 'ts/binding.ts'));
let members = 0;
const top = [];
for (const stmt of src.statements) {
  if (!ts.isInterfaceDeclaration(stmt)) continue;
  const n = checker.getTypeAtLocation(stmt).getProperties().length;
  if (/(Handle|Static)$/.test(stmt.name.text) || stmt.name.text === 'BindingApi') members += n;
  if (stmt.name.text === 'BindingApi')
    top.push(
      ...checker
        .getTypeAtLocation(stmt)
        .getProperties()
        .map((p) => p.name),
    );
}
console.log(
  `binding APIs conform: ${files.native} and ${files.wasm} both implement BindingApi ` +
    `(${top.length} exports: ${top.join(', ')}; ${members} members with their types)`,
);
