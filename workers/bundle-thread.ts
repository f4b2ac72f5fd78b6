/**
 * Bundles the workflows in a worker thread. Bundling (webpack) in the worker's own thread left some 75 MiB
 * of heap in the process for its whole life; a thread's heap goes when the thread ends
 * (BENCHMARKS.md, "Worker memory"). The options are the ones the SDK would bundle with itself.
 */
import { type Logger, type LogLevel, Runtime } from '@temporalio/worker';
import { createRequire } from 'node:module';
import { Worker as Thread } from 'node:worker_threads';

export interface ThreadBundleOptions {
  workflowsPath: string;
  workflowInterceptorModules: string[];
  failureConverterPath?: string;
  payloadConverterPath?: string;
}

interface FromThread {
  code?: string;
  /** A bundler log entry of level WARN or above. */
  log?: { level: LogLevel; message: string; meta?: Record<string, unknown> };
  error?: string;
}

/** CommonJS run by the thread; plain JavaScript, so that it runs the same from source (tsx) and compiled. */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { bundleWorkflowCode, DefaultLogger } = require(workerData.sdk);
const logger = new DefaultLogger('WARN', ({ level, message, meta }) => {
  let copy;
  try {
    copy = meta === undefined ? undefined : JSON.parse(JSON.stringify(meta));
  } catch {
    copy = undefined;
  }
  parentPort.postMessage({ log: { level, message, meta: copy } });
});
bundleWorkflowCode({ ...workerData.options, logger }).then(
  (bundle) => parentPort.postMessage({ code: bundle.code }),
  (err) => parentPort.postMessage({ error: err && err.stack ? err.stack : String(err) }),
);
`;

/** The bundle's code; the bundler's warnings and errors, and the bundle's size, go to `logger` (the runtime's by default). */
export function bundleInThread(
  options: ThreadBundleOptions,
  logger: Logger = Runtime.instance().logger,
): Promise<{ code: string }> {
  const sdk = createRequire(import.meta.url).resolve('@temporalio/worker');
  return new Promise((resolve, reject) => {
    const thread = new Thread(THREAD_SOURCE, { eval: true, workerData: { sdk, options } });
    let settled = false;
    thread.on('message', (message: FromThread) => {
      if (message.log !== undefined)
        logger.log(message.log.level, `Workflow bundle: ${message.log.message}`, message.log.meta);
      else if (message.code !== undefined) {
        settled = true;
        logger.info('Workflow bundle created', { size: `${(message.code.length / 2 ** 20).toFixed(2)}MB` });
        resolve({ code: message.code });
        void thread.terminate();
      } else if (message.error !== undefined) {
        settled = true;
        reject(new Error(`The workflows could not be bundled: ${message.error}`));
        void thread.terminate();
      }
    });
    thread.once('error', (err) => {
      settled = true;
      reject(err);
    });
    thread.once('exit', (code) => {
      if (!settled) reject(new Error(`The workflow bundler's thread ended (exit code ${code}) without a bundle`));
    });
  });
}
