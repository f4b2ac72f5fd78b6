/**
 * Chaos (DESIGN.md §9): every part runs as its own process, as in production — a Temporal dev server on a
 * SQLite file, the ThingSpace simulator, the callback gateway and the worker — and is killed with SIGKILL
 * while a hundred swaps run, with callbacks dropped, duplicated and reordered by the simulator. Every saga
 * must still complete, each line must end up on its replacement device, and the gateway's inbox must
 * account for every callback it acknowledged.
 */
import { Client, Connection } from '@temporalio/client';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEidDeviceSwap, type EidDeviceSwapHandle } from '../../client/index.js';
import type { EidDeviceSwapResult, EidDeviceSwapStatus } from '../../contracts/index.js';
import { findFreePort, startDevServer, type DevServer } from '../../scripts/lib/dev-server.js';
import { startPart, waitForHttp, type Part } from '../../scripts/lib/processes.js';
import { registerCallbacks } from '../../scripts/lib/register-callbacks.js';
import { resolveTemporalCli } from '../../scripts/lib/temporal-cli.js';
import { openStore } from '../../store/index.js';
import type { InboxCounts, InboxRecord } from '../../store/index.js';
import { createThingSpaceClient } from '../../thingspace/index.js';
import { ACCOUNT, swapRequest, type SeededPair } from '../integration/harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SWAPS = 100;
const STEP_TIMEOUT = '8 seconds';
const SETTLE_TIMEOUT_MS = 6 * 60_000;
/** Swaps start in this many waves, this far apart: 100 swaps over the first 27 s of chaos. */
const WAVES = 10;
const WAVE_INTERVAL_MS = 3_000;
const CALLBACK_DELAY_MS = 1_000;
const TEMPORAL_DOWN_MS = 3_000;
const CALLBACKS = { username: 'chaos-callbacks', password: 'chaos-callback-password' };
const SIM = {
  clientId: 'sim-client-id',
  clientSecret: 'sim-client-secret',
  username: 'sim-user',
  password: 'sim-password',
};

type PartName = 'simulator' | 'gateway' | 'worker';

interface Figures {
  kills: Record<PartName | 'temporal', number>;
  restarts: Record<PartName | 'temporal', number>;
  /** Exits nobody asked for (a part that died on its own and was restarted by the supervisor). */
  unexpectedExits: string[];
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let dir: string;
let dbFile: string;
let cliPath: string;
let temporalPort: number;
let temporal: DevServer | undefined;
let connection: Connection | undefined;
let client: Client;
const parts = new Map<PartName, Part>();
const killing = new Set<Part>();
let stopping = false;
let partEnv: Record<PartName, NodeJS.ProcessEnv>;
let simulatorUrl: string;
let gatewayUrl: string;
const figures: Figures = {
  kills: { simulator: 0, gateway: 0, worker: 0, temporal: 0 },
  restarts: { simulator: 0, gateway: 0, worker: 0, temporal: 0 },
  unexpectedExits: [],
};

const ENTRIES: Record<PartName, string> = {
  simulator: 'simulator/main.ts',
  gateway: 'callback-gateway/main.ts',
  worker: 'workers/main.ts',
};

/** Process ids below `pid` (tsx runs the entry in a child node process, which SIGKILL of tsx would orphan). */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.flatMap((c) => [c, ...descendants(c)]);
}

function alive(part: Part | undefined): boolean {
  return !!part && part.child.exitCode === null && part.child.signalCode === null;
}

/** Starts a part and supervises it: an exit nobody asked for is recorded and the part is started again. */
function launch(name: PartName): Part {
  const part = startPart(name, join(ROOT, ENTRIES[name]), partEnv[name]);
  parts.set(name, part);
  part.child.once('exit', (code, signal) => {
    if (stopping || killing.has(part)) return;
    figures.unexpectedExits.push(
      `${name} exited by itself (${signal ?? `code ${code}`}) at ${new Date().toISOString()}`,
    );
    say(`[chaos] ${name} exited by itself (${signal ?? `code ${code}`}); restarting it`);
    figures.restarts[name] += 1;
    launch(name);
  });
  return part;
}

/** SIGKILL the whole process tree of a part, the real node process included, and wait for its exit. */
async function killPart(name: PartName): Promise<void> {
  const part = parts.get(name);
  if (!part || !alive(part)) return;
  killing.add(part);
  const exited = new Promise<void>((r) => part.child.once('exit', () => r()));
  const pid = part.child.pid;
  if (pid !== undefined) {
    for (const child of descendants(pid).reverse()) {
      try {
        process.kill(child, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  part.child.kill('SIGKILL');
  await Promise.race([exited, sleep(10_000)]);
  figures.kills[name] += 1;
}

async function startTemporal(): Promise<void> {
  temporal = await startDevServer({
    cliPath,
    ip: '127.0.0.1',
    port: temporalPort,
    dbFile,
    headless: true,
    startTimeoutMs: 90_000,
    log: (msg) => {
      if (!msg.startsWith('[temporal]')) say(`[chaos] ${msg}`);
    },
  });
}

async function killTemporal(): Promise<void> {
  const server = temporal;
  if (!server) return;
  const exited = new Promise<void>((r) => {
    if (server.process.exitCode !== null || server.process.signalCode !== null) r();
    server.process.once('exit', () => r());
  });
  const pid = server.process.pid;
  if (pid !== undefined) {
    for (const child of descendants(pid).reverse()) {
      try {
        process.kill(child, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  server.process.kill('SIGKILL');
  await Promise.race([exited, sleep(10_000)]);
  server.process.stdout?.destroy();
  server.process.stderr?.destroy();
  figures.kills.temporal += 1;
}

async function sim<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${simulatorUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`simulator ${method} ${path} answered ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

interface Pair extends SeededPair {
  mdn: string;
  replacementEid: string;
}

/** `count` pairs of an active device with a line and a pre-active eUICC replacement, ids unique to this run. */
async function seedPairs(count: number): Promise<Pair[]> {
  const run = String(Date.now() % 1_000_000).padStart(6, '0');
  const devices: Record<string, string>[] = [];
  const pairs: Pair[] = [];
  for (let i = 0; i < count; i++) {
    const n = `${run}${String(i).padStart(3, '0')}`;
    const out = {
      accountName: ACCOUNT,
      eid: `890330233121500000000${n}01`,
      iccid: `8914800000${n}1`,
      imei: `35${n}1111`,
      mdn: `5${n}`,
      state: 'active',
      servicePlan: '4G 2GB',
    };
    const into = {
      accountName: ACCOUNT,
      eid: `890330233121500000000${n}02`,
      iccid: `8914800000${n}2`,
      imei: `35${n}2222`,
      state: 'pre-active',
      servicePlan: '4G 2GB',
    };
    devices.push(out, into);
    pairs.push({
      mdn: out.mdn,
      replacementEid: into.eid,
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
    });
  }
  await sim('POST', '/__sim/devices', { devices });
  return pairs;
}

/** Polls `check` until it returns a value, or throws after `timeoutMs`. */
async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`${what} did not happen within ${timeoutMs / 1000} s${why}`);
    }
    await sleep(1_000);
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'euicc-chaos-'));
  dbFile = join(dir, 'temporal.db');
  cliPath = await resolveTemporalCli({ env: process.env, log: (msg) => say(`[chaos] ${msg}`) });
  temporalPort = await findFreePort();
  await startTemporal();
  const address = `127.0.0.1:${temporalPort}`;

  const simulatorPort = await findFreePort();
  const gatewayPort = await findFreePort();
  simulatorUrl = `http://127.0.0.1:${simulatorPort}`;
  gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const base: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', LOG_LEVEL: 'warn', DATA_DIR: dir };
  delete base.DATABASE_URL;
  delete base.TEMPORAL_NAMESPACE;
  partEnv = {
    simulator: {
      ...base,
      SIMULATOR_PORT: String(simulatorPort),
      SIMULATOR_HOST: '127.0.0.1',
      SIM_SEED: '4242',
      SIM_CALLBACK_DELAY_MS: '50',
      SIM_CALLBACK_RETRY_MS: '300',
    },
    gateway: {
      ...base,
      TEMPORAL_ADDRESS: address,
      GATEWAY_PORT: String(gatewayPort),
      GATEWAY_HOST: '127.0.0.1',
      CALLBACK_USERNAME: CALLBACKS.username,
      CALLBACK_PASSWORD: CALLBACKS.password,
      DISPATCH_INTERVAL_MS: '100',
    },
    worker: { ...base, TEMPORAL_ADDRESS: address, THINGSPACE_BASE_URL: `${simulatorUrl}/api`, RUST_LOG: 'error' },
  };

  launch('simulator');
  await waitForHttp(`${simulatorUrl}/__sim/health`);
  launch('gateway');
  await waitForHttp(`${gatewayUrl}/healthz`);
  launch('worker');

  const thingspace = createThingSpaceClient({ baseUrl: `${simulatorUrl}/api`, ...SIM });
  await registerCallbacks(thingspace, { accountName: ACCOUNT, baseUrl: `${gatewayUrl}/callbacks`, ...CALLBACKS });

  connection = await Connection.connect({ address });
  client = new Client({ connection });
}, 180_000);

afterAll(async () => {
  stopping = true;
  await Promise.all([...parts.values()].map((p) => p.stop().catch(() => undefined)));
  // tsx's node child outlives a tsx that was killed: make sure nothing of ours is left.
  for (const part of parts.values()) {
    for (const pid of part.child.pid === undefined ? [] : descendants(part.child.pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  await connection?.close().catch(() => undefined);
  await temporal?.stop().catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

interface SimDeliveryEntry {
  requestId: string;
  step: string;
  outcome: 'delivered' | 'failed' | 'dropped' | 'lost';
  duplicate?: boolean;
}

it('a hundred swaps complete through SIGKILLed workers, gateways and Temporal, with lossy callbacks', async () => {
  const pairs = await seedPairs(SWAPS);
  const started = Date.now();
  const at = (ms: number) => sleep(Math.max(0, started + ms - Date.now()));
  await sim('POST', '/__sim/faults', {
    clear: true,
    // Callbacks a second apart spread each swap's deliveries over the kills below.
    callbacks: { drop: 0.3, duplicate: 0.3, order: 'random', delayMs: CALLBACK_DELAY_MS },
  });

  // Swaps start in waves across the whole chaos window, so every kill lands on sagas in every phase. A start
  // that fails (Temporal down) is retried: startEidDeviceSwap returns the saga already started.
  let startRetries = 0;
  const startOne = async (pair: Pair): Promise<EidDeviceSwapHandle> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await startEidDeviceSwap(client, swapRequest(pair), { stepTimeout: STEP_TIMEOUT });
      } catch (err) {
        if (attempt >= 30) throw err;
        startRetries += 1;
        await sleep(1_000);
      }
    }
  };
  const starting = (async () => {
    const handles: EidDeviceSwapHandle[] = [];
    for (let wave = 0; wave < WAVES; wave++) {
      await at(wave * WAVE_INTERVAL_MS);
      const batch = pairs.slice((wave * SWAPS) / WAVES, ((wave + 1) * SWAPS) / WAVES);
      handles.push(...(await Promise.all(batch.map(startOne))));
    }
    return handles;
  })();
  // Awaited after the chaos schedule; a failure must not surface as an unhandled rejection before that.
  starting.catch(() => undefined);

  // The chaos schedule. A restart starts the part again at once, as a supervisor would.
  const restart = async (name: PartName): Promise<void> => {
    await killPart(name);
    say(`[chaos] killed ${name} (SIGKILL) at +${Date.now() - started} ms; restarting`);
    figures.restarts[name] += 1;
    launch(name);
  };
  await at(4_000);
  await restart('worker');
  await at(9_000);
  await restart('gateway');
  await at(14_000);
  await killTemporal();
  say(`[chaos] killed Temporal (SIGKILL) at +${Date.now() - started} ms`);
  const workerBefore = parts.get('worker');
  const gatewayBefore = parts.get('gateway');
  await sleep(TEMPORAL_DOWN_MS);
  const temporalRestartedAt = Date.now();
  await startTemporal();
  figures.restarts.temporal += 1;
  say(`[chaos] Temporal restarted on the same file and port in ${Date.now() - temporalRestartedAt} ms`);
  await at(24_000);
  const survivedOutage = {
    worker: parts.get('worker') === workerBefore && alive(workerBefore),
    gateway: parts.get('gateway') === gatewayBefore && alive(gatewayBefore),
  };
  await restart('worker');
  await at(29_000);
  await restart('gateway');
  const handles = await starting;
  const startedIn = Date.now() - started;
  const chaosEndedAt = Date.now();
  await waitForHttp(`${gatewayUrl}/readyz`, 60_000);

  // Every saga closes, within a bound; closed ones are not asked again.
  const open = new Set(handles.map((h) => h.workflowId));
  await eventually('every saga closing', SETTLE_TIMEOUT_MS - (Date.now() - started), async () => {
    for (const handle of handles.filter((h) => open.has(h.workflowId))) {
      const { status } = await handle.describe();
      if (status.name !== 'RUNNING') open.delete(handle.workflowId);
    }
    return open.size === 0 ? true : undefined;
  }).catch((err: Error) => {
    throw new Error(`${err.message}; still open: ${[...open].slice(0, 10).join(', ')} (${open.size} in all)`);
  });
  const settledAt = Date.now();

  const outcomes = await Promise.all(
    handles.map(async (handle) => {
      try {
        return { handle, result: (await handle.result()) as EidDeviceSwapResult };
      } catch (error) {
        return { handle, error: error as Error };
      }
    }),
  );
  const failed = outcomes.filter((o) => o.error);
  for (const f of failed.slice(0, 5)) {
    const cause = (f.error as Error & { cause?: Error }).cause;
    const status = await f.handle.status().catch((err: Error) => err.message);
    const device = await sim('GET', `/__sim/devices/mdn/${pairs[handles.indexOf(f.handle)]?.mdn}`).catch(
      () => 'not found',
    );
    say(`[chaos] ${f.handle.workflowId} failed: ${f.error?.message}${cause ? `: ${cause.message}` : ''}`);
    say(`[chaos]   status ${JSON.stringify(status)}`);
    say(`[chaos]   its line in the simulator ${JSON.stringify(device)}`);
  }
  const results = outcomes.flatMap((o) => (o.result ? [o.result] : []));

  const steps = results.flatMap((r) => Object.values(r.steps));
  const byCallback = steps.filter((s) => s.state === 'confirmed' && s.confirmedBy === 'callback').length;
  const byReconciliation = steps.filter((s) => s.state === 'confirmed' && s.confirmedBy === 'reconciliation').length;

  // No step applied twice: each saga counted at most three callbacks besides the duplicates it ignored.
  const statuses: EidDeviceSwapStatus[] = await Promise.all(handles.map((h) => h.status()));
  const overApplied = statuses
    .map((s, i) => ({ id: handles[i]?.workflowId, applied: s.callbacksReceived - s.duplicatesIgnored }))
    .filter((s) => s.applied > 3);
  const sagaDuplicatesIgnored = statuses.reduce((n, s) => n + s.duplicatesIgnored, 0);

  // How long each saga took, and what the kills cost it: an activity attempt lost with a killed worker is
  // only retried after its start-to-close timeout (the started event records the last attempt's number).
  const durations: number[] = [];
  const retriedActivities = new Map<string, number>();
  const slowest: { id: string; ms: number; retried: string[] }[] = [];
  for (const handle of handles) {
    const { startTime, closeTime } = await handle.describe();
    const ms = (closeTime?.getTime() ?? Date.now()) - startTime.getTime();
    durations.push(ms);
    const history = await handle.fetchHistory();
    const scheduled = new Map<string, string>();
    const retried: string[] = [];
    for (const event of history.events ?? []) {
      if (event.activityTaskScheduledEventAttributes) {
        scheduled.set(String(event.eventId), event.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
      }
      const started = event.activityTaskStartedEventAttributes;
      if (started && (started.attempt ?? 1) > 1) {
        const name = scheduled.get(String(started.scheduledEventId)) ?? '?';
        retried.push(`${name} attempt ${started.attempt}`);
        retriedActivities.set(name, (retriedActivities.get(name) ?? 0) + 1);
      }
    }
    slowest.push({ id: handle.workflowId, ms, retried });
  }
  durations.sort((a, b) => a - b);
  slowest.sort((a, b) => b.ms - a.ms);
  const percentile = (p: number) =>
    durations[Math.min(durations.length - 1, Math.floor((p / 100) * durations.length))] ?? 0;
  const submits = await sim<{ status: number }[]>('GET', '/__sim/requests?operation=eidDeviceSwap');

  // The simulator's inventory: each line on its replacement.
  const notMoved: string[] = [];
  for (const pair of pairs) {
    const device = await sim<{ eid?: string }>('GET', `/__sim/devices/mdn/${pair.mdn}`).catch(() => undefined);
    if (device?.eid !== pair.replacementEid) notMoved.push(`${pair.mdn} on ${device?.eid ?? 'nothing'}`);
  }

  // The inbox, once the simulator has nothing left to send and the gateway nothing left to dispatch.
  await eventually('the simulator sending its last callbacks', 60_000, async () => {
    const { pending } = await sim<{ pending: number }>('GET', '/__sim/callbacks/pending');
    return pending === 0 ? true : undefined;
  });
  const store = await openStore({ DATA_DIR: dir });
  let counts: InboxCounts;
  let unexplained: InboxRecord[];
  let inboxRequestIds: Set<string>;
  try {
    counts = await eventually('the gateway dispatching every callback', 60_000, async () => {
      const c = await store.counts();
      return c.pending === 0 ? c : undefined;
    });
    const closed = [
      ...(await store.list('parked', 100_000)),
      ...(await store.list('orphaned', 100_000)),
      ...(await store.list('deadLetter', 100_000)),
    ];
    unexplained = closed.filter((r) => !r.reason);
    const everything = [...closed, ...(await store.list('delivered', 100_000))];
    inboxRequestIds = new Set(everything.map((r) => String(r.body.requestId ?? '')));
  } finally {
    await store.close();
  }

  // Every callback the gateway acknowledged is in the inbox.
  const deliveries = await sim<SimDeliveryEntry[]>('GET', '/__sim/callbacks');
  const acknowledged = deliveries.filter((d) => d.outcome === 'delivered');
  const lost = acknowledged.filter((d) => !inboxRequestIds.has(d.requestId));
  const dropped = deliveries.filter((d) => d.outcome === 'dropped').length;
  const refused = deliveries.filter((d) => d.outcome === 'failed').length;

  const wallMs = Date.now() - started;
  say(
    [
      '',
      'Chaos run: eidDeviceSwap sagas, every part a real process, SIGKILLed',
      `  swaps                      ${SWAPS} (step timeout ${STEP_TIMEOUT})`,
      `  completed                  ${results.length}; failed ${failed.length}`,
      `  steps confirmed            ${byCallback} by callback, ${byReconciliation} by reconciliation`,
      `  callbacks (simulator)      ${acknowledged.length} acknowledged, ${refused} refused or unanswered, ${dropped} dropped by fault`,
      `  inbox                      ${counts.received} received, ${counts.duplicates} duplicates ignored by fingerprint, ` +
        `${counts.delivered} delivered, ${counts.parked} parked, ${counts.orphaned} orphaned, ` +
        `${counts.deadLetter} dead-letter, ${counts.pending} pending`,
      `  sagas                      ${sagaDuplicatesIgnored} duplicate callbacks ignored by the workflows`,
      `  swap submits (simulator)   ${submits.length} for ${SWAPS} swaps (${submits.filter((r) => r.status >= 400).length} refused)`,
      `  activities retried         ${[...retriedActivities].map(([n, c]) => `${n} ${c}`).join(', ') || 'none'}`,
      `  saga duration              p50 ${(percentile(50) / 1000).toFixed(1)} s, p90 ${(percentile(90) / 1000).toFixed(1)} s, ` +
        `max ${((durations.at(-1) ?? 0) / 1000).toFixed(1)} s`,
      `  slowest                    ${slowest
        .slice(0, 3)
        .map((x) => `${x.id} ${(x.ms / 1000).toFixed(1)} s${x.retried.length ? ` (${x.retried.join(', ')})` : ''}`)
        .join('; ')}`,
      `  kills                      worker ${figures.kills.worker}, gateway ${figures.kills.gateway}, temporal ${figures.kills.temporal}`,
      `  restarts                   worker ${figures.restarts.worker}, gateway ${figures.restarts.gateway}, ` +
        `temporal ${figures.restarts.temporal}, simulator ${figures.restarts.simulator}`,
      `  survived Temporal outage   worker ${survivedOutage.worker ? 'yes' : 'no'}, gateway ${survivedOutage.gateway ? 'yes' : 'no'}`,
      `  unexpected exits           ${figures.unexpectedExits.length === 0 ? 'none' : figures.unexpectedExits.join('; ')}`,
      `  swap starts retried        ${startRetries} (while Temporal was down)`,
      `  wall time                  ${(wallMs / 1000).toFixed(1)} s (starts over ${(startedIn / 1000).toFixed(1)} s, ` +
        `chaos until +${((chaosEndedAt - started) / 1000).toFixed(1)} s, ` +
        `all closed at +${((settledAt - started) / 1000).toFixed(1)} s)`,
      '',
    ].join('\n'),
  );

  expect(failed.map((f) => `${f.handle.workflowId}: ${f.error?.message}`)).toEqual([]);
  expect(results).toHaveLength(SWAPS);
  for (const result of results) {
    for (const step of Object.values(result.steps)) {
      expect(step).toEqual(
        expect.objectContaining({
          state: 'confirmed',
          confirmedBy: expect.stringMatching(/^(callback|reconciliation)$/),
        }),
      );
    }
  }
  expect(notMoved).toEqual([]);
  expect(overApplied).toEqual([]);
  expect(counts.pending).toBe(0);
  expect(counts.received).toBe(counts.delivered + counts.parked + counts.orphaned + counts.deadLetter);
  expect(counts.received + counts.duplicates).toBe(
    counts.delivered + counts.duplicates + counts.parked + counts.orphaned + counts.deadLetter,
  );
  expect(unexplained.map((r) => `${r.id} ${r.state}`)).toEqual([]);
  expect(lost).toEqual([]);
  expect(counts.received + counts.duplicates).toBeGreaterThanOrEqual(acknowledged.length);
  // The faults did happen: some steps were only seen by reconciliation, some callbacks came twice.
  expect(byReconciliation).toBeGreaterThan(0);
  expect(counts.duplicates).toBeGreaterThan(0);
}, 420_000);
