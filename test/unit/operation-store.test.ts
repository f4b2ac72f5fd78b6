import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { operationsFile } from '../../config/index.js';
import { openOperationStore } from '../../store/open.js';
import { openSqliteOperationStore } from '../../store/operations-sqlite.js';
import type { DeviceOutcome } from '../../store/operations.js';
import {
  OPERATION_ID,
  REQUEST,
  expectedPlan,
  newDevices,
  operationStoreContract,
  profileDevice,
} from '../operation-store-contract.js';

operationStoreContract('SQLite', async () => {
  const store = openSqliteOperationStore(':memory:');
  return { store, cleanup: () => store.close() };
});

describe('SQLite operation store on a file', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'euicc-operations-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('lives in DATA_DIR/operations.db, apart from the inbox, and two processes on it see each other', async () => {
    expect(operationsFile({ DATA_DIR: '/var/lib/euicc' })).toBe('/var/lib/euicc/operations.db');
    const worker = await openOperationStore({ DATA_DIR: join(dir, 'nested') });
    const cli = openSqliteOperationStore(join(dir, 'nested', 'operations.db'));
    try {
      await worker.createOperation(REQUEST);
      await worker.appendDevices(OPERATION_ID, newDevices(0, 2));
      await worker.sealOperation(OPERATION_ID, 2, 'sha256:devices');
      await worker.recordOutcomes(OPERATION_ID, 0, [{ position: 1, state: 'succeeded', requestId: 'r-1' }]);

      expect(await cli.counts(OPERATION_ID)).toEqual({
        pending: 1,
        succeeded: 1,
        failed: 0,
        noAnswer: 0,
        skipped: 0,
        total: 2,
      });
      // One slot sequence for every process on the file.
      expect(await worker.reserveSlot('activate:acme', 60_000)).toBe(0);
      expect(await cli.reserveSlot('activate:acme', 60_000)).toBeGreaterThan(59_000);
    } finally {
      await worker.close();
      await cli.close();
    }
  });

  it('two hundred thousand devices: uploaded in chunks, planned, answered and planned again exactly', async () => {
    const total = 200_000;
    const chunk = 5_000;
    const shardSize = 7_000;
    const skipped = new Set(Array.from({ length: total / 1_000 }, (_, i) => i * 1_000 + 500));
    const store = openSqliteOperationStore(join(dir, 'operations.db'));
    try {
      await store.createOperation(REQUEST);
      for (let from = 0; from < total; from += chunk) {
        await store.appendDevices(OPERATION_ID, newDevices(from, from + chunk, skipped));
      }
      // A chunk sent again (a retried upload) changes nothing.
      await store.appendDevices(OPERATION_ID, newDevices(chunk, 2 * chunk, skipped));
      await store.sealOperation(OPERATION_ID, total, 'sha256:devices');

      const pending = Array.from({ length: total }, (_, i) => i).filter((i) => !skipped.has(i));
      const first = await store.planRound(OPERATION_ID, 0, shardSize, false);
      expect(first).toEqual(expectedPlan(pending, shardSize));

      // Every shard answers its range: one device in ten fails, one in a hundred gets no answer.
      const fate = (position: number): DeviceOutcome['state'] =>
        position % 100 === 7 ? 'noAnswer' : position % 10 === 3 ? 'failed' : 'succeeded';
      for (const [from, to] of first.ranges) {
        const devices = await store.loadPending(OPERATION_ID, from, to);
        expect(devices.length).toBeLessThanOrEqual(shardSize);
        await store.recordOutcomes(
          OPERATION_ID,
          0,
          devices.map((d) => ({ position: d.position, state: fate(d.position), requestId: `r-${from}` })),
        );
      }
      const failed = pending.filter((p) => fate(p) === 'failed');
      const noAnswer = pending.filter((p) => fate(p) === 'noAnswer');
      expect(await store.counts(OPERATION_ID)).toEqual({
        pending: 0,
        succeeded: pending.length - failed.length - noAnswer.length,
        failed: failed.length,
        noAnswer: noAnswer.length,
        skipped: skipped.size,
        total,
      });

      const page = await store.readResults(OPERATION_ID, { after: 150_000, limit: 3, state: 'noAnswer' });
      expect(page.map((r) => r.position)).toEqual([150_007, 150_107, 150_207]);
      expect(page[0]).toMatchObject({ device: profileDevice(150_007), requestId: expect.any(String), round: 0 });

      const retry = await store.planRound(OPERATION_ID, 1, shardSize, true);
      expect(retry).toEqual(
        expectedPlan(
          [...failed, ...noAnswer].sort((a, b) => a - b),
          shardSize,
        ),
      );
    } finally {
      await store.close();
    }
  }, 120_000);
});
