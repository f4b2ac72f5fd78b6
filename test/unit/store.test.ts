import { jest } from '@jest/globals';
import Database from 'better-sqlite3';
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
  accountCallback,
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

      expect(await gateway.leasePending(10, LEASE_MS)).toEqual([
        { record: pendingRecord(1, c), saga: SWAP_A, matchedBy: 'device' },
      ]);
      expect(await worker.leasePending(10, LEASE_MS)).toEqual([]);
    } finally {
      await gateway.close();
      await worker.close();
    }
  });

  it("commits callbacks and correlations with a full sync, the dispatcher's bookkeeping without one", async () => {
    // Every PRAGMA synchronous the store sets, in order.
    const seen: string[] = [];
    const original = Database.prototype.pragma;
    const pragma = jest.spyOn(Database.prototype, 'pragma').mockImplementation(function (
      this: Database.Database,
      source: string,
      options?: Database.PragmaOptions,
    ) {
      if (source.startsWith('synchronous')) seen.push(source);
      return original.call(this, source, options);
    });
    const store = openSqliteStore(join(dir, 'inbox.db'));
    try {
      expect(seen).toEqual(['synchronous = FULL']);
      seen.length = 0;
      await store.claimDevices(SWAP_A, [IMEI]);
      await store.recordCallback(callback('r-1', ['requestid:r-1', IMEI]));
      expect(seen).toEqual([]);
      const [item] = await store.leasePending(10, LEASE_MS);
      await store.markDelivered([item!.record.id], SWAP_A);
      await store.recordCallback(callback('r-2', ['requestid:r-2']));
      await store.leasePending(10, LEASE_MS);
      await store.parkUnmatched([2], 'no saga');
      // Four dispatcher calls (lease, deliver, lease, park), each switched to NORMAL and back to FULL.
      expect(seen).toEqual(Array(4).fill(['synchronous = NORMAL', 'synchronous = FULL']).flat());
    } finally {
      pragma.mockRestore();
      await store.close();
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
        { record: pendingRecord(id, late), saga: SWAP_B, matchedBy: 'request' },
      ]);
    } finally {
      await second.close();
    }
  });

  it('migrates a file written before accounts and high-water marks in place; its claims keep the rule of their time', async () => {
    const file = join(dir, 'inbox.db');
    const old = new Database(file);
    old.exec(OLD_SCHEMA);
    // An open saga that claimed a device at 09:59 and registered a request id, then released another.
    old.exec(`
      INSERT INTO correlations (key, workflow_id, run_id, kind, created_at) VALUES
        ('${IMEI}', 'swap-a', 'run-a1', 'device', '2025-11-23T09:59:00.000Z'),
        ('requestid:r-1', 'swap-a', 'run-a1', 'request', '2025-11-23T09:59:30.000Z'),
        ('requestid:r-0', 'swap-c', 'run-c1', 'request', '2025-11-23T09:00:00.000Z');
      UPDATE correlations SET closed_at = '2025-11-23T09:30:00.000Z' WHERE workflow_id = 'swap-c';
      INSERT INTO inbox (service, fingerprint, body, received_at, state, reason, updated_at) VALUES
        ('CarrierService', 'fp-early', '{"requestId":"r-early","status":"Success"}', '2025-11-23T09:58:00.000Z',
         'parked', 'no open saga matches its request id or devices', '2025-11-23T09:58:00.000Z');
      INSERT INTO callback_keys (inbox_id, key) VALUES (1, 'requestid:r-early'), (1, '${IMEI}');
    `);
    old.close();

    const store = openSqliteStore(file);
    const again = openSqliteStore(file);
    try {
      const columns = (table: string) => {
        const db = new Database(file, { readonly: true });
        try {
          return (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
        } finally {
          db.close();
        }
      };
      expect(columns('inbox')).toContain('account');
      expect(columns('correlations')).toEqual(expect.arrayContaining(['account', 'unscoped_key', 'inbox_high_water']));

      // The legacy device claim (no high-water mark) still compares times: 10:00 is after 09:59.
      const byDevice = callback('r-2', ['requestid:r-2', IMEI]);
      const byRequest = accountCallback('acme', 'r-1', ['requestid:r-1']);
      const tombstone = callback('r-0', ['requestid:r-0']);
      for (const c of [byDevice, byRequest, tombstone]) await store.recordCallback(c);
      expect(await again.leasePending(10, LEASE_MS)).toEqual([
        { record: pendingRecord(2, byDevice), saga: SWAP_A, matchedBy: 'device' },
        { record: pendingRecord(3, byRequest), saga: SWAP_A, matchedBy: 'request' },
        { record: pendingRecord(4, tombstone), saga: SWAP_C, matchedBy: 'request' },
      ]);
      expect((await store.list('parked', 10)).map((r) => r.id)).toEqual([1]);
      expect(await store.claimDevices(SWAP_B, [IMEI], 'acme')).toEqual({
        ok: false,
        busy: [{ key: IMEI, workflowId: 'swap-a', runId: 'run-a1' }],
      });
    } finally {
      await store.close();
      await again.close();
    }
  });
});

/** The schema of the first release, before accounts, high-water marks and learned keys. */
const OLD_SCHEMA = `
CREATE TABLE inbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  service TEXT NOT NULL,
  fingerprint TEXT NOT NULL UNIQUE,
  body TEXT NOT NULL,
  received_at TEXT NOT NULL,
  deliveries INTEGER NOT NULL DEFAULT 1,
  state TEXT NOT NULL DEFAULT 'pending',
  workflow_id TEXT,
  run_id TEXT,
  reason TEXT,
  lease_until INTEGER NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL
);
CREATE INDEX inbox_state ON inbox (state, lease_until);
CREATE TABLE callback_keys (
  inbox_id INTEGER NOT NULL REFERENCES inbox (id),
  key TEXT NOT NULL,
  PRIMARY KEY (inbox_id, key)
);
CREATE INDEX callback_keys_key ON callback_keys (key);
CREATE TABLE correlations (
  key TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  created_at TEXT NOT NULL,
  closed_at TEXT,
  PRIMARY KEY (key, workflow_id, run_id)
);
CREATE UNIQUE INDEX correlations_open ON correlations (key) WHERE closed_at IS NULL;
CREATE INDEX correlations_run ON correlations (workflow_id, run_id);
`;
