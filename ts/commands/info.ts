// `biomeg info [--json]`: backends available, SIMD level, threads, cuBLAS found or not.
import { parseArgs } from 'node:util';
import { runtimeInfo } from '../runtime.js';
import type { BackendChoice } from '../backend.js';

const HELP = `Usage: biomeg info [--json] [--backend native|wasm|auto]

Prints the backends this install can use, the SIMD instruction set the kernels dispatch to,
the thread count, and whether cuBLAS (a CUDA GPU and libcublas) was found at run time.`;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean' }, backend: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const info = await runtimeInfo(values.backend as BackendChoice | undefined);
  if (values.json) {
    console.log(JSON.stringify(info, null, 2));
    return 0;
  }
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  console.log(
    [
      `backend in use   ${info.backend}`,
      `native addon     ${yes(info.backends.native)}`,
      `wasm package     ${yes(info.backends.wasm)}`,
      `SIMD             ${info.simd} (available: ${info.simdAvailable.join(', ')})`,
      `threads          ${info.threads}`,
      `cuBLAS           ${info.backends.cuda ? `yes (${info.cudaDetail})` : `no: ${info.cudaDetail}; every GEMM runs on the CPU`}`,
    ].join('\n'),
  );
  return 0;
}
