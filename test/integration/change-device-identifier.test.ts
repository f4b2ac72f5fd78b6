import { randomUUID } from 'node:crypto';
import { InvalidRequestError, startChangeDeviceIdentifier } from '../../client/index.js';
import { FailureType, type ChangeDeviceIdentifierRequest, type SagaOptions } from '../../contracts/index.js';
import {
  ACCOUNT,
  failureOf,
  requestLogLength,
  SIM_SECRETS,
  simRequests,
  startSystem,
  uniqueDigits,
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

interface Seeded {
  iccid: string;
  imei: string;
  mdn: string;
  /** A new SIM no one has seen. */
  newIccid: string;
}

/** An active 4G device with a line, unique to this test. */
async function seedDevice(servicePlan = '4G 2GB'): Promise<Seeded> {
  const n = uniqueDigits(9);
  const device = {
    accountName: ACCOUNT,
    iccid: `8914800000${n}3`,
    imei: `35${n}3333`.slice(0, 15),
    mdn: `6${n}`,
    state: 'active',
    servicePlan,
  };
  await system.sim('POST', '/__sim/devices', { devices: [device] });
  return { iccid: device.iccid, imei: device.imei, mdn: device.mdn, newIccid: `8914800000${n}4` };
}

async function start(request: ChangeDeviceIdentifierRequest, options: SagaOptions = {}) {
  return startChangeDeviceIdentifier(system.client, ACCOUNT, request, {
    taskQueue: system.taskQueue,
    failurePolicy: 'fail',
    ...options,
  });
}

interface ListedDevice {
  iccid: string;
  imei: string;
  mdn?: string;
  servicePlan: string;
}

async function simDevice(imei: string): Promise<ListedDevice | undefined> {
  const devices = await system.sim<ListedDevice[]>('GET', '/__sim/devices');
  return devices.find((d) => d.imei === imei);
}

describe('changeDeviceIdentifier saga', () => {
  it('ChangeICCID: moves the line to the new SIM and returns the identifiers the callback reported', async () => {
    const device = await seedDevice();
    const handle = await start({
      serviceType: '4g',
      deviceIds: [{ kind: 'imei', id: device.imei }],
      deviceIdsTo: [{ kind: 'iccid', id: device.newIccid }],
      change4gOption: 'ChangeICCID',
    });
    const result = await handle.result();
    expect(result).toEqual({
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      deviceIds: [{ kind: 'imei', id: device.imei }],
      newDeviceIds: expect.arrayContaining([{ kind: 'iccid', id: device.newIccid }]),
      servicePlan: '4G 2GB',
      confirmedBy: 'callback',
      submittedAt: expect.any(String),
      completedAt: expect.any(String),
    });
    expect((await simDevice(device.imei))?.iccid).toBe(device.newIccid);
    const status = await handle.status();
    expect(status).toMatchObject({ phase: 'completed', step: { state: 'confirmed' }, callbacksReceived: 1 });

    // No credential reaches the workflow history.
    const history = JSON.stringify(await handle.fetchHistory());
    for (const secret of SIM_SECRETS) expect(history).not.toContain(secret);
  });

  it('ChangeMSISDN: with no number left in the NPA-NXX the zipCode gives one, as the page documents', async () => {
    const device = await seedDevice();
    const handle = await start({
      serviceType: '4g',
      deviceIds: [{ kind: 'mdn', id: device.mdn }],
      change4gOption: 'ChangeMSISDN',
      assignNonGeoMdn: false,
      npaNxx: '212555',
      zipCode: '98802',
    });
    const result = await handle.result();
    const number = result.newDeviceIds.find((d) => d.kind === 'mdn' || d.kind === 'msisdn');
    expect(number?.id).toMatch(/^\d{10,11}$/);
    expect(number?.id).not.toBe(device.mdn);
    expect((await simDevice(device.imei))?.mdn).toBe(number?.id.slice(-10));
  });

  it('ends ThingSpaceRejected when the new SIM is already in the platform, telling the user to delete it first', async () => {
    const device = await seedDevice();
    const other = await seedDevice();
    const since = await requestLogLength(system);
    const handle = await start({
      serviceType: '4g',
      deviceIds: [{ kind: 'imei', id: device.imei }],
      deviceIdsTo: [{ kind: 'iccid', id: other.iccid }],
      change4gOption: 'ChangeICCID',
    });
    const failure = await failureOf(handle);
    expect(failure.type).toBe(FailureType.ThingSpaceRejected);
    expect(failure.message).toMatch(/delete/i);
    // A refusal is final: one request, no retry.
    expect(await simRequests(system, 'changeDeviceIdentifier', since)).toHaveLength(1);
  });

  it('ends StepFailed with the callback saying a 3G plan needs changing when 4Gto3G keeps a 4G plan', async () => {
    const device = await seedDevice('M2M 4G Basic');
    const n = uniqueDigits(9);
    const handle = await start({
      serviceType: '4g',
      deviceIds: [{ kind: 'imei', id: device.imei }],
      deviceIdsTo: [
        { kind: 'meid', id: `A1000${n}`.slice(0, 14) },
        { kind: 'imei', id: `99${n}4444`.slice(0, 15) },
      ],
      change4gOption: '4Gto3G',
    });
    const failure = await failureOf(handle);
    expect(failure.type).toBe(FailureType.StepFailed);
    expect(failure.message).toMatch(/servicePlan/);
    // A failed change changes nothing.
    expect((await simDevice(device.imei))?.iccid).toBe(device.iccid);
  });

  it('policy compensate: a failed change has nothing to undo, and the saga says so', async () => {
    const device = await seedDevice('M2M 4G Basic');
    const n = uniqueDigits(9);
    const handle = await start(
      {
        serviceType: '4g',
        deviceIds: [{ kind: 'imei', id: device.imei }],
        deviceIdsTo: [
          { kind: 'meid', id: `A2000${n}`.slice(0, 14) },
          { kind: 'imei', id: `98${n}4444`.slice(0, 15) },
        ],
        change4gOption: '4Gto3G',
      },
      { failurePolicy: 'compensate' },
    );
    const failure = await failureOf(handle);
    expect(failure.type).toBe(FailureType.Compensated);
    expect((await handle.status()).compensations).toEqual([
      expect.objectContaining({ compensation: 'confirmIdentifierUnchanged', outcome: 'nothingToUndo' }),
    ]);
  });

  it('policy hold: an operator retry resubmits the change with a plan that fits, and it completes', async () => {
    const device = await seedDevice('M2M 4G Basic');
    const n = uniqueDigits(9);
    const request: ChangeDeviceIdentifierRequest = {
      serviceType: '4g',
      deviceIds: [{ kind: 'imei', id: device.imei }],
      deviceIdsTo: [
        { kind: 'meid', id: `A3000${n}`.slice(0, 14) },
        { kind: 'imei', id: `97${n}4444`.slice(0, 15) },
      ],
      change4gOption: '4Gto3G',
    };
    const handle = await start(request, { failurePolicy: 'hold' });
    await waitFor(async () => (await handle.status()).phase === 'awaitingDecision');
    expect((await handle.status()).awaitingDecision?.failure.type).toBe(FailureType.StepFailed);
    // The operator fixes the cause upstream (here: the device's plan), then says retry.
    await system.sim('POST', '/__sim/devices', {
      devices: [
        {
          accountName: ACCOUNT,
          iccid: device.iccid,
          imei: device.imei,
          mdn: device.mdn,
          state: 'active',
          servicePlan: 'M2M Any',
        },
      ],
    });
    await handle.signal('operatorDecision', { decision: 'retry', operator: 'ops@example.com' });
    const result = await handle.result();
    expect(result.previousRequestIds).toHaveLength(1);
    expect(result.newDeviceIds).toEqual(expect.arrayContaining([{ kind: 'imei', id: request.deviceIdsTo?.[1]?.id }]));
  });

  it('applies a callback delivered twice once: the gateway ignores the re-delivery', async () => {
    await system.sim('POST', '/__sim/faults', { callbacks: { duplicate: 1 } });
    const before = await system.store.counts();
    const device = await seedDevice();
    const handle = await start({
      serviceType: '4g',
      deviceIds: [{ kind: 'iccid', id: device.iccid }],
      deviceIdsTo: [{ kind: 'iccid', id: device.newIccid }],
      change4gOption: 'ChangeICCID',
    });
    await handle.result();
    await waitFor(async () => (await system.store.counts()).duplicates > before.duplicates);
    const after = await system.store.counts();
    expect(after.received - before.received).toBe(1);
    expect(after.duplicates - before.duplicates).toBe(1);
    expect(await handle.status()).toMatchObject({ step: { state: 'confirmed' }, callbacksReceived: 1 });
  });

  it('completes when ThingSpace made the change but its answer was lost (502), without resending it', async () => {
    await system.sim('POST', '/__sim/faults', {
      responses: [{ operation: 'changeDeviceIdentifier', status: 502, processed: true }],
    });
    const device = await seedDevice();
    const since = await requestLogLength(system);
    const handle = await start({
      serviceType: '4g',
      deviceIds: [{ kind: 'imei', id: device.imei }],
      deviceIdsTo: [{ kind: 'iccid', id: device.newIccid }],
      change4gOption: 'ChangeICCID',
    });
    const result = await handle.result();
    expect(result.newDeviceIds).toEqual(expect.arrayContaining([{ kind: 'iccid', id: device.newIccid }]));
    expect(await simRequests(system, 'changeDeviceIdentifier', since)).toHaveLength(1);
  });

  it('completes from the device list when the callback never comes', async () => {
    await system.sim('POST', '/__sim/faults', { callbacks: { drop: 1 } });
    const device = await seedDevice();
    const handle = await start(
      {
        serviceType: '4g',
        deviceIds: [{ kind: 'imei', id: device.imei }],
        deviceIdsTo: [{ kind: 'iccid', id: device.newIccid }],
        change4gOption: 'ChangeICCID',
      },
      { stepTimeout: '3 seconds' },
    );
    const result = await handle.result();
    expect(result.confirmedBy).toBe('reconciliation');
    expect(result.newDeviceIds).toEqual(expect.arrayContaining([{ kind: 'iccid', id: device.newIccid }]));
  });

  it('refuses an invalid request before anything starts', async () => {
    const since = await requestLogLength(system);
    await expect(
      startChangeDeviceIdentifier(
        system.client,
        ACCOUNT,
        {
          serviceType: '4g',
          deviceIds: [{ kind: 'imei', id: `35${randomUUID().replace(/\D/g, '').slice(0, 13)}` }],
          change4gOption: 'ChangeMSISDN',
          assignNonGeoMdn: false,
        },
        { taskQueue: system.taskQueue },
      ),
    ).rejects.toThrow(InvalidRequestError);
    expect(await simRequests(system, 'changeDeviceIdentifier', since)).toHaveLength(0);
  });
});
