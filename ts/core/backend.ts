// Backend selection over the platform's bindings (ts/core/host.ts): the native addon (napi-rs,
// Node only) or the WebAssembly package, behind one typed surface (BindingApi, ts/binding.ts).
// This module is the only place where binding errors are normalised: every call into a binding
// goes through Backend.call / callAsync, which turn "[CODE] message" errors into BiomegError and
// a wasm trap (Rust panic) into BIOMEG_PANIC with the panic's message.
import type { BindingApi } from '../binding.js';
import { BiomegError, fromBindingError } from '../errors.js';
import { host, type BackendName } from './host.js';

export type { BackendName };
export type BackendChoice = BackendName | 'auto';
export type { BindingApi } from '../binding.js';

/** A loaded binding: its typed API plus the error normalisation every call goes through. */
export interface Backend {
  readonly name: BackendName;
  /** The binding module. Call it through `call` / `callAsync`, never directly. */
  readonly api: BindingApi;
  /** @deprecated the former name of `api`. */
  readonly raw: BindingApi;
  /** Run a synchronous binding call; errors become BiomegError (a wasm panic: BIOMEG_PANIC,
   *  with the panic's message, and the wasm instance is reset). */
  call<T>(fn: (api: BindingApi) => T): T;
  /** The same for calls that return a Promise on native (libuv pool) and a value on wasm. */
  callAsync<T>(fn: (api: BindingApi) => T | Promise<T>): Promise<T>;
}

class BindingBackend implements Backend {
  /** Set when this wasm instance trapped: its memory cannot be trusted any more. */
  private trapped: string | null = null;

  constructor(
    readonly name: BackendName,
    readonly api: BindingApi,
  ) {}

  get raw(): BindingApi {
    return this.api;
  }

  call<T>(fn: (api: BindingApi) => T): T {
    this.checkUsable();
    try {
      return fn(this.api);
    } catch (e) {
      throw this.normalize(e);
    }
  }

  async callAsync<T>(fn: (api: BindingApi) => T | Promise<T>): Promise<T> {
    this.checkUsable();
    try {
      return await fn(this.api);
    } catch (e) {
      throw this.normalize(e);
    }
  }

  private checkUsable(): void {
    if (this.trapped !== null) {
      throw new BiomegError(
        'BIOMEG_PANIC',
        `this object belongs to a wasm instance that was reset after a Rust panic (${this.trapped}); load the model or tokenizer again`,
      );
    }
  }

  private normalize(e: unknown): unknown {
    // Panics abort in wasm: the call traps (WebAssembly.RuntimeError: unreachable) after the
    // panic hook stored the message. Native panics are caught in Rust and arrive coded.
    if (this.name === 'wasm' && typeof WebAssembly !== 'undefined' && e instanceof WebAssembly.RuntimeError) {
      let detail = e.message;
      try {
        detail = this.api.takePanicMessage() ?? detail;
      } catch {
        /* the trapped instance may not answer */
      }
      this.trapped = detail;
      resetWasm();
      return new BiomegError('BIOMEG_PANIC', `${detail} (the wasm instance was reset; load the model again)`);
    }
    return fromBindingError(e);
  }
}

let nativeCache: Backend | null = null;
let wasmCache: Promise<Backend> | null = null;
/** Bumped by resetWasm: the next load asks the host for a fresh wasm instance. */
let wasmGeneration = 0;

export function nativeAvailable(): boolean {
  return host().backendAvailable('native');
}

export function wasmAvailable(): boolean {
  return host().backendAvailable('wasm');
}

async function loadNative(): Promise<Backend> {
  if (!nativeCache) nativeCache = new BindingBackend('native', await host().loadBinding('native', 0));
  return nativeCache;
}

async function loadWasm(): Promise<Backend> {
  if (!wasmCache) {
    wasmCache = host()
      .loadBinding('wasm', wasmGeneration)
      .then((api) => new BindingBackend('wasm', api));
    wasmCache.catch(() => (wasmCache = null));
  }
  return wasmCache;
}

let defaultChoice: BackendChoice = 'auto';

/** The choice used when a call names no backend ('biomeg/wasm' sets 'wasm'). */
export function setDefaultBackend(choice: BackendChoice): void {
  defaultChoice = choice;
}

/** Forget the wasm instance (after a trap its memory cannot be trusted); the next load makes a new one. */
export function resetWasm(): void {
  wasmCache = null;
  wasmGeneration++;
}

/** Load a backend. 'auto' prefers native and falls back to wasm. */
export async function loadBackend(requested?: BackendChoice): Promise<Backend> {
  const choice = requested ?? defaultChoice;
  if (choice === 'native') return loadNative();
  if (choice === 'wasm') return loadWasm();
  if (nativeAvailable()) {
    try {
      return await loadNative();
    } catch {
      /* fall through to wasm */
    }
  }
  return loadWasm();
}
