// One error type for the whole library: a stable `code` and a message naming the file, line or
// tensor at fault. Binding errors arrive as "[CODE] message" (both the napi and the wasm
// binding) and are turned into BiomegError here; a wasm trap (Rust panic) becomes BIOMEG_PANIC.

import { resetWasm } from './backend.js';

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

/** Convert whatever a binding threw into a BiomegError (other errors pass through). */
export function fromBindingError(e: unknown, panicMessage?: () => string | null | undefined): unknown {
  if (e instanceof BiomegError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const m = CODED.exec(msg);
  if (m) return new BiomegError(m[1], m[2]);
  if (typeof WebAssembly !== 'undefined' && e instanceof WebAssembly.RuntimeError) {
    let detail: string = msg;
    try {
      detail = panicMessage?.() ?? msg;
    } catch {
      /* the trapped instance may not answer */
    }
    resetWasm();
    return new BiomegError('BIOMEG_PANIC', `${detail} (the wasm instance was reset; reload the model)`);
  }
  return e;
}

/** Run a synchronous binding call, normalizing its errors. */
export function callBinding<T>(fn: () => T, panicMessage?: () => string | null | undefined): T {
  try {
    return fn();
  } catch (e) {
    throw fromBindingError(e, panicMessage);
  }
}

/** Await a binding call that may return a value (wasm) or a Promise (native async work). */
export async function callBindingAsync<T>(fn: () => T | Promise<T>, panicMessage?: () => string | null | undefined): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw fromBindingError(e, panicMessage);
  }
}
