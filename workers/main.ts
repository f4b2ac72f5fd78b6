/** `npm run start:worker`: hosts the sagas and their activities until SIGINT/SIGTERM. */
import { NativeConnection, Runtime, DefaultLogger, type LogLevel } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { dataConverterFor } from '../codec/index.js';
import { parseConfig, thingspaceClientSettings, workerSchema } from '../config/index.js';
import { temporalConnectionOptions } from '../config/temporal-connection.js';
import { createLogger } from '../config/logger.js';
import { openStore } from '../store/index.js';
import { createThingSpaceClient } from '../thingspace/index.js';
import { createLifecycleWorker } from './worker.js';

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

// The SDK's own logs (and workflow/activity `log` calls) go through the same redacting logger.
Runtime.install({
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
});

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

const store = await openStore(config);
const thingspace = createThingSpaceClient(thingspaceClientSettings(config), { logger });
const connection = await connect();
const worker = await createLifecycleWorker({
  connection,
  namespace: config.TEMPORAL_NAMESPACE,
  activities: createActivities({ thingspace, store }),
  dataConverter: dataConverterFor(config.PAYLOAD_ENCRYPTION_KEY),
});
logger.info(
  { taskQueue: worker.options.taskQueue, payloadEncryption: config.PAYLOAD_ENCRYPTION_KEY !== undefined },
  'Worker polling',
);
await worker.run();
await connection.close();
await store.close();
logger.info('Worker stopped');
