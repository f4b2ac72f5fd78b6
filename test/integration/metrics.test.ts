/**
 * The worker and the gateway, each its own process as in production (`tsx workers/main.ts`,
 * `tsx callback-gateway/main.ts`) on one SQLite inbox, run a swap against the simulator; then both answer
 * GET /metrics in Prometheus text: the gateway its callbacks, latencies and inbox depths, the worker its
 * saga outcome, ThingSpace calls and the Temporal runtime's task metrics on one port.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decide, startEidDeviceSwap } from '../../client/index.js';
import { findFreePort } from '../../scripts/lib/dev-server.js';
import { startPart, waitForHttp, type Part } from '../../scripts/lib/processes.js';
import { registerCallbacks } from '../../scripts/lib/register-callbacks.js';
import { createSimulator, type Simulator } from '../../simulator/app.js';
import { createThingSpaceClient } from '../../thingspace/index.js';
import { RUNTIME_METRIC_NAMES } from '../../workers/metrics.js';
import { listen, type Listening } from '../fixtures/http.js';
import { familiesWithoutHelpOrType, parsePrometheus } from '../fixtures/prometheus.js';
import { ACCOUNT, seedSwapPair, swapRequest, waitFor } from './harness.js';
import { connectTestClient, testServerAddress, type TestClient } from './temporal-env.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CALLBACKS = { username: 'metrics-callbacks', password: 'metrics-callback-password-24chars' };
const PATH_TOKEN = 'metrics-callback-path-token-0123456789';
const SIM = {
  clientId: 'sim-client-id',
  clientSecret: 'sim-client-secret',
  username: 'sim-user',
  password: 'sim-password',
};

let dir: string;
let simulator: Simulator;
let sim: Listening;
let parts: Part[] = [];
let temporal: TestClient;
let gatewayUrl: string;
/** The gateway's internal port: /metrics. */
let operatorUrl: string;
let workerMetricsUrl: string;

async function simCall<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${sim.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`simulator ${method} ${path} answered ${res.status}`);
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

async function metricsText(url: string): Promise<{ contentType: string | null; text: string }> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return { contentType: res.headers.get('content-type'), text: await res.text() };
}

/** The value of the sample `name{labels}` (labels as printed), or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const family of parsePrometheus(text).values()) {
    for (const s of family.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels.includes(`${k}="${v}"`))) return s.value;
    }
  }
  return undefined;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'euicc-metrics-'));
  simulator = createSimulator({ callbackDelayMs: 20, retryIntervalMs: 200, seed: 11 });
  sim = await listen(simulator.app);
  temporal = await connectTestClient();
  const [gatewayPort, operatorPort, workerPort, runtimePort] = [
    await findFreePort(),
    await findFreePort(),
    await findFreePort(),
    await findFreePort(),
  ];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FORCE_COLOR: '0',
    LOG_LEVEL: 'warn',
    RUST_LOG: 'error',
    DATA_DIR: dir,
    TEMPORAL_ADDRESS: testServerAddress(),
  };
  for (const name of ['DATABASE_URL', 'TEMPORAL_NAMESPACE', 'PAYLOAD_ENCRYPTION_KEY', 'OTEL_EXPORTER_OTLP_ENDPOINT']) {
    delete env[name];
  }
  gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  operatorUrl = `http://127.0.0.1:${operatorPort}`;
  workerMetricsUrl = `http://127.0.0.1:${workerPort}/metrics`;
  parts = [
    startPart('gateway', join(ROOT, 'callback-gateway/main.ts'), {
      ...env,
      GATEWAY_PORT: String(gatewayPort),
      GATEWAY_HOST: '127.0.0.1',
      CALLBACK_USERNAME: CALLBACKS.username,
      CALLBACK_PASSWORD: CALLBACKS.password,
      CALLBACK_PATH_TOKEN: PATH_TOKEN,
      OPERATOR_PORT: String(operatorPort),
      DISPATCH_INTERVAL_MS: '50',
    }),
    startPart('worker', join(ROOT, 'workers/main.ts'), {
      ...env,
      THINGSPACE_BASE_URL: `${sim.url}/api`,
      WORKER_METRICS_PORT: String(workerPort),
      TEMPORAL_METRICS_PORT: String(runtimePort),
    }),
  ];
  await Promise.all([waitForHttp(`${gatewayUrl}/readyz`), waitForHttp(workerMetricsUrl)]);
  const thingspace = createThingSpaceClient({ baseUrl: `${sim.url}/api`, ...SIM });
  await registerCallbacks(thingspace, {
    accountName: ACCOUNT,
    baseUrl: `${gatewayUrl}/callbacks`,
    pathToken: PATH_TOKEN,
    ...CALLBACKS,
  });
});

afterAll(async () => {
  await Promise.all(parts.map((part) => part.stop()));
  await temporal?.connection.close();
  await simulator?.close();
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('after a swap, the gateway and the worker answer /metrics in Prometheus text', async () => {
  const pair = await seedSwapPair({ sim: simCall });
  // The production worker polls the default task queue.
  const swap = await startEidDeviceSwap(temporal.client, swapRequest(pair));
  await swap.result();

  const gateway = await metricsText(`${operatorUrl}/metrics`);
  expect(gateway.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  expect(familiesWithoutHelpOrType(gateway.text)).toEqual([]);
  // A swap's three callbacks: deactivation and identifier change (CarrierService), GoToState (StateService).
  expect(sample(gateway.text, 'euicc_gateway_callbacks_total', { outcome: 'accepted' })).toBeGreaterThan(0);
  expect(sample(gateway.text, 'euicc_gateway_callbacks_total', { outcome: 'delivered' })).toBeGreaterThan(0);
  expect(sample(gateway.text, 'euicc_gateway_ack_seconds_count', { status: '2xx' })).toBeGreaterThan(0);
  expect(sample(gateway.text, 'euicc_gateway_dispatch_lag_seconds_count')).toBeGreaterThan(0);
  expect(sample(gateway.text, 'euicc_gateway_inbox_callbacks', { state: 'delivered' })).toBeGreaterThan(0);

  const worker = await metricsText(workerMetricsUrl);
  expect(worker.contentType).toMatch(/^text\/plain/);
  expect(familiesWithoutHelpOrType(worker.text)).toEqual([]);
  expect(sample(worker.text, 'euicc_saga_outcomes_total', { operation: 'eidDeviceSwap', outcome: 'completed' })).toBe(
    1,
  );
  expect(sample(worker.text, 'euicc_saga_duration_seconds_count', { operation: 'eidDeviceSwap' })).toBe(1);
  const submits = [...(parsePrometheus(worker.text).get('euicc_thingspace_requests_total')?.samples ?? [])].filter(
    (s) => s.labels.includes('endpoint="eidDeviceSwap"'),
  );
  expect(submits).toEqual([expect.objectContaining({ labels: expect.stringMatching(/status="2\d\d"/), value: 1 })]);
  expect(sample(worker.text, 'euicc_thingspace_request_seconds_count', { endpoint: 'eidDeviceSwap' })).toBe(1);
  expect(sample(worker.text, 'euicc_sagas_held', { operation: 'eidDeviceSwap' })).toBe(0);
  // The Temporal runtime's own metrics, from Core's exporter, on the same port: those the dashboard reads
  // (the failure counters appear with the first failure).
  const families = parsePrometheus(worker.text);
  for (const name of RUNTIME_METRIC_NAMES.filter((n) => !n.endsWith('_failed'))) {
    expect([name, (families.get(name)?.samples.length ?? 0) > 0]).toEqual([name, true]);
  }
});

test('a held saga shows in euicc_sagas_held until it is decided; its end is counted with its failure type', async () => {
  const held = async (): Promise<number> =>
    sample((await metricsText(workerMetricsUrl)).text, 'euicc_sagas_held', { operation: 'eidDeviceSwap' }) ?? -1;
  // Sagas other test files left held on the shared server count too: compare with what was there before.
  const before = await held();
  expect(before).toBeGreaterThanOrEqual(0);
  await simCall('POST', '/__sim/faults', {
    callbacks: {
      fail: {
        identifierChange: { faultcode: 'REQUEST_FAILED.UnexpectedError', faultstring: 'The SM-SR did not answer.' },
      },
    },
  });
  try {
    const pair = await seedSwapPair({ sim: simCall });
    const swap = await startEidDeviceSwap(
      temporal.client,
      swapRequest(pair, { options: { failurePolicy: 'hold', stepTimeout: '2 seconds' } }),
    );
    await waitFor(async () => (await swap.status()).phase === 'awaitingDecision');
    // Visibility follows the search attribute shortly after.
    await waitFor(async () => (await held()) === before + 1);
    await decide(temporal.client, swap.workflowId, {
      decision: 'abandon',
      reason: 'metrics test',
      operator: 'ops-test',
    });
    await swap.result().catch(() => undefined);
    await waitFor(async () => (await held()) === before);
  } finally {
    await simCall('POST', '/__sim/faults', { clear: true });
  }
  const text = (await metricsText(workerMetricsUrl)).text;
  expect(
    sample(text, 'euicc_saga_outcomes_total', {
      operation: 'eidDeviceSwap',
      outcome: 'failed',
      failure_type: 'Abandoned',
    }),
  ).toBe(1);
  expect(sample(text, 'euicc_saga_duration_seconds_count', { operation: 'eidDeviceSwap', outcome: 'failed' })).toBe(1);
});
