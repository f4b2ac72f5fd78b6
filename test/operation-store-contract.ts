/**
 * The behaviour every OperationStore must have (store/operations.ts), run against each of them:
 * test/unit/operation-store.test.ts (SQLite) and test/integration/operation-store-postgres.test.ts
 * (PostgreSQL).
 */
import { jest } from '@jest/globals';
import { useClock } from './fixtures/clock.js';
import type { ProfileDevice } from '../contracts/index.js';
import type {
  DeviceCounts,
  DeviceOutcome,
  DeviceResult,
  NewDevice,
  OperationRecord,
  OperationStore,
  RoundPlan,
} from '../store/operations.js';

export interface OpenedOperationStore {
  store: OperationStore;
  /** Closes the store and removes what the test wrote. */
  cleanup(): Promise<void>;
}

export const CREATED_AT = '2025-11-23T10:00:00.000Z';
const LATER = '2025-11-23T10:05:00.000Z';
export const OPERATION_ID = 'changeProfileServicePlan:acme:plan-2025-11';
export const REQUEST = {
  operationId: OPERATION_ID,
  operation: 'changeProfileServicePlan',
  accountName: 'acme',
  digest: 'sha256:request-a',
} as const;

/** A device with its EID and IMEI, distinct for every position. */
export function profileDevice(position: number): ProfileDevice {
  return {
    deviceIds: [
      { kind: 'eid', id: `8903302331215${String(position).padStart(19, '0')}` },
      { kind: 'imei', id: String(990_013_900_000_000 + position) },
    ],
  };
}

/** Devices at positions [from, to); those in `skipped` carry the reason of `--skip-invalid`. */
export function newDevices(from: number, to: number, skipped: ReadonlySet<number> = new Set()): NewDevice[] {
  return Array.from({ length: to - from }, (_, i) => {
    const position = from + i;
    return {
      position,
      device: profileDevice(position),
      ...(skipped.has(position) && { skipped: { code: 'DuplicateDevice', message: 'repeats an earlier device' } }),
    };
  });
}

export function zeroCounts(): DeviceCounts {
  return { pending: 0, succeeded: 0, failed: 0, noAnswer: 0, skipped: 0, total: 0 };
}

/**
 * The ranges a round must get: the pending positions (ascending) cut every `shardSize`, each range from
 * its first pending position to one past its last.
 */
export function expectedPlan(pending: number[], shardSize: number): RoundPlan {
  const ranges: [number, number][] = [];
  for (let i = 0; i < pending.length; i += shardSize) {
    const slice = pending.slice(i, i + shardSize);
    ranges.push([slice[0]!, slice[slice.length - 1]! + 1]);
  }
  return { ranges, devices: pending.length };
}

/** A fresh operation with `count` devices, sealed. */
async function sealedOperation(
  store: OperationStore,
  count: number,
  skipped: ReadonlySet<number> = new Set(),
  operationId = OPERATION_ID,
): Promise<void> {
  await store.createOperation({ ...REQUEST, operationId });
  await store.appendDevices(operationId, newDevices(0, count, skipped));
  await store.sealOperation(operationId, count, `sha256:devices-${count}`);
}

function setClock(at: string): void {
  jest.setSystemTime(new Date(at));
}

/**
 * Registers the contract's cases for one store. `open` gives an empty store for each case; the store's
 * clock is faked (only Date), so a store must stamp times with `new Date()`.
 */
export function operationStoreContract(name: string, open: () => Promise<OpenedOperationStore>): void {
  describe(`${name} operation store`, () => {
    let store: OperationStore;
    let opened: OpenedOperationStore | undefined;

    beforeEach(async () => {
      useClock(CREATED_AT);
      opened = await open();
      store = opened.store;
    });

    afterEach(async () => {
      jest.useRealTimers();
      await opened?.cleanup();
      opened = undefined;
    });

    describe('creating an operation', () => {
      it('the same id with the same request finds the operation; with another request it is refused', async () => {
        const record: OperationRecord = { ...REQUEST, createdAt: CREATED_AT };
        expect(await store.createOperation(REQUEST)).toEqual({ created: true, record });
        setClock(LATER);
        expect(await store.createOperation(REQUEST)).toEqual({ created: false, record });
        expect(await store.getOperation(OPERATION_ID)).toEqual(record);

        await expect(store.createOperation({ ...REQUEST, digest: 'sha256:request-b' })).rejects.toThrow(
          `Operation ${OPERATION_ID} already exists with a different request; choose another id`,
        );
        await expect(store.createOperation({ ...REQUEST, accountName: 'other' })).rejects.toThrow(/different request/);
        expect(await store.getOperation('changeProfileServicePlan:acme:unknown')).toBeUndefined();
      });
    });

    describe('uploading devices', () => {
      it('a device already stored stays as it was when its position comes again', async () => {
        await store.createOperation(REQUEST);
        await store.appendDevices(OPERATION_ID, newDevices(0, 3));
        await store.appendDevices(OPERATION_ID, [
          ...newDevices(2, 4),
          { position: 0, device: profileDevice(99), skipped: { code: 'X', message: 'y' } },
        ]);

        expect(await store.loadPending(OPERATION_ID, 0, 10)).toEqual(
          [0, 1, 2, 3].map((position) => ({ position, device: profileDevice(position) })),
        );
        expect(await store.counts(OPERATION_ID)).toEqual({ ...zeroCounts(), pending: 4, total: 4 });
      });

      it('devices of an unknown or sealed operation are refused', async () => {
        await expect(store.appendDevices('changeProfileServicePlan:acme:unknown', newDevices(0, 1))).rejects.toThrow(
          'Operation changeProfileServicePlan:acme:unknown is not in the store',
        );
        await sealedOperation(store, 2);
        await expect(store.appendDevices(OPERATION_ID, newDevices(2, 3))).rejects.toThrow(
          `Operation ${OPERATION_ID} is sealed: its devices can no longer change`,
        );
        await expect(store.appendDevices(OPERATION_ID, newDevices(0, 1))).rejects.toThrow(/is sealed/);
        expect((await store.counts(OPERATION_ID)).total).toBe(2);
      });

      it('a position that is not a whole number from 0 is refused, and nothing of the call is stored', async () => {
        await store.createOperation(REQUEST);
        await expect(
          store.appendDevices(OPERATION_ID, [...newDevices(0, 2), { position: -1, device: profileDevice(1) }]),
        ).rejects.toThrow(/whole number/);
        await expect(store.appendDevices(OPERATION_ID, [{ position: 1.5, device: profileDevice(1) }])).rejects.toThrow(
          /whole number/,
        );
        expect(await store.counts(OPERATION_ID)).toEqual(zeroCounts());
      });
    });

    describe('sealing the upload', () => {
      it('records the count and digest once; the same seal again is accepted, another is refused', async () => {
        await store.createOperation(REQUEST);
        await store.appendDevices(OPERATION_ID, newDevices(0, 5));
        setClock(LATER);
        await store.sealOperation(OPERATION_ID, 5, 'sha256:devices');
        await store.sealOperation(OPERATION_ID, 5, 'sha256:devices');

        expect(await store.getOperation(OPERATION_ID)).toEqual({
          ...REQUEST,
          createdAt: CREATED_AT,
          total: 5,
          devicesDigest: 'sha256:devices',
          sealedAt: LATER,
        });
        await expect(store.sealOperation(OPERATION_ID, 5, 'sha256:other')).rejects.toThrow(
          `Operation ${OPERATION_ID} was sealed with 5 devices and another digest or count`,
        );
        await expect(store.sealOperation(OPERATION_ID, 6, 'sha256:devices')).rejects.toThrow(/was sealed with 5/);
      });

      it('is refused unless exactly the positions 0 … total-1 are stored', async () => {
        await store.createOperation(REQUEST);
        await expect(store.sealOperation(OPERATION_ID, 1, 'd')).rejects.toThrow(
          `Operation ${OPERATION_ID} cannot be sealed with 1 devices: 0 are stored at positions 0 to 0`,
        );
        await store.appendDevices(OPERATION_ID, [...newDevices(0, 2), ...newDevices(3, 4)]);
        await expect(store.sealOperation(OPERATION_ID, 4, 'd')).rejects.toThrow(/cannot be sealed with 4 devices: 3/);
        // Three devices, but one of them beyond position 2.
        await expect(store.sealOperation(OPERATION_ID, 3, 'd')).rejects.toThrow(/cannot be sealed with 3 devices: 3/);
        expect((await store.getOperation(OPERATION_ID))?.sealedAt).toBeUndefined();

        await store.appendDevices(OPERATION_ID, newDevices(2, 3));
        await store.sealOperation(OPERATION_ID, 4, 'd');
        await expect(store.sealOperation('changeProfileServicePlan:acme:unknown', 0, 'd')).rejects.toThrow(
          /is not in the store/,
        );
      });

      it('an operation without devices can be sealed with none', async () => {
        await store.createOperation(REQUEST);
        await store.sealOperation(OPERATION_ID, 0, 'sha256:empty');
        expect(await store.planRound(OPERATION_ID, 0, 10, false)).toEqual({ ranges: [], devices: 0 });
      });
    });

    describe('planning rounds', () => {
      it('the first round cuts the pending devices into ranges of at most shardSize, skipped ones left out', async () => {
        await sealedOperation(store, 10, new Set([3, 8]));
        const plan = await store.planRound(OPERATION_ID, 0, 3, false);

        expect(plan).toEqual({
          ranges: [
            [0, 3],
            [4, 7],
            [7, 10],
          ],
          devices: 8,
        });
        expect((await store.loadPending(OPERATION_ID, 4, 7)).map((d) => d.position)).toEqual([4, 5, 6]);
        expect((await store.loadPending(OPERATION_ID, 7, 10)).map((d) => d.position)).toEqual([7, 9]);
        // Planning again changes nothing.
        expect(await store.planRound(OPERATION_ID, 0, 3, false)).toEqual(plan);
      });

      it('a retry round makes only the failed and unanswered devices pending again, under its round', async () => {
        await sealedOperation(store, 12, new Set([5]));
        await store.planRound(OPERATION_ID, 0, 4, false);
        const outcomes: DeviceOutcome[] = [
          { position: 0, state: 'succeeded', requestId: 'r-1' },
          { position: 1, state: 'failed', code: 'DeviceNotFound', message: 'not on the account', requestId: 'r-1' },
          { position: 2, state: 'noAnswer', requestId: 'r-1' },
          { position: 3, state: 'succeeded', requestId: 'r-1' },
          { position: 4, state: 'failed', code: 'E', requestId: 'r-2' },
          { position: 6, state: 'succeeded', requestId: 'r-2', confirmedBy: 'reconciliation' },
          { position: 7, state: 'noAnswer', requestId: 'r-2' },
          { position: 9, state: 'failed', code: 'E', requestId: 'r-3' },
          { position: 10, state: 'succeeded', requestId: 'r-3' },
        ];
        await store.recordOutcomes(OPERATION_ID, 0, outcomes);
        // Position 8 and 11 are still pending (their shard never wrote them): they stay pending.
        setClock(LATER);

        const plan = await store.planRound(OPERATION_ID, 1, 2, true);
        expect(plan).toEqual(expectedPlan([1, 2, 4, 7, 8, 9, 11], 2));
        expect(plan).toEqual({
          ranges: [
            [1, 3],
            [4, 8],
            [8, 10],
            [11, 12],
          ],
          devices: 7,
        });
        expect(await store.counts(OPERATION_ID)).toEqual({
          pending: 7,
          succeeded: 4,
          failed: 0,
          noAnswer: 0,
          skipped: 1,
          total: 12,
        });
        const [failedAgain] = await store.readResults(OPERATION_ID, { after: 0, limit: 1 });
        expect(failedAgain).toEqual({
          position: 1,
          device: profileDevice(1),
          state: 'pending',
          requestId: 'r-1',
          round: 1,
          updatedAt: LATER,
        });
        // The same retry again (an activity retried) finds the same plan.
        expect(await store.planRound(OPERATION_ID, 1, 2, true)).toEqual(plan);
      });

      it('ranges never overlap and together hold every pending device exactly once', async () => {
        const skipped = new Set([0, 7, 8, 9, 30, 31, 99]);
        await sealedOperation(store, 100, skipped);
        const pending = Array.from({ length: 100 }, (_, i) => i).filter((i) => !skipped.has(i));
        for (const shardSize of [1, 7, 93, 200]) {
          const plan = await store.planRound(OPERATION_ID, 0, shardSize, false);
          expect(plan).toEqual(expectedPlan(pending, shardSize));
          const loaded: number[] = [];
          for (const [from, to] of plan.ranges) {
            const devices = await store.loadPending(OPERATION_ID, from, to);
            expect(devices.length).toBeGreaterThan(0);
            expect(devices.length).toBeLessThanOrEqual(shardSize);
            loaded.push(...devices.map((d) => d.position));
          }
          expect(loaded).toEqual(pending);
        }
      });

      it('a shard size below one and an unknown operation are refused', async () => {
        await sealedOperation(store, 2);
        await expect(store.planRound(OPERATION_ID, 0, 0, false)).rejects.toThrow(/at least one device/);
        await expect(store.planRound('changeProfileServicePlan:acme:unknown', 0, 5, false)).rejects.toThrow(
          /is not in the store/,
        );
      });
    });

    describe('outcomes and results', () => {
      it('outcomes are stored with every field; results page in position order, optionally of one state', async () => {
        await sealedOperation(store, 6, new Set([2]));
        setClock(LATER);
        await store.recordOutcomes(OPERATION_ID, 0, [
          {
            position: 0,
            state: 'succeeded',
            requestId: 'r-1',
            addressFault: { code: 'AddressInvalid', message: 'zip' },
          },
          { position: 1, state: 'failed', code: 'DeviceNotFound', message: 'not on the account', requestId: 'r-1' },
          { position: 3, state: 'succeeded', requestId: 'r-1', confirmedBy: 'reconciliation' },
          { position: 4, state: 'noAnswer', requestId: 'r-1' },
          // Not a device of the operation: ignored.
          { position: 17, state: 'succeeded', requestId: 'r-1' },
        ]);

        const all: DeviceResult[] = [
          {
            position: 0,
            device: profileDevice(0),
            state: 'succeeded',
            requestId: 'r-1',
            addressFault: { code: 'AddressInvalid', message: 'zip' },
            round: 0,
            updatedAt: LATER,
          },
          {
            position: 1,
            device: profileDevice(1),
            state: 'failed',
            code: 'DeviceNotFound',
            message: 'not on the account',
            requestId: 'r-1',
            round: 0,
            updatedAt: LATER,
          },
          {
            position: 2,
            device: profileDevice(2),
            state: 'skipped',
            code: 'DuplicateDevice',
            message: 'repeats an earlier device',
            round: 0,
            updatedAt: CREATED_AT,
          },
          {
            position: 3,
            device: profileDevice(3),
            state: 'succeeded',
            requestId: 'r-1',
            confirmedBy: 'reconciliation',
            round: 0,
            updatedAt: LATER,
          },
          { position: 4, device: profileDevice(4), state: 'noAnswer', requestId: 'r-1', round: 0, updatedAt: LATER },
          { position: 5, device: profileDevice(5), state: 'pending', round: 0, updatedAt: CREATED_AT },
        ];
        expect(await store.readResults(OPERATION_ID, { after: -1, limit: 100 })).toEqual(all);
        expect(await store.readResults(OPERATION_ID, { after: -1, limit: 2 })).toEqual(all.slice(0, 2));
        expect(await store.readResults(OPERATION_ID, { after: 1, limit: 2 })).toEqual(all.slice(2, 4));
        expect(await store.readResults(OPERATION_ID, { after: 5, limit: 2 })).toEqual([]);
        expect(await store.readResults(OPERATION_ID, { after: -1, limit: 1, state: 'succeeded' })).toEqual([all[0]]);
        expect(await store.readResults(OPERATION_ID, { after: 0, limit: 10, state: 'succeeded' })).toEqual([all[3]]);
        expect(await store.readResults(OPERATION_ID, { after: -1, limit: 10, state: 'failed' })).toEqual([all[1]]);
        expect(await store.counts(OPERATION_ID)).toEqual({
          pending: 1,
          succeeded: 2,
          failed: 1,
          noAnswer: 1,
          skipped: 1,
          total: 6,
        });
      });

      it('the same outcome written twice changes nothing; a late write of an earlier round is ignored', async () => {
        await sealedOperation(store, 3);
        await store.recordOutcomes(OPERATION_ID, 0, [
          { position: 0, state: 'failed', code: 'E', requestId: 'r-1' },
          { position: 1, state: 'succeeded', requestId: 'r-1' },
        ]);
        setClock(LATER);
        await store.recordOutcomes(OPERATION_ID, 0, [{ position: 1, state: 'succeeded', requestId: 'r-1' }]);
        expect((await store.readResults(OPERATION_ID, { after: 0, limit: 1 }))[0]?.updatedAt).toBe(CREATED_AT);

        await store.planRound(OPERATION_ID, 1, 10, true);
        await store.recordOutcomes(OPERATION_ID, 0, [{ position: 0, state: 'failed', code: 'E', requestId: 'r-1' }]);
        expect(await store.counts(OPERATION_ID)).toEqual({ ...zeroCounts(), pending: 2, succeeded: 1, total: 3 });

        await store.recordOutcomes(OPERATION_ID, 1, [{ position: 0, state: 'succeeded', requestId: 'r-9' }]);
        expect(await store.readResults(OPERATION_ID, { after: -1, limit: 1 })).toEqual([
          { position: 0, device: profileDevice(0), state: 'succeeded', requestId: 'r-9', round: 1, updatedAt: LATER },
        ]);
      });

      it('counts, results and pending devices of an unknown operation are refused', async () => {
        const unknown = 'changeProfileServicePlan:acme:unknown';
        await expect(store.counts(unknown)).rejects.toThrow(/is not in the store/);
        await expect(store.readResults(unknown, { after: -1, limit: 1 })).rejects.toThrow(/is not in the store/);
        await expect(store.loadPending(unknown, 0, 1)).rejects.toThrow(/is not in the store/);
        await expect(store.recordOutcomes(unknown, 0, [])).rejects.toThrow(/is not in the store/);
      });
    });

    describe('retention', () => {
      it('operations closed before the cut-off are deleted with their devices; open and newer ones stay', async () => {
        const old = 'changeProfileServicePlan:acme:old';
        const recent = 'changeProfileServicePlan:acme:recent';
        const running = 'changeProfileServicePlan:acme:running';
        await sealedOperation(store, 4, new Set(), old);
        await sealedOperation(store, 3, new Set(), recent);
        await sealedOperation(store, 2, new Set(), running);
        await store.closeOperation(old);
        setClock(LATER);
        await store.closeOperation(recent);
        // Closing again keeps the first time; closing an unknown operation does nothing.
        await store.closeOperation(old);
        await store.closeOperation('changeProfileServicePlan:acme:unknown');
        expect((await store.getOperation(old))?.closedAt).toBe(CREATED_AT);

        expect(await store.purgeClosed(new Date(CREATED_AT))).toEqual({ operations: 0, devices: 0 });
        expect(await store.purgeClosed(new Date('2025-11-23T10:01:00.000Z'))).toEqual({ operations: 1, devices: 4 });

        expect(await store.getOperation(old)).toBeUndefined();
        await expect(store.counts(old)).rejects.toThrow(/is not in the store/);
        expect(await store.getOperation(recent)).toEqual({
          ...REQUEST,
          operationId: recent,
          createdAt: CREATED_AT,
          total: 3,
          devicesDigest: 'sha256:devices-3',
          sealedAt: CREATED_AT,
          closedAt: LATER,
        });
        expect((await store.counts(running)).total).toBe(2);
        // The id can be used again once purged.
        expect((await store.createOperation({ ...REQUEST, operationId: old, digest: 'sha256:new' })).created).toBe(
          true,
        );
      });
    });

    describe('rate-limit slots', () => {
      it('ten workers reserving the same key at once get slots one interval apart', async () => {
        jest.useRealTimers();
        const key = `activate:acme:${Date.now()}`;
        const waits = await Promise.all(Array.from({ length: 10 }, () => store.reserveSlot(key, 600)));

        // Each wait is measured from its own call's clock: a little less than its slot's offset.
        const sorted = [...waits].sort((a, b) => a - b);
        expect(new Set(waits).size).toBe(10);
        sorted.forEach((wait, k) => {
          expect(wait).toBeLessThanOrEqual(600 * k);
          expect(wait).toBeGreaterThan(600 * k - 300);
        });
        // Another key has its own slots.
        expect(await store.reserveSlot(`${key}:other`, 600)).toBe(0);
      });

      it('a slot in the past is not owed: after a pause the next reservation goes at once', async () => {
        jest.useRealTimers();
        const key = `activate:acme:${Date.now()}`;
        expect(await store.reserveSlot(key, 300)).toBe(0);
        const second = await store.reserveSlot(key, 300);
        expect(second).toBeGreaterThan(0);
        expect(second).toBeLessThanOrEqual(300);
        // The slots reserved end 600 ms after the first: past them, nothing is owed.
        await new Promise((resolve) => setTimeout(resolve, 700));
        expect(await store.reserveSlot(key, 300)).toBe(0);
        await expect(store.reserveSlot(key, -1)).rejects.toThrow(/interval/);
      });
    });
  });
}
