/**
 * The ThingSpace simulator's bulk eSIM profile operations (change-profile-service-plan.txt,
 * activate-euicc-profile.txt): validation, the 10,000-device and 100-activations-a-minute limits, one
 * DeviceProfileService callback per device, per-device failures and warnings, pacing, and the control API
 * that seeds many devices and shows the requests. Real HTTP on port 0, with a listener on port 0.
 */
import express from 'express';
import { createSimulator, type SimulatorOptions } from '../../simulator/app.js';
import { Inventory } from '../../simulator/platform/devices/inventory.js';
import { listen as listenSimulator, type RunningSimulator } from '../../simulator/server.js';
import { listen } from '../fixtures/http.js';
import { json, loginToSimulator, waitFor as waitUntil, type Json } from '../fixtures/simulator-client.js';

/** Bulk deliveries take longer than the fixture's default wait. */
const waitFor = (condition: () => boolean | Promise<boolean>, timeoutMs = 10_000) => waitUntil(condition, timeoutMs);

const ACCOUNT = '0000123456-00001';
const OTHER_ACCOUNT = '0000777777-00001';
const SERVICE_PLAN = '/devices/profile/actions/serviceplan';
const ACTIVATE = '/devices/profile/actions/activate';

/** Well formed, and known to no account. */
const UNKNOWN_EID = '89049032009999000000000000000017';
const UNKNOWN_ICCID = '89148099990000000017';

const PLACE_OF_USE = {
  customerName: { title: 'Mr', firstName: 'Jean-Luc #1!', lastName: 'Picard' },
  address: { addressLine1: '1600 Main Street', city: 'Austin', state: 'TX', zip: '78701', country: 'US' },
};

class Clock {
  t = Date.parse('2025-06-01T12:00:00Z');
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

interface Received {
  body: Json;
  at: number;
}

interface Listener {
  url: string;
  received: Received[];
  /** Answer delay per callback. */
  delayMs: number;
  open: number;
  maxOpen: number;
}

interface Harness {
  running: RunningSimulator;
  sim: ReturnType<typeof createSimulator>;
  clock: Clock;
  control: string;
  listener: Listener;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json; headers: Headers }>;
}

interface Generated {
  eid: string;
  iccid: string;
  imei: string;
  mdn?: string;
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function startListener(): Promise<Listener> {
  const app = express();
  app.use(express.json());
  const listener: Listener = { url: '', received: [], delayMs: 0, open: 0, maxOpen: 0 };
  app.post('/callbacks/DeviceProfileService', (req, res) => {
    listener.received.push({ body: req.body, at: Date.now() });
    listener.open++;
    listener.maxOpen = Math.max(listener.maxOpen, listener.open);
    setTimeout(() => {
      listener.open--;
      res.status(200).end();
    }, listener.delayMs);
  });
  const running = await listen(app);
  listener.url = running.url;
  cleanups.push(running.close);
  return listener;
}

/** A simulator with a logged-in client and a DeviceProfileService listener registered for ACCOUNT. */
async function start(options: SimulatorOptions = {}): Promise<Harness> {
  const clock = new Clock();
  const sim = createSimulator({
    now: clock.now,
    callbackDelayMs: 10,
    retryIntervalMs: 20,
    profileCallbacksPerSecond: Infinity,
    ...options,
  });
  const running = await listenSimulator(sim, 0);
  cleanups.push(() => running.stop());
  const listener = await startListener();
  const { call } = await loginToSimulator(`${running.url}/api`);
  const registered = await call('POST', `/callbacks/${ACCOUNT}`, {
    name: 'DeviceProfileService',
    url: `${listener.url}/callbacks/DeviceProfileService`,
    username: 'gw-user',
    password: 'gw-secret',
  });
  expect(registered.status).toBe(200);
  return { running, sim, clock, control: `${running.url}/__sim`, listener, call };
}

async function pending(h: Harness): Promise<number> {
  return (await json(`${h.control}/callbacks/pending`, 'GET')).body.pending as number;
}

/** Waits until the simulator has nothing left to generate or deliver. */
async function quiet(h: Harness): Promise<void> {
  await waitFor(async () => (await pending(h)) === 0);
}

async function faults(h: Harness, body: unknown): Promise<void> {
  expect((await json(`${h.control}/faults`, 'POST', body)).status).toBe(200);
}

async function generate(h: Harness, body: Record<string, unknown>): Promise<Generated[]> {
  const res = await json(`${h.control}/devices/generate`, 'POST', {
    accountName: ACCOUNT,
    servicePlan: 'M2M4G1GB',
    ...body,
  });
  expect(res.status).toBe(200);
  return res.body.devices as Generated[];
}

function planDevice(d: { eid?: string; iccid: string }) {
  return {
    deviceIds: [
      { kind: 'eid', id: d.eid },
      { kind: 'iccid', id: d.iccid },
    ],
  };
}

function servicePlanBody(devices: { eid?: string; iccid: string }[], servicePlan = 'M2M4G5GB') {
  return { accountName: ACCOUNT, devices: devices.map(planDevice), servicePlan };
}

function activateBody(devices: { eid?: string; iccid: string }[], extra: Record<string, unknown> = {}) {
  return { accountName: ACCOUNT, devices: devices.map(planDevice), ...extra };
}

async function submit(h: Harness, path: string, body: unknown): Promise<string> {
  const res = await h.call('POST', path, body);
  expect(res.status).toBe(200);
  expect(res.body).toEqual({
    requestId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
  });
  return res.body.requestId as string;
}

async function detail(h: Harness, requestId: string): Promise<Json> {
  return (await json(`${h.control}/profile-requests/${requestId}`, 'GET')).body;
}

/** The callbacks the listener received for a device, by its ICCID. */
function callbacksOf(h: Harness, iccid: string): Json[] {
  return h.listener.received.map((r) => r.body).filter((b) => (b.deviceIds as Json[]).some((d) => d.id === iccid));
}

function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

describe('request validation', () => {
  const PLAN_OK = servicePlanBody([{ eid: UNKNOWN_EID, iccid: UNKNOWN_ICCID }]);
  const ACTIVATE_OK = activateBody([{ eid: UNKNOWN_EID, iccid: UNKNOWN_ICCID }], { primaryPlaceOfUse: PLACE_OF_USE });
  const withPlace = (change: (p: Json) => void): Json => {
    const body = structuredClone(ACTIVATE_OK) as Json;
    change(body.primaryPlaceOfUse);
    return body;
  };
  const cases: [string, string, unknown, string, string][] = [
    [
      'a body that is not an object',
      SERVICE_PLAN,
      [],
      'INPUT_INVALID.RequestUndefined',
      'The request body must be a JSON object.',
    ],
    [
      'no accountName',
      SERVICE_PLAN,
      { ...PLAN_OK, accountName: undefined },
      'INPUT_INVALID.Account.NotDefined',
      'accountName is required.',
    ],
    [
      'no devices',
      SERVICE_PLAN,
      { ...PLAN_OK, devices: undefined },
      'INPUT_INVALID.Device.NotDefined',
      'devices is required: a list of {deviceIds: [{kind, id}]}.',
    ],
    [
      'an empty device list',
      ACTIVATE,
      { ...ACTIVATE_OK, devices: [] },
      'INPUT_INVALID.Device.NotDefined',
      'devices is required: a list of {deviceIds: [{kind, id}]}.',
    ],
    [
      'a device without deviceIds',
      ACTIVATE,
      { ...ACTIVATE_OK, devices: [{ ids: [] }] },
      'INPUT_INVALID.Device.Identifier.Invalid',
      'devices[0] must be an object with a non-empty deviceIds list.',
    ],
    [
      'an imei in a service plan change',
      SERVICE_PLAN,
      {
        ...PLAN_OK,
        devices: [
          {
            deviceIds: [
              { kind: 'eid', id: UNKNOWN_EID },
              { kind: 'IMEI', id: '350420000000014' },
            ],
          },
        ],
      },
      'INPUT_INVALID.Device.Kind.Invalid',
      "devices[0].deviceIds[1].kind 'IMEI' is not accepted here; use eid, iccid.",
    ],
    [
      'an msisdn in an activation',
      ACTIVATE,
      { ...ACTIVATE_OK, devices: [{ deviceIds: [{ kind: 'msisdn', id: '12025550101' }] }] },
      'INPUT_INVALID.Device.Kind.Invalid',
      "devices[0].deviceIds[0].kind 'msisdn' is not accepted here; use imei, iccid, mdn, eid.",
    ],
    [
      'a kind without a value',
      ACTIVATE,
      { ...ACTIVATE_OK, devices: [{ deviceIds: [{ id: UNKNOWN_EID }] }] },
      'INPUT_INVALID.Device.Kind.Invalid',
      "devices[0].deviceIds[0].kind 'undefined' is not a valid device kind.",
    ],
    [
      'a 31-digit eid',
      SERVICE_PLAN,
      servicePlanBody([{ eid: UNKNOWN_EID.slice(1), iccid: UNKNOWN_ICCID }]),
      'INPUT_INVALID.Device.Identifier.Invalid',
      'devices[0].deviceIds[0].id is not a valid eid.',
    ],
    [
      'a kind named twice for one device',
      ACTIVATE,
      {
        ...ACTIVATE_OK,
        devices: [
          {
            deviceIds: [
              { kind: 'eid', id: UNKNOWN_EID },
              { kind: 'Eid', id: UNKNOWN_EID },
            ],
          },
        ],
      },
      'INPUT_INVALID.Device.Identifier.Invalid',
      'devices[0] lists kind eid more than once.',
    ],
    [
      'a service plan change without the iccid',
      SERVICE_PLAN,
      { ...PLAN_OK, devices: [{ deviceIds: [{ kind: 'eid', id: UNKNOWN_EID }] }] },
      'INPUT_INVALID.Device.Identifier.Missing',
      "devices[0] must include the device's iccid: both eid and iccid must be present.",
    ],
    [
      'a service plan change without the eid',
      SERVICE_PLAN,
      { ...PLAN_OK, devices: [{ deviceIds: [{ kind: 'iccid', id: UNKNOWN_ICCID }] }] },
      'INPUT_INVALID.Device.Identifier.Missing',
      "devices[0] must include the device's eid: both eid and iccid must be present.",
    ],
    [
      'the same identifier in two devices',
      ACTIVATE,
      {
        ...ACTIVATE_OK,
        devices: [{ deviceIds: [{ kind: 'eid', id: UNKNOWN_EID }] }, { deviceIds: [{ kind: 'eid', id: UNKNOWN_EID }] }],
      },
      'INPUT_INVALID.Device.Duplicate',
      `devices[1] and devices[0] both name eid ${UNKNOWN_EID}: name each device once.`,
    ],
    [
      'no servicePlan',
      SERVICE_PLAN,
      { ...PLAN_OK, servicePlan: undefined },
      'INPUT_INVALID.Parameter.NotDefined',
      'servicePlan is required: the name of the plan to change to.',
    ],
    [
      'a blank servicePlan',
      SERVICE_PLAN,
      { ...PLAN_OK, servicePlan: '  ' },
      'INPUT_INVALID.Parameter.NotDefined',
      'servicePlan is required: the name of the plan to change to.',
    ],
    [
      'an unknown account',
      SERVICE_PLAN,
      { ...PLAN_OK, accountName: '0000999999-00009' },
      'REQUEST_FAILED.AccountNotFound',
      'Account 0000999999-00009 was not found.',
    ],
    [
      'an empty activation servicePlan',
      ACTIVATE,
      { ...ACTIVATE_OK, servicePlan: '' },
      'INPUT_INVALID.Parameter.Invalid',
      'servicePlan must be a non-empty string when given.',
    ],
    [
      'a numeric carrierName',
      ACTIVATE,
      { ...ACTIVATE_OK, carrierName: 7 },
      'INPUT_INVALID.Parameter.Invalid',
      'carrierName must be a non-empty string when given.',
    ],
    [
      'a numeric carrierIpPoolName',
      ACTIVATE,
      { ...ACTIVATE_OK, carrierIpPoolName: 7 },
      'INPUT_INVALID.Parameter.Invalid',
      'carrierIpPoolName must be a string when given.',
    ],
    [
      'a 4-digit mdnZipCode',
      ACTIVATE,
      { ...ACTIVATE_OK, mdnZipCode: '9880' },
      'INPUT_INVALID.Parameter.Invalid',
      'mdnZipCode must be a 5-digit zip code.',
    ],
    [
      'a primaryPlaceOfUse that is not an object',
      ACTIVATE,
      { ...ACTIVATE_OK, primaryPlaceOfUse: 'Austin' },
      'INPUT_INVALID.Parameter.Invalid',
      'primaryPlaceOfUse must be an object with customerName and address.',
    ],
    [
      'no customerName',
      ACTIVATE,
      withPlace((p) => delete p.customerName),
      'INPUT_INVALID.Parameter.NotDefined',
      'primaryPlaceOfUse.customerName is required: an object with firstName and lastName.',
    ],
    [
      'no firstName',
      ACTIVATE,
      withPlace((p) => delete p.customerName.firstName),
      'INPUT_INVALID.Parameter.NotDefined',
      'primaryPlaceOfUse.customerName.firstName is required.',
    ],
    [
      'a 21-character firstName',
      ACTIVATE,
      withPlace((p) => (p.customerName.firstName = 'A'.repeat(21))),
      'INPUT_INVALID.Parameter.Invalid',
      "primaryPlaceOfUse.customerName.firstName must be at most 20 letters, digits, spaces, '-', '!' or '#'.",
    ],
    [
      'a firstName with an @',
      ACTIVATE,
      withPlace((p) => (p.customerName.firstName = 'Ann@home')),
      'INPUT_INVALID.Parameter.Invalid',
      "primaryPlaceOfUse.customerName.firstName must be at most 20 letters, digits, spaces, '-', '!' or '#'.",
    ],
    [
      'no lastName',
      ACTIVATE,
      withPlace((p) => (p.customerName.lastName = '')),
      'INPUT_INVALID.Parameter.NotDefined',
      'primaryPlaceOfUse.customerName.lastName is required.',
    ],
    [
      'a 26-character lastName',
      ACTIVATE,
      withPlace((p) => (p.customerName.lastName = 'B'.repeat(26))),
      'INPUT_INVALID.Parameter.Invalid',
      "primaryPlaceOfUse.customerName.lastName must be at most 25 letters, digits, spaces, '-', '!' or '#'.",
    ],
    [
      'a numeric middleName',
      ACTIVATE,
      withPlace((p) => (p.customerName.middleName = 3)),
      'INPUT_INVALID.Parameter.Invalid',
      'primaryPlaceOfUse.customerName.middleName must be a string.',
    ],
    [
      'no address',
      ACTIVATE,
      withPlace((p) => delete p.address),
      'INPUT_INVALID.Parameter.NotDefined',
      'primaryPlaceOfUse.address is required: an object with addressLine1, city, state, zip and country.',
    ],
    [
      'no addressLine1',
      ACTIVATE,
      withPlace((p) => delete p.address.addressLine1),
      'INPUT_INVALID.Parameter.NotDefined',
      'primaryPlaceOfUse.address.addressLine1 is required.',
    ],
    [
      'a P.O. box',
      ACTIVATE,
      withPlace((p) => (p.address.addressLine1 = 'P.O. Box 123')),
      'INPUT_INVALID.Parameter.Invalid',
      'primaryPlaceOfUse.address.addressLine1 must be a physical address, not a P.O. box.',
    ],
    [
      'a PO BOX after a suite',
      ACTIVATE,
      withPlace((p) => (p.address.addressLine1 = 'Suite 4, PO BOX 9')),
      'INPUT_INVALID.Parameter.Invalid',
      'primaryPlaceOfUse.address.addressLine1 must be a physical address, not a P.O. box.',
    ],
    [
      'a numeric addressLine2',
      ACTIVATE,
      withPlace((p) => (p.address.addressLine2 = 4)),
      'INPUT_INVALID.Parameter.Invalid',
      'primaryPlaceOfUse.address.addressLine2 must be a string.',
    ],
    [
      'no city',
      ACTIVATE,
      withPlace((p) => delete p.address.city),
      'INPUT_INVALID.Parameter.NotDefined',
      'primaryPlaceOfUse.address.city is required.',
    ],
    [
      'an unknown state code',
      ACTIVATE,
      withPlace((p) => (p.address.state = 'XX')),
      'INPUT_INVALID.Parameter.Invalid',
      'primaryPlaceOfUse.address.state must be a two-letter US state code such as TX.',
    ],
    [
      'a state spelled out',
      ACTIVATE,
      withPlace((p) => (p.address.state = 'Texas')),
      'INPUT_INVALID.Parameter.Invalid',
      'primaryPlaceOfUse.address.state must be a two-letter US state code such as TX.',
    ],
    [
      'a state code in lower case',
      ACTIVATE,
      withPlace((p) => (p.address.state = 'tx')),
      'INPUT_INVALID.Parameter.Invalid',
      'primaryPlaceOfUse.address.state must be a two-letter US state code such as TX.',
    ],
    [
      'a 4-digit zip',
      ACTIVATE,
      withPlace((p) => (p.address.zip = '7870')),
      'INPUT_INVALID.Parameter.Invalid',
      'primaryPlaceOfUse.address.zip must be 5 digits.',
    ],
    [
      'a 2-digit zip4',
      ACTIVATE,
      withPlace((p) => (p.address.zip4 = '12')),
      'INPUT_INVALID.Parameter.Invalid',
      'primaryPlaceOfUse.address.zip4 must be 4 digits.',
    ],
    [
      'no country',
      ACTIVATE,
      withPlace((p) => delete p.address.country),
      'INPUT_INVALID.Parameter.NotDefined',
      'primaryPlaceOfUse.address.country is required.',
    ],
    [
      'a country outside the US',
      ACTIVATE,
      withPlace((p) => (p.address.country = 'CA')),
      'INPUT_INVALID.Parameter.Invalid',
      'primaryPlaceOfUse.address.country must be US or USA.',
    ],
    [
      'a country in lower case',
      ACTIVATE,
      withPlace((p) => (p.address.country = 'usa')),
      'INPUT_INVALID.Parameter.Invalid',
      'primaryPlaceOfUse.address.country must be US or USA.',
    ],
    [
      'a Post Office Box',
      ACTIVATE,
      withPlace((p) => (p.address.addressLine1 = 'Post Office Box 77')),
      'INPUT_INVALID.Parameter.Invalid',
      'primaryPlaceOfUse.address.addressLine1 must be a physical address, not a P.O. box.',
    ],
  ];

  test.each(cases)(
    "%s is refused with HTTP 400 in the pages' 3-digit form",
    async (_name, path, body, _code, message) => {
      const h = await start();
      const res = await h.call('POST', path, body);
      expect({ status: res.status, body: res.body }).toEqual({
        status: 400,
        body: { errorCode: '400', errorMessage: message },
      });
      expect((await json(`${h.control}/profile-requests`, 'GET')).body).toEqual([]);
    },
  );

  test.each(cases)(
    '%s carries its ThingSpace code under profileErrorForm unified',
    async (_name, path, body, code, message) => {
      const h = await start();
      await faults(h, { profileErrorForm: 'unified' });
      const res = await h.call('POST', path, body);
      expect({ status: res.status, body: res.body }).toEqual({
        status: 400,
        body: { errorCode: `UnifiedWebService.${code}`, errorMessage: message },
      });
    },
  );

  test('a body that is not JSON is refused in the 3-digit form on profile endpoints only', async () => {
    const h = await start();
    const res = await h.call('POST', SERVICE_PLAN, '{not json');
    expect({ status: res.status, body: res.body }).toEqual({
      status: 400,
      body: { errorCode: '400', errorMessage: 'The request body is not valid JSON.' },
    });
    const list = await h.call('POST', '/devices/actions/list', '{not json');
    expect(list.body).toEqual({
      errorCode: 'UnifiedWebService.INPUT_INVALID.RequestUndefined',
      errorMessage: 'The request body is not valid JSON.',
    });
  });

  test('an expired session on a profile endpoint answers 401 in the 3-digit form; elsewhere 400 SessionToken.Expired', async () => {
    const h = await start();
    await json(`${h.control}/sessions/expire`, 'POST');
    const res = await h.call('POST', SERVICE_PLAN, PLAN_OK);
    expect({ status: res.status, body: res.body }).toEqual({
      status: 401,
      body: { errorCode: '401', errorMessage: 'The Session has expired.' },
    });
    const activate = await h.call('POST', ACTIVATE, ACTIVATE_OK);
    expect({ status: activate.status, body: activate.body }).toEqual({
      status: 401,
      body: { errorCode: '401', errorMessage: 'The Session has expired.' },
    });
    const list = await h.call('POST', '/devices/actions/list', { accountName: ACCOUNT });
    expect({ status: list.status, body: list.body }).toEqual({
      status: 400,
      body: {
        errorCode: 'UnifiedWebService.REQUEST_FAILED.SessionToken.Expired',
        errorMessage: 'The Session has expired.',
      },
    });
    await faults(h, { profileErrorForm: 'unified' });
    const unified = await h.call('POST', SERVICE_PLAN, PLAN_OK);
    expect({ status: unified.status, body: unified.body }).toEqual({ status: 400, body: list.body });
  });

  test('an injected 400 or 500 on a profile endpoint takes the 3-digit form', async () => {
    const h = await start();
    await faults(h, {
      responses: [
        { operation: 'changeProfileServicePlan', status: 400 },
        { operation: 'activateDeviceProfiles', status: 500 },
      ],
    });
    expect((await h.call('POST', SERVICE_PLAN, PLAN_OK)).body).toEqual({
      errorCode: '400',
      errorMessage: 'The request could not be processed.',
    });
    expect((await h.call('POST', ACTIVATE, ACTIVATE_OK)).body).toEqual({
      errorCode: '500',
      errorMessage: 'Unexpected error occurred.',
    });
  });

  test('the address accepts the page table spelling addresLine1, a zip4, USA and a territory', async () => {
    const h = await start();
    const place = {
      customerName: { firstName: 'A'.repeat(20), lastName: 'B'.repeat(25) },
      address: { addresLine1: '12 Elm St', city: 'Austin', state: 'PR', zip: '00901', zip4: '1234', country: 'USA' },
    };
    await submit(h, ACTIVATE, { ...ACTIVATE_OK, primaryPlaceOfUse: place, carrierIpPoolName: '', mdnZipCode: '78701' });
  });

  test('one device named twice by different identifiers is refused as a duplicate', async () => {
    const h = await start();
    const [d] = await generate(h, { count: 1, state: 'pre-active' });
    const res = await h.call('POST', ACTIVATE, {
      accountName: ACCOUNT,
      devices: [{ deviceIds: [{ kind: 'eid', id: d!.eid }] }, { deviceIds: [{ kind: 'imei', id: d!.imei }] }],
    });
    expect(res.body).toEqual({
      errorCode: '400',
      errorMessage: 'devices[1] and devices[0] name the same device: name each device once.',
    });
  });

  test('a request may name 10,000 devices (a body over 1 MB); 10,001 is refused and nothing is acted on', async () => {
    // Callbacks are held back, so this test only shows acceptance, and that queued callbacks count as pending.
    const h = await start({ callbackDelayMs: 60_000 });
    const devices = await generate(h, { count: 10_000, state: 'pre-active', prefix: '9' });
    const body = servicePlanBody(devices);
    expect(JSON.stringify(body).length).toBeGreaterThan(1024 * 1024);
    const requestId = await submit(h, SERVICE_PLAN, body);
    expect((await detail(h, requestId)).devices).toBe(10_000);
    expect(await pending(h)).toBe(10_000);

    const tooMany = servicePlanBody([...devices, { eid: UNKNOWN_EID, iccid: UNKNOWN_ICCID }]);
    const res = await h.call('POST', SERVICE_PLAN, tooMany);
    expect({ status: res.status, body: res.body }).toEqual({
      status: 400,
      body: {
        errorCode: '400',
        errorMessage: 'The request has 10001 devices; at most 10000 devices are allowed in one request.',
      },
    });
    await faults(h, { profileErrorForm: 'unified' });
    expect((await h.call('POST', SERVICE_PLAN, tooMany)).body).toEqual({
      errorCode: 'UnifiedWebService.INPUT_INVALID.MaxRequestsExceeded',
      errorMessage: 'The request has 10001 devices; at most 10000 devices are allowed in one request.',
    });
    expect(await pending(h)).toBe(10_000);
    // Other routes keep their 1 MB body limit.
    const list = await h.call('POST', '/devices/actions/list', { accountName: ACCOUNT, padding: 'x'.repeat(1100_000) });
    expect(list.status).toBe(413);
  });
});

describe('maxProfileRequestDevices', () => {
  test('a request over the lowered limit is refused with 400 and nothing is acted on; one at the limit passes', async () => {
    const h = await start();
    const devices = await generate(h, { count: 101, state: 'pre-active' });
    await faults(h, { maxProfileRequestDevices: 100 });
    expect((await json(`${h.control}/faults`, 'GET')).body.maxProfileRequestDevices).toBe(100);
    for (const path of [SERVICE_PLAN, ACTIVATE]) {
      const body = path === SERVICE_PLAN ? servicePlanBody(devices) : activateBody(devices);
      const res = await h.call('POST', path, body);
      expect({ status: res.status, body: res.body }).toEqual({
        status: 400,
        body: {
          errorCode: '400',
          errorMessage: 'The request has 101 devices; at most 100 devices are allowed in one request.',
        },
      });
    }
    expect((await json(`${h.control}/profile-requests`, 'GET')).body).toEqual([]);
    expect((await json(`${h.control}/acted`, 'GET')).body).toEqual({ devices: {}, actedTwice: [] });
    expect(await pending(h)).toBe(0);
    const requestId = await submit(h, SERVICE_PLAN, servicePlanBody(devices.slice(0, 100)));
    expect((await detail(h, requestId)).devices).toBe(100);
    await quiet(h);
  });

  test('the limit is validated and returns to 10,000 when faults are cleared', async () => {
    const h = await start();
    expect((await json(`${h.control}/faults`, 'POST', { maxProfileRequestDevices: 10_001 })).status).toBe(400);
    expect((await json(`${h.control}/faults`, 'POST', { maxProfileRequestDevices: 0 })).status).toBe(400);
    await faults(h, { maxProfileRequestDevices: 1 });
    expect((await json(`${h.control}/faults`, 'DELETE')).body.maxProfileRequestDevices).toBeUndefined();
    const [a, b] = await generate(h, { count: 2, state: 'pre-active' });
    await submit(h, SERVICE_PLAN, servicePlanBody([a!, b!]));
    await quiet(h);
  });
});

describe('acceptDuplicates', () => {
  test('by default a repeated activation in flight is accepted but fails per device: already active', async () => {
    const h = await start({ callbackDelayMs: 300 });
    const devices = await generate(h, { count: 2, state: 'pre-active' });
    const first = await submit(h, ACTIVATE, activateBody(devices));
    const second = await submit(h, ACTIVATE, activateBody(devices));
    await quiet(h);
    expect((await detail(h, first)).outcomes.succeeded).toBe(2);
    expect((await detail(h, second)).outcomes.failed).toBe(2);
    expect((await json(`${h.control}/acted`, 'GET')).body.actedTwice).toEqual([]);
  });

  test('under acceptDuplicates each device of a repeated request in flight is acted on again', async () => {
    const h = await start({ callbackDelayMs: 300 });
    const devices = await generate(h, { count: 2, state: 'pre-active' });
    await faults(h, { acceptDuplicates: true });
    const first = await submit(h, ACTIVATE, activateBody(devices));
    const second = await submit(h, ACTIVATE, activateBody(devices));
    expect(second).not.toBe(first);
    await quiet(h);
    expect((await detail(h, second)).outcomes.succeeded).toBe(2);
    const statuses = h.listener.received.map((r) => [r.body.requestId, r.body.status]);
    expect(statuses).toEqual([
      [first, 'SUCCESS'],
      [first, 'SUCCESS'],
      [second, 'SUCCESS'],
      [second, 'SUCCESS'],
    ]);
    const acted = (await json(`${h.control}/acted`, 'GET')).body;
    expect(acted.actedTwice).toEqual(devices.map((d) => `eid:${d.eid}`));
    expect(acted.devices[`eid:${devices[0]!.eid}`]).toEqual({ count: 2, requestIds: [first, second] });
  });
});

describe('strayCallbacks', () => {
  test('a profile request is preceded by stray callbacks for its first maxDevices devices, which change nothing', async () => {
    const h = await start();
    const devices = await generate(h, { count: 3, state: 'active' });
    await faults(h, { strayCallbacks: { callbacks: [{ status: 'warning' }, { status: 'failed' }], maxDevices: 2 } });
    const requestId = await submit(h, SERVICE_PLAN, servicePlanBody(devices));
    await quiet(h);
    const bodies = h.listener.received.map((r) => r.body);
    expect(bodies.map((b) => [b.status, b.requestId === requestId])).toEqual([
      ['WARNING', false],
      ['FAILED', false],
      ['WARNING', false],
      ['FAILED', false],
      ['SUCCESS', true],
      ['SUCCESS', true],
      ['SUCCESS', true],
    ]);
    expect(bodies[1].faultResponse.faultcode).toBe('DeviceProfileService.REQUEST_FAILED.UnexpectedError');
    expect((await detail(h, requestId)).outcomes.succeeded).toBe(3);
    const log = (await json(`${h.control}/callbacks`, 'GET')).body as Json[];
    expect(log.filter((e) => e.stray)).toHaveLength(4);
  });
});

describe('activation rate limit', () => {
  test('the 101st activation request of an account within a minute gets 429; a minute later one passes', async () => {
    const h = await start({ callbackDelayMs: 60_000 });
    const [other] = await generate(h, { accountName: OTHER_ACCOUNT, count: 1, state: 'pre-active' });
    const body = activateBody([{ eid: UNKNOWN_EID, iccid: UNKNOWN_ICCID }]);
    for (let i = 0; i < 100; i++) {
      h.clock.advance(100);
      expect((await h.call('POST', ACTIVATE, body)).status).toBe(200);
    }
    const refused = await h.call('POST', ACTIVATE, body);
    expect({ status: refused.status, body: refused.body }).toEqual({
      status: 429,
      body: { message: 'Too Many Requests' },
    });
    expect(refused.headers.get('retry-after')).toBeNull();
    // The limit is per account and per operation.
    expect((await h.call('POST', ACTIVATE, { ...activateBody([other!]), accountName: OTHER_ACCOUNT })).status).toBe(
      200,
    );
    expect(
      (await h.call('POST', SERVICE_PLAN, servicePlanBody([{ eid: UNKNOWN_EID, iccid: UNKNOWN_ICCID }]))).status,
    ).toBe(200);
    // The window slides: the first request leaves it 60 s after it was made.
    h.clock.advance(60_000 - 100 * 100);
    expect((await h.call('POST', ACTIVATE, body)).status).toBe(429);
    h.clock.advance(100);
    expect((await h.call('POST', ACTIVATE, body)).status).toBe(200);
    const log = (await json(`${h.control}/requests?operation=activateDeviceProfiles`, 'GET')).body as Json[];
    expect(log.filter((r) => r.status === 429)).toHaveLength(2);
  });

  test('the limit is an option', async () => {
    const h = await start({ activationRateLimitPerMinute: 2, callbackDelayMs: 60_000 });
    const body = activateBody([{ eid: UNKNOWN_EID, iccid: UNKNOWN_ICCID }]);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await h.call('POST', ACTIVATE, body)).status);
    expect(statuses).toEqual([200, 200, 429]);
  });
});

describe('callbacks', () => {
  test('a service plan change sends one SUCCESS callback per device in the page shape and changes the plan', async () => {
    const h = await start();
    const devices = await generate(h, { count: 2, state: 'active', prefix: '1' });
    const requestId = await submit(h, SERVICE_PLAN, servicePlanBody(devices, 'M2M4G5GB'));
    await waitFor(() => h.listener.received.length === 2);
    await quiet(h);
    for (const d of devices) {
      const ids = [
        { id: d.eid, kind: 'Eid' },
        { id: d.imei, kind: 'Imei' },
        { id: `1${d.mdn}`, kind: 'msisdn' },
        { id: d.iccid, kind: 'Iccid' },
      ];
      expect(callbacksOf(h, d.iccid)).toEqual([
        {
          username: 'gw-user',
          password: 'gw-secret',
          requestId,
          deviceIds: ids,
          deviceResponse: {
            deviceProfileResponse: {
              deviceIdentifierCollection: ids,
              state: 'ACTIVE',
              profileStatus: 'ENABLE',
              profileRole: 'LOCAL',
            },
          },
          status: 'SUCCESS',
          callbackCount: 1,
          maxCallbackThreshold: 4,
        },
      ]);
      const listed = (await h.call('POST', '/devices/actions/list', { deviceId: { kind: 'eid', id: d.eid } })).body
        .devices[0];
      expect(listed.carrierInformations).toEqual([
        { carrierName: 'Verizon Wireless', servicePlan: 'M2M4G5GB', state: 'active' },
      ]);
      expect(listed.extendedAttributes).toEqual([
        { key: 'DeviceId', value: expect.any(String) },
        { key: 'ProfileStatus', value: 'ENABLE' },
        { key: 'ProfileRole', value: 'LOCAL' },
      ]);
    }
    expect((await json(`${h.control}/callbacks?requestId=${requestId}`, 'GET')).body).toEqual(
      devices.map(() => ({
        service: 'DeviceProfileService',
        step: 'changeProfileServicePlan',
        requestId,
        url: `${h.listener.url}/callbacks/DeviceProfileService`,
        callbackCount: 1,
        outcome: 'delivered',
        httpStatus: 200,
        at: expect.any(String),
      })),
    );
  });

  test('an activation sends the eUICC fields, gives the device an MDN, the plan and the carrier, and lists it active', async () => {
    const h = await start();
    const [d] = (await generate(h, { count: 1, state: 'pre-active', prefix: '2' })) as [Generated];
    expect(d.mdn).toBeUndefined();
    const requestId = await submit(
      h,
      ACTIVATE,
      activateBody([d], {
        servicePlan: 'HybridESim',
        carrierName: 'Verizon',
        smsrOid: '1.3.6.1.4.1.31746.1.500.200.101.5',
        mdnZipCode: '78701',
        carrierIpPoolName: '',
        primaryPlaceOfUse: PLACE_OF_USE,
      }),
    );
    await waitFor(() => h.listener.received.length === 1);
    const device = h.sim.state.inventory.find('eid', d.eid);
    const mdn = device?.mdn as string;
    expect(mdn).toMatch(/^[2-9]\d{9}$/);
    // The index follows the MDN given in place.
    expect(h.sim.state.inventory.find('mdn', mdn)).toBe(device);
    const ids = [
      { id: d.iccid, kind: 'iccid' },
      { id: d.imei, kind: 'imei' },
      { id: d.eid, kind: 'eid' },
      { id: mdn, kind: 'mdn' },
    ];
    expect(h.listener.received[0]?.body).toEqual({
      username: 'gw-user',
      password: 'gw-secret',
      requestId,
      deviceIds: ids,
      deviceResponse: {
        deviceProfileResponse: {
          deviceIdentifierCollection: ids,
          state: 'Active',
          profileStatus: 'ENABLE',
          euiccStatus: 'EXECUTED_SUCCESS',
          euiccStatusCode: '1.2.365',
          euiccStatusDesc: 'EUICC device profile has been updated',
          euiccSubAddressUpdateStatus: 'EXECUTED_SUCCESS',
          euiccSubAddressUpdateStatusCode: '1',
          euiccSubAddressUpdateStatusDesc: 'SUCCESS: Address has been updated',
          carrierName: 'Verizon',
          profileRole: 'LEAD',
        },
      },
      status: 'SUCCESS',
      callbackCount: 1,
      maxCallbackThreshold: 4,
    });
    const listed = (await h.call('POST', '/devices/actions/list', { deviceId: { kind: 'mdn', id: mdn } })).body
      .devices[0];
    expect(listed).toMatchObject({
      carrierInformations: [{ carrierName: 'Verizon', servicePlan: 'HybridESim', state: 'active' }],
      connected: true,
      lastActivationDate: '2025-06-01T12:00:00.000Z',
      deviceIds: [
        { id: d.eid, kind: 'eid' },
        { id: d.iccid, kind: 'iccid' },
        { id: d.imei, kind: 'imei' },
        { id: mdn, kind: 'mdn' },
        { id: `1${mdn}`, kind: 'msisdn' },
      ],
      extendedAttributes: [
        { key: 'DeviceId', value: expect.any(String) },
        { key: 'SmsrOid', value: '1.3.6.1.4.1.31746.1.500.200.101.5' },
        { key: 'ProfileStatus', value: 'ENABLE' },
        { key: 'ProfileRole', value: 'LEAD' },
      ],
    });
  });

  test('without a primaryPlaceOfUse the activation callback has no address update and the default carrier', async () => {
    const h = await start();
    const [d] = (await generate(h, { count: 1, state: 'pre-active', prefix: '3' })) as [Generated];
    await submit(h, ACTIVATE, activateBody([d]));
    await waitFor(() => h.listener.received.length === 1);
    const profile = h.listener.received[0]?.body.deviceResponse.deviceProfileResponse;
    expect(Object.keys(profile).filter((k) => k.startsWith('euiccSubAddress'))).toEqual([]);
    expect(profile).toMatchObject({ carrierName: 'Verizon Wireless', euiccStatus: 'EXECUTED_SUCCESS' });
  });

  test('the same seed reserves the same MDNs for the same activations', async () => {
    const run = async () => {
      const h = await start({ seed: 21 });
      const devices = await generate(h, { count: 5, state: 'pre-active', prefix: '4' });
      await submit(h, ACTIVATE, activateBody(devices));
      await waitFor(() => h.listener.received.length === 5);
      return devices.map((d) => h.sim.state.inventory.find('eid', d.eid)?.mdn);
    };
    const [a, b] = await Promise.all([run(), run()]);
    expect(b).toEqual(a);
    expect(new Set(a).size).toBe(5);
  });
});

describe('per-device failures', () => {
  test('unknown, already active and suspended devices are accepted and each gets its own FAILED callback', async () => {
    const h = await start();
    const [ready] = (await generate(h, { count: 1, state: 'pre-active', prefix: '5' })) as [Generated];
    const [active] = (await generate(h, { count: 1, state: 'active', prefix: '5' })) as [Generated];
    const [suspended] = (await generate(h, { count: 1, state: 'suspend', prefix: '5' })) as [Generated];
    const requestId = await submit(
      h,
      ACTIVATE,
      activateBody([ready, { eid: UNKNOWN_EID, iccid: UNKNOWN_ICCID }, active, suspended]),
    );
    await waitFor(() => h.listener.received.length === 4);
    await quiet(h);
    expect(callbacksOf(h, ready.iccid).map((b) => b.status)).toEqual(['SUCCESS']);
    const unknownIds = [
      { kind: 'eid', id: UNKNOWN_EID },
      { kind: 'iccid', id: UNKNOWN_ICCID },
    ];
    expect(callbacksOf(h, UNKNOWN_ICCID)).toEqual([
      {
        username: 'gw-user',
        password: 'gw-secret',
        requestId,
        deviceIds: unknownIds,
        deviceResponse: {
          deviceProfileResponse: {
            deviceIdentifierCollection: unknownIds,
            euiccStatus: 'EXECUTED_FAILED',
            euiccStatusCode: '1.2.500',
            euiccStatusDesc: `Device eid ${UNKNOWN_EID} was not found in account ${ACCOUNT}.`,
          },
        },
        status: 'FAILED',
        faultResponse: {
          faultcode: 'DeviceProfileService.REQUEST_FAILED.DeviceNotFound',
          faultstring: `Device eid ${UNKNOWN_EID} was not found in account ${ACCOUNT}.`,
        },
        callbackCount: 1,
        maxCallbackThreshold: 4,
      },
    ]);
    const activeIds = [
      { id: active.iccid, kind: 'iccid' },
      { id: active.imei, kind: 'imei' },
      { id: active.eid, kind: 'eid' },
      { id: active.mdn, kind: 'mdn' },
    ];
    expect(callbacksOf(h, active.iccid)[0]).toEqual({
      username: 'gw-user',
      password: 'gw-secret',
      requestId,
      deviceIds: activeIds,
      deviceResponse: {
        deviceProfileResponse: {
          deviceIdentifierCollection: activeIds,
          state: 'Active',
          euiccStatus: 'EXECUTED_FAILED',
          euiccStatusCode: '1.2.500',
          euiccStatusDesc: "The device's profile is already active.",
        },
      },
      status: 'FAILED',
      faultResponse: {
        faultcode: 'DeviceProfileService.REQUEST_FAILED.DeviceAlreadyActive',
        faultstring: "The device's profile is already active.",
      },
      callbackCount: 1,
      maxCallbackThreshold: 4,
    });
    expect(callbacksOf(h, suspended.iccid)[0].faultResponse).toEqual({
      faultcode: 'DeviceProfileService.INPUT_INVALID.DeviceState.Invalid',
      faultstring: 'The device is suspended; resume it rather than activate it.',
    });
    expect(h.sim.state.inventory.find('eid', suspended.eid)?.state).toBe('suspend');
    expect(h.sim.state.inventory.find('eid', active.eid)?.profileStatus).toBeUndefined();

    const summary = (await json(`${h.control}/profile-requests`, 'GET')).body;
    expect(summary).toEqual([
      {
        requestId,
        operation: 'activateDeviceProfiles',
        accountName: ACCOUNT,
        submittedAt: '2025-06-01T12:00:00.000Z',
        devices: 4,
        outcomes: { pending: 0, warning: 0, succeeded: 1, failed: 3, never: 0 },
      },
    ]);
    expect((await detail(h, requestId)).results[1]).toEqual({
      deviceIds: unknownIds,
      outcome: 'failed',
      fault: {
        faultcode: 'REQUEST_FAILED.DeviceNotFound',
        faultstring: `Device eid ${UNKNOWN_EID} was not found in account ${ACCOUNT}.`,
      },
    });
    expect((await json(`${h.control}/profile-requests/nope`, 'GET')).status).toBe(404);
  });

  test('a service plan change fails for a suspended device and for identifiers of two different devices', async () => {
    const h = await start();
    const [suspended] = (await generate(h, { count: 1, state: 'suspend', prefix: '6' })) as [Generated];
    const [a, b] = await generate(h, { count: 2, state: 'active', prefix: '6' });
    await submit(h, SERVICE_PLAN, servicePlanBody([suspended, { eid: a!.eid, iccid: b!.iccid }], 'M2M4G5GB'));
    await waitFor(() => h.listener.received.length === 2);
    const bodies = h.listener.received.map((r) => r.body);
    expect(bodies.map((x) => x.faultResponse)).toEqual([
      {
        faultcode: 'DeviceProfileService.INPUT_INVALID.DeviceState.Invalid',
        faultstring: 'The device is suspend; its plan can change only while it is active or pre-active.',
      },
      {
        faultcode: 'DeviceProfileService.INPUT_INVALID.Device.Identifier.Mismatch',
        faultstring: 'The identifiers belong to different devices.',
      },
    ]);
    expect(bodies[0].deviceResponse.deviceProfileResponse.state).toBe('SUSPEND');
    expect(h.sim.state.inventory.find('eid', suspended.eid)?.servicePlan).toBe('M2M4G1GB');
  });

  test('failDevices fails the devices named by any identifier, with the configured fault, and changes nothing', async () => {
    const h = await start();
    const devices = await generate(h, { count: 3, state: 'active', prefix: '7' });
    const [byMsisdn, byImei, fine] = devices as [Generated, Generated, Generated];
    await faults(h, {
      profiles: {
        failDevices: [`1${byMsisdn.mdn}`, byImei.imei],
        failure: { faultcode: 'REQUEST_FAILED.ProfileDownloadFailed', faultstring: 'SM-DP+ refused' },
      },
    });
    await submit(h, SERVICE_PLAN, servicePlanBody(devices, 'M2M4G5GB'));
    await waitFor(() => h.listener.received.length === 3);
    for (const d of [byMsisdn, byImei]) {
      const [body] = callbacksOf(h, d.iccid);
      expect(body.status).toBe('FAILED');
      expect(body.faultResponse).toEqual({
        faultcode: 'DeviceProfileService.REQUEST_FAILED.ProfileDownloadFailed',
        faultstring: 'SM-DP+ refused',
      });
      expect(h.sim.state.inventory.find('iccid', d.iccid)?.servicePlan).toBe('M2M4G1GB');
    }
    expect(callbacksOf(h, fine.iccid)[0].status).toBe('SUCCESS');
    expect(h.sim.state.inventory.find('iccid', fine.iccid)?.servicePlan).toBe('M2M4G5GB');
  });

  test('failRate fails a seeded share of devices: the same seed fails the same devices, another seed others', async () => {
    const run = async (seed: number, drop: boolean) => {
      const h = await start({ seed });
      const devices = await generate(h, { count: 100, state: 'pre-active', prefix: '8' });
      // Dropping callbacks rolls the same dice, so it leaves every device's outcome as it was.
      await faults(h, { profiles: { failRate: 0.3 }, callbacks: { drop: drop ? 1 : 0 } });
      const requestId = await submit(h, SERVICE_PLAN, servicePlanBody(devices));
      await quiet(h);
      const { results, outcomes } = await detail(h, requestId);
      const failed = (results as Json[])
        .filter((r) => r.outcome === 'failed')
        .map((r) => r.deviceIds[1].id as string)
        .sort();
      const failedCallbacks = h.listener.received
        .filter((r) => r.body.status === 'FAILED')
        .map((r) => (r.body.deviceIds as Json[]).find((d) => d.kind === 'Iccid').id as string)
        .sort();
      return { failed, outcomes, failedCallbacks };
    };
    const a = await run(5, false);
    const [b, c] = await Promise.all([run(5, true), run(6, true)]);
    expect(a.failedCallbacks).toEqual(a.failed);
    expect(a.outcomes).toEqual({
      pending: 0,
      warning: 0,
      succeeded: 100 - a.failed.length,
      failed: a.failed.length,
      never: 0,
    });
    expect(a.failed.length).toBeGreaterThan(10);
    expect(a.failed.length).toBeLessThan(50);
    expect(b.failed).toEqual(a.failed);
    expect(b.outcomes).toEqual(a.outcomes);
    expect(c.failed).not.toEqual(a.failed);
  });
});

describe('eUICC warnings', () => {
  test('warned devices get a WARNING (device not reachable), then their own final SUCCESS or FAILED callback', async () => {
    const h = await start();
    const devices = await generate(h, { count: 3, state: 'pre-active', prefix: '11' });
    const [ok, failing] = devices as [Generated, Generated, Generated];
    await faults(h, { profiles: { warningRate: 1, warningDelayMs: 40, failDevices: [failing.eid] } });
    const requestId = await submit(h, ACTIVATE, activateBody(devices));
    await waitFor(() => h.listener.received.length === 6);
    await quiet(h);
    const ids = [
      { id: ok.iccid, kind: 'iccid' },
      { id: ok.imei, kind: 'imei' },
      { id: ok.eid, kind: 'eid' },
    ];
    const [warning, final] = callbacksOf(h, ok.iccid);
    expect(warning).toEqual({
      username: 'gw-user',
      password: 'gw-secret',
      requestId,
      deviceIds: ids,
      deviceResponse: {
        deviceProfileResponse: {
          deviceIdentifierCollection: ids,
          state: 'Pre-active',
          euiccStatus: 'IN_PROGRESS',
          euiccStatusCode: '1.2.100',
          euiccStatusDesc: 'device not reachable, retrying',
          carrierName: 'Verizon Wireless',
          profileRole: 'LEAD',
        },
      },
      status: 'WARNING',
      callbackCount: 1,
      maxCallbackThreshold: 4,
    });
    expect(final).toMatchObject({ status: 'SUCCESS', deviceResponse: { deviceProfileResponse: { state: 'Active' } } });
    expect(callbacksOf(h, failing.iccid).map((b) => b.status)).toEqual(['WARNING', 'FAILED']);
    expect((await detail(h, requestId)).outcomes).toEqual({
      pending: 0,
      warning: 0,
      succeeded: 2,
      failed: 1,
      never: 0,
    });
    const steps = ((await json(`${h.control}/callbacks`, 'GET')).body as Json[]).map((e) => e.step);
    expect(steps.filter((s) => s === 'activateDeviceProfiles:warning')).toHaveLength(3);
  });

  test('while the final callback is due, the device counts as warning and pending', async () => {
    const h = await start();
    const [d] = (await generate(h, { count: 1, state: 'pre-active', prefix: '12' })) as [Generated];
    await faults(h, { profiles: { warningRate: 1, warningDelayMs: 400 } });
    const requestId = await submit(h, ACTIVATE, activateBody([d]));
    await waitFor(() => h.listener.received.length === 1);
    // The WARNING is acknowledged; the final callback is still queued.
    await waitFor(async () => (await pending(h)) === 1);
    expect((await detail(h, requestId)).outcomes).toMatchObject({ warning: 1, succeeded: 0 });
    expect(h.sim.state.inventory.find('eid', d.eid)?.state).toBe('pre-active');
    await quiet(h);
    expect(h.sim.state.inventory.find('eid', d.eid)?.state).toBe('active');
  });

  test('a service plan change never warns', async () => {
    const h = await start();
    const devices = await generate(h, { count: 2, state: 'active', prefix: '13' });
    await faults(h, { profiles: { warningRate: 1 } });
    await submit(h, SERVICE_PLAN, servicePlanBody(devices));
    await waitFor(() => h.listener.received.length === 2);
    await quiet(h);
    expect(h.listener.received.map((r) => r.body.status)).toEqual(['SUCCESS', 'SUCCESS']);
  });
});

describe('callback faults on profile callbacks', () => {
  test('duplicate: 1 delivers each device callback twice, the copy with callbackCount 2', async () => {
    const h = await start();
    const devices = await generate(h, { count: 2, state: 'active', prefix: '21' });
    await faults(h, { callbacks: { duplicate: 1 } });
    await submit(h, SERVICE_PLAN, servicePlanBody(devices));
    await waitFor(() => h.listener.received.length === 4);
    await quiet(h);
    for (const d of devices) {
      const copies = callbacksOf(h, d.iccid);
      expect(copies.map((b) => b.callbackCount)).toEqual([1, 2]);
      expect({ ...copies[1], callbackCount: 1 }).toEqual(copies[0]);
    }
  });

  test('drop: 1 sends nothing, yet every device got its new plan', async () => {
    const h = await start();
    const devices = await generate(h, { count: 3, state: 'active', prefix: '22' });
    await faults(h, { callbacks: { drop: 1 } });
    await submit(h, SERVICE_PLAN, servicePlanBody(devices, 'M2M4G5GB'));
    await quiet(h);
    expect(h.listener.received).toEqual([]);
    const log = (await json(`${h.control}/callbacks`, 'GET')).body as Json[];
    expect(log.map((e) => e.outcome)).toEqual(['dropped', 'dropped', 'dropped']);
    expect(devices.map((d) => h.sim.state.inventory.find('eid', d.eid)?.servicePlan)).toEqual([
      'M2M4G5GB',
      'M2M4G5GB',
      'M2M4G5GB',
    ]);
  });

  test('order: reverse delivers the last device first', async () => {
    const h = await start({ profileCallbacksInFlight: 1 });
    const devices = await generate(h, { count: 4, state: 'active', prefix: '23' });
    await faults(h, { callbacks: { order: 'reverse' } });
    await submit(h, SERVICE_PLAN, servicePlanBody(devices));
    await waitFor(() => h.listener.received.length === 4);
    const order = h.listener.received.map((r) => (r.body.deviceIds as Json[]).find((d) => d.kind === 'Eid').id);
    expect(order).toEqual(devices.map((d) => d.eid).reverse());
  });

  test('never: the named devices and a neverRate share get no callback and no effect, and nothing stays pending', async () => {
    const h = await start();
    const devices = await generate(h, { count: 3, state: 'active', prefix: '24' });
    const [never, ...rest] = devices as [Generated, Generated, Generated];
    await faults(h, { profiles: { never: [never.iccid] } });
    const requestId = await submit(h, SERVICE_PLAN, servicePlanBody(devices, 'M2M4G5GB'));
    await waitFor(() => h.listener.received.length === 2);
    await quiet(h);
    expect(callbacksOf(h, never.iccid)).toEqual([]);
    expect(h.sim.state.inventory.find('eid', never.eid)?.servicePlan).toBe('M2M4G1GB');
    expect(rest.map((d) => callbacksOf(h, d.iccid).length)).toEqual([1, 1]);
    expect((await detail(h, requestId)).outcomes).toEqual({
      pending: 0,
      warning: 0,
      succeeded: 2,
      failed: 0,
      never: 1,
    });

    await faults(h, { profiles: { neverRate: 1 } });
    const second = await submit(h, SERVICE_PLAN, servicePlanBody(devices, 'M2M4G1GB'));
    expect(await pending(h)).toBe(0);
    expect((await detail(h, second)).outcomes.never).toBe(3);
  });

  test('response faults target the profile operations; a processed one still sends the callbacks', async () => {
    const h = await start();
    const devices = await generate(h, { count: 1, state: 'active', prefix: '25' });
    await faults(h, {
      responses: [
        { operation: 'activateDeviceProfiles', status: 503 },
        { operation: 'changeProfileServicePlan', status: 500, processed: true },
      ],
    });
    expect((await h.call('POST', ACTIVATE, activateBody(devices))).status).toBe(503);
    expect((await h.call('POST', SERVICE_PLAN, servicePlanBody(devices))).status).toBe(500);
    await waitFor(() => h.listener.received.length === 1);
    expect(h.listener.received[0]?.body.status).toBe('SUCCESS');
    expect((await json(`${h.control}/profile-requests`, 'GET')).body).toHaveLength(1);
  });

  test('profile faults appear in the fault snapshot once set, are validated, and clear with the rest', async () => {
    const h = await start();
    const bad = await json(`${h.control}/faults`, 'POST', { profiles: { failRate: 2 } });
    expect(bad.status).toBe(400);
    expect(bad.body.issues).toEqual([{ path: 'profiles.failRate', message: expect.any(String) }]);
    await faults(h, { profiles: { failRate: 0.5 } });
    expect((await json(`${h.control}/faults`, 'GET')).body.profiles).toEqual({
      failRate: 0.5,
      failDevices: [],
      failure: { faultcode: 'REQUEST_FAILED.UnexpectedError', faultstring: 'The request could not be completed.' },
      warningRate: 0,
      neverRate: 0,
      never: [],
    });
    expect((await json(`${h.control}/faults`, 'DELETE')).body.profiles).toBeUndefined();
  });
});

describe('pacing', () => {
  test('callbacks of a bulk request leave at the configured rate, not all at once', async () => {
    const h = await start({ profileCallbacksPerSecond: 40 });
    const devices = await generate(h, { count: 10, state: 'active', prefix: '31' });
    await submit(h, SERVICE_PLAN, servicePlanBody(devices));
    await waitFor(() => h.listener.received.length === 10);
    const times = h.listener.received.map((r) => r.at);
    // 40 a second with a burst of 2: the last 8 wait 25 ms each.
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(150);
  });

  test('no more first attempts are open at once than profileCallbacksInFlight', async () => {
    const h = await start({ profileCallbacksInFlight: 2 });
    h.listener.delayMs = 30;
    const devices = await generate(h, { count: 8, state: 'active', prefix: '32' });
    await submit(h, SERVICE_PLAN, servicePlanBody(devices));
    await waitFor(() => h.listener.received.length === 8);
    await quiet(h);
    expect(h.listener.maxOpen).toBe(2);
  });

  test('reset forgets queued callbacks and profile requests', async () => {
    const h = await start({ callbackDelayMs: 60_000 });
    const devices = await generate(h, { count: 3, state: 'active', prefix: '33' });
    await submit(h, SERVICE_PLAN, servicePlanBody(devices));
    expect(await pending(h)).toBe(3);
    expect((await json(`${h.control}/reset`, 'POST', {})).status).toBe(200);
    expect(await pending(h)).toBe(0);
    expect((await json(`${h.control}/profile-requests`, 'GET')).body).toEqual([]);
  });
});

describe('generating devices', () => {
  test('identifiers are valid, derived from the prefix and a counter, and an MDN only for a line in service', async () => {
    const h = await start();
    const active = await generate(h, { accountName: OTHER_ACCOUNT, count: 2, state: 'active', prefix: '42' });
    expect(active).toEqual([
      {
        eid: '89049032007704200000000000000124',
        iccid: '89148070420000000014',
        imei: '350420000000014',
        mdn: '5042000001',
      },
      {
        eid: '89049032007704200000000000000221',
        iccid: '89148070420000000022',
        imei: '350420000000022',
        mdn: '5042000002',
      },
    ]);
    const preActive = await generate(h, { accountName: OTHER_ACCOUNT, count: 2, state: 'pre-active', prefix: '42' });
    expect(preActive.map((d) => d.iccid)).toEqual(['89148070420000000030', '89148070420000000048']);
    expect(preActive.every((d) => d.mdn === undefined)).toBe(true);
    const noEid = await generate(h, { accountName: OTHER_ACCOUNT, count: 1, state: 'deactive', withEid: false });
    expect(noEid).toEqual([{ iccid: expect.any(String), imei: expect.any(String) }]);
    for (const d of [...active, ...preActive]) {
      expect(d.eid).toMatch(/^\d{32}$/);
      expect(BigInt(d.eid) % 97n).toBe(1n);
      expect(d.iccid).toMatch(/^\d{20}$/);
      expect(luhnValid(d.iccid)).toBe(true);
      expect(d.imei).toMatch(/^\d{15}$/);
      expect(luhnValid(d.imei)).toBe(true);
    }
    // In device-number order, as a list that starts at largestDeviceIdSeen 0 gives them.
    const listed = (
      await h.call('POST', '/devices/actions/list', { accountName: OTHER_ACCOUNT, largestDeviceIdSeen: 0 })
    ).body.devices;
    expect(listed.map((e: Json) => e.carrierInformations[0].state)).toEqual([
      'active',
      'active',
      'pre-active',
      'pre-active',
      'deactive',
    ]);
  });

  test('a number whose identifiers a device already has is skipped', async () => {
    const h = await start();
    // Sequence 1 under prefix 001 would use ICCID 89148070010000000013.
    const taken = { iccid: '89148070010000000013', imei: '353456789012345', state: 'pre-active', servicePlan: 'X' };
    expect((await json(`${h.control}/devices`, 'POST', { accountName: ACCOUNT, ...taken })).status).toBe(200);
    const [first] = await generate(h, { count: 1, state: 'pre-active', prefix: '1' });
    expect(first).toEqual({
      eid: '89049032007700100000000000000227',
      iccid: '89148070010000000021',
      imei: '350010000000021',
    });
  });

  test('a count above 20,000 or a malformed prefix is refused', async () => {
    const h = await start();
    const tooMany = await json(`${h.control}/devices/generate`, 'POST', {
      accountName: ACCOUNT,
      count: 20_001,
      state: 'active',
      servicePlan: 'M2M4G1GB',
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.issues).toEqual([{ path: 'count', message: expect.any(String) }]);
    const prefix = await json(`${h.control}/devices/generate`, 'POST', {
      accountName: ACCOUNT,
      count: 1,
      state: 'active',
      servicePlan: 'M2M4G1GB',
      prefix: 'ab',
    });
    expect(prefix.body.issues).toEqual([{ path: 'prefix', message: 'prefix must be 1 to 3 digits' }]);
  });

  test('20,000 devices are generated and looked up by any identifier quickly', async () => {
    const h = await start();
    const devices = await generate(h, { count: 20_000, state: 'active', prefix: '99' });
    expect(new Set(devices.map((d) => d.iccid)).size).toBe(20_000);
    const { inventory } = h.sim.state;
    const started = performance.now();
    const misses = devices.filter(
      (d) => inventory.find('eid', d.eid)?.imei !== d.imei || inventory.find('MSISDN', `1${d.mdn}`)?.iccid !== d.iccid,
    );
    expect(inventory.find('iccid', UNKNOWN_ICCID)).toBeUndefined();
    expect(misses).toEqual([]);
    // A linear scan would compare 800 million identifiers here.
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('the inventory index', () => {
  test('follows identifiers and retired lines changed in place', () => {
    const inventory = new Inventory(
      {
        devices: [
          {
            accountName: ACCOUNT,
            eid: UNKNOWN_EID,
            iccid: UNKNOWN_ICCID,
            imei: '350420000000014',
            mdn: '5042000001',
            state: 'active',
            servicePlan: 'P',
          },
        ],
      },
      Date.now,
    );
    const device = inventory.find('eid', UNKNOWN_EID)!;
    device.retiredLines.push({
      iccid: UNKNOWN_ICCID,
      mdn: '5042000001',
      state: 'deactive',
      servicePlan: 'P',
      retiredAt: '',
    });
    device.iccid = '89148070420000000022';
    delete device.mdn;
    expect(inventory.find('iccid', UNKNOWN_ICCID)).toBeUndefined();
    expect(inventory.find('iccid', '89148070420000000022')).toBe(device);
    expect(inventory.find('mdn', '5042000001')).toBeUndefined();
    expect(inventory.findRetired('mdn', '5042000001')?.line.iccid).toBe(UNKNOWN_ICCID);
    expect(inventory.isKnown('iccid', UNKNOWN_ICCID)).toBe(true);
    device.mdn = '5042000009';
    expect(inventory.find('msisdn', '15042000009')).toBe(device);
    expect(() =>
      inventory.upsert([
        {
          accountName: ACCOUNT,
          iccid: '89148070420000000030',
          imei: '350420000000022',
          mdn: '5042000009',
          state: 'active',
          servicePlan: 'P',
        },
      ]),
    ).toThrow('mdn 5042000009 already belongs to device number 1');
  });

  test('a batch lookup trusts hits without walking the inventory, and brings the index up to date at its first miss', () => {
    const inventory = new Inventory({ devices: [] }, Date.now);
    const inputs = Array.from({ length: 5 }, (_, i) => ({
      accountName: ACCOUNT,
      iccid: `8914807042000000${String(100 + i)}`.padEnd(20, '0'),
      imei: `35042000000${String(1000 + i)}`,
      mdn: `504200${String(1000 + i)}`,
      state: 'active' as const,
      servicePlan: 'P',
    }));
    const [first, second] = inventory.upsert(inputs);
    // Device numbers in order, and the ones after a cursor found by bisection.
    expect([...inventory.after(first!.deviceNumber)].map((d) => d.deviceNumber)).toEqual([2, 3, 4, 5]);
    expect([...inventory.after(5)]).toEqual([]);
    expect([...inventory.after(0)]).toHaveLength(5);

    // The second device's MDN moves in place (as a swap moves it), behind the index's back.
    const old = second!.mdn!;
    second!.mdn = '5042009999';
    const batch = inventory.lookup();
    expect(batch.find('imei', first!.imei)).toBe(first); // a hit, confirmed against the device
    expect(batch.find('mdn', old)).toBeUndefined(); // a stale hit is not trusted
    expect(batch.find('mdn', '5042009999')).toBe(second); // the first miss re-indexed the moved MDN
    expect(batch.isKnown('mdn', old)).toBe(false);
    expect(batch.isKnown('iccid', '89148070420000009990')).toBe(false);
  });
});
