// node:path-shaped functions for core modules: the host's path module in Node, POSIX-style string
// operations in a browser (where paths only appear in names and error messages).
import { host } from './host.js';

function p() {
  return host().path ?? posix;
}

const posix = {
  join: (...parts: string[]): string =>
    parts
      .filter((s) => s.length > 0)
      .join('/')
      .replace(/\/+/g, '/'),
  dirname: (s: string): string => {
    const i = s.replace(/\/+$/, '').lastIndexOf('/');
    return i < 0 ? '.' : i === 0 ? '/' : s.slice(0, i);
  },
  basename: (s: string): string => s.replace(/\/+$/, '').split('/').pop() ?? '',
  resolve: (...parts: string[]): string => posix.join(...parts),
};

export default {
  join: (...parts: string[]): string => p().join(...parts),
  dirname: (s: string): string => p().dirname(s),
  basename: (s: string): string => p().basename(s),
  resolve: (...parts: string[]): string => p().resolve(...parts),
};
