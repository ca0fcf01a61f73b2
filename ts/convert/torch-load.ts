// torch.load without Python: the zip format of torch >= 1.6 and the legacy stream of older
// torch (Megatron-LM checkpoints from 2019-2020), unpickled by the restricted unpickler with
// the allow-list below. Tensors come back as lazy TensorRefs (storage, element offset, shape,
// strides) whose bytes are read only when asked for, so the optimizer state and rng state of a
// model_optim_rng.pt cost nothing.
import { BiomegError } from '../errors.js';
import { type ByteSource, badCheckpoint, bufferSource, windowSource } from './io.js';
import { Inert, Namespace, PyGlobal, unpickle } from './pickle.js';
import { ZipReader } from './zip.js';

export type DType = 'f32' | 'f16' | 'bf16' | 'f64' | 'i64' | 'i32' | 'i16' | 'i8' | 'u8' | 'bool';

/** torch storage class -> element type (UntypedStorage holds bytes). */
const STORAGES: Record<string, DType> = {
  FloatStorage: 'f32',
  HalfStorage: 'f16',
  BFloat16Storage: 'bf16',
  DoubleStorage: 'f64',
  LongStorage: 'i64',
  IntStorage: 'i32',
  ShortStorage: 'i16',
  CharStorage: 'i8',
  ByteStorage: 'u8',
  BoolStorage: 'bool',
  UntypedStorage: 'u8',
};
export const DTYPE_BYTES: Record<DType, number> = { f32: 4, f16: 2, bf16: 2, f64: 8, i64: 8, i32: 4, i16: 2, i8: 1, u8: 1, bool: 1 };
const TORCH_DTYPES = new Set(
  'float16 half float32 float float64 double bfloat16 int64 long int32 int int16 short int8 uint8 bool complex64 complex128'.split(' '),
);

/** Raw bytes of one storage, read on demand. */
export class Storage {
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly numel: number,
    readonly source: () => ByteSource,
  ) {}
}

/** A tensor as torch.save describes it; `toFloat32` reads and converts its elements. */
export class TensorRef {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}

  get dtype(): DType {
    return this.storage.dtype;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Elements in row-major order as float32 (fp16 / bf16 / f64 converted); `name` for errors. */
  toFloat32(name: string): Float32Array {
    const src = this.storage.source();
    const fail = (m: string) => badCheckpoint(src.name, `tensor ${name}: ${m}`);
    const n = this.numel;
    if (n === 0) return new Float32Array(0);
    let span = 1;
    this.shape.forEach((d, i) => {
      span += (d - 1) * this.stride[i];
    });
    if (this.offset + span > this.storage.numel) {
      throw fail(`reads elements up to ${this.offset + span} of a storage of ${this.storage.numel}`);
    }
    const size = DTYPE_BYTES[this.dtype];
    const raw = new Uint8Array(src.read(this.offset * size, span * size)); // copy: aligned
    const all = decode(raw, this.dtype, span, fail);
    if (isContiguous(this.shape, this.stride)) return all;
    const out = new Float32Array(n);
    const idx = new Array(this.shape.length).fill(0);
    for (let i = 0; i < n; i++) {
      let at = 0;
      for (let d = 0; d < idx.length; d++) at += idx[d] * this.stride[d];
      out[i] = all[at];
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d] < this.shape[d]) break;
        idx[d] = 0;
      }
    }
    return out;
  }
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let want = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== want) return false;
    want *= shape[d];
  }
  return true;
}

/** `n` elements of `raw` (a copy aligned at 0) as float32. */
export function decode(raw: Uint8Array, dtype: DType, n: number, fail: (m: string) => Error): Float32Array {
  switch (dtype) {
    case 'f32':
      return new Float32Array(raw.buffer, 0, n);
    case 'f64':
      return Float32Array.from(new Float64Array(raw.buffer, 0, n));
    case 'bf16': {
      const h = new Uint16Array(raw.buffer, 0, n);
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = h[i] << 16;
      return new Float32Array(bits.buffer);
    }
    case 'f16': {
      const h = new Uint16Array(raw.buffer, 0, n);
      const table = halfTable();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[h[i]];
      return out;
    }
    default:
      throw fail(`dtype ${dtype} is not a floating-point type`);
  }
}

let halfValues: Float32Array | null = null;

/** Every float16 bit pattern as float32 (256 KB, built once). Measured: a BioMegatron-345m-shaped
 *  fp16 conversion took 33 s decoding each element, 6 s with this table. */
function halfTable(): Float32Array {
  if (!halfValues) {
    halfValues = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfValues[h] = halfToFloat(h);
  }
  return halfValues;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** The allow-list: our stand-in for each global a torch checkpoint may name. */
function resolveGlobal(module: string, name: string): PyGlobal | undefined {
  const full = `${module}.${name}`;
  const inert = () => new PyGlobal(full, (args) => new Inert(full, args));
  switch (full) {
    case 'collections.OrderedDict':
      return new PyGlobal(full, (args) => new Map(Array.isArray(args[0]) ? (args[0] as [unknown, unknown][]) : []));
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2':
      return new PyGlobal(full, rebuildTensor);
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
      return new PyGlobal(full, (args) => args[0]);
    case 'torch._tensor._rebuild_from_type_v2':
      return new PyGlobal(full, ([fn, , args]) => {
        if (!(fn instanceof PyGlobal) || !fn.call || !Array.isArray(args)) throw new Error(`${full}: unexpected arguments`);
        return fn.call(args);
      });
    case 'argparse.Namespace':
      return new PyGlobal(full, () => new Namespace());
    case '_codecs.encode': // protocol 2 writes bytes as encode(latin-1 text, 'latin1')
      return new PyGlobal(full, ([s]) => Uint8Array.from(String(s), (c) => c.charCodeAt(0) & 0xff));
    case 'builtins.set':
    case 'builtins.frozenset':
    case '__builtin__.set':
    case 'torch.Size':
      return new PyGlobal(full, ([items]) => (Array.isArray(items) ? items : []));
    case 'torch.Tensor':
    case 'torch.nn.parameter.Parameter':
      return new PyGlobal(full);
    case 'torch.device':
    case 'numpy.ndarray':
    case 'numpy.dtype':
    case 'numpy.core.multiarray._reconstruct':
    case 'numpy._core.multiarray._reconstruct':
    case 'numpy.core.multiarray.scalar':
    case 'numpy._core.multiarray.scalar':
      return inert();
  }
  if (module === 'torch' && (name in STORAGES || TORCH_DTYPES.has(name))) return new PyGlobal(full);
  // Megatron-LM's own enums (ModelType, AttnBackend, ...) inside the saved args.
  if (module.startsWith('megatron.') && /^[A-Za-z_]\w*$/.test(name)) return inert();
  return undefined;
}

function rebuildTensor(args: unknown[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (
    !(storage instanceof Storage) ||
    typeof offset !== 'number' ||
    !isIntList(size) ||
    !isIntList(stride) ||
    size.length !== stride.length
  ) {
    throw new Error('torch._utils._rebuild_tensor_v2: unexpected arguments');
  }
  return new TensorRef(storage, offset, size, stride);
}

function isIntList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0);
}

function storageType(file: string, t: unknown): DType {
  const name = t instanceof PyGlobal ? t.full.replace(/^torch\./, '') : String(t);
  const dtype = STORAGES[name];
  if (!dtype) throw badCheckpoint(file, `unsupported storage type ${name}`);
  return dtype;
}

/** Unpickle with the allow-list; a stand-in that rejects its arguments becomes a clear error. */
function load(data: Uint8Array, file: string, start: number, persistentLoad?: (pid: unknown) => unknown) {
  try {
    return unpickle(data, { file, resolve: resolveGlobal, persistentLoad }, start);
  } catch (e) {
    if (e instanceof BiomegError) throw e;
    throw badCheckpoint(file, (e as Error).message);
  }
}

/** Read a torch.save file (zip or legacy format). Tensors stay lazy and read from `src`, which
 *  must stay open while they are converted. */
export function loadTorch(src: ByteSource): unknown {
  if (src.size < 4) throw badCheckpoint(src.name, 'not a PyTorch checkpoint (file too short)');
  const head = src.read(0, 4);
  if (head[0] === 0x50 && head[1] === 0x4b) return loadZip(src);
  if (head[0] === 0x80 && head[2] === 0x8a) return loadLegacy(src);
  throw badCheckpoint(src.name, 'not a PyTorch checkpoint (neither torch.save zip nor legacy pickle)');
}

function loadZip(src: ByteSource): unknown {
  const zip = new ZipReader(src);
  const pkl = [...zip.entries.keys()].find((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (!pkl) throw badCheckpoint(src.name, 'zip has no data.pkl: not a torch.save checkpoint');
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const order = zip.entries.get(`${prefix}byteorder`);
  if (order && new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim() !== 'little') {
    throw badCheckpoint(src.name, 'big-endian checkpoints are not supported');
  }
  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: unknown) => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5)
      throw badCheckpoint(src.name, 'unexpected persistent id in data.pkl');
    const key = String(pid[2]);
    let s = storages.get(key);
    if (!s) {
      const dtype = storageType(src.name, pid[1]);
      const numel = Number(pid[4]);
      const entry = `${prefix}data/${key}`;
      // Read (and CRC-checked) each time a tensor asks: nothing stays cached after conversion.
      s = new Storage(key, dtype, numel, () => {
        const e = zip.entries.get(entry);
        if (!e) throw badCheckpoint(src.name, `storage ${entry} is missing from the zip`);
        if (e.size !== numel * DTYPE_BYTES[dtype])
          throw badCheckpoint(src.name, `storage ${entry} has ${e.size} bytes, expected ${numel} x ${dtype}`);
        return bufferSource(src.name, zip.read(entry));
      });
      storages.set(key, s);
    }
    return s;
  };
  return load(zip.read(pkl), src.name, 0, persistentLoad).value;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** torch < 1.6: magic, protocol, sys info, the object, the storage keys, then each storage as
 *  an int64 element count and its bytes. */
function loadLegacy(src: ByteSource): unknown {
  const data = src.read(0, src.size);
  const magic = load(data, src.name, 0);
  if (magic.value !== LEGACY_MAGIC) throw badCheckpoint(src.name, 'not a PyTorch checkpoint (bad legacy magic number)');
  const proto = load(data, src.name, magic.end);
  const sys = load(data, src.name, proto.end);
  if (sys.value instanceof Map && sys.value.get('little_endian') === false)
    throw badCheckpoint(src.name, 'big-endian checkpoints are not supported');
  const roots = new Map<string, { dtype: DType; at: number }>();
  const views = new Map<string, Storage>();
  const persistentLoad = (pid: unknown) => {
    if (!Array.isArray(pid) || pid[0] !== 'storage') throw badCheckpoint(src.name, 'unexpected persistent id');
    const [, type, rootKey, , numel, viewMeta] = pid as [string, unknown, string, string, number, unknown];
    const dtype = storageType(src.name, type);
    if (!roots.has(rootKey)) roots.set(rootKey, { dtype, at: -1 });
    const [viewKey, viewOffset, viewSize] = Array.isArray(viewMeta) ? (viewMeta as [string, number, number]) : [rootKey, 0, numel];
    const id = `${rootKey}/${viewKey}`;
    if (!views.has(id)) {
      views.set(
        id,
        new Storage(viewKey, dtype, viewSize, () => {
          const root = roots.get(rootKey);
          if (!root || root.at < 0) throw badCheckpoint(src.name, `storage ${rootKey} has no data`);
          const bytes = DTYPE_BYTES[dtype];
          return windowSource(src, root.at + viewOffset * bytes, viewSize * bytes, src.name);
        }),
      );
    }
    return views.get(id);
  };
  const main = load(data, src.name, sys.end, persistentLoad);
  const keys = load(data, src.name, main.end);
  if (!Array.isArray(keys.value)) throw badCheckpoint(src.name, 'legacy checkpoint: storage key list missing');
  let at = keys.end;
  for (const k of keys.value) {
    const root = roots.get(String(k));
    if (!root) throw badCheckpoint(src.name, `legacy checkpoint: storage ${k} is listed but never used`);
    if (at + 8 > src.size) throw badCheckpoint(src.name, `truncated: storage ${k} is missing`);
    const numel = Number(new DataView(data.buffer, data.byteOffset + at, 8).getBigInt64(0, true));
    at += 8;
    root.at = at;
    at += numel * DTYPE_BYTES[root.dtype];
    if (at > src.size) throw badCheckpoint(src.name, `truncated: storage ${k} runs past the end of the file`);
  }
  return main.value;
}
