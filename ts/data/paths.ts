// Where datasets live: --data DIR, else $BIOMEG_DATA, else a per-user cache directory.
import os from 'node:os';
import path from 'node:path';

export function userCacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return path.join(env.LOCALAPPDATA || path.join(os.homedir(), 'AppData', 'Local'), 'biomeg', 'Cache');
  if (platform === 'darwin') return path.join(os.homedir(), 'Library', 'Caches', 'biomeg');
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'biomeg');
}

export interface DataDir {
  dir: string;
  source: 'option' | 'env' | 'cache';
}

export function resolveDataDir(option?: string, env: NodeJS.ProcessEnv = process.env): DataDir {
  if (option) return { dir: path.resolve(option), source: 'option' };
  if (env.BIOMEG_DATA) return { dir: path.resolve(env.BIOMEG_DATA), source: 'env' };
  return { dir: path.join(userCacheDir(env), 'data'), source: 'cache' };
}
