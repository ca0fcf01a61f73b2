// `biomeg bench`: the benchmark suite, as terminal tables plus JSON and Markdown reports.
import { parseArgs } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { BERT_GEMM_SHAPES, runProfile, runSuite, type BenchReport, type Int8Row, type ProfileRow } from '../bench/suite.js';
import { BiomegError } from '../errors.js';
import { markdownTable, textTable, writeFileAtomic, type Cell } from '../report.js';
import type { BackendName } from '../backend.js';
import { presetConfig } from '../model.js';
import { existsSync } from 'node:fs';
import { benchEval } from '../bench/eval.js';
import { benchBreakoutTable, breakoutSpeed, repeatedNerCorpus, corpusWords } from '../text/bench.js';
import { breakoutMarkdown } from '../text/table.js';
import { renderOrt, runOrtPairs } from '../bench/ort.js';

const HELP = `Usage: biomeg bench [options]

Default suite (no download needed): this machine's FMA peak, GEMM GFLOP/s at BERT-base layer
shapes (8 x 128 tokens), and encoder forward speed for the bert-base and biomegatron-345m presets
(random weights, batch 8 x 128) on the native and wasm backends. When cuBLAS is found (see
\`biomeg info\`), GPU rows (native+cuda) are added and the CPU rows run with BIOMEG_DEVICE=cpu.

Options:
  --json               print the report as JSON on stdout (tables go to stderr)
  --out DIR            where bench.json and bench.md are written (default: reports/)
  --presets A,B        encoder presets (default bert-base,biomegatron-345m; also bert-large,
                       biomegatron-800m, biomegatron-1.2b, albert-base, albert-xxlarge, tiny)
  --backends A,B       native,wasm (default both)
  --threads N          native threads (default: all cores)
  --reps N             timed encoder runs per row, median reported (default 3)
  --quick              bert-base only, 1 timed run, fewer GEMM repetitions
  --int8-presets A,B   presets for the int8 vs fp32 rows: both models on the same random
                       weights in one process, forward runs alternating; the speed-up is the
                       median of the per-pair ratios (default: --presets when given, else
                       bert-base; 'none' skips them)
  --int8-reps N        pairs per int8 row (default 5; --quick 3)
  --profile            only the per-op breakdown of the forward pass (time per forward and
                       share of it per op kind: QKV / attention-output / FFN GEMMs, attention,
                       LayerNorm, GELU (0 when fused into the FFN-in GEMM, i.e. fp32
                       inference), residual adds, embeddings, head; inside those: GEMM
                       packing / activation quantization and thread hand-off) for fp32 and
                       int8, native (--threads and 1) and wasm; --presets (default bert-base),
                       --reps (default 3); writes reports/profile.{json,md}
  --gemm-shapes S      GEMM rows as MxKxN,MxKxN (default: BERT-base's four layer GEMMs)
  --data DIR           benchmark data (default: $BIOMEG_DATA); adds the sub-token break-out
                       table and break-out speed over a 10M-word corpus
  --vocabs DIR         vocabularies for the break-out table (default: $BIOMEG_VOCABS, else
                       DIR/../vocab)
  --no-data            skip the data-dependent sections
  --ort                add biomeg vs onnxruntime, paired in one process (bench/ort_pairs.mjs):
                       native vs onnxruntime-node at 1 and --threads threads for --presets, wasm
                       vs onnxruntime-web for bert-base; exports ONNX with PyTorch
                       (BIOMEG_PYTHON, default /opt/biomeg-py/bin/python) and installs the
                       onnxruntime packages into .cache/bench-ort; skipped with a message when
                       either is missing
  --ort-pairs N        pairs per onnxruntime row (default 5; --quick 3)
`;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean' },
      'gemm-shapes': { type: 'string' },
      out: { type: 'string' },
      presets: { type: 'string' },
      backends: { type: 'string' },
      threads: { type: 'string' },
      reps: { type: 'string' },
      quick: { type: 'boolean' },
      'int8-presets': { type: 'string' },
      'int8-reps': { type: 'string' },
      profile: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      data: { type: 'string' },
      vocabs: { type: 'string' },
      'no-data': { type: 'boolean' },
      ort: { type: 'boolean' },
      'ort-pairs': { type: 'string' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.profile) return profileMain(values);
  const quick = !!values.quick;
  const presets = (values.presets ?? (quick ? 'bert-base' : 'bert-base,biomegatron-345m')).split(',');
  for (const p of presets) await presetConfig(p); // unknown names fail here, before any timing
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const t0 = Date.now();
  const report: BenchReport = await runSuite({
    threads: Number(values.threads ?? os.availableParallelism()),
    presets,
    backends: (values.backends ?? 'native,wasm').split(',') as BackendName[],
    gemmReps: quick ? 3 : 7,
    gemmShapes: values['gemm-shapes'] ? parseShapes(values['gemm-shapes']) : BERT_GEMM_SHAPES,
    encoderReps: Number(values.reps ?? (quick ? 1 : 3)),
    // int8 pairs follow --presets when given (bert-base by default; biomegatron-345m twice over
    // would double the suite's time), 'none' skips them.
    int8Presets:
      values['int8-presets'] === 'none'
        ? []
        : values['int8-presets']
          ? values['int8-presets'].split(',')
          : values.presets
            ? presets
            : ['bert-base'],
    int8Reps: Number(values['int8-reps'] ?? (quick ? 3 : 5)),
    batch: 8,
    seq: 128,
    progress: (m) => log(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${m}`),
  });
  const progress = (m: string) => log(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${m}`);
  progress('scoring a 1M-token CoNLL prediction file (eval speed)');
  report.eval = await benchEval({ runs: quick ? 3 : 5 });
  const dataDir = values['no-data'] ? undefined : (values.data ?? process.env.BIOMEG_DATA);
  let breakoutMd = '';
  if (dataDir && existsSync(dataDir)) {
    const vocabDir = values.vocabs ?? process.env.BIOMEG_VOCABS ?? path.join(dataDir, '..', 'vocab');
    progress(`sub-token break-out table (${vocabDir} x ${dataDir})`);
    const rows = await benchBreakoutTable(dataDir, vocabDir);
    if (rows) {
      report.breakout = rows;
      breakoutMd = breakoutMarkdown(rows);
      const pubmed = path.join(vocabDir, 'pubmedbert-base-uncased');
      const corpus = path.join(dataDir, 'pubmed-abstracts-mini', 'pubmed_abstracts_mini.txt');
      if (existsSync(pubmed) && existsSync(corpus)) {
        const data = repeatedNerCorpus(dataDir, quick ? 2_000_000 : 10_000_000);
        const cold = corpusWords(corpus);
        report.breakout_speed = [];
        for (const backend of ['native', 'wasm'] as const) {
          progress(`break-out speed, ${data.words.length.toLocaleString()} words, ${backend}`);
          (report.breakout_speed as unknown[]).push(await breakoutSpeed({ vocab: pubmed, backend, data, cold, runs: quick ? 1 : 3 }));
        }
      }
    }
  } else {
    log('no data directory (--data or BIOMEG_DATA): break-out table skipped');
  }
  let ortText = '';
  let ortMd = '';
  if (values.ort) {
    const threads = Number(values.threads ?? os.availableParallelism());
    const ort = await runOrtPairs({
      presets,
      threads: [...new Set([1, threads])],
      pairs: Number(values['ort-pairs'] ?? (quick ? 3 : 5)),
      wasmPresets: (values.backends ?? 'native,wasm').includes('wasm') ? ['bert-base'] : [],
      progress,
    });
    report.ort = ort;
    if (ort.skipped) log(`onnxruntime pairs skipped: ${ort.skipped}`);
    else ({ text: ortText, md: ortMd } = renderOrt(ort.rows));
  }
  report.machine = { cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), node: process.version, date: new Date().toISOString() };
  const rendered = render(report);
  const text = [rendered.text, breakoutMd, ortText].filter(Boolean).join('\n\n');
  const md = `${[rendered.md, breakoutMd, ortMd].filter(Boolean).join('\n').trimEnd()}\n`;
  const outDir = values.out ?? 'reports';
  writeFileAtomic(path.join(outDir, 'bench.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileAtomic(path.join(outDir, 'bench.md'), md);
  if (values.json) {
    log(text);
    console.log(JSON.stringify(report, null, 2));
  } else {
    console.log(text);
    console.log(`\nreports: ${path.join(outDir, 'bench.json')}, ${path.join(outDir, 'bench.md')}`);
  }
  return report.errors.length && !report.gemm.length && !report.encoder.length ? 1 : 0;
}

async function profileMain(values: { presets?: string; backends?: string; threads?: string; reps?: string; out?: string; json?: boolean }) {
  const presets = (values.presets ?? 'bert-base').split(',');
  for (const p of presets) await presetConfig(p);
  const t0 = Date.now();
  const { rows, errors } = await runProfile({
    threads: Number(values.threads ?? os.availableParallelism()),
    presets,
    backends: (values.backends ?? 'native,wasm').split(',') as BackendName[],
    reps: Number(values.reps ?? 3),
    batch: 8,
    seq: 128,
    quantizations: ['fp32', 'int8'],
    progress: (m) => process.stderr.write(`[profile ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${m}\n`),
  });
  const { text, md } = renderProfile(rows, errors);
  const outDir = values.out ?? 'reports';
  writeFileAtomic(path.join(outDir, 'profile.json'), `${JSON.stringify({ rows, errors }, null, 2)}\n`);
  writeFileAtomic(path.join(outDir, 'profile.md'), md);
  if (values.json) console.log(JSON.stringify({ rows, errors }, null, 2));
  else console.log(`${text}\n\nreports: ${path.join(outDir, 'profile.json')}, ${path.join(outDir, 'profile.md')}`);
  return rows.length ? 0 : 1;
}

/** One column per configuration, one row per op kind: ms per forward and share of the forward. */
export function renderProfile(rows: ProfileRow[], errors: string[]): { text: string; md: string } {
  const head = ['op (ms per forward, % of it)', ...rows.map((r) => `${r.preset} ${r.quantization} ${r.backend} ${r.threads}t`)];
  const names = rows[0]?.ops.map((o) => o.op) ?? [];
  const cell = (r: ProfileRow, ms: number) => `${ms.toFixed(1)} (${((100 * ms) / r.forward_ms).toFixed(1)}%)`;
  const body: Cell[][] = names.map((name) => {
    const inner = rows[0].ops.find((o) => o.op === name)?.inner;
    return [inner ? `  inside: ${name}` : name, ...rows.map((r) => cell(r, r.ops.find((o) => o.op === name)?.ms ?? 0))];
  });
  const attributed = (r: ProfileRow) => r.ops.filter((o) => !o.inner).reduce((a, o) => a + o.ms, 0);
  body.push(['other (not attributed)', ...rows.map((r) => cell(r, r.forward_ms - attributed(r)))]);
  body.push(['forward (wall)', ...rows.map((r) => `${r.forward_ms.toFixed(1)}`)]);
  const note =
    'Times on the calling thread, per forward (median-free: the mean of the profiled runs). "inside" rows are part of the GEMM / attention / per-row op times above them: packing A/B panels (fp32) or quantizing activation rows (int8), and thread hand-off (spawn to last join, minus the calling thread\'s own share).';
  const errs = errors.length ? `\nProblems:\n${errors.map((e) => `  - ${e}`).join('\n')}` : '';
  return {
    text: `${textTable(head, body)}\n\n${note}${errs}`,
    md: `# biomeg bench --profile\n\n${markdownTable(head, body)}\n\n${note}\n${errs}\n`,
  };
}

function parseShapes(s: string): Array<[number, number, number]> {
  return s.split(',').map((x) => {
    const d = x.split('x').map(Number);
    if (d.length !== 3 || !d.every((v) => Number.isInteger(v) && v > 0))
      throw new BiomegError('BIOMEG_USAGE', `--gemm-shapes: '${x}' is not MxKxN with positive integers`);
    return d as [number, number, number];
  });
}

/** "native", "wasm", or "native+cuda" for the GPU rows. */
function label(row: { backend: string; device?: string }): string {
  return row.device === 'cuda' ? `${row.backend}+cuda` : row.backend;
}

function render(r: BenchReport): { text: string; md: string } {
  const gh = ['GEMM m x k x n', 'backend', 'threads', 'GFLOP/s', '% of peak'];
  const gr: Cell[][] = r.gemm.map((g) => {
    const peak = g.threads === 1 ? r.peak_gflops_1t : r.peak_gflops;
    // GPU rows have no CPU peak to compare with
    return [`${g.m} x ${g.k} x ${g.n}`, label(g), g.threads, g.gflops, g.device === 'cuda' ? '' : (100 * g.gflops) / peak];
  });
  const eh = ['encoder', 'backend', 'threads', 'batch x seq', 'ms (median)', 'min-max ms', 'tokens/s', 'peak RSS MB'];
  const er: Cell[][] = r.encoder.map((e) => [
    e.preset,
    label(e),
    e.threads,
    `${e.batch} x ${e.seq}`,
    e.ms,
    `${e.ms_min.toFixed(0)}-${e.ms_max.toFixed(0)}`,
    e.tokens_per_s,
    e.peak_rss_mb,
  ]);
  const qh = ['int8 vs fp32', 'backend', 'threads', 'batch x seq', 'fp32 ms', 'int8 ms', 'speed-up (paired)', 'int8 tokens/s'];
  const qr: Cell[][] = ((r.int8 as Int8Row[] | undefined) ?? []).map((q) => [
    q.preset,
    q.backend,
    q.threads,
    `${q.batch} x ${q.seq}`,
    q.fp32_ms,
    q.int8_ms,
    `${q.speedup.toFixed(2)}x`,
    q.int8_tokens_per_s,
  ]);
  const notes: string[] = [];
  const nat = (p: string, t: number) =>
    r.encoder.find((e) => e.preset === p && e.backend === 'native' && e.device !== 'cuda' && e.threads === t);
  const was = (p: string) => r.encoder.find((e) => e.preset === p && e.backend === 'wasm');
  for (const p of new Set(r.encoder.map((e) => e.preset))) {
    const n1 = nat(p, 1);
    const w = was(p);
    if (n1 && w) notes.push(`${p}: wasm (simd128, 1 thread) / native (1 thread) time = ${(w.ms / n1.ms).toFixed(2)}x`);
  }
  const big = r.gemm.find((g) => g.backend === 'native' && g.device !== 'cuda' && g.threads === r.threads && g.k === 768 && g.n === 3072);
  if (big)
    notes.push(
      `GEMM 1024x768x3072 native ${r.threads} threads: ${((100 * big.gflops) / r.peak_gflops).toFixed(1)}% of the FMA peak measured in this run`,
    );
  const ev = r.eval as { tokens: number; medianMs: number } | undefined;
  if (ev) notes.push(`scoring ${ev.tokens.toLocaleString()} CoNLL tokens (conlleval rules): ${ev.medianMs.toFixed(0)} ms median`);
  const sp = r.breakout_speed as Array<{ backend: string; words: number; wordsPerSecond: number }> | undefined;
  for (const x of sp ?? [])
    notes.push(`break-out analysis ${x.backend}: ${(x.wordsPerSecond / 1e6).toFixed(2)} M words/s over ${x.words.toLocaleString()} words`);
  const head = `FMA peak (measured now): ${r.peak_gflops_1t.toFixed(1)} GFLOP/s on 1 thread, ${r.peak_gflops.toFixed(1)} on ${r.threads}`;
  const errs = r.errors.length ? `\nProblems:\n${r.errors.map((e) => `  - ${e}`).join('\n')}` : '';
  const int8Text = qr.length ? ['', textTable(qh, qr)] : [];
  const int8Md = qr.length ? ['', markdownTable(qh, qr)] : [];
  const text = [head, '', textTable(gh, gr), '', textTable(eh, er), ...int8Text, '', ...notes].join('\n') + errs;
  const md = [
    '# biomeg bench',
    '',
    head,
    '',
    markdownTable(gh, gr),
    '',
    markdownTable(eh, er),
    ...int8Md,
    '',
    ...notes.map((n) => `- ${n}`),
    errs,
    '',
  ].join('\n');
  return { text, md };
}
