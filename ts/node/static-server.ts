// A small static file server (node:http, no dependency) for the browser demo and tests: correct
// MIME types (application/wasm, so browsers compile .wasm while it streams), extra folders mounted
// under URL prefixes, no path escapes out of a served folder, and files streamed with a
// Content-Length so fetch() can report progress.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';

export const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.onnx': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
  '.model': 'application/octet-stream',
};

export interface StaticServerOptions {
  /** The folder served at '/'. */
  root: string;
  /** URL prefix ('/vocab') -> folder. */
  mounts?: Record<string, string>;
  port?: number;
  host?: string;
  /** Where '/' redirects (e.g. '/examples/web/'). */
  index?: string;
  /** Called once per request (the access log). */
  log?: (line: string) => void;
}

/** The file a URL path names, or null when it lies outside every served folder. */
export function resolveRequest(urlPath: string, opts: Pick<StaticServerOptions, 'root' | 'mounts'>): string | null {
  let rel: string;
  try {
    rel = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (rel.includes('\0')) return null;
  let base = opts.root;
  for (const [prefix, dir] of Object.entries(opts.mounts ?? {})) {
    const p = prefix.replace(/\/+$/, '');
    if (rel === p || rel.startsWith(`${p}/`)) {
      base = dir;
      rel = rel.slice(p.length);
      break;
    }
  }
  const file = path.resolve(base, `.${path.posix.normalize(`/${rel}`)}`);
  const top = path.resolve(base);
  return file === top || file.startsWith(top + path.sep) ? file : null;
}

export function startStaticServer(opts: StaticServerOptions): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const done = (status: number, body = '') => {
      opts.log?.(`${req.method} ${url.pathname} ${status}`);
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return done(405, 'method not allowed\n');
    if (url.pathname === '/' && opts.index) {
      opts.log?.(`GET / 302`);
      return res.writeHead(302, { location: opts.index }).end();
    }
    let file = resolveRequest(url.pathname, opts);
    if (!file) return done(403, 'forbidden\n');
    if (existsSync(file) && statSync(file).isDirectory()) {
      if (!url.pathname.endsWith('/')) {
        opts.log?.(`GET ${url.pathname} 301`);
        return res.writeHead(301, { location: `${url.pathname}/${url.search}` }).end();
      }
      file = path.join(file, 'index.html');
    }
    if (!existsSync(file) || !statSync(file).isFile()) return done(404, 'not found\n');
    const size = statSync(file).size;
    opts.log?.(`${req.method} ${url.pathname} 200 ${size}`);
    res.writeHead(200, {
      'content-type': MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': String(size),
      'cache-control': 'no-cache',
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      const a = server.address();
      const port = typeof a === 'object' && a ? a.port : opts.port;
      resolve({ server, url: `http://${opts.host ?? '127.0.0.1'}:${port}` });
    });
  });
}
