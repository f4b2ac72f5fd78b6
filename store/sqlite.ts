/**
 * SQLite store (the default, a file under .data/). WAL mode lets the gateway and the worker share the
 * file from separate processes; every write is one transaction.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CallbackService } from '../contracts/index.js';
import { sqliteIntents } from './intents.js';
import type {
  ClaimResult,
  DispatchItem,
  InboxCounts,
  InboxRecord,
  InboxState,
  NewCallback,
  SagaRef,
  Store,
} from './types.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS inbox (
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
CREATE INDEX IF NOT EXISTS inbox_state ON inbox (state, lease_until);
CREATE TABLE IF NOT EXISTS callback_keys (
  inbox_id INTEGER NOT NULL REFERENCES inbox (id),
  key TEXT NOT NULL,
  PRIMARY KEY (inbox_id, key)
);
CREATE INDEX IF NOT EXISTS callback_keys_key ON callback_keys (key);
CREATE TABLE IF NOT EXISTS correlations (
  key TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  created_at TEXT NOT NULL,
  closed_at TEXT,
  PRIMARY KEY (key, workflow_id, run_id)
);
-- A key (a device, a request id) belongs to at most one open saga run.
CREATE UNIQUE INDEX IF NOT EXISTS correlations_open ON correlations (key) WHERE closed_at IS NULL;
CREATE INDEX IF NOT EXISTS correlations_run ON correlations (workflow_id, run_id);
`;

interface InboxRow {
  id: number;
  service: string;
  fingerprint: string;
  body: string;
  received_at: string;
  deliveries: number;
  state: string;
  workflow_id: string | null;
  run_id: string | null;
  reason: string | null;
}

function toRecord(row: InboxRow): InboxRecord {
  const record: InboxRecord = {
    id: row.id,
    service: row.service as CallbackService,
    fingerprint: row.fingerprint,
    body: JSON.parse(row.body) as Record<string, unknown>,
    receivedAt: row.received_at,
    deliveries: row.deliveries,
    state: row.state as InboxState,
  };
  if (row.workflow_id) record.workflowId = row.workflow_id;
  if (row.run_id) record.runId = row.run_id;
  if (row.reason) record.reason = row.reason;
  return record;
}

/**
 * Which saga run a callback belongs to. A request id names its run for good, even after the run
 * closed (the callback is then orphaned, not handed to a newer saga). A device key counts only for a
 * run that claimed the device before the callback arrived, open runs first: a late callback of an
 * earlier operation must not complete a step of a later one.
 */
const MATCHES = `
  FROM callback_keys k JOIN correlations c ON c.key = k.key
  WHERE k.inbox_id = inbox.id AND (c.kind = 'request' OR c.created_at <= inbox.received_at)`;
const MATCH_SQL = `
  SELECT c.workflow_id AS workflowId, c.run_id AS runId
  FROM inbox JOIN callback_keys k ON k.inbox_id = inbox.id JOIN correlations c ON c.key = k.key
  WHERE inbox.id = ? AND (c.kind = 'request' OR c.created_at <= inbox.received_at)
  ORDER BY (c.kind = 'request') DESC, (c.closed_at IS NULL) DESC, c.created_at DESC LIMIT 1`;

export function openSqliteStore(file: string): Store {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  // FULL: a callback acknowledged to ThingSpace must survive a power loss, not only a process crash.
  db.pragma('synchronous = FULL');
  db.exec(SCHEMA);

  const now = () => new Date().toISOString();
  const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(',');

  const insertCallback = db.prepare(`
    INSERT INTO inbox (service, fingerprint, body, received_at, updated_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (fingerprint) DO UPDATE SET deliveries = deliveries + 1
    RETURNING id, deliveries`);
  const insertKey = db.prepare('INSERT OR IGNORE INTO callback_keys (inbox_id, key) VALUES (?, ?)');
  const match = db.prepare(MATCH_SQL);

  const record = db.transaction((c: NewCallback) => {
    const row = insertCallback.get(c.service, c.fingerprint, JSON.stringify(c.body), c.receivedAt, now()) as {
      id: number;
      deliveries: number;
    };
    if (row.deliveries === 1) for (const key of c.keys) insertKey.run(row.id, key);
    return { id: row.id, duplicate: row.deliveries > 1 };
  });

  const lease = db.transaction((limit: number, leaseMs: number) => {
    const at = Date.now();
    const rows = db
      .prepare(`SELECT * FROM inbox WHERE state = 'pending' AND lease_until <= ? ORDER BY id LIMIT ?`)
      .all(at, limit) as InboxRow[];
    const take = db.prepare('UPDATE inbox SET lease_until = ? WHERE id = ?');
    return rows.map((row): DispatchItem => {
      take.run(at + leaseMs, row.id);
      const saga = match.get(row.id) as SagaRef | undefined;
      return saga ? { record: toRecord(row), saga } : { record: toRecord(row) };
    });
  });

  const setState = (ids: number[], state: InboxState, saga: SagaRef | null, reason: string | null) => {
    if (ids.length === 0) return;
    db.prepare(
      `UPDATE inbox SET state = ?, workflow_id = ?, run_id = ?, reason = ?, lease_until = 0, updated_at = ?
       WHERE id IN (${placeholders(ids.length)})`,
    ).run(state, saga?.workflowId ?? null, saga?.runId ?? null, reason, now(), ...ids);
  };

  /** Parked callbacks that now match a saga go back to pending (the dispatcher matches them again). */
  const reopenParked = (keys: string[]): number => {
    if (keys.length === 0) return 0;
    return db
      .prepare(
        `UPDATE inbox SET state = 'pending', reason = NULL, lease_until = 0, updated_at = ?
         WHERE state = 'parked' AND id IN (SELECT inbox_id FROM callback_keys WHERE key IN (${placeholders(keys.length)}))
         AND EXISTS (SELECT 1 ${MATCHES})`,
      )
      .run(now(), ...keys).changes;
  };

  const openHolder = db.prepare(
    `SELECT key, workflow_id AS workflowId, run_id AS runId FROM correlations WHERE key = ? AND closed_at IS NULL`,
  );
  const insertCorrelation = db.prepare(
    `INSERT OR IGNORE INTO correlations (key, workflow_id, run_id, kind, created_at) VALUES (?, ?, ?, ?, ?)`,
  );
  const sameRun = (a: SagaRef, b: SagaRef) => a.workflowId === b.workflowId && a.runId === b.runId;

  const claim = db.transaction((saga: SagaRef, keys: string[]): ClaimResult => {
    const busy = keys
      .map((key) => openHolder.get(key) as ({ key: string } & SagaRef) | undefined)
      .filter((h): h is { key: string } & SagaRef => h !== undefined && !sameRun(h, saga));
    if (busy.length > 0) return { ok: false, busy };
    for (const key of keys) insertCorrelation.run(key, saga.workflowId, saga.runId, 'device', now());
    reopenParked(keys);
    return { ok: true };
  });

  const addKeys = db.transaction((saga: SagaRef, keys: string[]): number => {
    const fresh = keys.filter((key) => openHolder.get(key) === undefined);
    for (const key of fresh) insertCorrelation.run(key, saga.workflowId, saga.runId, 'request', now());
    return reopenParked(keys);
  });

  return {
    ...sqliteIntents(db),
    async recordCallback(callback) {
      return record(callback);
    },
    async leasePending(limit, leaseMs) {
      return lease.immediate(limit, leaseMs);
    },
    async markDelivered(ids, saga) {
      setState(ids, 'delivered', saga, null);
    },
    async parkUnmatched(ids, reason) {
      if (ids.length === 0) return;
      // One statement: a correlation registered since the lease keeps the row pending, never parked.
      db.prepare(
        `UPDATE inbox SET state = 'parked', reason = ?, lease_until = 0, updated_at = ?
         WHERE id IN (${placeholders(ids.length)}) AND state = 'pending'
         AND NOT EXISTS (SELECT 1 ${MATCHES})`,
      ).run(reason, now(), ...ids);
      db.prepare(
        `UPDATE inbox SET lease_until = 0 WHERE id IN (${placeholders(ids.length)}) AND state = 'pending'`,
      ).run(...ids);
    },
    async markOrphaned(ids, saga, reason) {
      setState(ids, 'orphaned', saga, reason);
    },
    async releaseLease(ids, retryInMs) {
      if (ids.length === 0) return;
      db.prepare(`UPDATE inbox SET lease_until = ? WHERE id IN (${placeholders(ids.length)})`).run(
        Date.now() + retryInMs,
        ...ids,
      );
    },
    async claimDevices(saga, keys) {
      return claim.immediate(saga, keys);
    },
    async addCorrelationKeys(saga, keys) {
      return addKeys.immediate(saga, keys);
    },
    async releaseSaga(saga) {
      // Closed, not deleted: later callbacks with the run's request id are recognised and orphaned.
      db.prepare(
        'UPDATE correlations SET closed_at = ? WHERE workflow_id = ? AND run_id = ? AND closed_at IS NULL',
      ).run(now(), saga.workflowId, saga.runId);
    },
    async get(id) {
      const row = db.prepare('SELECT * FROM inbox WHERE id = ?').get(id) as InboxRow | undefined;
      return row ? toRecord(row) : undefined;
    },
    async expireParked(olderThanMs) {
      const before = new Date(Date.now() - olderThanMs).toISOString();
      return db
        .prepare(
          `UPDATE inbox SET state = 'deadLetter', reason = 'parked too long: no saga claimed it', updated_at = ?
           WHERE state = 'parked' AND updated_at < ?`,
        )
        .run(now(), before).changes;
    },
    async replay(id) {
      return (
        db
          .prepare(
            `UPDATE inbox SET state = 'pending', reason = NULL, lease_until = 0, updated_at = ?
             WHERE id = ? AND state IN ('parked', 'deadLetter', 'orphaned')`,
          )
          .run(now(), id).changes === 1
      );
    },
    async list(state, limit) {
      const rows = db.prepare('SELECT * FROM inbox WHERE state = ? ORDER BY id DESC LIMIT ?').all(state, limit);
      return (rows as InboxRow[]).map(toRecord);
    },
    async counts() {
      const row = db
        .prepare(
          `SELECT COUNT(*) AS received, COALESCE(SUM(deliveries - 1), 0) AS duplicates,
             COALESCE(SUM(state = 'pending'), 0) AS pending, COALESCE(SUM(state = 'delivered'), 0) AS delivered,
             COALESCE(SUM(state = 'parked'), 0) AS parked, COALESCE(SUM(state = 'orphaned'), 0) AS orphaned,
             COALESCE(SUM(state = 'deadLetter'), 0) AS deadLetter
           FROM inbox`,
        )
        .get() as InboxCounts;
      return row;
    },
    async ping() {
      db.prepare('SELECT 1').get();
    },
    async close() {
      db.close();
    },
  };
}
