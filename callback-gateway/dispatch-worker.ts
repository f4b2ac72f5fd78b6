/**
 * Entry of the gateway's dispatch thread (started by callback-gateway/dispatch-thread.ts): the dispatcher with
 * a store connection and a Temporal client of its own. Its counts go to the HTTP thread, which owns /metrics.
 */
import { Client, Connection } from '@temporalio/client';
import { parentPort, workerData } from 'node:worker_threads';
import { dataConverterFor } from '../codec/index.js';
import { temporalConnectionOptions } from '../config/temporal-connection.js';
import { createLogger } from '../config/logger.js';
import { openStore } from '../store/index.js';
import { startTracing, tracingClientInterceptors } from '../telemetry/tracing.js';
import type { DispatchThreadConfig, FromDispatchThread, ToDispatchThread } from './dispatch-thread.js';
import { createDispatcher } from './dispatcher.js';
import type { CallbackOutcome } from './metrics.js';
import { temporalSignaler } from './signal.js';
import { rememberPostSpan } from './tracing.js';

if (!parentPort) throw new Error('callback-gateway/dispatch-worker.ts runs as a worker thread of the gateway');
const port = parentPort;
const config = workerData as DispatchThreadConfig;
const post = (message: FromDispatchThread): void => port.postMessage(message);

const logger = createLogger('callback-gateway', config.LOG_LEVEL);
// Spans are exported from here too: the dispatch spans are this thread's.
const tracing = startTracing({ serviceName: 'euicc-gateway', otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });
const store = await openStore(config);
// Lazy: rows stay pending while Temporal is unreachable; the HTTP thread keeps acknowledging.
const connection = Connection.lazy(temporalConnectionOptions(config));
const client = new Client({
  connection,
  namespace: config.TEMPORAL_NAMESPACE,
  dataConverter: dataConverterFor(config.PAYLOAD_ENCRYPTION_KEY),
  ...(tracing && { interceptors: tracingClientInterceptors() }),
});

// Counts are sent in one message per turn of the event loop, not one per callback.
let counted: Extract<FromDispatchThread, { type: 'counted' }> | undefined;
const pending = (): Extract<FromDispatchThread, { type: 'counted' }> => {
  if (!counted) {
    counted = { type: 'counted', callbacks: [], lagSeconds: [] };
    setImmediate(flush);
  }
  return counted;
};
function flush(): void {
  if (counted) post(counted);
  counted = undefined;
}

const dispatcher = createDispatcher({
  store,
  signal: temporalSignaler(client),
  logger,
  intervalMs: config.DISPATCH_INTERVAL_MS,
  maxAttempts: config.DISPATCH_MAX_ATTEMPTS,
  maxSignalBytes: config.SIGNAL_MAX_BYTES,
  metrics: {
    callback(service: string, outcome: CallbackOutcome, count = 1) {
      pending().callbacks.push({ service, outcome, count });
    },
    dispatched(seconds: number) {
      pending().lagSeconds.push(seconds);
    },
  },
});

async function stop(): Promise<void> {
  await dispatcher.stop();
  flush();
  post({ type: 'stopped' });
  await connection.close().catch(() => undefined);
  await tracing?.shutdown().catch(() => undefined);
  await store.close();
  // The port is the last handle: closing it lets the thread end.
  port.close();
}

port.on('message', (message: ToDispatchThread) => {
  if (message.type === 'kick') dispatcher.kick();
  else if (message.type === 'span') rememberPostSpan(message.inboxId, message.span);
  else void stop();
});
dispatcher.start();
post({ type: 'started' });
