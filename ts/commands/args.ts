// Option parsing shared by the commands.
import { BiomegError } from '../errors.js';

/** A reader of numeric options from parseArgs values: undefined when absent, a coded usage error
 *  when not a finite number. */
export function numberOptions<V extends Record<string, unknown>>(values: V): (key: keyof V & string) => number | undefined {
  return (key) => {
    const v = values[key];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new BiomegError('BIOMEG_USAGE', `--${key} must be a number, got '${v}'`);
    return n;
  };
}
