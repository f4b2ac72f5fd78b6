/**
 * The behaviour every Store implementation must have (store/types.ts), run against each of them:
 * test/unit/store.test.ts (SQLite) and test/integration/store-postgres.test.ts (PostgreSQL).
 */
import { jest } from '@jest/globals';
import { useClock } from './fixtures/clock.js';
import type { InboxRecord, NewCallback, SagaRef, Store } from '../store/types.js';

export interface OpenedStore {
  store: Store;
  /** Closes the store and removes what the test wrote. */
  cleanup(): Promise<void>;
}

/** Claims are stamped with the store's clock, set here to a minute before the callbacks arrive. */
export const CLAIMED_AT = '2025-11-23T09:59:00.000Z';
export const RECEIVED_AT = '2025-11-23T10:00:00.000Z';
export const LEASE_MS = 30_000;
const NO_MATCH = 'no open saga matches its request id or devices';
const sortedBy = <T>(id: (x: T) => number, list: T[]): T[] => [...list].sort((x, y) => id(x) - id(y));
const sortedById = (records: InboxRecord[]) => sortedBy((r) => r.id, records);
const NO_CALLBACKS = { received: 0, duplicates: 0, pending: 0, delivered: 0, parked: 0, orphaned: 0, deadLetter: 0 };
export const IMEI = 'imei:990013907835573';

export const SWAP_A: SagaRef = { workflowId: 'swap-a', runId: 'run-a1' };
export const SWAP_A_AGAIN: SagaRef = { workflowId: 'swap-a', runId: 'run-a2' };
export const SWAP_B: SagaRef = { workflowId: 'swap-b', runId: 'run-b1' };
export const SWAP_C: SagaRef = { workflowId: 'swap-c', runId: 'run-c1' };

/** A stored callback as the gateway writes it: body without credentials, keys from its request id and devices. */
export function callback(
  name: string,
  keys: string[],
  service: NewCallback['service'] = 'CarrierService',
  receivedAt = RECEIVED_AT,
  account?: string,
): NewCallback {
  return {
    service,
    fingerprint: `fp-${name}`,
    body: { requestId: name, status: 'Success' },
    receivedAt,
    ...(account !== undefined && { account }),
    keys,
  };
}

/** A callback that came to account `account`'s URL: its keys scoped by the account, and unscoped, as the gateway stores them. */
export function accountCallback(account: string, name: string, keys: string[]): NewCallback {
  return callback(name, [...keys.map((k) => `${account}|${k}`), ...keys], 'CarrierService', RECEIVED_AT, account);
}

function setClock(at: string): void {
  jest.setSystemTime(new Date(at));
}

/** The inbox row a fresh callback becomes. */
export function pendingRecord(id: number, c: NewCallback): InboxRecord {
  return {
    id,
    service: c.service,
    fingerprint: c.fingerprint,
    body: c.body,
    receivedAt: c.receivedAt,
    deliveries: 1,
    state: 'pending',
    ...(c.account !== undefined && { account: c.account }),
  };
}

/**
 * Registers the contract's cases for one store. `open` gives an empty store for each case (ids start at
 * 1); the store's clock is faked (only Date), so a store must stamp times with `new Date()`.
 */
export function storeContract(name: string, open: () => Promise<OpenedStore>): void {
  describe(`${name} store`, () => {
    let store: Store;
    let opened: OpenedStore | undefined;

    beforeEach(async () => {
      useClock(CLAIMED_AT);
      opened = await open();
      store = opened.store;
    });

    afterEach(async () => {
      jest.useRealTimers();
      await opened?.cleanup();
      opened = undefined;
    });

    describe('recording callbacks', () => {
      it('a first delivery is stored as pending; a re-delivery with the same fingerprint only counts a delivery', async () => {
        const first = callback('r-1', ['requestid:r-1', IMEI]);
        expect(await store.recordCallback(first)).toEqual({ id: 1, duplicate: false });
        const again = { ...first, body: { ...first.body, callbackCount: 2 }, receivedAt: '2025-11-23T10:00:04.000Z' };
        expect(await store.recordCallback(again)).toEqual({ id: 1, duplicate: true });

        expect(await store.list('pending', 10)).toEqual([{ ...pendingRecord(1, first), deliveries: 2 }]);
      });

      it('different fingerprints are different callbacks, listed newest first', async () => {
        const a = callback('r-1', ['requestid:r-1']);
        const b = callback('r-2', ['requestid:r-2'], 'StateService');
        expect(await store.recordCallback(a)).toEqual({ id: 1, duplicate: false });
        expect(await store.recordCallback(b)).toEqual({ id: 2, duplicate: false });
        expect(await store.list('pending', 10)).toEqual([pendingRecord(2, b), pendingRecord(1, a)]);
        expect(await store.list('pending', 1)).toEqual([pendingRecord(2, b)]);
      });
    });

    describe('recording callbacks in one transaction (group commit)', () => {
      // A re-delivery may use up an id in either store (as lone calls do), so new rows are told by their answers.
      it('each callback of a batch answers as if recorded alone: a fingerprint repeated in the batch is a re-delivery', async () => {
        const a = callback('r-1', ['requestid:r-1', IMEI]);
        const b = callback('r-2', ['requestid:r-2'], 'StateService');
        const aAgain = { ...a, body: { ...a.body, callbackCount: 2 }, receivedAt: '2025-11-23T10:00:04.000Z' };
        const c = callback('r-3', ['requestid:r-3']);

        const answers = await store.recordCallbacks([a, b, aAgain, c, aAgain]);
        const [idA, idB, , idC] = answers.map((x) => x.id) as [number, number, number, number, number];
        expect(answers).toEqual([
          { id: idA, duplicate: false },
          { id: idB, duplicate: false },
          { id: idA, duplicate: true },
          { id: idC, duplicate: false },
          { id: idA, duplicate: true },
        ]);
        expect(new Set([idA, idB, idC]).size).toBe(3);
        expect(sortedById(await store.list('pending', 10))).toEqual([
          { ...pendingRecord(idA, a), deliveries: 3 },
          pendingRecord(idB, b),
          pendingRecord(idC, c),
        ]);
        expect(await store.counts()).toEqual({ ...NO_CALLBACKS, received: 3, duplicates: 2, pending: 3 });
      });

      it('a batch re-delivering stored callbacks only counts deliveries, in and out of the batch', async () => {
        const a = callback('r-1', ['requestid:r-1']);
        const b = callback('r-2', ['requestid:r-2']);
        await store.recordCallback(a);

        const answers = await store.recordCallbacks([a, b, a, b]);
        const idB = answers[1]?.id as number;
        expect(answers).toEqual([
          { id: 1, duplicate: true },
          { id: idB, duplicate: false },
          { id: 1, duplicate: true },
          { id: idB, duplicate: true },
        ]);
        expect(await store.list('pending', 10)).toEqual([
          { ...pendingRecord(idB, b), deliveries: 2 },
          { ...pendingRecord(1, a), deliveries: 3 },
        ]);
        expect(await store.recordCallbacks([])).toEqual([]);
      });

      it("a batch stores each new callback's correlation keys, and none of a re-delivery's", async () => {
        const first = callback('r-1', ['requestid:r-1']);
        const resentWithDevice = { ...first, keys: ['requestid:r-1', IMEI] };
        const other = callback('r-2', ['requestid:r-2']);
        // Claimed before the callbacks arrive: the device would match row 1 had the re-delivery added its key.
        expect(await store.claimDevices(SWAP_B, [IMEI])).toEqual({ ok: true });
        const answers = await store.recordCallbacks([first, other, resentWithDevice]);
        await store.addCorrelationKeys(SWAP_A, ['requestid:r-2']);

        const [idFirst, idOther] = answers.map((x) => x.id) as [number, number, number];
        expect(sortedBy((x) => x.record.id, await store.leasePending(10, LEASE_MS))).toEqual([
          { record: { ...pendingRecord(idFirst, first), deliveries: 2 } },
          { record: pendingRecord(idOther, other), saga: SWAP_A, matchedBy: 'request' },
        ]);
      });

      it('a batch that cannot be stored stores none of its callbacks', async () => {
        const a = callback('r-1', ['requestid:r-1']);
        const broken = { ...callback('r-2', ['requestid:r-2']), service: null } as unknown as NewCallback;

        // NOT NULL constraint failed / null value … violates not-null constraint
        await expect(store.recordCallbacks([a, broken])).rejects.toHaveProperty(
          'message',
          expect.stringMatching(/null/i),
        );
        expect(await store.counts()).toEqual(NO_CALLBACKS);
        expect(await store.recordCallback(a)).toEqual({ id: expect.any(Number), duplicate: false });
      });
    });

    describe('leasing pending callbacks', () => {
      it('a callback whose request id a saga run registered comes with that run', async () => {
        const c = callback('r-1', ['requestid:r-1', IMEI]);
        await store.recordCallback(c);
        expect(await store.addCorrelationKeys(SWAP_A, ['requestid:r-1'])).toBe(0);

        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, c), saga: SWAP_A, matchedBy: 'request' },
        ]);
      });

      it('a callback matched only by a device comes with the run that claimed the device before it arrived', async () => {
        expect(await store.claimDevices(SWAP_A, [IMEI])).toEqual({ ok: true });
        const c = callback('r-other', ['requestid:r-other', IMEI]);
        await store.recordCallback(c);

        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, c), saga: SWAP_A, matchedBy: 'device' },
        ]);
      });

      it('the request id wins over a device claimed earlier by another run', async () => {
        expect(await store.claimDevices(SWAP_B, [IMEI])).toEqual({ ok: true });
        await store.addCorrelationKeys(SWAP_A, ['requestid:r-1']);
        const c = callback('r-1', [IMEI, 'requestid:r-1']);
        await store.recordCallback(c);

        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, c), saga: SWAP_A, matchedBy: 'request' },
        ]);
      });

      it('a callback that matches nothing is leased without a saga', async () => {
        const c = callback('r-1', ['requestid:r-1']);
        await store.recordCallback(c);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([{ record: pendingRecord(1, c) }]);
      });

      it('leased rows are not leased again until the lease is released, and the limit is honoured', async () => {
        const a = callback('r-1', ['requestid:r-1']);
        const b = callback('r-2', ['requestid:r-2']);
        const c = callback('r-3', ['requestid:r-3']);
        for (const x of [a, b, c]) await store.recordCallback(x);

        expect(await store.leasePending(2, LEASE_MS)).toEqual([
          { record: pendingRecord(1, a) },
          { record: pendingRecord(2, b) },
        ]);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([{ record: pendingRecord(3, c) }]);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([]);

        await store.releaseLease([2], 0);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([{ record: pendingRecord(2, b) }]);
      });

      it('a released lease with a retry delay keeps the row back until the delay has passed', async () => {
        const a = callback('r-1', ['requestid:r-1']);
        await store.recordCallback(a);
        await store.leasePending(10, LEASE_MS);
        await store.releaseLease([1], 60_000);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([]);
        expect(await store.list('pending', 10)).toEqual([pendingRecord(1, a)]);
      });

      it('failed attempts are counted; the row reaching the limit goes to the dead-letter list with the reason', async () => {
        const a = callback('r-1', ['requestid:r-1']);
        const b = callback('r-2', ['requestid:r-2']);
        await store.recordCallback(a);
        await store.recordCallback(b);
        await store.leasePending(10, LEASE_MS);
        expect(await store.recordFailedAttempt([1, 2], 'payload too large', 2, 0)).toEqual([]);
        expect(await store.list('pending', 10)).toEqual([
          { ...pendingRecord(2, b), failedAttempts: 1 },
          { ...pendingRecord(1, a), failedAttempts: 1 },
        ]);
        await store.leasePending(10, LEASE_MS);
        expect(await store.recordFailedAttempt([1], 'payload too large', 2, 60_000)).toEqual([1]);
        const [dead] = await store.list('deadLetter', 10);
        expect(dead).toMatchObject({ id: 1, state: 'deadLetter', reason: 'payload too large', failedAttempts: 2 });
        // The other row is back after its delay (0 here), not dead-lettered.
        await store.releaseLease([2], 0);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: { ...pendingRecord(2, b), failedAttempts: 1 } },
        ]);
        // A replay starts the count again.
        expect(await store.replay(1)).toBe(true);
        expect(await store.get(1)).toEqual(pendingRecord(1, a));
      });

      it('a failed attempt keeps the row back for the retry delay', async () => {
        const a = callback('r-1', ['requestid:r-1']);
        await store.recordCallback(a);
        await store.leasePending(10, LEASE_MS);
        await store.recordFailedAttempt([1], 'x', 5, 60_000);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([]);
      });

      it('delivered rows are never leased again', async () => {
        await store.recordCallback(callback('r-1', ['requestid:r-1']));
        await store.addCorrelationKeys(SWAP_A, ['requestid:r-1']);
        await store.leasePending(10, LEASE_MS);
        await store.markDelivered([1], SWAP_A);
        await store.releaseLease([1], 0);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([]);
      });
    });

    describe('matching a callback to a saga run', () => {
      it("a late callback carrying a closed run's request id goes to that closed run, never to a newer open run of the same devices", async () => {
        await store.claimDevices(SWAP_A, [IMEI]);
        await store.addCorrelationKeys(SWAP_A, ['requestid:r-1']);
        setClock('2025-11-23T10:10:00.000Z');
        await store.releaseSaga(SWAP_A);
        setClock('2025-11-23T10:20:00.000Z');
        expect(await store.claimDevices(SWAP_A_AGAIN, [IMEI])).toEqual({ ok: true });

        const late = callback('r-1', ['requestid:r-1', IMEI], 'CarrierService', '2025-11-23T10:30:00.000Z');
        await store.recordCallback(late);

        // The dispatcher signals the closed run, which is gone, so the callback ends orphaned.
        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, late), saga: SWAP_A, matchedBy: 'request' },
        ]);
        await store.markOrphaned([1], SWAP_A, 'saga no longer running');
        expect(await store.list('orphaned', 10)).toEqual([
          {
            ...pendingRecord(1, late),
            state: 'orphaned',
            workflowId: SWAP_A.workflowId,
            runId: SWAP_A.runId,
            reason: 'saga no longer running',
          },
        ]);
      });

      it('a callback naming only a device goes to the open run that holds it, not to the closed run that held it before', async () => {
        await store.claimDevices(SWAP_A, [IMEI]);
        setClock('2025-11-23T10:10:00.000Z');
        await store.releaseSaga(SWAP_A);
        expect(await store.claimDevices(SWAP_B, [IMEI])).toEqual({ ok: true });

        const c = callback('r-2', ['requestid:r-2', IMEI], 'CarrierService', '2025-11-23T10:30:00.000Z');
        await store.recordCallback(c);

        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, c), saga: SWAP_B, matchedBy: 'device' },
        ]);
      });

      it('when every run that claimed a device has closed, a callback naming only the device goes to the newest of them', async () => {
        await store.claimDevices(SWAP_A, [IMEI]);
        await store.releaseSaga(SWAP_A);
        setClock('2025-11-23T10:10:00.000Z');
        await store.claimDevices(SWAP_B, [IMEI]);
        await store.releaseSaga(SWAP_B);

        const c = callback('r-2', ['requestid:r-2', IMEI], 'CarrierService', '2025-11-23T10:30:00.000Z');
        await store.recordCallback(c);

        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, c), saga: SWAP_B, matchedBy: 'device' },
        ]);
      });

      it('a callback received before a run claimed its device is not matched to that run: it stays parked after the claim', async () => {
        const early = callback('r-0', ['requestid:r-0', IMEI]);
        await store.recordCallback(early);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([{ record: pendingRecord(1, early) }]);
        await store.parkUnmatched([1], NO_MATCH);

        setClock('2025-11-23T10:05:00.000Z');
        expect(await store.claimDevices(SWAP_A, [IMEI])).toEqual({ ok: true });

        expect(await store.list('parked', 10)).toEqual([
          { ...pendingRecord(1, early), state: 'parked', reason: NO_MATCH },
        ]);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([]);

        const later = callback('r-1', ['requestid:r-1', IMEI], 'CarrierService', '2025-11-23T10:06:00.000Z');
        await store.recordCallback(later);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(2, later), saga: SWAP_A, matchedBy: 'device' },
        ]);
      });

      it('a callback received before the claim, and still pending when the claim comes, is leased without a saga', async () => {
        const early = callback('r-0', [IMEI]);
        await store.recordCallback(early);
        setClock('2025-11-23T10:05:00.000Z');
        await store.claimDevices(SWAP_A, [IMEI]);

        expect(await store.leasePending(10, LEASE_MS)).toEqual([{ record: pendingRecord(1, early) }]);
        await store.parkUnmatched([1], NO_MATCH);
        expect(await store.list('parked', 10)).toEqual([
          { ...pendingRecord(1, early), state: 'parked', reason: NO_MATCH },
        ]);
      });
    });

    describe('parking', () => {
      it('parks the unmatched rows but keeps pending a row whose key a saga registered after the lease', async () => {
        const lonely = callback('r-1', ['requestid:r-1']);
        const early = callback('r-2', ['requestid:r-2', 'eid:89033023312150000000000263619234']);
        await store.recordCallback(lonely);
        await store.recordCallback(early);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, lonely) },
          { record: pendingRecord(2, early) },
        ]);

        // The saga registers its request id between the dispatcher's lease and its park.
        await store.addCorrelationKeys(SWAP_A, ['requestid:r-2']);
        await store.parkUnmatched([1, 2], NO_MATCH);

        expect(await store.list('parked', 10)).toEqual([
          { ...pendingRecord(1, lonely), state: 'parked', reason: NO_MATCH },
        ]);
        // Its lease is cleared too, so the next round delivers it at once.
        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(2, early), saga: SWAP_A, matchedBy: 'request' },
        ]);
      });

      it('parking ignores rows that are no longer pending', async () => {
        await store.recordCallback(callback('r-1', ['requestid:r-1']));
        await store.markOrphaned([1], SWAP_B, 'saga no longer running');
        await store.parkUnmatched([1], NO_MATCH);
        expect(await store.list('parked', 10)).toEqual([]);
        expect((await store.list('orphaned', 10)).map((r) => r.state)).toEqual(['orphaned']);
      });

      it('a saga registering its request id re-opens the parked callbacks that carry it, and says how many', async () => {
        const a = callback('r-1', ['requestid:r-1']);
        const b = callback('r-1-again', ['requestid:r-1', IMEI]);
        const other = callback('r-9', ['requestid:r-9']);
        for (const x of [a, b, other]) await store.recordCallback(x);
        await store.leasePending(10, LEASE_MS);
        await store.parkUnmatched([1, 2, 3], NO_MATCH);

        expect(await store.addCorrelationKeys(SWAP_A, ['requestid:r-1'])).toBe(2);
        expect(await store.list('pending', 10)).toEqual([pendingRecord(2, b), pendingRecord(1, a)]);
        expect(await store.list('parked', 10)).toEqual([
          { ...pendingRecord(3, other), state: 'parked', reason: NO_MATCH },
        ]);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, a), saga: SWAP_A, matchedBy: 'request' },
          { record: pendingRecord(2, b), saga: SWAP_A, matchedBy: 'request' },
        ]);
      });

      it('a claim does not re-open a callback parked before it, even one stamped by a gateway whose clock runs ahead', async () => {
        const c = callback(
          'r-1',
          ['requestid:r-1', 'iccid:89148000000800784259'],
          'CarrierService',
          '2025-11-23T11:00:00.000Z',
        );
        await store.recordCallback(c);
        await store.leasePending(10, LEASE_MS);
        await store.parkUnmatched([1], NO_MATCH);

        // The callback says 11:00 by the gateway's clock; the worker's clock says 09:59 when it claims.
        expect(await store.claimDevices(SWAP_A, ['iccid:89148000000800784259'])).toEqual({ ok: true });
        expect(await store.list('parked', 10)).toEqual([{ ...pendingRecord(1, c), state: 'parked', reason: NO_MATCH }]);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([]);
      });

      it('registering a key that no parked callback carries re-opens nothing', async () => {
        await store.recordCallback(callback('r-1', ['requestid:r-1']));
        await store.leasePending(10, LEASE_MS);
        await store.parkUnmatched([1], NO_MATCH);
        expect(await store.addCorrelationKeys(SWAP_A, ['requestid:r-2'])).toBe(0);
        expect(await store.addCorrelationKeys(SWAP_A, [])).toBe(0);
        expect((await store.list('parked', 10)).map((r) => r.id)).toEqual([1]);
      });
    });

    describe('a device matches only callbacks that reached the inbox after the claim', () => {
      it('a callback stored before the claim does not match by device, one stored after does, whatever their times say', async () => {
        // Stamped far in the future and far in the past: only the inbox's order counts.
        const before = callback('r-0', ['requestid:r-0', IMEI], 'CarrierService', '2030-01-01T00:00:00.000Z');
        await store.recordCallback(before);
        expect(await store.claimDevices(SWAP_A, [IMEI])).toEqual({ ok: true });
        const after = callback('r-1', ['requestid:r-1', IMEI], 'CarrierService', '2020-01-01T00:00:00.000Z');
        await store.recordCallback(after);

        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, before) },
          { record: pendingRecord(2, after), saga: SWAP_A, matchedBy: 'device' },
        ]);
      });

      it('a run claiming more devices later matches the new ones only for callbacks stored after that claim', async () => {
        await store.claimDevices(SWAP_A, [IMEI]);
        const between = callback(
          'r-1',
          ['requestid:r-1', 'mdn:8586928930'],
          'CarrierService',
          '2030-01-01T00:00:00.000Z',
        );
        await store.recordCallback(between);
        expect(await store.claimDevices(SWAP_A, [IMEI, 'mdn:8586928930'])).toEqual({ ok: true });
        const after = callback(
          'r-2',
          ['requestid:r-2', 'mdn:8586928930'],
          'CarrierService',
          '2020-01-01T00:00:00.000Z',
        );
        await store.recordCallback(after);

        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, between) },
          { record: pendingRecord(2, after), saga: SWAP_A, matchedBy: 'device' },
        ]);
      });
    });

    describe('request ids learned from delivered callbacks', () => {
      it("a request id delivered to a run by device becomes the run's key: siblings follow it, and after the run closes they reach its tombstone", async () => {
        await store.claimDevices(SWAP_A, [IMEI]);
        const first = callback('r-sib', ['requestid:r-sib', IMEI]);
        await store.recordCallback(first);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, first), saga: SWAP_A, matchedBy: 'device' },
        ]);
        await store.markDelivered([1], SWAP_A);

        // A sibling naming no device the run claimed.
        const sibling = {
          ...callback('r-sib', ['requestid:r-sib', 'iccid:89148000000800784259']),
          fingerprint: 'fp-sibling',
        };
        await store.recordCallback(sibling);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(2, sibling), saga: SWAP_A, matchedBy: 'learned' },
        ]);
        await store.markDelivered([2], SWAP_A);

        setClock('2025-11-23T10:10:00.000Z');
        await store.releaseSaga(SWAP_A);
        expect(await store.claimDevices(SWAP_B, [IMEI])).toEqual({ ok: true });
        const resent = { ...callback('r-sib', ['requestid:r-sib', IMEI]), fingerprint: 'fp-resent' };
        await store.recordCallback(resent);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(3, resent), saga: SWAP_A, matchedBy: 'learned' },
        ]);
      });

      it('a parked sibling is re-opened when its request id is learned', async () => {
        const sibling = callback('r-sib', ['requestid:r-sib']);
        await store.recordCallback(sibling);
        await store.leasePending(10, LEASE_MS);
        await store.parkUnmatched([1], NO_MATCH);

        await store.claimDevices(SWAP_A, [IMEI]);
        const first = { ...callback('r-sib', ['requestid:r-sib', IMEI]), fingerprint: 'fp-first' };
        await store.recordCallback(first);
        await store.leasePending(10, LEASE_MS);
        await store.markDelivered([2], SWAP_A);

        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, sibling), saga: SWAP_A, matchedBy: 'learned' },
        ]);
      });

      it("delivering never takes a request id another open run holds, and a run's own request id takes over one another run learned", async () => {
        await store.addCorrelationKeys(SWAP_B, ['requestid:r-b']);
        await store.claimDevices(SWAP_A, [IMEI]);
        await store.recordCallback(callback('r-b', ['requestid:r-b', IMEI]));
        await store.recordCallback(callback('r-c', ['requestid:r-c', IMEI]));
        await store.markDelivered([1, 2], SWAP_A);

        const b = { ...callback('r-b', ['requestid:r-b']), fingerprint: 'fp-b-again' };
        await store.recordCallback(b);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(3, b), saga: SWAP_B, matchedBy: 'request' },
        ]);

        expect(await store.addCorrelationKeys(SWAP_C, ['requestid:r-c'])).toBe(0);
        const c = { ...callback('r-c', ['requestid:r-c']), fingerprint: 'fp-c-again' };
        await store.recordCallback(c);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(4, c), saga: SWAP_C, matchedBy: 'request' },
        ]);
      });
    });

    describe('account scoping', () => {
      const ACME = 'acme-0000123456-00001';
      const GLOBEX = 'globex-0000654321-00001';

      it("the same device in two accounts: each account's callbacks reach only its own saga", async () => {
        expect(await store.claimDevices(SWAP_A, [IMEI], ACME)).toEqual({ ok: true });
        expect(await store.claimDevices(SWAP_B, [IMEI], GLOBEX)).toEqual({ ok: true });
        await store.addCorrelationKeys(SWAP_A, ['requestid:r-a']);

        const globex = accountCallback(GLOBEX, 'r-g', ['requestid:r-g', IMEI]);
        const acme = accountCallback(ACME, 'r-a', ['requestid:r-a']);
        // Account B's callback carrying account A's request id (ids are per account).
        const stray = { ...accountCallback(GLOBEX, 'r-a', ['requestid:r-a']), fingerprint: 'fp-stray' };
        for (const x of [globex, acme, stray]) await store.recordCallback(x);

        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, globex), saga: SWAP_B, matchedBy: 'device' },
          { record: pendingRecord(2, acme), saga: SWAP_A, matchedBy: 'request' },
          { record: pendingRecord(3, stray) },
        ]);
      });

      it('two open sagas of the same account cannot claim the same device; a claim without an account collides with any', async () => {
        await store.claimDevices(SWAP_A, [IMEI], ACME);
        expect(await store.claimDevices(SWAP_C, [IMEI], ACME)).toEqual({
          ok: false,
          busy: [{ key: IMEI, ...SWAP_A }],
        });
        expect(await store.claimDevices(SWAP_C, [IMEI])).toEqual({ ok: false, busy: [{ key: IMEI, ...SWAP_A }] });
        expect(await store.claimDevices(SWAP_A, [IMEI], ACME)).toEqual({ ok: true });
        await store.releaseSaga(SWAP_A);
        expect(await store.claimDevices(SWAP_C, [IMEI], ACME)).toEqual({ ok: true });
      });

      it('a saga that claimed without an account (before the upgrade) keeps unscoped keys: it gets callbacks of any account and holds its devices against every account', async () => {
        await store.claimDevices(SWAP_A, [IMEI]);
        await store.addCorrelationKeys(SWAP_A, ['requestid:r-1']);
        expect(await store.claimDevices(SWAP_B, [IMEI], ACME)).toEqual({ ok: false, busy: [{ key: IMEI, ...SWAP_A }] });

        const byRequest = accountCallback(ACME, 'r-1', ['requestid:r-1']);
        const byDevice = accountCallback(ACME, 'r-2', ['requestid:r-2', IMEI]);
        await store.recordCallback(byRequest);
        await store.recordCallback(byDevice);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, byRequest), saga: SWAP_A, matchedBy: 'request' },
          { record: pendingRecord(2, byDevice), saga: SWAP_A, matchedBy: 'device' },
        ]);
      });

      it("a callback of unknown account (the account-less URL) reaches a scoped saga's request ids and devices", async () => {
        await store.claimDevices(SWAP_A, [IMEI], ACME);
        await store.addCorrelationKeys(SWAP_A, ['requestid:r-1']);
        const byRequest = callback('r-1', ['requestid:r-1']);
        const byDevice = callback('r-2', ['requestid:r-2', IMEI]);
        await store.recordCallback(byRequest);
        await store.recordCallback(byDevice);

        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, byRequest), saga: SWAP_A, matchedBy: 'request' },
          { record: pendingRecord(2, byDevice), saga: SWAP_A, matchedBy: 'device' },
        ]);
      });

      it("a request id learned by a scoped saga is scoped by its account: another account's sibling does not follow it", async () => {
        await store.claimDevices(SWAP_A, [IMEI], ACME);
        const first = accountCallback(ACME, 'r-sib', ['requestid:r-sib', IMEI]);
        await store.recordCallback(first);
        await store.leasePending(10, LEASE_MS);
        await store.markDelivered([1], SWAP_A);

        const sibling = { ...accountCallback(ACME, 'r-sib', ['requestid:r-sib']), fingerprint: 'fp-sibling' };
        const foreign = { ...accountCallback(GLOBEX, 'r-sib', ['requestid:r-sib']), fingerprint: 'fp-foreign' };
        await store.recordCallback(sibling);
        await store.recordCallback(foreign);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(2, sibling), saga: SWAP_A, matchedBy: 'learned' },
          { record: pendingRecord(3, foreign) },
        ]);
      });

      it('a parked callback of the account is re-opened when the saga registers its request id', async () => {
        const c = accountCallback(ACME, 'r-1', ['requestid:r-1']);
        await store.recordCallback(c);
        await store.leasePending(10, LEASE_MS);
        await store.parkUnmatched([1], NO_MATCH);
        await store.claimDevices(SWAP_A, [IMEI], ACME);
        expect(await store.addCorrelationKeys(SWAP_A, ['requestid:r-1'])).toBe(1);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, c), saga: SWAP_A, matchedBy: 'request' },
        ]);
      });
    });

    describe('claiming devices', () => {
      const keys = ['eid:89033023312150000000000263619234', IMEI];

      it('claiming the same devices again for the same run succeeds (a retried activity)', async () => {
        expect(await store.claimDevices(SWAP_A, keys)).toEqual({ ok: true });
        expect(await store.claimDevices(SWAP_A, keys)).toEqual({ ok: true });
        expect(await store.claimDevices(SWAP_A, [...keys, 'mdn:8586928930'])).toEqual({ ok: true });
        expect(await store.claimDevices(SWAP_B, ['mdn:8586928930'])).toEqual({
          ok: false,
          busy: [{ key: 'mdn:8586928930', ...SWAP_A }],
        });
      });

      it('another run is told which devices are busy and who holds them, and claims none of its devices', async () => {
        expect(await store.claimDevices(SWAP_A, keys)).toEqual({ ok: true });
        expect(await store.claimDevices(SWAP_B, ['mdn:8586928930', IMEI])).toEqual({
          ok: false,
          busy: [{ key: IMEI, workflowId: 'swap-a', runId: 'run-a1' }],
        });
        // swap-b's refused claim left the free device free.
        expect(await store.claimDevices(SWAP_C, ['mdn:8586928930'])).toEqual({ ok: true });
      });

      it('every busy key is listed with its holder', async () => {
        await store.claimDevices(SWAP_A, [keys[0]!]);
        await store.claimDevices(SWAP_B, [keys[1]!]);
        expect(await store.claimDevices(SWAP_C, keys)).toEqual({
          ok: false,
          busy: [
            { key: keys[0], workflowId: 'swap-a', runId: 'run-a1' },
            { key: keys[1], workflowId: 'swap-b', runId: 'run-b1' },
          ],
        });
      });

      it('a new run of the same workflow id is a different run: the devices stay busy until the old run is released', async () => {
        await store.claimDevices(SWAP_A, keys);

        expect(await store.claimDevices(SWAP_A_AGAIN, keys)).toEqual({
          ok: false,
          busy: [
            { key: keys[0], workflowId: 'swap-a', runId: 'run-a1' },
            { key: keys[1], workflowId: 'swap-a', runId: 'run-a1' },
          ],
        });

        await store.releaseSaga(SWAP_A);
        expect(await store.claimDevices(SWAP_A_AGAIN, keys)).toEqual({ ok: true });
      });

      it("a released run's devices can be claimed by another run; releasing twice is fine", async () => {
        await store.claimDevices(SWAP_A, keys);
        await store.addCorrelationKeys(SWAP_A, ['requestid:r-1']);
        await store.releaseSaga(SWAP_A);
        await store.releaseSaga(SWAP_A);

        expect(await store.claimDevices(SWAP_B, keys)).toEqual({ ok: true });
        expect(await store.claimDevices(SWAP_C, keys)).toEqual({
          ok: false,
          busy: [
            { key: keys[0], workflowId: 'swap-b', runId: 'run-b1' },
            { key: keys[1], workflowId: 'swap-b', runId: 'run-b1' },
          ],
        });
      });

      it('releasing a run keeps its request ids as tombstones: a later callback with one still names that run', async () => {
        await store.addCorrelationKeys(SWAP_A, ['requestid:r-1']);
        await store.releaseSaga(SWAP_A);

        const c = callback('r-1', ['requestid:r-1']);
        await store.recordCallback(c);
        expect(await store.leasePending(10, LEASE_MS)).toEqual([
          { record: pendingRecord(1, c), saga: SWAP_A, matchedBy: 'request' },
        ]);
      });

      it('releasing a run that claimed nothing succeeds', async () => {
        await expect(store.releaseSaga(SWAP_C)).resolves.toBeUndefined();
        expect(await store.claimDevices(SWAP_C, keys)).toEqual({ ok: true });
      });
    });

    describe('counts', () => {
      it('an empty inbox counts zero everywhere', async () => {
        expect(await store.counts()).toEqual({
          received: 0,
          duplicates: 0,
          pending: 0,
          delivered: 0,
          parked: 0,
          orphaned: 0,
          deadLetter: 0,
        });
      });

      it('counts distinct callbacks, re-deliveries and each state', async () => {
        const delivered = callback('r-1', ['requestid:r-1']);
        const orphaned = callback('r-3', ['requestid:r-3']);
        const { id: deliveredId } = await store.recordCallback(delivered);
        await store.recordCallback(delivered);
        await store.recordCallback(delivered);
        const { id: parkedId } = await store.recordCallback(callback('r-2', ['requestid:r-2']));
        const { id: orphanedId } = await store.recordCallback(orphaned);
        await store.recordCallback(callback('r-4', ['requestid:r-4']));
        await store.recordCallback(callback('r-4', ['requestid:r-4']));

        await store.markDelivered([deliveredId], SWAP_A);
        await store.parkUnmatched([parkedId], NO_MATCH);
        await store.markOrphaned([orphanedId], SWAP_B, 'saga no longer running');

        expect(await store.counts()).toEqual({
          received: 4,
          duplicates: 3,
          pending: 1,
          delivered: 1,
          parked: 1,
          orphaned: 1,
          deadLetter: 0,
        });
        expect(await store.list('delivered', 10)).toEqual([
          {
            ...pendingRecord(deliveredId, delivered),
            deliveries: 3,
            state: 'delivered',
            workflowId: 'swap-a',
            runId: 'run-a1',
          },
        ]);
        expect(await store.list('orphaned', 10)).toEqual([
          {
            ...pendingRecord(orphanedId, orphaned),
            state: 'orphaned',
            workflowId: 'swap-b',
            runId: 'run-b1',
            reason: 'saga no longer running',
          },
        ]);
      });
    });

    it('answers a ping while open', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}

export { useClock };
