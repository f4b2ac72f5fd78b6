/**
 * `npm run start:gateway`: the callback gateway on GATEWAY_PORT. This thread answers HTTP and writes the inbox;
 * the dispatcher, which signals Temporal, runs in a worker thread (callback-gateway/dispatch-thread.ts).
 */
import type { Server } from 'node:http';
import { dataConverterFor } from '../codec/index.js';
import { gatewaySchema, parseConfig } from '../config/index.js';
import { createLogger } from '../config/logger.js';
import { openStore, withGroupCommit } from '../store/index.js';
import { startTracing } from '../telemetry/tracing.js';
import { createOperatorApp, createPublicApp, newRefusals, type GatewayDeps } from './app.js';
import { startDispatchThread } from './dispatch-thread.js';
import { createGatewayMetrics } from './metrics.js';
import { forwardPostSpans } from './tracing.js';

// Refuses the default secrets outside a sandbox on loopback (config/index.ts `sandboxProblems`).
const config = parseConfig(gatewaySchema, process.env);
const logger = createLogger('callback-gateway', config.LOG_LEVEL);
const tracing = startTracing({ serviceName: 'euicc-gateway', otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });
// Callbacks arriving together share one transaction; each is acknowledged after its own commits.
const store = withGroupCommit(await openStore(config), {
  windowMs: config.INBOX_COMMIT_WINDOW_MS,
  maxCallbacks: config.INBOX_COMMIT_MAX_CALLBACKS,
});
// The codec endpoint decodes what the signals carry (the dispatch thread encrypts them with the same key).
const dataConverter = dataConverterFor(config.PAYLOAD_ENCRYPTION_KEY);
const metrics = createGatewayMetrics();
// Its own store connection and Temporal client (lazy: callbacks are accepted while Temporal is unreachable).
// It is started before listening, and /readyz answers 503 until its dispatcher runs.
const dispatcher = startDispatchThread({
  config: {
    TEMPORAL_ADDRESS: config.TEMPORAL_ADDRESS,
    TEMPORAL_NAMESPACE: config.TEMPORAL_NAMESPACE,
    TEMPORAL_TLS_CERT: config.TEMPORAL_TLS_CERT,
    TEMPORAL_TLS_KEY: config.TEMPORAL_TLS_KEY,
    TEMPORAL_TLS_CA: config.TEMPORAL_TLS_CA,
    TEMPORAL_TLS_SERVER_NAME: config.TEMPORAL_TLS_SERVER_NAME,
    TEMPORAL_TLS: config.TEMPORAL_TLS,
    TEMPORAL_API_KEY: config.TEMPORAL_API_KEY,
    DATA_DIR: config.DATA_DIR,
    DATABASE_URL: config.DATABASE_URL,
    PAYLOAD_ENCRYPTION_KEY: config.PAYLOAD_ENCRYPTION_KEY,
    OTEL_EXPORTER_OTLP_ENDPOINT: config.OTEL_EXPORTER_OTLP_ENDPOINT,
    LOG_LEVEL: config.LOG_LEVEL,
    DISPATCH_INTERVAL_MS: config.DISPATCH_INTERVAL_MS,
    DISPATCH_MAX_ATTEMPTS: config.DISPATCH_MAX_ATTEMPTS,
    SIGNAL_MAX_BYTES: config.SIGNAL_MAX_BYTES,
  },
  metrics,
  logger,
  // Acknowledging callbacks that nothing delivers helps no one: exit, and let the supervisor restart us.
  onFailure: (err) => {
    logger.fatal({ err }, 'Dispatch thread stopped unexpectedly');
    process.exit(1);
  },
});
// With tracing, each signal's span is a child of its callback's POST span, which lives in this thread.
if (tracing) forwardPostSpans((inboxId, span) => dispatcher.postSpan(inboxId, span));
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
  // The dispatcher finishes its round; the thread closes its store connection and Temporal client.
  await dispatcher.stop();
  await tracing?.shutdown().catch(() => undefined);
  await store.close();
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown());
process.once('SIGINT', () => void shutdown());
