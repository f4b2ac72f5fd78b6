import { randomUUID } from 'node:crypto';
import {
  decide,
  DecisionRefusedError,
  getBulkOperation,
  InvalidRequestError,
  startActivateDeviceProfiles,
  startChangeProfileServicePlan,
  type BulkStartOptions,
} from '../../client/index.js';
import {
  FailureType,
  WORKFLOW_TYPES,
  type ActivateDeviceProfilesRequest,
  type BulkResult,
  type ProfileDevice,
} from '../../contracts/index.js';
import { ACCOUNT, failureOf, requestLogLength, simRequests, startSystem, waitFor, type TestSystem } from './harness.js';

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

interface Generated {
  eid: string;
  iccid: string;
  imei: string;
  mdn?: string;
}

let prefix = 100;

/** Seeds `count` eSIM devices, under a prefix of their own so tests never share devices. */
async function generate(count: number, state: 'active' | 'pre-active', servicePlan = 'M2M_4G'): Promise<Generated[]> {
  prefix += 1;
  const { devices } = await system.sim<{ devices: Generated[] }>('POST', '/__sim/devices/generate', {
    accountName: ACCOUNT,
    count,
    state,
    servicePlan,
    withEid: true,
    prefix: String(prefix),
  });
  return devices;
}

const profileDevices = (devices: Generated[]): ProfileDevice[] =>
  devices.map((d) => ({
    deviceIds: [
      { kind: 'eid', id: d.eid },
      { kind: 'iccid', id: d.iccid },
    ],
  }));

interface ListedDevice {
  eid?: string;
  iccid: string;
  state: string;
  servicePlan: string;
  mdn?: string;
}

async function simDevicesByEid(): Promise<Map<string, ListedDevice>> {
  const devices = await system.sim<ListedDevice[]>('GET', '/__sim/devices');
  return new Map(devices.flatMap((d) => (d.eid ? [[d.eid, d] as const] : [])));
}

const options = (extra: BulkStartOptions = {}): BulkStartOptions => ({
  taskQueue: system.taskQueue,
  operationId: randomUUID(),
  failurePolicy: 'fail',
  stepTimeout: '2 minutes',
  ...extra,
});

/** Sizes of a workflow's history: events and bytes of its JSON form. */
async function historySize(workflowId: string): Promise<{ events: number; bytes: number }> {
  const history = await system.client.workflow.getHandle(workflowId).fetchHistory();
  return { events: history.events?.length ?? 0, bytes: Buffer.byteLength(JSON.stringify(history)) };
}

function expectExactAccounting(result: BulkResult, total: number): void {
  expect(result.devices).toHaveLength(total);
  expect(new Set(result.devices.map((d) => d.device)).size).toBe(total);
  const tally = { succeeded: 0, failed: 0, noAnswer: 0 };
  for (const d of result.devices) tally[d.outcome] += 1;
  expect(result.counts).toEqual({ total, ...tally, pending: 0, warnings: 0 });
}

describe('changeProfileServicePlan saga', () => {
  it('changes 10,000 plans in ten shards with exact per-device accounting while 1% fail and 5% of callbacks come twice', async () => {
    await system.sim('POST', '/__sim/faults', {
      callbacks: { duplicate: 0.05, order: 'random' },
      profiles: { failRate: 0.01 },
    });
    const seeded = await generate(10_000, 'active');
    const before = await system.store.counts();
    const started = Date.now();
    const handle = await startChangeProfileServicePlan(
      system.client,
      { accountName: ACCOUNT, devices: profileDevices(seeded), servicePlan: 'M2M_5G_PLUS' },
      options(),
    );
    // While it runs, each device's state is in the store: one of a shard not started yet is pending.
    await waitFor(async () => (await handle.status()).shards.running > 0);
    const [last] = await system.operations.readResults(handle.workflowId, { after: 9_998, limit: 1 });
    expect(last).toMatchObject({ position: 9_999, state: 'pending' });
    // The saga itself keeps no device's state, and says where it is.
    await expect(handle.device(`eid:${seeded[0]?.eid}`)).rejects.toThrow(/euicc results/);
    const result = await handle.result();
    const seconds = (Date.now() - started) / 1000;

    expectExactAccounting(result, 10_000);
    expect(result.requestIds).toHaveLength(10);
    expect(result.counts.failed).toBeGreaterThan(0);
    expect(result.counts.noAnswer).toBe(0);
    // Each device's outcome is what ThingSpace did to it: a plan changed exactly where the saga says so.
    const listed = await simDevicesByEid();
    seeded.forEach((device, i) => {
      const outcome = result.devices[i];
      expect(outcome?.device).toBe(`eid:${device.eid}`);
      expect(listed.get(device.eid)?.servicePlan).toBe(outcome?.outcome === 'succeeded' ? 'M2M_5G_PLUS' : 'M2M_4G');
      if (outcome?.outcome === 'failed') {
        expect(result.faults[outcome.faultId ?? -1]).toEqual({
          code: expect.stringMatching(/\S/),
          message: expect.stringMatching(/\S/),
          requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        });
      }
    });
    // Duplicates were received and ignored: one effect per device.
    await waitFor(async () => (await system.store.counts()).pending === 0);
    const after = await system.store.counts();
    expect(after.received - before.received).toBe(10_000);
    expect(after.duplicates - before.duplicates).toBeGreaterThan(0);

    const status = await handle.status();
    expect(status).toMatchObject({ phase: 'completed', shards: { total: 10, completed: 10, running: 0 } });

    // No history comes near Temporal's limits (50,000 events, 50 MB; 10 MB draws a warning).
    const parent = await historySize(handle.workflowId);
    const shardIds: string[] = [];
    for await (const shard of system.client.workflow.list({
      query: `WorkflowId STARTS_WITH "${handle.workflowId}/"`,
    })) {
      shardIds.push(shard.workflowId);
    }
    expect(shardIds).toHaveLength(10);
    const shards = await Promise.all(shardIds.map((id) => historySize(id)));
    const largest = shards.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    process.stdout.write(
      `10,000-device service plan change: ${seconds.toFixed(1)} s; ${result.counts.succeeded} succeeded, ${result.counts.failed} failed, ` +
        `${result.counts.noAnswer} no answer; callbacks ${after.received - before.received} received + ${after.duplicates - before.duplicates} duplicates ignored; ` +
        `history: parent ${parent.events} events / ${(parent.bytes / 1e6).toFixed(2)} MB, largest shard ${largest.events} events / ${(largest.bytes / 1e6).toFixed(2)} MB\n`,
    );
    expect(parent.events).toBeLessThan(1_000);
    expect(largest.events).toBeLessThan(5_000);
    expect(Math.max(parent.bytes, largest.bytes)).toBeLessThan(10e6);
  });

  it('holds for an operator when devices fail, and `retry` resubmits only those devices', async () => {
    const seeded = await generate(30, 'active');
    const failing = seeded.slice(0, 3).map((d) => d.eid);
    await system.sim('POST', '/__sim/faults', { profiles: { failDevices: failing } });
    const since = await requestLogLength(system);
    const handle = await startChangeProfileServicePlan(
      system.client,
      { accountName: ACCOUNT, devices: profileDevices(seeded), servicePlan: 'M2M_5G_PLUS' },
      options({ failurePolicy: 'hold', shardSize: 10 }),
    );
    await waitFor(async () => (await handle.status()).phase === 'awaitingDecision');
    const held = await handle.status();
    expect(held.awaitingDecision).toMatchObject({ failed: 3, noAnswer: 0 });
    expect(held.counts).toMatchObject({ succeeded: 27, failed: 3 });
    // Where each device stands: in the store, with ThingSpace's reason.
    const failed = await system.operations.readResults(handle.workflowId, { after: -1, limit: 30, state: 'failed' });
    expect(failed.map((r) => r.device.deviceIds[0]?.id)).toEqual(failing);
    expect(failed[0]?.code).toMatch(/\S/);

    // The cause is fixed upstream; the operator says retry.
    await system.sim('POST', '/__sim/faults', { clear: true });
    // A bulk saga offers no compensation: the update refuses it with the reason.
    await expect(
      decide(system.client, handle.workflowId, { decision: 'compensate', operator: 'ops@example.com' }),
    ).rejects.toThrow(new DecisionRefusedError('compensate is not offered by this operation'));
    const outcome = await decide(system.client, handle.workflowId, { decision: 'retry', operator: 'ops@example.com' });
    expect(outcome).toEqual({ acted: true, phase: 'running' });
    const result = await handle.result();
    expect(result.resubmissions).toBe(1);
    expect(result.counts).toMatchObject({ total: 30, succeeded: 30, failed: 0 });
    // Three shards of ten, then one request for the three devices that failed.
    const submits = await simRequests(system, 'changeProfileServicePlan', since);
    expect(submits).toHaveLength(4);
    expect(result.requestIds).toHaveLength(4);
  });

  it('`abandon` ends a held saga with the failures as they are', async () => {
    const seeded = await generate(5, 'active');
    await system.sim('POST', '/__sim/faults', { profiles: { failDevices: [seeded[0]?.eid ?? ''] } });
    const handle = await startChangeProfileServicePlan(
      system.client,
      { accountName: ACCOUNT, devices: profileDevices(seeded), servicePlan: 'M2M_5G_PLUS' },
      options({ failurePolicy: 'hold' }),
    );
    await waitFor(async () => (await handle.status()).phase === 'awaitingDecision');
    await handle.signal('operatorDecision', { decision: 'compensate' });
    await handle.signal('operatorDecision', { decision: 'abandon', reason: 'device retired', operator: 'ops' });
    const result = await handle.result();
    expect(result.abandoned).toEqual({ reason: 'device retired', operator: 'ops' });
    expect(result.counts).toMatchObject({ succeeded: 4, failed: 1 });
    // Anyone with the workflow id can read the status.
    const decisions = (await getBulkOperation(system.client, handle.workflowId).status()).decisions ?? [];
    expect(decisions.map((d) => [d.decision, d.acted])).toEqual([
      ['compensate', false],
      ['abandon', true],
    ]);
  });

  it('completes when ThingSpace made the change but its answer was lost (502), without resending the shard', async () => {
    const seeded = await generate(15, 'active');
    await system.sim('POST', '/__sim/faults', {
      responses: [{ operation: 'changeProfileServicePlan', status: 502, processed: true }],
    });
    const since = await requestLogLength(system);
    const handle = await startChangeProfileServicePlan(
      system.client,
      { accountName: ACCOUNT, devices: profileDevices(seeded), servicePlan: 'M2M_5G_PLUS' },
      options(),
    );
    const result = await handle.result();
    expect(result.counts).toMatchObject({ succeeded: 15, failed: 0, noAnswer: 0 });
    expect(await simRequests(system, 'changeProfileServicePlan', since)).toHaveLength(1);
    // The request id the lost answer carried, taken from the callbacks.
    const accepted = await system.sim<{ requestId: string; devices: number }[]>('GET', '/__sim/profile-requests');
    expect(result.requestIds).toEqual([accepted.at(-1)?.requestId]);
  });

  it('completes from the device list when the callbacks never come', async () => {
    const seeded = await generate(20, 'active');
    await system.sim('POST', '/__sim/faults', { callbacks: { drop: 1 } });
    const handle = await startChangeProfileServicePlan(
      system.client,
      { accountName: ACCOUNT, devices: profileDevices(seeded), servicePlan: 'M2M_5G_PLUS' },
      options({ stepTimeout: '3 seconds' }),
    );
    const result = await handle.result();
    expect(result.counts).toMatchObject({ succeeded: 20, failed: 0, noAnswer: 0 });
    expect(result.devices.every((d) => d.confirmedBy === 'reconciliation')).toBe(true);
  });

  it('reports devices with neither a callback nor a visible effect as no answer', async () => {
    const seeded = await generate(10, 'active');
    await system.sim('POST', '/__sim/faults', { profiles: { neverRate: 1 } });
    const handle = await startChangeProfileServicePlan(
      system.client,
      { accountName: ACCOUNT, devices: profileDevices(seeded), servicePlan: 'M2M_5G_PLUS' },
      options({ stepTimeout: '2 seconds' }),
    );
    const result = await handle.result();
    expect(result.counts).toMatchObject({ succeeded: 0, failed: 0, noAnswer: 10 });
  });

  it('refuses a device without its iccid before anything starts', async () => {
    const seeded = await generate(2, 'active');
    const devices = profileDevices(seeded);
    devices[1] = { deviceIds: [{ kind: 'eid', id: seeded[1]?.eid ?? '' }] };
    await expect(
      startChangeProfileServicePlan(system.client, { accountName: ACCOUNT, devices, servicePlan: 'X' }, options()),
    ).rejects.toThrow(InvalidRequestError);
  });

  it('fails InvalidRequest when started by hand with an invalid body', async () => {
    const handle = await system.client.workflow.start(WORKFLOW_TYPES.changeProfileServicePlan, {
      taskQueue: system.taskQueue,
      workflowId: `it-invalid-${randomUUID()}`,
      args: [{ accountName: ACCOUNT, devices: [], servicePlan: 'X' }],
    });
    const failure = await failureOf(handle);
    expect(failure.type).toBe(FailureType.InvalidRequest);
    expect(failure.message).toMatch(/devices/);
  });
});

describe('activateDeviceProfiles saga', () => {
  const placeOfUse: ActivateDeviceProfilesRequest['primaryPlaceOfUse'] = {
    customerName: { title: 'Dr', firstName: 'Ada', lastName: 'Lovelace-King' },
    address: {
      addressLine1: '10 Elm Street',
      city: 'Wenatchee',
      state: 'WA',
      zip: '98801',
      zip4: '1234',
      country: 'USA',
    },
  };

  it('activates every profile, through the eUICC warnings and a 429 from the rate limit', async () => {
    const seeded = await generate(40, 'pre-active');
    await system.sim('POST', '/__sim/faults', {
      responses: [{ operation: 'activateDeviceProfiles', status: 429, times: 1 }],
      profiles: { warningRate: 0.5 },
    });
    const since = await requestLogLength(system);
    const handle = await startActivateDeviceProfiles(
      system.client,
      {
        accountName: ACCOUNT,
        devices: profileDevices(seeded),
        servicePlan: 'M2M_4G',
        carrierName: 'Verizon Wireless',
        mdnZipCode: '98801',
        primaryPlaceOfUse: placeOfUse,
      },
      options({ shardSize: 20 }),
    );
    const result = await handle.result();
    expectExactAccounting(result, 40);
    expect(result.counts.succeeded).toBe(40);
    const listed = await simDevicesByEid();
    for (const d of seeded)
      expect(listed.get(d.eid)).toMatchObject({ state: 'active', mdn: expect.stringMatching(/^\d{10}$/) });
    // Two shards, one of them turned away once with 429 and retried.
    expect((await simRequests(system, 'activateDeviceProfiles', since)).map((r) => r.status).sort()).toEqual([
      200, 200, 429,
    ]);
    // The customer's name and address never appear in the saga's status or results, only in its input.
    const status = JSON.stringify(await handle.status());
    expect(status).not.toContain('Lovelace');
  });

  it('refuses a P.O. box as the primary place of use before anything starts', async () => {
    const seeded = await generate(1, 'pre-active');
    await expect(
      startActivateDeviceProfiles(
        system.client,
        {
          accountName: ACCOUNT,
          devices: profileDevices(seeded),
          primaryPlaceOfUse: {
            ...placeOfUse,
            address: { ...placeOfUse.address, addressLine1: 'P.O. Box 12' },
          } as ActivateDeviceProfilesRequest['primaryPlaceOfUse'],
        },
        options(),
      ),
    ).rejects.toThrow(/P\.?O\.? box/i);
  });
});
