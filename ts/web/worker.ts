// The worker script of BiomegWorker: holds models and tokenizers on its own wasm instance and
// answers ./worker-protocol.ts requests, so forward passes never block the page's main thread.
import './platform.js';
import { setDefaultBackend } from '../core/backend.js';
import { BiomegModel } from '../model.js';
import { BiomegError } from '../errors.js';
import { fetchVocabulary } from './vocab-url.js';
import { setWasmSource } from './platform.js';
import type { Tokenizer } from '../text/tokenizer.js';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

setDefaultBackend('wasm');

interface Scope {
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(msg: WorkerReply, transfer?: Transferable[]): void;
}
const scope = globalThis as unknown as Scope;

const objects = new Map<number, BiomegModel | Tokenizer>();
let nextHandle = 1;

/** Methods a page may call on each kind of object (everything else is refused). */
const MODEL_METHODS = new Set(['ner', 'encode', 'classify', 'answer', 'tokenize']);
const TOKENIZER_METHODS = new Set(['encode', 'labelExamples']);

async function handle(req: WorkerRequest): Promise<unknown> {
  switch (req.op) {
    case 'setWasmSource':
      setWasmSource(req.src);
      return null;
    case 'loadModel': {
      const m = await BiomegModel.fromUrl(req.url, {
        ...req.opts,
        onProgress: (progress) => scope.postMessage({ id: req.id, kind: 'progress', progress }),
      });
      timeForwards(m);
      const h = nextHandle++;
      objects.set(h, m);
      return { handle: h, config: m.config, labels: m.labels, task: m.task, numParams: m.numParams, source: m.source };
    }
    case 'loadTokenizer': {
      const t = await fetchVocabulary(req.url, req.opts);
      const h = nextHandle++;
      objects.set(h, t);
      return { handle: h, name: t.name, source: t.source, vocabSize: t.vocabSize, lowercase: t.lowercase };
    }
    case 'dispose':
      objects.delete(req.handle);
      return null;
    case 'call': {
      const obj = objects.get(req.handle);
      if (!obj) throw new BiomegError('BIOMEG_BAD_ARGUMENT', `no object ${req.handle} in this worker (disposed, or the worker restarted)`);
      if (obj instanceof BiomegModel) {
        if (!MODEL_METHODS.has(req.method)) throw new BiomegError('BIOMEG_BAD_ARGUMENT', `models have no method '${req.method}'`);
        if (req.method === 'tokenize') return obj.tokenizer?.encode(req.args[0] as string) ?? null;
        return await (obj as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[req.method](...req.args);
      }
      if (!TOKENIZER_METHODS.has(req.method)) throw new BiomegError('BIOMEG_BAD_ARGUMENT', `tokenizers have no method '${req.method}'`);
      return (obj as unknown as Record<string, (...a: unknown[]) => unknown>)[req.method](...req.args);
    }
  }
}

/** Milliseconds of each forward pass of the current call (the demo's "time per forward"). */
let forwardTimes: number[] = [];
function timeForwards(m: BiomegModel): void {
  const forward = m.forward.bind(m);
  m.forward = async (...args: Parameters<BiomegModel['forward']>) => {
    const t0 = performance.now();
    const out = await forward(...args);
    forwardTimes.push(performance.now() - t0);
    return out;
  };
}

/** Typed arrays in a result move to the page instead of being copied. */
function transferables(v: unknown, out: Transferable[] = []): Transferable[] {
  if (ArrayBuffer.isView(v)) {
    if (v.buffer instanceof ArrayBuffer && !out.includes(v.buffer)) out.push(v.buffer);
  } else if (Array.isArray(v)) {
    for (const x of v) transferables(x, out);
  } else if (v && typeof v === 'object') {
    for (const x of Object.values(v)) transferables(x, out);
  }
  return out;
}

scope.onmessage = (e) => {
  const req = e.data;
  forwardTimes = [];
  const t0 = performance.now();
  handle(req).then(
    (value) => {
      const stats = { ms: performance.now() - t0, forwardMs: forwardTimes };
      scope.postMessage({ id: req.id, kind: 'result', value, stats }, transferables(value));
    },
    (err: unknown) => {
      const code = err instanceof BiomegError ? err.code : 'BIOMEG_ERROR';
      scope.postMessage({ id: req.id, kind: 'error', code, message: err instanceof Error ? err.message : String(err) });
    },
  );
};
