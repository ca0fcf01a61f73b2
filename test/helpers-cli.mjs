// Not a test file (no .test. in its name). Run a biomeg command in a child process. Uses dist/cli.js when it is built; otherwise a
// stand-in with the same error reporting (message + [code], exit 1) calls the command module.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = `${root}dist/cli.js`;
const standIn = `
const [cmd, ...rest] = process.argv.slice(1);
import(${JSON.stringify(root)} + 'dist/commands/' + cmd + '.js').then((m) => m.main(rest)).then(
  (code) => process.exit(code),
  (err) => { console.error('biomeg: ' + err.message + (err.code ? ' [' + err.code + ']' : '')); process.exit(1); });
`;

export function runCli(args, opts = {}) {
  const argv = existsSync(cli) ? [cli, ...args] : ['--input-type=module', '-e', standIn, ...args];
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', cwd: root, env: { ...process.env, ...opts.env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function runCliJson(t, args, opts) {
  const r = runCli(args, opts);
  t.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}
