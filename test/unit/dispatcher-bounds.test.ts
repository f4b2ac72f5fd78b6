import { pino } from 'pino';
import { callbackKeys } from '../../callback-gateway/app.js';
import { fingerprint } from '../../callback-gateway/auth.js';
import { boundEvent, EVENT_LIMITS, eventBytes } from '../../callback-gateway/bounds.js';
import { chunkEvents, createDispatcher, isTransient, type SignalSaga } from '../../callback-gateway/dispatcher.js';
import { canonicalCallbackContent } from '../../contracts/callbacks.js';
import type { CallbackEvent } from '../../contracts/types.js';
import { openSqliteStore } from '../../store/sqlite.js';
import type { SagaRef, Store } from '../../store/types.js';

const SAGA: SagaRef = { workflowId: 'eidDeviceSwap:acct:eid:1>eid:2', runId: 'run-1' };
const logger = pino({ level: 'silent' });

async function storeCallback(store: Store, requestId: string, extra: Record<string, unknown> = {}): Promise<number> {
  const body = {
    requestId,
    deviceIds: [{ kind: 'imei', id: '990013907835573' }],
    deviceResponse: { deactivateResponse: { deviceIds: [{ kind: 'imei', id: '990013907835573' }] } },
    status: 'Success',
    ...extra,
  };
  const { id } = await store.recordCallback({
    service: 'CarrierService',
    fingerprint: fingerprint(canonicalCallbackContent('CarrierService', body)),
    body,
    receivedAt: new Date().toISOString(),
    keys: callbackKeys(body),
  });
  await store.addCorrelationKeys(SAGA, [`requestid:${requestId}`]);
  return id;
}

/** A Temporal refusal of a signal, as the client raises it (gRPC INVALID_ARGUMENT). */
const refused = (message: string) => Object.assign(new Error(message), { code: 3 });

describe('normalisation caps what a saga receives; the inbox keeps the original', () => {
  it('caps every string and device list of an event', () => {
    const huge = 'x'.repeat(10_000);
    const event: CallbackEvent = {
      fingerprint: 'f',
      inboxId: 1,
      receivedAt: '2025-01-01T00:00:00.000Z',
      service: 'CarrierService',
      type: 'identifierChange',
      status: 'failed',
      requestId: huge,
      deviceIds: Array.from({ length: 1_000 }, (_, i) => ({ kind: huge, id: `${i}${huge}` })),
      resultDeviceIds: Array.from({ length: 1_000 }, () => ({ kind: 'imei', id: huge })),
      servicePlan: huge,
      fault: { code: huge, message: huge },
      profile: { profileStatus: huge, euiccStatusDesc: huge },
    };
    const bounded = boundEvent(event);
    expect(bounded.deviceIds).toHaveLength(EVENT_LIMITS.devices);
    expect(bounded.resultDeviceIds).toHaveLength(EVENT_LIMITS.devices);
    expect(bounded.deviceIds[0]).toEqual({ kind: 'x'.repeat(EVENT_LIMITS.text), id: `0${'x'.repeat(63)}` });
    expect(bounded.requestId).toHaveLength(EVENT_LIMITS.text);
    expect(bounded.servicePlan).toHaveLength(EVENT_LIMITS.text);
    expect(bounded.fault).toEqual({ code: 'x'.repeat(EVENT_LIMITS.text), message: 'x'.repeat(EVENT_LIMITS.message) });
    expect(bounded.profile).toEqual({ profileStatus: 'x'.repeat(256), euiccStatusDesc: 'x'.repeat(256) });
    expect(eventBytes(bounded)).toBeLessThan(16 * 1024);
  });

  it('leaves a callback of ThingSpace size as it is', () => {
    const event: CallbackEvent = {
      fingerprint: 'f',
      inboxId: 1,
      receivedAt: '2025-01-01T00:00:00.000Z',
      service: 'CarrierService',
      type: 'deactivation',
      status: 'success',
      requestId: '595f5c44-c31c-4552-8670-020a1545a84d',
      deviceIds: [{ kind: 'imei', id: '990013907835573' }],
    };
    expect(boundEvent(event)).toEqual(event);
  });

  it('the dispatcher signals the capped event while the inbox row keeps the whole body', async () => {
    const store = openSqliteStore(':memory:');
    const signalled: CallbackEvent[][] = [];
    const long = 'r'.repeat(5_000);
    const id = await storeCallback(store, 'req-long', { faultResponse: { faultcode: 'X', faultstring: long } });
    const dispatcher = createDispatcher({
      store,
      logger,
      signal: async (_saga, events) => {
        signalled.push(events);
      },
    });
    await dispatcher.runOnce();
    expect(signalled[0]?.[0]?.fault?.message).toHaveLength(EVENT_LIMITS.message);
    expect((await store.get(id))?.body.faultResponse).toEqual({ faultcode: 'X', faultstring: long });
    await store.close();
  });
});

describe('a fault whose code cannot become text (found by fuzzing)', () => {
  it('is delivered with the code as JSON, and does not hold back the round', async () => {
    const store = openSqliteStore(':memory:');
    const hostile = await storeCallback(store, 'req-hostile', {
      status: 'Failed',
      faultResponse: { faultcode: [{ toString: null }], faultstring: { valueOf: null } },
    });
    const other = await storeCallback(store, 'req-other');
    const signalled: CallbackEvent[] = [];
    const dispatcher = createDispatcher({
      store,
      logger,
      signal: async (_saga, events) => {
        signalled.push(...events);
      },
    });
    expect(await dispatcher.runOnce()).toBe(2);
    expect(signalled.find((e) => e.inboxId === hostile)?.fault).toEqual({
      code: '[{"toString":null}]',
      message: '{"valueOf":null}',
    });
    expect((await store.list('delivered', 10)).map((r) => r.id).sort()).toEqual([hostile, other]);
    await store.close();
  });
});

describe('signals within a byte budget', () => {
  it('chunkEvents keeps each chunk within the count and the bytes, a larger item alone', () => {
    const sizes = [40, 40, 40, 200, 10, 10, 10, 10];
    const chunks = chunkEvents(sizes, (n) => n, 3, 100);
    expect(chunks).toEqual([[40, 40], [40], [200], [10, 10, 10], [10]]);
  });

  it('the dispatcher splits a burst for one saga into signals of at most maxSignalBytes', async () => {
    const store = openSqliteStore(':memory:');
    for (let i = 0; i < 20; i++) await storeCallback(store, `req-${i}`);
    const sizes: number[] = [];
    const dispatcher = createDispatcher({
      store,
      logger,
      maxSignalBytes: 2_000,
      signal: async (_saga, events) => {
        sizes.push(Buffer.byteLength(JSON.stringify(events)));
      },
    });
    expect(await dispatcher.runOnce()).toBe(20);
    expect(sizes.length).toBeGreaterThan(1);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(2_000 + 2 + 20);
    expect((await store.counts()).delivered).toBe(20);
    await store.close();
  });
});

describe('delivery attempts and the dead-letter list', () => {
  it('a refused batch is sent again one by one: the others are delivered, the poison row counts an attempt', async () => {
    const store = openSqliteStore(':memory:');
    const poison = await storeCallback(store, 'req-poison');
    const good = [await storeCallback(store, 'req-a'), await storeCallback(store, 'req-b')];
    const signal: SignalSaga = async (_saga, events) => {
      if (events.some((e) => e.inboxId === poison)) throw refused('Blob data size exceeds limit');
    };
    const dispatcher = createDispatcher({ store, logger, signal, maxAttempts: 3 });
    await dispatcher.runOnce();
    expect((await store.list('delivered', 10)).map((r) => r.id).sort()).toEqual(good);
    expect(await store.get(poison)).toMatchObject({ state: 'pending', failedAttempts: 1 });
    await store.close();
  });

  it('after maxAttempts refusals the row goes to the dead-letter list with the reason', async () => {
    const store = openSqliteStore(':memory:');
    const poison = await storeCallback(store, 'req-poison');
    const signal: SignalSaga = async () => {
      throw refused('Blob data size exceeds limit');
    };
    const dispatcher = createDispatcher({ store, logger, signal, maxAttempts: 3 });
    for (let round = 0; round < 3; round++) {
      await dispatcher.runOnce();
      await store.releaseLease([poison], 0); // skip the retry delay
    }
    expect(await store.get(poison)).toMatchObject({
      state: 'deadLetter',
      failedAttempts: 3,
      reason: 'signal refused: Blob data size exceeds limit',
    });
    await store.close();
  });

  it('Temporal being unreachable counts no attempt: the rows stay pending however long it lasts', async () => {
    const store = openSqliteStore(':memory:');
    const id = await storeCallback(store, 'req-1');
    const signal: SignalSaga = async () => {
      throw Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14 });
    };
    const dispatcher = createDispatcher({ store, logger, signal, maxAttempts: 2 });
    for (let round = 0; round < 5; round++) {
      await dispatcher.runOnce();
      await store.releaseLease([id], 0);
    }
    expect(await store.get(id)).toMatchObject({ state: 'pending' });
    expect((await store.get(id))?.failedAttempts).toBeUndefined();
    await store.close();
  });

  it.each([
    [Object.assign(new Error('x'), { code: 14 }), true],
    [Object.assign(new Error('Failed to signal'), { cause: { code: 4 } }), true],
    [new Error('connect ECONNREFUSED 127.0.0.1:7233'), true],
    [Object.assign(new Error('namespace rate limit exceeded'), { code: 8 }), true],
    [Object.assign(new Error('Received message larger than max'), { code: 8 }), false],
    [Object.assign(new Error('rate limited'), { code: 8 }), true],
    [refused('invalid'), false],
    [new TypeError('Converting circular structure to JSON'), false],
    // Temporal refusing the gateway itself, not the callback: an outage, never a dead letter.
    [Object.assign(new Error('API key expired'), { code: 16 }), true],
    [Object.assign(new Error('permission denied'), { code: 7 }), true],
    [Object.assign(new Error('internal error'), { code: 13 }), true],
    [Object.assign(new Error('namespace default not found'), { code: 5 }), true],
    [new Error('codec: cannot encrypt'), true],
  ])('isTransient(%p) is %p', (err, expected) => {
    expect(isTransient(err)).toBe(expected);
  });
});
