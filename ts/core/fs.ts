// node:fs-shaped functions that forward to the platform's file system (ts/core/host.ts), so that
// core modules read files in Node and fail with BIOMEG_UNSUPPORTED (naming the path) in a browser.
import { hostFs } from './host.js';

export function existsSync(p: string): boolean {
  return hostFs(p).existsSync(p);
}
export function readFileSync(p: string): Uint8Array;
export function readFileSync(p: string, encoding: 'utf8'): string;
export function readFileSync(p: string, encoding?: 'utf8'): string | Uint8Array {
  return encoding ? hostFs(p).readFileSync(p, encoding) : hostFs(p).readFileSync(p);
}
export function statSync(p: string): { isDirectory(): boolean; size: number } {
  return hostFs(p).statSync(p);
}
export function openSync(p: string, flags: 'r'): number {
  return hostFs(p).openSync(p, flags);
}
export function readSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number | null): number {
  return hostFs(`file descriptor ${fd}`).readSync(fd, buf, offset, length, position);
}
export function closeSync(fd: number): void {
  hostFs(`file descriptor ${fd}`).closeSync(fd);
}
