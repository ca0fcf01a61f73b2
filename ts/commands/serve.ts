// `biomeg serve`: serve the browser demo (examples/web) and the browser bundle (dist/web) from the
// package folder, plus model and vocabulary folders mounted under URL prefixes.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../backend.js';
import { BiomegError } from '../errors.js';
import { startStaticServer } from '../node/static-server.js';

const HELP = `Usage: biomeg serve [--port 8080] [--host 127.0.0.1] [--root DIR] [--mount /PREFIX=DIR ...] [--quiet]

Serves DIR (default: the biomeg package folder, which holds examples/web and dist/web) over
HTTP with the right MIME types (.wasm as application/wasm). --mount /models=~/models serves
another folder under a URL prefix, e.g. for the demo's model URL. Open the printed URL.`;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      root: { type: 'string' },
      mount: { type: 'string', multiple: true },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new BiomegError('BIOMEG_USAGE', `--port must be 0..65535, got '${values.port}'`);
  const mounts: Record<string, string> = {};
  for (const m of values.mount ?? []) {
    const i = m.indexOf('=');
    if (i < 1 || !m.startsWith('/')) throw new BiomegError('BIOMEG_USAGE', `--mount takes /PREFIX=DIR, got '${m}'`);
    mounts[m.slice(0, i)] = path.resolve(m.slice(i + 1));
  }
  const root = path.resolve(values.root ?? ROOT);
  const { url } = await startStaticServer({
    root,
    mounts,
    port,
    host: values.host,
    index: '/examples/web/',
    log: values.quiet ? undefined : (l) => console.log(l),
  });
  console.log(`serving ${root} at ${url}/ (demo: ${url}/examples/web/)`);
  for (const [p, d] of Object.entries(mounts)) console.log(`  ${url}${p}/ -> ${d}`);
  await new Promise(() => undefined); // until interrupted
  return 0;
}
