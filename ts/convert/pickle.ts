// A restricted unpickler: the opcodes of pickle protocols 0-5 that build data (numbers,
// strings, bytes, lists, tuples, dicts, memo, persistent ids) and nothing that runs code. Every
// GLOBAL / STACK_GLOBAL is looked up through `resolve`, which knows a short allow-list and
// returns our own stand-in for each allowed name; anything else (os.system, builtins.eval, ...)
// stops the load with BIOMEG_UNSAFE_PICKLE before a single call is made. INST, OBJ and the
// extension-registry opcodes, which name classes to instantiate outside that path, are refused.
// Python's own objects never exist here: REDUCE / NEWOBJ call the stand-in's TypeScript code.
import { BiomegError } from '../errors.js';

/** An allowed global: a value (a dtype or storage type) or a stand-in callable. */
export class PyGlobal {
  constructor(
    readonly full: string,
    readonly call?: (args: unknown[]) => unknown,
  ) {}
}

/** argparse.Namespace, read as a plain dict of its attributes. */
export class Namespace extends Map<unknown, unknown> {}

/** An object kept but never interpreted (numpy arrays of the rng state, Megatron enums). */
export class Inert {
  state: unknown = undefined;
  constructor(
    readonly global: string,
    readonly args: unknown[],
  ) {}
}

export interface UnpickleHooks {
  /** File named in errors. */
  file: string;
  /** The stand-in for an allowed global, undefined to refuse it. */
  resolve(module: string, name: string): PyGlobal | undefined;
  persistentLoad?(pid: unknown): unknown;
}

const decoder = new TextDecoder('utf-8');

/** Unpickle one pickle starting at `start`; returns the value and the offset after STOP. */
export function unpickle(data: Uint8Array, hooks: UnpickleHooks, start = 0): { value: unknown; end: number } {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let p = start;

  const fail = (msg: string, code = 'BIOMEG_BAD_CHECKPOINT') => new BiomegError(code, `pickle at byte ${p}: ${msg}`, { file: hooks.file });
  const need = (n: number) => {
    if (p + n > data.length) throw fail('truncated pickle');
  };
  const u8 = () => {
    need(1);
    return data[p++];
  };
  const u16 = () => {
    need(2);
    p += 2;
    return dv.getUint16(p - 2, true);
  };
  const u32 = () => {
    need(4);
    p += 4;
    return dv.getUint32(p - 4, true);
  };
  const u64 = () => {
    need(8);
    p += 8;
    return Number(dv.getBigUint64(p - 8, true));
  };
  const bytes = (n: number) => {
    need(n);
    p += n;
    return data.subarray(p - n, p);
  };
  const line = () => {
    const nl = data.indexOf(10, p);
    if (nl < 0) throw fail('truncated pickle (no newline)');
    const s = decoder.decode(data.subarray(p, nl));
    p = nl + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) throw fail('stack underflow');
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) throw fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const m = marks.pop();
    if (m === undefined) throw fail('MARK missing');
    return stack.splice(m);
  };
  const global = (module: string, name: string) => {
    const g = hooks.resolve(module, name);
    if (!g) {
      throw fail(
        `refusing global ${module}.${name}: only the globals torch checkpoints use are allowed ` +
          '(tensor/storage rebuilders, collections.OrderedDict, argparse.Namespace, numpy rng state); nothing was executed',
        'BIOMEG_UNSAFE_PICKLE',
      );
    }
    return g;
  };
  const call = (f: unknown, args: unknown) => {
    if (!(f instanceof PyGlobal) || !f.call)
      throw fail(`${f instanceof PyGlobal ? f.full : typeof f} is not callable here`, 'BIOMEG_UNSAFE_PICKLE');
    if (!Array.isArray(args)) throw fail(`arguments of ${f.full} are not a tuple`);
    return f.call(args);
  };
  const setItems = (d: unknown, items: unknown[]) => {
    if (!(d instanceof Map)) throw fail('SETITEM(S) on something that is not a dict');
    for (let i = 0; i + 1 < items.length; i += 2) d.set(key(items[i]), items[i + 1]);
  };
  const int = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        return { value: pop(), end: p };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (marks.length && stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        need(4);
        p += 4;
        stack.push(dv.getInt32(p - 4, true));
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(int(bytes(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(int(bytes(u32())));
        break;
      case 0x49: {
        // INT (text); I00 / I01 are False / True
        const s = line();
        stack.push(s === '00' ? false : s === '01' ? true : parseTextInt(s, fail));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(parseTextInt(line().replace(/L$/, ''), fail));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        p += 8;
        stack.push(dv.getFloat64(p - 8, false));
        break;
      case 0x46: // FLOAT (text)
        stack.push(Number.parseFloat(line()));
        break;
      case 0x58: // BINUNICODE
        stack.push(decoder.decode(bytes(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(decoder.decode(bytes(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(decoder.decode(bytes(u64())));
        break;
      case 0x54: // BINSTRING (python 2 str)
        stack.push(decoder.decode(bytes(u32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(decoder.decode(bytes(u8())));
        break;
      case 0x53: // STRING (text repr)
        stack.push(unquote(line()));
        break;
      case 0x56: // UNICODE (text)
        stack.push(line());
        break;
      case 0x42: // BINBYTES
        stack.push(bytes(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(bytes(u64()).slice());
        break;
      case 0x29: // EMPTY_TUPLE
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x8f: // EMPTY_SET
        stack.push([]);
        break;
      case 0x74: // TUPLE
      case 0x6c: // LIST
      case 0x91: // FROZENSET
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x64: {
        // DICT
        const d = new Map();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) throw fail('APPEND to something that is not a list');
        l.push(v);
        break;
      }
      case 0x65: // APPENDS
      case 0x90: {
        // ADDITEMS (sets are read as lists)
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) throw fail('APPENDS to something that is not a list');
        l.push(...items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x70: // PUT (text)
        memo.set(parseTextInt(line(), fail) as number, top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
      case 0x67: {
        // GET (text)
        const i = op === 0x68 ? u8() : op === 0x6a ? u32() : (parseTextInt(line(), fail) as number);
        if (!memo.has(i)) throw fail(`memo key ${i} missing`);
        stack.push(memo.get(i));
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw fail('STACK_GLOBAL needs two strings');
        stack.push(global(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        pop(); // kwargs
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x62: {
        // BUILD: attributes of an object we made
        const state = pop();
        build(top(), state);
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      case 0x50: // PERSID (text)
        stack.push(persistent(line()));
        break;
      case 0x69: // INST
      case 0x6f: // OBJ
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        throw fail(
          `opcode 0x${op.toString(16)} instantiates arbitrary classes and is not allowed; nothing was executed`,
          'BIOMEG_UNSAFE_PICKLE',
        );
      default:
        throw fail(`unknown or unsupported pickle opcode 0x${op.toString(16)}`);
    }
  }

  function persistent(pid: unknown) {
    if (!hooks.persistentLoad) throw fail('persistent id in a pickle that should have none');
    return hooks.persistentLoad(pid);
  }
}

/** Dict keys: strings and numbers as they are; tuples by their text. */
function key(k: unknown): unknown {
  return Array.isArray(k) ? JSON.stringify(k) : k;
}

function build(obj: unknown, state: unknown): void {
  // (state, slotstate) pairs carry the dict first.
  const dict = Array.isArray(state) && state.length === 2 && (state[0] instanceof Map || state[0] === null) ? state[0] : state;
  if (obj instanceof Namespace && dict instanceof Map) {
    for (const [k, v] of dict) obj.set(k, v);
  } else if (obj instanceof Inert) {
    obj.state = state;
  }
  // Anything else (an OrderedDict's _metadata, a tensor's python attributes) is dropped.
}

function parseTextInt(s: string, fail: (m: string) => Error): number | bigint {
  if (!/^-?\d+$/.test(s.trim())) throw fail(`bad integer '${s}'`);
  const v = BigInt(s.trim());
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function unquote(s: string): string {
  const q = s[0];
  if ((q === "'" || q === '"') && s.endsWith(q)) {
    return s
      .slice(1, -1)
      .replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, e: string) =>
        e[0] === 'x'
          ? String.fromCharCode(Number.parseInt(e.slice(1), 16))
          : (({ n: '\n', t: '\t', r: '\r' } as Record<string, string>)[e] ?? e),
      );
  }
  return s;
}
