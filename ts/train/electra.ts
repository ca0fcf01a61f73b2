// ELECTRA pre-training sessions (replaced-token detection), identical on the native and wasm
// backends: an ElectraSession keeps the generator (ElectraForMaskedLM), the discriminator
// (ElectraForPreTraining), their shared embeddings, gradients and optimizer moments in Rust.
// Each `step` hands over one masked batch; checkpoints and state files are written atomically.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadBackend, type Backend, type BackendChoice, type BackendName } from '../backend.js';
import type { ElectraSessionHandle } from '../binding.js';
import { BiomegError } from '../errors.js';
import { modelFiles, type ModelConfigJson } from '../model.js';
import { writeFileAtomic } from '../report.js';
import type { TrainBatch, TrainOptions } from './index.js';

/** TrainOptions (applied to both models; newHead is not one) plus ELECTRA's own. */
export interface ElectraOptions extends Omit<TrainOptions, 'newHead'> {
  /** lambda of loss = genLoss + lambda * discLoss [50, the ELECTRA paper's]. */
  discWeight?: number;
  /** Generator width, heads and MLP as a fraction of the discriminator's, when built from a
   *  config [0.25]; depth and embedding size are the same. */
  generatorFraction?: number;
}

export interface ElectraStepResult {
  /** genLoss + discWeight * discLoss. */
  loss: number;
  /** Generator masked-LM loss, mean over the masked positions. */
  genLoss: number;
  /** Discriminator binary cross-entropy, mean over the non-padding positions. */
  discLoss: number;
  masked: number;
  /** Masked positions whose generator argmax is the original token. */
  genCorrect: number;
  /** Masked positions whose sampled token differs from the original (discriminator label 1). */
  replaced: number;
  discCounted: number;
  /** Positions the discriminator classified right (logit > 0 = replaced). */
  discCorrect: number;
  updated: boolean;
  lr: number;
  gradNorm: number | null;
  step: number;
}

/** The generator and discriminator directories of an ELECTRA checkpoint `dir`: its `generator/`
 *  and `discriminator/` subdirectories, or `dir` itself as the discriminator with a sibling
 *  `generator/` directory. */
function electraDirs(dir: string): { gen: string; disc: string } {
  const sub = { gen: path.join(dir, 'generator'), disc: path.join(dir, 'discriminator') };
  if (existsSync(sub.gen) && existsSync(sub.disc)) return sub;
  const sibling = path.join(dir, '..', 'generator');
  if (existsSync(path.join(dir, 'config.json')) && existsSync(sibling)) return { gen: sibling, disc: dir };
  throw new BiomegError(
    'BIOMEG_BAD_ARGUMENT',
    `${dir}: an ELECTRA checkpoint needs generator/ (ElectraForMaskedLM) and discriminator/ (ElectraForPreTraining) directories`,
  );
}

export class ElectraSession {
  private constructor(
    private readonly be: Backend,
    private readonly handle: ElectraSessionHandle,
    readonly source: string,
  ) {}

  get backend(): BackendName {
    return this.be.name;
  }

  /** Continue pre-training from an ELECTRA checkpoint directory (see `electraDirs`). */
  static async load(dir: string, opts: ElectraOptions = {}, backend?: BackendChoice): Promise<ElectraSession> {
    const d = electraDirs(dir);
    const [g, k] = [modelFiles(d.gen), modelFiles(d.disc)];
    const parts = {
      genConfig: readFileSync(g.config, 'utf8'),
      genWeights: readFileSync(g.weights),
      discConfig: readFileSync(k.config, 'utf8'),
      discWeights: readFileSync(k.weights),
    };
    return ElectraSession.fromBytes(parts, opts, backend, dir);
  }

  static async fromBytes(
    parts: { genConfig: string; genWeights: Uint8Array; discConfig: string; discWeights: Uint8Array },
    opts: ElectraOptions = {},
    backend?: BackendChoice,
    source = 'bytes',
  ): Promise<ElectraSession> {
    const be = await loadBackend(backend);
    const handle = be.call((api) =>
      api.ElectraSession.fromBytes(parts.genConfig, parts.genWeights, parts.discConfig, parts.discWeights, JSON.stringify(opts)),
    );
    return new ElectraSession(be, handle, source);
  }

  /** Both models randomly initialised (BERT init, seeded) from the discriminator's config.json
   *  text (model_type electra); the generator is `generatorFraction` of its width. */
  static async fromConfig(configJson: string, opts: ElectraOptions = {}, backend?: BackendChoice): Promise<ElectraSession> {
    const be = await loadBackend(backend);
    const handle = be.call((api) => api.ElectraSession.fromConfig(configJson, JSON.stringify(opts)));
    return new ElectraSession(be, handle, 'config');
  }

  private call<T>(fn: (t: ElectraSessionHandle) => T): T {
    return this.be.call(() => fn(this.handle));
  }

  private async run(b: TrainBatch, labels: Int32Array, sampled: Uint32Array | undefined, evalOnly: boolean): Promise<ElectraStepResult> {
    const n = b.batch * b.seq;
    const [tys, mask] = [b.typeIds ?? new Uint32Array(n), b.mask ?? new Uint8Array(n).fill(1)];
    const r = await this.be.callAsync(() =>
      evalOnly
        ? this.handle.eval(b.ids, tys, mask, labels, b.batch, b.seq, sampled ?? null)
        : this.handle.step(b.ids, tys, mask, labels, b.batch, b.seq, sampled ?? null),
    );
    return { ...r, gradNorm: r.gradNorm ?? null };
  }

  /** Train on one masked batch: `b.ids` with [MASK]s, `labels` the original id at each masked
   *  position (-100 elsewhere). `sampled` (one token per masked position, in order) replaces
   *  the generator's seeded sampling, e.g. for parity tests. A joint optimizer update when an
   *  accumulation window completes; a NaN/inf loss rejects with BIOMEG_NONFINITE_LOSS. */
  step(b: TrainBatch, labels: Int32Array, sampled?: Uint32Array): Promise<ElectraStepResult> {
    return this.run(b, labels, sampled, false);
  }

  /** Losses and counts without dropout (replacements from a fixed sampling stream unless
   *  given); gradients untouched. */
  evaluate(b: TrainBatch, labels: Int32Array, sampled?: Uint32Array): Promise<ElectraStepResult> {
    return this.run(b, labels, sampled, true);
  }

  get optimizerSteps(): number {
    return this.call((t) => t.optimizerSteps());
  }
  get options(): Required<ElectraOptions> {
    return JSON.parse(this.call((t) => t.options()));
  }
  get generatorConfig(): ModelConfigJson {
    return JSON.parse(this.call((t) => t.generatorConfig()));
  }
  get discriminatorConfig(): ModelConfigJson {
    return JSON.parse(this.call((t) => t.discriminatorConfig()));
  }

  /** Both models' weights + optimizer moments + counters (safetensors bytes). */
  saveState(): Uint8Array {
    return this.call((t) => t.saveState());
  }
  loadState(bytes: Uint8Array, name = 'state.safetensors'): void {
    this.call((t) => t.loadState(bytes, name));
  }
  saveStateFile(file: string): void {
    writeFileAtomic(file, this.saveState());
  }
  loadStateFile(file: string): void {
    this.loadState(readFileSync(file), file);
  }

  /** Generator weights under Hugging Face ElectraForMaskedLM names. */
  exportGenerator(): Uint8Array {
    return this.call((t) => t.exportGenerator());
  }
  /** Discriminator weights under Hugging Face ElectraForPreTraining names. */
  exportDiscriminator(): Uint8Array {
    return this.call((t) => t.exportDiscriminator());
  }

  /** Write the discriminator (what fine-tuning loads) and the generator as Hugging Face model
   *  directories (config.json + model.safetensors, atomically); returns [discDir, genDir]. */
  saveCheckpoints(discDir: string, genDir: string, extraConfig: Record<string, unknown> = {}): string[] {
    const out: [string, Uint8Array, ModelConfigJson][] = [
      [discDir, this.exportDiscriminator(), this.discriminatorConfig],
      [genDir, this.exportGenerator(), this.generatorConfig],
    ];
    for (const [dir, weights, cfg] of out) {
      mkdirSync(dir, { recursive: true });
      writeFileAtomic(path.join(dir, 'model.safetensors'), weights);
      writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, ...extraConfig }, null, 1) + '\n');
    }
    return [discDir, genDir];
  }
}
