/**
 * Two callback gateways, each its own process as in production, share one PostgreSQL inbox (DESIGN.md §2:
 * "gateways share the inbox in PostgreSQL"). ThingSpace reaches them through a round-robin load balancer, so
 * the callbacks of one saga, and a callback and its re-delivery, land on different gateways; and the same
 * callback is posted to both gateways at once. Whatever gateway stored or dispatched a callback, each is
 * stored once and signalled to its saga exactly once.
 *
 * The inbox lives in a database of its own, created for this file on the server of TEST_DATABASE_URL
 * (default: the local `test` database's server) and dropped at the end: the gateways keep their tables in
 * the `public` schema, so a database is what isolates them from other runs.
 */
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createActivities } from '../../activities/index.js';
import { startEidDeviceSwap, type EidDeviceSwapHandle } from '../../client/index.js';
import {
  thingspaceCallbackSignal,
  type CallbackEvent,
  type EidDeviceSwapResult,
  type EidDeviceSwapStatus,
} from '../../contracts/index.js';
import { findFreePort } from '../../scripts/lib/dev-server.js';
import { waitForHttp } from '../../scripts/lib/processes.js';
import { registerCallbacks } from '../../scripts/lib/register-callbacks.js';
import { createSimulator, type Simulator } from '../../simulator/app.js';
import type { InboxCounts, InboxRecord, Store } from '../../store/index.js';
import { openPostgresStore } from '../../store/postgres.js';
import { createThingSpaceClient } from '../../thingspace/index.js';
import { createLifecycleWorker, workflowInterceptorModules, WORKFLOWS_PATH } from '../../workers/worker.js';
import { listen, postJson, type Listening } from '../fixtures/http.js';
import { ACCOUNT, seedSwapPair, swapRequest, waitFor, type SeededPair } from './harness.js';
import { testServerAddress } from './temporal-env.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const BASE_DATABASE_URL = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const DATABASE = `euicc_two_gateways_${process.pid}_${Date.now()}`;
const CALLBACKS = { username: 'two-gateways-callbacks', password: 'two-gateways-callback-password' };
const CALLBACK_PATH_TOKEN = 'two-gateways-callback-path-token-0123';
const SIM = {
  clientId: 'sim-client-id',
  clientSecret: 'sim-client-secret',
  username: 'sim-user',
  password: 'sim-password',
};
const SWAPS_THROUGH_BALANCER = 20;
const SWAPS_POSTED_TO_BOTH = 10;
/** Long enough that no step is ever confirmed by reconciliation: every confirmation here is a callback. */
const STEP_TIMEOUT = '5 minutes';

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** What a gateway process logged about callbacks, read from its JSON log lines. */
interface GatewayLog {
  stored: number;
  storedDuplicates: number;
  /** `Callbacks delivered`: one line per signal, `count` events in it. */
  signals: number;
  signalledEvents: number;
}

interface GatewayProcess {
  name: string;
  url: string;
  /** The internal port: /metrics. */
  operatorUrl: string;
  child: ChildProcess;
  log: GatewayLog;
}

/** Where the tests look for PostgreSQL, without the password the URL may carry. */
function where(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return 'TEST_DATABASE_URL (unparsable)';
  }
}

/** Process ids below `pid` (tsx runs the entry in a child node process). */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.flatMap((c) => [c, ...descendants(c)]);
}

/** `tsx callback-gateway/main.ts`; keeps counts of its log lines and echoes its warnings and errors. */
function spawnGateway(name: string, port: number, operatorPort: number, env: NodeJS.ProcessEnv): GatewayProcess {
  const child = spawn(TSX, [join(ROOT, 'callback-gateway/main.ts')], {
    env: { ...env, GATEWAY_PORT: String(port), OPERATOR_PORT: String(operatorPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: GatewayLog = { stored: 0, storedDuplicates: 0, signals: 0, signalledEvents: 0 };
  const onLine = (line: string): void => {
    let entry: { level?: number; msg?: string; duplicate?: boolean; count?: number };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      say(`[${name}] ${line}`);
      return;
    }
    if (entry.msg === 'Callback stored') {
      if (entry.duplicate) log.storedDuplicates += 1;
      else log.stored += 1;
    } else if (entry.msg === 'Callbacks delivered') {
      log.signals += 1;
      log.signalledEvents += entry.count ?? 0;
    }
    if ((entry.level ?? 0) >= 40) say(`[${name}] ${line}`);
  };
  for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', onLine);
  return { name, url: `http://127.0.0.1:${port}`, operatorUrl: `http://127.0.0.1:${operatorPort}`, child, log };
}

async function stopGateway(gateway: GatewayProcess): Promise<void> {
  const { child } = gateway;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const below = child.pid === undefined ? [] : descendants(child.pid);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
  // tsx's node child outlives a tsx that did not pass the signal on.
  for (const pid of below) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** A load balancer in front of the gateways: each request goes to the next one in turn. */
interface Balancer {
  url: string;
  /** Requests sent to each target, by index. */
  forwarded: number[];
  /** The slowest answer of each target, in ms. */
  slowestMs: number[];
  close(): Promise<void>;
}

async function roundRobin(targets: string[]): Promise<Balancer> {
  const forwarded = targets.map(() => 0);
  const slowestMs = targets.map(() => 0);
  let next = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const index = next;
    next = (next + 1) % targets.length;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    forwarded[index] = (forwarded[index] ?? 0) + 1;
    const sentAt = Date.now();
    try {
      const answer = await fetch(`${targets[index]}${req.url ?? '/'}`, {
        method: req.method ?? 'POST',
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
      });
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
      res.end(await answer.text());
      slowestMs[index] = Math.max(slowestMs[index] ?? 0, Date.now() - sentAt);
    } catch {
      res.writeHead(502).end();
    }
  };
  const server: Server = createServer((req, res) => void handle(req, res));
  const listening = await listen({ listen: (port, host) => server.listen(port, host) });
  return { url: listening.url, forwarded, slowestMs, close: () => listening.close() };
}

let dir: string;
let admin: pg.Pool;
let inboxDb: pg.Pool;
let databaseUrl: string;
let store: Store;
let simulator: Simulator;
let sim: Listening;
let gateways: GatewayProcess[] = [];
let balancer: Balancer;
let connection: Connection;
let client: Client;
let nativeConnection: NativeConnection;
let worker: Worker;
let running: Promise<void>;
const taskQueue = `it-two-gateways-${randomUUID()}`;

async function simCall<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${sim.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`simulator ${method} ${path} answered ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'euicc-two-gateways-'));
  admin = new pg.Pool({ connectionString: BASE_DATABASE_URL, max: 1, connectionTimeoutMillis: 5_000 });
  admin.on('error', () => undefined);
  try {
    await admin.query(`CREATE DATABASE "${DATABASE}"`);
  } catch (err) {
    throw new Error(
      `Could not create a database on the PostgreSQL server at ${where(BASE_DATABASE_URL)} ` +
        `(${(err as Error).message}). Start it or point TEST_DATABASE_URL at one; these tests never skip.`,
    );
  }
  const url = new URL(BASE_DATABASE_URL);
  url.pathname = `/${DATABASE}`;
  databaseUrl = url.toString();
  inboxDb = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  inboxDb.on('error', () => undefined);
  // The worker's store (claims, request ids) creates the tables the gateways then share.
  store = await openPostgresStore(databaseUrl);

  simulator = createSimulator({ callbackDelayMs: 20, retryIntervalMs: 200, seed: 2 });
  sim = await listen(simulator.app);

  const address = testServerAddress();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FORCE_COLOR: '0',
    LOG_LEVEL: 'info',
    DATA_DIR: dir,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: address,
    GATEWAY_HOST: '127.0.0.1',
    CALLBACK_USERNAME: CALLBACKS.username,
    CALLBACK_PASSWORD: CALLBACKS.password,
    CALLBACK_PATH_TOKEN,
    DISPATCH_INTERVAL_MS: '50',
    METRICS_MAX_AGE_MS: '0',
  };
  delete env.TEMPORAL_NAMESPACE;
  delete env.OPERATOR_TOKEN;
  delete env.CALLBACK_PASSWORD_PREVIOUS;
  // The in-process worker and the history reads below use plain payloads.
  delete env.PAYLOAD_ENCRYPTION_KEY;
  gateways = [
    spawnGateway('gateway-a', await findFreePort(), await findFreePort(), env),
    spawnGateway('gateway-b', await findFreePort(), await findFreePort(), env),
  ];
  await Promise.all(gateways.map((g) => waitForHttp(`${g.url}/readyz`, 60_000)));
  balancer = await roundRobin(gateways.map((g) => g.url));

  const thingspace = createThingSpaceClient({ baseUrl: `${sim.url}/api`, ...SIM });
  await registerCallbacks(thingspace, {
    accountName: ACCOUNT,
    baseUrl: `${balancer.url}/callbacks`,
    pathToken: CALLBACK_PATH_TOKEN,
    ...CALLBACKS,
  });

  connection = await Connection.connect({ address });
  client = new Client({ connection });
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Installed already by an earlier test file in this process.
  }
  nativeConnection = await NativeConnection.connect({ address });
  worker = await createLifecycleWorker({
    connection: nativeConnection,
    taskQueue,
    activities: createActivities({ thingspace, store }),
    workflowBundle: await bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      logger: new DefaultLogger('WARN'),
      workflowInterceptorModules: workflowInterceptorModules(),
    }),
  });
  running = worker.run();
}, 180_000);

afterAll(async () => {
  if (worker) {
    worker.shutdown();
    await running;
  }
  await nativeConnection?.close();
  await connection?.close();
  await Promise.all(gateways.map(stopGateway));
  await balancer?.close();
  await simulator?.close();
  await sim?.close();
  await store?.close();
  await inboxDb?.end();
  await admin?.query(`DROP DATABASE IF EXISTS "${DATABASE}" WITH (FORCE)`).catch(() => undefined);
  await admin?.end();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** Each test starts from an empty inbox and zeroed gateway log counts. */
beforeEach(async () => {
  await inboxDb.query('TRUNCATE callback_keys, inbox, correlations RESTART IDENTITY');
  for (const g of gateways) Object.assign(g.log, { stored: 0, storedDuplicates: 0, signals: 0, signalledEvents: 0 });
});

/** The inbox once the simulator has sent its last callback and neither gateway has anything left to dispatch. */
async function settledInbox(): Promise<{ counts: InboxCounts; rows: InboxRecord[] }> {
  await waitFor(async () => (await simCall<{ pending: number }>('GET', '/__sim/callbacks/pending')).pending === 0);
  let counts: InboxCounts | undefined;
  await waitFor(async () => {
    counts = await store.counts();
    return counts.pending === 0;
  });
  const settled = counts as InboxCounts;
  // A gateway logs a callback after answering it and a delivery after recording it: let the last lines
  // arrive before they are compared with the inbox (too many lines still fail the comparison).
  const logged = (part: (log: GatewayLog) => number) => gateways.reduce((n, g) => n + part(g.log), 0);
  await waitFor(
    async () =>
      logged((l) => l.stored + l.storedDuplicates) >= settled.received + settled.duplicates &&
      logged((l) => l.signalledEvents) >= settled.delivered,
    10_000,
  ).catch(() => undefined);
  const states = ['delivered', 'parked', 'orphaned', 'deadLetter'] as const;
  const rows = (await Promise.all(states.map((s) => store.list(s, 100_000)))).flat();
  return { counts: settled, rows };
}

/** The inbox ids of every callback event each saga was signalled, read from its history. */
async function signalledInboxIds(handles: WorkflowHandle[]): Promise<Map<string, number[]>> {
  const byWorkflow = new Map<string, number[]>();
  for (const handle of handles) {
    const ids: number[] = [];
    for (const event of (await handle.fetchHistory()).events ?? []) {
      const signal = event.workflowExecutionSignaledEventAttributes;
      if (signal?.signalName !== thingspaceCallbackSignal.name) continue;
      const [payload] = signal.input?.payloads ?? [];
      const events = payload ? defaultPayloadConverter.fromPayload<CallbackEvent[]>(payload) : [];
      ids.push(...events.map((e) => e.inboxId));
    }
    byWorkflow.set(handle.workflowId, ids);
  }
  return byWorkflow;
}

/** The inbox counters each gateway serves on GET /metrics (gauges read from the shared inbox). */
async function metricsOf(gateway: GatewayProcess): Promise<Record<string, number>> {
  const text = await (await fetch(`${gateway.operatorUrl}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const state = /^euicc_gateway_inbox_callbacks\{state="(\w+)"\} (\d+)$/.exec(line);
    if (state) counts[state[1] as string] = Number(state[2]);
    const total = /^euicc_gateway_inbox_(received|duplicates) (\d+)$/.exec(line);
    if (total) counts[total[1] as string] = Number(total[2]);
  }
  return counts;
}

interface Exactness {
  statuses: EidDeviceSwapStatus[];
  signalled: Map<string, number[]>;
  /** Inbox ids signalled to more than one saga or more than once. */
  signalledTwice: number[];
}

/** What the sagas saw: their status counters and every inbox id their histories were signalled. */
async function exactness(handles: EidDeviceSwapHandle[]): Promise<Exactness> {
  const statuses = await Promise.all(handles.map((h) => h.status()));
  const signalled = await signalledInboxIds(handles);
  const all = [...signalled.values()].flat();
  const signalledTwice = [...new Set(all.filter((id, i) => all.indexOf(id) !== i))];
  return { statuses, signalled, signalledTwice };
}

/** The assertions both stories share: every callback stored once, delivered to its saga once, applied once. */
function expectExactlyOnce(
  handles: EidDeviceSwapHandle[],
  results: EidDeviceSwapResult[],
  inbox: { counts: InboxCounts; rows: InboxRecord[] },
  seen: Exactness,
): void {
  const confirmed = expect.objectContaining({ state: 'confirmed', confirmedBy: 'callback' });
  for (const result of results) {
    expect(result.steps).toEqual({ deactivation: confirmed, identifierChange: confirmed, goToState: confirmed });
  }
  // Three callbacks per swap, each signalled once: no saga ever had to ignore a duplicate.
  for (const status of seen.statuses) {
    expect({ callbacksReceived: status.callbacksReceived, duplicatesIgnored: status.duplicatesIgnored }).toEqual({
      callbacksReceived: 3,
      duplicatesIgnored: 0,
    });
  }
  expect(seen.signalledTwice).toEqual([]);
  // The inbox: one row per callback, each delivered to the saga whose history holds its id.
  const { counts, rows } = inbox;
  expect(counts).toEqual({
    received: 3 * handles.length,
    duplicates: counts.duplicates,
    pending: 0,
    delivered: 3 * handles.length,
    parked: 0,
    orphaned: 0,
    deadLetter: 0,
  });
  expect(counts.received).toBe(counts.delivered + counts.parked + counts.orphaned + counts.deadLetter);
  const deliveredTo = new Map(rows.map((r) => [r.id, r.workflowId]));
  const signalledTo = new Map([...seen.signalled].flatMap(([workflowId, ids]) => ids.map((id) => [id, workflowId])));
  expect(signalledTo).toEqual(deliveredTo);
  // Both gateways' logs together: as many events signalled as rows delivered, not one more.
  expect(gateways.reduce((n, g) => n + g.log.signalledEvents, 0)).toBe(counts.delivered);
  expect(gateways.reduce((n, g) => n + g.log.stored, 0)).toBe(counts.received);
  expect(gateways.reduce((n, g) => n + g.log.storedDuplicates, 0)).toBe(counts.duplicates);
}

function figures(title: string, lines: [string, string][]): void {
  say(['', title, ...lines.map(([name, value]) => `  ${name.padEnd(26)} ${value}`), ''].join('\n'));
}

const inboxLine = (c: InboxCounts): string =>
  `${c.received} received, ${c.duplicates} duplicates ignored by fingerprint, ${c.delivered} delivered, ` +
  `${c.parked} parked, ${c.orphaned} orphaned, ${c.deadLetter} dead-letter, ${c.pending} pending`;

const perGateway = (part: (g: GatewayProcess) => string): string =>
  gateways.map((g) => `${g.name} ${part(g)}`).join('; ');

function swapsSummary(seen: Exactness): string {
  const received = seen.statuses.reduce((n, s) => n + s.callbacksReceived, 0);
  const ignored = seen.statuses.reduce((n, s) => n + s.duplicatesIgnored, 0);
  const ids = [...seen.signalled.values()].flat().length;
  return `${received} events received, ${ignored} duplicates ignored; ${ids} inbox ids in signal histories, ${seen.signalledTwice.length} twice`;
}

async function startSwaps(count: number): Promise<{ pairs: SeededPair[]; handles: EidDeviceSwapHandle[] }> {
  const pairs: SeededPair[] = [];
  for (let i = 0; i < count; i++) pairs.push(await seedSwapPair({ sim: simCall }));
  const handles = await Promise.all(
    pairs.map((pair) => startEidDeviceSwap(client, swapRequest(pair), { taskQueue, stepTimeout: STEP_TIMEOUT })),
  );
  return { pairs, handles };
}

interface SimDelivery {
  outcome: 'delivered' | 'failed' | 'dropped' | 'lost';
  duplicate?: boolean;
  httpStatus?: number;
}

it('callbacks a round-robin load balancer spreads over two gateways reach each saga exactly once', async () => {
  // ThingSpace re-sends half of the callbacks after they were acknowledged; the balancer hands every request to
  // the next gateway in turn, so the callbacks of one saga, and a callback and its re-send, land on either.
  await simCall('POST', '/__sim/faults', { clear: true, callbacks: { duplicate: 0.5, order: 'random' } });
  const forwardedBefore = [...balancer.forwarded];
  const started = Date.now();
  const { handles } = await startSwaps(SWAPS_THROUGH_BALANCER);
  const results = (await Promise.all(handles.map((h) => h.result()))) as EidDeviceSwapResult[];
  const completedIn = Date.now() - started;
  const inbox = await settledInbox();
  const seen = await exactness(handles);
  const deliveries = await simCall<SimDelivery[]>('GET', '/__sim/callbacks');
  const acknowledged = deliveries.filter((d) => d.outcome === 'delivered');
  const resent = acknowledged.filter((d) => d.duplicate).length;
  // ThingSpace sends the next attempt when a listener takes over ~4 s to answer; both are stored, the later
  // one as a duplicate. An attempt it gave up on (no answer at all) may have been stored too.
  const unanswered = deliveries.filter((d) => d.outcome === 'failed');
  const forwarded = balancer.forwarded.map((n, i) => n - (forwardedBefore[i] ?? 0));
  const metrics = await Promise.all(gateways.map(metricsOf));

  figures(`Two gateway processes, one PostgreSQL inbox: ${handles.length} swaps behind a round-robin balancer`, [
    ['sagas', `${results.length} completed in ${(completedIn / 1000).toFixed(1)} s`],
    [
      'callbacks (simulator)',
      `${acknowledged.length} acknowledged, ${resent} of them re-sends of an acknowledged one; ` +
        `${unanswered.length} attempts failed (${unanswered.map((d) => d.httpStatus ?? 'no answer').join(', ') || '-'})`,
    ],
    [
      'balancer',
      perGateway((g) => {
        const i = gateways.indexOf(g);
        return `${forwarded[i]} requests, slowest answer ${balancer.slowestMs[i]} ms`;
      }),
    ],
    ['stored by', perGateway((g) => `${g.log.stored} new, ${g.log.storedDuplicates} duplicates`)],
    ['signalled by', perGateway((g) => `${g.log.signalledEvents} events in ${g.log.signals} signals`)],
    ['inbox', inboxLine(inbox.counts)],
    ['sagas saw', swapsSummary(seen)],
    ['GET /metrics', perGateway((g) => `received ${metrics[gateways.indexOf(g)]?.received}`)],
  ]);

  expectExactlyOnce(handles, results, inbox, seen);
  // Every acknowledged delivery is in the inbox, a new row or a duplicate of one, and nothing else is.
  const stored = inbox.counts.received + inbox.counts.duplicates;
  expect(stored).toBeGreaterThanOrEqual(acknowledged.length);
  expect(stored).toBeLessThanOrEqual(acknowledged.length + unanswered.length);
  expect(inbox.counts.duplicates).toBeGreaterThanOrEqual(resent);
  expect(resent).toBeGreaterThan(0);
  // Callbacks did land on both gateways, and both dispatched from the shared inbox.
  expect(Math.abs((forwarded[0] ?? 0) - (forwarded[1] ?? 0))).toBeLessThanOrEqual(1);
  for (const g of gateways) {
    expect(g.log.stored).toBeGreaterThan(0);
    expect(g.log.signalledEvents).toBeGreaterThan(0);
  }
  // Both gateways report the one inbox.
  for (const m of metrics) expect(m).toEqual({ ...inbox.counts });
});

it('the same callback posted to both gateways at once is stored once and applied once', async () => {
  // ThingSpace sends nothing itself: the test delivers every callback, to both gateways at the same moment.
  await simCall('POST', '/__sim/faults', {
    clear: true,
    callbacks: { never: ['deactivation', 'identifierChange', 'goToState'] },
  });
  const { pairs, handles } = await startSwaps(SWAPS_POSTED_TO_BOTH);
  for (const handle of handles) await waitFor(async () => (await handle.status()).phase === 'awaitingCallbacks');
  const requestIds = await Promise.all(handles.map(async (h) => (await h.status()).requestId as string));

  // The swap page's three callbacks: the two CarrierService ones carry request ids of their own.
  const callbacks = pairs.flatMap((pair, i) => {
    const requestId = requestIds[i] as string;
    const imei = pair.swapOut.find((d) => d.kind === 'imei')!;
    const iccid = pair.swapOut.find((d) => d.kind === 'iccid')!;
    const eid = pair.swapIn.find((d) => d.kind === 'eid')!;
    return [
      {
        service: 'CarrierService',
        body: {
          requestId: `${requestId}-deactivation`,
          deviceIds: [imei, iccid],
          deviceResponse: { deactivateResponse: { deactivated: true } },
          status: 'Success',
        },
      },
      {
        service: 'CarrierService',
        body: {
          requestId: `${requestId}-identifier-change`,
          deviceIds: [imei, iccid],
          deviceResponse: { changeIdentifierResponse: { deviceIds: [eid], servicePlan: '4G 2GB' } },
          status: 'Success',
        },
      },
      {
        service: 'StateService',
        body: {
          requestId,
          deviceIds: [imei],
          deviceResponse: { goToStateResponse: { deviceIds: [imei], serviceName: 'WiFi', stateName: 'WiFi Activate' } },
        },
      },
    ];
  });
  const started = Date.now();
  // Every callback at once, each to both gateways at once; the second copy as ThingSpace's re-send.
  const answers = await Promise.all(
    callbacks.map(({ service, body }) =>
      Promise.all(
        gateways.map(async (g, copy) => {
          const res = await postJson(`${g.url}/callbacks/${CALLBACK_PATH_TOKEN}/${service}`, {
            ...CALLBACKS,
            ...body,
            callbackCount: copy + 1,
            maxCallbackThreshold: 4,
          });
          return { httpStatus: res.status, ...((await res.json()) as { status: string; id: number }) };
        }),
      ),
    ),
  );
  const results = (await Promise.all(handles.map((h) => h.result()))) as EidDeviceSwapResult[];
  const completedIn = Date.now() - started;
  const inbox = await settledInbox();
  const seen = await exactness(handles);
  const firstBy = gateways.map((_, i) => answers.filter((pair) => pair[i]?.status === 'accepted').length);
  const metrics = await Promise.all(gateways.map(metricsOf));

  figures(`Two gateway processes, one PostgreSQL inbox: ${callbacks.length} callbacks each posted to both at once`, [
    ['sagas', `${results.length} completed ${(completedIn / 1000).toFixed(1)} s after the posts`],
    [
      'posts',
      `${answers.length * gateways.length}, all answered ${[...new Set(answers.flat().map((a) => a.httpStatus))].join(', ')}`,
    ],
    ['stored first by', perGateway((g) => `${firstBy[gateways.indexOf(g)]}`)],
    ['stored by', perGateway((g) => `${g.log.stored} new, ${g.log.storedDuplicates} duplicates`)],
    ['signalled by', perGateway((g) => `${g.log.signalledEvents} events in ${g.log.signals} signals`)],
    ['inbox', inboxLine(inbox.counts)],
    ['deliveries per row', [...new Set(inbox.rows.map((r) => r.deliveries))].join(', ')],
    ['sagas saw', swapsSummary(seen)],
  ]);

  // Each pair of posts: both acknowledged with the same inbox row, one as new and one as a duplicate.
  for (const pair of answers) {
    expect(pair.map((a) => a.httpStatus)).toEqual([200, 200]);
    expect(pair.map((a) => a.status).sort()).toEqual(['accepted', 'duplicate']);
    expect(pair[0]?.id).toBe(pair[1]?.id);
  }
  expectExactlyOnce(handles, results, inbox, seen);
  expect(inbox.counts.duplicates).toBe(callbacks.length);
  expect(inbox.rows.map((r) => r.deliveries)).toEqual(inbox.rows.map(() => 2));
  for (const m of metrics) expect(m).toEqual({ ...inbox.counts });
});
