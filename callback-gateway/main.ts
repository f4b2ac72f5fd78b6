/** `npm run start:gateway`: the callback gateway on GATEWAY_PORT, dispatching to Temporal. */
import { Client, Connection } from '@temporalio/client';
import type { Server } from 'node:http';
import { dataConverterFor } from '../codec/index.js';
import { gatewaySchema, parseConfig } from '../config/index.js';
import { temporalConnectionOptions } from '../config/temporal-connection.js';
import { createLogger } from '../config/logger.js';
import { openStore, withGroupCommit } from '../store/index.js';
import { startTracing, tracingClientInterceptors } from '../telemetry/tracing.js';
import { createOperatorApp, createPublicApp, newRefusals, type GatewayDeps } from './app.js';
import { createDispatcher } from './dispatcher.js';
import { createGatewayMetrics } from './metrics.js';
import { temporalSignaler } from './signal.js';

// Refuses the default secrets outside a sandbox on loopback (config/index.ts `sandboxProblems`).
const config = parseConfig(gatewaySchema, process.env);
const logger = createLogger('callback-gateway', config.LOG_LEVEL);
const tracing = startTracing({ serviceName: 'euicc-gateway', otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });
// Callbacks arriving together share one transaction; each is acknowledged after its own commits.
const store = withGroupCommit(await openStore(config), {
  windowMs: config.INBOX_COMMIT_WINDOW_MS,
  maxCallbacks: config.INBOX_COMMIT_MAX_CALLBACKS,
});
// Lazy: the gateway must keep accepting callbacks while Temporal is unreachable.
const connection = Connection.lazy(temporalConnectionOptions(config));
// The signals carry device identifiers: encrypted like everything else the sagas receive.
const dataConverter = dataConverterFor(config.PAYLOAD_ENCRYPTION_KEY);
// With tracing, each signal carries the dispatch span's context in its header (callback-gateway/tracing.ts).
const client = new Client({
  connection,
  namespace: config.TEMPORAL_NAMESPACE,
  dataConverter,
  ...(tracing && { interceptors: tracingClientInterceptors() }),
});
const metrics = createGatewayMetrics();
const dispatcher = createDispatcher({
  store,
  metrics,
  signal: temporalSignaler(client),
  logger,
  intervalMs: config.DISPATCH_INTERVAL_MS,
  maxAttempts: config.DISPATCH_MAX_ATTEMPTS,
  maxSignalBytes: config.SIGNAL_MAX_BYTES,
});
const deps: GatewayDeps = {
  store,
  logger,
  credentials: {
    username: config.CALLBACK_USERNAME,
    password: config.CALLBACK_PASSWORD,
    ...(config.CALLBACK_PASSWORD_PREVIOUS ? { previousPassword: config.CALLBACK_PASSWORD_PREVIOUS } : {}),
  },
  maxBody: config.CALLBACK_MAX_BODY,
  pathToken: config.CALLBACK_PATH_TOKEN,
  legacyPaths: config.CALLBACK_LEGACY_PATHS,
  allowedSources: config.CALLBACK_ALLOWED_SOURCES,
  trustProxy: config.GATEWAY_TRUST_PROXY,
  rateLimitPerMinute: config.CALLBACK_RATE_LIMIT,
  metrics: config.GATEWAY_METRICS,
  gatewayMetrics: metrics,
  onStored: () => dispatcher.kick(),
  ready: () => dispatcher.running,
  operatorToken: config.OPERATOR_TOKEN,
  onReplayed: () => dispatcher.kick(),
  payloadCodec: dataConverter?.payloadCodecs?.[0],
  codecOrigins: config.CODEC_CORS_ORIGINS,
  refusals: newRefusals(),
  countsMaxAgeMs: config.METRICS_MAX_AGE_MS,
};

async function expireParked(): Promise<void> {
  try {
    const count = await store.expireParked(config.PARK_TTL_MS);
    if (count > 0) {
      // The sweep moves rows in bulk without naming their services.
      metrics.callback('all', 'deadLetter', count);
      logger.warn({ count, parkTtlMs: config.PARK_TTL_MS }, 'Parked callbacks moved to the dead-letter list');
    }
  } catch (err) {
    logger.error({ err }, 'Expiring parked callbacks failed');
  }
}
const parkSweep = setInterval(() => void expireParked(), config.PARK_SWEEP_INTERVAL_MS);

// Two ports: the public one ThingSpace calls, and the internal one for operators, Prometheus and the UI.
const server: Server = createPublicApp(deps).listen(config.GATEWAY_PORT, config.GATEWAY_HOST, () => {
  dispatcher.start();
  logger.info({ url: `http://${config.GATEWAY_HOST}:${config.GATEWAY_PORT}` }, 'Callback gateway listening');
});
const operatorServer: Server = createOperatorApp(deps).listen(config.OPERATOR_PORT, config.OPERATOR_HOST, () => {
  logger.info(
    {
      url: `http://${config.OPERATOR_HOST}:${config.OPERATOR_PORT}`,
      metrics: config.GATEWAY_METRICS,
      operatorApi: config.OPERATOR_TOKEN !== undefined,
      codecEndpoint: config.OPERATOR_TOKEN !== undefined && dataConverter !== undefined,
      tracing: tracing !== undefined,
    },
    'Callback gateway internal port listening',
  );
});
for (const listening of [server, operatorServer]) {
  listening.once('error', (err) => {
    logger.fatal({ err }, 'Callback gateway cannot listen');
    process.exit(1);
  });
}

async function shutdown(): Promise<void> {
  logger.info('Callback gateway stopping');
  server.close();
  operatorServer.close();
  clearInterval(parkSweep);
  await dispatcher.stop();
  await connection.close().catch(() => undefined);
  await tracing?.shutdown().catch(() => undefined);
  await store.close();
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown());
process.once('SIGINT', () => void shutdown());
