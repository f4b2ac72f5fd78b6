/**
 * Bundles the workflows in a worker thread. Bundling (webpack) in the worker's own thread leaves about
 * 100 MiB of heap in the process for its whole life; a thread's heap goes when the thread ends
 * (BENCHMARKS.md, "Worker memory"). The options are the ones the SDK would bundle with itself.
 */
import { type Logger, Runtime } from '@temporalio/worker';
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
  warning?: string;
  error?: string;
}

/** CommonJS run by the thread; plain JavaScript, so that it runs the same from source (tsx) and compiled. */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { bundleWorkflowCode, DefaultLogger } = require(workerData.sdk);
const logger = new DefaultLogger('WARN', (entry) => parentPort.postMessage({ warning: entry.message }));
bundleWorkflowCode({ ...workerData.options, logger }).then(
  (bundle) => parentPort.postMessage({ code: bundle.code }),
  (err) => parentPort.postMessage({ error: err && err.stack ? err.stack : String(err) }),
);
`;

/** The bundle's code; the bundler's warnings and the bundle's size go to `logger` (the runtime's by default). */
export function bundleInThread(
  options: ThreadBundleOptions,
  logger: Logger = Runtime.instance().logger,
): Promise<{ code: string }> {
  const sdk = createRequire(import.meta.url).resolve('@temporalio/worker');
  return new Promise((resolve, reject) => {
    const thread = new Thread(THREAD_SOURCE, { eval: true, workerData: { sdk, options } });
    let settled = false;
    thread.on('message', (message: FromThread) => {
      if (message.warning !== undefined) logger.warn(`Workflow bundle: ${message.warning}`);
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
