/**
 * The ThingSpace client against a small fake ThingSpace over real HTTP on loopback. The fake stands in
 * for the external API only: it issues tokens and sessions, expires them on demand, and records what
 * it received.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import express, { type Request, type Response } from 'express';
import pino from 'pino';
import {
  createThingSpaceClient,
  ThingSpaceError,
  type ChangeDeviceIdentifierBody,
  type EidDeviceSwapBody,
  type ThingSpaceCall,
  type ThingSpaceClientConfig,
} from '../../thingspace/index.js';

const CLIENT_SECRET = 'client-secret-4f1c9e';
const PASSWORD = 'login-password-8b2d7a';

interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

type Handler = (req: Request) => Answer | Promise<Answer>;

interface Received {
  path: string;
  headers: Request['headers'];
  body: unknown;
}

class FakeThingSpace {
  tokenCalls = 0;
  loginCalls = 0;
  received: Received[] = [];
  validTokens = new Set<string>();
  validSessions = new Set<string>();
  tokenLifetimeSeconds = 3600;
  loginDelayMs = 0;
  /** Overrides the token endpoint's answer. */
  tokenAnswer: Handler | undefined;
  /** Overrides the login endpoint's answer. */
  loginAnswer: Handler | undefined;
  /** Answers of M2M operations, by path after /api/m2m/v1/. */
  operations = new Map<string, Handler>();
  /** When set, every M2M call is refused with this answer regardless of its tokens. */
  refuseEveryCall: Answer | undefined;
  /** When false, every answer closes its connection, so the client keeps no socket for a later call. */
  keepAlive = true;
  server!: Server;
  url = '';

  async start(): Promise<void> {
    const app = express();
    app.use((_req, res, next) => {
      if (!this.keepAlive) res.set('connection', 'close');
      next();
    });
    app.use(express.urlencoded({ extended: false }));
    app.use(express.json());
    const send = (res: Response, answer: Answer): void => {
      res.status(answer.status).set(answer.headers ?? {});
      if (answer.body === undefined) res.end();
      else if (typeof answer.body === 'string') res.send(answer.body);
      else res.json(answer.body);
    };
    const record = (req: Request): void => {
      this.received.push({
        path: req.originalUrl.split('?')[0] ?? '',
        headers: req.headers,
        body: req.body as unknown,
      });
    };

    app.post('/api/ts/v1/oauth2/token', async (req, res) => {
      this.tokenCalls += 1;
      record(req);
      if (this.tokenAnswer) return send(res, await this.tokenAnswer(req));
      const token = `access-token-${this.tokenCalls}-d41d8cd9`;
      this.validTokens.add(token);
      send(res, {
        status: 200,
        body: { access_token: token, token_type: 'Bearer', expires_in: this.tokenLifetimeSeconds, scope: 'ts' },
      });
    });

    app.post('/api/m2m/v1/session/login', async (req, res) => {
      this.loginCalls += 1;
      record(req);
      if (this.loginDelayMs) await new Promise((resolve) => setTimeout(resolve, this.loginDelayMs));
      if (!this.bearerValid(req)) return send(res, bearerExpired);
      if (this.loginAnswer) return send(res, await this.loginAnswer(req));
      const token = `session-token-${this.loginCalls}-9e107d9d`;
      this.validSessions.add(token);
      send(res, { status: 200, body: { sessionToken: token } });
    });

    app.post('/api/m2m/v1/session/logout', (req, res) => {
      record(req);
      this.validSessions.delete(String(req.headers['vz-m2m-token']));
      send(res, { status: 200, body: { sessionToken: req.headers['vz-m2m-token'] } });
    });

    app.use('/api/m2m/v1', async (req, res) => {
      record(req);
      if (this.refuseEveryCall) return send(res, this.refuseEveryCall);
      if (!this.bearerValid(req)) return send(res, bearerExpired);
      if (!this.validSessions.has(String(req.headers['vz-m2m-token']))) {
        // The eSIM profile pages answer every error in the 3-digit form, an expired session as a 401.
        return send(res, req.path.startsWith('/devices/profile/') ? profileSessionExpired : sessionExpired);
      }
      const handler = this.operations.get(`${req.method} ${req.path}`);
      send(
        res,
        handler ? await handler(req) : { status: 404, body: '<am:fault><am:message>Not Found</am:message></am:fault>' },
      );
    });

    this.server = app.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api`;
  }

  bearerValid(req: Request): boolean {
    const header = req.headers.authorization ?? '';
    return header.startsWith('Bearer ') && this.validTokens.has(header.slice('Bearer '.length));
  }

  /** What ThingSpace does when tokens lapse: previously issued ones stop working. */
  expireSessions(): void {
    this.validSessions.clear();
  }

  expireTokens(): void {
    this.validTokens.clear();
  }

  callsTo(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const sessionExpired: Answer = {
  status: 400,
  body: {
    errorCode: 'UnifiedWebService.REQUEST_FAILED.SessionToken.Expired',
    errorMessage: 'The Session has expired.',
  },
};
const profileSessionExpired: Answer = {
  status: 401,
  body: { errorCode: '401', errorMessage: 'The Session has expired.' },
};
const bearerExpired: Answer = {
  status: 401,
  body: { fault: { code: 900901, message: 'Invalid Credentials', description: 'Access failure for API: /m2m/v1' } },
};

const swapBody: EidDeviceSwapBody = {
  accountName: '1223334444-01234',
  deviceToSwapOut: [
    { kind: 'mdn', id: '8586928930' },
    { kind: 'eid', id: '66645678912345678912345678400812' },
    { kind: 'imei', id: '990013907835573' },
    { kind: 'iccid', id: '42590078891480000008' },
  ],
  deviceToSwapIn: [
    { kind: 'eid', id: '67891278912345345678400866645612' },
    { kind: 'imei', id: '990013907884259' },
  ],
  mdnZipCode: '98802',
  serviceName: 'WiFi',
  stateName: 'WiFi Activate',
  servicePlan: '4G 2GB',
  smsrOid: '1.3.6.1.4.1.31746.1.500.200.101.5',
};

const SWAP = 'POST /devices/actions/eidDeviceSwap';
const SWAP_PATH = '/api/m2m/v1/devices/actions/eidDeviceSwap';
const LIST = 'POST /devices/actions/list';

let fake: FakeThingSpace;
let logLines: string[];

function config(overrides: Partial<ThingSpaceClientConfig> = {}): ThingSpaceClientConfig {
  return {
    baseUrl: fake.url,
    clientId: 'client-id',
    clientSecret: CLIENT_SECRET,
    username: 'm2m-user',
    password: PASSWORD,
    ...overrides,
  };
}

function capturingLogger(): pino.Logger {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  return pino({ level: 'debug' }, stream);
}

function client(overrides: Partial<ThingSpaceClientConfig> = {}, now?: () => number) {
  return createThingSpaceClient(config(overrides), { logger: capturingLogger(), ...(now ? { now } : {}) });
}

async function rejection(promise: Promise<unknown>): Promise<ThingSpaceError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ThingSpaceError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

function fields(err: ThingSpaceError) {
  return {
    status: err.status,
    code: err.code,
    message: err.message,
    retryable: err.retryable,
    authFailure: err.authFailure,
    retryAfterMs: err.retryAfterMs,
    mayHaveActed: err.mayHaveActed,
    networkCode: err.networkCode,
  };
}

beforeEach(async () => {
  logLines = [];
  fake = new FakeThingSpace();
  fake.operations.set(SWAP, () => ({ status: 200, body: { requestId: '595f5c44-c31c-4552-8670-020a1545a84d' } }));
  fake.operations.set(LIST, () => ({ status: 200, body: { hasMoreData: false, devices: [] } }));
  await fake.start();
});

afterEach(async () => {
  await fake.stop();
});

describe('ThingSpace client: tokens and sessions', () => {
  test('the first call gets a token and a session, and later calls reuse both', async () => {
    const thingspace = client();

    await expect(thingspace.eidDeviceSwap(swapBody)).resolves.toEqual({
      requestId: '595f5c44-c31c-4552-8670-020a1545a84d',
    });
    await thingspace.eidDeviceSwap(swapBody);
    await thingspace.listDevices({ accountName: '1223334444-01234' });

    expect({ tokenCalls: fake.tokenCalls, loginCalls: fake.loginCalls }).toEqual({ tokenCalls: 1, loginCalls: 1 });
    const [tokenRequest] = fake.callsTo('/api/ts/v1/oauth2/token');
    expect(tokenRequest?.headers.authorization).toBe(
      `Basic ${Buffer.from(`client-id:${CLIENT_SECRET}`).toString('base64')}`,
    );
    expect(tokenRequest?.body).toEqual({ grant_type: 'client_credentials' });
    const [login] = fake.callsTo('/api/m2m/v1/session/login');
    expect(login?.body).toEqual({ username: 'm2m-user', password: PASSWORD });
    expect(login?.headers.authorization).toBe('Bearer access-token-1-d41d8cd9');
    const [swap] = fake.callsTo(SWAP_PATH);
    expect(swap?.headers).toMatchObject({
      authorization: 'Bearer access-token-1-d41d8cd9',
      'vz-m2m-token': 'session-token-1-9e107d9d',
      'content-type': 'application/json',
    });
  });

  test('the swap body reaches ThingSpace without the saga options', async () => {
    const thingspace = client();

    await thingspace.eidDeviceSwap({ ...swapBody, options: { stepTimeout: '1 hour' } } as EidDeviceSwapBody);

    expect(fake.callsTo(SWAP_PATH)[0]?.body).toEqual(swapBody);
  });

  test('ten concurrent calls on a fresh client share one token request and one login', async () => {
    fake.loginDelayMs = 50;
    const thingspace = client();

    const results = await Promise.all(Array.from({ length: 10 }, () => thingspace.eidDeviceSwap(swapBody)));

    expect(results).toHaveLength(10);
    expect({ tokenCalls: fake.tokenCalls, loginCalls: fake.loginCalls }).toEqual({ tokenCalls: 1, loginCalls: 1 });
  });

  test('when the session expires mid-call, the call is retried after exactly one login', async () => {
    const thingspace = client();
    await thingspace.eidDeviceSwap(swapBody);
    fake.expireSessions();

    await expect(thingspace.eidDeviceSwap(swapBody)).resolves.toEqual({
      requestId: '595f5c44-c31c-4552-8670-020a1545a84d',
    });

    expect({ loginCalls: fake.loginCalls, tokenCalls: fake.tokenCalls, swaps: fake.callsTo(SWAP_PATH).length }).toEqual(
      {
        loginCalls: 2,
        tokenCalls: 1,
        swaps: 3,
      },
    );
    expect(fake.callsTo(SWAP_PATH)[2]?.headers['vz-m2m-token']).toBe('session-token-2-9e107d9d');
  });

  test('when ten concurrent calls all find the session expired, they share one new login', async () => {
    const thingspace = client();
    await thingspace.listDevices({});
    fake.expireSessions();
    fake.loginDelayMs = 50;

    await Promise.all(Array.from({ length: 10 }, () => thingspace.listDevices({})));

    expect(fake.loginCalls).toBe(2);
  });

  test('when the session is refused again after the new login, the error is thrown and no third login happens', async () => {
    const thingspace = client();
    fake.refuseEveryCall = sessionExpired;

    const err = await rejection(thingspace.eidDeviceSwap(swapBody));

    expect(fields(err)).toEqual({
      status: 400,
      code: 'REQUEST_FAILED.SessionToken.Expired',
      message: 'The Session has expired.',
      retryable: false,
      authFailure: undefined,
      retryAfterMs: undefined,
    });
    expect({ loginCalls: fake.loginCalls, swaps: fake.callsTo(SWAP_PATH).length }).toEqual({ loginCalls: 2, swaps: 2 });
  });

  test('when the bearer token expires (fault 900901), a new token and a new session are obtained once', async () => {
    const thingspace = client();
    await thingspace.eidDeviceSwap(swapBody);
    fake.expireTokens();

    await thingspace.eidDeviceSwap(swapBody);

    expect({ tokenCalls: fake.tokenCalls, loginCalls: fake.loginCalls }).toEqual({ tokenCalls: 2, loginCalls: 2 });
    expect(fake.callsTo(SWAP_PATH)[2]?.headers).toMatchObject({
      authorization: 'Bearer access-token-2-d41d8cd9',
      'vz-m2m-token': 'session-token-2-9e107d9d',
    });
  });

  test('when the bearer is refused again after renewal, the 401 is thrown after one renewal', async () => {
    const thingspace = client();
    fake.refuseEveryCall = bearerExpired;

    const err = await rejection(thingspace.eidDeviceSwap(swapBody));

    expect(fields(err)).toEqual({
      status: 401,
      code: '900901',
      message: 'Invalid Credentials: Access failure for API: /m2m/v1',
      retryable: false,
      authFailure: undefined,
      retryAfterMs: undefined,
    });
    expect({ tokenCalls: fake.tokenCalls, loginCalls: fake.loginCalls, swaps: fake.callsTo(SWAP_PATH).length }).toEqual(
      { tokenCalls: 2, loginCalls: 2, swaps: 2 },
    );
  });

  test('a session idle for 19 minutes is renewed before the call, without a refused request', async () => {
    let clock = 1_700_000_000_000;
    const thingspace = client({}, () => clock);
    await thingspace.listDevices({});

    clock += 18 * 60_000;
    await thingspace.listDevices({});
    expect(fake.loginCalls).toBe(1);

    clock += 19 * 60_000;
    await thingspace.listDevices({});

    expect({
      loginCalls: fake.loginCalls,
      listCalls: fake.callsTo('/api/m2m/v1/devices/actions/list').length,
    }).toEqual({ loginCalls: 2, listCalls: 3 });
  });

  test('the token is cached for its lifetime less a safety margin', async () => {
    fake.tokenLifetimeSeconds = 3600;
    let clock = 1_700_000_000_000;
    const thingspace = client({}, () => clock);
    await thingspace.listDevices({});

    clock += 58 * 60_000;
    await thingspace.listDevices({});
    expect(fake.tokenCalls).toBe(1);

    clock += 60_000;
    await thingspace.listDevices({});
    expect(fake.tokenCalls).toBe(2);
  });

  test('logout ends the session, and the next call logs in again', async () => {
    const thingspace = client();
    await thingspace.listDevices({});

    await thingspace.logout();
    await thingspace.listDevices({});

    expect(fake.callsTo('/api/m2m/v1/session/logout')[0]?.headers['vz-m2m-token']).toBe('session-token-1-9e107d9d');
    expect(fake.loginCalls).toBe(2);
  });

  test('logout without a session sends nothing', async () => {
    await client().logout();

    expect(fake.received).toEqual([]);
  });
});

describe('ThingSpace client: eSIM profile endpoints answer errors in the 3-digit form', () => {
  const PLAN = 'POST /devices/profile/actions/serviceplan';
  const PLAN_PATH = '/api/m2m/v1/devices/profile/actions/serviceplan';
  const planBody = {
    accountName: '1223334444-01234',
    devices: [
      {
        deviceIds: [
          { kind: 'eid', id: '66645678912345678912345678400812' },
          { kind: 'iccid', id: '42590078891480000008' },
        ],
      },
    ],
    servicePlan: 'M2M4G5GB',
  };

  beforeEach(() => {
    fake.operations.set(PLAN, () => ({ status: 200, body: { requestId: 'plan-request-1' } }));
  });

  test('when the session expires, the profile endpoint answers 401 {"errorCode":"401"} and the call is sent again after exactly one login', async () => {
    const thingspace = client();
    await thingspace.changeProfileServicePlan(planBody);
    fake.expireSessions();

    await expect(thingspace.changeProfileServicePlan(planBody)).resolves.toEqual({ requestId: 'plan-request-1' });

    expect({ loginCalls: fake.loginCalls, tokenCalls: fake.tokenCalls, plans: fake.callsTo(PLAN_PATH).length }).toEqual(
      {
        loginCalls: 2,
        tokenCalls: 1,
        plans: 3,
      },
    );
    expect(fake.callsTo(PLAN_PATH)[2]?.headers['vz-m2m-token']).toBe('session-token-2-9e107d9d');
  });

  test('when session and bearer have both expired, the one re-login renews the token too', async () => {
    const thingspace = client();
    await thingspace.changeProfileServicePlan(planBody);
    fake.expireSessions();
    fake.expireTokens();

    await expect(thingspace.changeProfileServicePlan(planBody)).resolves.toEqual({ requestId: 'plan-request-1' });

    expect({ loginCalls: fake.loginCalls, tokenCalls: fake.tokenCalls }).toEqual({ loginCalls: 2, tokenCalls: 2 });
  });

  test('a 401 in the 3-digit form again after the new login is thrown: no loop, no third login', async () => {
    const thingspace = client();
    fake.refuseEveryCall = profileSessionExpired;

    const err = await rejection(thingspace.changeProfileServicePlan(planBody));

    expect(fields(err)).toEqual({
      status: 401,
      code: '401',
      message: 'The Session has expired.',
      retryable: false,
      authFailure: undefined,
      retryAfterMs: undefined,
    });
    expect({ loginCalls: fake.loginCalls, plans: fake.callsTo(PLAN_PATH).length }).toEqual({ loginCalls: 2, plans: 2 });
  });

  test('a 3-digit 400 keeps its status and message and is not sent again', async () => {
    const thingspace = client();
    fake.operations.set(PLAN, () => ({
      status: 400,
      body: {
        errorCode: '400',
        errorMessage: 'The request has 101 devices; at most 100 devices are allowed in one request.',
      },
    }));

    const err = await rejection(thingspace.changeProfileServicePlan(planBody));

    expect(fields(err)).toEqual({
      status: 400,
      code: '400',
      message: 'The request has 101 devices; at most 100 devices are allowed in one request.',
      retryable: false,
      authFailure: undefined,
      retryAfterMs: undefined,
    });
    expect({ loginCalls: fake.loginCalls, plans: fake.callsTo(PLAN_PATH).length }).toEqual({ loginCalls: 1, plans: 1 });
  });

  test('outside the profile endpoints a 3-digit 401 is not taken for an expired session', async () => {
    const thingspace = client();
    fake.operations.set(SWAP, () => ({ status: 401, body: { errorCode: '401', errorMessage: 'Unauthorized' } }));

    const err = await rejection(thingspace.eidDeviceSwap(swapBody));

    expect({ status: err.status, code: err.code }).toEqual({ status: 401, code: '401' });
    expect({ loginCalls: fake.loginCalls, swaps: fake.callsTo(SWAP_PATH).length }).toEqual({ loginCalls: 1, swaps: 1 });
  });
});

describe('ThingSpace client: failed logins never loop', () => {
  const badLogin: Answer = {
    status: 400,
    body: {
      errorCode: 'UnifiedWebService.INPUT_INVALID.UserName.Password.Invalid',
      errorMessage: 'Invalid credentials.',
    },
  };

  test('a rejected login is not retried, and after two the client refuses to log in until reset', async () => {
    fake.loginAnswer = () => badLogin;
    const thingspace = client();

    const first = await rejection(thingspace.eidDeviceSwap(swapBody));
    expect(fields(first)).toEqual({
      status: 400,
      code: 'INPUT_INVALID.UserName.Password.Invalid',
      message: 'Invalid credentials.',
      retryable: false,
      authFailure: true,
      retryAfterMs: undefined,
    });
    expect(fake.loginCalls).toBe(1);

    await rejection(thingspace.eidDeviceSwap(swapBody));
    expect(fake.loginCalls).toBe(2);

    const refused = await rejection(thingspace.eidDeviceSwap(swapBody));
    expect({ code: refused.code, authFailure: refused.authFailure, retryable: refused.retryable }).toEqual({
      code: 'LoginSuspended',
      authFailure: true,
      retryable: false,
    });
    expect(refused.message).toMatch(/5 consecutive failed logins lock the account/);
    expect({ loginCalls: fake.loginCalls, swaps: fake.callsTo(SWAP_PATH).length }).toEqual({ loginCalls: 2, swaps: 0 });

    fake.loginAnswer = undefined;
    thingspace.resetLoginGuard();
    await expect(thingspace.eidDeviceSwap(swapBody)).resolves.toEqual({
      requestId: '595f5c44-c31c-4552-8670-020a1545a84d',
    });
    expect(fake.loginCalls).toBe(3);
  });

  test('ten concurrent calls with a bad password cost one failed login, not ten', async () => {
    fake.loginAnswer = () => badLogin;
    fake.loginDelayMs = 50;
    const thingspace = client();

    const errors = await Promise.all(Array.from({ length: 10 }, () => rejection(thingspace.listDevices({}))));

    expect(errors.every((e) => e.authFailure === true)).toBe(true);
    expect(fake.loginCalls).toBe(1);
  });

  test('a rejected OAuth client is an auth failure with the OAuth error as its code', async () => {
    fake.tokenAnswer = () => ({
      status: 401,
      body: { error: 'invalid_client', error_description: 'Client authentication failed' },
    });
    const thingspace = client();

    const err = await rejection(thingspace.listCallbacks('1223334444-01234'));

    expect(fields(err)).toEqual({
      status: 401,
      code: 'invalid_client',
      message: 'Client authentication failed',
      retryable: false,
      authFailure: true,
      retryAfterMs: undefined,
    });
    expect(fake.loginCalls).toBe(0);
  });

  test('verifyCredentials asks for one token and logs in once, and the next call reuses that session', async () => {
    fake.operations.set('GET /callbacks/1223334444-01234', () => ({ status: 200 }));
    const thingspace = client();

    await expect(thingspace.verifyCredentials()).resolves.toEqual({ ok: true });
    await thingspace.listCallbacks('1223334444-01234');

    expect({ tokenCalls: fake.tokenCalls, loginCalls: fake.loginCalls }).toEqual({ tokenCalls: 1, loginCalls: 1 });
  });

  test('verifyCredentials names the refused step: a bad password costs one login, a bad client none', async () => {
    fake.loginAnswer = () => badLogin;
    const wrongPassword = await client().verifyCredentials();
    expect(wrongPassword).toEqual({ ok: false, failedStep: 'session', error: expect.any(ThingSpaceError) });
    expect(!wrongPassword.ok && wrongPassword.error.code).toBe('INPUT_INVALID.UserName.Password.Invalid');
    expect({ tokenCalls: fake.tokenCalls, loginCalls: fake.loginCalls }).toEqual({ tokenCalls: 1, loginCalls: 1 });

    fake.tokenAnswer = () => ({ status: 401, body: { error: 'invalid_client', error_description: 'Bad client' } });
    const wrongClient = await client().verifyCredentials();
    expect(!wrongClient.ok && [wrongClient.failedStep, wrongClient.error.code]).toEqual(['token', 'invalid_client']);
    expect({ tokenCalls: fake.tokenCalls, loginCalls: fake.loginCalls }).toEqual({ tokenCalls: 2, loginCalls: 1 });
  });

  test('a login that meets an outage (503) stays retryable and does not count towards the lock', async () => {
    fake.loginAnswer = () => ({ status: 503, body: '' });
    const thingspace = client();

    for (let i = 0; i < 3; i += 1) {
      const err = await rejection(thingspace.listDevices({}));
      expect({ status: err.status, retryable: err.retryable, authFailure: err.authFailure }).toEqual({
        status: 503,
        retryable: true,
        authFailure: undefined,
      });
    }
    expect(fake.loginCalls).toBe(3);
  });
});

describe('ThingSpace client: operations', () => {
  const account = '1223334444-01234';

  test('a device identifier change is a PUT to the serviceType path, without the saga options or serviceType in the body', async () => {
    const changes: Array<{ method: string; body: unknown }> = [];
    fake.operations.set('PUT /devices/4g/actions/deviceId', (req) => {
      changes.push({ method: req.method, body: req.body as unknown });
      return { status: 200, body: { requestId: '595f5c44-c31c-4552-8670-020a1545a84d' } };
    });
    const body: ChangeDeviceIdentifierBody = {
      deviceIds: [{ kind: 'imei', id: '990013907835573' }],
      deviceIdsTo: [{ kind: 'iccid', id: '89148000004346060150' }],
      change4gOption: 'ChangeICCID',
    };
    const thingspace = client();

    await expect(
      thingspace.changeDeviceIdentifier('4g', {
        ...body,
        serviceType: '4g',
        options: { failurePolicy: 'fail' },
      } as ChangeDeviceIdentifierBody),
    ).resolves.toEqual({ requestId: '595f5c44-c31c-4552-8670-020a1545a84d' });

    expect(changes).toEqual([{ method: 'PUT', body }]);
    const [change] = fake.callsTo('/api/m2m/v1/devices/4g/actions/deviceId');
    expect(change?.headers).toMatchObject({
      authorization: 'Bearer access-token-1-d41d8cd9',
      'vz-m2m-token': 'session-token-1-9e107d9d',
      'content-type': 'application/json',
    });
  });

  test('callbacks are registered, listed without their passwords, and deregistered', async () => {
    const registered: unknown[] = [];
    fake.operations.set(`POST /callbacks/${account}`, (req) => {
      registered.push(req.body);
      return { status: 200, body: { accountName: account, serviceName: (req.body as { name: string }).name } };
    });
    fake.operations.set(`GET /callbacks/${account}`, () => ({
      status: 200,
      body: [
        { accountName: account, serviceName: 'CarrierService', url: 'https://gw.example/callbacks/CarrierService' },
        {
          accountName: account,
          serviceName: 'StateService',
          url: 'https://gw.example/callbacks/StateService',
          username: 'cb-user',
          password: 'cb-password-123',
        },
      ],
    }));
    fake.operations.set(`DELETE /callbacks/${account}/name/CarrierService`, () => ({
      status: 200,
      body: { accountName: account, serviceName: 'CarrierService' },
    }));
    const thingspace = client();

    await expect(
      thingspace.registerCallback(account, {
        name: 'StateService',
        url: 'https://gw.example/callbacks/StateService',
        username: 'cb-user',
        password: 'cb-password-123',
      }),
    ).resolves.toEqual({ accountName: account, serviceName: 'StateService' });
    await expect(thingspace.listCallbacks(account)).resolves.toEqual([
      { accountName: account, serviceName: 'CarrierService', url: 'https://gw.example/callbacks/CarrierService' },
      {
        accountName: account,
        serviceName: 'StateService',
        url: 'https://gw.example/callbacks/StateService',
        username: 'cb-user',
      },
    ]);
    await expect(thingspace.deregisterCallback(account, 'CarrierService')).resolves.toBeUndefined();

    expect(registered).toEqual([
      {
        name: 'StateService',
        url: 'https://gw.example/callbacks/StateService',
        username: 'cb-user',
        password: 'cb-password-123',
      },
    ]);
  });

  test('an account without callbacks may answer an empty body, which lists as none', async () => {
    fake.operations.set(`GET /callbacks/${account}`, () => ({ status: 200 }));

    await expect(client().listCallbacks(account)).resolves.toEqual([]);
  });

  test('a device list answered 202 has more data, and `ids` are read as device ids', async () => {
    fake.operations.set(LIST, () => ({
      status: 202,
      body: {
        devices: [
          {
            accountName: account,
            ids: [{ kind: 'IMEI', id: '990013907835573' }],
            carrierInformations: [{ carrierName: 'Verizon Wireless', servicePlan: '4G 2GB', state: 'Active' }],
            connected: true,
          },
        ],
      },
    }));

    await expect(client().listDevices({ accountName: account, maxNumberOfDevices: 1 })).resolves.toEqual({
      hasMoreData: true,
      devices: [
        {
          accountName: account,
          deviceIds: [{ kind: 'imei', id: '990013907835573' }],
          carrierInformations: [{ carrierName: 'Verizon Wireless', servicePlan: '4G 2GB', state: 'Active' }],
          connected: true,
        },
      ],
    });
  });

  test('a last page answered 200 has no more data', async () => {
    await expect(client().listDevices({ accountName: account })).resolves.toEqual({ hasMoreData: false, devices: [] });
  });

  test('a rejected swap is thrown with the code without its service name, and not sent again', async () => {
    fake.operations.set(SWAP, () => ({
      status: 400,
      body: { errorCode: 'UnifiedWebService.INPUT_INVALID.DeviceState.Invalid', errorMessage: 'Device is not active.' },
    }));

    const err = await rejection(client().eidDeviceSwap(swapBody));

    expect(fields(err)).toEqual({
      status: 400,
      code: 'INPUT_INVALID.DeviceState.Invalid',
      message: 'Device is not active.',
      retryable: false,
      authFailure: undefined,
      retryAfterMs: undefined,
    });
    expect(fake.callsTo(SWAP_PATH)).toHaveLength(1);
  });

  test('a throttled call carries the Retry-After delay and is retryable', async () => {
    fake.operations.set(SWAP, () => ({
      status: 429,
      headers: { 'Retry-After': '7' },
      body: { message: 'Too Many Requests' },
    }));

    const err = await rejection(client().eidDeviceSwap(swapBody));

    expect(fields(err)).toEqual({
      status: 429,
      code: 'HTTP_429',
      message: 'Too Many Requests',
      retryable: true,
      authFailure: undefined,
      retryAfterMs: 7000,
    });
  });

  test('a success without a requestId is an invalid answer, not retried', async () => {
    fake.operations.set(SWAP, () => ({ status: 200, body: {} }));

    const err = await rejection(client().eidDeviceSwap(swapBody));

    expect({ status: err.status, code: err.code, retryable: err.retryable }).toEqual({
      status: 200,
      code: 'INVALID_RESPONSE',
      retryable: false,
    });
  });
});

describe('ThingSpace client: whether a failed operation may have been carried out', () => {
  test('a swap answered 502 may have been carried out, and the error says so', async () => {
    fake.operations.set(SWAP, () => ({ status: 502, body: '<html><title>502 Bad Gateway</title></html>' }));

    const err = await rejection(client().eidDeviceSwap(swapBody));

    expect(fields(err)).toEqual({
      status: 502,
      code: 'HTTP_502',
      message: '502 Bad Gateway',
      retryable: true,
      authFailure: undefined,
      retryAfterMs: undefined,
      mayHaveActed: true,
      networkCode: undefined,
    });
    expect(fake.callsTo(SWAP_PATH)).toHaveLength(1);
  });

  test('a swap answered 503 was turned away, so sending it again is safe', async () => {
    fake.operations.set(SWAP, () => ({ status: 503, headers: { 'Retry-After': '5' }, body: '' }));

    const err = await rejection(client().eidDeviceSwap(swapBody));

    expect(fields(err)).toEqual({
      status: 503,
      code: 'HTTP_503',
      message: 'ThingSpace answered HTTP 503',
      retryable: true,
      authFailure: undefined,
      retryAfterMs: 5000,
      mayHaveActed: undefined,
      networkCode: undefined,
    });
  });

  test('a login answered 502 is not the swap: the swap was never sent, so it did not act', async () => {
    fake.loginAnswer = () => ({ status: 502, body: '' });

    const err = await rejection(client().eidDeviceSwap(swapBody));

    expect(fields(err)).toEqual({
      status: 502,
      code: 'HTTP_502',
      message: 'ThingSpace answered HTTP 502',
      retryable: true,
      authFailure: undefined,
      retryAfterMs: undefined,
      mayHaveActed: undefined,
      networkCode: undefined,
    });
    expect(fake.callsTo(SWAP_PATH)).toEqual([]);
  });

  test('a token request answered 504 is not the swap either', async () => {
    fake.tokenAnswer = () => ({ status: 504, body: '' });

    const err = await rejection(client().eidDeviceSwap(swapBody));

    expect({ status: err.status, mayHaveActed: err.mayHaveActed, swaps: fake.callsTo(SWAP_PATH).length }).toEqual({
      status: 504,
      mayHaveActed: undefined,
      swaps: 0,
    });
  });

  test('a swap whose connection ThingSpace drops mid-request may have been carried out', async () => {
    fake.operations.set(SWAP, (req) => {
      req.socket.destroy();
      return new Promise<Answer>(() => undefined);
    });

    const err = await rejection(client().eidDeviceSwap(swapBody));

    expect(fields(err)).toEqual({
      status: 0,
      code: 'NETWORK',
      message: 'ThingSpace could not be reached (ECONNRESET)',
      retryable: true,
      authFailure: undefined,
      retryAfterMs: undefined,
      mayHaveActed: true,
      networkCode: 'ECONNRESET',
    });
    expect(fake.callsTo(SWAP_PATH)).toHaveLength(1);
  });

  test('a swap whose connection is refused never reached ThingSpace', async () => {
    fake.keepAlive = false;
    const thingspace = client();
    await thingspace.listDevices({});
    await fake.stop();

    const err = await rejection(thingspace.eidDeviceSwap(swapBody));

    expect(fields(err)).toEqual({
      status: 0,
      code: 'NETWORK',
      message: 'ThingSpace could not be reached (ECONNREFUSED)',
      retryable: true,
      authFailure: undefined,
      retryAfterMs: undefined,
      mayHaveActed: undefined,
      networkCode: 'ECONNREFUSED',
    });
    await fake.start();
  });

  test('a swap rejected with a 4xx was not carried out', async () => {
    fake.operations.set(SWAP, () => ({
      status: 400,
      body: { errorCode: 'UnifiedWebService.INPUT_INVALID.DeviceState.Invalid', errorMessage: 'Device is not active.' },
    }));

    const err = await rejection(client().eidDeviceSwap(swapBody));

    expect(err.mayHaveActed).toBeUndefined();
  });
});

describe('ThingSpace client: network failures and cancellation', () => {
  test('an unreachable ThingSpace gives a retryable NETWORK error', async () => {
    const url = fake.url;
    await fake.stop();
    const thingspace = createThingSpaceClient({ ...config(), baseUrl: url });

    const err = await rejection(thingspace.listDevices({}));

    expect(fields(err)).toEqual({
      status: 0,
      code: 'NETWORK',
      message: 'ThingSpace could not be reached (ECONNREFUSED)',
      retryable: true,
      authFailure: undefined,
      retryAfterMs: undefined,
      mayHaveActed: undefined,
      networkCode: 'ECONNREFUSED',
    });
    await fake.start();
  });

  test('a swap slower than the timeout gives a retryable TIMEOUT error that may have been carried out', async () => {
    fake.operations.set(SWAP, async () => {
      await new Promise((resolve) => setTimeout(resolve, 500));
      return { status: 200, body: { requestId: 'late' } };
    });

    const err = await rejection(client({ timeoutMs: 150 }).eidDeviceSwap(swapBody));

    expect(fields(err)).toEqual({
      status: 0,
      code: 'TIMEOUT',
      message: 'ThingSpace did not answer in time (ETIMEDOUT)',
      retryable: true,
      authFailure: undefined,
      retryAfterMs: undefined,
      mayHaveActed: true,
      networkCode: 'ETIMEDOUT',
    });
  });

  test('cancelling a call aborts the request with the signal reason', async () => {
    fake.operations.set(SWAP, async () => {
      await new Promise((resolve) => setTimeout(resolve, 500));
      return { status: 200, body: { requestId: 'late' } };
    });
    const controller = new AbortController();
    const reason = new Error('activity cancelled');
    const thingspace = client();

    const call = thingspace.eidDeviceSwap(swapBody, controller.signal);
    setTimeout(() => controller.abort(reason), 100);

    await expect(call).rejects.toBe(reason);
  });

  test('a call cancelled while waiting for the shared login leaves the login to the others', async () => {
    fake.loginDelayMs = 150;
    const controller = new AbortController();
    const thingspace = client();

    const cancelled = thingspace.listDevices({}, controller.signal);
    const other = thingspace.listDevices({});
    controller.abort(new Error('activity cancelled'));

    await expect(cancelled).rejects.toThrow('activity cancelled');
    await expect(other).resolves.toEqual({ hasMoreData: false, devices: [] });
    expect(fake.loginCalls).toBe(1);
  });
});

describe('ThingSpace client: secrets stay secret', () => {
  function secretsOf(): string[] {
    return [
      CLIENT_SECRET,
      PASSWORD,
      Buffer.from(`client-id:${CLIENT_SECRET}`).toString('base64'),
      ...fake.validTokens,
      ...fake.validSessions,
    ];
  }

  function expectNoSecret(text: string): void {
    for (const secret of secretsOf()) expect(text).not.toContain(secret);
  }

  test('no password, client secret or token appears in errors or logs, even when ThingSpace echoes them', async () => {
    const thingspace = client();
    await thingspace.listDevices({});
    const errors: ThingSpaceError[] = [];

    fake.operations.set(SWAP, (req) => ({
      status: 400,
      body: {
        errorCode: 'UnifiedWebService.INPUT_INVALID.Request.InvalidCharacter',
        errorMessage: `Bad request with token ${String(req.headers['vz-m2m-token'])} and ${String(req.headers.authorization)}`,
      },
    }));
    errors.push(await rejection(thingspace.eidDeviceSwap(swapBody)));

    fake.expireSessions();
    fake.loginAnswer = (req) => ({
      status: 400,
      body: {
        errorCode: 'UnifiedWebService.INPUT_INVALID.Password.Invalid',
        errorMessage: `Password ${(req.body as { password: string }).password} is wrong`,
      },
    });
    errors.push(await rejection(thingspace.listDevices({})));

    const fresh = client();
    fake.tokenAnswer = (req) => ({
      status: 400,
      body: {
        error: 'invalid_request',
        error_description: `Refused ${String(req.headers.authorization)} / ${CLIENT_SECRET}`,
      },
    });
    errors.push(await rejection(fresh.listDevices({})));

    expect(errors.map((e) => e.code)).toEqual([
      'INPUT_INVALID.Request.InvalidCharacter',
      'INPUT_INVALID.Password.Invalid',
      'invalid_request',
    ]);
    for (const err of errors) {
      expect(err.message).toContain('[redacted]');
      expectNoSecret(err.message);
      expectNoSecret(JSON.stringify(err));
      expectNoSecret(String(err.stack));
    }
    expect(logLines.length).toBeGreaterThan(0);
    expectNoSecret(logLines.join('\n'));
  });

  test('a token echoed in a long error body, across the point where the message is cut, leaves no part of itself', async () => {
    const thingspace = client();
    await thingspace.listDevices({});
    fake.operations.set(SWAP, (req) => ({
      status: 400,
      body: {
        errorCode: 'UnifiedWebService.INPUT_INVALID.Request.Invalid',
        errorMessage: `${'x'.repeat(284)} ${String(req.headers['vz-m2m-token'])} ${'y'.repeat(50)}`,
      },
    }));

    const err = await rejection(thingspace.eidDeviceSwap(swapBody));

    expect(err.message).toBe(`${'x'.repeat(284)} [redacted] yyyy…`);
    for (const secret of secretsOf()) expect(err.message).not.toContain(secret.slice(0, 8));
  });

  test('a network error carries nothing of the request', async () => {
    const url = fake.url;
    await fake.stop();
    const thingspace = createThingSpaceClient({ ...config(), baseUrl: url }, { logger: capturingLogger() });

    const err = await rejection(thingspace.listDevices({}));

    expect(JSON.parse(JSON.stringify(err))).toEqual({
      name: 'ThingSpaceError',
      status: 0,
      code: 'NETWORK',
      networkCode: 'ECONNREFUSED',
      notSent: true,
    });
    expect(err.cause).toBeUndefined();
    expectNoSecret(logLines.join('\n'));
    await fake.start();
  });
});

describe('ThingSpace client: every HTTP exchange is observed', () => {
  test('token, login and the operation each report their endpoint, status and duration; a timeout its code', async () => {
    const calls: ThingSpaceCall[] = [];
    fake.operations.set(SWAP, () => ({ status: 202, body: { requestId: 'r-observed' } }));
    const thingspace = createThingSpaceClient(config({ timeoutMs: 150 }), { observe: (call) => calls.push(call) });

    await thingspace.eidDeviceSwap(swapBody);
    fake.operations.set(SWAP, async () => {
      await new Promise((resolve) => setTimeout(resolve, 500));
      return { status: 200, body: { requestId: 'late' } };
    });
    await rejection(thingspace.eidDeviceSwap(swapBody));

    expect(calls.map(({ endpoint, status }) => ({ endpoint, status }))).toEqual([
      { endpoint: 'oauthToken', status: '200' },
      { endpoint: 'sessionLogin', status: '200' },
      { endpoint: 'eidDeviceSwap', status: '202' },
      { endpoint: 'eidDeviceSwap', status: 'TIMEOUT' },
    ]);
    for (const call of calls) expect(call.seconds).toBeGreaterThanOrEqual(0);
    expect(calls[3]?.seconds).toBeGreaterThanOrEqual(0.1);
  });
});
