/**
 * Chaos (DESIGN.md §9): every part runs as its own process, as in production (test/chaos/system.ts), and
 * is killed with SIGKILL while a hundred swaps and a 2,000-device service plan change run together, with
 * callbacks dropped, duplicated and reordered by the simulator and 1% of the plan changes failing. Every
 * swap must still complete with each line on its replacement device; every device of the bulk operation
 * must be reported once, as the simulator saw it, and be sent to ThingSpace once; and the gateway's inbox
 * must account for every callback it acknowledged.
 */
import type { WorkflowHandle } from '@temporalio/client';
import {
  startChangeProfileServicePlan,
  startEidDeviceSwap,
  type BulkHandle,
  type EidDeviceSwapHandle,
} from '../../client/index.js';
import type {
  BulkResult,
  BulkStatus,
  ChangeProfileServicePlanRequest,
  DeviceId,
  EidDeviceSwapResult,
  EidDeviceSwapStatus,
  ProfileDevice,
  StoredShardResult,
} from '../../contracts/index.js';
import { waitForHttp } from '../../scripts/lib/processes.js';
import { openStore } from '../../store/index.js';
import type { InboxCounts, InboxRecord } from '../../store/index.js';
import { ACCOUNT, swapRequest, type SeededPair } from '../integration/harness.js';
import { writeFigures } from './figures.js';
import { ChaosSystem, eventually, say, sleep } from './system.js';

const SWAPS = 100;
const STEP_TIMEOUT = '8 seconds';
const SETTLE_TIMEOUT_MS = 6 * 60_000;
/** Swaps start in this many waves, this far apart: 100 swaps over the first 27 s of chaos. */
const WAVES = 10;
const WAVE_INTERVAL_MS = 3_000;
const CALLBACK_DELAY_MS = 1_000;
const TEMPORAL_DOWN_MS = 3_000;

/**
 * The bulk operation: four shards of 500, two at a time, each waiting 20 s for its callbacks (30% never
 * come) before it reads the device list. The chaos clock starts once the first pair has submitted, so that
 * pair takes its callbacks through the first worker kill and waits through the first gateway kill and the
 * Temporal kill; the second pair starts after Temporal is back and takes its callbacks through the second
 * worker kill and waits through the second gateway kill.
 */
const BULK_DEVICES = 2_000;
const BULK_SHARD_SIZE = 500;
const BULK_SHARD_CONCURRENCY = 2;
const BULK_STEP_TIMEOUT = '20 seconds';
const BULK_FAIL_RATE = 0.01;
const PLAN_BEFORE = 'M2M_4G';
const PLAN_AFTER = 'M2M_5G_PLUS';

let system: ChaosSystem;

beforeAll(async () => {
  system = await ChaosSystem.start({
    simulatorEnv: { SIM_SEED: '4242', SIM_CALLBACK_DELAY_MS: '50', SIM_CALLBACK_RETRY_MS: '300' },
    gatewayEnv: { DISPATCH_INTERVAL_MS: '100' },
  });
}, 180_000);

afterAll(async () => {
  await system?.stop();
}, 60_000);

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
  await system.sim('POST', '/__sim/devices', { devices });
  return pairs;
}

interface GeneratedDevice {
  eid: string;
  iccid: string;
}

/** `count` active eSIM devices on PLAN_BEFORE, named by eid and iccid as the plan change requires. */
async function seedBulkDevices(count: number): Promise<GeneratedDevice[]> {
  const { devices } = await system.sim<{ devices: GeneratedDevice[] }>('POST', '/__sim/devices/generate', {
    accountName: ACCOUNT,
    count,
    state: 'active',
    servicePlan: PLAN_BEFORE,
    withEid: true,
    prefix: '7',
  });
  return devices;
}

const profileDevices = (devices: GeneratedDevice[]): ProfileDevice[] =>
  devices.map((d) => ({
    deviceIds: [
      { kind: 'eid', id: d.eid },
      { kind: 'iccid', id: d.iccid },
    ],
  }));

/** Retries a start while Temporal is down; a retried start returns the saga already started. */
async function startRetrying<T>(start: () => Promise<T>, onRetry: () => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 30) throw err;
      onRetry();
      await sleep(1_000);
    }
  }
}

/**
 * The activity attempts beyond the first in a workflow's history (`submitEidDeviceSwap attempt 2`): what
 * the kills cost, since an attempt lost with a killed worker is only retried after its start-to-close
 * timeout. The started event records the last attempt's number.
 */
async function retriedActivities(handle: WorkflowHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  const scheduled = new Map<string, string>();
  const retried: string[] = [];
  for (const event of history.events ?? []) {
    if (event.activityTaskScheduledEventAttributes) {
      scheduled.set(String(event.eventId), event.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started && (started.attempt ?? 1) > 1) {
      retried.push(`${scheduled.get(String(started.scheduledEventId)) ?? '?'} attempt ${started.attempt}`);
    }
  }
  return retried;
}

const tally = (items: string[]): string => {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return [...counts].map(([name, n]) => `${name} ×${n}`).join(', ') || 'none';
};

interface SimDeliveryEntry {
  requestId: string;
  step: string;
  outcome: 'delivered' | 'failed' | 'dropped' | 'lost';
  duplicate?: boolean;
}

interface SimProfileRequest {
  requestId: string;
  operation: string;
  accountName: string;
  servicePlan?: string;
  devices: number;
  results: {
    deviceIds: DeviceId[];
    outcome: 'pending' | 'warning' | 'succeeded' | 'failed' | 'never';
    fault?: { faultcode: string; faultstring: string };
  }[];
}

interface ListedDevice {
  eid?: string;
  servicePlan: string;
}

/** The eid a profile callback names (kinds come as `Eid` or `eid`). */
function eidOf(ids: unknown): string | undefined {
  if (!Array.isArray(ids)) return undefined;
  const eid = (ids as { kind?: unknown; id?: unknown }[]).find((d) => String(d.kind).toLowerCase() === 'eid');
  return typeof eid?.id === 'string' ? eid.id : undefined;
}

interface BulkCheck {
  lines: string[];
  /** Devices whose outcome is not what the simulator did to them. */
  misreported: string[];
  /** Devices not named by exactly one accepted ThingSpace request. */
  notSentOnce: string[];
  /** Shards that applied more callbacks than they have devices. */
  overApplied: string[];
}

/**
 * Checks the bulk saga's result device by device against the simulator's truth — the device list (is the
 * new plan there?) and each accepted request's per-device outcome — and against the callbacks the gateway
 * delivered to the shards. A device may end `noAnswer` only if ThingSpace failed it and its callback never
 * reached its shard (dropped by the fault, or lost while the gateway was dead): the device list cannot
 * show a failure.
 */
async function checkBulk(
  handle: BulkHandle<ChangeProfileServicePlanRequest>,
  seeded: GeneratedDevice[],
  result: BulkResult,
  inbox: InboxRecord[],
  started: number,
): Promise<BulkCheck> {
  const status: BulkStatus = await handle.status();
  const { startTime, closeTime } = await handle.describe();
  // Shard ids carry the coordinator run that started them: found by their prefix.
  let shardIds: string[] = [];
  for (let tries = 0; tries < 20 && shardIds.length < status.shards.total; tries += 1) {
    if (tries > 0) await new Promise((r) => setTimeout(r, 500));
    shardIds = [];
    const query = `WorkflowId STARTS_WITH "${handle.workflowId}/"`;
    for await (const shard of system.client.workflow.list({ query })) shardIds.push(shard.workflowId);
  }
  const shards = await Promise.all(
    shardIds.map(async (id) => {
      const shard = system.client.workflow.getHandle(id);
      const [outcome, description, retried] = await Promise.all([
        shard.result() as Promise<StoredShardResult>,
        shard.describe(),
        retriedActivities(shard),
      ]);
      return { id, outcome, description, retried };
    }),
  );
  const retried = [...(await retriedActivities(handle)), ...shards.flatMap((s) => s.retried)];

  // The simulator's truth: every accepted plan change of the account, every device's outcome in it.
  const summaries = await system.sim<{ requestId: string; operation: string; accountName: string }[]>(
    'GET',
    '/__sim/profile-requests',
  );
  const requests = await Promise.all(
    summaries
      .filter((r) => r.operation === 'changeProfileServicePlan' && r.accountName === ACCOUNT)
      .map((r) => system.sim<SimProfileRequest>('GET', `/__sim/profile-requests/${r.requestId}`)),
  );
  const sentIn = new Map<string, (SimProfileRequest['results'][number] & { requestId: string })[]>();
  for (const request of requests) {
    for (const entry of request.results) {
      const eid = eidOf(entry.deviceIds)?.toLowerCase() ?? '?';
      sentIn.set(eid, [...(sentIn.get(eid) ?? []), { ...entry, requestId: request.requestId }]);
    }
  }
  const listed = new Map(
    (await system.sim<ListedDevice[]>('GET', '/__sim/devices')).flatMap((d) =>
      d.eid ? [[d.eid.toLowerCase(), d.servicePlan] as const] : [],
    ),
  );

  // What the gateway handed to the shards, per device.
  const requestIds = new Set(requests.map((r) => r.requestId));
  const bulkInbox = inbox.filter((r) => requestIds.has(String(r.body.requestId ?? '')));
  const shardSet = new Set(shardIds);
  const reachedShard = new Map<string, string[]>();
  for (const record of bulkInbox) {
    if (record.state !== 'delivered' || !shardSet.has(record.workflowId ?? '')) continue;
    const eid = eidOf(record.body.deviceIds)?.toLowerCase() ?? '?';
    reachedShard.set(eid, [...(reachedShard.get(eid) ?? []), String(record.body.status)]);
  }

  const misreported: string[] = [];
  const notSentOnce: string[] = [];
  const truth = { succeeded: 0, failed: 0, other: 0 };
  let noAnswerUnseen = 0;
  seeded.forEach((device, i) => {
    const eid = device.eid.toLowerCase();
    const saga = result.devices[i];
    const sent = sentIn.get(eid) ?? [];
    // Never twice. Never sent at all is allowed only as no answer: a shard whose worker died before its
    // request left does not resend it (ThingSpace would accept a resend twice), so an operator retries.
    if (sent.length > 1 || (sent.length === 0 && saga?.outcome !== 'noAnswer')) {
      notSentOnce.push(`${device.eid} in ${sent.length} accepted requests`);
    }
    const simulated = sent.at(-1);
    const plan = listed.get(eid);
    if (simulated?.outcome === 'succeeded') truth.succeeded += 1;
    else if (simulated?.outcome === 'failed') truth.failed += 1;
    else truth.other += 1;
    const seen = reachedShard.get(eid) ?? [];
    const wrong = (why: string): void => {
      misreported.push(
        `${device.eid}: saga ${JSON.stringify(saga)}, simulator ${JSON.stringify(simulated)}, plan ${plan}, ` +
          `callbacks delivered to its shard ${JSON.stringify(seen)} — ${why}`,
      );
    };
    if (saga?.device !== `eid:${device.eid}`) return wrong('not in its place in the result');
    if (saga.outcome === 'succeeded') {
      if (simulated?.outcome !== 'succeeded' || plan !== PLAN_AFTER) return wrong('succeeded without the new plan');
      if (!saga.confirmedBy && !seen.includes('SUCCESS')) wrong('confirmed by a callback its shard never got');
    } else if (saga.outcome === 'failed') {
      if (simulated?.outcome !== 'failed' || plan !== PLAN_BEFORE) return wrong('failed, but ThingSpace did not');
      if (!seen.includes('FAILED')) return wrong('failed by a callback its shard never got');
      const { faultcode = '', faultstring = '' } = simulated.fault ?? {};
      const code = faultcode.startsWith('DeviceProfileService.') ? faultcode : `DeviceProfileService.${faultcode}`;
      const fault = saga.faultId === undefined ? undefined : result.faults[saga.faultId];
      if (fault?.code !== code || fault.message !== faultstring) return wrong("not ThingSpace's reason");
      // A reason names the request it answered, when the shard learnt its id.
      if ((fault.requestId ?? simulated.requestId) !== simulated.requestId) wrong('the reason of another request');
    } else {
      if (simulated?.outcome === 'succeeded' || plan !== PLAN_BEFORE) return wrong('no answer, yet the plan changed');
      if (seen.length > 0) return wrong('no answer, yet its shard got its callback');
      noAnswerUnseen += 1;
    }
  });

  const overApplied = shards
    .filter((s) => s.outcome.callbacksReceived - s.outcome.duplicatesIgnored > s.outcome.counts.devices)
    .map((s) => `${s.id}: ${s.outcome.callbacksReceived - s.outcome.duplicatesIgnored} callbacks applied`);

  const devices = result.devices;
  const byCallback = devices.filter((d) => d.outcome === 'succeeded' && !d.confirmedBy).length;
  const byReconciliation = devices.filter((d) => d.confirmedBy === 'reconciliation').length;
  const inboxStates = new Map<string, number>();
  for (const record of bulkInbox) inboxStates.set(record.state, (inboxStates.get(record.state) ?? 0) + 1);
  const inboxDuplicates = bulkInbox.reduce((n, r) => n + r.deliveries - 1, 0);
  const secondsFromStart = (at: Date | undefined) => {
    if (!at) return 'still open';
    const seconds = (at.getTime() - started) / 1000;
    return `${seconds < 0 ? '−' : '+'}${Math.abs(seconds).toFixed(1)} s`;
  };
  const shardLine = (s: (typeof shards)[number]) => {
    const { succeeded, failed, noAnswer } = s.outcome.counts;
    return (
      `${s.id.slice(handle.workflowId.length + 1)} ${secondsFromStart(s.description.startTime)}→` +
      `${secondsFromStart(s.description.closeTime)}: ${succeeded} succeeded, ` +
      `${failed} failed, ${noAnswer} no answer; ${s.outcome.callbacksReceived} callbacks, ` +
      `${s.outcome.duplicatesIgnored} duplicates ignored`
    );
  };
  const lines = [
    `Bulk changeProfileServicePlan alongside: ${devices.length} devices, shards of ${BULK_SHARD_SIZE}, ` +
      `${BULK_SHARD_CONCURRENCY} at a time (step timeout ${BULK_STEP_TIMEOUT}, fail rate ${BULK_FAIL_RATE})`,
    `  devices                    ${result.counts.succeeded} succeeded (${byCallback} by callback, ` +
      `${byReconciliation} by reconciliation), ${result.counts.failed} failed, ${result.counts.noAnswer} no answer`,
    `  simulator                  ${truth.succeeded} plans changed, ${truth.failed} failed, ${truth.other} other; ` +
      `${noAnswerUnseen} failed devices whose callback never reached their shard`,
    `  ThingSpace requests        ${requests.length} accepted for ${shards.length} shards; the saga knows ` +
      `${result.requestIds.length}; devices not sent exactly once: ${notSentOnce.length}`,
    `  shard callbacks            ${status.callbacksReceived} received, ${status.duplicatesIgnored} duplicates ignored by the shards`,
    `  inbox (bulk)               ${bulkInbox.length} received, ${inboxDuplicates} duplicates ignored by fingerprint; ` +
      `${[...inboxStates].map(([state, n]) => `${n} ${state}`).join(', ')}`,
    ...shards.map((s) => `  shard                      ${shardLine(s)}`),
    `  activities retried         ${tally(retried)}`,
    `  time                       ${secondsFromStart(startTime)} → ${secondsFromStart(closeTime)} ` +
      `(${(((closeTime?.getTime() ?? Date.now()) - startTime.getTime()) / 1000).toFixed(1)} s)`,
  ];
  return { lines, misreported, notSentOnce, overApplied };
}

it('a hundred swaps and a 2,000-device plan change complete through SIGKILLed workers, gateways and Temporal, with lossy callbacks', async () => {
  const pairs = await seedPairs(SWAPS);
  const bulkDevices = await seedBulkDevices(BULK_DEVICES);
  await system.sim('POST', '/__sim/faults', {
    clear: true,
    // Callbacks a second apart spread each swap's deliveries over the kills below.
    callbacks: { drop: 0.3, duplicate: 0.3, order: 'random', delayMs: CALLBACK_DELAY_MS },
    profiles: { failRate: BULK_FAIL_RATE },
    // No page promises that a repeated request is refused: ThingSpace here accepts it and acts twice.
    acceptDuplicates: true,
  });
  const client = system.client;
  const bulkStartedAt = Date.now();

  // A start that fails (Temporal down) is retried: the client returns the saga already started.
  let startRetries = 0;
  const retried = () => void (startRetries += 1);
  const bulk = await startRetrying(
    () =>
      startChangeProfileServicePlan(
        client,
        { accountName: ACCOUNT, devices: profileDevices(bulkDevices), servicePlan: PLAN_AFTER },
        {
          operationId: `chaos-${bulkStartedAt}`,
          shardSize: BULK_SHARD_SIZE,
          shardConcurrency: BULK_SHARD_CONCURRENCY,
          stepTimeout: BULK_STEP_TIMEOUT,
          failurePolicy: 'fail',
        },
      ),
    retried,
  );
  // The clock starts when ThingSpace has the first shards' requests (the worker is up and polling by then).
  await eventually('the first shards submitting', 120_000, async () => {
    const requests = await system.sim<{ operation: string; accountName: string }[]>('GET', '/__sim/profile-requests');
    const submitted = requests.filter((r) => r.operation === 'changeProfileServicePlan' && r.accountName === ACCOUNT);
    return submitted.length >= BULK_SHARD_CONCURRENCY ? true : undefined;
  });
  const started = Date.now();
  const at = (ms: number) => sleep(Math.max(0, started + ms - Date.now()));
  say(
    `[chaos] the bulk operation's first ${BULK_SHARD_CONCURRENCY} shards submitted ${started - bulkStartedAt} ms after its start`,
  );

  // Swaps start in waves across the whole chaos window, so every kill lands on sagas in every phase.
  const starting = (async () => {
    const handles: EidDeviceSwapHandle[] = [];
    for (let wave = 0; wave < WAVES; wave++) {
      await at(wave * WAVE_INTERVAL_MS);
      const batch = pairs.slice((wave * SWAPS) / WAVES, ((wave + 1) * SWAPS) / WAVES);
      const startOne = (pair: Pair) =>
        startRetrying(() => startEidDeviceSwap(client, swapRequest(pair), { stepTimeout: STEP_TIMEOUT }), retried);
      handles.push(...(await Promise.all(batch.map(startOne))));
    }
    return handles;
  })();
  // Awaited after the chaos schedule; a failure must not surface as an unhandled rejection before that.
  starting.catch(() => undefined);

  // The chaos schedule. A restart starts the part again at once, as a supervisor would.
  const restart = async (name: 'worker' | 'gateway'): Promise<void> => {
    await system.restart(name);
    say(`[chaos] killed ${name} (SIGKILL) at +${Date.now() - started} ms; restarted it`);
  };
  await at(4_000);
  await restart('worker');
  await at(9_000);
  await restart('gateway');
  await at(14_000);
  await system.killTemporal();
  say(`[chaos] killed Temporal (SIGKILL) at +${Date.now() - started} ms`);
  const workerBefore = system.part('worker');
  const gatewayBefore = system.part('gateway');
  await sleep(TEMPORAL_DOWN_MS);
  const temporalRestartedAt = Date.now();
  await system.restartTemporal();
  say(`[chaos] Temporal restarted on the same file and port in ${Date.now() - temporalRestartedAt} ms`);
  await at(24_000);
  const survivedOutage = {
    worker: system.part('worker') === workerBefore && system.alive(workerBefore),
    gateway: system.part('gateway') === gatewayBefore && system.alive(gatewayBefore),
  };
  await restart('worker');
  await at(29_000);
  await restart('gateway');
  const handles = await starting;
  const startedIn = Date.now() - started;
  const chaosEndedAt = Date.now();
  await waitForHttp(`${system.gatewayUrl}/readyz`, 60_000);

  // Every saga closes, within a bound; closed ones are not asked again.
  const open = new Map<string, WorkflowHandle>([...handles, bulk].map((h) => [h.workflowId, h]));
  await eventually('every saga closing', SETTLE_TIMEOUT_MS - (Date.now() - started), async () => {
    for (const [id, handle] of open) {
      const { status } = await handle.describe();
      if (status.name !== 'RUNNING') open.delete(id);
    }
    return open.size === 0 ? true : undefined;
  }).catch((err: Error) => {
    throw new Error(`${err.message}; still open: ${[...open.keys()].slice(0, 10).join(', ')} (${open.size} in all)`);
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
    const device = await system
      .sim('GET', `/__sim/devices/mdn/${pairs[handles.indexOf(f.handle)]?.mdn}`)
      .catch(() => 'not found');
    say(`[chaos] ${f.handle.workflowId} failed: ${f.error?.message}${cause ? `: ${cause.message}` : ''}`);
    say(`[chaos]   status ${JSON.stringify(status)}`);
    say(`[chaos]   its line in the simulator ${JSON.stringify(device)}`);
  }
  const results = outcomes.flatMap((o) => (o.result ? [o.result] : []));
  const bulkResult = await bulk.result();

  const steps = results.flatMap((r) => Object.values(r.steps));
  const byCallback = steps.filter((s) => s.state === 'confirmed' && s.confirmedBy === 'callback').length;
  const byReconciliation = steps.filter((s) => s.state === 'confirmed' && s.confirmedBy === 'reconciliation').length;

  // No step applied twice: each saga counted at most three callbacks besides the duplicates it ignored.
  const statuses: EidDeviceSwapStatus[] = await Promise.all(handles.map((h) => h.status()));
  const overApplied = statuses
    .map((s, i) => ({ id: handles[i]?.workflowId, applied: s.callbacksReceived - s.duplicatesIgnored }))
    .filter((s) => s.applied > 3);
  const sagaDuplicatesIgnored = statuses.reduce((n, s) => n + s.duplicatesIgnored, 0);

  // How long each saga took, and what the kills cost it.
  const durations: number[] = [];
  const swapRetries: string[] = [];
  const slowest: { id: string; ms: number; retried: string[] }[] = [];
  for (const handle of handles) {
    const { startTime, closeTime } = await handle.describe();
    const ms = (closeTime?.getTime() ?? Date.now()) - startTime.getTime();
    durations.push(ms);
    const retried = await retriedActivities(handle);
    swapRetries.push(...retried);
    slowest.push({ id: handle.workflowId, ms, retried });
  }
  durations.sort((a, b) => a - b);
  slowest.sort((a, b) => b.ms - a.ms);
  const percentile = (p: number) =>
    durations[Math.min(durations.length - 1, Math.floor((p / 100) * durations.length))] ?? 0;
  const submits = await system.sim<{ status: number }[]>('GET', '/__sim/requests?operation=eidDeviceSwap');
  const { actedTwice } = await system.sim<{ actedTwice: unknown[] }>('GET', '/__sim/acted');

  // The simulator's inventory: each line on its replacement.
  const notMoved: string[] = [];
  for (const pair of pairs) {
    const device = await system.sim<{ eid?: string }>('GET', `/__sim/devices/mdn/${pair.mdn}`).catch(() => undefined);
    if (device?.eid !== pair.replacementEid) notMoved.push(`${pair.mdn} on ${device?.eid ?? 'nothing'}`);
  }

  // The inbox, once the simulator has nothing left to send and the gateway nothing left to dispatch.
  await eventually('the simulator sending its last callbacks', 60_000, async () => {
    const { pending } = await system.sim<{ pending: number }>('GET', '/__sim/callbacks/pending');
    return pending === 0 ? true : undefined;
  });
  const store = await openStore({ DATA_DIR: system.dir });
  let counts: InboxCounts;
  let unexplained: InboxRecord[];
  let everything: InboxRecord[];
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
    everything = [...closed, ...(await store.list('delivered', 100_000))];
  } finally {
    await store.close();
  }
  const inboxRequestIds = new Set(everything.map((r) => String(r.body.requestId ?? '')));

  // Every callback the gateway acknowledged is in the inbox.
  const deliveries = await system.sim<SimDeliveryEntry[]>('GET', '/__sim/callbacks');
  const acknowledged = deliveries.filter((d) => d.outcome === 'delivered');
  const lost = acknowledged.filter((d) => !inboxRequestIds.has(d.requestId));
  const dropped = deliveries.filter((d) => d.outcome === 'dropped').length;
  const refused = deliveries.filter((d) => d.outcome === 'failed').length;

  const bulkCheck = await checkBulk(bulk, bulkDevices, bulkResult, everything, started);

  const { figures } = system;
  const wallMs = Date.now() - started;
  const printed = [
    '',
    'Chaos run: eidDeviceSwap sagas and a bulk plan change together, every part a real process, SIGKILLed',
    `  swaps                      ${SWAPS} (step timeout ${STEP_TIMEOUT})`,
    `  completed                  ${results.length}; failed ${failed.length}`,
    `  steps confirmed            ${byCallback} by callback, ${byReconciliation} by reconciliation`,
    `  sagas                      ${sagaDuplicatesIgnored} duplicate callbacks ignored by the workflows`,
    `  swap submits (simulator)   ${submits.length} for ${SWAPS} swaps (${submits.filter((r) => r.status >= 400).length} refused); ` +
      `devices acted on twice: ${actedTwice.length}`,
    `  activities retried         ${tally(swapRetries)}`,
    `  saga duration              p50 ${(percentile(50) / 1000).toFixed(1)} s, p90 ${(percentile(90) / 1000).toFixed(1)} s, ` +
      `max ${((durations.at(-1) ?? 0) / 1000).toFixed(1)} s`,
    `  slowest                    ${slowest
      .slice(0, 3)
      .map((x) => `${x.id} ${(x.ms / 1000).toFixed(1)} s${x.retried.length ? ` (${x.retried.join(', ')})` : ''}`)
      .join('; ')}`,
    ...bulkCheck.lines,
    'Callbacks, swaps and bulk together',
    `  simulator                  ${acknowledged.length} acknowledged, ${refused} refused or unanswered, ${dropped} dropped by fault`,
    `  inbox                      ${counts.received} received, ${counts.duplicates} duplicates ignored by fingerprint, ` +
      `${counts.delivered} delivered, ${counts.parked} parked, ${counts.orphaned} orphaned, ` +
      `${counts.deadLetter} dead-letter, ${counts.pending} pending`,
    `  accounting                 received ${counts.received} = delivered ${counts.delivered} + parked ${counts.parked} ` +
      `+ orphaned ${counts.orphaned} + dead-letter ${counts.deadLetter}; ${unexplained.length} without a reason`,
    'Chaos',
    `  kills                      worker ${figures.kills.worker}, gateway ${figures.kills.gateway}, temporal ${figures.kills.temporal}`,
    `  restarts                   worker ${figures.restarts.worker}, gateway ${figures.restarts.gateway}, ` +
      `temporal ${figures.restarts.temporal}, simulator ${figures.restarts.simulator}`,
    `  survived Temporal outage   worker ${survivedOutage.worker ? 'yes' : 'no'}, gateway ${survivedOutage.gateway ? 'yes' : 'no'}`,
    `  unexpected exits           ${figures.unexpectedExits.length === 0 ? 'none' : figures.unexpectedExits.join('; ')}`,
    `  starts retried             ${startRetries} (while Temporal was down)`,
    `  wall time                  ${(wallMs / 1000).toFixed(1)} s (starts over ${(startedIn / 1000).toFixed(1)} s, ` +
      `chaos until +${((chaosEndedAt - started) / 1000).toFixed(1)} s, ` +
      `all closed at +${((settledAt - started) / 1000).toFixed(1)} s)`,
    '',
  ].join('\n');
  say(printed);

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
  // With repeats accepted, a resend would act twice: none may happen.
  expect(actedTwice).toEqual([]);
  expect(submits.filter((r) => r.status < 400)).toHaveLength(SWAPS);

  // The bulk operation: every device once, as ThingSpace saw it, sent to ThingSpace once.
  const { succeeded, failed: failedDevices, noAnswer } = bulkResult.counts;
  expect(bulkResult.counts).toEqual({
    total: BULK_DEVICES,
    succeeded,
    failed: failedDevices,
    noAnswer,
    pending: 0,
    warnings: 0,
  });
  expect(succeeded + failedDevices + noAnswer).toBe(BULK_DEVICES);
  expect(bulkResult.devices).toHaveLength(BULK_DEVICES);
  expect(new Set(bulkResult.devices.map((d) => d.device)).size).toBe(BULK_DEVICES);
  expect(bulkResult.resubmissions).toBe(0);
  expect(bulkCheck.misreported).toEqual([]);
  expect(bulkCheck.notSentOnce).toEqual([]);
  expect(bulkCheck.overApplied).toEqual([]);
  expect(await bulk.status()).toMatchObject({
    phase: 'completed',
    shards: { total: BULK_DEVICES / BULK_SHARD_SIZE, running: 0, completed: BULK_DEVICES / BULK_SHARD_SIZE },
  });

  // The inbox: every callback received is delivered, a duplicate, or parked with its reason.
  expect(counts.pending).toBe(0);
  expect(counts.received).toBe(counts.delivered + counts.parked + counts.orphaned + counts.deadLetter);
  expect(unexplained.map((r) => `${r.id} ${r.state}`)).toEqual([]);
  expect(lost).toEqual([]);
  expect(counts.received + counts.duplicates).toBeGreaterThanOrEqual(acknowledged.length);
  // The faults did happen: steps and plans only seen by reconciliation, callbacks twice, plan changes failing.
  expect(byReconciliation).toBeGreaterThan(0);
  expect(bulkResult.devices.filter((d) => d.confirmedBy === 'reconciliation').length).toBeGreaterThan(0);
  expect(counts.duplicates).toBeGreaterThan(0);
  expect(failedDevices).toBeGreaterThan(0);

  writeFigures('chaos', 'Chaos run: swaps and a bulk plan change through SIGKILLs', 'test/chaos/swaps.test.ts', [
    printed,
  ]);
}, 420_000);
