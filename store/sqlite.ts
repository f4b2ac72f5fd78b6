/**
 * SQLite store (the default, a file under .data/). WAL mode lets the gateway and the worker share the
 * file from separate processes; every write is one transaction.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CallbackService } from '../contracts/index.js';
import type { ClaimResult, DispatchItem, InboxCounts, InboxRecord, InboxState, NewCallback, Store } from './types.js';

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
  key TEXT PRIMARY KEY,
  workflow_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS correlations_workflow ON correlations (workflow_id);
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
  if (row.reason) record.reason = row.reason;
  return record;
}

/** A request-id correlation outranks device ones: a device may have moved to a newer saga. */
const MATCH_SQL = `
  SELECT c.workflow_id FROM callback_keys k JOIN correlations c ON c.key = k.key
  WHERE k.inbox_id = ? ORDER BY (c.kind = 'request') DESC, c.created_at LIMIT 1`;

export function openSqliteStore(file: string): Store {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = NORMAL');
  db.exec(SCHEMA);

  const now = () => new Date().toISOString();
  const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(',');

  const insertCallback = db.prepare(`
    INSERT INTO inbox (service, fingerprint, body, received_at, updated_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (fingerprint) DO UPDATE SET deliveries = deliveries + 1
    RETURNING id, deliveries`);
  const insertKey = db.prepare('INSERT OR IGNORE INTO callback_keys (inbox_id, key) VALUES (?, ?)');
  const match = db.prepare(MATCH_SQL).pluck();

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
      const workflowId = match.get(row.id) as string | undefined;
      return workflowId ? { record: toRecord(row), workflowId } : { record: toRecord(row) };
    });
  });

  const setState = (ids: number[], state: InboxState, workflowId: string | null, reason: string | null) => {
    if (ids.length === 0) return;
    db.prepare(
      `UPDATE inbox SET state = ?, workflow_id = ?, reason = ?, lease_until = 0, updated_at = ?
       WHERE id IN (${placeholders(ids.length)})`,
    ).run(state, workflowId, reason, now(), ...ids);
  };

  const reopenParked = (keys: string[]): number => {
    if (keys.length === 0) return 0;
    return db
      .prepare(
        `UPDATE inbox SET state = 'pending', reason = NULL, lease_until = 0, updated_at = ?
         WHERE state = 'parked' AND id IN (SELECT inbox_id FROM callback_keys WHERE key IN (${placeholders(keys.length)}))`,
      )
      .run(now(), ...keys).changes;
  };

  const claim = db.transaction((workflowId: string, keys: string[]): ClaimResult => {
    const holders = db.prepare('SELECT key, workflow_id AS workflowId FROM correlations WHERE key = ?');
    const busy = keys
      .map((key) => holders.get(key) as { key: string; workflowId: string } | undefined)
      .filter((h): h is { key: string; workflowId: string } => h !== undefined && h.workflowId !== workflowId);
    if (busy.length > 0) return { ok: false, busy };
    const insert = db.prepare(
      `INSERT OR IGNORE INTO correlations (key, workflow_id, kind, created_at) VALUES (?, ?, 'device', ?)`,
    );
    for (const key of keys) insert.run(key, workflowId, now());
    reopenParked(keys);
    return { ok: true };
  });

  const addKeys = db.transaction((workflowId: string, keys: string[]): number => {
    const insert = db.prepare(
      `INSERT INTO correlations (key, workflow_id, kind, created_at) VALUES (?, ?, 'request', ?)
       ON CONFLICT (key) DO NOTHING`,
    );
    for (const key of keys) insert.run(key, workflowId, now());
    return reopenParked(keys);
  });

  return {
    async recordCallback(callback) {
      return record(callback);
    },
    async leasePending(limit, leaseMs) {
      return lease(limit, leaseMs);
    },
    async markDelivered(ids, workflowId) {
      setState(ids, 'delivered', workflowId, null);
    },
    async parkUnmatched(ids, reason) {
      if (ids.length === 0) return;
      // One statement: a correlation registered since the lease keeps the row pending, never parked.
      db.prepare(
        `UPDATE inbox SET state = 'parked', reason = ?, lease_until = 0, updated_at = ?
         WHERE id IN (${placeholders(ids.length)}) AND state = 'pending'
         AND NOT EXISTS (SELECT 1 FROM callback_keys k JOIN correlations c ON c.key = k.key WHERE k.inbox_id = inbox.id)`,
      ).run(reason, now(), ...ids);
      db.prepare(
        `UPDATE inbox SET lease_until = 0 WHERE id IN (${placeholders(ids.length)}) AND state = 'pending'`,
      ).run(...ids);
    },
    async markOrphaned(ids, workflowId, reason) {
      setState(ids, 'orphaned', workflowId, reason);
    },
    async releaseLease(ids, retryInMs) {
      if (ids.length === 0) return;
      db.prepare(`UPDATE inbox SET lease_until = ? WHERE id IN (${placeholders(ids.length)})`).run(
        Date.now() + retryInMs,
        ...ids,
      );
    },
    async claimDevices(workflowId, keys) {
      return claim(workflowId, keys);
    },
    async addCorrelationKeys(workflowId, keys) {
      return addKeys(workflowId, keys);
    },
    async releaseWorkflow(workflowId) {
      db.prepare('DELETE FROM correlations WHERE workflow_id = ?').run(workflowId);
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
