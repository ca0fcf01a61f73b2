// Megatron-BERT <-> Hugging Face megatron-bert: tensor names, the fused QKV layout of each
// checkpoint version, and the config. The QKV rows are the silent-accuracy trap: Megatron-LM
// stored them as [3, heads, head_dim] (checkpoint_version 0), [heads, head_dim, 3] (1.0) and
// [heads, 3, head_dim] (2.0 and 3.0); Hugging Face wants Q, K and V as three [hidden, hidden]
// blocks. Megatron-LM's fix_query_key_value_ordering and transformers'
// convert_megatron_bert_checkpoint.py apply the same permutation; an unknown version is refused.
import { BiomegError } from '../errors.js';
import type { NamedTensor } from './safetensors.js';
import type { TensorRef } from './torch-load.js';
import { PyFloat, TensorOut } from './torch-save.js';
import { Namespace } from './pickle.js';
import { normalStream } from '../rng.js';

export const KNOWN_VERSIONS = [0, 1, 2, 3];

/** Where the fused row of (part j in q/k/v, head a, element d) sits in a checkpoint version. */
function fusedRow(version: number, j: number, a: number, d: number, heads: number, hd: number): number {
  if (version === 0) return (j * heads + a) * hd + d;
  if (version === 1) return (a * hd + d) * 3 + j;
  return (a * 3 + j) * hd + d;
}

/** Fused QKV ([3 * hidden, cols] row-major) in `version`'s layout -> Q, K, V blocks. */
export function splitQkv(fused: Float32Array, version: number, heads: number, hidden: number, cols: number): Float32Array[] {
  const hd = hidden / heads;
  const parts = [0, 1, 2].map(() => new Float32Array(hidden * cols));
  for (let j = 0; j < 3; j++)
    for (let a = 0; a < heads; a++)
      for (let d = 0; d < hd; d++) {
        const from = fusedRow(version, j, a, d, heads, hd) * cols;
        parts[j].set(fused.subarray(from, from + cols), (a * hd + d) * cols);
      }
  return parts;
}

/** Q, K, V blocks -> fused rows in the layout of checkpoint_version 3.0. */
export function fuseQkv(parts: Float32Array[], heads: number, hidden: number, cols: number): Float32Array {
  const hd = hidden / heads;
  const out = new Float32Array(3 * hidden * cols);
  for (let j = 0; j < 3; j++)
    for (let a = 0; a < heads; a++)
      for (let d = 0; d < hd; d++) {
        const from = (a * hd + d) * cols;
        out.set(parts[j].subarray(from, from + cols), fusedRow(3, j, a, d, heads, hd) * cols);
      }
  return out;
}

/** Per-layer names: Megatron suffix -> Hugging Face suffix (Linear or LayerNorm). */
const LAYER_NAMES: Array<[string, string]> = [
  ['input_layernorm', 'attention.ln'],
  ['self_attention.dense', 'attention.output.dense'],
  ['post_attention_layernorm', 'ln'],
  ['mlp.dense_h_to_4h', 'intermediate.dense'],
  ['mlp.dense_4h_to_h', 'output.dense'],
];
/** Optional heads: Megatron name -> Hugging Face name. */
const HEAD_NAMES: Array<[string, string]> = [
  ['language_model.pooler.dense', 'bert.pooler.dense'],
  ['lm_head.dense', 'cls.predictions.transform.dense'],
  ['lm_head.layernorm', 'cls.predictions.transform.LayerNorm'],
  ['binary_head', 'cls.seq_relationship'],
];

export interface MegatronSettings {
  /** Where errors point (the .pt or .nemo). */
  file: string;
  version: number;
  heads: number;
  layerNormEps: number;
  hiddenAct: 'gelu' | 'gelu_new';
}

export interface HfModel {
  config: Record<string, unknown>;
  tensors: NamedTensor[];
}

/** Megatron tensors (flat names without the model prefix) -> a Hugging Face megatron-bert. */
export function megatronToHf(state: Map<string, TensorRef>, s: MegatronSettings, cite: (name: string) => string): HfModel {
  const get = (name: string, shape: number[] | null): Float32Array => {
    const t = state.get(name);
    if (!t) throw new BiomegError('BIOMEG_MISSING_TENSOR', `tensor ${cite(name)} is missing`, { file: s.file });
    if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
      throw new BiomegError('BIOMEG_SHAPE_MISMATCH', `tensor ${cite(name)} has shape [${t.shape}], expected [${shape}]`, { file: s.file });
    }
    return t.toFloat32(cite(name));
  };
  const shapeOf = (name: string) => {
    const t = state.get(name);
    if (!t) throw new BiomegError('BIOMEG_MISSING_TENSOR', `tensor ${cite(name)} is missing`, { file: s.file });
    return t.shape;
  };
  const [vocab, hidden] = shapeOf('language_model.embedding.word_embeddings.weight');
  if (hidden % s.heads !== 0) {
    throw new BiomegError('BIOMEG_BAD_CHECKPOINT', `hidden size ${hidden} is not a multiple of num_attention_heads ${s.heads}`, {
      file: s.file,
    });
  }
  const enc = state.has('language_model.encoder.final_layernorm.weight') ? 'language_model.encoder' : 'language_model.transformer';
  const layerIds = new Set<number>();
  for (const k of state.keys()) {
    const m = /^language_model\.(?:encoder|transformer)\.layers\.(\d+)\./.exec(k);
    if (m) layerIds.add(Number(m[1]));
  }
  const layers = layerIds.size;
  const ffn = state.get(`${enc}.layers.0.mlp.dense_h_to_4h.weight`)?.shape[0] ?? 4 * hidden;
  const out: NamedTensor[] = [];
  const put = (name: string, shape: number[], data: Float32Array) => out.push({ name, shape, data });
  const copy = (from: string, to: string, shape: number[]) => put(to, shape, get(from, shape));
  const linear = (from: string, to: string, o: number, i: number) => {
    copy(`${from}.weight`, `${to}.weight`, [o, i]);
    copy(`${from}.bias`, `${to}.bias`, [o]);
  };
  const norm = (from: string, to: string) => {
    copy(`${from}.weight`, `${to}.weight`, [hidden]);
    copy(`${from}.bias`, `${to}.bias`, [hidden]);
  };

  copy('language_model.embedding.word_embeddings.weight', 'bert.embeddings.word_embeddings.weight', [vocab, hidden]);
  const pos = shapeOf('language_model.embedding.position_embeddings.weight')[0];
  copy('language_model.embedding.position_embeddings.weight', 'bert.embeddings.position_embeddings.weight', [pos, hidden]);
  const types = state.get('language_model.embedding.tokentype_embeddings.weight')?.shape[0] ?? 0;
  if (types) copy('language_model.embedding.tokentype_embeddings.weight', 'bert.embeddings.token_type_embeddings.weight', [types, hidden]);
  else put('bert.embeddings.token_type_embeddings.weight', [2, hidden], new Float32Array(2 * hidden)); // trained without token types

  for (let i = 0; i < layers; i++) {
    const from = `${enc}.layers.${i}`;
    const to = `bert.encoder.layer.${i}`;
    const attn = state.has(`${from}.self_attention.query_key_value.weight`) ? 'self_attention' : 'attention';
    for (const kind of ['weight', 'bias']) {
      const cols = kind === 'weight' ? hidden : 1;
      const fused = get(`${from}.${attn}.query_key_value.${kind}`, kind === 'weight' ? [3 * hidden, hidden] : [3 * hidden]);
      splitQkv(fused, s.version, s.heads, hidden, cols).forEach((data, j) => {
        put(`${to}.attention.self.${['query', 'key', 'value'][j]}.${kind}`, kind === 'weight' ? [hidden, hidden] : [hidden], data);
      });
    }
    for (const [m, h] of LAYER_NAMES) {
      const name = `${from}.${m.replace('self_attention', attn)}`;
      if (m === 'mlp.dense_h_to_4h') linear(name, `${to}.${h}`, ffn, hidden);
      else if (m === 'mlp.dense_4h_to_h') linear(name, `${to}.${h}`, hidden, ffn);
      else if (m.endsWith('layernorm')) norm(name, `${to}.${h}`);
      else linear(name, `${to}.${h}`, hidden, hidden);
    }
  }
  norm(`${enc}.final_layernorm`, 'bert.encoder.ln');
  const present = HEAD_NAMES.filter(([m]) => state.has(`${m}.weight`));
  for (const [m, h] of present) {
    const shape = state.get(`${m}.weight`)?.shape ?? [];
    if (shape.length === 1) norm(m, h);
    else linear(m, h, shape[0], hidden);
  }
  if (state.has('lm_head.bias')) copy('lm_head.bias', 'cls.predictions.bias', [vocab]);

  const pretraining = state.has('lm_head.bias') && state.has('binary_head.weight');
  const config = {
    architectures: [pretraining ? 'MegatronBertForPreTraining' : 'MegatronBertModel'],
    model_type: 'megatron-bert',
    vocab_size: vocab,
    hidden_size: hidden,
    num_hidden_layers: layers,
    num_attention_heads: s.heads,
    intermediate_size: ffn,
    hidden_act: s.hiddenAct,
    hidden_dropout_prob: 0.1,
    attention_probs_dropout_prob: 0.1,
    max_position_embeddings: pos,
    type_vocab_size: types || 2,
    initializer_range: 0.02,
    layer_norm_eps: s.layerNormEps,
    pad_token_id: 0,
    position_embedding_type: 'absolute',
    tie_word_embeddings: true,
  };
  return { config, tensors: out };
}

export interface MegatronExport {
  /** The checkpoint dict Megatron-LM saves (model, args, checkpoint_version 3.0, iteration). */
  checkpoint: Record<string, unknown>;
  /** The same model tensors as NeMo's flat state dict (`model.` prefix). */
  flat: Map<string, TensorOut>;
  /** Heads the Hugging Face model lacked, initialised as Megatron-LM would. */
  initialised: string[];
  paddedVocab: number;
}

export interface HfSource {
  file: string;
  config: Record<string, unknown>;
  /** Tensor by Hugging Face name (prefix normalised to `bert.`), undefined if absent. */
  get(name: string): NamedTensor | undefined;
  lowercase: boolean;
}

/** A Hugging Face megatron-bert -> Megatron-LM's checkpoint (version 3.0 layout). */
export function hfToMegatron(src: HfSource, seed = 1234): MegatronExport {
  const c = src.config;
  const num = (k: string) => {
    const v = c[k];
    if (typeof v !== 'number') throw new BiomegError('BIOMEG_BAD_CONFIG', `config.json has no numeric ${k}`, { file: src.file });
    return v;
  };
  const [hidden, layers, heads, ffn, vocab] = [
    'hidden_size',
    'num_hidden_layers',
    'num_attention_heads',
    'intermediate_size',
    'vocab_size',
  ].map(num);
  const paddedVocab = Math.ceil(vocab / 128) * 128; // Megatron pads to make_vocab_size_divisible_by (128)
  const std = typeof c.initializer_range === 'number' ? c.initializer_range : 0.02;
  const rand = normalStream(seed);
  const initialised: string[] = [];
  const need = (name: string, shape: number[]): Float32Array => {
    const t = src.get(name);
    if (!t) throw new BiomegError('BIOMEG_MISSING_TENSOR', `tensor ${name} is missing`, { file: src.file });
    if (t.shape.join() !== shape.join()) {
      throw new BiomegError('BIOMEG_SHAPE_MISMATCH', `tensor ${name} has shape [${t.shape}], expected [${shape}]`, { file: src.file });
    }
    return t.data;
  };
  const tensor = (data: Float32Array, shape: number[]) => new TensorOut(data, shape);
  const padRows = (data: Float32Array, rows: number, cols: number) => {
    const out = new Float32Array(rows * cols);
    out.set(data);
    return out;
  };
  /** A head tensor, or Megatron's init for it when the Hugging Face model has none. */
  const head = (name: string, shape: number[], init: 'normal' | 'ones' | 'zeros'): TensorOut => {
    if (src.get(name)) return tensor(need(name, shape), shape);
    initialised.push(name);
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (init === 'ones') data.fill(1);
    if (init === 'normal') for (let i = 0; i < n; i++) data[i] = rand() * std;
    return tensor(data, shape);
  };

  const encoder = new Map<string, TensorOut>();
  for (let i = 0; i < layers; i++) {
    const h = `bert.encoder.layer.${i}`;
    const m = `layers.${i}`;
    const qkv = (kind: string, shape: number[], cols: number) =>
      fuseQkv(
        ['query', 'key', 'value'].map((p) => need(`${h}.attention.self.${p}.${kind}`, shape)),
        heads,
        hidden,
        cols,
      );
    encoder.set(`${m}.input_layernorm.weight`, tensor(need(`${h}.attention.ln.weight`, [hidden]), [hidden]));
    encoder.set(`${m}.input_layernorm.bias`, tensor(need(`${h}.attention.ln.bias`, [hidden]), [hidden]));
    encoder.set(`${m}.self_attention.query_key_value.weight`, tensor(qkv('weight', [hidden, hidden], hidden), [3 * hidden, hidden]));
    encoder.set(`${m}.self_attention.query_key_value.bias`, tensor(qkv('bias', [hidden], 1), [3 * hidden]));
    for (const [mm, hh] of LAYER_NAMES) {
      if (mm === 'input_layernorm') continue;
      const shape =
        mm === 'mlp.dense_h_to_4h'
          ? [ffn, hidden]
          : mm === 'mlp.dense_4h_to_h'
            ? [hidden, ffn]
            : mm.endsWith('layernorm')
              ? [hidden]
              : [hidden, hidden];
      encoder.set(`${m}.${mm}.weight`, tensor(need(`${h}.${hh}.weight`, shape), shape));
      encoder.set(`${m}.${mm}.bias`, tensor(need(`${h}.${hh}.bias`, [shape[0]]), [shape[0]]));
    }
  }
  encoder.set('final_layernorm.weight', tensor(need('bert.encoder.ln.weight', [hidden]), [hidden]));
  encoder.set('final_layernorm.bias', tensor(need('bert.encoder.ln.bias', [hidden]), [hidden]));

  const pos = num('max_position_embeddings');
  const types = typeof c.type_vocab_size === 'number' ? c.type_vocab_size : 2;
  const word = need('bert.embeddings.word_embeddings.weight', [vocab, hidden]);
  const embedding = {
    word_embeddings: new Map([['weight', tensor(padRows(word, paddedVocab, hidden), [paddedVocab, hidden])]]),
    position_embeddings: new Map([['weight', tensor(need('bert.embeddings.position_embeddings.weight', [pos, hidden]), [pos, hidden])]]),
    tokentype_embeddings: new Map([
      ['weight', tensor(need('bert.embeddings.token_type_embeddings.weight', [types, hidden]), [types, hidden])],
    ]),
  };
  const pooler = new Map([
    ['dense.weight', head('bert.pooler.dense.weight', [hidden, hidden], 'normal')],
    ['dense.bias', head('bert.pooler.dense.bias', [hidden], 'zeros')],
  ]);
  const lmBias = head('cls.predictions.bias', [vocab], 'zeros');
  const lmHead = new Map([
    ['bias', tensor(padRows(lmBias.data, paddedVocab, 1), [paddedVocab])],
    ['dense.weight', head('cls.predictions.transform.dense.weight', [hidden, hidden], 'normal')],
    ['dense.bias', head('cls.predictions.transform.dense.bias', [hidden], 'zeros')],
    ['layernorm.weight', head('cls.predictions.transform.LayerNorm.weight', [hidden], 'ones')],
    ['layernorm.bias', head('cls.predictions.transform.LayerNorm.bias', [hidden], 'zeros')],
  ]);
  const binaryHead = new Map([
    ['weight', head('cls.seq_relationship.weight', [2, hidden], 'normal')],
    ['bias', head('cls.seq_relationship.bias', [2], 'zeros')],
  ]);
  const model = { language_model: { embedding, encoder, pooler }, lm_head: lmHead, binary_head: binaryHead };

  const eps = typeof c.layer_norm_eps === 'number' ? c.layer_norm_eps : 1e-5;
  const tanhGelu = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'].includes(String(c.hidden_act));
  const args = new Namespace(
    Object.entries({
      num_layers: layers,
      hidden_size: hidden,
      ffn_hidden_size: ffn,
      num_attention_heads: heads,
      kv_channels: hidden / heads,
      max_position_embeddings: pos,
      seq_length: pos,
      encoder_seq_length: pos,
      padded_vocab_size: paddedVocab,
      make_vocab_size_divisible_by: 128,
      tokenizer_type: src.lowercase ? 'BertWordPieceLowerCase' : 'BertWordPieceCase',
      layernorm_epsilon: new PyFloat(eps),
      hidden_dropout: new PyFloat(typeof c.hidden_dropout_prob === 'number' ? c.hidden_dropout_prob : 0.1),
      attention_dropout: new PyFloat(typeof c.attention_probs_dropout_prob === 'number' ? c.attention_probs_dropout_prob : 0.1),
      init_method_std: new PyFloat(std),
      openai_gelu: false,
      bias_gelu_fusion: tanhGelu,
      add_position_embedding: true,
      position_embedding_type: 'learned_absolute',
      apply_residual_connection_post_layernorm: false,
      bert_binary_head: true,
      num_tokentypes: types,
      tensor_model_parallel_size: 1,
      pipeline_model_parallel_size: 1,
      fp16: false,
      bf16: false,
      iteration: 0,
      consumed_train_samples: 0,
      consumed_valid_samples: 0,
    }),
  );
  const checkpoint = { args, checkpoint_version: new PyFloat(3), iteration: 0, model };
  const flat = new Map<string, TensorOut>();
  const walk = (o: unknown, prefix: string) => {
    for (const [k, v] of o instanceof Map ? o : Object.entries(o as object)) {
      if (v instanceof TensorOut) flat.set(`${prefix}${k}`, v);
      else walk(v, `${prefix}${k}.`);
    }
  };
  walk(model, 'model.');
  return { checkpoint, flat, initialised, paddedVocab };
}
