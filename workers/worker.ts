/** Builds the worker that hosts every saga and activity on the `euicc-lifecycle` task queue. */
import type { DataConverter } from '@temporalio/common';
import { type InjectedSinks, type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TASK_QUEUE } from '../contracts/index.js';
import type { Activities } from '../activities/index.js';
import { bundleInThread } from './bundle-thread.js';
import type { SagaMetricsSinks } from './saga-metrics-interceptor.js';

/** `ts` when run from source (tsx), `js` when compiled (`npm run build:prod`). */
const SOURCE_EXTENSION = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
/** The workflows' entry: TypeScript when run from source (tsx), JavaScript when compiled (`npm run build:prod`). */
export const WORKFLOWS_PATH = fileURLToPath(new URL(`../workflows/index.${SOURCE_EXTENSION}`, import.meta.url));
/** The workflow interceptor module that reports each saga's end to the `sagaMetrics` sink. */
export const SAGA_METRICS_INTERCEPTOR_PATH = fileURLToPath(
  new URL(`./saga-metrics-interceptor.${SOURCE_EXTENSION}`, import.meta.url),
);

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
  /**
   * Worker Deployment Versioning: the deployment and this worker's build id. Unset: an unversioned worker
   * (development). Each saga's versioning behaviour is set in workflows/index.ts.
   */
  deployment?: { name: string; buildId: string };
  telemetry?: WorkerTelemetry;
}

export async function createLifecycleWorker(options: LifecycleWorkerOptions): Promise<Worker> {
  const telemetry = options.telemetry ?? {};
  const converter = options.dataConverter;
  // Bundled beside the worker, not in it: the bundler's memory goes with its thread (workers/bundle-thread.ts).
  const workflowBundle =
    options.workflowBundle ??
    (await bundleInThread({
      workflowsPath: WORKFLOWS_PATH,
      workflowInterceptorModules: workflowInterceptorModules(telemetry.workflowModules),
      ...(converter?.failureConverterPath && { failureConverterPath: converter.failureConverterPath }),
      ...(converter?.payloadConverterPath && { payloadConverterPath: converter.payloadConverterPath }),
    }));
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    activities: options.activities,
    sinks: { ...telemetry.sinks, ...(telemetry.sagaMetrics ?? DROP_SAGA_ENDS) },
    // The bundle carries the workflow interceptors (`workflowInterceptorModules`).
    interceptors: { ...(telemetry.activityInterceptors && { activity: telemetry.activityInterceptors }) },
    ...(converter ? { dataConverter: converter } : {}),
    workflowBundle,
    ...(options.deployment
      ? {
          workerDeploymentOptions: {
            version: { deploymentName: options.deployment.name, buildId: options.deployment.buildId },
            useWorkerVersioning: true,
            // Every saga names its own behaviour (workflows/index.ts); a workflow type added without one
            // stays on the version that started it, the conservative choice.
            defaultVersioningBehavior: 'PINNED' as const,
          },
        }
      : {}),
  });
}

/**
 * This worker's build id: WORKER_BUILD_ID when set (an image's build), else the package version and the
 * commit of the checkout (`0.1.0+1c1f67b`), else the version alone.
 */
export function buildIdOf(explicit?: string): string {
  if (explicit) return explicit;
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  try {
    const cwd = fileURLToPath(new URL('..', import.meta.url));
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] });
    return `${version}+${commit.toString().trim()}`;
  } catch {
    return version;
  }
}
