/**
 * ThingSpace outages of several minutes, waited out by the activity retry policy alone (first retry after
 * 2 s, backoff 2, at most a minute apart, for up to an hour — workflows/eid-device-swap.ts). Nobody touches
 * the saga: a timer in the test ends the outage, as ThingSpace coming back would, and the saga completes on
 * its own. The simulator's request log shows the swap was submitted exactly once.
 *
 * Slow by nature (each outage lasts three minutes), so it runs with the chaos suite, on a Temporal dev server
 * of its own.
 */
import { startEidDeviceSwap, type EidDeviceSwapHandle } from '../../client/index.js';
import type { EidDeviceSwapResult, EidDeviceSwapStatus } from '../../contracts/index.js';
import { findFreePort, startDevServer, type DevServer } from '../../scripts/lib/dev-server.js';
import { resolveTemporalCli } from '../../scripts/lib/temporal-cli.js';
import {
  requestLogLength,
  seedSwapPair,
  startSystem,
  swapRequest,
  type SeededPair,
  type TestSystem,
} from '../integration/harness.js';
import { writeFigures } from './figures.js';

const OUTAGE_MS = 3 * 60_000;
/** The token endpoint comes back first, so the login endpoint's own outage is what the client waits out. */
const TOKEN_OUTAGE_MS = 20_000;
/** Loose on purpose: the retry after the outage comes at most a minute after it ends. */
const COMPLETES_WITHIN_MS = 6 * 60_000;
const TEST_TIMEOUT_MS = COMPLETES_WITHIN_MS + 60_000;
/** The client suspends logins after this many rejected ones (thingspace/client.ts). */
const LOGIN_GUARD = 2;

const say = (line: string): void => void process.stdout.write(`${line}\n`);

interface LoggedRequest {
  operation: string;
  status: number;
  at: string;
}

interface SimSwap {
  requestId: string;
  swapOut: { mdn: string };
}

/** What the saga looked like just before the outage ended: still submitting, its submit being retried. */
interface DuringOutage {
  phase: EidDeviceSwapStatus['phase'];
  activities: { name: string; attempt: number; lastFailure: string }[];
}

let server: DevServer | undefined;
let system: TestSystem;

beforeAll(async () => {
  const cliPath = await resolveTemporalCli({ env: process.env, log: (msg) => say(`[outage] ${msg}`) });
  server = await startDevServer({
    cliPath,
    port: await findFreePort(),
    dbFile: null,
    headless: true,
    startTimeoutMs: 90_000,
    log: (msg) => {
      if (!msg.startsWith('[temporal]')) say(`[outage] ${msg}`);
    },
  });
  system = await startSystem({ temporalAddress: server.address });
}, 180_000);

afterAll(async () => {
  await system?.stop();
  await server?.stop();
  if (passed.length > 0) writeFigures('outage', 'ThingSpace outages', 'test/chaos/outage.test.ts', passed);
}, 60_000);

beforeEach(async () => {
  await system.sim('POST', '/__sim/faults', { clear: true });
});

/** Runs `action` after `ms`; `done` resolves with the time it started. */
function after(ms: number, action: () => Promise<void>): { done: Promise<number>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<number>((resolve, reject) => {
    timer = setTimeout(() => {
      const startedAt = Date.now();
      action().then(() => resolve(startedAt), reject);
    }, ms);
  });
  done.catch(() => undefined);
  return { done, cancel: () => clearTimeout(timer) };
}

/** The saga's result, or a failure naming the bound when it takes longer. */
async function resultWithin(handle: EidDeviceSwapHandle, ms: number): Promise<EidDeviceSwapResult> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${handle.workflowId} did not complete within ${ms / 1000} s`)), ms);
  });
  try {
    return (await Promise.race([handle.result(), late])) as EidDeviceSwapResult;
  } finally {
    clearTimeout(timer);
  }
}

/** Reads, without touching it, where the saga is and how its pending activities fare. */
async function observe(handle: EidDeviceSwapHandle): Promise<DuringOutage> {
  const { phase } = await handle.status();
  const pending = (await handle.describe()).raw.pendingActivities ?? [];
  return {
    phase,
    activities: pending.map((a) => ({
      name: a.activityType?.name ?? '?',
      attempt: a.attempt ?? 0,
      lastFailure: a.lastFailure?.message ?? '',
    })),
  };
}

async function requestsSince(position: number): Promise<LoggedRequest[]> {
  return (await system.sim<LoggedRequest[]>('GET', '/__sim/requests')).slice(position);
}

/** The swaps the simulator carried out for this pair's line. */
async function swapsOf(pair: SeededPair): Promise<SimSwap[]> {
  const mdn = pair.swapOut.find((d) => d.kind === 'mdn')?.id;
  return (await system.sim<SimSwap[]>('GET', '/__sim/operations')).filter((op) => op.swapOut.mdn === mdn);
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** `503 ×7 (+0.3 s … +122.4 s)` for the requests of one operation with one status, times from `from`. */
function describeRequests(requests: LoggedRequest[], from: number): string {
  const byStatus = new Map<number, number[]>();
  for (const r of requests) byStatus.set(r.status, [...(byStatus.get(r.status) ?? []), Date.parse(r.at) - from]);
  return (
    [...byStatus]
      .map(([status, times]) => {
        const span =
          times.length > 1
            ? `+${seconds(times[0] ?? 0)} … +${seconds(times.at(-1) ?? 0)}`
            : `+${seconds(times[0] ?? 0)}`;
        return `${status} ×${times.length} (${span})`;
      })
      .join(', ') || 'none'
  );
}

function describeDuring(during: DuringOutage): string {
  const activities = during.activities.map((a) => `${a.name} attempt ${a.attempt}, last failure "${a.lastFailure}"`);
  return `phase ${during.phase}; ${activities.join('; ') || 'no pending activity'}`;
}

/** The figures of the last outage printed, and those of the tests that passed, for docs/figures/outage.md. */
let printed = '';
const passed: string[] = [];

function figures(title: string, lines: [string, string][]): void {
  printed = ['', title, ...lines.map(([name, value]) => `  ${name.padEnd(26)} ${value}`), ''].join('\n');
  say(printed);
}

const confirmedByCallback = expect.objectContaining({ state: 'confirmed', confirmedBy: 'callback' });
const allConfirmed = {
  deactivation: confirmedByCallback,
  identifierChange: confirmedByCallback,
  goToState: confirmedByCallback,
};

it(
  'a swap submitted while ThingSpace answers 503 for three minutes completes on its own once ThingSpace is back',
  async () => {
    const pair = await seedSwapPair(system);
    const since = await requestLogLength(system);
    await system.sim('POST', '/__sim/faults', {
      clear: true,
      responses: [{ operation: 'eidDeviceSwap', status: 503, times: 100_000 }],
    });
    const outageFrom = Date.now();
    let handle: EidDeviceSwapHandle | undefined;
    let during: DuringOutage | undefined;
    const outageEnd = after(OUTAGE_MS, async () => {
      if (handle) during = await observe(handle);
      await system.sim('POST', '/__sim/faults', { clear: true });
    });
    try {
      handle = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
      const result = await resultWithin(handle, COMPLETES_WITHIN_MS - (Date.now() - outageFrom));
      const completedAt = Date.now();
      const outageTo = await outageEnd.done;
      const submits = (await requestsSince(since)).filter((r) => r.operation === 'eidDeviceSwap');
      const refused = submits.filter((r) => r.status === 503);
      const accepted = submits.filter((r) => r.status === 200);
      const swaps = await swapsOf(pair);

      figures(
        `ThingSpace outage: eidDeviceSwap answered 503 for ${seconds(outageTo - outageFrom)}; nobody touched the saga`,
        [
          ['outage', `+0.0 s to +${seconds(outageTo - outageFrom)} (fault cleared by a timer)`],
          ['just before it ended', during ? describeDuring(during) : 'not observed'],
          ['swap submits (simulator)', `${submits.length}: ${describeRequests(submits, outageFrom)}`],
          [
            'saga completed',
            `+${seconds(completedAt - outageFrom)}, ${seconds(completedAt - outageTo)} after the outage ended`,
          ],
          ['swaps carried out', `${swaps.length} (${swaps.map((s) => s.requestId).join(', ')})`],
        ],
      );

      expect(result.steps).toEqual(allConfirmed);
      // Still submitting. The saga retries submits itself: between attempts it waits on a timer (no
      // activity pending), during one the submit is the only activity.
      expect(during?.phase).toBe('submitting');
      expect(during?.activities.map((a) => a.name)).toEqual(during?.activities.length ? ['submitEidDeviceSwap'] : []);
      // Retried with backoff through the outage (2, 4, 8, 16, 32, 60, 60 s apart), never more often.
      expect(refused.length).toBeGreaterThanOrEqual(5);
      expect(refused.length).toBeLessThanOrEqual(9);
      // Submitted once: one accepted request, after the outage, and one swap carried out, the saga's.
      expect(accepted).toHaveLength(1);
      expect(Date.parse(accepted[0]?.at ?? '')).toBeGreaterThanOrEqual(outageTo);
      expect(swaps.map((s) => s.requestId)).toEqual([result.requestId]);
      expect(completedAt - outageFrom).toBeLessThan(COMPLETES_WITHIN_MS);
      passed.push(printed);
    } finally {
      outageEnd.cancel();
    }
  },
  TEST_TIMEOUT_MS,
);

it(
  'a swap waits out expired credentials and a three-minute login outage, then logs in once and submits once',
  async () => {
    const pair = await seedSwapPair(system);
    const since = await requestLogLength(system);
    // The worker's client holds a bearer token and a session from earlier calls; both die now, and neither
    // can be renewed: the token endpoint is down for a while, the login endpoint for three minutes.
    await system.sim('POST', '/__sim/faults', {
      clear: true,
      responses: [
        { operation: 'token', status: 503, times: 100_000 },
        { operation: 'login', status: 503, times: 100_000 },
      ],
    });
    const expired = await system.sim<{ expired: number }>('POST', '/__sim/tokens/expire');
    const sessions = await system.sim<{ expired: number }>('POST', '/__sim/sessions/expire');
    const outageFrom = Date.now();
    let handle: EidDeviceSwapHandle | undefined;
    let during: DuringOutage | undefined;
    const tokenBack = after(TOKEN_OUTAGE_MS, async () => {
      await system.sim('POST', '/__sim/faults', {
        clear: true,
        responses: [{ operation: 'login', status: 503, times: 100_000 }],
      });
    });
    const loginBack = after(OUTAGE_MS, async () => {
      if (handle) during = await observe(handle);
      await system.sim('POST', '/__sim/faults', { clear: true });
    });
    try {
      handle = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
      const result = await resultWithin(handle, COMPLETES_WITHIN_MS - (Date.now() - outageFrom));
      const completedAt = Date.now();
      const tokenTo = await tokenBack.done;
      const outageTo = await loginBack.done;
      const requests = await requestsSince(since);
      const of = (operation: string) => requests.filter((r) => r.operation === operation);
      const submits = of('eidDeviceSwap');
      const logins = of('login');
      const swaps = await swapsOf(pair);
      const { unlocked } = await system.sim<{ unlocked: string[] }>('POST', '/__sim/logins/unlock');

      figures(
        `ThingSpace login outage: credentials expired, token endpoint down ${seconds(tokenTo - outageFrom)}, ` +
          `login endpoint down ${seconds(outageTo - outageFrom)}; nobody touched the saga`,
        [
          ['credentials expired', `${expired.expired} bearer token(s), ${sessions.expired} session(s)`],
          ['just before it ended', during ? describeDuring(during) : 'not observed'],
          ['token requests', describeRequests(of('token'), outageFrom)],
          ['login requests', describeRequests(logins, outageFrom)],
          ['swap submits (simulator)', `${submits.length}: ${describeRequests(submits, outageFrom)}`],
          [
            'saga completed',
            `+${seconds(completedAt - outageFrom)}, ${seconds(completedAt - outageTo)} after the outage ended`,
          ],
          ['swaps carried out', `${swaps.length} (${swaps.map((s) => s.requestId).join(', ')})`],
          ['account locked', unlocked.length > 0 ? unlocked.join(', ') : 'no'],
        ],
      );

      expect(result.steps).toEqual(allConfirmed);
      // Still submitting. The saga retries submits itself: between attempts it waits on a timer (no
      // activity pending), during one the submit is the only activity.
      expect(during?.phase).toBe('submitting');
      expect(during?.activities.map((a) => a.name)).toEqual(during?.activities.length ? ['submitEidDeviceSwap'] : []);
      // More failed logins than the client's guard allows, yet logins went on: a 5xx is an outage, not a
      // rejected password, so it neither suspends the client's logins nor counts towards the account lock.
      expect(logins.filter((r) => r.status === 503).length).toBeGreaterThan(LOGIN_GUARD);
      expect(logins.filter((r) => r.status === 200)).toHaveLength(1);
      expect(unlocked).toEqual([]);
      // The first attempt found its bearer token expired (refused unseen); then one accepted submit, one swap.
      expect(submits.map((r) => r.status)).toEqual([401, 200]);
      expect(Date.parse(submits[1]?.at ?? '')).toBeGreaterThanOrEqual(outageTo);
      expect(swaps.map((s) => s.requestId)).toEqual([result.requestId]);
      expect(completedAt - outageFrom).toBeLessThan(COMPLETES_WITHIN_MS);
      passed.push(printed);
    } finally {
      tokenBack.cancel();
      loginBack.cancel();
    }
  },
  TEST_TIMEOUT_MS,
);
