import { jest } from '@jest/globals';
import { callbackKeys, inferService } from '../../callback-gateway/app.js';
import { fingerprint, safeEqual } from '../../callback-gateway/auth.js';
import { canonicalCallbackContent } from '../../contracts/callbacks.js';
import { openSqliteStore } from '../../store/sqlite.js';
import type { Store } from '../../store/types.js';
import { listenGateway, postJson, type Listening } from '../fixtures/http.js';
import {
  CALLBACK_CREDENTIALS,
  deactivationCallback,
  goToStateCallback,
  withoutCredentials,
} from '../fixtures/swap-callbacks.js';

const CREDENTIALS = CALLBACK_CREDENTIALS;
const RECEIVED_AT = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

/** The page's "Device deactivated" callback, as ThingSpace sends it to this gateway (credentials in the body). */
function deactivation(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...deactivationCallback(CREDENTIALS), ...overrides };
}

/** The page's GoToState callback (StateService), which has no status field. */
function goToState(): Record<string, unknown> {
  return goToStateCallback(CREDENTIALS);
}

async function answer(response: Response): Promise<{ status: number; body: unknown }> {
  return { status: response.status, body: await response.json() };
}

describe('callback gateway app over real HTTP', () => {
  let store: Store;
  let onStored: jest.Mock<() => void>;
  let gateway: Listening;

  beforeEach(async () => {
    store = openSqliteStore(':memory:');
    onStored = jest.fn<() => void>();
    gateway = await listenGateway({
      store,
      credentials: CREDENTIALS,
      maxBody: '4kb',
      onStored,
    });
  });

  afterEach(async () => {
    await gateway.close();
    await store.close();
  });

  describe('receiving callbacks', () => {
    it('a CarrierService callback with the right credentials is stored, without them, and then acknowledged', async () => {
      const body = deactivation();
      const response = await postJson(`${gateway.url}/callbacks/CarrierService`, body);

      expect(await answer(response)).toEqual({ status: 200, body: { status: 'accepted', id: 1 } });
      const stored = await store.list('pending', 10);
      expect(stored).toEqual([
        {
          id: 1,
          service: 'CarrierService',
          fingerprint: fingerprint(canonicalCallbackContent('CarrierService', body)),
          body: withoutCredentials(body),
          receivedAt: RECEIVED_AT,
          deliveries: 1,
          state: 'pending',
        },
      ]);
      expect(JSON.stringify(stored)).not.toContain(CREDENTIALS.password);
      expect(JSON.stringify(stored)).not.toContain(CREDENTIALS.username);
      expect(onStored).toHaveBeenCalledTimes(1);
    });

    it("ThingSpace's re-delivery (callbackCount 2) is acknowledged as a duplicate and stored only once", async () => {
      await postJson(`${gateway.url}/callbacks/CarrierService`, deactivation());
      const response = await postJson(`${gateway.url}/callbacks/CarrierService`, deactivation({ callbackCount: 2 }));

      expect(await answer(response)).toEqual({ status: 200, body: { status: 'duplicate', id: 1 } });
      expect((await store.list('pending', 10)).map((r) => ({ id: r.id, deliveries: r.deliveries }))).toEqual([
        { id: 1, deliveries: 2 },
      ]);
      expect(onStored).toHaveBeenCalledTimes(1);
    });

    it('the service in the path is matched case-insensitively and stored in its canonical spelling', async () => {
      const response = await postJson(`${gateway.url}/callbacks/stateservice`, goToState());
      expect(await answer(response)).toEqual({ status: 200, body: { status: 'accepted', id: 1 } });
      expect((await store.list('pending', 10)).map((r) => r.service)).toEqual(['StateService']);
    });

    it("a callback posted to an account's URL is stored with the account and reaches only that account's saga", async () => {
      const acme = { workflowId: 'swap-acme', runId: 'run-1' };
      const globex = { workflowId: 'swap-globex', runId: 'run-1' };
      // Both accounts have a device with this IMEI in an open saga.
      expect(await store.claimDevices(globex, ['imei:990003420535573'], 'globex-0000654321-00001')).toEqual({
        ok: true,
      });
      expect(await store.claimDevices(acme, ['imei:990003420535573'], 'acme 0000123456/00001')).toEqual({ ok: true });
      const body = deactivation();

      const response = await postJson(
        `${gateway.url}/callbacks/CarrierService/${encodeURIComponent('acme 0000123456/00001')}`,
        body,
      );

      expect(await answer(response)).toEqual({ status: 200, body: { status: 'accepted', id: 1 } });
      const record = {
        id: 1,
        service: 'CarrierService',
        fingerprint: fingerprint(canonicalCallbackContent('CarrierService', body)),
        body: withoutCredentials(body),
        receivedAt: RECEIVED_AT,
        deliveries: 1,
        state: 'pending',
        account: 'acme 0000123456/00001',
      };
      expect(await store.list('pending', 10)).toEqual([record]);
      expect(await store.leasePending(10, 30_000)).toEqual([{ record, saga: acme, matchedBy: 'device' }]);
      expect(onStored).toHaveBeenCalledTimes(1);
    });

    it("the account's URL checks credentials and the service like the account-less one", async () => {
      const wrong = await postJson(`${gateway.url}/callbacks/CarrierService/acme`, deactivation({ password: 'x' }));
      const unknown = await postJson(`${gateway.url}/callbacks/BillingService/acme`, deactivation());
      expect([wrong.status, unknown.status]).toEqual([401, 400]);
      expect((await store.counts()).received).toBe(0);
    });

    it('content type application/json with a charset, or a +json type, is accepted', async () => {
      const first = await postJson(`${gateway.url}/callbacks/CarrierService`, deactivation(), {
        'content-type': 'application/json; charset=utf-8',
      });
      const second = await postJson(`${gateway.url}/callbacks/StateService`, goToState(), {
        'content-type': 'application/vnd.thingspace+json',
      });
      expect([first.status, second.status]).toEqual([200, 200]);
    });

    it('POST /callbacks infers StateService from a goToStateResponse and CarrierService from a deactivateResponse', async () => {
      expect(await answer(await postJson(`${gateway.url}/callbacks`, goToState()))).toEqual({
        status: 200,
        body: { status: 'accepted', id: 1 },
      });
      expect(await answer(await postJson(`${gateway.url}/callbacks`, deactivation()))).toEqual({
        status: 200,
        body: { status: 'accepted', id: 2 },
      });
      expect((await store.list('pending', 10)).map((r) => [r.id, r.service])).toEqual([
        [2, 'CarrierService'],
        [1, 'StateService'],
      ]);
    });

    it('POST /callbacks without anything that tells the service apart is refused with a pointer to the service path', async () => {
      const body = { ...CREDENTIALS, requestId: 'r-1', status: 'Success' };
      expect(await answer(await postJson(`${gateway.url}/callbacks`, body))).toEqual({
        status: 400,
        body: {
          error: 'unknown_service',
          message: 'Cannot tell which ThingSpace service sent this callback; post it to /callbacks/:service',
        },
      });
      expect((await store.counts()).received).toBe(0);
    });
  });

  describe('refusing callbacks', () => {
    it('a wrong password is refused with 401 and nothing is stored', async () => {
      const response = await postJson(
        `${gateway.url}/callbacks/CarrierService`,
        deactivation({ password: 'old-password' }),
      );
      expect(await answer(response)).toEqual({
        status: 401,
        body: { error: 'unauthorized', message: 'Callback credentials do not match' },
      });
      expect(await store.counts()).toEqual({
        received: 0,
        duplicates: 0,
        pending: 0,
        delivered: 0,
        parked: 0,
        orphaned: 0,
        deadLetter: 0,
      });
      expect(onStored).not.toHaveBeenCalled();
    });

    it('a wrong username is refused with 401', async () => {
      const response = await postJson(`${gateway.url}/callbacks/CarrierService`, deactivation({ username: 'someone' }));
      expect(await answer(response)).toEqual({
        status: 401,
        body: { error: 'unauthorized', message: 'Callback credentials do not match' },
      });
      expect((await store.counts()).received).toBe(0);
    });

    it('missing or non-string credentials are refused with 401', async () => {
      const none = withoutCredentials(deactivation());
      const numeric = deactivation({ password: 12345678 });
      expect((await postJson(`${gateway.url}/callbacks/CarrierService`, none)).status).toBe(401);
      expect((await postJson(`${gateway.url}/callbacks/CarrierService`, numeric)).status).toBe(401);
      expect((await store.counts()).received).toBe(0);
    });

    it('the 401 answer never echoes what the sender put in the body', async () => {
      const response = await postJson(
        `${gateway.url}/callbacks/CarrierService`,
        deactivation({ password: 'guess-1234' }),
      );
      const text = await response.text();
      expect(text).not.toContain('guess-1234');
      expect(text).not.toContain(CREDENTIALS.password);
    });

    it('a body that is not sent as JSON is refused with 415', async () => {
      const response = await postJson(`${gateway.url}/callbacks/CarrierService`, JSON.stringify(deactivation()), {
        'content-type': 'text/plain',
      });
      expect(await answer(response)).toEqual({
        status: 415,
        body: { error: 'unsupported_media_type', message: 'Callbacks must be sent as application/json' },
      });
      expect((await store.counts()).received).toBe(0);
    });

    it('malformed JSON is refused with a 400 JSON reason', async () => {
      const response = await postJson(`${gateway.url}/callbacks/CarrierService`, '{"username":"ts-callbacks",');
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await answer(response)).toEqual({
        status: 400,
        body: { error: 'invalid_json', message: 'The callback body is not valid JSON' },
      });
    });

    it('a JSON body that is not an object is refused with 400', async () => {
      const response = await postJson(`${gateway.url}/callbacks/CarrierService`, [deactivation()]);
      expect(await answer(response)).toEqual({
        status: 400,
        body: { error: 'invalid_body', message: 'The callback body must be a JSON object' },
      });
    });

    it('a body over the configured limit is refused with 413 and nothing is stored', async () => {
      const response = await postJson(
        `${gateway.url}/callbacks/CarrierService`,
        deactivation({ padding: 'x'.repeat(8 * 1024) }),
      );
      expect(await answer(response)).toEqual({
        status: 413,
        body: { error: 'too_large', message: 'The callback body is too large' },
      });
      expect((await store.counts()).received).toBe(0);
    });

    it('a JSON body in a charset body-parser cannot read is refused with 415, not reported as a server fault', async () => {
      const response = await postJson(`${gateway.url}/callbacks/CarrierService`, JSON.stringify(deactivation()), {
        'content-type': 'application/json; charset=iso-8859-1',
      });
      expect(await answer(response)).toEqual({
        status: 415,
        body: { error: 'unsupported_media_type', message: expect.any(String) },
      });
      expect((await store.counts()).received).toBe(0);
    });

    it('an unknown service in the path is refused with 400 naming the known services', async () => {
      const response = await postJson(`${gateway.url}/callbacks/BillingService`, deactivation());
      expect(await answer(response)).toEqual({
        status: 400,
        body: {
          error: 'unknown_service',
          message: 'Unknown callback service; expected one of CarrierService, StateService, DeviceProfileService',
        },
      });
      expect((await store.counts()).received).toBe(0);
    });

    it('a callback with neither a request id nor device identifiers is refused with 400', async () => {
      const body = { ...CREDENTIALS, deviceResponse: { deactivateResponse: { deactivated: true } }, status: 'Success' };
      expect(await answer(await postJson(`${gateway.url}/callbacks/CarrierService`, body))).toEqual({
        status: 400,
        body: { error: 'invalid_body', message: 'The callback carries neither a requestId nor deviceIds' },
      });
    });
  });

  describe('operations endpoints', () => {
    it('/healthz answers ok', async () => {
      expect(await answer(await fetch(`${gateway.url}/healthz`))).toEqual({ status: 200, body: { status: 'ok' } });
    });

    it('/readyz answers ready while the store answers', async () => {
      expect(await answer(await fetch(`${gateway.url}/readyz`))).toEqual({ status: 200, body: { status: 'ready' } });
    });

    it('/metrics shows the inbox depths and the callbacks by service and outcome as Prometheus text', async () => {
      await postJson(`${gateway.url}/callbacks/CarrierService`, deactivation());
      await postJson(`${gateway.url}/callbacks/CarrierService`, deactivation({ callbackCount: 2 }));
      await postJson(`${gateway.url}/callbacks/StateService`, goToState());
      await postJson(`${gateway.url}/callbacks/NoSuchService`, goToState());

      const response = await fetch(`${gateway.url}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await response.text();
      for (const line of [
        '# TYPE euicc_gateway_inbox_callbacks gauge',
        'euicc_gateway_inbox_callbacks{state="pending"} 2',
        'euicc_gateway_inbox_callbacks{state="parked"} 0',
        'euicc_gateway_inbox_callbacks{state="deadLetter"} 0',
        'euicc_gateway_inbox_received 2',
        'euicc_gateway_inbox_duplicates 1',
        '# TYPE euicc_gateway_callbacks_total counter',
        'euicc_gateway_callbacks_total{service="CarrierService",outcome="accepted"} 1',
        'euicc_gateway_callbacks_total{service="CarrierService",outcome="duplicate"} 1',
        'euicc_gateway_callbacks_total{service="StateService",outcome="accepted"} 1',
        'euicc_gateway_callbacks_total{service="unknown",outcome="refused"} 1',
        'euicc_gateway_ack_seconds_count{status="2xx"} 3',
        'euicc_gateway_ack_seconds_count{status="4xx"} 1',
        '# TYPE euicc_gateway_callbacks_refused counter',
        'euicc_gateway_callbacks_refused{reason="token"} 0',
      ]) {
        expect(text.split('\n')).toContain(line);
      }
    });
  });
});

describe('callback gateway app during a callback password change', () => {
  const PREVIOUS_PASSWORD = 'cb-secret-old-2b8e41';
  let store: Store;
  let gateway: Listening;

  beforeEach(async () => {
    store = openSqliteStore(':memory:');
    gateway = await listenGateway({
      store,
      credentials: { ...CREDENTIALS, previousPassword: PREVIOUS_PASSWORD },
    });
  });

  afterEach(async () => {
    await gateway.close();
    await store.close();
  });

  it('a callback ThingSpace still sends with the previous password is stored and acknowledged', async () => {
    const body = deactivation({ password: PREVIOUS_PASSWORD });
    const response = await postJson(`${gateway.url}/callbacks/CarrierService`, body);

    expect(await answer(response)).toEqual({ status: 200, body: { status: 'accepted', id: 1 } });
    const stored = await store.list('pending', 10);
    expect(stored).toEqual([
      {
        id: 1,
        service: 'CarrierService',
        fingerprint: fingerprint(canonicalCallbackContent('CarrierService', body)),
        body: withoutCredentials(body),
        receivedAt: RECEIVED_AT,
        deliveries: 1,
        state: 'pending',
      },
    ]);
    expect(JSON.stringify(stored)).not.toContain(PREVIOUS_PASSWORD);
  });

  it('the new password is accepted as well, and a re-delivery with the other password is the same callback', async () => {
    const withNew = await postJson(`${gateway.url}/callbacks/CarrierService`, deactivation());
    const withPrevious = await postJson(
      `${gateway.url}/callbacks/CarrierService`,
      deactivation({ password: PREVIOUS_PASSWORD, callbackCount: 2 }),
    );

    expect([await answer(withNew), await answer(withPrevious)]).toEqual([
      { status: 200, body: { status: 'accepted', id: 1 } },
      { status: 200, body: { status: 'duplicate', id: 1 } },
    ]);
  });

  it('a third password is refused with 401 and nothing is stored', async () => {
    const response = await postJson(
      `${gateway.url}/callbacks/CarrierService`,
      deactivation({ password: 'cb-secret-older-9d03c7' }),
    );

    expect(await answer(response)).toEqual({
      status: 401,
      body: { error: 'unauthorized', message: 'Callback credentials do not match' },
    });
    expect((await store.counts()).received).toBe(0);
  });

  it('the previous password does not stand in for the username', async () => {
    const response = await postJson(
      `${gateway.url}/callbacks/CarrierService`,
      deactivation({ username: 'someone', password: PREVIOUS_PASSWORD }),
    );

    expect(await answer(response)).toEqual({
      status: 401,
      body: { error: 'unauthorized', message: 'Callback credentials do not match' },
    });
    expect((await store.counts()).received).toBe(0);
  });
});

describe('callback gateway app with metrics turned off', () => {
  let store: Store;
  let gateway: Listening;

  beforeEach(async () => {
    store = openSqliteStore(':memory:');
    gateway = await listenGateway({ store, credentials: CREDENTIALS, metrics: false });
  });

  afterEach(async () => {
    await gateway.close();
    await store.close();
  });

  it('GATEWAY_METRICS=false leaves no /metrics route: it answers 404 without any count', async () => {
    await postJson(`${gateway.url}/callbacks/CarrierService`, deactivation());

    const response = await fetch(`${gateway.url}/metrics`);

    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain('euicc_gateway_');
    expect(await answer(await fetch(`${gateway.url}/healthz`))).toEqual({ status: 200, body: { status: 'ok' } });
  });
});

describe('callback gateway app with a failing store', () => {
  let real: Store;
  let running: Listening | undefined;

  beforeEach(() => {
    real = openSqliteStore(':memory:');
  });

  afterEach(async () => {
    if (running) await running.close();
    running = undefined;
    await real.close();
  });

  it('when the inbox cannot be written, the callback is answered 503 so that ThingSpace sends it again', async () => {
    const onStored = jest.fn<() => void>();
    const store: Store = {
      ...real,
      recordCallback: () => Promise.reject(new Error('SQLITE_FULL: database or disk is full')),
    };
    running = await listenGateway({ store, credentials: CREDENTIALS, onStored });

    const response = await postJson(`${running.url}/callbacks/CarrierService`, deactivation());
    expect(await answer(response)).toEqual({
      status: 503,
      body: { error: 'unavailable', message: 'The callback could not be stored; send it again' },
    });
    expect(onStored).not.toHaveBeenCalled();
  });

  it('/readyz answers 503 when the store does not answer a ping', async () => {
    const store: Store = { ...real, ping: () => Promise.reject(new Error('database is locked')) };
    running = await listenGateway({ store, credentials: CREDENTIALS });
    expect(await answer(await fetch(`${running.url}/readyz`))).toEqual({
      status: 503,
      body: { status: 'unavailable' },
    });
  });

  it('/readyz answers 503 while the dispatcher is not running', async () => {
    running = await listenGateway({
      store: real,
      credentials: CREDENTIALS,
      ready: () => false,
    });
    expect(await answer(await fetch(`${running.url}/readyz`))).toEqual({
      status: 503,
      body: { status: 'unavailable' },
    });
  });
});

describe('inferService', () => {
  it.each([
    [{ deviceResponse: { goToStateResponse: {} } }, 'StateService'],
    [{ deviceResponse: { deviceProfileResponse: {} } }, 'DeviceProfileService'],
    [{ deviceResponse: { deactivateResponse: { deactivated: true } } }, 'CarrierService'],
    [{ deviceResponse: { changeIdentifierResponse: {} } }, 'CarrierService'],
    [{ faultResponse: { faultcode: 'StateService.REQUEST_FAILED.UnexpectedError' } }, 'StateService'],
    [{ faultResponse: { faultcode: 'carrierservice.INPUT_INVALID.Device.Kind.Invalid' } }, 'CarrierService'],
    [{ faultResponse: { faultcode: 'BillingService.REQUEST_FAILED.Oops' } }, undefined],
    [{ deviceResponse: {} }, undefined],
    [{}, undefined],
  ])('reads %j as coming from %p', (body, service) => {
    expect(inferService(body)).toBe(service);
  });
});

describe('callbackKeys', () => {
  it('lists the request id first, then every device the callback names, kinds and ids lower-cased', () => {
    const body = {
      requestId: 'r-1',
      deviceIds: [
        { kind: 'Iccid', id: '8914800000080078425F' },
        { kind: 'IMEI', id: '990013907835573' },
      ],
      deviceResponse: {
        changeIdentifierResponse: { deviceIds: [{ kind: 'eid', id: '89033023312150000000000256691984' }] },
      },
    };
    expect(callbackKeys(body)).toEqual([
      'requestid:r-1',
      'iccid:8914800000080078425f',
      'imei:990013907835573',
      'eid:89033023312150000000000256691984',
    ]);
  });

  it('with the account of the URL, each key scoped by the account, then each unscoped for sagas that claimed without one', () => {
    const body = { requestId: 'r-1', deviceIds: [{ kind: 'IMEI', id: '990013907835573' }] };
    expect(callbackKeys(body, 'acme')).toEqual([
      'acme|requestid:r-1',
      'acme|imei:990013907835573',
      'requestid:r-1',
      'imei:990013907835573',
    ]);
  });

  it('a callback without a request id is keyed by its devices only, and one without either has no keys', () => {
    expect(callbackKeys({ requestId: '', ids: [{ kind: 'mdn', id: '8586928930' }] })).toEqual(['mdn:8586928930']);
    expect(callbackKeys({ status: 'Success' })).toEqual([]);
  });
});

describe('safeEqual', () => {
  it('is true only for the same string', () => {
    expect(safeEqual('cb-secret-7f3a9c', 'cb-secret-7f3a9c')).toBe(true);
    expect(safeEqual('cb-secret-7f3a9', 'cb-secret-7f3a9c')).toBe(false);
    expect(safeEqual('', 'cb-secret-7f3a9c')).toBe(false);
    expect(safeEqual(undefined, 'cb-secret-7f3a9c')).toBe(false);
    expect(safeEqual(['cb-secret-7f3a9c'], 'cb-secret-7f3a9c')).toBe(false);
  });
});
