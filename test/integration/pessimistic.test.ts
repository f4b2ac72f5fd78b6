/**
 * The sagas against a ThingSpace that behaves worse than the pages promise (simulator profiles): a repeated
 * request accepted and acted on twice, callbacks of operations the system never started, and a profile
 * request refused for its size. Nothing is sent twice by the system's own decision, and no callback of
 * another operation decides a saga.
 */
import { startChangeProfileServicePlan, startEidDeviceSwap } from '../../client/index.js';
import { FailureType, type EidDeviceSwapStatus, type ProfileDevice } from '../../contracts/index.js';
import {
  ACCOUNT,
  requestLogLength,
  seedSwapPair,
  simRequests,
  startSystem,
  swapRequest,
  waitFor,
  type TestSystem,
} from './harness.js';

let system: TestSystem;

beforeAll(async () => {
  system = await startSystem();
});

afterAll(async () => {
  await system?.stop();
});

beforeEach(async () => {
  await system.sim('POST', '/__sim/faults', { clear: true });
});

interface Acted {
  actedTwice: unknown[];
}

const idOf = (ids: { kind: string; id: string }[], kind: string) => ids.find((d) => d.kind === kind)?.id as string;

describe('a ThingSpace that accepts a repeated request and acts twice', () => {
  it('a worker stopped mid-submit: the swap is sent once, and the saga completes from its callbacks or holds with the evidence', async () => {
    // The answer is held for three seconds; the swap is carried out whatever happens to the connection.
    await system.sim('POST', '/__sim/faults', {
      acceptDuplicates: true,
      responses: [{ operation: 'eidDeviceSwap', delayMs: 3000, processed: true }],
    });
    const pair = await seedSwapPair(system);
    const since = await requestLogLength(system);
    const handle = await startEidDeviceSwap(
      system.client,
      swapRequest(pair, { options: { stepTimeout: '8 seconds', failurePolicy: 'fail' } }),
      { taskQueue: system.taskQueue },
    );
    await waitFor(async () => (await simRequests(system, 'eidDeviceSwap', since)).length === 1);
    await system.restartWorker();

    let status: EidDeviceSwapStatus | undefined;
    await waitFor(async () => {
      status = await handle.status();
      return status.phase === 'completed' || status.phase === 'awaitingDecision';
    }, 60_000);
    expect(await simRequests(system, 'eidDeviceSwap', since)).toHaveLength(1);
    if (status?.phase === 'awaitingDecision') {
      expect(status.awaitingDecision?.failure.type).toBe(FailureType.ThingSpaceOutcomeUnknown);
      expect(status.outcomeEvidence?.observed).toEqual(expect.any(String));
      await handle.terminate('test finished');
    }
    expect((await system.sim<Acted>('GET', '/__sim/acted')).actedTwice).toEqual([]);
  });
});

describe('callbacks of operations the system never started', () => {
  it('a stray failure of another request, before the own callbacks of the swap, does not fail the swap', async () => {
    await system.sim('POST', '/__sim/faults', {
      strayCallbacks: {
        callbacks: [{ status: 'failed' }, { status: 'success', callbackCount: 2 }],
        on: ['eidDeviceSwap'],
      },
    });
    const pair = await seedSwapPair(system);
    const handle = await startEidDeviceSwap(
      system.client,
      swapRequest(pair, { options: { stepTimeout: '1 minute', failurePolicy: 'fail' } }),
      { taskQueue: system.taskQueue },
    );
    const result = await handle.result();
    expect(Object.values(result.steps).map((s) => s.state)).toEqual(['confirmed', 'confirmed', 'confirmed']);
    const status = await handle.status();
    expect(status.unverifiedFailures?.length).toBeGreaterThanOrEqual(1);
    expect(result.callbackRequestIds).not.toContain(status.unverifiedFailures?.[0]?.requestId);
  });

  it('a stray identifier-change success for another device confirms no step', async () => {
    await system.sim('POST', '/__sim/faults', {
      callbacks: { never: ['deactivation', 'identifierChange', 'goToState'] },
    });
    const pair = await seedSwapPair(system);
    const other = await seedSwapPair(system);
    const handle = await startEidDeviceSwap(
      system.client,
      swapRequest(pair, { options: { stepTimeout: '1 minute', failurePolicy: 'fail' } }),
      { taskQueue: system.taskQueue },
    );
    await waitFor(async () => (await handle.status()).phase === 'awaitingCallbacks');
    // The portal moved this line to another device: the callback names the swapped-out device's
    // identifiers, but the device that got the MDN is not this swap's replacement.
    for (const outcome of ['identifierChange', 'goToState'] as const) {
      await system.sim('POST', '/__sim/callbacks/stray', {
        accountName: ACCOUNT,
        outcome,
        status: 'success',
        deviceIds: pair.swapOut.filter((d) => d.kind !== 'mdn'),
        resultDeviceIds: other.swapIn,
      });
    }
    await waitFor(async () => ((await handle.status()).ignoredCallbacks ?? 0) >= 1);
    const status = await handle.status();
    expect(status.steps.identifierChange.state).toBe('waiting');
    expect(status.phase).toBe('awaitingCallbacks');
    await handle.terminate('test finished');
    expect(idOf(other.swapIn, 'eid')).not.toBe(idOf(pair.swapIn, 'eid'));
  });
});

describe('a profile request refused for its size', () => {
  it('is split in halves and sent again; no device is sent or acted on twice', async () => {
    await system.sim('POST', '/__sim/faults', { maxProfileRequestDevices: 100 });
    const { devices } = await system.sim<{ devices: { eid: string; iccid: string }[] }>(
      'POST',
      '/__sim/devices/generate',
      { accountName: ACCOUNT, count: 300, state: 'active', servicePlan: 'M2M_4G', withEid: true, prefix: '977' },
    );
    const profiles: ProfileDevice[] = devices.map((d) => ({
      deviceIds: [
        { kind: 'eid', id: d.eid },
        { kind: 'iccid', id: d.iccid },
      ],
    }));
    const since = await requestLogLength(system);
    const handle = await startChangeProfileServicePlan(
      system.client,
      {
        accountName: ACCOUNT,
        servicePlan: 'M2M_5G_PLUS',
        devices: profiles,
        options: { shardSize: 300, stepTimeout: '1 minute', failurePolicy: 'fail' },
      },
      { taskQueue: system.taskQueue },
    );
    const result = await handle.result();
    expect(result.counts).toMatchObject({ total: 300, succeeded: 300, failed: 0, noAnswer: 0 });
    const sent = await simRequests(system, 'changeProfileServicePlan', since);
    // 300 refused, 150 refused, then 75-device requests: four of them accepted.
    expect(sent.map((r) => r.status)).toEqual([400, 400, 200, 200, 200, 200]);
    expect(result.requestIds).toHaveLength(4);
    expect((await system.sim<Acted>('GET', '/__sim/acted')).actedTwice).toEqual([]);
  });
});
