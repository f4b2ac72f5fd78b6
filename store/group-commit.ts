/**
 * Group commit of the gateway's inbox writes. With SQLite on `synchronous = FULL` every transaction waits for
 * an fsync, and better-sqlite3 waits on the event loop: one transaction per callback caps ingestion at the
 * disk's sync rate (BENCHMARKS.md). Callbacks that arrive within `windowMs` of the first one of a batch (or
 * until `maxCallbacks` are waiting) share one transaction instead, and each caller's promise settles only when
 * that transaction has committed, or rejects with its error: nothing is acknowledged before it is durable.
 */
import type { NewCallback, RecordedCallback, Store } from './types.js';

export interface GroupCommitOptions {
  /** How long the first callback of a batch waits for others, in ms; 0: no batching, one transaction each. */
  windowMs: number;
  /** Most callbacks in one transaction; a full batch is written at once. */
  maxCallbacks: number;
}

interface Waiting {
  callback: NewCallback;
  resolve: (recorded: RecordedCallback) => void;
  reject: (err: unknown) => void;
}

/**
 * The store, with `recordCallback` batched as above; every other method is the store's own. `close` writes
 * the open batch and waits for the batches being written before it closes the store.
 */
export function withGroupCommit(store: Store, options: GroupCommitOptions): Store {
  if (options.windowMs <= 0 || options.maxCallbacks <= 1) return store;
  let batch: Waiting[] = [];
  let timer: NodeJS.Timeout | undefined;
  const writing = new Set<Promise<void>>();

  const write = (): void => {
    clearTimeout(timer);
    timer = undefined;
    const taken = batch;
    batch = [];
    if (taken.length === 0) return;
    const done = store.recordCallbacks(taken.map((w) => w.callback)).then(
      (recorded) => taken.forEach((w, i) => w.resolve(recorded[i]!)),
      (err: unknown) => taken.forEach((w) => w.reject(err)),
    );
    writing.add(done);
    void done.finally(() => writing.delete(done));
  };

  return {
    ...store,
    recordCallback(callback) {
      return new Promise<RecordedCallback>((resolve, reject) => {
        batch.push({ callback, resolve, reject });
        if (batch.length >= options.maxCallbacks) write();
        else timer ??= setTimeout(write, options.windowMs);
      });
    },
    async close() {
      write();
      await Promise.all(writing);
      await store.close();
    },
  };
}
