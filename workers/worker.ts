/** Builds the worker that hosts every saga and activity on the `euicc-lifecycle` task queue. */
import type { DataConverter } from '@temporalio/common';
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import { TASK_QUEUE } from '../contracts/index.js';
import type { Activities } from '../activities/index.js';

/** The workflows' entry: TypeScript when run from source (tsx), JavaScript when compiled (`npm run build:prod`). */
export const WORKFLOWS_PATH = fileURLToPath(
  new URL(`../workflows/index.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url),
);

export interface LifecycleWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  activities: Activities;
  /** Defaults to `euicc-lifecycle`; tests use their own queue. */
  taskQueue?: string;
  /**
   * A pre-built bundle (tests build one per run) instead of bundling the workflows again. With a
   * `dataConverter`, build it with that converter's `failureConverterPath`: the bundle encodes the sagas' failures.
   */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Payload encryption (`dataConverterFor`); every client of the task queue must use the same one. */
  dataConverter?: DataConverter;
}

export function createLifecycleWorker(options: LifecycleWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    activities: options.activities,
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
  });
}
