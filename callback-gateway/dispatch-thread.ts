/**
 * The gateway's dispatcher in a worker thread of its own (callback-gateway/dispatch-worker.ts), so that its
 * rounds — leasing with the correlation match, parking, signalling, marking delivered — do not queue behind
 * HTTP on the thread that acknowledges callbacks, nor HTTP behind them. The thread opens its own store
 * connection (SQLite in WAL mode takes several; PostgreSQL gets a second pool) and its own Temporal client.
 * The HTTP thread posts it a kick per stored callback and the contexts of the POST spans; the thread posts
 * back what its dispatcher counts, which lands in the HTTP thread's metrics registry, so /metrics is unchanged.
 */
import type { Logger } from 'pino';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { GatewayConfig } from '../config/index.js';
import type { CallbackOutcome, GatewayMetrics } from './metrics.js';
import type { PostSpan } from './tracing.js';

/** The configuration the dispatch thread reads, parsed once by the HTTP thread and passed as `workerData`. */
export type DispatchThreadConfig = Pick<
  GatewayConfig,
  | 'TEMPORAL_ADDRESS'
  | 'TEMPORAL_NAMESPACE'
  | 'TEMPORAL_TLS_CERT'
  | 'TEMPORAL_TLS_KEY'
  | 'TEMPORAL_TLS_CA'
  | 'TEMPORAL_TLS_SERVER_NAME'
  | 'TEMPORAL_TLS'
  | 'TEMPORAL_API_KEY'
  | 'DATA_DIR'
  | 'DATABASE_URL'
  | 'PAYLOAD_ENCRYPTION_KEY'
  | 'OTEL_EXPORTER_OTLP_ENDPOINT'
  | 'LOG_LEVEL'
  | 'DISPATCH_INTERVAL_MS'
  | 'DISPATCH_MAX_ATTEMPTS'
  | 'SIGNAL_MAX_BYTES'
>;

/** Messages to the dispatch thread. */
export type ToDispatchThread = { type: 'kick' } | { type: 'span'; inboxId: number; span: PostSpan } | { type: 'stop' };

/** Messages from the dispatch thread; `counted` carries what its dispatcher counted since the last one. */
export type FromDispatchThread =
  | { type: 'started' }
  | {
      type: 'counted';
      callbacks: { service: string; outcome: CallbackOutcome; count: number }[];
      lagSeconds: number[];
    }
  | { type: 'stopped' };

export interface DispatchThread {
  /** Runs a round soon (after a new callback was stored or replayed). */
  kick(): void;
  /** Hands the dispatch thread an accepted POST span, the parent of the signal that delivers it. */
  postSpan(inboxId: number, span: PostSpan): void;
  /** Whether the thread's dispatcher has started and not stopped (GET /readyz). */
  readonly running: boolean;
  /** Stops the dispatcher after its current round, closes the thread's connections and ends the thread. */
  stop(): Promise<void>;
}

export interface DispatchThreadOptions {
  config: DispatchThreadConfig;
  metrics: Pick<GatewayMetrics, 'callback' | 'dispatched'>;
  logger: Logger;
  /** Called when the thread fails or ends without being stopped. */
  onFailure: (err: Error) => void;
  /** How long `stop` waits for the thread to finish before it is terminated. */
  stopTimeoutMs?: number;
}

/**
 * The worker: compiled JavaScript (the image, `npm run build:prod`) or, under tsx (npm start, the tests),
 * TypeScript through a small bootstrap, because Node 20 does not apply `--import tsx` to a worker's entry.
 */
function newWorker(config: DispatchThreadConfig): Worker {
  const typescript = extname(fileURLToPath(import.meta.url)) === '.ts';
  const entry = new URL(typescript ? './dispatch-worker-tsx.mjs' : './dispatch-worker.js', import.meta.url);
  return new Worker(entry, { workerData: config });
}

export function startDispatchThread(options: DispatchThreadOptions): DispatchThread {
  const { metrics, logger } = options;
  const worker = newWorker(options.config);
  let running = false;
  let stopping = false;
  let kickQueued = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const post = (message: ToDispatchThread): void => worker.postMessage(message);

  worker.on('message', (message: FromDispatchThread) => {
    if (message.type === 'started') running = true;
    else if (message.type === 'stopped') running = false;
    else {
      for (const { service, outcome, count } of message.callbacks) metrics.callback(service, outcome, count);
      for (const seconds of message.lagSeconds) metrics.dispatched(seconds);
    }
  });
  worker.on('error', (err) => {
    running = false;
    logger.error({ err }, 'Dispatch thread failed');
    if (!stopping) options.onFailure(err);
  });
  worker.on('exit', (code) => {
    running = false;
    if (!stopping) options.onFailure(new Error(`The dispatch thread ended with code ${code}`));
  });

  return {
    get running() {
      return running;
    },
    kick() {
      // One message per turn of the event loop, however many callbacks it stored.
      if (kickQueued || stopping) return;
      kickQueued = true;
      setImmediate(() => {
        kickQueued = false;
        if (!stopping) post({ type: 'kick' });
      });
    },
    postSpan(inboxId, span) {
      if (!stopping) post({ type: 'span', inboxId, span });
    },
    async stop() {
      if (stopping) return exited;
      stopping = true;
      post({ type: 'stop' });
      const timeoutMs = options.stopTimeoutMs ?? 10_000;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
      if ((await Promise.race([exited, late])) === 'late') {
        logger.warn({ timeoutMs }, 'Dispatch thread did not stop in time; terminating it');
        await worker.terminate();
      }
      clearTimeout(timer);
    },
  };
}
