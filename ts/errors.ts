// One error type for the whole library: a stable `code` and a message naming the file, line or
// tensor at fault. Binding errors arrive as "[CODE] message" (both the napi and the wasm
// binding) and are turned into BiomegError here. Calls into a binding go through
// Backend.call / callAsync (ts/backend.ts), which use this and also turn a wasm trap (a Rust
// panic) into BIOMEG_PANIC. The codes are listed in docs/errors.md.

export class BiomegError extends Error {
  readonly code: string;
  readonly file?: string;
  readonly line?: number;
  constructor(code: string, message: string, where?: { file?: string; line?: number }) {
    const prefix = where?.file ? `${where.file}${where.line ? `:${where.line}` : ''}: ` : '';
    super(prefix + message);
    this.name = 'BiomegError';
    this.code = code;
    this.file = where?.file;
    this.line = where?.line;
  }
}

const CODED = /^\[([A-Z0-9_]+)\] ([\s\S]*)$/;

/** Convert what a binding threw into a BiomegError when it carries a "[CODE] " prefix (other
 *  errors pass through unchanged). */
export function fromBindingError(e: unknown): unknown {
  if (e instanceof BiomegError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const m = CODED.exec(msg);
  if (m) return new BiomegError(m[1], m[2]);
  return e;
}
