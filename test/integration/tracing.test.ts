/**
 * One swap, traced with an in-memory exporter: the backend's start, the workflow, each activity, the
 * ThingSpace HTTP call, and each callback from the gateway's POST through the dispatcher's signal to the
 * saga's handling of it, every span in its parent's trace.
 */
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { startEidDeviceSwap } from '../../client/index.js';
import { startTracing, type Tracing } from '../../telemetry/tracing.js';
import { seedSwapPair, startSystem, swapRequest, waitFor, type TestSystem } from './harness.js';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let system: TestSystem;

beforeAll(async () => {
  const started = startTracing({ serviceName: 'euicc-test', spanProcessor: new SimpleSpanProcessor(exporter) });
  if (!started) throw new Error('tracing did not start');
  tracing = started;
  system = await startSystem({ tracing });
});

afterAll(async () => {
  await system?.stop();
  await tracing?.shutdown();
});

const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
const named = (name: string): ReadableSpan[] => spans().filter((s) => s.name === name);
const parentOf = (span: ReadableSpan): ReadableSpan | undefined =>
  spans().find((s) => s.spanContext().spanId === span.parentSpanId);

test('a swap is one trace from its start to each activity and ThingSpace call; a callback one from POST to signal', async () => {
  const pair = await seedSwapPair(system);
  const swap = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
  await swap.result();
  // Workflow spans reach the exporter through a sink, after the workflow task that ends them.
  await waitFor(
    async () => named('RunWorkflow:eidDeviceSwap').length > 0 && named('HandleSignal:thingspaceCallback').length > 0,
  );

  const [start] = named('StartWorkflow:eidDeviceSwap');
  expect(start).toBeDefined();
  const traceId = start?.spanContext().traceId;
  const run = named('RunWorkflow:eidDeviceSwap').find((s) => s.spanContext().traceId === traceId);
  expect(run).toBeDefined();

  // Each activity of the saga, in the saga's trace; the submit's ThingSpace call inside it.
  const activities = spans().filter((s) => s.name.startsWith('RunActivity:') && s.spanContext().traceId === traceId);
  expect(activities.map((s) => s.name)).toEqual(expect.arrayContaining(['RunActivity:submitEidDeviceSwap']));
  const [call] = named('ThingSpace eidDeviceSwap');
  expect(call?.spanContext().traceId).toBe(traceId);
  expect(parentOf(call as ReadableSpan)?.name).toBe('RunActivity:submitEidDeviceSwap');
  expect(call?.attributes['http.response.status_code']).toBeGreaterThanOrEqual(200);

  // A callback: POST → dispatch → SignalWorkflow (the gateway's client) → HandleSignal (in the saga).
  const handled = named('HandleSignal:thingspaceCallback');
  expect(handled.length).toBeGreaterThan(0);
  for (const handle of handled) {
    const signal = parentOf(handle);
    expect(signal?.name).toBe('SignalWorkflow:thingspaceCallback');
    const dispatch = parentOf(signal as ReadableSpan);
    expect(dispatch?.name).toBe('dispatch callbacks');
    expect(dispatch?.attributes['temporal.workflow_id']).toBe(swap.workflowId);
    const post = parentOf(dispatch as ReadableSpan);
    expect(post?.name).toBe('POST /callbacks');
    expect(post?.attributes['euicc.callback.outcome']).toBe('accepted');
    expect(handle.spanContext().traceId).toBe(post?.spanContext().traceId);
  }
  // Every accepted callback's POST is the parent of, or linked from, a dispatch span.
  const dispatched = new Set(
    named('dispatch callbacks').flatMap((d) => [d.parentSpanId, ...d.links.map((l) => l.context.spanId)]),
  );
  for (const post of named('POST /callbacks').filter((p) => p.attributes['euicc.callback.outcome'] === 'accepted')) {
    expect(dispatched).toContain(post.spanContext().spanId);
  }
});
