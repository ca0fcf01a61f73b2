// `biomeg pretrain mlm|electra`: pre-training from raw text (see ts/pretrain).
import { parseArgs } from 'node:util';
import { numberOptions } from './args.js';
import { BiomegError } from '../errors.js';
import { pretrain, type PretrainOptions } from '../pretrain/index.js';
import { textTable } from '../report.js';

const HELP = `Usage: biomeg pretrain mlm|electra --corpus PATH (--model DIR | --config FILE|PRESET --vocab FILE) --out DIR [options]

Pre-trains with the masked-LM objective (BERT recipe: 15 % of sub-tokens, 80/10/10, new masks
every epoch) or ELECTRA's replaced-token detection (a small generator trained with the
discriminator, embeddings shared, discriminator loss weight 50). --model continues from a
checkpoint (domain-adaptive pre-training); --config starts from random weights. OUT gets
data/ (the tokenized, packed shards), log.jsonl (one row per step with loss), curve.svg,
checkpoint/ (mlm) or discriminator/ + generator/ (electra) in the Hugging Face layout,
result.json and state/ (for --resume).

Data:
  --corpus PATH      text: one document per line (.txt or .gz), or a directory of such files
  --data DIR         shards prepared by an earlier run (OUT/data) instead of --corpus
  --vocab FILE       vocab.txt / tokenizer.json for a model from scratch (e.g. from biomeg vocab train)
  --lowercase        lower-case the text (vocab.txt from scratch; default: detected)
  --max-length N     tokens per sequence [128]
  --holdout-every N  every Nth document is held out for accuracy / perplexity [20]
  --whole-word       mask whole words (all sub-tokens of a chosen word)
  --mask-prob P      fraction of sub-tokens predicted [0.15]

Model:
  --model DIR        continue from this checkpoint (an MLM head is added when it has none)
  --config X         config.json file or preset (tiny, bert-base, ...) for a model from scratch
  --generator-fraction F   electra: generator width / discriminator width [0.25]
  --disc-weight X    electra: discriminator loss weight [50]

Optimisation:
  --max-steps N [1000]  --batch-size N [32]  --accum-steps N [1]  --lr X [1e-4 scratch, 5e-5 continued]
  --optimizer adamw|lamb  --warmup-ratio X [0.06]  --weight-decay X [0.01]  --max-grad-norm X [1]

Run:
  --seed N  --backend auto|native|wasm  --resume  --save-every N [100]  --eval-every N [200]
  --eval-sequences N [256]  --pause-after N  --quiet  --json  -h, --help`;

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      corpus: { type: 'string' },
      data: { type: 'string' },
      vocab: { type: 'string' },
      lowercase: { type: 'boolean' },
      model: { type: 'string' },
      config: { type: 'string' },
      out: { type: 'string' },
      'max-length': { type: 'string' },
      'holdout-every': { type: 'string' },
      'whole-word': { type: 'boolean' },
      'mask-prob': { type: 'string' },
      'generator-fraction': { type: 'string' },
      'disc-weight': { type: 'string' },
      'max-steps': { type: 'string' },
      'batch-size': { type: 'string' },
      'accum-steps': { type: 'string' },
      lr: { type: 'string' },
      optimizer: { type: 'string' },
      'warmup-ratio': { type: 'string' },
      'weight-decay': { type: 'string' },
      'max-grad-norm': { type: 'string' },
      seed: { type: 'string' },
      backend: { type: 'string' },
      resume: { type: 'boolean' },
      'save-every': { type: 'string' },
      'eval-every': { type: 'string' },
      'eval-sequences': { type: 'string' },
      'pause-after': { type: 'string' },
      quiet: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const objective = positionals[0];
  if (objective !== 'mlm' && objective !== 'electra') {
    console.error(`biomeg pretrain: give the objective (mlm or electra)${objective ? `, not '${objective}'` : ''}\n\n${HELP}`);
    return 2;
  }
  if (!values.out || (!values.corpus && !values.data)) {
    console.error('biomeg pretrain: --out and --corpus (or --data) are required (see --help)');
    return 2;
  }
  const num = numberOptions(values);
  if (values.optimizer && !['adamw', 'lamb'].includes(values.optimizer))
    throw new BiomegError('BIOMEG_USAGE', `--optimizer must be adamw or lamb, got '${values.optimizer}'`);
  const opts: PretrainOptions = {
    objective,
    corpus: values.corpus,
    data: values.data,
    vocab: values.vocab,
    lowercase: values.lowercase,
    model: values.model,
    config: values.config,
    outDir: values.out,
    maxLength: num('max-length'),
    holdoutEvery: num('holdout-every'),
    wholeWord: values['whole-word'],
    maskProb: num('mask-prob'),
    generatorFraction: num('generator-fraction'),
    discWeight: num('disc-weight'),
    maxSteps: num('max-steps'),
    batchSize: num('batch-size'),
    accumSteps: num('accum-steps'),
    lr: num('lr'),
    optimizer: values.optimizer as 'adamw' | 'lamb' | undefined,
    warmupRatio: num('warmup-ratio'),
    weightDecay: num('weight-decay'),
    maxGradNorm: num('max-grad-norm'),
    seed: num('seed'),
    backend: values.backend as 'auto' | 'native' | 'wasm' | undefined,
    resume: values.resume,
    saveEvery: num('save-every'),
    evalEvery: num('eval-every'),
    evalSequences: num('eval-sequences'),
    pauseAfterSteps: num('pause-after'),
    progress: !values.quiet,
  };
  const r = await pretrain(opts);
  if (values.json) {
    console.log(JSON.stringify(r, null, 1));
    return 0;
  }
  const h = r.heldOut;
  console.log(
    textTable(
      ['step', 'held-out loss', 'perplexity', 'masked acc %', ...(h.some((x) => x.discAccuracy !== undefined) ? ['RTD acc %'] : [])],
      h.map((x) => [
        x.step,
        x.loss.toFixed(4),
        x.perplexity.toFixed(2),
        (100 * x.accuracy).toFixed(2),
        ...(x.discAccuracy !== undefined ? [(100 * x.discAccuracy).toFixed(2)] : []),
      ]),
    ),
  );
  console.log(
    `${r.status}: ${r.steps} optimizer steps on ${r.backend}, ${r.tokens} tokens in ${r.trainSec.toFixed(1)} s (${Math.round(r.tokensPerSec)} tokens/s)`,
  );
  console.log(`data: ${r.data.documents} documents, ${r.data.sequences} training + ${r.data.heldOutSequences} held-out sequences`);
  for (const c of r.checkpoints) console.log(`checkpoint: ${c}`);
  console.log(`run directory: ${r.outDir}`);
  return 0;
}
