import { jest } from '@jest/globals';
import { useClock } from '../fixtures/clock.js';
import { fingerprint } from '../../callback-gateway/auth.js';
import { canonicalCallbackContent } from '../../contracts/index.js';
import { openSqliteStore, type SagaRef, type Store } from '../../store/index.js';
import { listenGateway, type Listening } from '../fixtures/http.js';
import {
  CALLBACK_CREDENTIALS,
  deactivationCallback,
  goToStateCallback,
  recordCallback,
  withoutCredentials,
} from '../fixtures/swap-callbacks.js';

const TOKEN = 'ops-7f3a9c1e-5b2d-4e8f-a6c0';
const SAGA: SagaRef = { workflowId: 'eidDeviceSwap:0000123456-00001:imei:990003420535573', runId: 'run-1' };

/** The page's "Device deactivated" callback as stored: credentials already stripped by the gateway. */
const DEACTIVATION = withoutCredentials(deactivationCallback());

/** The page's GoToState callback (StateService) as stored, its devices only inside deviceResponse. */
const { deviceIds: _deviceIds, ...GO_TO_STATE } = withoutCredentials(goToStateCallback());

/** A CarrierService callback that names one device and no request id (swap callbacks can look like this). */
const IDENTIFIER_CHANGE = {
  deviceIds: [{ id: '89033023312150000000000263619234', kind: 'eid' }],
  deviceResponse: { changeIdentifierResponse: { changed: true } },
  status: 'Success',
};

async function call(
  url: string,
  { method = 'GET', token = TOKEN }: { method?: string; token?: string | null } = {},
): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  const response = await fetch(url, { method, headers });
  return { status: response.status, body: await response.json() };
}

const PARKED_REASON = 'no open saga matches its request id or devices';

describe('operator endpoints over real HTTP', () => {
  let store: Store;
  let onReplayed: jest.Mock<() => void>;
  let gateway: Listening;
  let ids: { deactivation: number; goToState: number; identifierChange: number };

  beforeEach(async () => {
    store = openSqliteStore(':memory:');
    onReplayed = jest.fn<() => void>();
    gateway = await listenGateway({
      store,
      credentials: CALLBACK_CREDENTIALS,
      operatorToken: TOKEN,
      onReplayed,
    });
    ids = {
      deactivation: await recordCallback(store, 'CarrierService', DEACTIVATION, '2025-03-01T10:00:00.000Z'),
      goToState: await recordCallback(store, 'StateService', GO_TO_STATE, '2025-03-01T10:00:05.000Z'),
      identifierChange: await recordCallback(store, 'CarrierService', IDENTIFIER_CHANGE, '2025-03-01T10:00:09.000Z'),
    };
    await store.parkUnmatched([ids.deactivation, ids.goToState], PARKED_REASON);
  });

  afterEach(async () => {
    await gateway.close();
    await store.close();
  });

  describe('authentication', () => {
    it('without a token, with a wrong one, or with the token under another scheme, the operator gets 401 and nothing else', async () => {
      const refused = { error: 'unauthorized', message: 'Send the operator token as Authorization: Bearer <token>' };
      const answers = [
        await call(`${gateway.url}/operator/callbacks`, { token: null }),
        await call(`${gateway.url}/operator/callbacks/${ids.deactivation}`, { token: `${TOKEN}x` }),
        await call(`${gateway.url}/operator/counts`, { token: 'ops-0000000000-0000-0000-0000' }),
      ];
      const basic = await fetch(`${gateway.url}/operator/counts`, { headers: { authorization: `Basic ${TOKEN}` } });

      expect(answers).toEqual([
        { status: 401, body: refused },
        { status: 401, body: refused },
        { status: 401, body: refused },
      ]);
      expect({ status: basic.status, challenge: basic.headers.get('www-authenticate') }).toEqual({
        status: 401,
        challenge: 'Bearer',
      });
    });

    it('a replay with a wrong token changes nothing and does not wake the dispatcher', async () => {
      const answer = await call(`${gateway.url}/operator/callbacks/${ids.deactivation}/replay`, {
        method: 'POST',
        token: 'not-the-operator-token',
      });

      expect(answer.status).toBe(401);
      expect((await store.get(ids.deactivation))?.state).toBe('parked');
      expect(onReplayed).not.toHaveBeenCalled();
    });

    it('the scheme name is case-insensitive, as HTTP says', async () => {
      const response = await fetch(`${gateway.url}/operator/counts`, { headers: { authorization: `bearer ${TOKEN}` } });
      expect(response.status).toBe(200);
    });

    it('with no operator token configured, /operator does not exist at all', async () => {
      const plain = await listenGateway({
        store,
        credentials: CALLBACK_CREDENTIALS,
      });
      try {
        const response = await fetch(`${plain.url}/operator/callbacks`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        });
        expect(response.status).toBe(404);
      } finally {
        await plain.close();
      }
    });
  });

  describe('listing', () => {
    it('lists parked callbacks by default, newest first, with request id and devices but never the body', async () => {
      const answer = await call(`${gateway.url}/operator/callbacks`);

      expect(answer).toEqual({
        status: 200,
        body: {
          state: 'parked',
          callbacks: [
            {
              id: ids.goToState,
              service: 'StateService',
              state: 'parked',
              receivedAt: '2025-03-01T10:00:05.000Z',
              deliveries: 1,
              reason: PARKED_REASON,
              requestId: '595f5c44-c31c-4552-8670-020a1545a84d',
              // Read from inside deviceResponse, kinds in lower case as correlation compares them.
              deviceIds: [
                { id: '99412344682328800000', kind: 'iccid' },
                { id: '990013907835573', kind: 'imei' },
              ],
            },
            {
              id: ids.deactivation,
              service: 'CarrierService',
              state: 'parked',
              receivedAt: '2025-03-01T10:00:00.000Z',
              deliveries: 1,
              reason: PARKED_REASON,
              requestId: 'eb3406b0-15fc-4473-8e84-b92cfb67f22d',
              deviceIds: [
                { id: '990003420535573', kind: 'imei' },
                { id: '89148000000800784259', kind: 'iccid' },
              ],
            },
          ],
        },
      });
      expect(JSON.stringify(answer.body)).not.toContain('deviceResponse');
    });

    it('the state filter shows orphaned callbacks with the saga run they were meant for', async () => {
      await store.markOrphaned([ids.identifierChange], SAGA, 'saga no longer running');

      expect(await call(`${gateway.url}/operator/callbacks?state=orphaned`)).toEqual({
        status: 200,
        body: {
          state: 'orphaned',
          callbacks: [
            {
              id: ids.identifierChange,
              service: 'CarrierService',
              state: 'orphaned',
              receivedAt: '2025-03-01T10:00:09.000Z',
              deliveries: 1,
              workflowId: SAGA.workflowId,
              runId: SAGA.runId,
              reason: 'saga no longer running',
              deviceIds: [{ id: '89033023312150000000000263619234', kind: 'eid' }],
            },
          ],
        },
      });
    });

    it('an empty dead-letter list is an empty array, and limit caps a listing', async () => {
      const deadLetter = await call(`${gateway.url}/operator/callbacks?state=deadLetter`);
      const limited = await call(`${gateway.url}/operator/callbacks?state=parked&limit=1`);

      expect(deadLetter).toEqual({ status: 200, body: { state: 'deadLetter', callbacks: [] } });
      expect((limited.body as { callbacks: { id: number }[] }).callbacks.map((c) => c.id)).toEqual([ids.goToState]);
    });

    it.each([
      ['state=archived', 'state', 'state must be one of parked, deadLetter, orphaned, pending, delivered'],
      ['state=', 'state', 'state must be one of parked, deadLetter, orphaned, pending, delivered'],
      ['state=parked&state=orphaned', 'state', 'state must be one of parked, deadLetter, orphaned, pending, delivered'],
      ['limit=0', 'limit', 'limit must be an integer from 1 to 1000'],
      ['limit=1001', 'limit', 'limit must be an integer from 1 to 1000'],
      ['limit=ten', 'limit', 'limit must be an integer from 1 to 1000'],
      ['limit=1e2', 'limit', 'limit must be an integer from 1 to 1000'],
      ['limit=-5', 'limit', 'limit must be an integer from 1 to 1000'],
    ])('a listing with %p is refused with 400 naming the parameter', async (query, parameter, message) => {
      expect(await call(`${gateway.url}/operator/callbacks?${query}`)).toEqual({
        status: 400,
        body: { error: 'invalid_parameter', parameter, message },
      });
    });
  });

  describe('reading one callback', () => {
    it('returns the whole record, including the stored body', async () => {
      expect(await call(`${gateway.url}/operator/callbacks/${ids.deactivation}`)).toEqual({
        status: 200,
        body: {
          id: ids.deactivation,
          service: 'CarrierService',
          fingerprint: fingerprint(canonicalCallbackContent('CarrierService', DEACTIVATION)),
          body: DEACTIVATION,
          receivedAt: '2025-03-01T10:00:00.000Z',
          deliveries: 1,
          state: 'parked',
          reason: PARKED_REASON,
        },
      });
    });

    it('an id the inbox does not have answers 404', async () => {
      expect(await call(`${gateway.url}/operator/callbacks/4242`)).toEqual({
        status: 404,
        body: { error: 'not_found', message: 'No callback with id 4242' },
      });
    });

    it.each(['abc', '0', '-1', '1.5', '1e3', '99999999999999999999'])(
      'an id of %p is refused with 400 naming the id',
      async (id) => {
        expect(await call(`${gateway.url}/operator/callbacks/${id}`)).toEqual({
          status: 400,
          body: {
            error: 'invalid_parameter',
            parameter: 'id',
            message: 'id must be a positive integer (the inbox id)',
          },
        });
      },
    );
  });

  describe('replay', () => {
    it('a parked callback goes back to pending and the dispatcher is woken at once', async () => {
      const answer = await call(`${gateway.url}/operator/callbacks/${ids.deactivation}/replay`, { method: 'POST' });

      expect(answer).toEqual({ status: 200, body: { id: ids.deactivation, state: 'pending' } });
      expect(await store.get(ids.deactivation)).toEqual({
        id: ids.deactivation,
        service: 'CarrierService',
        fingerprint: fingerprint(canonicalCallbackContent('CarrierService', DEACTIVATION)),
        body: DEACTIVATION,
        receivedAt: '2025-03-01T10:00:00.000Z',
        deliveries: 1,
        state: 'pending',
      });
      expect(onReplayed).toHaveBeenCalledTimes(1);
    });

    it('an orphaned callback goes back to pending as well', async () => {
      await store.markOrphaned([ids.identifierChange], SAGA, 'saga no longer running');

      const answer = await call(`${gateway.url}/operator/callbacks/${ids.identifierChange}/replay`, { method: 'POST' });

      expect(answer).toEqual({ status: 200, body: { id: ids.identifierChange, state: 'pending' } });
      expect((await store.get(ids.identifierChange))?.state).toBe('pending');
    });

    it('a delivered callback is refused with 409 naming its state; nothing changes and the dispatcher is left alone', async () => {
      await store.markDelivered([ids.identifierChange], SAGA);

      const answer = await call(`${gateway.url}/operator/callbacks/${ids.identifierChange}/replay`, { method: 'POST' });

      expect(answer).toEqual({
        status: 409,
        body: {
          error: 'not_replayable',
          state: 'delivered',
          message: `Callback ${ids.identifierChange} is delivered; only parked, deadLetter, orphaned callbacks can be replayed`,
        },
      });
      expect((await store.get(ids.identifierChange))?.state).toBe('delivered');
      expect(onReplayed).not.toHaveBeenCalled();
    });

    it('a pending callback is refused with 409 too: the dispatcher already has it', async () => {
      const answer = await call(`${gateway.url}/operator/callbacks/${ids.identifierChange}/replay`, { method: 'POST' });
      expect(answer.status).toBe(409);
    });

    it('an unknown id answers 404 and does not wake the dispatcher', async () => {
      expect(await call(`${gateway.url}/operator/callbacks/4242/replay`, { method: 'POST' })).toEqual({
        status: 404,
        body: { error: 'not_found', message: 'No callback with id 4242' },
      });
      expect(onReplayed).not.toHaveBeenCalled();
    });
  });

  describe('counts and the rest', () => {
    it('counts are the inbox counters', async () => {
      expect(await call(`${gateway.url}/operator/counts`)).toEqual({
        status: 200,
        body: { received: 3, duplicates: 0, pending: 1, delivered: 0, parked: 2, orphaned: 0, deadLetter: 0 },
      });
    });

    it('an operator path that does not exist answers 404 JSON once authenticated', async () => {
      expect(await call(`${gateway.url}/operator/inbox`)).toEqual({
        status: 404,
        body: { error: 'not_found', message: 'No such operator endpoint' },
      });
    });

    it('answers are never cached, since they name customer devices', async () => {
      const response = await fetch(`${gateway.url}/operator/callbacks`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(response.headers.get('cache-control')).toBe('no-store');
    });

    it('when the inbox cannot be read, the operator gets 503 JSON rather than a stack trace', async () => {
      const broken: Store = { ...store, list: () => Promise.reject(new Error('SQLITE_IOERR: disk I/O error')) };
      const failing = await listenGateway({
        store: broken,
        credentials: CALLBACK_CREDENTIALS,
        operatorToken: TOKEN,
      });
      try {
        expect(await call(`${failing.url}/operator/callbacks`)).toEqual({
          status: 503,
          body: { error: 'unavailable', message: 'The inbox could not be read or written; try again' },
        });
      } finally {
        await failing.close();
      }
    });
  });
});

describe('parked callbacks expire to the dead-letter list', () => {
  const PARKED_AT = new Date('2025-03-01T10:00:00.000Z');
  const DAY_MS = 24 * 60 * 60 * 1000;
  let store: Store;

  beforeEach(() => {
    useClock(PARKED_AT);
    store = openSqliteStore(':memory:');
  });

  afterEach(async () => {
    jest.useRealTimers();
    await store.close();
  });

  it('a callback parked longer than the TTL moves to the dead-letter list; one parked since stays parked', async () => {
    const old = await recordCallback(store, 'CarrierService', DEACTIVATION, PARKED_AT.toISOString());
    await store.parkUnmatched([old], PARKED_REASON);
    jest.setSystemTime(PARKED_AT.getTime() + DAY_MS - 1000);
    const recent = await recordCallback(store, 'StateService', GO_TO_STATE, new Date().toISOString());
    await store.parkUnmatched([recent], PARKED_REASON);
    jest.setSystemTime(PARKED_AT.getTime() + DAY_MS + 1);

    const moved = await store.expireParked(DAY_MS);

    expect(moved).toBe(1);
    expect([(await store.get(old))?.state, (await store.get(old))?.reason]).toEqual([
      'deadLetter',
      'parked too long: no saga claimed it',
    ]);
    expect((await store.get(recent))?.state).toBe('parked');
  });

  it('a dead-letter callback can be listed and replayed by an operator', async () => {
    const id = await recordCallback(store, 'CarrierService', DEACTIVATION, PARKED_AT.toISOString());
    await store.parkUnmatched([id], PARKED_REASON);
    jest.setSystemTime(PARKED_AT.getTime() + 1);
    await store.expireParked(0);
    const gateway = await listenGateway({
      store,
      credentials: CALLBACK_CREDENTIALS,
      operatorToken: TOKEN,
    });
    try {
      const listing = await call(`${gateway.url}/operator/callbacks?state=deadLetter`);
      const replay = await call(`${gateway.url}/operator/callbacks/${id}/replay`, { method: 'POST' });

      expect(listing).toEqual({
        status: 200,
        body: {
          state: 'deadLetter',
          callbacks: [
            {
              id,
              service: 'CarrierService',
              state: 'deadLetter',
              receivedAt: PARKED_AT.toISOString(),
              deliveries: 1,
              reason: 'parked too long: no saga claimed it',
              requestId: DEACTIVATION.requestId,
              deviceIds: DEACTIVATION.deviceIds,
            },
          ],
        },
      });
      expect(replay).toEqual({ status: 200, body: { id, state: 'pending' } });
    } finally {
      await gateway.close();
    }
  });
});
