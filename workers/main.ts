/** `npm run start:worker`: hosts the sagas and their activities until SIGINT/SIGTERM. */
import { setFlagsFromString } from 'node:v8';
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger, type LogLevel, type RuntimeOptions } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { dataConverterFor } from '../codec/index.js';
import { parseConfig, thingspaceClientSettings, workerSchema } from '../config/index.js';
import { temporalConnectionOptions } from '../config/temporal-connection.js';
import { createLogger } from '../config/logger.js';
import { openOperationStore, openStore } from '../store/index.js';
import { ensureRetentionSchedule } from './retention.js';
import { createThingSpaceClient } from '../thingspace/index.js';
import { startTracing, tracingWorkerTelemetry } from '../telemetry/tracing.js';
import { createWorkerMetrics, serveWorkerMetrics } from './metrics.js';
import { buildIdOf, createLifecycleWorker } from './worker.js';

const config = parseConfig(workerSchema, process.env);
const logger = createLogger('worker', config.LOG_LEVEL);

const SDK_LEVELS: Record<typeof config.LOG_LEVEL, LogLevel> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
  fatal: 'ERROR',
  silent: 'ERROR',
};

const metricsOn = config.WORKER_METRICS_PORT !== 0;
// The SDK's own logs (and workflow/activity `log` calls) go through the same redacting logger.
const runtimeOptions: RuntimeOptions = {
  logger: new DefaultLogger(SDK_LEVELS[config.LOG_LEVEL], ({ level, message, meta }) => {
    const method =
      level === 'ERROR'
        ? 'error'
        : level === 'WARN'
          ? 'warn'
          : level === 'DEBUG' || level === 'TRACE'
            ? 'debug'
            : 'info';
    logger[method](meta ?? {}, message);
  }),
};
// The runtime's metrics (task latencies, failures, non-determinism, sticky cache, slots) on a loopback
// port, served again with the worker's own on WORKER_METRICS_PORT.
const runtimeMetricsAddress = `127.0.0.1:${config.TEMPORAL_METRICS_PORT}`;
let runtimeMetrics = metricsOn;
try {
  Runtime.install({
    ...runtimeOptions,
    ...(metricsOn && {
      telemetryOptions: {
        metrics: { prometheus: { bindAddress: runtimeMetricsAddress, useSecondsForDurations: true } },
      },
    }),
  });
} catch (err) {
  if (!metricsOn) throw err;
  // Metrics are not worth stopping the sagas for (the port is taken): run without the runtime's.
  logger.error({ err, address: runtimeMetricsAddress }, "The Temporal runtime's metrics could not be served");
  runtimeMetrics = false;
  Runtime.install(runtimeOptions);
}

async function connect(): Promise<NativeConnection> {
  // Temporal may still be starting (npm start launches both): wait rather than crash.
  for (let attempt = 1; ; attempt++) {
    try {
      return await NativeConnection.connect(temporalConnectionOptions(config));
    } catch (err) {
      if (attempt >= 60) throw err;
      if (attempt === 1) logger.info({ address: config.TEMPORAL_ADDRESS }, 'Waiting for Temporal');
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

const tracing = startTracing({ serviceName: 'euicc-worker', otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });
const metrics = createWorkerMetrics();
const store = await openStore(config);
const operations = await openOperationStore(config);
const thingspace = createThingSpaceClient(thingspaceClientSettings(config), {
  logger,
  observe: (call) => metrics.thingspaceCall(call),
});
const connection = await connect();
const dataConverter = dataConverterFor(config.PAYLOAD_ENCRYPTION_KEY);
// Held sagas are read from Temporal's visibility (SagaStep) at each scrape.
metrics.countHeldWith(new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter }));
const metricsServer = metricsOn
  ? await serveWorkerMetrics({
      registry: metrics.registry,
      host: config.WORKER_METRICS_HOST,
      port: config.WORKER_METRICS_PORT,
      ...(runtimeMetrics && { runtimeMetricsUrl: `http://${runtimeMetricsAddress}/metrics` }),
    }).catch((err: unknown) => {
      // Metrics are not worth stopping the sagas for.
      logger.error({ err, port: config.WORKER_METRICS_PORT }, 'Worker metrics could not be served');
      return undefined;
    })
  : undefined;
// The workflow thread the SDK starts next takes V8's flags as they are now. Smaller semi-spaces (its young
// generation) took the worker's peak through 200 concurrent swaps from about 436 to about 400 MiB at no
// measured CPU cost (BENCHMARKS.md, "Worker memory").
if (config.WORKFLOW_SEMI_SPACE_MB > 0) setFlagsFromString(`--max-semi-space-size=${config.WORKFLOW_SEMI_SPACE_MB}`);
const worker = await createLifecycleWorker({
  connection,
  namespace: config.TEMPORAL_NAMESPACE,
  activities: createActivities({ thingspace, store, operations }),
  ...(config.WORKER_DEPLOYMENT_NAME
    ? { deployment: { name: config.WORKER_DEPLOYMENT_NAME, buildId: buildIdOf(config.WORKER_BUILD_ID) } }
    : {}),
  dataConverter,
  telemetry: { sagaMetrics: metrics.sinks, ...(tracing && tracingWorkerTelemetry(tracing)) },
});
await ensureRetentionSchedule(new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter }), {
  taskQueue: worker.options.taskQueue,
  days: config.RETENTION_DAYS,
  logger,
});
logger.info(
  {
    taskQueue: worker.options.taskQueue,
    payloadEncryption: config.PAYLOAD_ENCRYPTION_KEY !== undefined,
    metrics: metricsServer?.url,
    tracing: tracing !== undefined,
  },
  'Worker polling',
);
await worker.run();
metricsServer?.server.close();
await tracing?.shutdown();
await connection.close();
await store.close();
await operations.close();
logger.info('Worker stopped');
