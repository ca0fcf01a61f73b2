// Fine-tuning presets: the settings PAPERS.md reports, overridable option by option.
import { BiomegError } from '../errors.js';
import type { LabelScheme } from '../eval/decode.js';
import type { TaskName } from '../tasks/index.js';

export type FineTuneTask = TaskName;

/** Hyper-parameters a preset fixes (every one can be overridden). */
export interface Recipe {
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  /** Fraction of the optimizer steps spent in linear warm-up (then linear decay to 0). */
  warmupRatio: number;
  maxGradNorm: number;
  accumSteps: number;
  maxLength: number;
  /** Tokens shared by consecutive windows of a long input. */
  stride: number;
  scheme: LabelScheme;
  headLayers: 1 | 2;
  /** Width of a 2-FC head's first layer (0 = the encoder's hidden size). */
  headHidden: number;
  headDropout: number;
  hiddenDropout: number;
  attnDropout: number;
}

export interface Preset extends Partial<Recipe> {
  task: FineTuneTask;
  description: string;
}

const BASE: Recipe = {
  epochs: 3,
  batchSize: 32,
  lr: 5e-5,
  weightDecay: 0.01,
  warmupRatio: 0.1,
  maxGradNorm: 1.0,
  accumSteps: 1,
  maxLength: 128,
  stride: 32,
  scheme: 'first',
  headLayers: 1,
  headHidden: 0,
  headDropout: 0.1,
  hiddenDropout: 0.1,
  attnDropout: 0.1,
};

export const PRESETS: Record<string, Preset> = {
  'biomegatron-ner': {
    task: 'ner',
    description: 'BioMegatron NER: 30 epochs, Adam lr 5e-5, 1 FC head, dropout 0.5, max length 128, first-sub-token labels',
    epochs: 30,
    lr: 5e-5,
    headLayers: 1,
    headDropout: 0.5,
    maxLength: 128,
    scheme: 'first',
  },
  'biomegatron-ner-2fc': {
    task: 'ner',
    description: 'BioMegatron NER with the 2-FC head (hidden 512, dropout 0.5)',
    epochs: 30,
    lr: 5e-5,
    headLayers: 2,
    headHidden: 512,
    headDropout: 0.5,
    maxLength: 128,
    scheme: 'first',
  },
  'biomegatron-re': {
    task: 're',
    description: 'BioMegatron RE (ChemProt): 30 epochs, lr 5e-5, 1 FC head, dropout 0.5, max length 128',
    epochs: 30,
    lr: 5e-5,
    headLayers: 1,
    headDropout: 0.5,
    maxLength: 128,
  },
  'biomegatron-qa': {
    task: 'qa',
    description:
      'BioMegatron QA: 2 FC head (hidden 2048), dropout 0.1, max length 512, lr 3e-5, batch 64 (SQuAD 10 epochs, then BioASQ 30)',
    epochs: 10,
    batchSize: 64,
    lr: 3e-5,
    headLayers: 2,
    headHidden: 2048,
    headDropout: 0.1,
    maxLength: 512,
    stride: 128,
  },
  'biom-qa': {
    task: 'qa',
    description:
      'BioM-Transformers QA (run_squad.py settings of their BioASQ model card): 1 FC head, lr 5e-5, 3 epochs, batch 8 x 2 accumulation, no warm-up or weight decay, max length 512, stride 128; SQuAD v2.0 first (--transfer-from)',
    epochs: 3,
    batchSize: 8,
    accumSteps: 2,
    lr: 5e-5,
    weightDecay: 0,
    warmupRatio: 0,
    headLayers: 1,
    headDropout: 0.1,
    maxLength: 512,
    stride: 128,
  },
  'biom-chemprot': {
    task: 're',
    description: 'BioM-Transformers ChemProt timing setting: 3 epochs, batch 32, max length 128 (lr from their grid: 5e-5)',
    epochs: 3,
    batchSize: 32,
    lr: 5e-5,
    maxLength: 128,
  },
};

/** Default preset of each task. */
export const DEFAULT_PRESET: Record<FineTuneTask, string> = { ner: 'biomegatron-ner', re: 'biomegatron-re', qa: 'biomegatron-qa' };

/** The recipe of `preset` (default: the task's) with `overrides` applied (undefined = keep). */
export function resolveRecipe(task: FineTuneTask, preset: string | undefined, overrides: Partial<Recipe>): Recipe & { preset: string } {
  const name = preset ?? DEFAULT_PRESET[task];
  const p = PRESETS[name];
  if (!p) throw new BiomegError('BIOMEG_BAD_ARGUMENT', `unknown preset '${name}' (known: ${Object.keys(PRESETS).join(', ')})`);
  if (p.task !== task) throw new BiomegError('BIOMEG_BAD_ARGUMENT', `preset '${name}' is for ${p.task}, not ${task}`);
  const { task: _t, description: _d, ...fixed } = p;
  const r: Recipe = { ...BASE, ...fixed };
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) (r as unknown as Record<string, unknown>)[k] = v;
  if (r.scheme !== 'all' && r.scheme !== 'first')
    throw new BiomegError('BIOMEG_BAD_ARGUMENT', `scheme must be 'all' or 'first', got '${r.scheme}'`);
  if (r.headLayers !== 1 && r.headLayers !== 2)
    throw new BiomegError('BIOMEG_BAD_ARGUMENT', `head layers must be 1 or 2, got ${r.headLayers}`);
  for (const k of ['epochs', 'batchSize', 'maxLength', 'accumSteps'] as const) {
    if (!Number.isInteger(r[k]) || r[k] < 1) throw new BiomegError('BIOMEG_BAD_ARGUMENT', `${k} must be a positive integer, got ${r[k]}`);
  }
  if (r.maxLength < 8) throw new BiomegError('BIOMEG_BAD_ARGUMENT', `maxLength ${r.maxLength} is too small (>= 8)`);
  if (!(r.stride >= 0 && r.stride < r.maxLength - 2))
    throw new BiomegError('BIOMEG_BAD_ARGUMENT', `stride must be in [0, maxLength - 2), got ${r.stride}`);
  return { ...r, preset: name };
}
