// Megatron-LM / NeMo checkpoints in and out, without Python:
//   convertMegatron   model_optim_rng.pt | FILE.nemo | Megatron checkpoint folder -> Hugging Face megatron-bert folder
//   megatronModelParts   the same in memory (BiomegModel.load accepts a checkpoint directly)
//   exportMegatron    Hugging Face megatron-bert folder -> model_optim_rng.pt | FILE.nemo | Megatron folder
// See docs/megatron.md for the formats and what is (not) carried over.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { BiomegError } from '../errors.js';
import { writeFileAtomic } from '../report.js';
import { type ByteSource, MemorySink, badCheckpoint, withFileSource, writeFileStreaming } from './io.js';
import { type HfModel, KNOWN_VERSIONS, type MegatronSettings, hfToMegatron, megatronToHf } from './megatron.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { readTar, writeTar } from './tar.js';
import { TensorRef, loadTorch } from './torch-load.js';
import { type PyValue, torchSave, torchSaveChunks } from './torch-save.js';
import { type YamlMap, findKey, parseYaml, toYaml } from './yaml.js';

export interface MegatronReadOptions {
  /** vocab.txt to ship with the model (a .nemo carries its own). */
  vocab?: string;
  /** num_attention_heads when the checkpoint has no args (Megatron-LM before 2020). */
  heads?: number;
  /** Override the QKV layout version (0, 1, 2 or 3) the checkpoint declares. */
  checkpointVersion?: number;
  /** Override the MLP activation read from args (bias_gelu_fusion / openai_gelu -> tanh GELU). */
  hiddenAct?: 'gelu' | 'gelu_new';
}

export interface MegatronModel extends HfModel {
  /** The checkpoint file read (.pt or .nemo). */
  file: string;
  checkpointVersion: number;
  vocab: { text: string; from: string } | null;
  lowercase: boolean | undefined;
  notes: string[];
}

const CHECKPOINT_EXT = /\.(pt|nemo|ckpt)$/;

/** The checkpoint file `p` designates: the file itself, or in a folder a model_optim_rng.pt,
 *  a Megatron-LM save folder (latest_checkpointed_iteration.txt, release/ or iter_N/) or a
 *  single .nemo. Null when `p` is a Hugging Face folder or holds none of these. */
export function findMegatronCheckpoint(p: string): string | null {
  if (!existsSync(p)) return null;
  if (!statSync(p).isDirectory()) return CHECKPOINT_EXT.test(p) ? p : null;
  if (existsSync(path.join(p, 'config.json'))) return null;
  let dirs = ['.', 'release'];
  const tracker = path.join(p, 'latest_checkpointed_iteration.txt');
  if (existsSync(tracker)) {
    const tag = readFileSync(tracker, 'utf8').trim();
    dirs = [tag === 'release' ? 'release' : `iter_${tag.padStart(7, '0')}`];
  }
  for (const d of dirs) {
    const base = path.join(p, d);
    if (existsSync(path.join(base, 'mp_rank_01'))) {
      throw badCheckpoint(
        base,
        'tensor-parallel checkpoint (mp_rank_01 exists): merge it to one rank first (Megatron-LM tools/checkpoint)',
      );
    }
    for (const f of ['model_optim_rng.pt', 'mp_rank_00/model_optim_rng.pt', 'mp_rank_00_000/model_optim_rng.pt']) {
      if (existsSync(path.join(base, f))) return path.join(base, f);
    }
  }
  const nemo = readdirSync(p).filter((f) => f.endsWith('.nemo'));
  if (nemo.length === 1) return path.join(p, nemo[0]);
  return null;
}

/** Tensors of a state dict tree under dotted names. */
function flatten(tree: unknown, prefix: string, out: Map<string, TensorRef>): Map<string, TensorRef> {
  if (tree instanceof Map) {
    for (const [k, v] of tree) {
      if (typeof k !== 'string') continue;
      if (v instanceof TensorRef) out.set(prefix + k, v);
      else flatten(v, `${prefix}${k}.`, out);
    }
  }
  return out;
}

const ANCHOR = 'language_model.embedding.word_embeddings.weight';

/** Read a Megatron-LM .pt or a .nemo and convert it to a Hugging Face megatron-bert in memory. */
export function readMegatron(input: string, opts: MegatronReadOptions = {}): MegatronModel {
  const file = findMegatronCheckpoint(input);
  if (!file) throw new BiomegError('BIOMEG_IO', `${input}: no Megatron-LM checkpoint (.pt, .nemo or a Megatron save folder) found`);
  return withFileSource(file, (src) => {
    const notes: string[] = [];
    let yaml: YamlMap | null = null;
    let weights: ByteSource = src;
    let nemoVocab: { text: string; from: string } | null = null;
    const nemo = file.endsWith('.nemo');
    if (nemo) {
      const members = readTar(src);
      const cfg = members.get('model_config.yaml');
      if (cfg) yaml = parseYaml(new TextDecoder().decode(cfg.read(0, cfg.size)));
      if (members.has('mp_rank_01/model_weights.ckpt'))
        throw badCheckpoint(file, 'tensor-parallel .nemo (mp_rank_01): merge it to one rank first');
      const w = members.get('model_weights.ckpt') ?? members.get('mp_rank_00/model_weights.ckpt');
      if (!w) {
        const dist = [...members.keys()].some((k) => k.startsWith('model_weights/'));
        throw badCheckpoint(
          file,
          dist ? 'holds a distributed checkpoint (model_weights/), which is not supported' : 'has no model_weights.ckpt',
        );
      }
      weights = w;
      const ref = yaml ? findKey(yaml, 'vocab_file') : undefined;
      const member =
        typeof ref === 'string' && ref.startsWith('nemo:') ? ref.slice(5) : [...members.keys()].find((k) => k.endsWith('vocab.txt'));
      const v = member ? members.get(member) : undefined;
      if (v) nemoVocab = { text: new TextDecoder().decode(v.read(0, v.size)), from: `${file}:${member}` };
    }
    const tree = loadTorch(weights);
    if (!(tree instanceof Map)) throw badCheckpoint(weights.name, 'the checkpoint is not a dict');
    const megatronDict = tree.has('model');
    const args = tree.get('args') instanceof Map ? (tree.get('args') as Map<unknown, unknown>) : null;
    const all = flatten(megatronDict ? tree.get('model') : (tree.get('state_dict') ?? tree), '', new Map());
    const anchor = [...all.keys()].find((k) => k.endsWith(ANCHOR));
    if (anchor === undefined) {
      const mcore = [...all.keys()].some((k) => k.includes('decoder.layers.') || k.endsWith('embedding.word_embeddings.weight'));
      throw new BiomegError(
        'BIOMEG_MISSING_TENSOR',
        mcore
          ? 'Megatron-Core (mcore) tensor names are not supported: only the Megatron-LM BERT layout (language_model.*) is read'
          : `tensor ${ANCHOR} is missing: not a Megatron-BERT checkpoint (${all.size} tensors, e.g. ${[...all.keys()].slice(0, 3).join(', ')})`,
        { file: weights.name },
      );
    }
    const prefix = anchor.slice(0, -ANCHOR.length);
    const state = new Map<string, TensorRef>();
    for (const [k, v] of all) if (k.startsWith(prefix)) state.set(k.slice(prefix.length), v);

    const setting = (k: string) => (args?.has(k) ? args.get(k) : yaml ? findKey(yaml, k) : undefined);
    const heads = opts.heads ?? setting('num_attention_heads');
    if (typeof heads !== 'number' || !Number.isInteger(heads) || heads < 1) {
      throw badCheckpoint(
        weights.name,
        'no num_attention_heads in the checkpoint (no args: Megatron-LM before 2020?): pass it as heads / --heads N',
      );
    }
    const declared = tree.get('checkpoint_version');
    const version = opts.checkpointVersion ?? (typeof declared === 'number' ? declared : nemo ? 3 : 0);
    if (!KNOWN_VERSIONS.includes(version)) {
      throw badCheckpoint(
        weights.name,
        `checkpoint_version ${version} is unknown (known: 0, 1.0, 2.0, 3.0); the fused QKV layout depends on it and guessing would give silently wrong outputs`,
      );
    }
    const activation = setting('activation');
    if (typeof activation === 'string' && activation !== 'gelu')
      throw badCheckpoint(weights.name, `activation ${activation} is not supported (gelu only)`);
    const tanh = Boolean(setting('openai_gelu') || setting('bias_gelu_fusion') || setting('bias_activation_fusion'));
    const eps = setting('layernorm_epsilon');
    const settings: MegatronSettings = {
      file: weights.name,
      version,
      heads,
      layerNormEps: typeof eps === 'number' ? eps : 1e-5,
      hiddenAct: opts.hiddenAct ?? (tanh ? 'gelu_new' : 'gelu'),
    };
    const hf = megatronToHf(state, settings, (n) => prefix + n);
    const tokenizer = setting('tokenizer_type') ?? (yaml ? findKey((findKey(yaml, 'tokenizer') as YamlMap) ?? {}, 'type') : undefined);
    const lowercase = typeof tokenizer === 'string' && /^BertWordPiece/.test(tokenizer) ? /LowerCase/.test(tokenizer) : undefined;
    let vocab = nemoVocab;
    const sibling = path.join(path.dirname(file), 'vocab.txt');
    if (opts.vocab) vocab = { text: readVocab(opts.vocab), from: opts.vocab };
    else if (!vocab && existsSync(sibling)) vocab = { text: readVocab(sibling), from: sibling };
    if (!vocab) notes.push('no vocabulary found: pass vocab / --vocab FILE to ship one with the model');
    if (vocab) {
      const n = vocab.text.split('\n').filter((l) => l.length > 0).length;
      if (n > (hf.config.vocab_size as number)) {
        throw new BiomegError(
          'BIOMEG_VOCAB_MISMATCH',
          `${vocab.from} has ${n} entries but the checkpoint's embedding has ${hf.config.vocab_size} rows`,
        );
      }
    }
    hf.config.biomeg_source = { file, checkpoint_version: version, tokenizer_type: tokenizer ?? null };
    return { ...hf, file, checkpointVersion: version, vocab, lowercase, notes };
  });
}

function readVocab(file: string): string {
  if (!existsSync(file)) throw new BiomegError('BIOMEG_IO', `${file}: no such vocabulary file`);
  return readFileSync(file, 'utf8');
}

/** Convert a Megatron-LM / NeMo checkpoint into a Hugging Face megatron-bert folder that
 *  BiomegModel.load (and transformers) read: config.json, model.safetensors, vocab.txt,
 *  tokenizer_config.json. */
export async function convertMegatron(
  input: string,
  outDir: string,
  opts: MegatronReadOptions = {},
): Promise<MegatronModel & { outDir: string }> {
  const m = readMegatron(input, opts);
  writeFileStreaming(path.join(outDir, 'model.safetensors'), (sink) => writeSafetensors(sink, m.tensors, { format: 'pt' }));
  writeFileAtomic(path.join(outDir, 'config.json'), `${JSON.stringify(m.config, null, 2)}\n`);
  if (m.vocab) {
    writeFileAtomic(path.join(outDir, 'vocab.txt'), m.vocab.text);
    const tokenizerConfig = {
      tokenizer_class: 'BertTokenizer',
      do_lower_case: m.lowercase ?? true,
      model_max_length: m.config.max_position_embeddings,
      unk_token: '[UNK]',
      sep_token: '[SEP]',
      pad_token: '[PAD]',
      cls_token: '[CLS]',
      mask_token: '[MASK]',
    };
    writeFileAtomic(path.join(outDir, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfig, null, 2)}\n`);
  }
  return { ...m, outDir };
}

/** What BiomegModel.fromBytes needs, converted in memory. */
export function megatronModelParts(input: string, opts: MegatronReadOptions = {}) {
  const m = readMegatron(input, opts);
  const sink = new MemorySink();
  writeSafetensors(sink, m.tensors);
  return {
    config: JSON.stringify(m.config),
    weights: sink.bytes(),
    vocab: m.vocab?.text,
    vocabName: m.vocab?.from,
    lowercase: m.lowercase,
  };
}

export interface ExportResult {
  /** Files written. */
  files: string[];
  /** Heads the Hugging Face model lacked and that were initialised as Megatron-LM would. */
  initialised: string[];
  paddedVocab: number;
}

/** Write a Hugging Face megatron-bert folder as a checkpoint Megatron-LM (or NeMo) can continue
 *  training from: `out` ending in .pt -> one model_optim_rng.pt; .nemo -> a NeMo archive;
 *  anything else -> a Megatron-LM save folder (latest_checkpointed_iteration.txt = release,
 *  release/mp_rank_00/model_optim_rng.pt, vocab.txt). */
export async function exportMegatron(hfDir: string, out: string, opts: { seed?: number } = {}): Promise<ExportResult> {
  const configFile = path.join(hfDir, 'config.json');
  const weightsFile = path.join(hfDir, 'model.safetensors');
  for (const f of [configFile, weightsFile])
    if (!existsSync(f)) throw new BiomegError('BIOMEG_IO', `${f} not found (a model folder holds config.json and model.safetensors)`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(configFile, 'utf8'));
  } catch (e) {
    throw new BiomegError('BIOMEG_BAD_CONFIG', `not valid JSON (${(e as Error).message})`, { file: configFile });
  }
  if (config.model_type !== 'megatron-bert' && config.model_type !== 'megatron_bert') {
    throw new BiomegError(
      'BIOMEG_BAD_CONFIG',
      `model_type ${config.model_type}: only megatron-bert models (pre-LayerNorm) map onto Megatron-LM's BERT`,
      {
        file: configFile,
      },
    );
  }
  const tensors = withFileSource(weightsFile, readSafetensors);
  const prefix = ['bert.', 'megatron_bert.', 'model.', ''].find((p) => tensors.has(`${p}embeddings.word_embeddings.weight`)) ?? 'bert.';
  const vocabFile = path.join(hfDir, 'vocab.txt');
  const vocab = existsSync(vocabFile) ? readFileSync(vocabFile, 'utf8') : null;
  const exported = hfToMegatron(
    {
      file: weightsFile,
      config,
      get: (n) => tensors.get(n.startsWith('bert.') ? prefix + n.slice(5) : n),
      lowercase: lowercaseOf(hfDir, vocab),
    },
    opts.seed,
  );
  const files: string[] = [];
  const saveTo = (file: string, obj: PyValue) => {
    writeFileStreaming(file, (sink) => torchSave(sink, obj, path.basename(file).replace(/\.[^.]*$/, '') || 'archive'));
    files.push(file);
  };
  const enc = (s: string) => [new TextEncoder().encode(s)];
  if (out.endsWith('.nemo')) {
    const members: Array<[string, Uint8Array[]]> = [
      ['./model_config.yaml', enc(toYaml(nemoConfig(exported.checkpoint.args as Map<string, unknown>, vocab !== null)))],
      ['./model_weights.ckpt', torchSaveChunks(exported.flat, 'model_weights')],
    ];
    if (vocab !== null) members.push(['./vocab.txt', enc(vocab)]);
    writeFileStreaming(out, (sink) => writeTar(sink, members));
    files.push(out);
  } else if (out.endsWith('.pt')) {
    saveTo(out, exported.checkpoint as PyValue);
  } else {
    saveTo(path.join(out, 'release', 'mp_rank_00', 'model_optim_rng.pt'), exported.checkpoint as PyValue);
    writeFileAtomic(path.join(out, 'latest_checkpointed_iteration.txt'), 'release');
    files.push(path.join(out, 'latest_checkpointed_iteration.txt'));
    if (vocab !== null) {
      writeFileAtomic(path.join(out, 'vocab.txt'), vocab);
      files.push(path.join(out, 'vocab.txt'));
    }
  }
  return { files, initialised: exported.initialised, paddedVocab: exported.paddedVocab };
}

/** do_lower_case from tokenizer_config.json, else: a vocabulary without capitals is uncased. */
function lowercaseOf(dir: string, vocab: string | null): boolean {
  const tc = path.join(dir, 'tokenizer_config.json');
  if (existsSync(tc)) {
    const v = JSON.parse(readFileSync(tc, 'utf8')).do_lower_case;
    if (typeof v === 'boolean') return v;
  }
  return !(vocab ?? '').split('\n').some((t) => !/^\[.*\]$/.test(t) && /\p{Lu}/u.test(t));
}

/** model_config.yaml of the exported .nemo: NeMo's Megatron-BERT keys for these sizes. */
function nemoConfig(args: Map<string, unknown>, hasVocab: boolean): YamlMap {
  const a = (k: string) => {
    const v = args.get(k);
    return (v && typeof v === 'object' && 'value' in v ? (v as { value: number }).value : v) as YamlMap[string];
  };
  return {
    target: 'nemo.collections.nlp.models.language_modeling.megatron_bert_model.MegatronBertModel',
    precision: 32,
    tensor_model_parallel_size: 1,
    pipeline_model_parallel_size: 1,
    encoder_seq_length: a('seq_length'),
    max_position_embeddings: a('max_position_embeddings'),
    num_layers: a('num_layers'),
    hidden_size: a('hidden_size'),
    ffn_hidden_size: a('ffn_hidden_size'),
    num_attention_heads: a('num_attention_heads'),
    init_method_std: a('init_method_std'),
    hidden_dropout: a('hidden_dropout'),
    layernorm_epsilon: a('layernorm_epsilon'),
    make_vocab_size_divisible_by: 128,
    num_tokentypes: a('num_tokentypes'),
    bert_binary_head: true,
    bias_gelu_fusion: a('bias_gelu_fusion'),
    tokenizer: {
      library: 'megatron',
      type: a('tokenizer_type'),
      model: null,
      vocab_file: hasVocab ? 'nemo:vocab.txt' : null,
      merge_file: null,
    },
  };
}
