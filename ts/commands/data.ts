// `biomeg data`: where the data lives, download it, convert ChemProt, show statistics.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chemprotSplitFiles, convertChemprot, writeChemprotTsv } from '../data/chemprot-convert.js';
import { BiomegError } from '../data/errors.js';
import { fetchDatasets, type Progress } from '../data/fetch.js';
import { resolveDataDir } from '../data/paths.js';
import { CHEMPROT_ORIGINAL, DATASETS } from '../data/registry.js';
import { DATA_SOURCES, type DataSource } from '../data/sources.js';
import { datasetStats, type SplitStats } from '../data/stats.js';
import { readFileSync } from 'node:fs';

const HELP = `Usage: biomeg data <subcommand> [options]

Subcommands:
  where                     print the data directory
  fetch [GROUP|FILE ...]    download the public datasets (groups: ner, chemprot, squad)
                            with sha256 checks, then derive ChemProt BLUE-style TSVs
  stats [DATASET ...]       sentences, tokens, mentions per type, labels, label bias
  convert-chemprot          original BioCreative VI ChemProt -> BLUE-style TSV
      --split train|dev|test  (reads the split from the data directory), or --in DIR
      --out FILE              write the TSV here (else only print counts)

Options:
  --data DIR      data directory (default: $BIOMEG_DATA, else the user cache)
  --mirror URL    fetch from <URL>/<path> instead of the canonical locations
                  (also $BIOMEG_DATA_MIRROR)
  --sources FILE  fetch: JSON list of {dest,url,sha256,bytes,group} replacing the built-in table
  --force         fetch: download again even if a verified copy is present
  --json          stats / convert-chemprot: print JSON
  -h, --help      this text

Datasets: ${DATASETS.map((d) => d.name).join(', ')}.
BioASQ is not downloaded: register at bioasq.org and place its files under <data>/bioasq-7b/.`;

function progressPrinter(): (p: Progress) => void {
  let last = '';
  let lastT = 0;
  const tty = process.stderr.isTTY;
  return (p) => {
    const now = Date.now();
    const done = p.total !== undefined && p.received >= p.total;
    if (!done && now - lastT < (tty ? 100 : 2000) && last === p.dest) return;
    lastT = now;
    last = p.dest;
    const mb = (n: number): string => (n / 1e6).toFixed(1);
    const pctText = p.total ? ` ${Math.min(100, Math.floor((100 * p.received) / p.total))}%` : '';
    const line = `${p.dest}  ${mb(p.received)}${p.total ? `/${mb(p.total)}` : ''} MB${pctText}`;
    process.stderr.write(tty ? `\r\x1b[K${line}${done ? '\n' : ''}` : `${line}\n`);
  };
}

function statsTable(stats: SplitStats[]): string {
  const fmt = (n: number | undefined): string => (n === undefined ? '' : n.toLocaleString('en-US'));
  const header = ['dataset', 'split', 'sentences', 'tokens', 'mentions', 'in-entity words', 'multi-word', 'label bias', 'labels'];
  const rows = stats.map((s) => [
    s.dataset,
    s.split,
    fmt(s.sentences),
    fmt(s.tokens),
    s.mentions
      ? Object.entries(s.mentions)
          .map(([t, n]) => `${t}=${fmt(n)}`)
          .join(' ')
      : s.questions !== undefined
        ? `${fmt(s.questions)} questions`
        : '',
    fmt(s.wordsInEntities),
    fmt(s.multiwordMentions),
    s.labelBias.toFixed(4),
    s.answerRepeats
      ? `answers=${fmt(s.answers)} repeats min=${s.answerRepeats.min} max=${s.answerRepeats.max}`
      : Object.entries(s.labels)
          .sort((a, b) => b[1] - a[1])
          .map(([l, n]) => `${l}=${fmt(n)}`)
          .join(' '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (i < 2 || i === r.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function loadSources(file: string): DataSource[] {
  const v = JSON.parse(readFileSync(file, 'utf8')) as DataSource[];
  if (!Array.isArray(v) || !v.every((s) => s && typeof s.dest === 'string' && typeof s.url === 'string' && typeof s.sha256 === 'string')) {
    throw new BiomegError('BIOMEG_BAD_DATA', 'expected a JSON array of {dest, url, sha256, bytes, group}', { file });
  }
  return v.map((s) => ({ ...s, group: s.group ?? 'custom', bytes: s.bytes ?? 0 }));
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      mirror: { type: 'string' },
      sources: { type: 'string' },
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      split: { type: 'string' },
      in: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const [sub, ...names] = positionals;
  if (values.help || !sub) {
    console.log(HELP);
    return values.help ? 0 : 1;
  }
  const { dir, source } = resolveDataDir(values.data);
  switch (sub) {
    case 'where':
      console.log(
        values.json
          ? JSON.stringify({ dir, source })
          : `${dir}  (from ${source === 'option' ? '--data' : source === 'env' ? 'BIOMEG_DATA' : 'user cache'})`,
      );
      return 0;
    case 'fetch': {
      const sources = values.sources ? loadSources(values.sources) : DATA_SOURCES;
      const files = await fetchDatasets({
        dataDir: dir,
        sources,
        only: names,
        mirror: values.mirror,
        force: values.force,
        onProgress: progressPrinter(),
      });
      for (const f of files)
        console.log(`${f.status.padEnd(10)} ${f.dest}${f.verified === false ? '  (differs from the reference copy)' : ''}`);
      console.log(`data directory: ${dir}`);
      return 0;
    }
    case 'stats': {
      for (const n of names)
        if (!DATASETS.some((d) => d.name === n))
          throw new BiomegError('BIOMEG_USAGE', `unknown dataset '${n}' (known: ${DATASETS.map((d) => d.name).join(', ')})`);
      const { stats, missing } = datasetStats(dir, names);
      if (values.json) console.log(JSON.stringify({ dataDir: dir, stats, missing }, null, 2));
      else {
        console.log(`data directory: ${dir}\n`);
        console.log(statsTable(stats));
        if (missing.length) console.log(`\nnot present (run \`biomeg data fetch\`): ${missing.join(', ')}`);
      }
      return stats.length ? 0 : 1;
    }
    case 'convert-chemprot': {
      const inDir = values.in ?? (values.split ? path.join(dir, CHEMPROT_ORIGINAL[values.split] ?? '') : undefined);
      if (!inDir || (values.split && !CHEMPROT_ORIGINAL[values.split]))
        throw new BiomegError('BIOMEG_USAGE', '--split train|dev|test or --in DIR is required');
      const r = convertChemprot(chemprotSplitFiles(inDir));
      if (values.out) writeChemprotTsv(values.out, r.rows);
      const summary = {
        rows: r.rows.length,
        goldRelations: r.goldRelations,
        goldInSentences: r.goldInSentences,
        abstracts: r.abstracts,
        labels: r.labels,
      };
      console.log(
        values.json
          ? JSON.stringify(summary, null, 2)
          : Object.entries(summary)
              .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
              .join('\n'),
      );
      return 0;
    }
    default:
      throw new BiomegError('BIOMEG_USAGE', `unknown subcommand '${sub}'\n\n${HELP}`);
  }
}
