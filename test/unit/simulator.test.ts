/**
 * The ThingSpace simulator's synchronous API: OAuth and session rules, callback registration, the device
 * list, swap validation, response faults and the control API. Real HTTP on port 0.
 */
import { createSimulator, type SimulatorOptions } from '../../simulator/app.js';
import type { SimDevice } from '../../simulator/platform/devices/inventory.js';
import { listen, type RunningSimulator } from '../../simulator/server.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const ACCOUNT = '0000123456-00001';
const BASIC = `Basic ${Buffer.from('sim-client-id:sim-client-secret').toString('base64')}`;

class Clock {
  t = Date.parse('2025-06-01T12:00:00Z');
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

interface Harness {
  running: RunningSimulator;
  api: string;
  sim: ReturnType<typeof createSimulator>;
  clock: Clock;
}

const harnesses: Harness[] = [];

async function start(options: SimulatorOptions = {}): Promise<Harness> {
  const clock = new Clock();
  const sim = createSimulator({ now: clock.now, callbackDelayMs: 5, ...options });
  const running = await listen(sim, 0);
  const harness = { running, api: `${running.url}/api`, sim, clock };
  harnesses.push(harness);
  return harness;
}

afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.running.stop()));
});

async function http(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: Json; text: string; headers: Headers }> {
  const response = await fetch(url, { method: init.method ?? 'POST', headers: init.headers, body: init.body });
  const text = await response.text();
  let body: Json;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body, text, headers: response.headers };
}

async function getToken(api: string): Promise<string> {
  const res = await http(`${api}/ts/v1/oauth2/token`, {
    headers: { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  expect(res.status).toBe(200);
  return res.body.access_token as string;
}

async function login(api: string, token: string, password = 'sim-password'): Promise<{ status: number; body: Json }> {
  return http(`${api}/m2m/v1/session/login`, {
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'sim-user', password }),
  });
}

/** A logged-in M2M client. */
async function client(api: string) {
  const token = await getToken(api);
  const session = (await login(api, token)).body.sessionToken as string;
  const call = (method: string, path: string, body?: unknown, session_ = session) =>
    http(`${api}/m2m/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'vz-m2m-token': session_, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  return { token, session, call };
}

function devices(h: Harness): SimDevice[] {
  return h.sim.state.inventory.all();
}

function swapBody(out: SimDevice, into: SimDevice, overrides: Record<string, unknown> = {}): Record<string, unknown> {
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
    servicePlan: '4G 2GB',
    smsrOid: '1.3.6.1.4.1.31746.1.500.200.101.5',
    ...overrides,
  };
}

describe('OAuth token endpoint', () => {
  test('within the hour the same token comes back, with a shrinking expires_in; after the hour a new one', async () => {
    const h = await start();
    const ask = () =>
      http(`${h.api}/ts/v1/oauth2/token`, {
        headers: { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
    const first = await ask();
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      access_token: expect.any(String),
      token_type: 'bearer',
      expires_in: 3600,
      scope: expect.any(String),
    });
    h.clock.advance(59 * 60_000);
    const second = await ask();
    expect(second.body.access_token).toBe(first.body.access_token);
    expect(second.body.expires_in).toBe(60);
    h.clock.advance(61_000);
    const third = await ask();
    expect(third.body.access_token).not.toBe(first.body.access_token);
    expect(third.body.expires_in).toBe(3600);
  });

  test('a bad request is answered in OAuth shape; missing client credentials in gateway-fault shape', async () => {
    const h = await start();
    const url = `${h.api}/ts/v1/oauth2/token`;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    expect(await http(url, { headers: { ...form, authorization: BASIC }, body: 'scope=x' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_request', error_description: 'Missing grant_type parameter value' },
    });
    expect(await http(url, { headers: { ...form, authorization: BASIC }, body: 'grant_type=password' })).toMatchObject({
      status: 400,
      body: { error: 'unsupported_grant_type' },
    });
    const wrong = `Basic ${Buffer.from('sim-client-id:nope').toString('base64')}`;
    expect(
      await http(url, { headers: { ...form, authorization: wrong }, body: 'grant_type=client_credentials' }),
    ).toMatchObject({
      status: 401,
      body: { error: 'invalid_client', error_description: expect.any(String) },
    });
    expect(await http(url, { headers: form, body: 'grant_type=client_credentials' })).toMatchObject({
      status: 401,
      body: { fault: { code: '900902', message: 'Missing Credentials' } },
    });
  });

  test('M2M calls need a live bearer: missing is 900902, revoked or expired is 900901', async () => {
    const h = await start();
    const c = await client(h.api);
    const list = { accountName: ACCOUNT, maxNumberOfDevices: 1 };
    const noBearer = await http(`${h.api}/m2m/v1/devices/actions/list`, {
      headers: { 'vz-m2m-token': c.session, 'content-type': 'application/json' },
      body: JSON.stringify(list),
    });
    expect(noBearer).toMatchObject({
      status: 401,
      body: { fault: { code: '900902', message: 'Missing Credentials' } },
    });

    const revoke = await http(`${h.api}/ts/v1/oauth2/revoke`, {
      headers: { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${c.token}`,
    });
    expect(revoke).toMatchObject({ status: 200, text: '' });
    expect(await c.call('POST', '/devices/actions/list', list)).toMatchObject({
      status: 401,
      body: { fault: { code: '900901', message: 'Invalid Credentials', description: expect.any(String) } },
    });

    const d = await client(h.api);
    expect((await d.call('POST', '/devices/actions/list', list)).status).toBe(202);
    expect(await http(`${h.running.url}/__sim/tokens/expire`)).toMatchObject({ status: 200, body: { expired: 1 } });
    expect((await d.call('POST', '/devices/actions/list', list)).body.fault.code).toBe('900901');
  });
});

describe('M2M session', () => {
  test('a session expires after 20 idle minutes, and every call slides the window', async () => {
    const h = await start();
    const c = await client(h.api);
    const list = () => c.call('POST', '/devices/actions/list', { accountName: ACCOUNT, maxNumberOfDevices: 1 });
    h.clock.advance(19 * 60_000);
    expect((await list()).status).toBe(202);
    h.clock.advance(19 * 60_000);
    expect((await list()).status).toBe(202);
    h.clock.advance(20 * 60_000);
    expect(await list()).toMatchObject({
      status: 400,
      body: {
        errorCode: 'UnifiedWebService.REQUEST_FAILED.SessionToken.Expired',
        errorMessage: 'The Session has expired.',
      },
    });
  });

  test('five failed logins lock the account: the right password is refused until unlocked', async () => {
    const h = await start();
    const token = await getToken(h.api);
    for (let i = 0; i < 5; i++) {
      expect(await login(h.api, token, 'wrong')).toEqual({
        status: 400,
        body: {
          errorCode: 'UnifiedWebService.INPUT_INVALID.UserCredentials.Invalid',
          errorMessage: expect.any(String),
        },
        text: expect.any(String),
        headers: expect.anything(),
      });
    }
    const locked = await login(h.api, token);
    expect(locked.status).toBe(400);
    expect(locked.body.errorCode).toBe('UnifiedWebService.REQUEST_FAILED.AccountLocked');
    expect(await http(`${h.running.url}/__sim/logins/unlock`)).toMatchObject({ body: { unlocked: ['sim-user'] } });
    expect((await login(h.api, token)).body).toEqual({ sessionToken: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  });

  test('a successful login resets the failure count', async () => {
    const h = await start();
    const token = await getToken(h.api);
    for (let i = 0; i < 4; i++) await login(h.api, token, 'wrong');
    expect((await login(h.api, token)).status).toBe(200);
    for (let i = 0; i < 4; i++) await login(h.api, token, 'wrong');
    expect((await login(h.api, token)).status).toBe(200);
  });

  test('expired, unknown and missing session tokens are refused; logout ends a session', async () => {
    const h = await start();
    const c = await client(h.api);
    const body = { accountName: ACCOUNT };
    expect((await c.call('POST', '/devices/actions/list', body, 'not-a-session')).body.errorCode).toBe(
      'UnifiedWebService.REQUEST_FAILED.SessionToken.Expired',
    );
    expect((await c.call('POST', '/devices/actions/list', body, '')).body.errorCode).toBe(
      'UnifiedWebService.INPUT_INVALID.SessionToken.Invalid',
    );
    expect(await c.call('POST', '/session/logout')).toMatchObject({ status: 200, body: { sessionToken: c.session } });
    expect((await c.call('POST', '/devices/actions/list', body)).body.errorCode).toBe(
      'UnifiedWebService.REQUEST_FAILED.SessionToken.Expired',
    );
    const d = await client(h.api);
    expect(await http(`${h.running.url}/__sim/sessions/expire`)).toMatchObject({ body: { expired: 1 } });
    expect((await d.call('POST', '/devices/actions/list', body)).status).toBe(400);
  });
});

describe('callback registration', () => {
  test('one URL per service per account; listing without registrations gives an empty body', async () => {
    const h = await start();
    const c = await client(h.api);
    const empty = await c.call('GET', `/callbacks/${ACCOUNT}`);
    expect(empty).toMatchObject({ status: 200, text: '' });

    const register = (name: string, url: string, extra: Record<string, unknown> = {}) =>
      c.call('POST', `/callbacks/${ACCOUNT}`, { name, url, ...extra });
    expect(await register('CarrierService', 'http://127.0.0.1:9001/a', { username: 'u', password: 'p' })).toMatchObject(
      {
        status: 200,
        body: { accountName: ACCOUNT, serviceName: 'CarrierService' },
      },
    );
    await register('CarrierService', 'http://127.0.0.1:9001/b');
    await register('StateService', 'http://127.0.0.1:9001/s');
    expect((await c.call('GET', `/callbacks/${ACCOUNT}`)).body).toEqual([
      { accountName: ACCOUNT, name: 'CarrierService', url: 'http://127.0.0.1:9001/b' },
      { accountName: ACCOUNT, name: 'StateService', url: 'http://127.0.0.1:9001/s' },
    ]);
    expect(await c.call('DELETE', `/callbacks/${ACCOUNT}/name/CarrierService`)).toMatchObject({
      status: 200,
      body: { accountName: ACCOUNT, serviceName: 'CarrierService' },
    });
    expect((await c.call('GET', `/callbacks/${ACCOUNT}`)).body).toEqual([
      { accountName: ACCOUNT, name: 'StateService', url: 'http://127.0.0.1:9001/s' },
    ]);
  });

  test('unknown accounts, services, URLs and over-long credentials are refused', async () => {
    const h = await start();
    const c = await client(h.api);
    const ok = { name: 'CarrierService', url: 'http://127.0.0.1:9001/cb' };
    const code = async (account: string, body: unknown) =>
      (await c.call('POST', `/callbacks/${account}`, body)).body.errorCode;
    expect(await code('9999999999-00001', ok)).toBe('UnifiedWebService.REQUEST_FAILED.AccountNotFound');
    expect(await code(ACCOUNT, { ...ok, name: 'NoSuchService' })).toBe(
      'UnifiedWebService.INPUT_INVALID.CallbackService.Invalid',
    );
    expect(await code(ACCOUNT, { ...ok, url: 'ftp://x' })).toBe('UnifiedWebService.INPUT_INVALID.CallbackUrl.Invalid');
    expect(await code(ACCOUNT, { ...ok, password: 'x'.repeat(41) })).toBe(
      'UnifiedWebService.INPUT_INVALID.CallbackCredentials.Invalid',
    );
    expect((await c.call('POST', `/callbacks/${ACCOUNT}`, { ...ok, password: 'x'.repeat(40) })).status).toBe(200);
  });
});

describe('device list', () => {
  test('pages by largestDeviceIdSeen: 202 while more data, 200 on the last page', async () => {
    const h = await start({ devicePageSize: 8 });
    const c = await client(h.api);
    const seen: string[] = [];
    const statuses: number[] = [];
    let largest = 0;
    for (;;) {
      const page = await c.call('POST', '/devices/actions/list', {
        accountName: ACCOUNT,
        largestDeviceIdSeen: largest,
      });
      statuses.push(page.status);
      for (const d of page.body.devices as Json[]) seen.push(d.deviceIds.find((i: Json) => i.kind === 'imei').id);
      const last = (page.body.devices as Json[]).at(-1);
      largest = Number(last.extendedAttributes.find((a: Json) => a.key === 'DeviceId').value);
      if (!page.body.hasMoreData) break;
    }
    expect(statuses).toEqual([202, 202, 200]);
    expect(seen).toEqual(devices(h).map((d) => d.imei));
  });

  test('one device by identifier, in the documented shape', async () => {
    const h = await start();
    const c = await client(h.api);
    const device = devices(h)[0] as SimDevice;
    const res = await c.call('POST', '/devices/actions/list', { deviceId: { kind: 'imei', id: device.imei } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      hasMoreData: false,
      devices: [
        {
          accountName: ACCOUNT,
          billingCycleEndDate: '',
          carrierInformations: [{ carrierName: 'Verizon Wireless', servicePlan: device.servicePlan, state: 'active' }],
          connected: true,
          createdAt: device.createdAt,
          customFields: [],
          deviceIds: [
            { id: device.eid, kind: 'eid' },
            { id: device.iccid, kind: 'iccid' },
            { id: device.imei, kind: 'imei' },
            { id: device.mdn, kind: 'mdn' },
            { id: `1${device.mdn}`, kind: 'msisdn' },
          ],
          extendedAttributes: [
            { key: 'DeviceId', value: '1' },
            { key: 'SmsrOid', value: device.smsrOid },
          ],
          groupNames: [`Default: ${ACCOUNT}`],
          ipAddress: device.ipAddress,
          lastActivationBy: 'ThingSpace Simulator',
          lastActivationDate: device.lastActivationDate,
          lastConnectionDate: device.lastActivationDate,
        },
      ],
    });
  });

  test('filters by state; unknown devices and accounts are errors', async () => {
    const h = await start();
    const c = await client(h.api);
    const preActive = await c.call('POST', '/devices/actions/list', {
      accountName: ACCOUNT,
      currentState: 'PRE-ACTIVE',
    });
    expect(preActive.status).toBe(200);
    expect((preActive.body.devices as Json[]).map((d) => d.carrierInformations[0].state)).toEqual(
      Array(5).fill('pre-active'),
    );
    expect((preActive.body.devices as Json[]).every((d) => !d.deviceIds.some((i: Json) => i.kind === 'mdn'))).toBe(
      true,
    );
    expect(
      (await c.call('POST', '/devices/actions/list', { deviceId: { kind: 'imei', id: '490154203237518' } })).body,
    ).toEqual({
      errorCode: 'UnifiedWebService.REQUEST_FAILED.DeviceNotFound',
      errorMessage: expect.any(String),
    });
    expect(
      (await c.call('POST', '/devices/actions/list', { deviceId: { kind: 'serial', id: '1' } })).body.errorCode,
    ).toBe('UnifiedWebService.INPUT_INVALID.Device.Kind.Invalid');
    expect((await c.call('POST', '/devices/actions/list', { accountName: '1-1' })).body.errorCode).toBe(
      'UnifiedWebService.REQUEST_FAILED.AccountNotFound',
    );
  });
});

describe('eidDeviceSwap validation', () => {
  const swapOut = (h: Harness) => devices(h)[0] as SimDevice;
  const swapIn = (h: Harness) => devices(h).find((d) => d.state === 'pre-active') as SimDevice;
  const cases: [string, (h: Harness) => unknown, number, string][] = [
    ['a body that is not JSON', () => '{nope', 400, 'INPUT_INVALID.RequestUndefined'],
    [
      'no accountName',
      (h) => swapBody(swapOut(h), swapIn(h), { accountName: undefined }),
      400,
      'INPUT_INVALID.Account.NotDefined',
    ],
    [
      'no deviceToSwapIn',
      (h) => swapBody(swapOut(h), swapIn(h), { deviceToSwapIn: [] }),
      400,
      'INPUT_INVALID.Device.NotDefined',
    ],
    [
      'an unknown kind',
      (h) => swapBody(swapOut(h), swapIn(h), { deviceToSwapIn: [{ kind: 'serial', id: '1' }] }),
      400,
      'INPUT_INVALID.Device.Kind.Invalid',
    ],
    [
      'a malformed EID',
      (h) =>
        swapBody(swapOut(h), swapIn(h), {
          deviceToSwapIn: [
            { kind: 'eid', id: '123' },
            { kind: 'imei', id: swapIn(h).imei },
          ],
        }),
      400,
      'INPUT_INVALID.Device.Identifier.Invalid',
    ],
    [
      'a swap-out device without its ICCID',
      (h) => ({
        ...swapBody(swapOut(h), swapIn(h)),
        deviceToSwapOut: (swapBody(swapOut(h), swapIn(h)).deviceToSwapOut as Json[]).slice(0, 3),
      }),
      400,
      'INPUT_INVALID.Device.Identifier.Missing',
    ],
    [
      'a missing servicePlan',
      (h) => swapBody(swapOut(h), swapIn(h), { servicePlan: '' }),
      400,
      'INPUT_INVALID.Parameter.NotDefined',
    ],
    [
      'a malformed zip code',
      (h) => swapBody(swapOut(h), swapIn(h), { mdnZipCode: 'ABCDE' }),
      400,
      'INPUT_INVALID.Parameter.Invalid',
    ],
    [
      'an unknown account',
      (h) => swapBody(swapOut(h), swapIn(h), { accountName: '9999999999-00001' }),
      400,
      'REQUEST_FAILED.AccountNotFound',
    ],
    [
      'an unknown device',
      (h) =>
        swapBody(swapOut(h), swapIn(h), {
          deviceToSwapIn: [
            { kind: 'eid', id: '89049032007008882600000000000001' },
            { kind: 'imei', id: '490154203237518' },
          ],
        }),
      400,
      'REQUEST_FAILED.DeviceNotFound',
    ],
    [
      'identifiers of two different devices',
      (h) =>
        swapBody(swapOut(h), swapIn(h), {
          deviceToSwapIn: [
            { kind: 'eid', id: swapIn(h).eid },
            { kind: 'imei', id: (devices(h)[15] as SimDevice).imei },
          ],
        }),
      400,
      'INPUT_INVALID.Device.Identifier.Mismatch',
    ],
    [
      'a swap-out device that is not active',
      (h) => swapBody(devices(h).find((d) => d.state === 'suspend') as SimDevice, swapIn(h)),
      400,
      'INPUT_INVALID.DeviceState.Invalid',
    ],
    [
      'a swap-in device with a line but without its ICCID',
      (h) => swapBody(swapOut(h), devices(h).at(-1) as SimDevice),
      400,
      'INPUT_INVALID.Device.Identifier.Missing',
    ],
  ];

  test.each(cases)('%s is refused with the ThingSpace error code', async (_name, body, status, code) => {
    const h = await start();
    const c = await client(h.api);
    const res = await c.call('POST', '/devices/actions/eidDeviceSwap', body(h));
    expect({ status: res.status, body: res.body }).toEqual({
      status,
      body: { errorCode: `UnifiedWebService.${code}`, errorMessage: expect.any(String) },
    });
    expect(h.sim.state.operations).toEqual([]);
  });
});

describe('gateway behaviour and response faults', () => {
  test('an unknown resource gets gateway fault 900906, double slashes are tolerated', async () => {
    const h = await start();
    const c = await client(h.api);
    expect(await http(`${h.api}/m2m/v1/devices/actions/teleport`)).toMatchObject({
      status: 400,
      body: { fault: { code: '900906', message: 'No matching resource found in the API for the given request' } },
    });
    const res = await http(`${h.api}/m2m/v1//devices/actions/list`, {
      headers: { authorization: `Bearer ${c.token}`, 'vz-m2m-token': c.session, 'content-type': 'application/json' },
      body: JSON.stringify({ accountName: ACCOUNT }),
    });
    expect(res.status).toBe(200);
  });

  test('queued faults answer the next N requests of their operation, then the real API answers again', async () => {
    const h = await start();
    const c = await client(h.api);
    const faults = await http(`${h.running.url}/__sim/faults`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        responses: [
          { operation: 'deviceList', status: 503, times: 2, retryAfterSeconds: 3 },
          { operation: 'login', status: 429 },
        ],
      }),
    });
    expect(faults.status).toBe(200);
    const body = { accountName: ACCOUNT };
    const first = await c.call('POST', '/devices/actions/list', body);
    expect(first.status).toBe(503);
    expect(first.headers.get('retry-after')).toBe('3');
    expect(first.body).toEqual({
      fault: { code: '101503', message: 'Runtime Error', description: expect.any(String) },
    });
    expect((await c.call('POST', '/devices/actions/list', body)).status).toBe(503);
    expect((await c.call('POST', '/devices/actions/list', body)).status).toBe(200);
    expect(await login(h.api, c.token)).toMatchObject({ status: 429, body: { message: 'Too Many Requests' } });
    expect((await login(h.api, c.token)).status).toBe(200);

    const log = (await http(`${h.running.url}/__sim/requests?operation=deviceList`, { method: 'GET' })).body as Json[];
    expect(log.map((r) => r.status)).toEqual([503, 503, 200]);
    expect(log[0]).toEqual({
      operation: 'deviceList',
      method: 'POST',
      path: '/api/m2m/v1/devices/actions/list',
      status: 503,
      at: expect.any(String),
    });
  });

  test('clear drops queued faults; delayMs without a status only holds the real answer', async () => {
    const h = await start();
    const c = await client(h.api);
    const post = (body: unknown) =>
      http(`${h.running.url}/__sim/faults`, {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    await post({ responses: [{ operation: 'deviceList', status: 500, times: 5 }], callbacks: { order: 'reverse' } });
    const cleared = await post({ clear: true, responses: [{ operation: 'deviceList', delayMs: 150 }] });
    expect(cleared.body).toEqual({
      responses: [{ operation: 'deviceList', delayMs: 150, times: 1, processed: false }],
      callbacks: { order: 'documented', duplicate: 0, drop: 0, fail: {}, beforeResponse: [], never: [] },
    });
    const started = Date.now();
    const res = await c.call('POST', '/devices/actions/list', { accountName: ACCOUNT });
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect((await http(`${h.running.url}/__sim/health`, { method: 'GET' })).body).toEqual({ ok: true, seed: 1 });
  });

  test('invalid fault requests are refused with the reason', async () => {
    const h = await start();
    const res = await http(`${h.running.url}/__sim/faults`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ callbacks: { duplicate: 2 } }),
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: 'InvalidControlRequest',
      issues: [{ path: 'callbacks.duplicate', message: expect.any(String) }],
    });
  });
});

describe('control API', () => {
  test('devices can be added, replaced and looked up; reset restores the fixture', async () => {
    const h = await start();
    const url = h.running.url;
    const fixtureCount = devices(h).length;
    const added = {
      accountName: '0000999999-00001',
      eid: '89049032001100000000000000000042',
      iccid: '89148000009999999999',
      imei: '353456789012345',
      state: 'pre-active',
      servicePlan: 'M2M4G1GB',
    };
    const post = await http(`${url}/__sim/devices`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ devices: [added] }),
    });
    expect(post.status).toBe(200);
    expect(post.body).toEqual([
      { ...added, deviceNumber: fixtureCount + 1, createdAt: expect.any(String), connected: false, retiredLines: [] },
    ]);
    const replaced = await http(`${url}/__sim/devices`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...added, state: 'active', mdn: '3125550199' }),
    });
    expect(replaced.body[0]).toMatchObject({ deviceNumber: fixtureCount + 1, state: 'active', mdn: '3125550199' });
    expect((await http(`${url}/__sim/devices/mdn/3125550199`, { method: 'GET' })).body.imei).toBe(added.imei);

    const clash = await http(`${url}/__sim/devices`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        ...added,
        imei: '353456789012999',
        eid: undefined,
        iccid: '89148000009999999998',
        mdn: '3125550199',
      }),
    });
    expect(clash.status).toBe(400);

    const c = await client(h.api);
    expect(
      (await c.call('POST', '/devices/actions/list', { accountName: '0000999999-00001' })).body.devices,
    ).toHaveLength(1);

    expect(
      (await http(`${url}/__sim/reset`, { headers: { 'content-type': 'application/json' }, body: '{"seed":9}' })).body,
    ).toEqual({
      seed: 9,
    });
    expect((await http(`${url}/__sim/devices`, { method: 'GET' })).body).toHaveLength(fixtureCount);
    expect((await http(`${url}/__sim/devices/imei/${added.imei}`, { method: 'GET' })).status).toBe(404);
    expect((await http(`${url}/__sim/requests`, { method: 'GET' })).body).toEqual([]);
    expect((await c.call('POST', '/devices/actions/list', { accountName: ACCOUNT })).body.fault.code).toBe('900901');
  });
});
