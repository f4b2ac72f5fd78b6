/**
 * The ThingSpace simulator's `PUT /m2m/v1/devices/{serviceType}/actions/deviceId`: the page's rules and
 * preconditions answered with ThingSpace's error codes, the one CarrierService callback and its effect on
 * the device list, and the callback faults. Real HTTP on port 0, with a listener on port 0 standing in for
 * the callback gateway.
 */
import express from 'express';
import { createSimulator, type SimulatorOptions } from '../../simulator/app.js';
import { zipNpaNxx } from '../../simulator/operations/change-device-identifier/plan.js';
import { planTechnology } from '../../simulator/operations/change-device-identifier/rules.js';
import type { SimDevice } from '../../simulator/platform/devices/inventory.js';
import { listen as listenSimulator, type RunningSimulator } from '../../simulator/server.js';
import { listen } from '../fixtures/http.js';
import { json, loginToSimulator, waitFor, type Json } from '../fixtures/simulator-client.js';

const ACCOUNT = '0000123456-00001';
const SMSR = '1.3.6.1.4.1.31746.1.500.200.101.5';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Hardware no device of the fixture has: what a technician would fit. */
const NEW_ICCID = '89148000009999000017';
const NEW_IMEI = '990013907884259';
const NEW_EID = '89033023312150000000000256691984';
const NEW_MEID = 'A1000001999990';

/** Fixture devices kept for identifier changes: two active 4G eUICC devices and an active 3G device. */
const MDN_4G_A = '2025550121';
const MDN_4G_B = '2025550122';
const MDN_3G = '2025550123';

interface Received {
  service: string;
  body: Json;
}

interface Harness {
  running: RunningSimulator;
  sim: ReturnType<typeof createSimulator>;
  control: string;
  received: Received[];
  /** The bearer and session headers of the logged-in client. */
  auth: Record<string, string>;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>;
  change(serviceType: string, body: unknown): Promise<Answer>;
}

interface Answer {
  status: number;
  body: Json;
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

/** A callback listener that acknowledges everything and keeps what it got. */
async function startListener(): Promise<{ url: string; received: Received[] }> {
  const app = express();
  app.use(express.json());
  const received: Received[] = [];
  app.post('/callbacks/:service', (req, res) => {
    received.push({ service: String(req.params.service), body: req.body });
    res.status(200).end();
  });
  const running = await listen(app);
  cleanups.push(running.close);
  return { url: running.url, received };
}

/** A simulator with a logged-in client and a CarrierService listener registered for the account. */
async function start(options: SimulatorOptions = {}): Promise<Harness> {
  const sim = createSimulator({ callbackDelayMs: 25, retryIntervalMs: 20, attemptTimeoutMs: 1000, ...options });
  const running = await listenSimulator(sim, 0);
  cleanups.push(() => running.stop());
  const listener = await startListener();
  const { auth, call } = await loginToSimulator(`${running.url}/api`);
  const registered = await call('POST', `/callbacks/${ACCOUNT}`, {
    name: 'CarrierService',
    url: `${listener.url}/callbacks/CarrierService`,
    username: 'gw-user',
    password: 'gw-secret',
  });
  expect(registered.status).toBe(200);
  return {
    running,
    sim,
    control: `${running.url}/__sim`,
    received: listener.received,
    auth,
    call,
    change: (serviceType, body) => call('PUT', `/devices/${serviceType}/actions/deviceId`, body),
  };
}

/** Waits until the simulator has nothing left to deliver. */
async function quiet(h: Harness): Promise<void> {
  await waitFor(async () => (await json(`${h.control}/callbacks/pending`, 'GET')).body.pending === 0);
}

async function faults(h: Harness, body: unknown): Promise<void> {
  expect((await json(`${h.control}/faults`, 'POST', body)).status).toBe(200);
}

/** A snapshot of the fixture device with this MDN. */
function device(h: Harness, mdn: string): SimDevice {
  return structuredClone(h.sim.state.inventory.find('mdn', mdn) as SimDevice);
}

function byState(h: Harness, state: SimDevice['state']): SimDevice {
  return structuredClone(h.sim.state.inventory.all().find((d) => d.state === state) as SimDevice);
}

/** The device list entry for one identifier. */
async function listed(h: Harness, kind: string, id: string): Promise<Answer> {
  return h.call('POST', '/devices/actions/list', { deviceId: { kind, id } });
}

/** Submits, expects `{requestId}`, and waits for the one callback. */
async function changeAndWait(
  h: Harness,
  serviceType: string,
  body: unknown,
): Promise<{ requestId: string; callback: Json }> {
  const res = await h.change(serviceType, body);
  expect(res).toEqual({ status: 200, body: { requestId: expect.stringMatching(UUID) } });
  await waitFor(() => h.received.length === 1);
  await quiet(h);
  expect(h.received).toHaveLength(1);
  expect(h.received[0]?.service).toBe('CarrierService');
  return { requestId: res.body.requestId as string, callback: h.received[0]?.body };
}

function iccidChange(d: SimDevice, iccid = NEW_ICCID): Record<string, unknown> {
  return {
    deviceIds: [{ kind: 'mdn', id: d.mdn }],
    deviceIdsTo: [{ kind: 'iccid', id: iccid }],
    change4gOption: 'ChangeICCID',
  };
}

function msisdnChange(d: SimDevice, fields: Record<string, unknown>): Record<string, unknown> {
  return { deviceIds: [{ kind: 'imei', id: d.imei }], change4gOption: 'ChangeMSISDN', ...fields };
}

function euiccChange(d: SimDevice): Record<string, unknown> {
  return {
    deviceIds: [{ kind: 'mdn', id: d.mdn }],
    deviceIdsTo: [
      { kind: 'imei', id: NEW_IMEI },
      { kind: 'eid', id: NEW_EID },
    ],
    change4gOption: 'ChangeIMEIandEID',
    smsrOid: SMSR,
  };
}

function threeGto4G(d: SimDevice, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    deviceIds: [{ kind: 'meid', id: d.meid }],
    deviceIdsTo: [
      { kind: 'imei', id: NEW_IMEI },
      { kind: 'iccid', id: NEW_ICCID },
    ],
    change4gOption: '3Gto4G',
    ...extra,
  };
}

/** What a successful callback carries around its `deviceResponse`. */
function success(requestId: string, deviceIds: Json[], newIds: Json[], servicePlan: string): Json {
  return {
    username: 'gw-user',
    password: 'gw-secret',
    requestId,
    deviceIds,
    deviceResponse: { changeIdentifierResponse: { deviceIds: newIds, servicePlan } },
    status: 'Success',
    callbackCount: 1,
    maxCallbackThreshold: 4,
  };
}

function failed(requestId: string, deviceIds: Json[], faultcode: string, faultstring: string): Json {
  return {
    username: 'gw-user',
    password: 'gw-secret',
    requestId,
    deviceIds,
    status: 'Failed',
    faultResponse: { faultcode, faultstring },
    callbackCount: 1,
    maxCallbackThreshold: 4,
  };
}

describe('changeDeviceIdentifier validation', () => {
  /** [story, serviceType, body, error code, a fragment of the message, optional setup]. */
  type Case = [string, string, (h: Harness) => unknown, string, string, ((h: Harness) => void)?];
  const a = (h: Harness) => device(h, MDN_4G_A);
  const g3 = (h: Harness) => device(h, MDN_3G);
  const cases: Case[] = [
    [
      'a serviceType other than 3g or 4g',
      '4G',
      (h) => iccidChange(a(h)),
      'INPUT_INVALID.ServiceType.Invalid',
      "serviceType '4G' is not valid: use 3g or 4g.",
    ],
    ['a body that is not an object', '4g', () => [], 'INPUT_INVALID.RequestUndefined', 'must be a JSON object'],
    [
      'no deviceIds',
      '4g',
      (h) => ({ ...iccidChange(a(h)), deviceIds: [] }),
      'INPUT_INVALID.Device.NotDefined',
      'deviceIds is required',
    ],
    [
      'an unknown kind in deviceIds',
      '4g',
      (h) => ({ ...iccidChange(a(h)), deviceIds: [{ kind: 'serial', id: '1' }] }),
      'INPUT_INVALID.Device.Kind.Invalid',
      "deviceIds[0].kind 'serial' is not a valid device kind.",
    ],
    [
      'a malformed identifier in deviceIds',
      '4g',
      (h) => ({ ...iccidChange(a(h)), deviceIds: [{ kind: 'imei', id: '12' }] }),
      'INPUT_INVALID.Device.Identifier.Invalid',
      'deviceIds[0].id is not a valid imei.',
    ],
    [
      'a kind named twice in deviceIds',
      '4g',
      (h) => ({
        ...iccidChange(a(h)),
        deviceIds: [
          { kind: 'imei', id: a(h).imei },
          { kind: 'IMEI', id: a(h).imei },
        ],
      }),
      'INPUT_INVALID.Device.Identifier.Invalid',
      'deviceIds lists kind imei more than once.',
    ],
    [
      'a 4g change without change4gOption',
      '4g',
      (h) => ({ ...iccidChange(a(h)), change4gOption: undefined }),
      'INPUT_INVALID.Parameter.NotDefined',
      'change4gOption is required for 4g.',
    ],
    [
      'an unknown change4gOption',
      '4g',
      (h) => ({ ...iccidChange(a(h)), change4gOption: 'ChangeEID' }),
      'INPUT_INVALID.Parameter.Invalid',
      "change4gOption 'ChangeEID' is not valid: use one of ChangeICCID, ChangeIMEI, ChangeIMEIandICCID, ChangeMSISDN, 3Gto4G, 4Gto3G, ChangeIMEIandEID.",
    ],
    [
      'a 4G change4gOption on serviceType 3g',
      '3g',
      (h) => iccidChange(a(h)),
      'INPUT_INVALID.Parameter.Invalid',
      'change4gOption ChangeICCID changes a 4G device: use serviceType 4g.',
    ],
    [
      'ChangeICCID without deviceIdsTo',
      '4g',
      (h) => ({ ...iccidChange(a(h)), deviceIdsTo: undefined }),
      'INPUT_INVALID.Device.NotDefined',
      'deviceIdsTo is required for ChangeICCID: the new iccid.',
    ],
    [
      'ChangeMSISDN with deviceIdsTo',
      '4g',
      (h) => msisdnChange(a(h), { assignNonGeoMdn: true, deviceIdsTo: [{ kind: 'iccid', id: NEW_ICCID }] }),
      'INPUT_INVALID.Parameter.Invalid',
      'deviceIdsTo must be left out with ChangeMSISDN: the hardware (IMEI or ICCID) and the MSISDN cannot change in the same request.',
    ],
    [
      'ChangeICCID with an IMEI as the new identifier',
      '4g',
      (h) => ({ ...iccidChange(a(h)), deviceIdsTo: [{ kind: 'imei', id: NEW_IMEI }] }),
      'INPUT_INVALID.Device.Kind.Invalid',
      'deviceIdsTo[0].kind imei does not fit ChangeICCID, which takes iccid.',
    ],
    [
      'ChangeIMEIandICCID without the new ICCID',
      '4g',
      (h) => ({
        ...iccidChange(a(h)),
        change4gOption: 'ChangeIMEIandICCID',
        deviceIdsTo: [{ kind: 'imei', id: NEW_IMEI }],
      }),
      'INPUT_INVALID.Device.Identifier.Missing',
      'deviceIdsTo must include the new iccid for ChangeIMEIandICCID.',
    ],
    [
      'ChangeIMEIandEID without the new EID',
      '4g',
      (h) => ({ ...euiccChange(a(h)), deviceIdsTo: [{ kind: 'imei', id: NEW_IMEI }] }),
      'INPUT_INVALID.Device.Identifier.Missing',
      'deviceIdsTo must include the new eid for ChangeIMEIandEID.',
    ],
    [
      'ChangeIMEIandEID with an ICCID too',
      '4g',
      (h) => ({
        ...euiccChange(a(h)),
        deviceIdsTo: [
          { kind: 'imei', id: NEW_IMEI },
          { kind: 'eid', id: NEW_EID },
          { kind: 'iccid', id: NEW_ICCID },
        ],
      }),
      'INPUT_INVALID.Device.Kind.Invalid',
      'deviceIdsTo[2].kind iccid does not fit ChangeIMEIandEID, which takes imei, eid.',
    ],
    [
      '4Gto3G without the MEID of the 3G device',
      '4g',
      (h) => ({ ...iccidChange(a(h)), change4gOption: '4Gto3G', deviceIdsTo: [{ kind: 'imei', id: NEW_IMEI }] }),
      'INPUT_INVALID.Device.Identifier.Missing',
      'deviceIdsTo must include the new meid for 4Gto3G.',
    ],
    [
      '3Gto4G with an EID',
      '4g',
      (h) => threeGto4G(g3(h), { deviceIdsTo: [{ kind: 'eid', id: NEW_EID }] }),
      'INPUT_INVALID.Device.Kind.Invalid',
      'deviceIdsTo[0].kind eid does not fit 3Gto4G, which takes imei, iccid.',
    ],
    [
      'a 3G change without the new MEID',
      '3g',
      (h) => ({ deviceIds: [{ kind: 'meid', id: g3(h).meid }], deviceIdsTo: [{ kind: 'imei', id: NEW_IMEI }] }),
      'INPUT_INVALID.Device.Identifier.Missing',
      'deviceIdsTo must include the new meid for a 3G change (serviceType 3g without change4gOption).',
    ],
    [
      'ChangeMSISDN without assignNonGeoMdn',
      '4g',
      (h) => msisdnChange(a(h), { npaNxx: '858692' }),
      'INPUT_INVALID.Parameter.NotDefined',
      'assignNonGeoMdn is required for ChangeMSISDN.',
    ],
    [
      'assignNonGeoMdn as a string',
      '4g',
      (h) => msisdnChange(a(h), { assignNonGeoMdn: 'false', npaNxx: '858692' }),
      'INPUT_INVALID.Parameter.Invalid',
      'assignNonGeoMdn must be true or false.',
    ],
    [
      'a geographic number without npaNxx',
      '4g',
      (h) => msisdnChange(a(h), { assignNonGeoMdn: false, zipCode: '92101' }),
      'INPUT_INVALID.Parameter.NotDefined',
      'npaNxx is required for ChangeMSISDN when assignNonGeoMdn is false.',
    ],
    [
      'an npaNxx of five digits',
      '4g',
      (h) => msisdnChange(a(h), { assignNonGeoMdn: false, npaNxx: '85869' }),
      'INPUT_INVALID.Parameter.Invalid',
      'npaNxx must be 6 digits: the area code and prefix.',
    ],
    [
      'a zipCode that is not a ZIP code',
      '4g',
      (h) => msisdnChange(a(h), { assignNonGeoMdn: false, npaNxx: '858692', zipCode: 'SW1A' }),
      'INPUT_INVALID.Parameter.Invalid',
      'zipCode must be a US ZIP code.',
    ],
    [
      'ChangeIMEIandEID without smsrOid',
      '4g',
      (h) => ({ ...euiccChange(a(h)), smsrOid: undefined }),
      'INPUT_INVALID.Parameter.NotDefined',
      'smsrOid is required for ChangeIMEIandEID.',
    ],
    [
      'an empty servicePlan',
      '4g',
      (h) => ({ ...iccidChange(a(h)), servicePlan: '' }),
      'INPUT_INVALID.Parameter.Invalid',
      'servicePlan must be a non-empty string when given.',
    ],
    [
      'a device ThingSpace does not know',
      '4g',
      (h) => ({ ...iccidChange(a(h)), deviceIds: [{ kind: 'imei', id: '490154203237518' }] }),
      'REQUEST_FAILED.DeviceNotFound',
      'Device imei 490154203237518 was not found.',
    ],
    [
      'identifiers of two different devices',
      '4g',
      (h) => ({
        ...iccidChange(a(h)),
        deviceIds: [
          { kind: 'mdn', id: MDN_4G_A },
          { kind: 'imei', id: device(h, MDN_4G_B).imei },
        ],
      }),
      'INPUT_INVALID.Device.Identifier.Mismatch',
      'The identifiers in deviceIds belong to different devices.',
    ],
    [
      'a suspended device',
      '4g',
      (h) => ({ ...iccidChange(a(h)), deviceIds: [{ kind: 'imei', id: byState(h, 'suspend').imei }] }),
      'INPUT_INVALID.DeviceState.Invalid',
      'The device is suspend; it must be in the Active state with an MDN/MSISDN assigned.',
    ],
    [
      'a deactivated device',
      '4g',
      (h) => ({ ...iccidChange(a(h)), deviceIds: [{ kind: 'imei', id: byState(h, 'deactive').imei }] }),
      'INPUT_INVALID.DeviceState.Invalid',
      'The device is deactive; it must be in the Active state with an MDN/MSISDN assigned.',
    ],
    [
      'an active device without an MDN',
      '4g',
      () => ({
        deviceIds: [{ kind: 'imei', id: '990013907800005' }],
        deviceIdsTo: [{ kind: 'iccid', id: NEW_ICCID }],
        change4gOption: 'ChangeICCID',
      }),
      'INPUT_INVALID.DeviceState.Invalid',
      'The device has no MDN; it must be in the Active state with an MDN/MSISDN assigned.',
      (h) => {
        h.sim.state.inventory.upsert([
          {
            accountName: ACCOUNT,
            iccid: '89148000009999000033',
            imei: '990013907800005',
            state: 'active',
            servicePlan: 'M2M4G1GB',
          },
        ]);
      },
    ],
    [
      '3Gto4G on a 4G device',
      '4g',
      (h) => ({ ...threeGto4G(g3(h)), deviceIds: [{ kind: 'mdn', id: MDN_4G_A }] }),
      'INPUT_INVALID.ServiceType.Invalid',
      'The device is a 4G device; 3Gto4G changes a 3G device.',
    ],
    [
      'ChangeICCID on a 3G device',
      '4g',
      (h) => iccidChange(g3(h)),
      'INPUT_INVALID.ServiceType.Invalid',
      'The device is a 3G device; ChangeICCID changes a 4G device.',
    ],
    [
      'a 3G change on a 4G device',
      '3g',
      () => ({
        deviceIds: [{ kind: 'mdn', id: MDN_4G_A }],
        deviceIdsTo: [
          { kind: 'meid', id: NEW_MEID },
          { kind: 'imei', id: NEW_IMEI },
        ],
      }),
      'INPUT_INVALID.ServiceType.Invalid',
      'The device is a 4G device; a 3G change (serviceType 3g without change4gOption) changes a 3G device.',
    ],
    [
      'a 3G plan for the 4G device of a 3Gto4G change',
      '4g',
      (h) => threeGto4G(g3(h), { servicePlan: 'M2M3G5GB' }),
      'INPUT_INVALID.Parameter.Invalid',
      'servicePlan M2M3G5GB is not compatible with a 4G device.',
    ],
    [
      "the device's own ICCID as the new one",
      '4g',
      (h) => iccidChange(a(h), a(h).iccid),
      'INPUT_INVALID.Device.SameDevice',
      `deviceIdsTo iccid 89148000001234507779 is the device's current iccid.`,
    ],
    [
      'a new SIM that is active on another line',
      '4g',
      (h) => iccidChange(a(h), device(h, MDN_4G_B).iccid),
      'REQUEST_FAILED.DeviceAlreadyActive',
      'The new SIM (iccid 89148000001234508140) is active on a line of service: it must be inactive and not associated with a billing account. Deactivate that line, then delete the device with POST /devices/actions/delete.',
    ],
    [
      'a new SIM the platform already knows, inactive',
      '4g',
      (h) => iccidChange(a(h), byState(h, 'pre-active').iccid),
      'REQUEST_FAILED.DeviceAlreadyExists',
      'is already in the ThingSpace Platform database. To reuse that hardware, first delete it with POST /devices/actions/delete.',
    ],
    [
      'a new IMEI of a device the platform already knows',
      '4g',
      (h) => ({
        ...iccidChange(a(h)),
        change4gOption: 'ChangeIMEI',
        deviceIdsTo: [{ kind: 'imei', id: byState(h, 'deactive').imei }],
      }),
      'REQUEST_FAILED.DeviceAlreadyExists',
      'imei 352911091015828 is already in the ThingSpace Platform database.',
    ],
    [
      'a new EID of an eUICC the platform already knows',
      '4g',
      (h) => ({
        ...euiccChange(a(h)),
        deviceIdsTo: [
          { kind: 'imei', id: NEW_IMEI },
          { kind: 'eid', id: byState(h, 'pre-active').eid },
        ],
      }),
      'REQUEST_FAILED.DeviceAlreadyExists',
      'first delete it with POST /devices/actions/delete.',
    ],
  ];

  // Every row gets a setup, so jest passes the same number of arguments to each (it reads one more as `done`).
  const rows = cases.map(([story, serviceType, body, code, message, setup]) => {
    const row: Required<Case> = [story, serviceType, body, code, message, setup ?? (() => undefined)];
    return row;
  });

  test.each(rows)(
    '%s is refused with the ThingSpace error code',
    async (_story, serviceType, body, code, message, setup) => {
      const h = await start();
      setup(h);
      const before = structuredClone(h.sim.state.inventory.all());
      const res = await h.change(serviceType, body(h));
      expect(res).toEqual({
        status: 400,
        body: { errorCode: `UnifiedWebService.${code}`, errorMessage: expect.stringContaining(message) },
      });
      expect(h.sim.state.changeIdentifierRequests).toEqual([]);
      expect(h.sim.state.dispatcher.pending()).toBe(0);
      expect(h.sim.state.inventory.all()).toEqual(before);
    },
  );

  test('the request needs the bearer token and the session, like every M2M call', async () => {
    const h = await start();
    const body = iccidChange(device(h, MDN_4G_A));
    const put = (headers: Record<string, string>) => h.call('PUT', '/devices/4g/actions/deviceId', body, headers);
    expect(await put({})).toMatchObject({ status: 401, body: { fault: { code: '900902' } } });
    expect(await put({ authorization: 'Bearer nope' })).toMatchObject({
      status: 401,
      body: { fault: { code: '900901' } },
    });
    expect(await put({ authorization: h.auth.authorization as string })).toEqual({
      status: 400,
      body: {
        errorCode: 'UnifiedWebService.INPUT_INVALID.SessionToken.Invalid',
        errorMessage: 'The VZ-M2M-Token header is missing.',
      },
    });
    expect(h.sim.state.changeIdentifierRequests).toEqual([]);
  });

  test('a new SIM that another pending change is about to take is refused until that change is done', async () => {
    const h = await start({ callbackDelayMs: 60_000 });
    const first = await h.change('4g', iccidChange(device(h, MDN_4G_A)));
    expect(first.status).toBe(200);
    const second = await h.change('4g', iccidChange(device(h, MDN_4G_B)));
    expect(second).toEqual({
      status: 400,
      body: {
        errorCode: 'UnifiedWebService.REQUEST_FAILED.DeviceAlreadyExists',
        errorMessage: `iccid ${NEW_ICCID} is being assigned to a device by request ${first.body.requestId as string}.`,
      },
    });
  });

  test('hardware a change replaced stays in the platform: reusing it is refused with the delete hint', async () => {
    const h = await start();
    const a = device(h, MDN_4G_A);
    await changeAndWait(h, '4g', {
      deviceIds: [{ kind: 'mdn', id: a.mdn }],
      deviceIdsTo: [{ kind: 'imei', id: NEW_IMEI }],
      change4gOption: 'ChangeIMEI',
    });
    const b = device(h, MDN_4G_B);
    const reuseImei = await h.change('4g', {
      deviceIds: [{ kind: 'mdn', id: b.mdn }],
      deviceIdsTo: [{ kind: 'imei', id: a.imei }],
      change4gOption: 'ChangeIMEI',
    });
    expect(reuseImei.body).toEqual({
      errorCode: 'UnifiedWebService.REQUEST_FAILED.DeviceAlreadyExists',
      errorMessage: `imei ${a.imei} is already in the ThingSpace Platform database. To reuse that hardware, first delete it with POST /devices/actions/delete.`,
    });
  });
});

describe('changeDeviceIdentifier outcomes', () => {
  test('ChangeICCID: the callback names the device as asked and reports the new SIM; the list shows the move', async () => {
    const h = await start();
    const a = device(h, MDN_4G_A);
    const { requestId, callback } = await changeAndWait(h, '4g', iccidChange(a));
    expect(callback).toEqual(
      success(requestId, [{ id: a.mdn, kind: 'MDN' }], [{ id: NEW_ICCID, kind: 'iccid' }], a.servicePlan),
    );

    const now = await listed(h, 'iccid', NEW_ICCID);
    expect(now.body.devices[0].deviceIds).toEqual([
      { id: a.eid, kind: 'eid' },
      { id: NEW_ICCID, kind: 'iccid' },
      { id: a.imei, kind: 'imei' },
      { id: a.mdn, kind: 'mdn' },
      { id: `1${a.mdn as string}`, kind: 'msisdn' },
    ]);
    expect(now.body.devices[0].carrierInformations).toEqual([
      { carrierName: 'Verizon Wireless', servicePlan: a.servicePlan, state: 'active' },
    ]);
    // The old SIM is still found, deactivated, so reconciliation by the old ICCID learns what happened.
    const old = await listed(h, 'iccid', a.iccid);
    expect(old.body.devices[0].carrierInformations[0].state).toBe('deactive');

    const records = (await json(`${h.control}/identifier-changes`, 'GET')).body;
    expect(records).toEqual([
      {
        requestId,
        accountName: ACCOUNT,
        submittedAt: expect.any(String),
        serviceType: '4g',
        change4gOption: 'ChangeICCID',
        deviceNumber: a.deviceNumber,
        deviceIds: [{ kind: 'mdn', id: a.mdn }],
        before: [
          { id: a.eid, kind: 'eid' },
          { id: a.iccid, kind: 'iccid' },
          { id: a.imei, kind: 'imei' },
          { id: a.mdn, kind: 'mdn' },
          { id: `1${a.mdn as string}`, kind: 'msisdn' },
        ],
        newDeviceIds: [{ id: NEW_ICCID, kind: 'iccid' }],
        servicePlan: a.servicePlan,
        replaced: [{ id: a.iccid, kind: 'iccid' }],
        status: 'completed',
      },
    ]);
    expect((await json(`${h.control}/requests?operation=changeDeviceIdentifier`, 'GET')).body).toEqual([
      {
        operation: 'changeDeviceIdentifier',
        method: 'PUT',
        path: '/api/m2m/v1/devices/4g/actions/deviceId',
        status: 200,
        at: expect.any(String),
      },
    ]);
    expect((await json(`${h.control}/callbacks`, 'GET')).body).toEqual([
      {
        service: 'CarrierService',
        step: 'changeDeviceIdentifier',
        requestId,
        url: expect.stringMatching(/\/callbacks\/CarrierService$/),
        callbackCount: 1,
        outcome: 'delivered',
        httpStatus: 200,
        at: expect.any(String),
      },
    ]);
  });

  test('ChangeIMEI keeps the SIM and its EID; ChangeIMEIandICCID replaces both and drops the EID', async () => {
    const h = await start();
    const a = device(h, MDN_4G_A);
    await changeAndWait(h, '4g', {
      deviceIds: [{ kind: 'iccid', id: a.iccid }],
      deviceIdsTo: [{ kind: 'imei', id: NEW_IMEI }],
      change4gOption: 'ChangeIMEI',
    });
    expect(h.sim.state.inventory.find('mdn', MDN_4G_A)).toMatchObject({
      eid: a.eid,
      iccid: a.iccid,
      imei: NEW_IMEI,
      smsrOid: SMSR,
    });

    const b = device(h, MDN_4G_B);
    h.received.length = 0;
    const { requestId, callback } = await changeAndWait(h, '4g', {
      deviceIds: [{ kind: 'eid', id: b.eid }],
      deviceIdsTo: [
        { kind: 'imei', id: '990013907835573' },
        { kind: 'iccid', id: NEW_ICCID },
      ],
      change4gOption: 'ChangeIMEIandICCID',
      servicePlan: 'M2M4G5GB',
    });
    expect(callback).toEqual(
      success(
        requestId,
        [{ id: b.eid, kind: 'EID' }],
        [
          { id: '990013907835573', kind: 'imei' },
          { id: NEW_ICCID, kind: 'iccid' },
        ],
        'M2M4G5GB',
      ),
    );
    const after = (await listed(h, 'mdn', MDN_4G_B)).body.devices[0];
    expect(after.deviceIds).toEqual([
      { id: NEW_ICCID, kind: 'iccid' },
      { id: '990013907835573', kind: 'imei' },
      { id: MDN_4G_B, kind: 'mdn' },
      { id: `1${MDN_4G_B}`, kind: 'msisdn' },
    ]);
    expect(after.carrierInformations[0].servicePlan).toBe('M2M4G5GB');
    expect(after.extendedAttributes).toEqual([{ key: 'DeviceId', value: String(b.deviceNumber) }]);
  });

  test('ChangeMSISDN with a non-geographic number: a 544 number, reported as MDN and MSISDN', async () => {
    const h = await start();
    const a = device(h, MDN_4G_A);
    const { requestId, callback } = await changeAndWait(h, '4g', msisdnChange(a, { assignNonGeoMdn: true }));
    const record = h.sim.state.changeIdentifierRequests[0];
    const mdn = record?.newMdn?.mdn as string;
    expect(record?.newMdn).toEqual({ mdn: expect.stringMatching(/^544[2-9]\d{6}$/), source: 'nonGeo' });
    expect(callback).toEqual(
      success(
        requestId,
        [{ id: a.imei, kind: 'IMEI' }],
        [
          { id: mdn, kind: 'mdn' },
          { id: `1${mdn}`, kind: 'msisdn' },
        ],
        a.servicePlan,
      ),
    );
    const now = (await listed(h, 'mdn', mdn)).body.devices[0];
    expect(now.deviceIds).toEqual([
      { id: a.eid, kind: 'eid' },
      { id: a.iccid, kind: 'iccid' },
      { id: a.imei, kind: 'imei' },
      { id: mdn, kind: 'mdn' },
      { id: `1${mdn}`, kind: 'msisdn' },
    ]);
    // The old number is released with the change.
    expect((await listed(h, 'mdn', a.mdn as string)).body.errorCode).toBe(
      'UnifiedWebService.REQUEST_FAILED.DeviceNotFound',
    );
  });

  test('ChangeMSISDN from an NPA-NXX with numbers available: the new MDN starts with it', async () => {
    const h = await start();
    const a = device(h, MDN_4G_A);
    await changeAndWait(h, '4g', msisdnChange(a, { assignNonGeoMdn: false, npaNxx: '858692', zipCode: '92101' }));
    const newMdn = h.sim.state.changeIdentifierRequests[0]?.newMdn;
    expect(newMdn).toEqual({ mdn: expect.stringMatching(/^858692\d{4}$/), source: 'npaNxx' });
    expect(h.sim.state.inventory.find('imei', a.imei)?.mdn).toBe(newMdn?.mdn);
  });

  test('ChangeMSISDN from an exhausted NPA-NXX falls back to the zipCode', async () => {
    const h = await start();
    const a = device(h, MDN_4G_A);
    const { requestId, callback } = await changeAndWait(
      h,
      '4g',
      msisdnChange(a, { assignNonGeoMdn: false, npaNxx: '202555', zipCode: '98802' }),
    );
    const newMdn = h.sim.state.changeIdentifierRequests[0]?.newMdn;
    // 98802: NPA 3 (9 mod 8 + 2) 88, NXX 2 (0 mod 8 + 2) 2 0.
    expect(newMdn).toEqual({ mdn: expect.stringMatching(/^388220\d{4}$/), source: 'zipCode' });
    expect(callback.status).toBe('Success');
    expect(callback.requestId).toBe(requestId);
    expect(callback.deviceResponse.changeIdentifierResponse.deviceIds[0]).toEqual({ id: newMdn?.mdn, kind: 'mdn' });
  });

  test('ChangeMSISDN from an exhausted NPA-NXX without a zipCode fails by callback and keeps the number', async () => {
    const h = await start();
    const a = device(h, MDN_4G_A);
    const { requestId, callback } = await changeAndWait(
      h,
      '4g',
      msisdnChange(a, { assignNonGeoMdn: false, npaNxx: '202555' }),
    );
    expect(callback).toEqual(
      failed(
        requestId,
        [{ id: a.imei, kind: 'IMEI' }],
        'CarrierService.REQUEST_FAILED.MdnNotAvailable',
        'No number is available in NPA-NXX 202555, and no zipCode was given to assign one from.',
      ),
    );
    expect(h.sim.state.inventory.find('imei', a.imei)).toEqual(a);
    expect(h.sim.state.changeIdentifierRequests[0]?.status).toBe('failed');
  });

  test('ChangeIMEIandEID: a new eUICC device takes the line and the SMSR; the ICCID stays for the profile', async () => {
    const h = await start();
    const a = device(h, MDN_4G_A);
    const smsrOid = '1.3.6.1.4.1.31746.1.500.200.101.9';
    const { requestId, callback } = await changeAndWait(h, '4g', { ...euiccChange(a), smsrOid });
    expect(callback).toEqual(
      success(
        requestId,
        [{ id: a.mdn, kind: 'MDN' }],
        [
          { id: NEW_IMEI, kind: 'imei' },
          { id: NEW_EID, kind: 'eid' },
        ],
        a.servicePlan,
      ),
    );
    const now = (await listed(h, 'eid', NEW_EID)).body.devices[0];
    expect(now.deviceIds).toEqual([
      { id: NEW_EID, kind: 'eid' },
      { id: a.iccid, kind: 'iccid' },
      { id: NEW_IMEI, kind: 'imei' },
      { id: a.mdn, kind: 'mdn' },
      { id: `1${a.mdn as string}`, kind: 'msisdn' },
    ]);
    expect(now.extendedAttributes).toEqual([
      { key: 'DeviceId', value: String(a.deviceNumber) },
      { key: 'SmsrOid', value: smsrOid },
    ]);
    expect(h.sim.state.changeIdentifierRequests[0]?.replaced).toEqual([
      { id: a.imei, kind: 'imei' },
      { id: a.eid, kind: 'eid' },
    ]);
  });

  test('3Gto4G with a 4G servicePlan: the MEID goes, the new IMEI and SIM and the plan arrive', async () => {
    const h = await start();
    const g3 = device(h, MDN_3G);
    const { requestId, callback } = await changeAndWait(h, '4g', threeGto4G(g3, { servicePlan: 'M2M4G1GB' }));
    expect(callback).toEqual(
      success(
        requestId,
        [{ id: g3.meid, kind: 'MEID' }],
        [
          { id: NEW_IMEI, kind: 'imei' },
          { id: NEW_ICCID, kind: 'iccid' },
        ],
        'M2M4G1GB',
      ),
    );
    const now = (await listed(h, 'mdn', MDN_3G)).body.devices[0];
    expect(now.deviceIds).toEqual([
      { id: NEW_ICCID, kind: 'iccid' },
      { id: NEW_IMEI, kind: 'imei' },
      { id: MDN_3G, kind: 'mdn' },
      { id: `1${MDN_3G}`, kind: 'msisdn' },
    ]);
    expect(now.carrierInformations).toEqual([
      { carrierName: 'Verizon Wireless', servicePlan: 'M2M4G1GB', state: 'active' },
    ]);
    expect((await listed(h, 'meid', g3.meid as string)).body.errorCode).toBe(
      'UnifiedWebService.REQUEST_FAILED.DeviceNotFound',
    );
  });

  test('3Gto4G without a servicePlan, from a 3G plan, fails: a compatible servicePlan is probably needed', async () => {
    const h = await start();
    const g3 = device(h, MDN_3G);
    const { requestId, callback } = await changeAndWait(h, '3g', threeGto4G(g3));
    expect(callback).toEqual(
      failed(
        requestId,
        [{ id: g3.meid, kind: 'MEID' }],
        'CarrierService.REQUEST_FAILED.ServicePlanNotCompatible',
        'Service plan M2M3G1GB is not compatible with a 4G device; a 4G-compatible servicePlan is probably needed.',
      ),
    );
    expect(h.sim.state.inventory.find('mdn', MDN_3G)).toEqual(g3);
    // Nothing was assigned, so the SIM is free for the next attempt.
    h.received.length = 0;
    await changeAndWait(h, '3g', threeGto4G(g3, { servicePlan: 'M2M4G1GB' }));
    expect(h.sim.state.inventory.find('mdn', MDN_3G)?.imei).toBe(NEW_IMEI);
  });

  test('4Gto3G with a 3G servicePlan: the device gets an MEID and loses its EID; then a 3G change works on it', async () => {
    const h = await start();
    const a = device(h, MDN_4G_A);
    await changeAndWait(h, '4g', {
      deviceIds: [{ kind: 'mdn', id: a.mdn }],
      deviceIdsTo: [
        { kind: 'meid', id: NEW_MEID },
        { kind: 'imei', id: NEW_IMEI },
      ],
      change4gOption: '4Gto3G',
      servicePlan: 'M2M3G1GB',
    });
    expect((await listed(h, 'mdn', MDN_4G_A)).body.devices[0].deviceIds).toEqual([
      { id: a.iccid, kind: 'iccid' },
      { id: NEW_IMEI, kind: 'imei' },
      { id: NEW_MEID, kind: 'meid' },
      { id: MDN_4G_A, kind: 'mdn' },
      { id: `1${MDN_4G_A}`, kind: 'msisdn' },
    ]);

    h.received.length = 0;
    const { callback } = await changeAndWait(h, '3g', {
      deviceIds: [{ kind: 'meid', id: NEW_MEID }],
      deviceIdsTo: [
        { kind: 'meid', id: 'A1000002999991' },
        { kind: 'imei', id: '990013907835573' },
      ],
    });
    expect(callback.status).toBe('Success');
    expect(h.sim.state.inventory.find('mdn', MDN_4G_A)).toMatchObject({
      meid: 'A1000002999991',
      imei: '990013907835573',
      servicePlan: 'M2M3G1GB',
    });
  });

  test('4Gto3G without a servicePlan, from a 4G plan, fails by callback', async () => {
    const h = await start();
    const a = device(h, MDN_4G_A);
    const { callback } = await changeAndWait(h, '4g', {
      deviceIds: [{ kind: 'mdn', id: a.mdn }],
      deviceIdsTo: [
        { kind: 'meid', id: NEW_MEID },
        { kind: 'imei', id: NEW_IMEI },
      ],
      change4gOption: '4Gto3G',
    });
    expect(callback.faultResponse).toEqual({
      faultcode: 'CarrierService.REQUEST_FAILED.ServicePlanNotCompatible',
      faultstring: `Service plan ${a.servicePlan} is not compatible with a 3G device; a 3G-compatible servicePlan is probably needed.`,
    });
    expect(h.sim.state.inventory.find('mdn', MDN_4G_A)).toEqual(a);
  });

  test('when the device stops being active before the callback, the change fails and changes nothing', async () => {
    const h = await start({ callbackDelayMs: 300 });
    const a = device(h, MDN_4G_A);
    const res = await h.change('4g', iccidChange(a));
    expect(res.status).toBe(200);
    const live = h.sim.state.inventory.find('mdn', MDN_4G_A) as SimDevice;
    live.state = 'suspend';
    await waitFor(() => h.received.length === 1);
    expect(h.received[0]?.body).toEqual(
      failed(
        res.body.requestId as string,
        [{ id: a.mdn, kind: 'MDN' }],
        'CarrierService.INPUT_INVALID.DeviceState.Invalid',
        'The device is no longer in the Active state with an MDN/MSISDN assigned.',
      ),
    );
    expect(live.iccid).toBe(a.iccid);
  });

  test('when the new SIM is given to another device before the callback, the change fails', async () => {
    const h = await start({ callbackDelayMs: 300 });
    const a = device(h, MDN_4G_A);
    const res = await h.change('4g', iccidChange(a));
    expect(res.status).toBe(200);
    const seeded = await json(`${h.control}/devices`, 'POST', {
      accountName: ACCOUNT,
      iccid: NEW_ICCID,
      imei: '990013907800005',
      state: 'pre-active',
      servicePlan: 'M2M4G1GB',
    });
    expect(seeded.status).toBe(200);
    await waitFor(() => h.received.length === 1);
    expect(h.received[0]?.body.faultResponse).toEqual({
      faultcode: 'CarrierService.REQUEST_FAILED.DeviceAlreadyExists',
      faultstring: `iccid ${NEW_ICCID} was given to another device before the change completed.`,
    });
    expect(h.sim.state.inventory.find('mdn', MDN_4G_A)?.iccid).toBe(a.iccid);
  });
});

describe('changeDeviceIdentifier callback faults', () => {
  test('fail: the callback reports the injected fault and the inventory is left alone', async () => {
    const h = await start();
    await faults(h, {
      callbacks: {
        fail: { changeDeviceIdentifier: { faultcode: 'REQUEST_FAILED.UnexpectedError', faultstring: 'Try later' } },
      },
    });
    const a = device(h, MDN_4G_A);
    const { requestId, callback } = await changeAndWait(h, '4g', iccidChange(a));
    expect(callback).toEqual(
      failed(requestId, [{ id: a.mdn, kind: 'MDN' }], 'CarrierService.REQUEST_FAILED.UnexpectedError', 'Try later'),
    );
    expect(h.sim.state.inventory.find('mdn', MDN_4G_A)).toEqual(a);
    expect(h.sim.state.changeIdentifierRequests[0]).toMatchObject({
      status: 'failed',
      failure: { faultcode: 'REQUEST_FAILED.UnexpectedError', faultstring: 'Try later' },
      replaced: [],
    });
  });

  test('a swap step failure does not fail an identifier change', async () => {
    const h = await start();
    await faults(h, { callbacks: { fail: { identifierChange: { faultstring: 'swap only' } } } });
    const { callback } = await changeAndWait(h, '4g', iccidChange(device(h, MDN_4G_A)));
    expect(callback.status).toBe('Success');
  });

  test('never: no callback and no change, and nothing stays pending', async () => {
    const h = await start();
    await faults(h, { callbacks: { never: ['changeDeviceIdentifier'] } });
    const a = device(h, MDN_4G_A);
    const res = await h.change('4g', iccidChange(a));
    expect(res.status).toBe(200);
    await quiet(h);
    expect(h.received).toEqual([]);
    expect(h.sim.state.inventory.find('mdn', MDN_4G_A)).toEqual(a);
    expect(h.sim.state.changeIdentifierRequests[0]?.status).toBe('never');
  });

  test('beforeResponse: the callback reaches the listener before the request is answered', async () => {
    const h = await start({ callbackDelayMs: 500 });
    await faults(h, { callbacks: { beforeResponse: ['changeDeviceIdentifier'] } });
    const res = await h.change('4g', iccidChange(device(h, MDN_4G_A)));
    expect(h.received.map((r) => [r.body.requestId, r.body.status])).toEqual([[res.body.requestId, 'Success']]);
    expect(h.sim.state.inventory.find('mdn', MDN_4G_A)?.iccid).toBe(NEW_ICCID);
  });

  test('duplicate: 1 delivers the callback twice, the copy with callbackCount 2', async () => {
    const h = await start();
    await faults(h, { callbacks: { duplicate: 1 } });
    await h.change('4g', iccidChange(device(h, MDN_4G_A)));
    await waitFor(() => h.received.length === 2);
    await quiet(h);
    const [first, copy] = h.received.map((r) => r.body);
    expect(first.callbackCount).toBe(1);
    expect(copy).toEqual({ ...first, callbackCount: 2 });
  });

  test('drop: 1 sends no callback, but the change happens and the device list shows it', async () => {
    const h = await start();
    await faults(h, { callbacks: { drop: 1 } });
    const res = await h.change('4g', iccidChange(device(h, MDN_4G_A)));
    await quiet(h);
    expect(h.received).toEqual([]);
    expect((await json(`${h.control}/callbacks?requestId=${res.body.requestId as string}`, 'GET')).body).toEqual([
      expect.objectContaining({ step: 'changeDeviceIdentifier', outcome: 'dropped' }),
    ]);
    expect((await listed(h, 'mdn', MDN_4G_A)).body.devices[0].deviceIds[1]).toEqual({ id: NEW_ICCID, kind: 'iccid' });
  });

  test('a response fault answers 503 without changing anything; a processed one still makes the change', async () => {
    const h = await start();
    await faults(h, {
      responses: [
        { operation: 'changeDeviceIdentifier', status: 503 },
        { operation: 'changeDeviceIdentifier', status: 500, processed: true },
      ],
    });
    const a = device(h, MDN_4G_A);
    const refused = await h.change('4g', iccidChange(a));
    expect(refused.status).toBe(503);
    expect(h.sim.state.changeIdentifierRequests).toEqual([]);
    const processed = await h.change('4g', iccidChange(a));
    expect(processed.status).toBe(500);
    await waitFor(() => h.received.length === 1);
    expect(h.received[0]?.body.status).toBe('Success');
  });

  test('a reset forgets the accepted changes', async () => {
    const h = await start();
    await changeAndWait(h, '4g', iccidChange(device(h, MDN_4G_A)));
    expect((await json(`${h.control}/reset`, 'POST', {})).status).toBe(200);
    expect((await json(`${h.control}/identifier-changes`, 'GET')).body).toEqual([]);
    expect(h.sim.state.inventory.find('mdn', MDN_4G_A)?.iccid).not.toBe(NEW_ICCID);
  });
});

describe('changeDeviceIdentifier model', () => {
  test('a plan code names its technology by 3G or 4G, never by a data amount like 3GB', () => {
    expect(planTechnology('M2M3G1GB')).toBe('3g');
    expect(planTechnology('M2M4G3GB')).toBe('4g');
    expect(planTechnology('4G 2GB')).toBe('4g');
    expect(planTechnology('M2M_4G')).toBe('4g');
    expect(planTechnology('M2M13GB')).toBeUndefined();
    expect(planTechnology('3G4G_FLEX')).toBeUndefined();
  });

  test('a ZIP code maps to an NPA-NXX whose NXX ends in 0, so it is never the exhausted 555', () => {
    expect(zipNpaNxx('98802')).toBe('388220');
    expect(zipNpaNxx('10001')).toBe('300210');
    expect(zipNpaNxx('55555')).toBe('755750');
  });

  test('the bundled fixture has two active 4G devices and an active 3G device with MDNs for demos', async () => {
    const h = await start();
    for (const mdn of [MDN_4G_A, MDN_4G_B]) {
      expect(device(h, mdn)).toMatchObject({ state: 'active', eid: expect.any(String) });
      expect(device(h, mdn).meid).toBeUndefined();
    }
    expect(device(h, MDN_3G)).toMatchObject({ state: 'active', meid: 'A10000A1B2C3D4', servicePlan: 'M2M3G1GB' });
  });
});
