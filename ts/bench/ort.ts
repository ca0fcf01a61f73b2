// `biomeg bench --ort`: biomeg against onnxruntime on the same ONNX export of the same shapes,
// paired in one process (bench/ort_pairs.mjs does the work: ONNX export with PyTorch, the
// onnxruntime-node / onnxruntime-web installs, the alternating runs). This runs it as a child
// process and returns its rows; it skips with the script's message when a peer is missing.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../backend.js';
import { markdownTable, textTable, type Cell } from '../report.js';

export interface OrtRow {
  preset: string;
  backend: 'native' | 'wasm';
  peer: string;
  threads: number;
  batch: number;
  seq: number;
  pairs: number;
  biomeg_ms: number;
  ort_ms: number;
  speed_vs_ort_paired: number;
  floor_ms?: number;
  biomeg_vs_floor?: number;
  peak_gflops?: number;
}

export interface OrtOptions {
  presets: string[];
  threads: number[];
  pairs: number;
  wasmPresets: string[];
  progress: (msg: string) => void;
}

/** Rows of the paired runs, or `skipped` with the reason the script gave. */
export async function runOrtPairs(o: OrtOptions): Promise<{ rows: OrtRow[]; skipped?: string }> {
  const script = path.join(ROOT, 'bench', 'ort_pairs.mjs');
  if (!existsSync(script)) return { rows: [], skipped: `${script} not found (a source checkout has it)` };
  const args = [
    script,
    '--json',
    '--presets',
    o.presets.join(','),
    '--threads',
    o.threads.join(','),
    '--pairs',
    String(o.pairs),
    '--wasm-presets',
    o.wasmPresets.length ? o.wasmPresets.join(',') : 'none',
  ];
  o.progress(`onnxruntime pairs: node ${args.map((a) => path.relative(ROOT, a) || a).join(' ')}`);
  const child = promisify(execFile)(process.execPath, args, { cwd: ROOT, maxBuffer: 64 << 20 });
  const { stdout } = await child;
  const skip = stdout.match(/^SKIPPED: (.*)$/m);
  if (skip) return { rows: [], skipped: skip[1] };
  const json = stdout.slice(stdout.indexOf('\n{') + 1);
  return { rows: (JSON.parse(json) as { rows: OrtRow[] }).rows };
}

/** Terminal and Markdown tables of the rows. */
export function renderOrt(rows: OrtRow[]): { text: string; md: string } {
  const head = [
    'model',
    'backend',
    'peer',
    'threads',
    'biomeg ms',
    'peer ms',
    'biomeg speed vs peer (paired)',
    'floor ms',
    'biomeg / floor',
  ];
  const body: Cell[][] = rows.map((r) => [
    r.preset,
    r.backend,
    r.peer,
    r.threads,
    r.biomeg_ms.toFixed(0),
    r.ort_ms.toFixed(0),
    `${r.speed_vs_ort_paired.toFixed(3)}x`,
    r.floor_ms ? r.floor_ms.toFixed(0) : '-',
    r.biomeg_vs_floor ? `${r.biomeg_vs_floor.toFixed(2)}x` : '-',
  ]);
  const note =
    'Same random-weight shapes; ONNX exported with torch.onnx.export (opset 17). Medians of alternating runs; the ratio is the median of per-pair peer/biomeg ratios (above 1: biomeg is faster). Floor: matmul FLOPs / the FMA peak measured in the run.';
  return { text: `${textTable(head, body)}\n${note}`, md: `## biomeg vs onnxruntime\n\n${markdownTable(head, body)}\n\n${note}\n` };
}
