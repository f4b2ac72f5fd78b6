/**
 * The whole system in one test process, every part real: the shared Temporal dev server, a worker on
 * its own task queue, the callback gateway with its SQLite inbox, and the ThingSpace simulator, all
 * over HTTP on loopback ports chosen by the OS.
 */
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createActivities } from '../../activities/index.js';
import { createApp } from '../../callback-gateway/app.js';
import { registerCallbacks } from '../../scripts/lib/register-callbacks.js';
import { createDispatcher, type Dispatcher } from '../../callback-gateway/dispatcher.js';
import { temporalSignaler } from '../../callback-gateway/signal.js';
import { dataConverterFor } from '../../codec/index.js';
import { type DeviceId, type EidDeviceSwapRequest } from '../../contracts/index.js';
import { createSimulator } from '../../simulator/app.js';
import { openSqliteOperationStore, openSqliteStore, type OperationStore, type Store } from '../../store/index.js';
import { createThingSpaceClient } from '../../thingspace/index.js';
import { tracingClientInterceptors, tracingWorkerTelemetry, type Tracing } from '../../telemetry/tracing.js';
import { createLifecycleWorker, workflowInterceptorModules, WORKFLOWS_PATH } from '../../workers/worker.js';
import { listen } from '../fixtures/http.js';

export const ACCOUNT = '0000123456-00001';
export const CALLBACK_CREDENTIALS = { username: 'test-callbacks', password: 'test-callback-password' };
/** The secret path segment of the registered callback URLs (`/callbacks/<token>/<service>/<account>`). */
export const CALLBACK_PATH_TOKEN = 'integration-callback-path-token-0123456789';
const SIM_CREDENTIALS = {
  clientId: 'sim-client-id',
  clientSecret: 'sim-client-secret',
  username: 'sim-user',
  password: 'sim-password',
};

/** Secrets the worker holds; none may reach workflow history. */
export const SIM_SECRETS = [SIM_CREDENTIALS.clientSecret, SIM_CREDENTIALS.password];

let runtimeInstalled = false;
type WorkflowBundle = Awaited<ReturnType<typeof bundleWorkflowCode>>;
/**
 * Bundles by failure converter path ('' for none) and extra interceptor modules: a worker given a bundle
 * takes its failure converter and workflow interceptors from it.
 */
const bundles = new Map<string, WorkflowBundle>();

/** The workflows, bundled once per failure converter and set of interceptor modules. */
async function workflowBundle(
  failureConverterPath?: string,
  extraModules: readonly string[] = [],
): Promise<WorkflowBundle> {
  const key = [failureConverterPath ?? '', ...extraModules].join('\n');
  const cached = bundles.get(key);
  if (cached) return cached;
  const bundle = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: new DefaultLogger('WARN'),
    workflowInterceptorModules: workflowInterceptorModules(extraModules),
    ...(failureConverterPath !== undefined && { failureConverterPath }),
  });
  bundles.set(key, bundle);
  return bundle;
}

export interface TestSystem {
  client: Client;
  taskQueue: string;
  store: Store;
  /** The bulk operations' device sets (SQLite, next to the inbox). */
  operations: OperationStore;
  gatewayUrl: string;
  simulatorUrl: string;
  dispatcher: Dispatcher;
  /** Stops the worker with its activities in flight and starts another on the same task queue. */
  restartWorker(): Promise<void>;
  /** JSON call to the simulator's control API. */
  sim<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export interface SystemOptions {
  /** A Temporal server of the test's own (the chaos project has no global setup); default the shared one. */
  temporalAddress?: string;
  /** PAYLOAD_ENCRYPTION_KEY for the worker, the test client and the gateway's signals; default none. */
  payloadEncryptionKey?: string;
  /** Worker Deployment Versioning for the worker; default an unversioned worker. */
  deployment?: { name: string; buildId: string };
  /** Traces the test client, the gateway's signals, the workflows and activities (telemetry/tracing.ts). */
  tracing?: Tracing;
}

export async function startSystem(options: SystemOptions = {}): Promise<TestSystem> {
  const address = options.temporalAddress ?? process.env.TEMPORAL_TEST_ADDRESS;
  if (!address) throw new Error('TEMPORAL_TEST_ADDRESS is unset: run integration tests through jest (global setup)');
  if (!runtimeInstalled) {
    runtimeInstalled = true;
    try {
      Runtime.install({ logger: new DefaultLogger('ERROR') });
    } catch {
      // Installed already by an earlier test file in this process.
    }
  }
  const dataConverter = dataConverterFor(options.payloadEncryptionKey);
  const telemetry = options.tracing && tracingWorkerTelemetry(options.tracing);
  const bundle = await workflowBundle(dataConverter?.failureConverterPath, telemetry?.workflowModules);

  const logger = pino({ level: 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'euicc-it-'));
  const store = openSqliteStore(join(dir, 'inbox.db'));
  const operations = openSqliteOperationStore(join(dir, 'operations.db'));

  const simulator = createSimulator({ callbackDelayMs: 20, retryIntervalMs: 200, seed: 7 });
  const sim = await listen(simulator.app);

  // Histories of bulk sagas are read whole by tests: above gRPC's default 4 MB message limit.
  const connection = await Connection.connect({
    address,
    channelArgs: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 },
  });
  // Also the gateway's client: its signals are encrypted like everything else the sagas receive.
  const client = new Client({
    connection,
    dataConverter,
    ...(options.tracing && { interceptors: tracingClientInterceptors() }),
  });
  const dispatcher = createDispatcher({ store, signal: temporalSignaler(client), logger, intervalMs: 50 });
  const gateway = await listen(
    createApp({
      store,
      logger,
      credentials: CALLBACK_CREDENTIALS,
      pathToken: CALLBACK_PATH_TOKEN,
      onStored: () => dispatcher.kick(),
    }),
  );
  dispatcher.start();

  const thingspace = createThingSpaceClient({ baseUrl: `${sim.url}/api`, ...SIM_CREDENTIALS });
  // What npm start and npm run register-callbacks register: the tokenised URL of each service.
  await registerCallbacks(thingspace, {
    accountName: ACCOUNT,
    baseUrl: `${gateway.url}/callbacks`,
    pathToken: CALLBACK_PATH_TOKEN,
    ...CALLBACK_CREDENTIALS,
  });

  const taskQueue = `it-${randomUUID()}`;
  const nativeConnection = await NativeConnection.connect({ address });
  const newWorker = () =>
    createLifecycleWorker({
      connection: nativeConnection,
      taskQueue,
      activities: createActivities({ thingspace, store, operations }),
      workflowBundle: bundle,
      dataConverter,
      ...(options.deployment ? { deployment: options.deployment } : {}),
      ...(telemetry && { telemetry }),
    });
  let worker: Worker = await newWorker();
  let running = worker.run();

  const simCall = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${sim.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`simulator ${method} ${path} answered ${res.status}: ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };

  return {
    client,
    taskQueue,
    store,
    operations,
    gatewayUrl: gateway.url,
    simulatorUrl: sim.url,
    dispatcher,
    sim: simCall,
    async restartWorker() {
      // Shutting down cancels the activities in flight, as a worker stopped mid-request would leave them.
      worker.shutdown();
      await running;
      worker = await newWorker();
      running = worker.run();
    },
    async stop() {
      worker.shutdown();
      await running;
      await nativeConnection.close();
      await dispatcher.stop();
      await gateway.close();
      await simulator.close();
      await sim.close();
      await connection.close();
      await store.close();
      await operations.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let serial = 0;

/** Digits unique to this test run, so that workflow ids (derived from devices) never collide across runs. */
export function uniqueDigits(length: number): string {
  serial += 1;
  const seed = `${Date.now()}${process.pid}${serial}`.replace(/\D/g, '');
  return seed.slice(-length).padStart(length, '9');
}

export interface SeededPair {
  swapOut: DeviceId[];
  swapIn: DeviceId[];
}

/** Seeds an active device with a line and a pre-active eUICC replacement, both unique to this test. */
export async function seedSwapPair(system: Pick<TestSystem, 'sim'>): Promise<SeededPair> {
  const n = uniqueDigits(9);
  const out = {
    accountName: ACCOUNT,
    eid: `890330233121500000000${n}01`.padEnd(32, '0').slice(0, 32),
    iccid: `8914800000${n}1`,
    imei: `35${n}1111`.slice(0, 15),
    mdn: `5${n}`,
    state: 'active',
    servicePlan: '4G 2GB',
  };
  const into = {
    accountName: ACCOUNT,
    eid: `890330233121500000000${n}02`.padEnd(32, '0').slice(0, 32),
    iccid: `8914800000${n}2`,
    imei: `35${n}2222`.slice(0, 15),
    state: 'pre-active',
    servicePlan: '4G 2GB',
  };
  await system.sim('POST', '/__sim/devices', { devices: [out, into] });
  return {
    swapOut: [
      { kind: 'mdn', id: out.mdn },
      { kind: 'eid', id: out.eid },
      { kind: 'imei', id: out.imei },
      { kind: 'iccid', id: out.iccid },
    ],
    swapIn: [
      { kind: 'eid', id: into.eid },
      { kind: 'imei', id: into.imei },
    ],
  };
}

export function swapRequest(pair: SeededPair, overrides: Partial<EidDeviceSwapRequest> = {}): EidDeviceSwapRequest {
  return {
    accountName: ACCOUNT,
    deviceToSwapOut: pair.swapOut,
    deviceToSwapIn: pair.swapIn,
    mdnZipCode: '98802',
    serviceName: 'WiFi',
    stateName: 'WiFi Activate',
    servicePlan: '4G 2GB',
    smsrOid: '1.3.6.1.4.1.31746.1.500.200.101.5',
    ...overrides,
  };
}

/** Polls `check` every 100 ms until it holds, or throws after `timeoutMs`. */
/**
 * Polls `check` until it holds. A check that throws (a query while the worker's pollers are momentarily
 * away: "no poller seen for task queue recently") counts as not yet; its last error is thrown at the deadline.
 */
export async function waitFor(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let failure: unknown;
    try {
      if (await check()) return;
    } catch (err) {
      failure = err;
    }
    if (Date.now() > deadline) throw failure ?? new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The typed failure a saga ended with (it must have failed). */
export async function failureOf(handle: Pick<WorkflowHandle, 'result'>): Promise<ApplicationFailure> {
  const err = await handle.result().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

export interface SimRequest {
  operation: string;
  status: number;
}

/** The simulator's API requests since log position `since`, optionally of one operation. */
export async function simRequests(system: TestSystem, operation?: string, since = 0): Promise<SimRequest[]> {
  const log = await system.sim<SimRequest[]>('GET', '/__sim/requests');
  return log.slice(since).filter((r) => operation === undefined || r.operation === operation);
}

/** The simulator's request-log position now, to read only what a test causes. */
export async function requestLogLength(system: TestSystem): Promise<number> {
  return (await simRequests(system)).length;
}
