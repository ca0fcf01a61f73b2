// `biomeg study domain-transfer`: the papers' domain question at small scale (see ts/study).
import { parseArgs } from 'node:util';
import { numberOptions } from './args.js';
import { BiomegError } from '../errors.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { domainTransfer } from '../study/domain-transfer.js';

const HELP = `Usage: biomeg study domain-transfer --out DIR [options]

Runs, on the PubMed corpus and NER sets under --data-dir / $BIOMEG_DATA:
  general               all-MiniLM-L6-v2 fine-tuned as released
  general+pubmed-mlm    the same after continued masked-LM pre-training on the corpus
  scratch-pubmed-vocab  a small BERT pre-trained from scratch with a vocabulary learned from the corpus
  scratch-bert-vocab    the same with BERT's general (uncased) vocabulary
then fine-tunes each on the NER sets over several seeds. OUT gets study.md / study.json /
study.txt, mlm-curves.svg, f1.svg and one directory per pre-training and fine-tuning run.

Options:
  --data-dir DIR  --vocab-dir DIR  --general DIR (default .cache/models/all-MiniLM-L6-v2)
  --corpus FILE   --datasets a,b (default ncbi-disease)  --seeds N [3]  --epochs N [3]
  --finetune-lr X [the NER preset's 5e-5]  --arms a,b (a subset of the four arms)
  --dapt-steps N [300]  --scratch-steps N [600]  --scratch LxHxAxI [4x256x4x1024]
  --dapt-lr X [5e-5]  --scratch-lr X [5e-4]
  --vocab-size N [the general vocabulary's]  --batch-size N [32]  --max-length N [128]
  --limit N (first N sentences per NER split)  --seed N  --backend auto|native|wasm
  --resume (keep finished arms)  --quiet  -h, --help`;

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      'data-dir': { type: 'string' },
      'vocab-dir': { type: 'string' },
      general: { type: 'string' },
      corpus: { type: 'string' },
      datasets: { type: 'string' },
      seeds: { type: 'string' },
      epochs: { type: 'string' },
      'finetune-lr': { type: 'string' },
      arms: { type: 'string' },
      'dapt-steps': { type: 'string' },
      'scratch-steps': { type: 'string' },
      'dapt-lr': { type: 'string' },
      'scratch-lr': { type: 'string' },
      scratch: { type: 'string' },
      'vocab-size': { type: 'string' },
      'batch-size': { type: 'string' },
      'max-length': { type: 'string' },
      limit: { type: 'string' },
      seed: { type: 'string' },
      backend: { type: 'string' },
      resume: { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals[0] !== 'domain-transfer') {
    console.error(`biomeg study: give the study (domain-transfer)${positionals[0] ? `, not '${positionals[0]}'` : ''}\n\n${HELP}`);
    return 2;
  }
  if (!values.out) {
    console.error('biomeg study: --out DIR is required');
    return 2;
  }
  const num = numberOptions(values);
  let scratch: { layers: number; hidden: number; heads: number; intermediate: number } | undefined;
  if (values.scratch) {
    const p = values.scratch.split('x').map(Number);
    if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x <= 0))
      throw new BiomegError('BIOMEG_USAGE', `--scratch must be LAYERSxHIDDENxHEADSxINTERMEDIATE, got '${values.scratch}'`);
    scratch = { layers: p[0], hidden: p[1], heads: p[2], intermediate: p[3] };
  }
  const r = await domainTransfer({
    outDir: values.out,
    dataDir: values['data-dir'],
    vocabDir: values['vocab-dir'],
    general: values.general,
    corpus: values.corpus,
    datasets: values.datasets?.split(',').filter(Boolean),
    seeds: num('seeds'),
    epochs: num('epochs'),
    finetuneLr: num('finetune-lr'),
    arms: values.arms?.split(',').filter(Boolean),
    daptSteps: num('dapt-steps'),
    scratchSteps: num('scratch-steps'),
    daptLr: num('dapt-lr'),
    scratchLr: num('scratch-lr'),
    scratch,
    vocabSize: num('vocab-size'),
    batchSize: num('batch-size'),
    maxLength: num('max-length'),
    limit: num('limit'),
    seed: num('seed'),
    backend: values.backend as 'auto' | 'native' | 'wasm' | undefined,
    resume: values.resume,
    progress: !values.quiet,
  });
  console.log(readFileSync(path.join(r.outDir, 'study.txt'), 'utf8'));
  console.log(`report: ${path.join(r.outDir, 'study.md')}`);
  return 0;
}
