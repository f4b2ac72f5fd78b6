/** Builds the worker that hosts every saga and activity on the `euicc-lifecycle` task queue. */
import type { DataConverter } from '@temporalio/common';
import { type InjectedSinks, type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import { TASK_QUEUE } from '../contracts/index.js';
import type { Activities } from '../activities/index.js';
import type { SagaMetricsSinks } from './saga-metrics-interceptor.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
/** The workflow interceptor module that reports each saga's end to the `sagaMetrics` sink. */
export const SAGA_METRICS_INTERCEPTOR_PATH = fileURLToPath(new URL('./saga-metrics-interceptor.ts', import.meta.url));

/**
 * The workflow interceptor modules every bundle carries: the saga metrics, and with `tracing` the extra
 * modules (OpenTelemetry's workflow interceptors). A pre-built bundle must be built with the same list.
 */
export function workflowInterceptorModules(tracing: readonly string[] = []): string[] {
  return [SAGA_METRICS_INTERCEPTOR_PATH, ...tracing];
}

/** What the worker adds for metrics and tracing: sinks, activity interceptors, extra workflow modules. */
export interface WorkerTelemetry {
  /** The `sagaMetrics` sink (workers/metrics.ts); default one that drops the reports. */
  sagaMetrics?: InjectedSinks<SagaMetricsSinks>;
  /** Further sinks (OpenTelemetry's span exporter). */
  sinks?: WorkerOptions['sinks'];
  activityInterceptors?: NonNullable<WorkerOptions['interceptors']>['activity'];
  /** Further workflow interceptor modules (`workflowInterceptorModules`). */
  workflowModules?: readonly string[];
}

const DROP_SAGA_ENDS: InjectedSinks<SagaMetricsSinks> = {
  sagaMetrics: { ended: { fn: () => undefined, callDuringReplay: false } },
};

export interface LifecycleWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  activities: Activities;
  /** Defaults to `euicc-lifecycle`; tests use their own queue. */
  taskQueue?: string;
  /**
   * A pre-built bundle (tests build one per run) instead of bundling the workflows again. With a
   * `dataConverter`, build it with that converter's `failureConverterPath`: the bundle encodes the sagas' failures.
   * Build it with `workflowInterceptorModules(telemetry.workflowModules)` too, or saga ends are not reported.
   */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Payload encryption (`dataConverterFor`); every client of the task queue must use the same one. */
  dataConverter?: DataConverter;
  telemetry?: WorkerTelemetry;
}

export function createLifecycleWorker(options: LifecycleWorkerOptions): Promise<Worker> {
  const telemetry = options.telemetry ?? {};
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    activities: options.activities,
    sinks: { ...telemetry.sinks, ...(telemetry.sagaMetrics ?? DROP_SAGA_ENDS) },
    interceptors: {
      // A pre-built bundle carries its workflow interceptors (`workflowInterceptorModules`).
      ...(!options.workflowBundle && { workflowModules: workflowInterceptorModules(telemetry.workflowModules) }),
      ...(telemetry.activityInterceptors && { activity: telemetry.activityInterceptors }),
    },
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
  });
}
