import { pino } from 'pino';
import { createDispatcher, WorkflowGone } from '../../callback-gateway/dispatcher.js';
import { createGatewayMetrics, GATEWAY_METRIC_NAMES } from '../../callback-gateway/metrics.js';
import { openSqliteStore, type InboxCounts } from '../../store/index.js';
import { familiesWithoutHelpOrType, parsePrometheus } from '../fixtures/prometheus.js';

const COUNTS: InboxCounts = {
  received: 5,
  duplicates: 2,
  pending: 1,
  delivered: 2,
  parked: 1,
  orphaned: 0,
  deadLetter: 1,
};

describe('gateway metrics', () => {
  it('registers every named metric, each with HELP and TYPE, and nothing else', async () => {
    const metrics = createGatewayMetrics();
    metrics.callback('CarrierService', 'accepted');
    metrics.acknowledged(0.003, 200);
    metrics.dispatched(0.4);
    const text = await metrics.text(async () => COUNTS);
    expect(familiesWithoutHelpOrType(text)).toEqual([]);
    expect([...parsePrometheus(text).keys()].sort()).toEqual([...GATEWAY_METRIC_NAMES].sort());
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('labels callbacks by service and outcome, acknowledgements by status class, inbox depth by state', async () => {
    const metrics = createGatewayMetrics();
    metrics.callback('CarrierService', 'accepted');
    metrics.callback('CarrierService', 'accepted');
    metrics.callback('StateService', 'parked', 3);
    metrics.callback('StateService', 'parked', 0);
    metrics.acknowledged(0.003, 200);
    metrics.acknowledged(0.2, 401);
    metrics.dispatched(-1); // a clock step backwards counts as no lag
    const lines = (await metrics.text(async () => COUNTS)).split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        '# TYPE euicc_gateway_callbacks_total counter',
        'euicc_gateway_callbacks_total{service="CarrierService",outcome="accepted"} 2',
        'euicc_gateway_callbacks_total{service="StateService",outcome="parked"} 3',
        '# TYPE euicc_gateway_ack_seconds histogram',
        'euicc_gateway_ack_seconds_bucket{le="0.005",status="2xx"} 1',
        'euicc_gateway_ack_seconds_count{status="4xx"} 1',
        '# TYPE euicc_gateway_dispatch_lag_seconds histogram',
        'euicc_gateway_dispatch_lag_seconds_bucket{le="0.05"} 1',
        '# TYPE euicc_gateway_inbox_callbacks gauge',
        'euicc_gateway_inbox_callbacks{state="pending"} 1',
        'euicc_gateway_inbox_callbacks{state="deadLetter"} 1',
        'euicc_gateway_inbox_received 5',
        'euicc_gateway_inbox_duplicates 2',
      ]),
    );
  });

  it('the dispatcher counts parked, delivered and orphaned callbacks and times their dispatch', async () => {
    const store = openSqliteStore(':memory:');
    const metrics = createGatewayMetrics();
    const receivedAt = new Date(Date.parse('2026-01-01T00:00:00Z')).toISOString();
    const record = (requestId: string) =>
      store.recordCallback({
        service: 'CarrierService',
        fingerprint: requestId,
        body: { requestId },
        receivedAt,
        keys: [`requestid:${requestId}`],
      });
    for (const n of [1, 2]) {
      const saga = { workflowId: `wf-${n}`, runId: `run-${n}` };
      await store.claimDevices(saga, [`imei:99000000000000${n}`]);
      await store.addCorrelationKeys(saga, [`requestid:r-${n}`]);
    }
    await record('r-1');
    await record('r-2');
    await record('r-unknown');
    const dispatcher = createDispatcher({
      store,
      logger: pino({ level: 'silent' }),
      metrics,
      now: () => Date.parse(receivedAt) + 1500,
      signal: async (saga) => {
        if (saga.workflowId === 'wf-2') throw new WorkflowGone('wf-2');
      },
    });
    expect(await dispatcher.runOnce()).toBe(3);
    const lines = (await metrics.text(() => store.counts())).split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        'euicc_gateway_callbacks_total{service="CarrierService",outcome="parked"} 1',
        'euicc_gateway_callbacks_total{service="CarrierService",outcome="delivered"} 1',
        'euicc_gateway_callbacks_total{service="CarrierService",outcome="orphaned"} 1',
        'euicc_gateway_dispatch_lag_seconds_bucket{le="1"} 0',
        'euicc_gateway_dispatch_lag_seconds_bucket{le="2.5"} 1',
        'euicc_gateway_dispatch_lag_seconds_sum 1.5',
      ]),
    );
    await store.close();
  });
});
