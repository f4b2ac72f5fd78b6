/**
 * The simulator's pessimistic profiles for what no ThingSpace page promises (thingspace-api-notes.md):
 * repeated requests accepted while the first is in flight (`acceptDuplicates`, `GET /__sim/acted`), and
 * callbacks of operations the system never started (`POST /__sim/callbacks/stray`, `strayCallbacks`).
 * Real HTTP on port 0, with a listener on port 0 standing in for the callback gateway.
 */
import express from 'express';
import { createSimulator, type SimulatorOptions } from '../../simulator/app.js';
import type { SimDevice } from '../../simulator/platform/devices/inventory.js';
import { listen as listenSimulator, type RunningSimulator } from '../../simulator/server.js';
import { listen } from '../fixtures/http.js';
import { json, loginToSimulator, waitFor, type Answer, type Json } from '../fixtures/simulator-client.js';

const ACCOUNT = '0000123456-00001';
const SMSR = '1.3.6.1.4.1.31746.1.500.200.101.5';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const SERVICES = ['CarrierService', 'StateService', 'DeviceProfileService'];
const NEW_ICCID = '89148000009999000017';

interface Received {
  service: string;
  body: Json;
}

interface Harness {
  running: RunningSimulator;
  sim: ReturnType<typeof createSimulator>;
  control: string;
  received: Received[];
  call(method: string, path: string, body?: unknown): Promise<Answer>;
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function start(options: SimulatorOptions = {}): Promise<Harness> {
  const received: Received[] = [];
  const app = express();
  app.use(express.json());
  app.post('/callbacks/:service', (req, res) => {
    received.push({ service: String(req.params.service), body: req.body });
    res.status(200).end();
  });
  const listener = await listen(app);
  cleanups.push(listener.close);
  const sim = createSimulator({ callbackDelayMs: 25, retryIntervalMs: 20, attemptTimeoutMs: 1000, ...options });
  const running = await listenSimulator(sim, 0);
  cleanups.push(() => running.stop());
  const { call } = await loginToSimulator(`${running.url}/api`);
  for (const name of SERVICES) {
    const res = await call('POST', `/callbacks/${ACCOUNT}`, {
      name,
      url: `${listener.url}/callbacks/${name}`,
      username: 'gw-user',
      password: 'gw-secret',
    });
    expect(res.status).toBe(200);
  }
  return { running, sim, control: `${running.url}/__sim`, received, call };
}

async function control(h: Harness, method: string, path: string, body?: unknown): Promise<Answer> {
  return json(`${h.control}${path}`, method, body);
}

async function faults(h: Harness, body: unknown): Promise<void> {
  expect((await control(h, 'POST', '/faults', body)).status).toBe(200);
}

async function quiet(h: Harness): Promise<void> {
  await waitFor(async () => (await control(h, 'GET', '/callbacks/pending')).body.pending === 0);
}

function swapDevices(h: Harness): { out: SimDevice; into: SimDevice } {
  const all = h.sim.state.inventory.all();
  return {
    out: structuredClone(all[0] as SimDevice),
    into: structuredClone(all.find((d) => d.state === 'pre-active') as SimDevice),
  };
}

function swapBody(out: SimDevice, into: SimDevice): Record<string, unknown> {
  return {
    accountName: ACCOUNT,
    deviceToSwapOut: [
      { kind: 'mdn', id: out.mdn },
      { kind: 'eid', id: out.eid },
      { kind: 'imei', id: out.imei },
      { kind: 'iccid', id: out.iccid },
    ],
    deviceToSwapIn: [
      { kind: 'eid', id: into.eid },
      { kind: 'imei', id: into.imei },
    ],
    mdnZipCode: '98802',
    serviceName: 'WiFi',
    stateName: 'WiFi Activate',
    servicePlan: 'M2M4G1GB',
    smsrOid: SMSR,
  };
}

const SWAP = '/devices/actions/eidDeviceSwap';
const key = (d: SimDevice): string => `eid:${String(d.eid).toLowerCase()}`;

function activeDevice(h: Harness, index = 0): SimDevice {
  const active = h.sim.state.inventory.all().filter((d) => d.state === 'active' && d.eid && !d.meid);
  return structuredClone(active.at(-1 - index) as SimDevice);
}

describe('acceptDuplicates: eidDeviceSwap', () => {
  test('by default a repeated swap is refused once the first has moved the devices; each device is acted on once', async () => {
    const h = await start();
    const { out, into } = swapDevices(h);
    await faults(h, { callbacks: { beforeResponse: ['deactivation'] } });
    expect((await h.call('POST', SWAP, swapBody(out, into))).status).toBe(200);
    const repeat = await h.call('POST', SWAP, swapBody(out, into));
    expect({ status: repeat.status, code: repeat.body.errorCode }).toEqual({
      status: 400,
      code: 'UnifiedWebService.INPUT_INVALID.DeviceState.Invalid',
    });
    await quiet(h);
    expect(h.received).toHaveLength(3);
    const acted = (await control(h, 'GET', '/acted')).body;
    expect(acted).toEqual({
      devices: {
        [key(out)]: { count: 1, requestIds: [expect.stringMatching(UUID)] },
        [key(into)]: { count: 1, requestIds: [expect.stringMatching(UUID)] },
      },
      actedTwice: [],
    });
  });

  test('under acceptDuplicates a repeat while the first is in flight gets a new request id and acts twice', async () => {
    const h = await start({ callbackDelayMs: 300 });
    const { out, into } = swapDevices(h);
    await faults(h, { acceptDuplicates: true, callbacks: { beforeResponse: ['deactivation'] } });
    const first = await h.call('POST', SWAP, swapBody(out, into));
    const second = await h.call('POST', SWAP, swapBody(out, into));
    expect(second).toEqual({ status: 200, body: { requestId: expect.stringMatching(UUID) } });
    expect(second.body.requestId).not.toBe(first.body.requestId);
    await quiet(h);
    expect(h.received).toHaveLength(6);
    const requestIds = new Set(h.received.map((r) => r.body.requestId as string));
    expect(requestIds.size).toBe(6);
    const [a, b] = (await control(h, 'GET', '/operations')).body as Json[];
    expect(b.swapOut).toEqual(a.swapOut);
    expect(b.newLine.iccid).not.toBe(a.newLine.iccid);
    // The second GoToState gave the swapped-out device a second new line.
    const device = h.sim.state.inventory.byNumber(out.deviceNumber) as SimDevice;
    expect({ iccid: device.iccid, mdn: device.mdn }).toEqual(b.newLine);
    expect(device.retiredLines.map((l) => l.iccid)).toEqual([out.iccid, a.newLine.iccid]);
    const acted = (await control(h, 'GET', '/acted')).body;
    expect(acted.actedTwice.sort()).toEqual([key(out), key(into)].sort());
    expect(acted.devices[key(out)]).toEqual({ count: 2, requestIds: [a.requestId, b.requestId] });
  });

  test('under acceptDuplicates a repeat after the first has finished is judged as usual', async () => {
    const h = await start();
    const { out, into } = swapDevices(h);
    await faults(h, { acceptDuplicates: true });
    expect((await h.call('POST', SWAP, swapBody(out, into))).status).toBe(200);
    await quiet(h);
    const repeat = await h.call('POST', SWAP, swapBody(out, into));
    expect(repeat.status).toBe(400);
    expect((await control(h, 'GET', '/acted')).body.actedTwice).toEqual([]);
  });
});

describe('acceptDuplicates: changeDeviceIdentifier', () => {
  const iccidChange = (d: SimDevice): Record<string, unknown> => ({
    deviceIds: [{ kind: 'mdn', id: d.mdn }],
    deviceIdsTo: [{ kind: 'iccid', id: NEW_ICCID }],
    change4gOption: 'ChangeICCID',
  });

  test('by default a repeated ChangeICCID in flight is refused: the new SIM is being assigned', async () => {
    const h = await start({ callbackDelayMs: 300 });
    const d = activeDevice(h);
    const first = await h.call('PUT', '/devices/4g/actions/deviceId', iccidChange(d));
    expect(first.status).toBe(200);
    const repeat = await h.call('PUT', '/devices/4g/actions/deviceId', iccidChange(d));
    expect(repeat).toEqual({
      status: 400,
      body: {
        errorCode: 'UnifiedWebService.REQUEST_FAILED.DeviceAlreadyExists',
        errorMessage: `iccid ${NEW_ICCID} is being assigned to a device by request ${String(first.body.requestId)}.`,
      },
    });
    await quiet(h);
    expect((await control(h, 'GET', '/acted')).body).toEqual({
      devices: { [key(d)]: { count: 1, requestIds: [first.body.requestId] } },
      actedTwice: [],
    });
  });

  test('under acceptDuplicates the repeat is accepted with its own request id and callback, and acts twice', async () => {
    const h = await start({ callbackDelayMs: 300 });
    const d = activeDevice(h);
    await faults(h, { acceptDuplicates: true });
    const first = await h.call('PUT', '/devices/4g/actions/deviceId', iccidChange(d));
    const second = await h.call('PUT', '/devices/4g/actions/deviceId', iccidChange(d));
    expect(second).toEqual({ status: 200, body: { requestId: expect.stringMatching(UUID) } });
    await quiet(h);
    expect(h.received.map((r) => [r.body.requestId, r.body.status])).toEqual([
      [first.body.requestId, 'Success'],
      [second.body.requestId, 'Success'],
    ]);
    expect((await control(h, 'GET', '/acted')).body).toEqual({
      devices: { [key(d)]: { count: 2, requestIds: [first.body.requestId, second.body.requestId] } },
      actedTwice: [key(d)],
    });
  });

  test('under acceptDuplicates a repeated ChangeMSISDN gives the device a second new number', async () => {
    const h = await start({ callbackDelayMs: 300 });
    const d = activeDevice(h);
    await faults(h, { acceptDuplicates: true });
    const body = { deviceIds: [{ kind: 'imei', id: d.imei }], change4gOption: 'ChangeMSISDN', assignNonGeoMdn: true };
    expect((await h.call('PUT', '/devices/4g/actions/deviceId', body)).status).toBe(200);
    expect((await h.call('PUT', '/devices/4g/actions/deviceId', body)).status).toBe(200);
    await quiet(h);
    const mdns = h.received.map(
      (r) => (r.body.deviceResponse.changeIdentifierResponse.deviceIds as Json[]).find((i) => i.kind === 'mdn').id,
    );
    expect(mdns).toHaveLength(2);
    expect(mdns[0]).not.toBe(mdns[1]);
    expect(h.sim.state.inventory.byNumber(d.deviceNumber)?.mdn).toBe(mdns[1]);
    expect((await control(h, 'GET', '/acted')).body.actedTwice).toEqual([key(d)]);
  });
});

describe('GET /__sim/acted', () => {
  test('is empty at first and after a reset', async () => {
    const h = await start();
    expect((await control(h, 'GET', '/acted')).body).toEqual({ devices: {}, actedTwice: [] });
    const d = activeDevice(h);
    await h.call('PUT', '/devices/4g/actions/deviceId', {
      deviceIds: [{ kind: 'imei', id: d.imei }],
      change4gOption: 'ChangeMSISDN',
      assignNonGeoMdn: true,
    });
    await quiet(h);
    expect(Object.keys((await control(h, 'GET', '/acted')).body.devices)).toEqual([key(d)]);
    await control(h, 'POST', '/reset');
    expect((await control(h, 'GET', '/acted')).body).toEqual({ devices: {}, actedTwice: [] });
  });

  test('acceptDuplicates shows in the fault snapshot and clears with DELETE /__sim/faults', async () => {
    const h = await start();
    await faults(h, { acceptDuplicates: true });
    expect((await control(h, 'GET', '/faults')).body.acceptDuplicates).toBe(true);
    expect((await control(h, 'DELETE', '/faults')).body.acceptDuplicates).toBeUndefined();
    expect(h.sim.state.faults.acceptDuplicates).toBe(false);
  });
});

describe('POST /__sim/callbacks/stray', () => {
  test('a failed deactivation of another request id reaches the listener in the real shape and changes nothing', async () => {
    const h = await start();
    const d = activeDevice(h);
    const before = structuredClone(h.sim.state.inventory.all());
    const res = await control(h, 'POST', '/callbacks/stray', {
      accountName: ACCOUNT,
      service: 'CarrierService',
      outcome: 'deactivation',
      status: 'failed',
      deviceIds: [{ kind: 'iccid', id: d.iccid }],
      failure: { faultcode: 'REQUEST_FAILED.DeviceNotActive', faultstring: 'Started in the portal' },
    });
    expect(res.status).toBe(200);
    const expected = {
      username: 'gw-user',
      password: 'gw-secret',
      requestId: expect.stringMatching(UUID),
      deviceIds: [
        { id: d.imei, kind: 'imei' },
        { id: d.iccid, kind: 'iccid' },
      ],
      status: 'Failed',
      faultResponse: {
        faultcode: 'CarrierService.REQUEST_FAILED.DeviceNotActive',
        faultstring: 'Started in the portal',
      },
      callbackCount: 1,
      maxCallbackThreshold: 4,
    };
    expect(h.received).toEqual([{ service: 'CarrierService', body: expected }]);
    const { username: _u, password: _p, callbackCount: _c, maxCallbackThreshold: _m, ...content } = expected;
    expect(res.body).toEqual({
      service: 'CarrierService',
      requestId: h.received[0]?.body.requestId,
      callbackCount: 1,
      callback: content,
    });
    expect(h.sim.state.inventory.all()).toEqual(before);
    expect((await control(h, 'GET', '/callbacks')).body).toEqual([
      expect.objectContaining({ step: 'deactivation', outcome: 'delivered', callbackCount: 1, stray: true }),
    ]);
    expect((await control(h, 'GET', '/acted')).body.devices).toEqual({});
  });

  test('a late re-send of an old success carries its request id and callbackCount 2', async () => {
    const h = await start();
    const d = activeDevice(h);
    const res = await control(h, 'POST', '/callbacks/stray', {
      accountName: ACCOUNT,
      outcome: 'goToState',
      deviceIds: [{ kind: 'imei', id: d.imei }],
      resultDeviceIds: [{ kind: 'iccid', id: NEW_ICCID }],
      requestId: 'old-request-1',
      callbackCount: 2,
    });
    expect(res.status).toBe(200);
    expect(h.received).toEqual([
      {
        service: 'StateService',
        body: {
          username: 'gw-user',
          password: 'gw-secret',
          requestId: 'old-request-1',
          deviceIds: [
            { id: NEW_ICCID, kind: 'Iccid' },
            { id: d.imei, kind: 'Imei' },
          ],
          deviceResponse: {
            usageResponse: [],
            goToStateResponse: {
              deviceIds: [
                { id: NEW_ICCID, kind: 'Iccid' },
                { id: d.imei, kind: 'Imei' },
              ],
              serviceName: d.serviceName ?? '',
              stateName: d.stateName ?? '',
            },
          },
          callbackCount: 2,
          maxCallbackThreshold: 4,
        },
      },
    ]);
  });

  test('identifier changes and eSIM profile warnings use the real builders', async () => {
    const h = await start();
    const [a, b] = [activeDevice(h, 0), activeDevice(h, 1)];
    await control(h, 'POST', '/callbacks/stray', {
      accountName: ACCOUNT,
      outcome: 'identifierChange',
      deviceIds: [{ kind: 'iccid', id: a.iccid }],
      resultDeviceIds: [{ kind: 'eid', id: b.eid }],
    });
    await control(h, 'POST', '/callbacks/stray', {
      accountName: ACCOUNT,
      outcome: 'changeDeviceIdentifier',
      deviceIds: [{ kind: 'mdn', id: a.mdn }],
      resultDeviceIds: [{ kind: 'iccid', id: NEW_ICCID }],
    });
    await control(h, 'POST', '/callbacks/stray', {
      accountName: ACCOUNT,
      outcome: 'deviceProfile',
      status: 'warning',
      deviceIds: [{ kind: 'eid', id: a.eid }],
    });
    expect(h.received.map((r) => r.service)).toEqual(['CarrierService', 'CarrierService', 'DeviceProfileService']);
    const [swapChange, change, warning] = h.received.map((r) => r.body);
    expect(swapChange.deviceResponse.changeIdentifierResponse.deviceIds).toEqual([
      { id: b.imei, kind: 'imei' },
      { id: b.eid, kind: 'eid' },
      { id: b.iccid, kind: 'iccid' },
    ]);
    expect(change).toMatchObject({
      deviceIds: [{ id: a.mdn, kind: 'MDN' }],
      deviceResponse: { changeIdentifierResponse: { deviceIds: [{ id: NEW_ICCID, kind: 'iccid' }] } },
      status: 'Success',
    });
    expect(warning).toMatchObject({
      status: 'WARNING',
      deviceResponse: { deviceProfileResponse: { euiccStatus: 'IN_PROGRESS' } },
    });
  });

  test.each([
    [
      { outcome: 'deactivation', status: 'warning' },
      'Only eSIM profile operations (outcome deviceProfile) send warnings.',
    ],
    [
      { outcome: 'goToState', service: 'CarrierService' },
      'goToState callbacks come from StateService, not CarrierService.',
    ],
  ])('a request that no ThingSpace callback could match is refused: %j', async (fields, message) => {
    const h = await start();
    const res = await control(h, 'POST', '/callbacks/stray', {
      accountName: ACCOUNT,
      deviceIds: [{ kind: 'iccid', id: '89148000001234500378' }],
      ...fields,
    });
    expect(res).toEqual({ status: 400, body: { error: 'InvalidControlRequest', issues: [{ path: '', message }] } });
    expect(h.received).toEqual([]);
  });
});

describe('strayCallbacks profile', () => {
  test('a swap is preceded by a failed deactivation and a late success re-send of other request ids; its own effect is unchanged', async () => {
    const h = await start();
    const { out, into } = swapDevices(h);
    await faults(h, { strayCallbacks: {} });
    const res = await h.call('POST', SWAP, swapBody(out, into));
    await quiet(h);
    const own = res.body.requestId as string;
    const [record] = (await control(h, 'GET', '/operations')).body as Json[];
    const ownIds = Object.values(record.callbackRequestIds as Record<string, string>);
    expect(ownIds).toContain(own);
    expect(
      h.received.map((r) => [r.service, r.body.status, r.body.callbackCount, ownIds.includes(r.body.requestId)]),
    ).toEqual([
      ['CarrierService', 'Failed', 1, false],
      ['CarrierService', 'Success', 2, false],
      ['CarrierService', 'Success', 1, true],
      ['CarrierService', 'Success', 1, true],
      ['StateService', undefined, 1, true],
    ]);
    expect(h.received[0]?.body.deviceIds).toEqual([
      { id: out.imei, kind: 'imei' },
      { id: out.iccid, kind: 'iccid' },
    ]);
    const device = h.sim.state.inventory.byNumber(out.deviceNumber) as SimDevice;
    expect({ iccid: device.iccid, mdn: device.mdn }).toEqual(record.newLine);
    const log = (await control(h, 'GET', '/callbacks')).body as Json[];
    expect(log.filter((e) => e.stray).map((e) => [e.step, e.callbackCount])).toEqual([
      ['deactivation', 1],
      ['deactivation', 2],
    ]);
    expect((await control(h, 'GET', '/acted')).body.actedTwice).toEqual([]);
  });

  test('outcomes, statuses and triggers are configurable; an identifier change gets strays before its callback', async () => {
    const h = await start();
    const d = activeDevice(h);
    await faults(h, {
      strayCallbacks: {
        callbacks: [
          { outcome: 'changeDeviceIdentifier', status: 'failed', failure: { faultcode: 'X.Y', faultstring: 'portal' } },
        ],
        on: ['changeDeviceIdentifier'],
      },
    });
    const { out, into } = swapDevices(h);
    expect((await h.call('POST', SWAP, swapBody(out, into))).status).toBe(200);
    await quiet(h);
    expect(h.received).toHaveLength(3);
    h.received.length = 0;
    const res = await h.call('PUT', '/devices/4g/actions/deviceId', {
      deviceIds: [{ kind: 'imei', id: d.imei }],
      change4gOption: 'ChangeMSISDN',
      assignNonGeoMdn: true,
    });
    await quiet(h);
    expect(h.received.map((r) => [r.body.status, r.body.requestId === res.body.requestId])).toEqual([
      ['Failed', false],
      ['Success', true],
    ]);
    expect(h.received[0]?.body.faultResponse).toEqual({ faultcode: 'CarrierService.X.Y', faultstring: 'portal' });
  });

  test('is shown in the fault snapshot, turned off by null, and cleared by DELETE /__sim/faults', async () => {
    const h = await start();
    await faults(h, { strayCallbacks: { maxDevices: 2 } });
    expect((await control(h, 'GET', '/faults')).body.strayCallbacks).toEqual({
      callbacks: [
        { status: 'failed', callbackCount: 1 },
        { status: 'success', callbackCount: 2 },
      ],
      on: ['eidDeviceSwap', 'changeDeviceIdentifier', 'changeProfileServicePlan', 'activateDeviceProfiles'],
      maxDevices: 2,
    });
    await faults(h, { strayCallbacks: null });
    expect((await control(h, 'GET', '/faults')).body.strayCallbacks).toBeUndefined();
    await faults(h, { strayCallbacks: {} });
    expect((await control(h, 'DELETE', '/faults')).body.strayCallbacks).toBeUndefined();
  });
});
