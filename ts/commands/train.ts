// `biomeg train ner|re|qa`: fine-tuning with the papers' presets (see ts/finetune).
import { parseArgs } from 'node:util';
import { numberOptions } from './args.js';
import { fineTune, PRESETS, type FineTuneOptions, type FineTuneTask } from '../finetune/index.js';
import { textTable } from '../report.js';

const HELP = `Usage: biomeg train ner|re|qa --model DIR --out DIR (--dataset NAME | --train FILE [--dev FILE] [--test FILE]) [options]

Fine-tunes a model (a base encoder gets a freshly initialised head). Each epoch: dev scores with
the exact metrics (NER word-level conlleval, ChemProt micro P/R/F1, SQuAD EM/F1); the best
checkpoint is kept in OUT/best; test scores at the end (BioASQ: strict/lenient accuracy, MRR
against the golden file). OUT gets log.jsonl, curve.svg, result.json and state/ (for --resume).

Data:
  --dataset NAME     bc5cdr-chem, bc5cdr-disease, ncbi-disease (ner), chemprot (re),
                     bioasq-7b (qa) under --data-dir / $BIOMEG_DATA
  --data-dir DIR     data directory
  --train/--dev/--test FILE   explicit split files (CoNLL, ChemProt TSV, SQuAD JSON)
  --test-gold FILE   BioASQ golden JSON for QA test scores
  --limit N          first N examples of each split (quick runs)
  --transfer-from FILE  qa: first fine-tune on this SQuAD-format file (OUT/transfer), then on the
                     data above from its best checkpoint, QA head kept (the SQuAD -> BioASQ recipe)
  --transfer-epochs N   epochs of that first stage (default: the recipe's epochs)
  --transfer-dev FILE   dev file of that first stage (best epoch kept; a SQuAD v2.0 dev
                     file is scored with the v2.0 metric). BioM-Transformers: --preset biom-qa
                     --transfer-from train-v2.0.json --transfer-dev dev-v2.0.json

Recipe (preset, then overrides):
  --preset NAME      ${Object.keys(PRESETS).join(', ')}
                     (default: biomegatron-ner / biomegatron-re / biomegatron-qa)
  --epochs N  --max-steps N  --batch-size N  --lr X  --weight-decay X  --warmup-ratio X
  --max-grad-norm X  --accum-steps N  --max-length N  --stride N (window overlap)
  --scheme all|first (NER labelling)  --head-layers 1|2  --head-hidden D  --head-dropout P
  --hidden-dropout P  --attn-dropout P  --new-head (never reuse the checkpoint's head)

Run:
  --seed N  --seeds N (N seeds: OUT/seed-K, mean and std)  --backend auto|native|wasm
  --resume           continue an interrupted run from OUT/state (same loss curve)
  --save-every N     optimizer state every N steps (default 100, and every epoch end)
  --pause-after N    stop after N optimizer steps, state saved (continue with --resume)
  --eval-batch-size N  --quiet (no progress line)  --json (print the result as JSON)
  -h, --help`;

const pct = (x: number | undefined) => (x === undefined || x === null ? '-' : (100 * x).toFixed(2));

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      out: { type: 'string' },
      dataset: { type: 'string' },
      'data-dir': { type: 'string' },
      train: { type: 'string' },
      dev: { type: 'string' },
      test: { type: 'string' },
      'test-gold': { type: 'string' },
      limit: { type: 'string' },
      'transfer-from': { type: 'string' },
      'transfer-epochs': { type: 'string' },
      'transfer-dev': { type: 'string' },
      preset: { type: 'string' },
      epochs: { type: 'string' },
      'max-steps': { type: 'string' },
      'batch-size': { type: 'string' },
      'eval-batch-size': { type: 'string' },
      lr: { type: 'string' },
      'weight-decay': { type: 'string' },
      'warmup-ratio': { type: 'string' },
      'max-grad-norm': { type: 'string' },
      'accum-steps': { type: 'string' },
      'max-length': { type: 'string' },
      stride: { type: 'string' },
      scheme: { type: 'string' },
      'head-layers': { type: 'string' },
      'head-hidden': { type: 'string' },
      'head-dropout': { type: 'string' },
      'hidden-dropout': { type: 'string' },
      'attn-dropout': { type: 'string' },
      'new-head': { type: 'boolean' },
      seed: { type: 'string' },
      seeds: { type: 'string' },
      backend: { type: 'string' },
      resume: { type: 'boolean' },
      'save-every': { type: 'string' },
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
  const task = positionals[0] as FineTuneTask;
  if (!['ner', 're', 'qa'].includes(task)) {
    console.error(`biomeg train: give the task (ner, re or qa)${task ? `, not '${task}'` : ''}\n\n${HELP}`);
    return 2;
  }
  if (!values.model || !values.out) {
    console.error('biomeg train: --model and --out are required (see --help)');
    return 2;
  }
  const num = numberOptions(values);
  const opts: FineTuneOptions = {
    task,
    model: values.model,
    outDir: values.out,
    dataset: values.dataset,
    dataDir: values['data-dir'],
    train: values.train,
    dev: values.dev,
    test: values.test,
    testGold: values['test-gold'],
    limit: num('limit'),
    transferFrom: values['transfer-from'],
    transferEpochs: num('transfer-epochs'),
    transferDev: values['transfer-dev'],
    preset: values.preset,
    epochs: num('epochs'),
    maxSteps: num('max-steps'),
    batchSize: num('batch-size'),
    evalBatchSize: num('eval-batch-size'),
    lr: num('lr'),
    weightDecay: num('weight-decay'),
    warmupRatio: num('warmup-ratio'),
    maxGradNorm: num('max-grad-norm'),
    accumSteps: num('accum-steps'),
    maxLength: num('max-length'),
    stride: num('stride'),
    scheme: values.scheme as 'all' | 'first' | undefined,
    headLayers: num('head-layers') as 1 | 2 | undefined,
    headHidden: num('head-hidden'),
    headDropout: num('head-dropout'),
    hiddenDropout: num('hidden-dropout'),
    attnDropout: num('attn-dropout'),
    newHead: values['new-head'],
    seed: num('seed'),
    seeds: num('seeds'),
    backend: values.backend as 'auto' | 'native' | 'wasm' | undefined,
    resume: values.resume,
    saveEverySteps: num('save-every'),
    pauseAfterSteps: num('pause-after'),
    progress: !values.quiet,
  };
  const res = await fineTune(opts);
  if (values.json) {
    console.log(JSON.stringify(res, null, 1));
    return 0;
  }
  const rows = res.runs.map((r) => [
    r.seed,
    r.status,
    r.backend,
    r.bestEpoch,
    pct(r.bestDev ?? undefined),
    r.test ? `${r.test.mainName} ${pct(r.test.main)}` : '-',
    r.secPerEpoch.toFixed(1),
    Math.round(r.tokensPerSec),
  ]);
  console.log(textTable(['seed', 'status', 'backend', 'best epoch', 'dev', 'test', 's/epoch', 'train tok/s'], rows));
  if (res.runs.length > 1) {
    const s = Object.entries(res.summary).filter(([k]) => k.startsWith('test.') || k.startsWith('dev.'));
    console.log(
      '\n' +
        textTable(
          ['metric', 'mean', 'std', 'n'],
          s.map(([k, v]) => [k, v.mean, v.std, v.n]),
        ),
    );
  }
  for (const r of res.runs) {
    const t = r.transfer;
    if (t)
      console.log(
        `seed ${r.seed}: transfer stage ${t.steps} steps, ${t.secPerEpoch.toFixed(1)} s/epoch, ${Math.round(t.tokensPerSec)} train tok/s (${t.runDir})`,
      );
  }
  for (const r of res.runs) if (r.unseenDevLabels.length) console.log(`dev labels unseen in training: ${r.unseenDevLabels.join(', ')}`);
  console.log(`run directory: ${res.outDir}`);
  return 0;
}
