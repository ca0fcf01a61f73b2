// What the platform layer (ts/node/platform.ts or ts/web/platform.ts) provides to the core: how
// to load each binding, and file access by path. The core (every module reachable from
// ts/core/index.ts) imports no `node:` module; it reaches files through this host only, so the
// same code runs in Node and in a browser (checked by scripts/build-web.mjs).
import type { BindingApi } from '../binding.js';
import { BiomegError } from '../errors.js';

export type BackendName = 'native' | 'wasm';

/** The subset of node:fs the core uses (file paths are a Node notion). */
export interface HostFs {
  existsSync(p: string): boolean;
  readFileSync(p: string): Uint8Array;
  readFileSync(p: string, encoding: 'utf8'): string;
  statSync(p: string): { isDirectory(): boolean; size: number };
  openSync(p: string, flags: 'r'): number;
  readSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number | null): number;
  closeSync(fd: number): void;
}

/** The subset of node:path the core uses. */
export interface HostPath {
  join(...parts: string[]): string;
  dirname(p: string): string;
  basename(p: string): string;
  resolve(...parts: string[]): string;
}

/** A Megatron-LM / NeMo checkpoint read into model parts (Node only: zip/tar/pickle from files). */
export interface HostMegatron {
  find(dir: string): unknown;
  parts(dir: string): { config: string; weights: Uint8Array; vocab?: string; vocabName?: string; lowercase?: boolean };
}

export interface Host {
  readonly name: 'node' | 'web';
  backendAvailable(name: BackendName): boolean;
  /** Load a binding; `generation` > 0 asks for a fresh wasm instance after a trap (when the
   *  platform can make one). */
  loadBinding(name: BackendName, generation: number): Promise<BindingApi>;
  /** Absent in a browser: paths then fail with BIOMEG_UNSUPPORTED. */
  readonly fs?: HostFs;
  readonly path?: HostPath;
  readonly megatron?: HostMegatron;
}

let current: Host | null = null;

/** Called once by the platform entry (ts/node/platform.ts, ts/web/platform.ts). */
export function setHost(h: Host): void {
  current = h;
}

export function host(): Host {
  if (!current) {
    throw new BiomegError(
      'BIOMEG_NO_BACKEND',
      "no platform layer loaded: import 'biomeg' (Node) or 'biomeg/web' (browser) instead of an internal module",
    );
  }
  return current;
}

/** The host's file system, or a BIOMEG_UNSUPPORTED error naming what was asked for. */
export function hostFs(what: string): HostFs {
  const fs = host().fs;
  if (!fs) {
    throw new BiomegError(
      'BIOMEG_UNSUPPORTED',
      `${what}: reading files by path needs Node; in a browser load from a URL (BiomegModel.fromUrl) or from bytes`,
    );
  }
  return fs;
}
