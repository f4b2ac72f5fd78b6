import { jest } from '@jest/globals';
import { useClock } from '../fixtures/clock.js';
import { pino } from 'pino';
import { callbackKeys } from '../../callback-gateway/app.js';
import { fingerprint } from '../../callback-gateway/auth.js';
import { createDispatcher, WorkflowGone, type SignalSaga } from '../../callback-gateway/dispatcher.js';
import { canonicalCallbackContent } from '../../contracts/callbacks.js';
import type { CallbackEvent, CallbackService, MatchedBy } from '../../contracts/types.js';
import { openSqliteStore } from '../../store/sqlite.js';
import type { InboxRecord, SagaRef, Store } from '../../store/types.js';
import {
  CALLBACK_CREDENTIALS,
  deactivationCallback,
  goToStateCallback,
  identifierChangeCallback,
} from '../fixtures/swap-callbacks.js';

/** The saga claims its devices a minute before the callbacks arrive (the store stamps claims with its clock). */
const CLAIMED_AT = '2025-11-23T09:59:00.000Z';
const RECEIVED_AT = '2025-11-23T10:00:00.000Z';
const SWAP_ID =
  'eidDeviceSwap:1223334444-01234:eid:89033023312150000000000263619234>eid:89033023312150000000000256691984';
const SWAP: SagaRef = { workflowId: SWAP_ID, runId: '0193a0c1-7d3e-7b2a-9f00-4c1d2e3f4a01' };
/** A later run of the same swap (started again after the first run ended). */
const SWAP_RERUN: SagaRef = { workflowId: SWAP_ID, runId: '0193a0c9-11aa-7c44-8e21-5b6c7d8e9f02' };
const OTHER_SWAP: SagaRef = {
  workflowId:
    'eidDeviceSwap:1223334444-01234:eid:89033023312150000000000200000001>eid:89033023312150000000000200000002',
  runId: '0193a0c2-2b4c-7d5e-8f60-718293a4b503',
};

const deactivation = deactivationCallback(CALLBACK_CREDENTIALS);

/** The page's identifier change, with the swapped-in device's new ICCID left out of its result. */
const identifierChange = {
  ...identifierChangeCallback(CALLBACK_CREDENTIALS),
  deviceResponse: {
    changeIdentifierResponse: {
      deviceIds: [
        { id: '352971090107661', kind: 'imei' },
        { id: '89033023312150000000000256691984', kind: 'eid' },
      ],
      servicePlan: '18337',
    },
  },
};

/** The page's GoToState callback, its result naming only the ICCID. */
const goToState = {
  ...goToStateCallback(CALLBACK_CREDENTIALS),
  deviceResponse: {
    goToStateResponse: {
      deviceIds: [{ id: '99412344682328800000', kind: 'Iccid' }],
      serviceName: 'WiFi',
      stateName: 'WiFi Activate',
    },
  },
};

/** A plain success callback for an arbitrary request id, for tests that need many of them. */
function simple(requestId: string, imei = '990013907835573'): Record<string, unknown> {
  return {
    requestId,
    deviceIds: [{ kind: 'imei', id: imei }],
    deviceResponse: { deactivateResponse: { deactivated: true } },
    status: 'Success',
  };
}

interface Received {
  id: number;
  fingerprint: string;
}

/** Stores a callback exactly as the gateway does after authenticating it. */
async function receive(
  store: Store,
  service: CallbackService,
  body: Record<string, unknown>,
  receivedAt = RECEIVED_AT,
): Promise<Received> {
  const { username: _u, password: _p, ...stored } = body;
  const print = fingerprint(canonicalCallbackContent(service, body));
  const { id } = await store.recordCallback({
    service,
    fingerprint: print,
    body: stored,
    receivedAt,
    keys: callbackKeys(body),
  });
  return { id, fingerprint: print };
}

/** The event `simple(requestId, imei)` becomes. */
function simpleEvent(
  r: Received,
  requestId: string,
  imei = '990013907835573',
  receivedAt = RECEIVED_AT,
  matchedBy: MatchedBy = 'request',
): CallbackEvent {
  return {
    fingerprint: r.fingerprint,
    inboxId: r.id,
    receivedAt,
    service: 'CarrierService',
    type: 'deactivation',
    status: 'success',
    requestId,
    deviceIds: [{ kind: 'imei', id: imei }],
    matchedBy,
  };
}

function ids(records: InboxRecord[]): number[] {
  return records.map((r) => r.id).sort((a, b) => a - b);
}

const byRun = ([x]: [SagaRef, CallbackEvent[]], [y]: [SagaRef, CallbackEvent[]]): number =>
  `${x.workflowId} ${x.runId}`.localeCompare(`${y.workflowId} ${y.runId}`);

describe('callback dispatcher', () => {
  let store: Store;
  let signal: jest.Mock<SignalSaga>;

  beforeEach(() => {
    useClock(CLAIMED_AT);
    store = openSqliteStore(':memory:');
    signal = jest.fn<SignalSaga>().mockResolvedValue(undefined);
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    jest.useRealTimers();
    await store.close();
  });

  function dispatcher(extra: { maxEventsPerSignal?: number; batchSize?: number } = {}) {
    return createDispatcher({ store, signal, logger: pino({ level: 'silent' }), ...extra });
  }

  it('the three callbacks of one swap, matched by devices and by request id, reach the saga in one signal', async () => {
    await store.claimDevices(SWAP, ['imei:990003420535573', 'eid:89033023312150000000000263619234']);
    await store.addCorrelationKeys(SWAP, ['requestid:595f5c44-c31c-4552-8670-020a1545a84d']);
    const first = await receive(store, 'CarrierService', deactivation);
    const second = await receive(store, 'CarrierService', identifierChange);
    const third = await receive(store, 'StateService', goToState);

    expect(await dispatcher().runOnce()).toBe(3);

    expect(signal.mock.calls).toEqual([
      [
        SWAP,
        [
          {
            fingerprint: first.fingerprint,
            inboxId: first.id,
            receivedAt: RECEIVED_AT,
            service: 'CarrierService',
            type: 'deactivation',
            status: 'success',
            requestId: 'eb3406b0-15fc-4473-8e84-b92cfb67f22d',
            deviceIds: [
              { kind: 'imei', id: '990003420535573' },
              { kind: 'iccid', id: '89148000000800784259' },
            ],
            matchedBy: 'device',
          },
          {
            fingerprint: second.fingerprint,
            inboxId: second.id,
            receivedAt: RECEIVED_AT,
            service: 'CarrierService',
            type: 'identifierChange',
            status: 'success',
            requestId: 'ebc3ee16-386c-4531-8da0-e43fc656bf4d',
            deviceIds: [
              { kind: 'iccid', id: '89148000004346060638' },
              { kind: 'imei', id: '358729070031093' },
              { kind: 'eid', id: '89033023312150000000000263619234' },
            ],
            resultDeviceIds: [
              { kind: 'imei', id: '352971090107661' },
              { kind: 'eid', id: '89033023312150000000000256691984' },
            ],
            servicePlan: '18337',
            matchedBy: 'device',
          },
          {
            fingerprint: third.fingerprint,
            inboxId: third.id,
            receivedAt: RECEIVED_AT,
            service: 'StateService',
            type: 'goToState',
            status: 'success',
            requestId: '595f5c44-c31c-4552-8670-020a1545a84d',
            deviceIds: [
              { kind: 'iccid', id: '99412344682328800000' },
              { kind: 'imei', id: '990013907835573' },
            ],
            resultDeviceIds: [{ kind: 'iccid', id: '99412344682328800000' }],
            matchedBy: 'request',
          },
        ],
      ],
    ]);
    const delivered = await store.list('delivered', 10);
    expect(ids(delivered)).toEqual([first.id, second.id, third.id]);
    expect(delivered.map((r) => ({ workflowId: r.workflowId, runId: r.runId }))).toEqual([SWAP, SWAP, SWAP]);
    expect(JSON.stringify(signal.mock.calls)).not.toContain('cb-secret-7f3a9c');
  });

  it('a round with nothing pending signals nobody, and delivered callbacks are not signalled twice', async () => {
    await store.addCorrelationKeys(SWAP, ['requestid:r-1']);
    await receive(store, 'CarrierService', simple('r-1'));
    const d = dispatcher();
    expect(await d.runOnce()).toBe(1);
    expect(await d.runOnce()).toBe(0);
    expect(signal).toHaveBeenCalledTimes(1);
  });

  it('callbacks of two sagas go out as one signal per saga', async () => {
    await store.addCorrelationKeys(SWAP, ['requestid:r-1', 'requestid:r-3']);
    await store.addCorrelationKeys(OTHER_SWAP, ['requestid:r-2']);
    const a1 = await receive(store, 'CarrierService', simple('r-1'));
    const b = await receive(store, 'CarrierService', simple('r-2', '990013907835581'));
    const a2 = await receive(store, 'CarrierService', simple('r-3'));

    expect(await dispatcher().runOnce()).toBe(3);

    expect([...signal.mock.calls].sort(byRun)).toEqual([
      [OTHER_SWAP, [simpleEvent(b, 'r-2', '990013907835581')]],
      [SWAP, [simpleEvent(a1, 'r-1'), simpleEvent(a2, 'r-3')]],
    ]);
    expect((await store.counts()).delivered).toBe(3);
  });

  it('two runs of the same workflow id get separate signals, each with its own callbacks', async () => {
    await store.addCorrelationKeys(SWAP, ['requestid:r-1']);
    await store.releaseSaga(SWAP);
    await store.addCorrelationKeys(SWAP_RERUN, ['requestid:r-2']);
    const first = await receive(store, 'CarrierService', simple('r-1'));
    const second = await receive(store, 'CarrierService', simple('r-2'));
    signal.mockImplementation(async (saga) => {
      if (saga.runId === SWAP.runId) throw new WorkflowGone(saga.workflowId);
    });

    expect(await dispatcher().runOnce()).toBe(2);

    expect([...signal.mock.calls].sort(byRun)).toEqual([
      [SWAP, [simpleEvent(first, 'r-1')]],
      [SWAP_RERUN, [simpleEvent(second, 'r-2')]],
    ]);
    expect(
      (await store.list('delivered', 10)).map((r) => ({ id: r.id, workflowId: r.workflowId, runId: r.runId })),
    ).toEqual([{ id: second.id, ...SWAP_RERUN }]);
    expect(
      (await store.list('orphaned', 10)).map((r) => ({ id: r.id, workflowId: r.workflowId, runId: r.runId })),
    ).toEqual([{ id: first.id, ...SWAP }]);
  });

  it('a late callback of a closed run is orphaned, and never given to the newer run that claimed the same devices', async () => {
    await store.claimDevices(SWAP, ['imei:990013907835573']);
    await store.addCorrelationKeys(SWAP, ['requestid:r-1']);
    jest.setSystemTime(new Date('2025-11-23T10:10:00.000Z'));
    await store.releaseSaga(SWAP);
    jest.setSystemTime(new Date('2025-11-23T10:20:00.000Z'));
    await store.claimDevices(SWAP_RERUN, ['imei:990013907835573']);
    signal.mockImplementation(async (saga) => {
      if (saga.runId === SWAP.runId) throw new WorkflowGone(saga.workflowId);
    });

    const late = await receive(store, 'CarrierService', simple('r-1'), '2025-11-23T10:30:00.000Z');
    expect(await dispatcher().runOnce()).toBe(1);

    expect(signal.mock.calls).toEqual([[SWAP, [simpleEvent(late, 'r-1', undefined, '2025-11-23T10:30:00.000Z')]]]);
    expect(await store.list('orphaned', 10)).toEqual([
      {
        id: late.id,
        service: 'CarrierService',
        fingerprint: late.fingerprint,
        body: simple('r-1'),
        receivedAt: '2025-11-23T10:30:00.000Z',
        deliveries: 1,
        state: 'orphaned',
        workflowId: SWAP.workflowId,
        runId: SWAP.runId,
        reason: 'saga no longer running',
      },
    ]);
  });

  it('a callback that matches no saga is parked, and delivered once the saga registers its request id', async () => {
    const early = await receive(store, 'CarrierService', simple('r-unknown'));
    const d = dispatcher();

    expect(await d.runOnce()).toBe(1);
    expect(signal).not.toHaveBeenCalled();
    expect(await store.list('parked', 10)).toEqual([
      {
        id: early.id,
        service: 'CarrierService',
        fingerprint: early.fingerprint,
        body: simple('r-unknown'),
        receivedAt: RECEIVED_AT,
        deliveries: 1,
        state: 'parked',
        reason: 'no open saga matches its request id or devices',
      },
    ]);
    expect(await d.runOnce()).toBe(0);

    await store.addCorrelationKeys(SWAP, ['requestid:r-unknown']);
    expect(await d.runOnce()).toBe(1);
    expect(signal.mock.calls).toEqual([[SWAP, [simpleEvent(early, 'r-unknown')]]]);
    expect((await store.list('delivered', 10)).map((r) => r.id)).toEqual([early.id]);
  });

  it('a callback received before a saga claimed its device stays parked after the claim: it belongs to an earlier operation', async () => {
    const early = await receive(store, 'CarrierService', simple('r-earlier'));
    const d = dispatcher();
    expect(await d.runOnce()).toBe(1);

    jest.setSystemTime(new Date('2025-11-23T10:05:00.000Z'));
    await store.claimDevices(SWAP, ['imei:990013907835573']);
    expect(await d.runOnce()).toBe(0);

    const own = await receive(store, 'CarrierService', simple('r-own'), '2025-11-23T10:06:00.000Z');
    expect(await d.runOnce()).toBe(1);
    expect(signal.mock.calls).toEqual([
      [SWAP, [simpleEvent(own, 'r-own', undefined, '2025-11-23T10:06:00.000Z', 'device')]],
    ]);
    expect(ids(await store.list('parked', 10))).toEqual([early.id]);
  });

  it("events say how they matched: a device match teaches the saga its callback's request id, whose siblings then come as learned", async () => {
    await store.claimDevices(SWAP, ['imei:990013907835573']);
    await store.addCorrelationKeys(SWAP, ['requestid:r-own']);
    const own = await receive(store, 'CarrierService', simple('r-own', '990013907835581'));
    const other = await receive(store, 'CarrierService', simple('r-other'));
    const d = dispatcher();
    expect(await d.runOnce()).toBe(2);

    // A sibling of r-other naming a device the saga never claimed.
    const sibling = await receive(store, 'CarrierService', {
      ...simple('r-other', '990013907835599'),
      status: 'Failed',
    });
    expect(await d.runOnce()).toBe(1);

    expect(signal.mock.calls).toEqual([
      [
        SWAP,
        [simpleEvent(own, 'r-own', '990013907835581'), simpleEvent(other, 'r-other', undefined, RECEIVED_AT, 'device')],
      ],
      [SWAP, [{ ...simpleEvent(sibling, 'r-other', '990013907835599', RECEIVED_AT, 'learned'), status: 'failed' }]],
    ]);
  });

  it('after the saga closes, a re-send of a request id it learned is orphaned, never given to the next run of its devices', async () => {
    await store.claimDevices(SWAP, ['imei:990013907835573']);
    const first = await receive(store, 'CarrierService', simple('r-learned'));
    const d = dispatcher();
    expect(await d.runOnce()).toBe(1);
    jest.setSystemTime(new Date('2025-11-23T10:10:00.000Z'));
    await store.releaseSaga(SWAP);
    await store.claimDevices(SWAP_RERUN, ['imei:990013907835573']);
    signal.mockImplementation(async (saga) => {
      if (saga.runId === SWAP.runId) throw new WorkflowGone(saga.workflowId);
    });

    const resent = await receive(store, 'CarrierService', { ...simple('r-learned'), status: 'Failed' });
    expect(await d.runOnce()).toBe(1);

    expect(signal.mock.calls).toEqual([
      [SWAP, [simpleEvent(first, 'r-learned', undefined, RECEIVED_AT, 'device')]],
      [SWAP, [{ ...simpleEvent(resent, 'r-learned', undefined, RECEIVED_AT, 'learned'), status: 'failed' }]],
    ]);
    expect(ids(await store.list('orphaned', 10))).toEqual([resent.id]);
  });

  it('callbacks for a saga that no longer runs are marked orphaned for operators to see', async () => {
    await store.addCorrelationKeys(SWAP, ['requestid:r-1']);
    const late = await receive(store, 'CarrierService', simple('r-1'));
    signal.mockRejectedValue(new WorkflowGone(SWAP.workflowId));
    const d = dispatcher();

    expect(await d.runOnce()).toBe(1);
    expect(await store.list('orphaned', 10)).toEqual([
      {
        id: late.id,
        service: 'CarrierService',
        fingerprint: late.fingerprint,
        body: simple('r-1'),
        receivedAt: RECEIVED_AT,
        deliveries: 1,
        state: 'orphaned',
        workflowId: SWAP.workflowId,
        runId: SWAP.runId,
        reason: 'saga no longer running',
      },
    ]);
    expect(await d.runOnce()).toBe(0);
    expect(signal).toHaveBeenCalledTimes(1);
  });

  it('callbacks a closed run received before a gateway died without recording them are delivered, the rest orphaned', async () => {
    await store.addCorrelationKeys(SWAP, ['requestid:r-1', 'requestid:r-2']);
    const signalled = await receive(store, 'CarrierService', simple('r-1'));
    const late = await receive(store, 'CarrierService', simple('r-2'));
    // The run's history holds a signal with the first callback: an earlier delivery whose gateway was killed.
    signal.mockRejectedValue(new WorkflowGone(SWAP.workflowId, new Set([signalled.id])));

    expect(await dispatcher().runOnce()).toBe(2);

    expect(
      (await store.list('delivered', 10)).map((r) => ({ id: r.id, workflowId: r.workflowId, runId: r.runId })),
    ).toEqual([{ id: signalled.id, ...SWAP }]);
    expect((await store.list('orphaned', 10)).map((r) => ({ id: r.id, reason: r.reason }))).toEqual([
      { id: late.id, reason: 'saga no longer running' },
    ]);
  });

  it('while Temporal is unreachable, callbacks stay pending and are signalled again about 2 s later', async () => {
    await store.addCorrelationKeys(SWAP, ['requestid:r-1', 'requestid:r-2']);
    const one = await receive(store, 'CarrierService', simple('r-1'));
    const two = await receive(store, 'CarrierService', simple('r-2'));
    signal.mockRejectedValueOnce(new Error('14 UNAVAILABLE: connection refused'));
    const d = dispatcher();

    expect(await d.runOnce()).toBe(2);
    expect(ids(await store.list('pending', 10))).toEqual([one.id, two.id]);
    expect(await d.runOnce()).toBe(0);
    expect(signal).toHaveBeenCalledTimes(1);

    const failedAt = Date.now();
    jest.setSystemTime(failedAt + 1_500);
    expect(await d.runOnce()).toBe(0);
    jest.setSystemTime(failedAt + 2_500);
    expect(await d.runOnce()).toBe(2);

    const events = [simpleEvent(one, 'r-1'), simpleEvent(two, 'r-2')];
    expect(signal.mock.calls).toEqual([
      [SWAP, events],
      [SWAP, events],
    ]);
    expect(await store.list('pending', 10)).toEqual([]);
    expect(ids(await store.list('delivered', 10))).toEqual([one.id, two.id]);
  });

  it("one saga's failing signal does not hold back another saga's callbacks", async () => {
    await store.addCorrelationKeys(SWAP, ['requestid:r-1']);
    await store.addCorrelationKeys(OTHER_SWAP, ['requestid:r-2']);
    const stuck = await receive(store, 'CarrierService', simple('r-1'));
    const fine = await receive(store, 'CarrierService', simple('r-2', '990013907835581'));
    signal.mockImplementation(async (saga) => {
      if (saga.workflowId === SWAP.workflowId) throw new Error('deadline exceeded');
    });

    expect(await dispatcher().runOnce()).toBe(2);
    expect(ids(await store.list('pending', 10))).toEqual([stuck.id]);
    expect(ids(await store.list('delivered', 10))).toEqual([fine.id]);
  });

  it('a saga with more callbacks than maxEventsPerSignal gets them in several signals, in inbox order', async () => {
    const requestIds = ['r-1', 'r-2', 'r-3', 'r-4', 'r-5'];
    await store.addCorrelationKeys(
      SWAP,
      requestIds.map((r) => `requestid:${r}`),
    );
    const received: Received[] = [];
    for (const r of requestIds) received.push(await receive(store, 'CarrierService', simple(r)));
    const events = received.map((r, i) => simpleEvent(r, requestIds[i]!));

    expect(await dispatcher({ maxEventsPerSignal: 2 }).runOnce()).toBe(5);

    expect(signal.mock.calls).toEqual([
      [SWAP, events.slice(0, 2)],
      [SWAP, events.slice(2, 4)],
      [SWAP, events.slice(4)],
    ]);
    expect((await store.counts()).delivered).toBe(5);
  });

  it('when one chunk of a split batch fails, only that chunk stays pending', async () => {
    const requestIds = ['r-1', 'r-2', 'r-3'];
    await store.addCorrelationKeys(
      SWAP,
      requestIds.map((r) => `requestid:${r}`),
    );
    const received: Received[] = [];
    for (const r of requestIds) received.push(await receive(store, 'CarrierService', simple(r)));
    signal.mockResolvedValueOnce(undefined).mockRejectedValueOnce(new Error('deadline exceeded'));

    expect(await dispatcher({ maxEventsPerSignal: 2 }).runOnce()).toBe(3);
    expect(ids(await store.list('delivered', 10))).toEqual([received[0]!.id, received[1]!.id]);
    expect(ids(await store.list('pending', 10))).toEqual([received[2]!.id]);
  });

  it('a round takes at most batchSize callbacks; the next round takes the rest', async () => {
    await store.addCorrelationKeys(SWAP, ['requestid:r-1', 'requestid:r-2', 'requestid:r-3']);
    for (const r of ['r-1', 'r-2', 'r-3']) await receive(store, 'CarrierService', simple(r));
    const d = dispatcher({ batchSize: 2 });

    expect(await d.runOnce()).toBe(2);
    expect(await d.runOnce()).toBe(1);
    expect(signal.mock.calls.map(([, events]) => events.map((e) => e.requestId))).toEqual([['r-1', 'r-2'], ['r-3']]);
  });

  it('reports running between start and stop', async () => {
    const d = dispatcher();
    expect(d.running).toBe(false);
    d.start();
    expect(d.running).toBe(true);
    await d.stop();
    expect(d.running).toBe(false);
  });
});
