/** The gateway's spans: a callback POST, and the dispatch of its signal under it (with links to the others it carries). */
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { pino } from 'pino';
import { createDispatcher } from '../../callback-gateway/dispatcher.js';
import { maskedCallbackPath } from '../../callback-gateway/tracing.js';
import { openSqliteStore } from '../../store/index.js';
import { startTracing, type Tracing } from '../../telemetry/tracing.js';
import { listenGateway, postJson } from '../fixtures/http.js';
import { CALLBACK_CREDENTIALS, deactivationCallback, identifierChangeCallback } from '../fixtures/swap-callbacks.js';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;

beforeAll(() => {
  tracing = startTracing({ serviceName: 'gateway-test', spanProcessor: new SimpleSpanProcessor(exporter) }) as Tracing;
});

afterAll(async () => {
  await tracing.shutdown();
});

test('two callbacks signalled together: the dispatch span is a child of the first POST, links the second, and wraps the signal', async () => {
  const store = openSqliteStore(':memory:');
  const saga = { workflowId: 'wf-traced', runId: 'run-traced' };
  await store.claimDevices(saga, ['imei:990003420535573']);
  const gateway = await listenGateway({ store, credentials: CALLBACK_CREDENTIALS });
  try {
    const first = deactivationCallback(CALLBACK_CREDENTIALS);
    const second = { ...identifierChangeCallback(CALLBACK_CREDENTIALS), deviceIds: first.deviceIds };
    await postJson(`${gateway.url}/callbacks/CarrierService`, first);
    await postJson(`${gateway.url}/callbacks/CarrierService`, second);
    await postJson(`${gateway.url}/callbacks/CarrierService`, { ...first, password: 'wrong-password' });

    let activeInSignal: string | undefined;
    const dispatcher = createDispatcher({
      store,
      logger: pino({ level: 'silent' }),
      signal: async () => {
        activeInSignal = trace.getActiveSpan()?.spanContext().spanId;
      },
    });
    expect(await dispatcher.runOnce()).toBe(2);

    const spans = exporter.getFinishedSpans();
    const posts = spans.filter((s) => s.name === 'POST /callbacks');
    expect(posts.map((p) => p.attributes['euicc.callback.outcome'])).toEqual(['accepted', 'accepted', 'refused']);
    expect(posts.map((p) => p.attributes['http.response.status_code'])).toEqual([200, 200, 401]);
    const [dispatch] = spans.filter((s) => s.name === 'dispatch callbacks');
    expect(dispatch?.parentSpanId).toBe(posts[0]?.spanContext().spanId);
    expect(dispatch?.spanContext().traceId).toBe(posts[0]?.spanContext().traceId);
    expect(dispatch?.links.map((l) => l.context.spanId)).toEqual([posts[1]?.spanContext().spanId]);
    expect(dispatch?.attributes).toMatchObject({ 'temporal.workflow_id': 'wf-traced', 'euicc.callbacks': 2 });
    expect(activeInSignal).toBe(dispatch?.spanContext().spanId);
  } finally {
    await gateway.close();
    await store.close();
  }
});

describe('maskedCallbackPath', () => {
  it('never shows the segment that may be the path token', () => {
    expect(maskedCallbackPath('/callbacks/s3cr3t-token-0123456789/CarrierService/0000123456-00001?x=1')).toBe(
      '/callbacks/<token>/CarrierService/0000123456-00001',
    );
    expect(maskedCallbackPath('/callbacks/CarrierService')).toBe('/callbacks/<token>');
  });
});
