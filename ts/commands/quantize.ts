// `biomeg quantize`: an f32 model folder -> an int8 one (docs/quantization.md).
import { parseArgs } from 'node:util';
import { BiomegError } from '../errors.js';
import { quantizeModel } from '../quantize.js';

const HELP = `Usage: biomeg quantize --in DIR --out DIR [--json]

Writes DIR (--out) with the encoder layers' Linear weights (QKV, attention output, MLP) as
per-output-channel symmetric int8: <name>.weight I8 [out, in] + <name>.weight_scale F32 [out];
embeddings, LayerNorm and the task head stay F32; config.json gains
"biomeg_quantization": "int8"; tokenizer files are copied. BiomegModel.load runs the result with
int8 GEMMs on both backends (activations quantized per row at run time). The same quantization
happens at load time with BiomegModel.load(dir, { quantize: 'int8' }).

Options:
  --in DIR     model folder (config.json + model.safetensors)
  --out DIR    output folder (created; must differ from --in)
  --json       print the result as JSON
  -h, --help   this text`;

export async function main(argv: string[]): Promise<number> {
  let values: { in?: string; out?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { in: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (e) {
    throw new BiomegError('BIOMEG_USAGE', `${(e as Error).message}\n\n${HELP}`);
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.in || !values.out) throw new BiomegError('BIOMEG_USAGE', `--in and --out are required\n\n${HELP}`);
  const r = quantizeModel(values.in, values.out);
  if (values.json) console.log(JSON.stringify(r, null, 2));
  else
    console.log(
      `quantized ${r.quantized} weights to int8 (${r.kept} tensors kept f32): ${(r.bytesIn / 1e6).toFixed(1)} MB -> ${(r.bytesOut / 1e6).toFixed(1)} MB\nwrote ${r.files.join(', ')}`,
    );
  return 0;
}
