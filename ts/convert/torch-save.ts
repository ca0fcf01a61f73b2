// torch.save without Python: a pickle writer (protocol 2, what torch.save uses) for plain data,
// OrderedDicts, argparse.Namespace and float32 tensors, inside torch's zip layout. Tensors are
// pickled as torch._utils._rebuild_tensor_v2 over a FloatStorage persistent id, exactly the
// globals torch.load(weights_only=True) accepts (argparse.Namespace needs
// torch.serialization.add_safe_globals there, as Megatron-LM itself does).
import type { ByteSink } from './io.js';
import { Namespace } from './pickle.js';
import { ZipWriter } from './zip.js';

/** A Python float (JS numbers that are integers are written as Python ints). */
export class PyFloat {
  constructor(readonly value: number) {}
}
export class Tuple {
  constructor(readonly items: PyValue[]) {}
}
/** A float32 tensor, row-major. */
export class TensorOut {
  constructor(
    readonly data: Float32Array,
    readonly shape: number[],
  ) {}
}
/** Dicts: a plain object is a dict, a Map an OrderedDict (torch state dicts), a Namespace argparse's. */
export type PyValue =
  | null
  | boolean
  | number
  | string
  | PyFloat
  | Tuple
  | TensorOut
  | PyValue[]
  | Map<string, PyValue>
  | { [k: string]: PyValue };

class Out {
  private buf = new Uint8Array(1 << 16);
  length = 0;
  byte(...b: number[]) {
    this.raw(Uint8Array.from(b));
  }
  raw(b: Uint8Array) {
    while (this.length + b.length > this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  text(s: string) {
    this.raw(new TextEncoder().encode(s));
  }
  bytes() {
    return this.buf.slice(0, this.length);
  }
}

const MARK = 0x28;
const SETITEMS = 0x75;

function pickleValue(o: Out, v: PyValue, storages: TensorOut[]): void {
  if (v === null) o.byte(0x4e);
  else if (v === true) o.byte(0x88);
  else if (v === false) o.byte(0x89);
  else if (typeof v === 'number') {
    if (!Number.isInteger(v)) pickleFloat(o, v);
    else if (v >= 0 && v < 256) o.byte(0x4b, v);
    else if (v >= 0 && v < 65536) o.byte(0x4d, v & 0xff, v >> 8);
    else if (v >= -(2 ** 31) && v < 2 ** 31) {
      const b = new Uint8Array(5);
      b[0] = 0x4a;
      new DataView(b.buffer).setInt32(1, v, true);
      o.raw(b);
    } else {
      // LONG1: minimal two's-complement little-endian bytes
      const bytes: number[] = [];
      let x = BigInt(v);
      for (;;) {
        bytes.push(Number(x & 0xffn));
        x >>= 8n;
        const neg = (bytes[bytes.length - 1] & 0x80) !== 0;
        if ((x === 0n && !neg) || (x === -1n && neg)) break;
      }
      o.byte(0x8a, bytes.length, ...bytes);
    }
  } else if (typeof v === 'string') {
    const b = new TextEncoder().encode(v);
    const h = new Uint8Array(5);
    h[0] = 0x58;
    new DataView(h.buffer).setUint32(1, b.length, true);
    o.raw(h);
    o.raw(b);
  } else if (v instanceof PyFloat) {
    pickleFloat(o, v.value);
  } else if (v instanceof Tuple) {
    const n = v.items.length;
    if (n === 0 || n > 3) o.byte(MARK);
    for (const x of v.items) pickleValue(o, x, storages);
    o.byte(n === 0 || n > 3 ? 0x74 : [0, 0x85, 0x86, 0x87][n]);
  } else if (v instanceof TensorOut) {
    pickleTensor(o, v, storages);
  } else if (Array.isArray(v)) {
    o.byte(0x5d);
    if (v.length) {
      o.byte(MARK);
      for (const x of v) pickleValue(o, x, storages);
      o.byte(0x65);
    }
  } else if (v instanceof Namespace) {
    o.text('cargparse\nNamespace\n');
    o.byte(0x29, 0x81);
    pickleItems(o, [...v.entries()] as [string, PyValue][], storages);
    o.byte(0x62);
  } else if (v instanceof Map) {
    o.text('ccollections\nOrderedDict\n');
    o.byte(0x29, 0x52);
    if (v.size) pickleSetItems(o, [...v.entries()], storages);
  } else {
    pickleItems(o, Object.entries(v), storages);
  }
}

function pickleFloat(o: Out, x: number): void {
  const b = new Uint8Array(9);
  b[0] = 0x47; // BINFLOAT, big-endian
  new DataView(b.buffer).setFloat64(1, x, false);
  o.raw(b);
}

/** A dict literal: EMPTY_DICT then its items. */
function pickleItems(o: Out, items: [string, PyValue][], storages: TensorOut[]): void {
  o.byte(0x7d);
  if (items.length) pickleSetItems(o, items, storages);
}

function pickleSetItems(o: Out, items: [string, PyValue][], storages: TensorOut[]): void {
  o.byte(MARK);
  for (const [k, x] of items) {
    pickleValue(o, k, storages);
    pickleValue(o, x, storages);
  }
  o.byte(SETITEMS);
}

function pickleTensor(o: Out, t: TensorOut, storages: TensorOut[]): void {
  const key = String(storages.length);
  storages.push(t);
  const stride: number[] = [];
  let s = 1;
  for (let d = t.shape.length - 1; d >= 0; d--) {
    stride[d] = s;
    s *= t.shape[d];
  }
  o.text('ctorch._utils\n_rebuild_tensor_v2\n');
  o.byte(MARK);
  // persistent id ('storage', torch.FloatStorage, key, 'cpu', numel)
  o.byte(MARK);
  pickleValue(o, 'storage', storages);
  o.text('ctorch\nFloatStorage\n');
  pickleValue(o, key, storages);
  pickleValue(o, 'cpu', storages);
  pickleValue(o, t.data.length, storages);
  o.byte(0x74, 0x51);
  pickleValue(o, 0, storages);
  pickleValue(o, new Tuple(t.shape), storages);
  pickleValue(o, new Tuple(stride), storages);
  pickleValue(o, false, storages);
  pickleValue(o, new Map(), storages);
  o.byte(0x74, 0x52);
}

/** Pickle `obj` (protocol 2); the tensors it holds are returned in storage-key order. */
export function pickle(obj: PyValue): { bytes: Uint8Array; storages: TensorOut[] } {
  const o = new Out();
  const storages: TensorOut[] = [];
  o.byte(0x80, 2);
  pickleValue(o, obj, storages);
  o.byte(0x2e);
  return { bytes: o.bytes(), storages };
}

/** torch.save(obj) into `sink`; `archive` is the zip's top folder (torch uses the file stem). */
export function torchSave(sink: ByteSink, obj: PyValue, archive = 'archive'): void {
  const { bytes, storages } = pickle(obj);
  const zip = new ZipWriter(sink);
  const text = (s: string) => [new TextEncoder().encode(s)];
  zip.add(`${archive}/data.pkl`, [bytes]);
  zip.add(`${archive}/byteorder`, text('little'));
  storages.forEach((t, i) => {
    zip.add(`${archive}/data/${i}`, [new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)]);
  });
  zip.add(`${archive}/version`, text('3\n'));
  zip.finish();
}

/** Bytes torchSave would write (for a tar member). */
export function torchSaveChunks(obj: PyValue, archive: string): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  const sink = {
    position: 0,
    write(c: Uint8Array) {
      chunks.push(c);
      this.position += c.length;
    },
  };
  torchSave(sink, obj, archive);
  return chunks;
}
