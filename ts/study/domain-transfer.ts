// `biomeg study domain-transfer`: the papers' domain question at small scale, end to end.
//   general  - a general-domain model (all-MiniLM-L6-v2) fine-tuned on biomedical NER;
//   dapt     - the same model after continued masked-LM pre-training on the PubMed corpus;
//   scratch  - a small BERT pre-trained from scratch on that corpus, once with a WordPiece
//              vocabulary learned from it (`biomeg vocab train`) and once with BERT's general
//              vocabulary: same shape, same steps, same data;
// each then fine-tuned the same way over several seeds. Reports held-out masked-token accuracy and
// perplexity, the MLM loss curves, and NER F1 (mean +- sd), as study.json / study.md / SVGs.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { BackendChoice } from '../backend.js';
import { resolveDataDir } from '../data/paths.js';
import { BiomegError } from '../errors.js';
import { fineTune } from '../finetune/index.js';
import { Progress } from '../finetune/log.js';
import { pretrain, type HeldOut, type PretrainOptions, type PretrainResult } from '../pretrain/index.js';
import { textTable, writeFileAtomic } from '../report.js';
import { trainVocab } from '../text/index.js';
import { barChartSvg, lineChartSvg } from './plot.js';

export interface DomainTransferOptions {
  outDir: string;
  /** Data directory (pubmed-abstracts-mini and the NER sets) [$BIOMEG_DATA]. */
  dataDir?: string;
  /** Vocabulary directory (bert-base-uncased) [$BIOMEG_VOCABS, else <data>/../vocab]. */
  vocabDir?: string;
  /** The general-domain model [.cache/models/all-MiniLM-L6-v2]. */
  general?: string;
  /** Pre-training corpus [<data>/pubmed-abstracts-mini/pubmed_abstracts_mini.txt]. */
  corpus?: string;
  /** NER datasets to fine-tune on [ncbi-disease]. */
  datasets?: string[];
  seeds?: number;
  /** Fine-tuning epochs [3]. */
  epochs?: number;
  /** Fine-tuning peak learning rate [the NER preset's, 5e-5]. */
  finetuneLr?: number;
  /** Run only these arms (general, general+pubmed-mlm, scratch-pubmed-vocab, scratch-bert-vocab) [all]. */
  arms?: string[];
  /** Continued pre-training steps of the general model [300]. */
  daptSteps?: number;
  /** Pre-training steps of each from-scratch model [600]. */
  scratchSteps?: number;
  /** Peak learning rate of continued pre-training [5e-5] and of pre-training from scratch [5e-4]. */
  daptLr?: number;
  scratchLr?: number;
  /** Shape of the from-scratch models. */
  scratch?: { layers: number; hidden: number; heads: number; intermediate: number };
  /** Size of the learned PubMed vocabulary [the general vocabulary's size]. */
  vocabSize?: number;
  batchSize?: number;
  maxLength?: number;
  /** First N sentences of each NER split (quick runs). */
  limit?: number;
  backend?: BackendChoice;
  /** Keep arms that already finished (result.json / summary.json present). */
  resume?: boolean;
  progress?: boolean;
  seed?: number;
}

export interface ArmResult {
  arm: string;
  description: string;
  model: string;
  /** `dir`: the pre-training run directory (log.jsonl, curve.svg, checkpoint). */
  pretrain?: { dir: string; steps: number; sec: number; tokensPerSec: number; first?: HeldOut; final?: HeldOut; vocabSize: number };
  ner: Record<string, { f1: number; sd: number; n: number; seeds: number[]; finetuneSec: number }>;
}

export interface DomainTransferResult {
  arms: ArmResult[];
  outDir: string;
  settings: Record<string, unknown>;
}

const SCRATCH = { layers: 4, hidden: 256, heads: 4, intermediate: 1024 };

function findVocabDir(o: DomainTransferOptions, dataDir: string): string {
  const cands = [o.vocabDir, process.env.BIOMEG_VOCABS, path.join(dataDir, '..', 'vocab')].filter(Boolean) as string[];
  const dir = cands.find((d) => existsSync(path.join(d, 'bert-base-uncased', 'vocab.txt')));
  if (!dir)
    throw new BiomegError('BIOMEG_IO', `no bert-base-uncased/vocab.txt under ${cands.join(', ')} (set --vocab-dir or BIOMEG_VOCABS)`);
  return dir;
}

/** Run the study; see DomainTransferOptions. */
export async function domainTransfer(opts: DomainTransferOptions): Promise<DomainTransferResult> {
  const dataDir = resolveDataDir(opts.dataDir).dir;
  const vocabDir = findVocabDir(opts, dataDir);
  const general = opts.general ?? path.resolve('.cache/models/all-MiniLM-L6-v2');
  if (!existsSync(path.join(general, 'config.json')))
    throw new BiomegError(
      'BIOMEG_IO',
      `${general}: general model not found (scripts/fetch-minilm.sh downloads all-MiniLM-L6-v2; or pass --general DIR)`,
    );
  const corpus = opts.corpus ?? path.join(dataDir, 'pubmed-abstracts-mini', 'pubmed_abstracts_mini.txt');
  if (!existsSync(corpus)) throw new BiomegError('BIOMEG_IO', `${corpus}: corpus not found`);
  const s = {
    datasets: opts.datasets ?? ['ncbi-disease'],
    seeds: opts.seeds ?? 3,
    epochs: opts.epochs ?? 3,
    finetuneLr: opts.finetuneLr,
    daptSteps: opts.daptSteps ?? 300,
    scratchSteps: opts.scratchSteps ?? 600,
    daptLr: opts.daptLr ?? 5e-5,
    scratchLr: opts.scratchLr ?? 5e-4,
    scratch: opts.scratch ?? SCRATCH,
    batchSize: opts.batchSize ?? 32,
    maxLength: opts.maxLength ?? 128,
    seed: opts.seed ?? 42,
    limit: opts.limit,
    general,
    corpus,
  };
  const out = opts.outDir;
  mkdirSync(out, { recursive: true });
  const progress = new Progress(opts.progress ?? true);
  const bertVocab = path.join(vocabDir, 'bert-base-uncased', 'vocab.txt');
  const generalVocabSize = readFileSync(bertVocab, 'utf8').split('\n').filter(Boolean).length;

  // The PubMed vocabulary: learned once from the corpus, same size as the general one.
  const vocabOut = path.join(out, 'pubmed-vocab');
  if (!(opts.resume && existsSync(path.join(vocabOut, 'vocab.txt')))) {
    progress.message(`learning a WordPiece vocabulary from ${corpus}`);
    await trainVocab(corpus, vocabOut, { size: opts.vocabSize ?? generalVocabSize, lowercase: true, backend: opts.backend });
  }
  const pubmedVocab = path.join(vocabOut, 'vocab.txt');

  const common = {
    objective: 'mlm' as const,
    corpus,
    batchSize: s.batchSize,
    maxLength: s.maxLength,
    seed: s.seed,
    backend: opts.backend,
    progress: opts.progress,
  };
  // One BERT shape for both from-scratch arms; pretrain() sets vocab_size from the vocabulary.
  const c = s.scratch;
  const scratchConfig = JSON.stringify({
    model_type: 'bert',
    architectures: ['BertForMaskedLM'],
    hidden_size: c.hidden,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    intermediate_size: c.intermediate,
    max_position_embeddings: 512,
    type_vocab_size: 2,
    hidden_act: 'gelu',
    layer_norm_eps: 1e-12,
    initializer_range: 0.02,
  });
  const scratch = (vocab: string) => ({ config: scratchConfig, vocab, lowercase: true, maxSteps: s.scratchSteps, lr: s.scratchLr });
  const runPretrain = async (arm: string, o: PretrainOptions): Promise<PretrainResult> => {
    const done = path.join(o.outDir, 'result.json');
    if (opts.resume && existsSync(done)) return JSON.parse(readFileSync(done, 'utf8')) as PretrainResult;
    progress.message(`[${arm}] pre-training: ${o.maxSteps} steps -> ${o.outDir}`);
    return pretrain({ ...o, resume: opts.resume });
  };
  /** Each arm: its pre-training (options beyond `common`, run in out/<preDir>), if any. */
  const arms: { arm: string; description: string; preDir?: string; pre?: Partial<PretrainOptions> & { maxSteps: number } }[] = [
    { arm: 'general', description: 'all-MiniLM-L6-v2 as released (general domain)' },
    {
      arm: 'general+pubmed-mlm',
      description: `all-MiniLM-L6-v2 + ${s.daptSteps} steps of masked-LM on the PubMed corpus`,
      preDir: 'pretrain-dapt',
      pre: { model: general, maxSteps: s.daptSteps, lr: s.daptLr },
    },
    {
      arm: 'scratch-pubmed-vocab',
      description: `${c.layers}x${c.hidden} BERT from scratch, PubMed WordPiece vocabulary, ${s.scratchSteps} steps`,
      preDir: 'pretrain-scratch-pubmed-vocab',
      pre: scratch(pubmedVocab),
    },
    {
      arm: 'scratch-bert-vocab',
      description: 'same model and steps, BERT-base uncased vocabulary',
      preDir: 'pretrain-scratch-bert-vocab',
      pre: scratch(bertVocab),
    },
  ];

  const known = arms.map((a) => a.arm);
  const unknown = (opts.arms ?? []).filter((a) => !known.includes(a));
  if (unknown.length) throw new BiomegError('BIOMEG_BAD_ARGUMENT', `unknown arm(s) ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const results: ArmResult[] = [];
  for (const a of arms.filter((x) => !opts.arms || opts.arms.includes(x.arm))) {
    const preDir = a.preDir && path.join(out, a.preDir);
    const pre = a.pre && preDir ? await runPretrain(a.arm, { ...common, ...a.pre, outDir: preDir }) : undefined;
    const dir = pre ? pre.checkpoints[0] : general;
    const r: ArmResult = { arm: a.arm, description: a.description, model: dir, ner: {} };
    if (pre && preDir)
      r.pretrain = {
        dir: preDir,
        steps: pre.steps,
        sec: pre.trainSec,
        tokensPerSec: pre.tokensPerSec,
        first: pre.heldOut[0],
        final: pre.final,
        vocabSize: JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')).vocab_size,
      };
    for (const ds of s.datasets) {
      const ftDir = path.join(out, `finetune-${a.arm}-${ds}`);
      const summaryFile = path.join(ftDir, 'study-ner.json');
      if (opts.resume && existsSync(summaryFile)) {
        r.ner[ds] = JSON.parse(readFileSync(summaryFile, 'utf8'));
        continue;
      }
      progress.message(`[${a.arm}] fine-tuning on ${ds}: ${s.seeds} seed(s), ${s.epochs} epoch(s)`);
      const t0 = Date.now();
      const ft = await fineTune({
        task: 'ner',
        model: dir,
        dataset: ds,
        dataDir,
        outDir: ftDir,
        epochs: s.epochs,
        lr: s.finetuneLr,
        seed: s.seed,
        seeds: s.seeds,
        newHead: true,
        limit: s.limit,
        backend: opts.backend,
        progress: opts.progress,
      });
      const f1 = ft.summary['test.f1'] ?? ft.summary['dev.f1'];
      if (!f1) throw new BiomegError('BIOMEG_BAD_DATA', `${ds}: fine-tuning gave no F1 (no test or dev split?)`);
      const row = { f1: f1.mean, sd: f1.std, n: f1.n, seeds: ft.runs.map((x) => x.seed), finetuneSec: (Date.now() - t0) / 1000 };
      writeFileAtomic(summaryFile, JSON.stringify(row, null, 1) + '\n');
      r.ner[ds] = row;
    }
    results.push(r);
    writeReport(out, results, s);
  }
  return { arms: results, outDir: out, settings: s };
}

const pct = (x: number | undefined) => (x === undefined ? '-' : (100 * x).toFixed(2));

/** study.json, study.md, mlm-curves.svg and f1.svg from the arms so far. */
function writeReport(out: string, arms: ArmResult[], settings: Record<string, unknown>): void {
  writeFileAtomic(path.join(out, 'study.json'), JSON.stringify({ settings, arms }, null, 1) + '\n');
  const datasets = [...new Set(arms.flatMap((a) => Object.keys(a.ner)))];
  const rows = arms.map((a) => [
    a.arm,
    a.pretrain ? `${a.pretrain.steps}` : '-',
    a.pretrain ? (a.pretrain.sec / 60).toFixed(1) : '-',
    a.pretrain?.final ? a.pretrain.final.loss.toFixed(3) : '-',
    a.pretrain?.final ? a.pretrain.final.perplexity.toFixed(1) : '-',
    a.pretrain?.final ? pct(a.pretrain.final.accuracy) : '-',
    ...datasets.map((d) => (a.ner[d] ? `${pct(a.ner[d].f1)} +- ${pct(a.ner[d].sd)} (n=${a.ner[d].n})` : '-')),
    ...datasets.map((d) => (a.ner[d] ? (a.ner[d].finetuneSec / 60).toFixed(1) : '-')),
  ]);
  const head = [
    'arm',
    'pre-train steps',
    'pre-train min',
    'held-out MLM loss',
    'perplexity',
    'masked acc %',
    ...datasets.map((d) => `${d} test F1 %`),
    ...datasets.map((d) => `${d} fine-tune min`),
  ];
  const md = [
    '# Domain-transfer study (small scale)',
    '',
    ...arms.map((a) => `- **${a.arm}**: ${a.description}`),
    '',
    '| ' + head.join(' | ') + ' |',
    '|' + head.map(() => '---').join('|') + '|',
    ...rows.map((r) => '| ' + r.join(' | ') + ' |'),
    '',
    'Perplexities of models with different vocabularies are not comparable (different prediction targets).',
    '',
    `Settings: \`${JSON.stringify(settings)}\``,
    '',
  ].join('\n');
  writeFileAtomic(path.join(out, 'study.md'), md);
  writeFileAtomic(path.join(out, 'study.txt'), textTable(head, rows) + '\n');
  const curves = arms
    .filter((a) => a.pretrain)
    .map((a) => {
      const log = path.join(a.pretrain!.dir, 'log.jsonl');
      const pts: [number, number][] = existsSync(log)
        ? readFileSync(log, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l))
            .filter((x) => x.type === 'step' && x.updated)
            .map((x) => [x.step, x.loss])
        : [];
      return { name: a.arm, points: smooth(pts, 10) };
    });
  writeFileAtomic(
    path.join(out, 'mlm-curves.svg'),
    lineChartSvg(curves, { title: 'Masked-LM training loss', xLabel: 'optimizer step', yLabel: 'loss (10-step mean)' }),
  );
  const bars = datasets.flatMap((d) =>
    arms
      .filter((a) => a.ner[d])
      .map((a) => ({ label: a.arm.replace('scratch-', 's-'), mean: 100 * a.ner[d].f1, sd: 100 * a.ner[d].sd, group: d })),
  );
  writeFileAtomic(path.join(out, 'f1.svg'), barChartSvg(bars, { title: 'NER test F1 (mean +- sd over seeds)', yLabel: 'F1 %', yMax: 100 }));
}

function smooth(pts: [number, number][], k: number): [number, number][] {
  return pts.map((p, i) => {
    const w = pts.slice(Math.max(0, i - k + 1), i + 1);
    return [p[0], w.reduce((a, b) => a + b[1], 0) / w.length];
  });
}
