import type { Client } from '@temporalio/client';
import type { WorkflowInfo } from '@temporalio/workflow';
import { createServer } from 'node:http';
import { createWorkerMetrics, serveWorkerMetrics, WORKER_METRIC_NAMES } from '../../workers/metrics.js';
import { familiesWithoutHelpOrType, parsePrometheus } from '../fixtures/prometheus.js';
import { listen } from '../fixtures/http.js';

/** A visibility that holds `held` sagas per operation, recording the queries it was asked. */
function visibility(held: Record<string, number>, queries: string[] = []): Pick<Client, 'workflow'> {
  return {
    workflow: {
      count: async (query: string) => {
        queries.push(query);
        const operation = /Operation = '(\w+)'/.exec(query)?.[1] ?? '';
        return { count: held[operation] ?? 0, groups: [] };
      },
    },
  } as unknown as Pick<Client, 'workflow'>;
}

const INFO = {} as WorkflowInfo;

describe('worker metrics', () => {
  it('turns saga ends and ThingSpace calls into labelled counters and histograms, each with HELP and TYPE', async () => {
    const metrics = createWorkerMetrics();
    const ended = metrics.sinks.sagaMetrics.ended;
    expect(ended.callDuringReplay).toBe(false);
    void ended.fn(INFO, { operation: 'eidDeviceSwap', outcome: 'completed', failureType: '', seconds: 42 });
    void ended.fn(INFO, { operation: 'eidDeviceSwap', outcome: 'failed', failureType: 'StepTimedOut', seconds: 7200 });
    metrics.thingspaceCall({ endpoint: 'eidDeviceSwap', status: '202', seconds: 0.3 });
    metrics.thingspaceCall({ endpoint: 'listDevices', status: 'TIMEOUT', seconds: 30 });
    metrics.countHeldWith(visibility({ eidDeviceSwap: 2 }));

    const text = await metrics.registry.metrics();
    expect(familiesWithoutHelpOrType(text)).toEqual([]);
    expect([...parsePrometheus(text).keys()].sort()).toEqual([...WORKER_METRIC_NAMES].sort());
    expect(text.split('\n')).toEqual(
      expect.arrayContaining([
        '# TYPE euicc_saga_outcomes_total counter',
        'euicc_saga_outcomes_total{operation="eidDeviceSwap",outcome="completed",failure_type=""} 1',
        'euicc_saga_outcomes_total{operation="eidDeviceSwap",outcome="failed",failure_type="StepTimedOut"} 1',
        '# TYPE euicc_saga_duration_seconds histogram',
        'euicc_saga_duration_seconds_bucket{le="60",operation="eidDeviceSwap",outcome="completed"} 1',
        'euicc_saga_duration_seconds_sum{operation="eidDeviceSwap",outcome="failed"} 7200',
        '# TYPE euicc_sagas_held gauge',
        'euicc_sagas_held{operation="eidDeviceSwap"} 2',
        'euicc_sagas_held{operation="changeDeviceIdentifier"} 0',
        '# TYPE euicc_thingspace_requests_total counter',
        'euicc_thingspace_requests_total{endpoint="eidDeviceSwap",status="202"} 1',
        'euicc_thingspace_requests_total{endpoint="listDevices",status="TIMEOUT"} 1',
        '# TYPE euicc_thingspace_request_seconds histogram',
        'euicc_thingspace_request_seconds_bucket{le="0.5",endpoint="eidDeviceSwap",status="202"} 1',
      ]),
    );
  });

  it('counts held sagas by SagaStep, operation and running status; leaves them out when Temporal does not answer', async () => {
    const metrics = createWorkerMetrics();
    const queries: string[] = [];
    metrics.countHeldWith(visibility({ bulk: 1 }, queries));
    await metrics.registry.metrics();
    expect(queries).toContain(
      "SagaStep = 'awaitingDecision' AND Operation = 'eidDeviceSwap' AND ExecutionStatus = 'Running'",
    );
    metrics.countHeldWith({
      workflow: { count: () => Promise.reject(new Error('unavailable')) },
    } as unknown as Pick<Client, 'workflow'>);
    const text = await metrics.registry.metrics();
    expect(text).toContain('# TYPE euicc_sagas_held gauge');
    expect(text).not.toMatch(/^euicc_sagas_held\{/m);
  });

  it('serves the runtime metrics, then its own, on one /metrics; the own alone when the runtime is unreachable', async () => {
    const runtime = await listen({
      listen: (port, host) =>
        createServer((_req, res) => res.end('# HELP temporal_x x\n# TYPE temporal_x counter\ntemporal_x 3')).listen(
          port,
          host,
        ),
    });
    const metrics = createWorkerMetrics();
    metrics.thingspaceCall({ endpoint: 'listDevices', status: '200', seconds: 0.1 });
    const served = await serveWorkerMetrics({
      registry: metrics.registry,
      host: '127.0.0.1',
      port: 0,
      runtimeMetricsUrl: `${runtime.url}/metrics`,
    });
    try {
      const res = await fetch(served.url);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      expect(text.startsWith('# HELP temporal_x x\n# TYPE temporal_x counter\ntemporal_x 3\n# HELP euicc_')).toBe(true);
      expect(familiesWithoutHelpOrType(text)).toEqual([]);
      expect((await fetch(served.url.replace('/metrics', '/other'))).status).toBe(404);
      await runtime.close();
      const alone = await (await fetch(served.url)).text();
      expect(alone).not.toContain('temporal_x');
      expect(alone).toContain('euicc_thingspace_requests_total{endpoint="listDevices",status="200"} 1');
    } finally {
      served.server.close();
    }
  });
});
