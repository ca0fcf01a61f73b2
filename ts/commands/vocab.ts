// `biomeg vocab`: sub-token break-out table, tokenizations of words, vocabulary learning.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { BackendChoice } from '../backend.js';
import { resolveDataDir } from '../data/paths.js';
import { loadTokenizer, trainVocab, TextError, writeFileAtomic } from '../text/index.js';
import { breakoutMarkdown, breakoutTable, DEFAULT_DATASETS, parseVocabSpec } from '../text/table.js';

const HELP = `Usage: biomeg vocab <subcommand> [options]

Subcommands:
  breakout --vocab FILE ... [--data DIR] [--split train] [--dataset NAME ...] [--json] [--out DIR]
      Sub-token break-out rate (sub-tokens / words over the words inside entity mentions) for
      each vocabulary x NER dataset (default: ${DEFAULT_DATASETS.join(', ')}). Prints a table and
      writes breakout.md + breakout.json to --out (default: reports/). --json prints the JSON.
  show WORD ... --vocab FILE ... [--label B-Disease]
      The tokenization of each word under each vocabulary, with both labelling schemes:
      (a) every sub-token carries the word's label, (b) first sub-token only (X = masked).
  train --corpus FILE --size N [--uncased] [--model wordpiece|unigram] --out DIR [--min-frequency 2]
      Learn a vocabulary (WordPiece -> vocab.txt, unigram -> tokenizer.json) + meta.json.

Options:
  --vocab FILE      vocab.txt, tokenizer.json, spiece.model or a folder holding one; append :cased
                    or :uncased to force the casing of a vocab.txt (default: meta.json of a learned
                    vocabulary, else detected from the vocabulary: almost no upper-case pieces =
                    uncased)
  --data DIR        data directory (default: $BIOMEG_DATA, else the user cache)
  --backend B       native | wasm | auto (default auto)
  -h, --help        this text`;

/** Command-line syntax errors are BIOMEG_USAGE (docs/errors.md). */
function usage(msg: string): never {
  throw new TextError('BIOMEG_USAGE', `${msg}\n\n${HELP}`);
}

export async function main(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '-h' || sub === '--help') {
    console.log(HELP);
    return sub ? 0 : 1;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      vocab: { type: 'string', multiple: true },
      data: { type: 'string' },
      split: { type: 'string' },
      dataset: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      out: { type: 'string' },
      label: { type: 'string' },
      corpus: { type: 'string' },
      size: { type: 'string' },
      uncased: { type: 'boolean' },
      model: { type: 'string' },
      'min-frequency': { type: 'string' },
      backend: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const backend = (values.backend ?? 'auto') as BackendChoice;
  if (!['native', 'wasm', 'auto'].includes(backend)) usage(`--backend must be native, wasm or auto`);

  if (sub === 'breakout') {
    if (!values.vocab?.length) usage('breakout needs at least one --vocab');
    const dataDir = resolveDataDir(values.data).dir;
    const rows = await breakoutTable(values.vocab.map(parseVocabSpec), {
      dataDir,
      datasets: values.dataset,
      split: values.split ?? 'train',
      backend,
    });
    const json = JSON.stringify({ results: rows }, null, 2) + '\n';
    const md = breakoutMarkdown(rows);
    const out = values.out ?? 'reports';
    mkdirSync(out, { recursive: true });
    writeFileAtomic(path.join(out, 'breakout.json'), json);
    writeFileAtomic(path.join(out, 'breakout.md'), md);
    if (values.json) process.stdout.write(json);
    else console.log(`${md}\nwritten: ${path.join(out, 'breakout.md')}, ${path.join(out, 'breakout.json')}`);
    return 0;
  }

  if (sub === 'show') {
    if (!values.vocab?.length) usage('show needs at least one --vocab');
    if (!positionals.length) usage('show needs at least one WORD');
    const label = values.label ?? 'B';
    const result = [];
    for (const spec of values.vocab.map(parseVocabSpec)) {
      const tok = await loadTokenizer(spec.path, { lowercase: spec.lowercase, backend });
      const ex = tok.labelExamples(
        positionals,
        positionals.map(() => label),
      );
      result.push({ vocab: tok.name, lowercase: tok.lowercase, examples: ex });
    }
    if (values.json) {
      process.stdout.write(JSON.stringify({ results: result }, null, 2) + '\n');
      return 0;
    }
    for (const r of result) {
      console.log(`${r.vocab} (${r.lowercase ? 'uncased' : 'cased'})`);
      for (const e of r.examples) {
        const w = Math.max(...e.tokens.map((t) => t.length), 1, ...e.all.map((l) => l.length));
        const row = (cells: string[]): string =>
          cells
            .map((c) => c.padEnd(w))
            .join(' ')
            .trimEnd();
        console.log(`  ${e.word}  -> ${e.tokens.length} sub-token${e.tokens.length === 1 ? '' : 's'}`);
        console.log(`    tokens     ${row(e.tokens)}`);
        console.log(`    (a) all    ${row(e.all)}`);
        console.log(`    (b) first  ${row(e.first)}`);
      }
    }
    return 0;
  }

  if (sub === 'train') {
    if (!values.corpus) usage('train needs --corpus FILE');
    if (!values.out) usage('train needs --out DIR');
    const size = Number(values.size);
    if (!values.size || !Number.isInteger(size) || size < 6) usage(`train needs --size N (an integer >= 6), got '${values.size ?? ''}'`);
    const model = values.model ?? 'wordpiece';
    if (model !== 'wordpiece' && model !== 'unigram') usage(`--model must be wordpiece or unigram, got '${model}'`);
    const minFrequency = values['min-frequency'] === undefined ? undefined : Number(values['min-frequency']);
    const t0 = Date.now();
    const { meta, file } = await trainVocab(values.corpus, values.out, {
      size,
      lowercase: values.uncased ?? false,
      model,
      minFrequency,
      backend,
    });
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    console.log(
      `${file}: ${meta.vocabSize} entries (${meta.model}, ${meta.lowercase ? 'uncased' : 'cased'}, asked ${meta.size}) from ${meta.corpusLines} lines of ${meta.corpus} in ${secs} s`,
    );
    return 0;
  }
  usage(`unknown subcommand '${sub}'`);
}
