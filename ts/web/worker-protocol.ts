// Messages between BiomegWorker (./worker-client.ts) and the worker script (./worker.ts).
export type WorkerOp =
  | { op: 'loadModel'; url: string; opts: { cache?: boolean | string; lowercase?: boolean } }
  | { op: 'loadTokenizer'; url: string; opts: { cache?: boolean | string; lowercase?: boolean } }
  | { op: 'call'; handle: number; method: string; args: unknown[] }
  | { op: 'dispose'; handle: number }
  | { op: 'setWasmSource'; src: string };

export type WorkerRequest = WorkerOp & { id: number };

export type WorkerReply =
  | { id: number; kind: 'result'; value: unknown; stats: CallStats }
  | { id: number; kind: 'error'; code: string; message: string }
  | { id: number; kind: 'progress'; progress: unknown };

/** Timing of one call inside the worker: its total and each forward pass it made. */
export interface CallStats {
  ms: number;
  forwardMs: number[];
}
