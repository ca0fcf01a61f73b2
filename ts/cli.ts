#!/usr/bin/env node
// `biomeg` command line: dispatches to one module per command under ts/commands/.
const COMMANDS: Record<string, { summary: string; load: () => Promise<{ main(argv: string[]): Promise<number> }> }> = {
  info: { summary: 'backends available, SIMD level, threads, cuBLAS found or not', load: () => import('./commands/info.js') },
  bench: { summary: 'benchmark suite (GEMM, encoder speed, break-out table)', load: () => import('./commands/bench.js') },
  eval: { summary: 'score prediction files (ner | re | qa | squad | squad2)', load: () => import('./commands/eval.js') },
  data: { summary: 'datasets: fetch, stats', load: () => import('./commands/data.js') },
  vocab: { summary: 'vocabularies: breakout, show, train', load: () => import('./commands/vocab.js') },
  train: { summary: 'fine-tune: ner | re | qa with presets, seeds, resume', load: () => import('./commands/train.js') },
  serve: { summary: 'serve the browser demo (examples/web) and bundle over HTTP', load: () => import('./commands/serve.js') },
  quantize: { summary: 'int8 quantization of a model folder (per-channel weights)', load: () => import('./commands/quantize.js') },
  pretrain: { summary: 'pre-train: mlm | electra from raw text, from scratch or continued', load: () => import('./commands/pretrain.js') },
  study: { summary: "the papers' studies at small scale: domain-transfer", load: () => import('./commands/study.js') },
  convert: { summary: 'Megatron-LM / NeMo checkpoints <-> Hugging Face folders', load: () => import('./commands/convert.js') },
};

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return ['Usage: biomeg <command> [options]', '', 'Commands:', ...rows, '', 'Run `biomeg <command> --help` for options.'].join('\n');
}

async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(usage());
    return cmd ? 0 : 1;
  }
  const entry = COMMANDS[cmd];
  if (!entry) {
    console.error(`biomeg: unknown command '${cmd}'\n\n${usage()}`);
    return 2;
  }
  const mod = await entry.load();
  return mod.main(rest);
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    const code = err?.code ? ` [${err.code}]` : '';
    console.error(`biomeg: ${err?.message ? err.message : err}${code}`);
    if (process.env.BIOMEG_DEBUG) console.error(err);
    process.exit(1);
  },
);
