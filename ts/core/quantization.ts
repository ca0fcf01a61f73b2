// The quantization marker of config.json, shared by the core (load-time `quantize` option) and
// `biomeg quantize` (ts/quantize.ts). No node: import: the core and the browser bundle use it.
import { BiomegError } from '../errors.js';

/** config.json key of a quantized model (the core reads the same key). */
export const QUANTIZATION_KEY = 'biomeg_quantization';
export type Quantization = 'int8';

/** config.json text asking the core for `q` (unchanged when `q` is undefined). */
export function withQuantization(configJson: string, q: Quantization | undefined, file = 'config.json'): string {
  if (q === undefined) return configJson;
  if (q !== 'int8') throw new BiomegError('BIOMEG_BAD_ARGUMENT', `quantize: '${q}' is not supported (use 'int8')`);
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(configJson);
  } catch (e) {
    throw new BiomegError('BIOMEG_BAD_CONFIG', `not JSON (${(e as Error).message})`, { file });
  }
  return JSON.stringify({ ...cfg, [QUANTIZATION_KEY]: q });
}
