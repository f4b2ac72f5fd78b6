/**
 * `npm run bench`: the system's throughput and latencies, each beside a bare baseline of the same shape
 * measured in the same run (absolute times drift on shared machines; the ratio says what the product costs).
 * Every part runs as its own process (test/chaos/system.ts): Temporal dev server, simulator, gateway, worker,
 * plus the baseline's bare HTTP app and worker. Writes bench/results/latest.json and prints a table.
 *
 *   npm run bench -- [--swaps N] [--callbacks N] [--rate-callbacks N] [--paced-callbacks N] [--bulk N] [--smoke]
 *                    [--only swaps|callbacks|ingestion|bulk]
 *   npm run bench -- --devices 10000,100000   (fleet scale, bench/fleet.ts)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { startChangeProfileServicePlan, startEidDeviceSwap } from '../client/index.js';
import type { EidDeviceSwapStatus } from '../contracts/index.js';
import { findFreePort } from '../scripts/lib/dev-server.js';
import { startPart, waitForHttp, type Part } from '../scripts/lib/processes.js';
import { openStore } from '../store/index.js';
import { ACCOUNT, swapRequest, type SeededPair } from '../test/integration/harness.js';
import { callbackUrl } from '../contracts/index.js';
import { CALLBACK_PATH_TOKEN, CALLBACKS, ChaosSystem, type PartName } from '../test/chaos/system.js';
import { BASELINE_TASK_QUEUE } from './baseline-activities.js';
import type { AppliedSignal } from './baseline-workflows.js';
import { fleetBench } from './fleet.js';
import {
  cpuSecondsOf,
  cpuSecondsOfTree,
  peakRssMiB,
  percentile,
  postLoad,
  resetPeakRss,
  sleep,
  threadCpuOf,
} from './measure.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** The scenarios, in the order they run, with how many figures each gives. */
const SCENARIOS = { swaps: 7, callbacks: 3, ingestion: 7, bulk: 6 } as const;
type Scenario = keyof typeof SCENARIOS;

interface Options {
  swaps: number;
  callbacks: number;
  rateCallbacks: number;
  pacedCallbacks: number;
  /** Callbacks per second scenario 3 lets out (`--callback-rate`), to sagas that are all already waiting. */
  callbackRate: number;
  bulk: number;
  smoke: boolean;
  /** Run only this scenario (`--only`); every one when unset. */
  only?: Scenario;
}

function parseOptions(argv: string[]): Options {
  const smoke = argv.includes('--smoke');
  const options: Options = smoke
    ? { swaps: 5, callbacks: 300, rateCallbacks: 300, pacedCallbacks: 60, callbackRate: 200, bulk: 200, smoke }
    : {
        swaps: 200,
        callbacks: 10_000,
        rateCallbacks: 10_000,
        pacedCallbacks: 1_200,
        callbackRate: 200,
        bulk: 10_000,
        smoke,
      };
  const flags: Record<string, keyof Options> = {
    '--swaps': 'swaps',
    '--callbacks': 'callbacks',
    '--rate-callbacks': 'rateCallbacks',
    '--paced-callbacks': 'pacedCallbacks',
    '--callback-rate': 'callbackRate',
    '--bulk': 'bulk',
  };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--only') {
      const scenario = argv[++i] ?? '';
      if (!(scenario in SCENARIOS)) throw new Error(`--only takes one of ${Object.keys(SCENARIOS).join(', ')}`);
      options.only = scenario as Scenario;
      continue;
    }
    const key = flags[argv[i] ?? ''];
    if (!key) continue;
    const value = Number(argv[++i]);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${argv[i - 1]} takes a positive integer`);
    (options as unknown as Record<string, number>)[key] = value;
  }
  return options;
}

export interface Figure {
  scenario: string;
  name: string;
  unit: string;
  value: number;
  baseline: number;
  /** value / baseline. */
  ratio: number;
}

const figures: Figure[] = [];
/** Where a swap's CPU goes, by process, in CPU seconds per saga (written beside the figures). */
const swapCpuSplit: Record<string, Record<string, number>> = {};
/** Scenario 3's diagnosis: cores busy by process while the callbacks were let out, and the gateway's dispatch lag. */
const callbackSplit: Record<string, Record<string, number>> = {};

/**
 * CPU seconds of `pid`'s threads from now until the answered function is called: the busiest main thread
 * (`main`), the busiest other thread (named by its `comm`, e.g. `node` for a Node worker thread, or the
 * Temporal core's `tokio-runtime-w`), and all the others together.
 */
function threadsFrom(pid: number | undefined): () => Record<string, number> {
  const before = threadCpuOf(pid);
  return () => {
    const used = [...threadCpuOf(pid)].map(([tid, t]) => ({
      ...t,
      seconds: t.seconds - (before.get(tid)?.seconds ?? 0),
    }));
    const busiest = (among: typeof used) =>
      among.reduce<(typeof used)[number] | undefined>((a, b) => (a && a.seconds >= b.seconds ? a : b), undefined);
    const main = busiest(used.filter((t) => t.main));
    const other = busiest(used.filter((t) => !t.main));
    const rest = used.filter((t) => t !== main && t !== other).reduce((sum, t) => sum + t.seconds, 0);
    return {
      ...(main && { 'main thread': main.seconds }),
      ...(other && { [`busiest other thread (${other.name})`]: other.seconds }),
      'other threads': rest,
    };
  };
}

/**
 * CPU seconds of each named process tree, and of the bench with everything below it (`all`, Temporal included), from
 * now until the answered function is called; with `busyCores` (all ÷ wall seconds) when asked.
 */
function cpuFrom(pids: Record<string, number | undefined>): () => Record<string, number> {
  const began = performance.now();
  const tree = cpuSecondsOfTree();
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSecondsOf(pid)]));
  return () => {
    const used: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) used[name] = cpuSecondsOf(pid) - (before[name] as number);
    used.all = cpuSecondsOfTree() - tree;
    used.busyCores = used.all / ((performance.now() - began) / 1000);
    return used;
  };
}
/** `name value, …` of a split, for the log; whole numbers (bucket counts) as they are. */
function show(split: Record<string, number> = {}, digits = 2): string {
  return Object.entries(split)
    .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(digits)}`)
    .join(', ');
}

function figure(scenario: string, name: string, unit: string, value: number, baseline: number): void {
  figures.push({ scenario, name, unit, value, baseline, ratio: value / baseline });
}

const CALLBACK_DELAY_MS = 50;
const PLAN_BEFORE = 'M2M_4G';
const PLAN_AFTER = 'M2M_5G_PLUS';

/** `count` pairs of an active device with a line and a pre-active replacement, ids unique to this run. */
async function seedPairs(system: ChaosSystem, count: number): Promise<SeededPair[]> {
  const run = String(Date.now() % 100_000).padStart(5, '0');
  const devices: Record<string, string>[] = [];
  const pairs: SeededPair[] = [];
  for (let i = 0; i < count; i++) {
    const n = `${run}${String(i).padStart(4, '0')}`;
    const out = { eid: `890330233121500000000${n}01`, iccid: `8914800000${n}1`, imei: `35${n}1111`, mdn: `5${n}` };
    const into = { eid: `890330233121500000000${n}02`, iccid: `8914800000${n}2`, imei: `35${n}2222` };
    const common = { accountName: ACCOUNT, servicePlan: '4G 2GB' };
    devices.push({ ...common, ...out, state: 'active' }, { ...common, ...into, state: 'pre-active' });
    pairs.push({
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
  await system.sim('POST', '/__sim/devices', { devices });
  return pairs;
}

interface Shape {
  events: number;
  workflowTasks: number;
  bytes: number;
}

/** Events, workflow tasks and JSON size of a workflow's history. */
async function shapeOf(client: Client, workflowId: string): Promise<Shape> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events ?? [];
  return {
    events: events.length,
    workflowTasks: events.filter((e) => e.workflowTaskCompletedEventAttributes).length,
    bytes: JSON.stringify(history).length,
  };
}

const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

interface RunOf<T> {
  handles: T[];
  latenciesMs: number[];
  perSecond: number;
  cpuSeconds: number;
}

/** Starts `count` workflows at once with `start(i)`, waits for them all: end-to-end latencies, rate, CPU. */
async function runAll<T extends WorkflowHandle>(count: number, start: (i: number) => Promise<T>): Promise<RunOf<T>> {
  const cpuBefore = cpuSecondsOfTree();
  const began = performance.now();
  const latenciesMs: number[] = [];
  const handles = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const since = performance.now();
      const handle = await start(i);
      await handle.result();
      latenciesMs.push(performance.now() - since);
      return handle;
    }),
  );
  const seconds = (performance.now() - began) / 1000;
  return { handles, latenciesMs, perSecond: count / seconds, cpuSeconds: cpuSecondsOfTree() - cpuBefore };
}

async function swapScenario(
  system: ChaosSystem,
  bareWorker: Part | undefined,
  bareGateway: Part | undefined,
  options: Options,
  runId: string,
): Promise<void> {
  const { client } = system;
  say(`\n== 1. ${options.swaps} concurrent swap sagas, and the bare baseline`);
  const pairs = await seedPairs(system, options.swaps);
  // Each worker's peak memory while its own swaps run, not the whole run's (the bulk's inputs are larger).
  const worker = system.part('worker')?.child.pid;
  // The CPU of each part over a run, per saga; `rest` is the bench's client and the idle parts.
  const split = async (pids: Record<string, number | undefined>, run: () => Promise<RunOf<WorkflowHandle>>) => {
    const cpu = cpuFrom(pids);
    const result = await run();
    const used = cpu();
    const perSaga: Record<string, number> = {};
    for (const name of Object.keys(pids)) perSaga[name] = (used[name] as number) / options.swaps;
    perSaga.rest =
      ((used.all as number) - Object.keys(pids).reduce((sum, name) => sum + (used[name] as number), 0)) / options.swaps;
    return { result, perSaga };
  };
  const atRest = (pid: number | undefined) => `${peakRssMiB(pid, 'VmRSS').toFixed(0)} MiB`;
  say(`  worker RSS at rest before the swaps: euicc ${atRest(worker)}, bare ${atRest(bareWorker?.child.pid)}`);
  resetPeakRss(worker);
  const workerThreads = threadsFrom(worker);
  const real = await split(
    {
      worker,
      gateway: system.part('gateway')?.child.pid,
      simulator: system.part('simulator')?.child.pid,
      temporal: system.temporalPid,
    },
    () =>
      runAll(options.swaps, (i) =>
        startEidDeviceSwap(client, swapRequest(pairs[i] as SeededPair), { stepTimeout: '10 minutes' }),
      ),
  );
  const realRss = peakRssMiB(worker);
  const realThreads = workerThreads();
  resetPeakRss(bareWorker?.child.pid);
  const bareThreads = threadsFrom(bareWorker?.child.pid);
  const bare = await split(
    { worker: bareWorker?.child.pid, gateway: bareGateway?.child.pid, temporal: system.temporalPid },
    () =>
      runAll(options.swaps, (i) =>
        client.workflow.start('baselineSwap', {
          taskQueue: BASELINE_TASK_QUEUE,
          workflowId: `bench-${runId}-swap-${i}`,
          args: [],
        }),
      ),
  );
  const bareRss = peakRssMiB(bareWorker?.child.pid);
  swapCpuSplit.euicc = real.perSaga;
  swapCpuSplit.bare = bare.perSaga;
  const perSaga = (x: Record<string, number>) =>
    Object.fromEntries(Object.entries(x).map(([k, v]) => [k, v / options.swaps]));
  swapCpuSplit.euiccWorkerThreads = perSaga(realThreads);
  swapCpuSplit.bareWorkerThreads = perSaga(bareThreads());
  say(`  CPU s per saga by process: euicc ${show(real.perSaga, 3)}; bare ${show(bare.perSaga, 3)}`);
  say(
    `  worker CPU s per saga by thread: euicc ${show(swapCpuSplit.euiccWorkerThreads, 3)}; bare ${show(swapCpuSplit.bareWorkerThreads, 3)}`,
  );
  const sample = Math.min(10, options.swaps);
  const realShapes = await Promise.all(real.result.handles.slice(0, sample).map((h) => shapeOf(client, h.workflowId)));
  const bareShapes = await Promise.all(bare.result.handles.slice(0, sample).map((h) => shapeOf(client, h.workflowId)));
  const s = 'swaps';
  figure(s, 'sagas per second', '/s', real.result.perSecond, bare.result.perSecond);
  figure(
    s,
    'end-to-end latency p50',
    'ms',
    percentile(real.result.latenciesMs, 50),
    percentile(bare.result.latenciesMs, 50),
  );
  figure(
    s,
    'end-to-end latency p99',
    'ms',
    percentile(real.result.latenciesMs, 99),
    percentile(bare.result.latenciesMs, 99),
  );
  figure(
    s,
    'history events per saga',
    'events',
    mean(realShapes.map((x) => x.events)),
    mean(bareShapes.map((x) => x.events)),
  );
  figure(
    s,
    'workflow tasks per saga',
    'tasks',
    mean(realShapes.map((x) => x.workflowTasks)),
    mean(bareShapes.map((x) => x.workflowTasks)),
  );
  figure(
    s,
    'CPU seconds per saga',
    'cpu s',
    real.result.cpuSeconds / options.swaps,
    bare.result.cpuSeconds / options.swaps,
  );
  figure(s, 'peak RSS: worker during the swaps', 'MiB', realRss, bareRss);
}

/** POSTs JSON to the bench's bare app, or GETs from it; fails on anything but a 2xx. */
async function bareCall<T>(url: string, body?: unknown): Promise<T> {
  const init =
    body === undefined
      ? {}
      : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return (res.headers.get('content-type')?.includes('json') ? res.json() : undefined) as Promise<T>;
}

/** Polls `ready` every `everyMs` until it holds, or fails after `timeoutMs`. */
async function until(what: string, ready: () => Promise<boolean>, timeoutMs = 300_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Waits until every workflow of `handles` has closed, asking Temporal's visibility twice a second rather than
 * holding a long poll open per workflow: hundreds of those, woken at each event, would load the server the
 * figure is measured on.
 */
async function untilClosed(client: Client, handles: WorkflowHandle[]): Promise<void> {
  const ids = handles.map((h) => `'${h.workflowId}'`);
  const count = async (also: string): Promise<number> => {
    let total = 0;
    for (let i = 0; i < ids.length; i += 100) {
      total += (await client.workflow.count(`WorkflowId IN (${ids.slice(i, i + 100).join(', ')})${also}`)).count;
    }
    return total;
  };
  // A workflow not yet in visibility would pass for closed: first every one must be there.
  await until('the workflows to be visible', async () => (await count('')) >= ids.length, 60_000, 500);
  await until(
    'the workflows to close',
    async () => (await count(" AND ExecutionStatus = 'Running'")) === 0,
    600_000,
    500,
  );
}

/**
 * 3. Callback to workflow. The sagas are started first, their callbacks held; then the callbacks are let
 * out at the aimed rate (the simulator's pace control, and the same on the bare side), so the figure is the
 * callback path at that rate and not the rate at which this machine can start sagas.
 */
async function callbackScenario(
  system: ChaosSystem,
  bareParts: Record<string, Part>,
  baselineUrl: string,
  options: Options,
  runId: string,
) {
  const { client } = system;
  const swaps = Math.ceil(options.pacedCallbacks / 3);
  const aimed = options.callbackRate;
  say(`\n== 3. callback to workflow: ${swaps} waiting swaps, their ${swaps * 3} callbacks let out at ${aimed}/s`);
  const pairs = await seedPairs(system, swaps);
  const operations = async () => (await system.sim<unknown[]>('GET', '/__sim/operations')).length;
  const acceptedBefore = await operations();
  await system.sim('POST', '/__sim/callbacks/pace', { perSecond: 0 });
  const realHandles = await Promise.all(
    pairs.map((pair) => startEidDeviceSwap(client, swapRequest(pair), { stepTimeout: '10 minutes' })),
  );
  await until('the swaps to be accepted', async () => (await operations()) >= acceptedBefore + swaps);
  const pid = (name: PartName) => system.part(name)?.child.pid;
  const realCpu = cpuFrom({
    worker: pid('worker'),
    gateway: pid('gateway'),
    simulator: pid('simulator'),
    temporal: system.temporalPid,
  });
  const workerThreads = threadsFrom(pid('worker'));
  const gatewayThreads = threadsFrom(pid('gateway'));
  const lagBefore = await dispatchLag(system.operatorUrl);
  await system.sim('POST', '/__sim/callbacks/pace', { perSecond: aimed });
  await untilClosed(client, realHandles);
  callbackSplit.euicc = realCpu();
  callbackSplit.workerThreads = workerThreads();
  callbackSplit.gatewayThreads = gatewayThreads();
  await Promise.all(realHandles.map((h) => h.result())); // each one completed, none failed
  const lag = await dispatchLag(system.operatorUrl);
  callbackSplit.gatewayDispatchLag = Object.fromEntries(
    [...lag].map(([le, count]) => [`le ${le} s`, count - (lagBefore.get(le) ?? 0)]),
  );
  await system.sim('POST', '/__sim/callbacks/pace', { perSecond: null });

  await bareCall(`${baselineUrl}/pace`, { perSecond: 0 });
  const bareHandles = await Promise.all(
    Array.from({ length: swaps }, (_, i) =>
      client.workflow.start('baselineSwap', {
        taskQueue: BASELINE_TASK_QUEUE,
        workflowId: `bench-${runId}-paced-${i}`,
        args: [],
      }),
    ),
  );
  const queued = async () => (await bareCall<{ queued: number }>(`${baselineUrl}/pace`)).queued;
  await until('the bare callbacks to be queued', async () => (await queued()) >= swaps * 3);
  const bareCpu = cpuFrom({
    worker: bareParts.worker?.child.pid,
    gateway: bareParts.gateway?.child.pid,
    temporal: system.temporalPid,
  });
  await bareCall(`${baselineUrl}/pace`, { perSecond: aimed });
  await untilClosed(client, bareHandles);
  callbackSplit.bare = bareCpu();
  const bareSignals = (await Promise.all(bareHandles.map((h) => h.result() as Promise<AppliedSignal[]>))).flat();
  await bareCall(`${baselineUrl}/pace`, { perSecond: null });

  // 3. Callback to workflow: the gateway's receipt of each callback (its inbox row) to the step it settled,
  // as the saga's status records it (workflow time); the baseline's signal carries its post time.
  const store = await openStore({ DATA_DIR: system.dir });
  const received = new Map<string, number[]>();
  try {
    for (const record of await store.list('delivered', 1_000_000)) {
      if (!record.workflowId) continue;
      received.set(record.workflowId, [...(received.get(record.workflowId) ?? []), Date.parse(record.receivedAt)]);
    }
  } finally {
    await store.close();
  }
  const realToWorkflow: number[] = [];
  const callbackTimes: number[] = [];
  for (const handle of realHandles) {
    const status = (await handle.query('status')) as EidDeviceSwapStatus;
    const applied = Object.values(status.steps)
      .flatMap((step) => (step.at ? [Date.parse(step.at)] : []))
      .sort((a, b) => a - b);
    const posts = (received.get(handle.workflowId) ?? []).sort((a, b) => a - b);
    callbackTimes.push(...posts);
    applied.forEach((at, i) => {
      const post = posts[i];
      if (post !== undefined) realToWorkflow.push(at - post);
    });
  }
  const bareToWorkflow = bareSignals.map((x) => x.appliedAt - x.postedAt);
  const rate = (times: number[]): number => times.length / ((Math.max(...times) - Math.min(...times)) / 1000 || 1);
  const c = 'callback to workflow';
  figure(c, 'callbacks received per second', '/s', rate(callbackTimes), rate(bareSignals.map((x) => x.postedAt)));
  figure(c, 'POST to signal applied p50', 'ms', percentile(realToWorkflow, 50), percentile(bareToWorkflow, 50));
  figure(c, 'POST to signal applied p99', 'ms', percentile(realToWorkflow, 99), percentile(bareToWorkflow, 99));
  say(`  CPU s while let out: euicc ${show(callbackSplit.euicc)}; bare ${show(callbackSplit.bare)}`);
  say(`  gateway receipt to signal sent: ${show(callbackSplit.gatewayDispatchLag)}`);
  say(`  CPU s by thread: worker ${show(callbackSplit.workerThreads)}; gateway ${show(callbackSplit.gatewayThreads)}`);
}

/** The gateway's dispatch-lag histogram (receipt to signal sent): cumulative count by bucket bound. */
async function dispatchLag(operatorUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${operatorUrl}/metrics`)).text();
  const buckets = new Map<string, number>();
  for (const match of text.matchAll(/^euicc_gateway_dispatch_lag_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm))
    buckets.set(match[1] as string, Number(match[2]));
  return buckets;
}

async function ingestionScenario(system: ChaosSystem, baselineUrl: string, options: Options, runId: string) {
  const gatewayUrl = system.gatewayUrl;
  say(`\n== 2. callback ingestion: ${options.callbacks} callbacks over 64 keep-alive connections`);
  const callback = (prefix: string) => (i: number) => ({
    ...CALLBACKS,
    requestId: `bench-${runId}-${prefix}-${i}`,
    deviceIds: [{ id: `35${String(i).padStart(13, '0')}`, kind: 'imei' }],
    deviceResponse: { deactivateResponse: { deactivated: true } },
    status: 'Success',
    callbackCount: 1,
    maxCallbackThreshold: 4,
  });
  const url = callbackUrl(`${gatewayUrl}/callbacks`, CALLBACK_PATH_TOKEN, 'CarrierService', ACCOUNT);
  const real = await postLoad(url, callback('max'), { count: options.callbacks, connections: 64 });
  // The gateway's dispatcher parks the backlog after the load: each run starts with it done, on an idle machine.
  await drainInbox(system.dir);
  const bare = await postLoad(`${baselineUrl}/bare`, callback('max'), { count: options.callbacks, connections: 64 });
  await drainInbox(system.dir);
  if (real.failed > 0) throw new Error(`the gateway refused ${real.failed} callbacks`);
  const i = 'ingestion';
  figure(i, 'callbacks acknowledged per second', '/s', real.perSecond, bare.perSecond);
  figure(i, 'acknowledgement latency p50', 'ms', real.p50Ms, bare.p50Ms);
  figure(i, 'acknowledgement latency p99', 'ms', real.p99Ms, bare.p99Ms);
  figure(i, 'acknowledgement latency max', 'ms', real.maxMs, bare.maxMs);
  say(`   at a fixed 1,000/s: ${options.rateCallbacks} callbacks`);
  const load = { count: options.rateCallbacks, connections: 64, rate: 1_000 };
  const realRate = await postLoad(url, callback('rate'), load);
  await drainInbox(system.dir);
  const bareRate = await postLoad(`${baselineUrl}/bare`, callback('rate'), load);
  figure(i, 'at 1,000/s: latency p50', 'ms', realRate.p50Ms, bareRate.p50Ms);
  figure(i, 'at 1,000/s: latency p99', 'ms', realRate.p99Ms, bareRate.p99Ms);
  figure(i, 'at 1,000/s: latency max', 'ms', realRate.maxMs, bareRate.maxMs);
}

async function bulkScenario(system: ChaosSystem, parts: Record<string, Part>, options: Options, runId: string) {
  const { client } = system;
  say(`\n== 4. bulk: changeProfileServicePlan of ${options.bulk} devices, and the bare baseline`);
  const { devices } = await system.sim<{ devices: { eid: string; iccid: string }[] }>(
    'POST',
    '/__sim/devices/generate',
    {
      accountName: ACCOUNT,
      count: options.bulk,
      state: 'active',
      servicePlan: PLAN_BEFORE,
      withEid: true,
      prefix: '7',
    },
  );
  const shardSize = 1_000;
  const shardConcurrency = 4;
  let began = performance.now();
  const handle = await startChangeProfileServicePlan(
    client,
    {
      accountName: ACCOUNT,
      servicePlan: PLAN_AFTER,
      devices: devices.map((d) => ({
        deviceIds: [
          { kind: 'eid', id: d.eid },
          { kind: 'iccid', id: d.iccid },
        ],
      })),
    },
    { operationId: `bench-${runId}`, shardSize, shardConcurrency, failurePolicy: 'fail', stepTimeout: '10 minutes' },
  );
  await handle.result();
  const realSeconds = (performance.now() - began) / 1000;
  began = performance.now();
  const bareId = `bench-${runId}-bulk`;
  await client.workflow.execute('baselineBulk', {
    taskQueue: BASELINE_TASK_QUEUE,
    workflowId: bareId,
    args: [options.bulk, shardSize, shardConcurrency],
  });
  const bareSeconds = (performance.now() - began) / 1000;
  const shards = Math.ceil(options.bulk / shardSize);
  const shardIds: string[] = [];
  for await (const shard of client.workflow.list({ query: `WorkflowId STARTS_WITH "${handle.workflowId}/"` })) {
    shardIds.push(shard.workflowId);
  }
  const realShapes = await Promise.all([handle.workflowId, ...shardIds].map((id) => shapeOf(client, id)));
  const bareShapes = await Promise.all(
    [bareId, ...Array.from({ length: shards }, (_, n) => `${bareId}/s${n}`)].map((id) => shapeOf(client, id)),
  );
  const b = 'bulk';
  figure(b, `${options.bulk} devices: time`, 's', realSeconds, bareSeconds);
  figure(
    b,
    'largest history: events',
    'events',
    Math.max(...realShapes.map((x) => x.events)),
    Math.max(...bareShapes.map((x) => x.events)),
  );
  figure(
    b,
    'largest history: size',
    'KiB',
    Math.max(...realShapes.map((x) => x.bytes)) / 1024,
    Math.max(...bareShapes.map((x) => x.bytes)) / 1024,
  );
  const rss = (part: Part | undefined): number => peakRssMiB(part?.child.pid);
  figure(b, 'peak RSS: worker (whole run)', 'MiB', rss(system.part('worker')), rss(parts.worker));
  figure(b, 'peak RSS: gateway (whole run)', 'MiB', rss(system.part('gateway')), rss(parts.gateway));
  figure(b, 'peak RSS: simulator (whole run)', 'MiB', rss(system.part('simulator')), rss(parts.gateway));
}

/**
 * Waits until the gateway has dispatched every stored callback (the ingestion's callbacks match no saga and
 * are parked), so that the next measurement, the baseline's or the bulk scenario's, does not pay for the backlog.
 */
async function drainInbox(dataDir: string): Promise<void> {
  const store = await openStore({ DATA_DIR: dataDir });
  try {
    const deadline = Date.now() + 5 * 60_000;
    while ((await store.counts()).pending > 0) {
      if (Date.now() > deadline) throw new Error('the gateway did not dispatch the ingested callbacks in 5 minutes');
      await sleep(500);
    }
  } finally {
    await store.close();
  }
}

/**
 * The figures of a results file that lack a finite value, baseline or ratio, or are missing (all of them, or
 * those of the one scenario its options name).
 */
export function incompleteFigures(results: { figures?: Figure[]; options?: { only?: Scenario } }): string[] {
  const found = results.figures ?? [];
  const problems = found
    .filter((f) => ![f.value, f.baseline, f.ratio].every(Number.isFinite))
    .map((f) => `${f.scenario}: ${f.name}`);
  const only = results.options?.only;
  const expected = only === undefined ? EXPECTED_FIGURES : SCENARIOS[only];
  if (found.length !== expected) problems.push(`${found.length} figures, not ${expected}`);
  return problems;
}

function machine(): Record<string, string | number> {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    ramGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    commit,
  };
}

const format = (n: number): string =>
  !Number.isFinite(n) ? String(n) : Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2);

function table(): string {
  const rows = figures.map((f) => [
    f.scenario,
    f.name,
    `${format(f.value)} ${f.unit}`,
    `${format(f.baseline)} ${f.unit}`,
    `×${format(f.ratio)}`,
  ]);
  const head = ['scenario', 'figure', 'euicc-orchestrator', 'bare baseline', 'ratio'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** Every figure there, with a finite value and baseline: what the smoke run (CI) checks. */
export const EXPECTED_FIGURES = Object.values(SCENARIOS).reduce((a, b) => a + b, 0);

/** `--devices 10000,100000`: the fleet-scale benchmark alone (bench/fleet.ts), to bench/results/fleet-latest.json. */
async function fleet(argv: string[]): Promise<void> {
  const sizes = (argv[argv.indexOf('--devices') + 1] ?? '').split(',').map(Number);
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n <= 0)) {
    throw new Error('--devices takes sizes separated by commas, e.g. --devices 10000,100000');
  }
  const startedAt = new Date().toISOString();
  const { runs, table: fleetTable } = await fleetBench(sizes);
  const results = { startedAt, finishedAt: new Date().toISOString(), machine: machine(), runs };
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/fleet-latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  say(`\n${fleetTable}\n\nbench/results/fleet-latest.json written`);
  const inexact = runs.filter((r) => !r.accounting.exact);
  if (inexact.length > 0) throw new Error(`inexact accounting at ${inexact.map((r) => r.devices).join(', ')} devices`);
}

async function main(): Promise<void> {
  if (process.argv.includes('--devices')) return fleet(process.argv.slice(2));
  const options = parseOptions(process.argv.slice(2));
  const runId = String(Date.now());
  const startedAt = new Date().toISOString();
  say(`bench: ${JSON.stringify(options)}`);
  const system = await ChaosSystem.start({
    simulatorEnv: { SIM_CALLBACK_DELAY_MS: String(CALLBACK_DELAY_MS) },
  });
  const parts: Record<string, Part> = {};
  try {
    const baselinePort = await findFreePort();
    const baselineUrl = `http://127.0.0.1:${baselinePort}`;
    const address = system.temporalAddress;
    const env = { ...process.env, TEMPORAL_ADDRESS: address, BASELINE_URL: baselineUrl, FORCE_COLOR: '0' };
    parts.gateway = startPart('baseline-gateway', join(ROOT, 'bench/baseline-gateway.ts'), {
      ...env,
      BASELINE_PORT: String(baselinePort),
      BASELINE_CALLBACK_DELAY_MS: String(CALLBACK_DELAY_MS),
    });
    parts.worker = startPart('baseline-worker', join(ROOT, 'bench/baseline-worker.ts'), env);
    await waitForHttp(`${baselineUrl}/healthz`);
    // Both workers ready: one tiny round of each before measuring.
    await startEidDeviceSwap(system.client, swapRequest((await seedPairs(system, 1))[0] as SeededPair)).then((h) =>
      h.result(),
    );
    await system.client.workflow.execute('baselineSwap', {
      taskQueue: BASELINE_TASK_QUEUE,
      workflowId: `bench-${runId}-warm-up`,
    });

    const runs = (scenario: Scenario) => options.only === undefined || options.only === scenario;
    if (runs('swaps')) await swapScenario(system, parts.worker, parts.gateway, options, runId);
    if (runs('callbacks')) await callbackScenario(system, parts, baselineUrl, options, runId);
    if (runs('ingestion')) await ingestionScenario(system, baselineUrl, options, runId);
    if (runs('bulk')) {
      await drainInbox(system.dir);
      await bulkScenario(system, parts, options, runId);
    }
  } finally {
    await Promise.all(Object.values(parts).map((p) => p.stop()));
    await system.stop();
  }

  const results = {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: machine(),
    options,
    figures,
    ...(Object.keys(swapCpuSplit).length > 0 ? { swapCpuSplit } : {}),
    ...(Object.keys(callbackSplit).length > 0 ? { callbackSplit } : {}),
  };
  const file = join(ROOT, 'bench/results/latest.json');
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  say(`\n${table()}\n\nbench/results/latest.json written`);
  // What CI relies on: the file as written has every figure, each with its baseline and ratio.
  const incomplete = incompleteFigures(JSON.parse(readFileSync(file, 'utf8')) as { figures?: Figure[] });
  if (incomplete.length > 0) throw new Error(`bench/results/latest.json is incomplete: ${incomplete.join('; ')}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
