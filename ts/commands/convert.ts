// `biomeg convert`: Megatron-LM / NeMo checkpoints to a Hugging Face folder and back.
import { parseArgs } from 'node:util';
import { convertMegatron, exportMegatron } from '../convert/index.js';
import { BiomegError } from '../errors.js';

const HELP = `Usage:
  biomeg convert megatron --in CHECKPOINT --out DIR [--vocab FILE] [--heads N] [--checkpoint-version V] [--json]
      Megatron-LM model_optim_rng.pt, a NeMo .nemo, or a Megatron save folder (release/ or
      iter_N/) -> a Hugging Face megatron-bert folder (config.json, model.safetensors,
      vocab.txt, tokenizer_config.json) that BiomegModel.load and transformers read.
  biomeg convert --to megatron --in HF_DIR --out FILE.pt|FILE.nemo|DIR [--json]
      A megatron-bert folder -> a checkpoint Megatron-LM / NeMo continue training from
      (checkpoint_version 3.0). DIR gets Megatron's layout (latest_checkpointed_iteration.txt,
      release/mp_rank_00/model_optim_rng.pt, vocab.txt).

Options:
  --vocab FILE               vocab.txt to ship with the model (a .nemo carries its own)
  --heads N                  attention heads, for checkpoints without args (before 2020)
  --checkpoint-version V     override the fused-QKV layout version (0, 1, 2, 3)
  --json                     print the result as JSON
  -h, --help                 this text

Formats, the QKV layouts and what carries over: docs/megatron.md.`;

function usage(msg: string): never {
  throw new BiomegError('BIOMEG_USAGE', `${msg}\n\n${HELP}`);
}

function numberFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) usage(`--${name} must be a number, got '${v}'`);
  return n;
}

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    if (e instanceof BiomegError) throw e;
    usage((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const from = positionals[0];
  if (!values.in || !values.out) usage('--in and --out are required');
  if (values.to !== undefined) {
    if (values.to !== 'megatron') usage(`--to ${values.to}: only --to megatron is supported`);
    if (from !== undefined) usage(`give either a source format (convert megatron) or --to megatron, not both`);
    const r = await exportMegatron(values.in, values.out);
    if (values.json) console.log(JSON.stringify(r, null, 2));
    else {
      console.log(`wrote ${r.files.join(', ')} (checkpoint_version 3.0, vocabulary padded to ${r.paddedVocab})`);
      if (r.initialised.length) console.log(`initialised (absent from ${values.in}): ${r.initialised.join(', ')}`);
    }
    return 0;
  }
  if (from !== 'megatron')
    usage(
      from ? `unknown source format '${from}' (known: megatron)` : 'say what to convert: convert megatron ... or convert --to megatron ...',
    );
  const r = await convertMegatron(values.in, values.out, {
    vocab: values.vocab,
    heads: numberFlag('heads', values.heads),
    checkpointVersion: numberFlag('checkpoint-version', values['checkpoint-version']),
  });
  const summary = {
    outDir: r.outDir,
    from: r.file,
    checkpointVersion: r.checkpointVersion,
    tensors: r.tensors.length,
    config: r.config,
    vocab: r.vocab?.from ?? null,
    notes: r.notes,
  };
  if (values.json) console.log(JSON.stringify(summary, null, 2));
  else {
    const c = r.config;
    console.log(
      `${r.file} (checkpoint_version ${r.checkpointVersion}) -> ${r.outDir}: ${c.num_hidden_layers} layers, hidden ${c.hidden_size}, ` +
        `${c.num_attention_heads} heads, vocab ${c.vocab_size}, ${c.hidden_act}, ${r.tensors.length} tensors`,
    );
    for (const n of r.notes) console.log(`note: ${n}`);
  }
  return 0;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      in: { type: 'string' },
      out: { type: 'string' },
      to: { type: 'string' },
      vocab: { type: 'string' },
      heads: { type: 'string' },
      'checkpoint-version': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
