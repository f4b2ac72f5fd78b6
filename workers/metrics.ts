/**
 * The worker's Prometheus metrics: the project's own (prom-client) and the Temporal runtime's (task
 * latencies, failures, non-determinism, sticky cache, slots), which Core serves on a loopback port of its
 * own; `serveWorkerMetrics` answers GET /metrics with both, so one port is scraped.
 */
import type { Client } from '@temporalio/client';
import type { InjectedSinks } from '@temporalio/worker';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { searchAttributes, WORKFLOW_TYPES } from '../contracts/index.js';
import type { ThingSpaceCall } from '../thingspace/index.js';
import type { SagaEnd, SagaMetricsSinks } from './saga-metrics-interceptor.js';

/** Every metric name the worker registers itself (the dashboard test checks its expressions against them). */
export const WORKER_METRIC_NAMES = [
  'euicc_saga_outcomes_total',
  'euicc_saga_duration_seconds',
  'euicc_sagas_held',
  'euicc_thingspace_requests_total',
  'euicc_thingspace_request_seconds',
] as const;

/** Names of the Temporal runtime's metrics the dashboard uses (Core's Prometheus exporter, `temporal_` prefix). */
export const RUNTIME_METRIC_NAMES = [
  'temporal_workflow_task_schedule_to_start_latency',
  'temporal_workflow_task_execution_latency',
  'temporal_workflow_task_execution_failed',
  'temporal_activity_execution_latency',
  'temporal_activity_execution_failed',
  'temporal_sticky_cache_size',
  'temporal_worker_task_slots_available',
] as const;

export interface WorkerMetrics {
  readonly registry: Registry;
  /** The `sagaMetrics` sink of the saga metrics interceptor. */
  readonly sinks: InjectedSinks<SagaMetricsSinks>;
  /** The ThingSpace client's `observe` hook. */
  thingspaceCall(call: ThingSpaceCall): void;
  /** Reads held sagas from Temporal's visibility at each scrape, per operation. */
  countHeldWith(client: Pick<Client, 'workflow'>): void;
}

const OPERATIONS = Object.values(WORKFLOW_TYPES);

export function createWorkerMetrics(): WorkerMetrics {
  const registry = new Registry();
  const outcomes = new Counter({
    name: 'euicc_saga_outcomes_total',
    help: 'Saga runs ended on this worker, by operation, outcome (completed, failed, cancelled, continuedAsNew) and failure type',
    labelNames: ['operation', 'outcome', 'failure_type'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'euicc_saga_duration_seconds',
    help: "Seconds from a saga's start to its end (workflow time, holds included), by operation and outcome",
    labelNames: ['operation', 'outcome'],
    buckets: [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 7 * 24 * 3600],
    registers: [registry],
  });
  let heldClient: Pick<Client, 'workflow'> | undefined;
  new Gauge({
    name: 'euicc_sagas_held',
    help: "Running sagas awaiting an operator's decision (SagaStep awaitingDecision), by operation, read from Temporal at each scrape",
    labelNames: ['operation'],
    registers: [registry],
    async collect() {
      if (!heldClient) return;
      const client = heldClient;
      const counts = await Promise.all(
        OPERATIONS.map((operation) =>
          client.workflow
            .count(
              `${searchAttributes.SagaStep.name} = 'awaitingDecision' AND ${searchAttributes.Operation.name} = '${operation}' AND ExecutionStatus = 'Running'`,
            )
            .then(({ count }) => count)
            .catch(() => undefined),
        ),
      );
      // Temporal unreachable: the series are left out rather than reported as zero.
      this.reset();
      OPERATIONS.forEach((operation, i) => {
        const count = counts[i];
        if (count !== undefined) this.set({ operation }, count);
      });
    },
  });
  const requests = new Counter({
    name: 'euicc_thingspace_requests_total',
    help: 'HTTP requests to ThingSpace by endpoint and status (HTTP status, TIMEOUT, NETWORK or aborted)',
    labelNames: ['endpoint', 'status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'euicc_thingspace_request_seconds',
    help: 'Seconds per HTTP request to ThingSpace, by endpoint and status',
    labelNames: ['endpoint', 'status'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60],
    registers: [registry],
  });

  return {
    registry,
    sinks: {
      sagaMetrics: {
        ended: {
          fn(_info, end: SagaEnd) {
            outcomes.inc({ operation: end.operation, outcome: end.outcome, failure_type: end.failureType });
            duration.observe({ operation: end.operation, outcome: end.outcome }, end.seconds);
          },
          callDuringReplay: false,
        },
      },
    },
    thingspaceCall({ endpoint, status, seconds }) {
      requests.inc({ endpoint, status });
      latency.observe({ endpoint, status }, seconds);
    },
    countHeldWith(client) {
      heldClient = client;
    },
  };
}

export interface WorkerMetricsServerOptions {
  registry: Registry;
  host: string;
  port: number;
  /** Core's Prometheus endpoint (`http://127.0.0.1:<port>/metrics`), whose text is served first. */
  runtimeMetricsUrl?: string;
}

/** GET /metrics: the runtime's metrics, then the worker's own; `url` is where it listens. */
export async function serveWorkerMetrics(
  options: WorkerMetricsServerOptions,
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
      return;
    }
    void (async () => {
      let runtime = '';
      if (options.runtimeMetricsUrl !== undefined) {
        // The runtime's text alone is lost when Core cannot be read; the worker's own is still served.
        runtime = await fetch(options.runtimeMetricsUrl, { signal: AbortSignal.timeout(5000) })
          .then((r) => (r.ok ? r.text() : ''))
          .catch(() => '');
        if (runtime !== '' && !runtime.endsWith('\n')) runtime += '\n';
      }
      const own = await options.registry.metrics();
      res.writeHead(200, { 'content-type': options.registry.contentType }).end(runtime + own);
    })().catch(() => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('Metrics unavailable\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}/metrics` };
}
