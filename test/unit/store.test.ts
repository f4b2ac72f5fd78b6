import { jest } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../store/sqlite.js';
import {
  CLAIMED_AT,
  IMEI,
  LEASE_MS,
  SWAP_A,
  SWAP_B,
  SWAP_C,
  callback,
  pendingRecord,
  storeContract,
  useClock,
} from '../store-contract.js';

storeContract('SQLite', async () => {
  const store = openSqliteStore(':memory:');
  return { store, cleanup: () => store.close() };
});

describe('SQLite store on a file', () => {
  let dir: string;

  beforeEach(() => {
    useClock(CLAIMED_AT);
    dir = mkdtempSync(join(tmpdir(), 'euicc-store-'));
  });

  afterEach(() => {
    jest.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the folder, and two store instances on the same file (gateway and worker) see each other', async () => {
    const file = join(dir, 'nested', 'inbox.db');
    const gateway = openSqliteStore(file);
    const worker = openSqliteStore(file);
    try {
      expect(await worker.claimDevices(SWAP_A, [IMEI])).toEqual({ ok: true });
      expect(await gateway.claimDevices(SWAP_B, [IMEI])).toEqual({
        ok: false,
        busy: [{ key: IMEI, workflowId: 'swap-a', runId: 'run-a1' }],
      });

      const c = callback('r-1', ['requestid:r-1', IMEI]);
      expect(await gateway.recordCallback(c)).toEqual({ id: 1, duplicate: false });
      expect(await worker.list('pending', 10)).toEqual([pendingRecord(1, c)]);

      expect(await gateway.leasePending(10, LEASE_MS)).toEqual([{ record: pendingRecord(1, c), saga: SWAP_A }]);
      expect(await worker.leasePending(10, LEASE_MS)).toEqual([]);
    } finally {
      await gateway.close();
      await worker.close();
    }
  });

  it('keeps what was written across a close and re-open, closed runs included', async () => {
    const file = join(dir, 'inbox.db');
    const first = openSqliteStore(file);
    await first.recordCallback(callback('r-1', ['requestid:r-1']));
    await first.claimDevices(SWAP_A, ['mdn:8586928930']);
    await first.addCorrelationKeys(SWAP_B, ['requestid:r-2']);
    await first.releaseSaga(SWAP_B);
    await first.close();

    const second = openSqliteStore(file);
    try {
      expect(await second.recordCallback(callback('r-1', ['requestid:r-1']))).toEqual({ id: 1, duplicate: true });
      expect(await second.claimDevices(SWAP_C, ['mdn:8586928930'])).toEqual({
        ok: false,
        busy: [{ key: 'mdn:8586928930', workflowId: 'swap-a', runId: 'run-a1' }],
      });
      const late = callback('r-2', ['requestid:r-2']);
      const { id } = await second.recordCallback(late);
      expect(await second.leasePending(10, LEASE_MS)).toEqual([
        { record: { ...pendingRecord(1, callback('r-1', ['requestid:r-1'])), deliveries: 2 } },
        { record: pendingRecord(id, late), saga: SWAP_B },
      ]);
    } finally {
      await second.close();
    }
  });
});
