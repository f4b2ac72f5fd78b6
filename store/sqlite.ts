/**
 * SQLite store (the default, a file under .data/). WAL mode lets the gateway and the worker share the
 * file from separate processes; every write is one transaction.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { scopedKey, type MatchedBy } from '../contracts/index.js';
import { sqliteIntents } from './intents.js';
import { inboxRecord, type InboxRowColumns } from './rows.js';
import type {
  ClaimResult,
  DispatchItem,
  InboxCounts,
  InboxRecord,
  InboxState,
  NewCallback,
  RecordedCallback,
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

interface InboxRow extends InboxRowColumns {
  id: number;
  body: string;
  received_at: string;
}

function toRecord(row: InboxRow): InboxRecord {
  return inboxRecord(row, {
    id: row.id,
    body: JSON.parse(row.body) as Record<string, unknown>,
    receivedAt: row.received_at,
  });
}

/**
 * Columns added after the first release, with their meaning. `openSqliteStore` adds the missing ones to
 * an existing file in place; rows written before have NULL in them and keep the rules they had.
 */
const ADDED_COLUMNS: { table: string; column: string; type: string }[] = [
  // The account of the URL a callback came to (`/callbacks/<service>/<account>`); NULL: unknown.
  { table: 'inbox', column: 'account', type: 'TEXT' },
  // The account a key is scoped by; NULL: an unscoped key (a run that claimed without an account).
  { table: 'correlations', column: 'account', type: 'TEXT' },
  // For a scoped key, the key without its account: what account-less callbacks and busy checks look up.
  { table: 'correlations', column: 'unscoped_key', type: 'TEXT' },
  // For a device claim, the inbox's highest id when it was made; NULL: claimed before this column.
  { table: 'correlations', column: 'inbox_high_water', type: 'INTEGER' },
  // Failed signals of the callback (Temporal unreachable does not count); reset by a replay.
  { table: 'inbox', column: 'attempts', type: 'INTEGER NOT NULL DEFAULT 0' },
];

const INDEXES_ON_ADDED = `
CREATE INDEX IF NOT EXISTS correlations_unscoped ON correlations (unscoped_key) WHERE unscoped_key IS NOT NULL;
-- The account a saga run claimed its devices for: its later keys are scoped by it.
CREATE TABLE IF NOT EXISTS saga_accounts (
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  account TEXT NOT NULL,
  PRIMARY KEY (workflow_id, run_id)
);
`;

/**
 * When a correlation row counts for a callback (`inbox`). A request id, registered (`request`) or
 * learned from a callback delivered to the run (`learned`), names its run for good, even after the run
 * closed (the callback is then orphaned, not handed to a newer saga). A device counts only for callbacks
 * that reached the inbox after the claim, by the inbox's own sequence: a late callback of an earlier
 * operation must not complete a step of a later one, and clocks of two machines cannot tell which came
 * first. Claims made before the high-water mark existed fall back to comparing times.
 */
const COUNTS = `(c.kind <> 'device'
  OR (c.inbox_high_water IS NOT NULL AND inbox.id > c.inbox_high_water)
  OR (c.inbox_high_water IS NULL AND c.created_at <= inbox.received_at))`;

/**
 * The correlation rows a callback's keys reach. A callback of a known account carries its keys scoped by
 * the account and unscoped (the latter reach only runs that claimed without an account: sagas started
 * before accounts were recorded). A callback of unknown account (the account-less URL) carries unscoped
 * keys, which also reach every account's scoped keys, as before keys were scoped.
 */
const BY_KEY = `callback_keys k JOIN correlations c ON c.key = k.key WHERE k.inbox_id = inbox.id AND ${COUNTS}`;
const BY_UNSCOPED_KEY = `callback_keys k JOIN correlations c ON c.unscoped_key = k.key
  WHERE k.inbox_id = inbox.id AND inbox.account IS NULL AND ${COUNTS}`;
const MATCHED = `(EXISTS (SELECT 1 FROM ${BY_KEY}) OR EXISTS (SELECT 1 FROM ${BY_UNSCOPED_KEY}))`;
const MATCH_COLUMNS = `c.workflow_id AS workflowId, c.run_id AS runId, c.kind AS kind, c.closed_at AS closedAt,
  c.inbox_high_water AS highWater, c.created_at AS createdAt`;
/** The run a callback goes to: a registered request id, then a learned one, then a device; open runs first, then the newest claim. */
const MATCH_SQL = `
  SELECT workflowId, runId, kind FROM (
    SELECT ${MATCH_COLUMNS} FROM inbox JOIN ${BY_KEY} AND inbox.id = @id
    UNION ALL
    SELECT ${MATCH_COLUMNS} FROM inbox JOIN ${BY_UNSCOPED_KEY} AND inbox.id = @id
  )
  ORDER BY CASE kind WHEN 'request' THEN 0 WHEN 'learned' THEN 1 ELSE 2 END, (closedAt IS NULL) DESC,
    COALESCE(highWater, -1) DESC, createdAt DESC
  LIMIT 1`;

/** Adds the columns and tables of later releases to an existing file (see ADDED_COLUMNS). */
function migrate(db: Database.Database): void {
  db.transaction(() => {
    for (const { table, column, type } of ADDED_COLUMNS) {
      const columns = db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
      if (!columns.some((c) => c.name === column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
    }
    db.exec(INDEXES_ON_ADDED);
  }).immediate();
}

export function openSqliteStore(file: string): Store {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  // FULL: a callback acknowledged to ThingSpace must survive a power loss, not only a process crash.
  db.pragma('synchronous = FULL');
  db.exec(SCHEMA);
  migrate(db);

  const now = () => new Date().toISOString();
  const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(',');

  const insertCallback = db.prepare(`
    INSERT INTO inbox (service, fingerprint, body, received_at, account, updated_at) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (fingerprint) DO UPDATE SET deliveries = deliveries + 1
    RETURNING id, deliveries`);
  const insertKey = db.prepare('INSERT OR IGNORE INTO callback_keys (inbox_id, key) VALUES (?, ?)');
  const match = db.prepare(MATCH_SQL);

  // One after the other in one transaction: a fingerprint repeated in the batch finds the row its first
  // occurrence inserted, exactly as separate calls would.
  const record = db.transaction((callbacks: NewCallback[]): RecordedCallback[] => {
    const at = now();
    return callbacks.map((c) => {
      const body = JSON.stringify(c.body);
      const row = insertCallback.get(c.service, c.fingerprint, body, c.receivedAt, c.account ?? null, at) as {
        id: number;
        deliveries: number;
      };
      if (row.deliveries === 1) for (const key of c.keys) insertKey.run(row.id, key);
      return { id: row.id, duplicate: row.deliveries > 1 };
    });
  });

  const lease = db.transaction((limit: number, leaseMs: number) => {
    const at = Date.now();
    const rows = db
      .prepare(`SELECT * FROM inbox WHERE state = 'pending' AND lease_until <= ? ORDER BY id LIMIT ?`)
      .all(at, limit) as InboxRow[];
    const take = db.prepare('UPDATE inbox SET lease_until = ? WHERE id = ?');
    return rows.map((row): DispatchItem => {
      take.run(at + leaseMs, row.id);
      const found = match.get({ id: row.id }) as (SagaRef & { kind: MatchedBy }) | undefined;
      if (!found) return { record: toRecord(row) };
      return {
        record: toRecord(row),
        saga: { workflowId: found.workflowId, runId: found.runId },
        matchedBy: found.kind,
      };
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
         AND ${MATCHED}`,
      )
      .run(now(), ...keys).changes;
  };

  /** Open rows holding a key: its unscoped form (claimed without an account) or scoped by any account. */
  const openHolders = db.prepare(
    `SELECT workflow_id AS workflowId, run_id AS runId, account FROM correlations
     WHERE closed_at IS NULL AND (key = @key OR unscoped_key = @key)`,
  );
  const openHolder = db.prepare(
    `SELECT workflow_id AS workflowId, run_id AS runId, kind FROM correlations WHERE key = ? AND closed_at IS NULL`,
  );
  const closeKey = db.prepare(
    'UPDATE correlations SET closed_at = ? WHERE key = ? AND workflow_id = ? AND run_id = ? AND closed_at IS NULL',
  );
  const insertCorrelation = db.prepare(
    `INSERT OR IGNORE INTO correlations
       (key, workflow_id, run_id, kind, created_at, closed_at, account, unscoped_key, inbox_high_water)
     VALUES (@key, @workflowId, @runId, @kind, @at, @closedAt, @account, @unscopedKey, @highWater)`,
  );
  const highWater = db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM inbox').pluck();
  const runAccount = db.prepare('SELECT account FROM saga_accounts WHERE workflow_id = ? AND run_id = ?').pluck();
  const recordAccount = db.prepare(
    'INSERT OR IGNORE INTO saga_accounts (workflow_id, run_id, account) VALUES (?, ?, ?)',
  );
  const runState = db.prepare(
    `SELECT COUNT(*) AS rows, COALESCE(SUM(closed_at IS NULL), 0) AS open FROM correlations
     WHERE workflow_id = ? AND run_id = ?`,
  );
  const sameRun = (a: SagaRef, b: SagaRef) => a.workflowId === b.workflowId && a.runId === b.runId;
  const scope = (account: string | null | undefined, key: string) =>
    account ? { key: scopedKey(account, key), unscopedKey: key } : { key, unscopedKey: null };

  const claim = db.transaction((saga: SagaRef, keys: string[], account: string | undefined): ClaimResult => {
    // A holder whose account is unknown may be of the same account; a claim without one may collide with any.
    const busy = keys.flatMap((key) =>
      (openHolders.all({ key }) as (SagaRef & { account: string | null })[])
        .filter((h) => !sameRun(h, saga) && (account === undefined || h.account === null || h.account === account))
        .map(({ workflowId, runId }) => ({ key, workflowId, runId })),
    );
    if (busy.length > 0) return { ok: false, busy };
    const mark = highWater.get() as number;
    const at = now();
    for (const key of keys) {
      insertCorrelation.run({
        ...saga,
        ...scope(account, key),
        kind: 'device',
        at,
        closedAt: null,
        account: account ?? null,
        highWater: mark,
      });
    }
    if (account) recordAccount.run(saga.workflowId, saga.runId, account);
    // No parked callback is re-opened: every one is older than the claim, so none matches it by device.
    return { ok: true };
  });

  /**
   * Adds request-id keys to a run, scoped by its recorded account, except those another open run holds.
   * A run's own request id takes over the key from a run that only learned it (left as a tombstone of
   * that run); a key learned by a run that has already been released is stored closed, as a tombstone.
   */
  const addRunKeys = (saga: SagaRef, keys: string[], kind: 'request' | 'learned'): number => {
    if (keys.length === 0) return 0;
    const account = (runAccount.get(saga.workflowId, saga.runId) as string | undefined) ?? null;
    const { rows, open } = runState.get(saga.workflowId, saga.runId) as { rows: number; open: number };
    const at = now();
    const closedAt = kind === 'learned' && rows > 0 && open === 0 ? at : null;
    const scoped = keys.map((key) => scope(account, key));
    for (const { key, unscopedKey } of scoped) {
      const holder = openHolder.get(key) as (SagaRef & { kind: string }) | undefined;
      if (holder && !sameRun(holder, saga)) {
        if (kind === 'learned' || holder.kind !== 'learned') continue;
        closeKey.run(at, key, holder.workflowId, holder.runId);
      }
      insertCorrelation.run({ ...saga, key, unscopedKey, kind, at, closedAt, account, highWater: null });
    }
    return reopenParked([...new Set([...scoped.map((k) => k.key), ...keys])]);
  };

  const addKeys = db.transaction((saga: SagaRef, keys: string[]): number => addRunKeys(saga, keys, 'request'));

  const requestIdsOf = (ids: number[]): string[] =>
    (
      db
        .prepare(
          `SELECT DISTINCT json_extract(body, '$.requestId') FROM inbox
           WHERE id IN (${placeholders(ids.length)}) AND json_type(body, '$.requestId') = 'text'`,
        )
        .pluck()
        .all(...ids) as string[]
    ).filter((id) => id !== '');

  const deliver = db.transaction((ids: number[], saga: SagaRef) => {
    setState(ids, 'delivered', saga, null);
    addRunKeys(
      saga,
      requestIdsOf(ids).map((id) => `requestid:${id}`),
      'learned',
    );
  });

  // One transaction, so one sync to disk; the first statement decides: a correlation registered since the
  // lease keeps the row pending, never parked.
  const park = db.transaction((ids: number[], reason: string) => {
    db.prepare(
      `UPDATE inbox SET state = 'parked', reason = ?, lease_until = 0, updated_at = ?
       WHERE id IN (${placeholders(ids.length)}) AND state = 'pending'
       AND NOT ${MATCHED}`,
    ).run(reason, now(), ...ids);
    db.prepare(`UPDATE inbox SET lease_until = 0 WHERE id IN (${placeholders(ids.length)}) AND state = 'pending'`).run(
      ...ids,
    );
  });

  /**
   * Runs the dispatcher's bookkeeping (leases, deliveries, parking, retries) without waiting for the disk
   * (`synchronous = NORMAL`: written to the WAL, synced by the next FULL commit or checkpoint). A process
   * crash loses none of it; a power loss can take back only that rows were handed on, so they are handed
   * on again and each saga ignores a callback it already has (by fingerprint). Callbacks themselves and the
   * sagas' correlations are committed FULL. better-sqlite3 blocks the event loop for each sync, which this
   * keeps off the dispatcher's path.
   */
  const unsynced = <T>(work: () => T): T => {
    db.pragma('synchronous = NORMAL');
    try {
      return work();
    } finally {
      db.pragma('synchronous = FULL');
    }
  };

  return {
    ...sqliteIntents(db),
    async recordCallback(callback) {
      return record([callback])[0]!;
    },
    async recordCallbacks(callbacks) {
      return callbacks.length === 0 ? [] : record(callbacks);
    },
    async leasePending(limit, leaseMs) {
      return unsynced(() => lease.immediate(limit, leaseMs));
    },
    async markDelivered(ids, saga) {
      if (ids.length > 0) unsynced(() => deliver.immediate(ids, saga));
    },
    async parkUnmatched(ids, reason) {
      if (ids.length > 0) unsynced(() => park.immediate(ids, reason));
    },
    async markOrphaned(ids, saga, reason) {
      unsynced(() => setState(ids, 'orphaned', saga, reason));
    },
    async recordFailedAttempt(ids, reason, maxAttempts, retryInMs) {
      if (ids.length === 0) return [];
      const rows = unsynced(() =>
        db
          .prepare(
            `UPDATE inbox SET attempts = attempts + 1,
             state = CASE WHEN attempts + 1 >= ? THEN 'deadLetter' ELSE state END,
             reason = CASE WHEN attempts + 1 >= ? THEN ? ELSE reason END,
             lease_until = CASE WHEN attempts + 1 >= ? THEN 0 ELSE ? END,
             updated_at = ?
           WHERE id IN (${placeholders(ids.length)}) AND state = 'pending'
           RETURNING id, state`,
          )
          .all(maxAttempts, maxAttempts, reason, maxAttempts, Date.now() + retryInMs, now(), ...ids),
      ) as { id: number; state: string }[];
      return rows.filter((row) => row.state === 'deadLetter').map((row) => row.id);
    },
    async releaseLease(ids, retryInMs) {
      if (ids.length === 0) return;
      unsynced(() =>
        db
          .prepare(`UPDATE inbox SET lease_until = ? WHERE id IN (${placeholders(ids.length)})`)
          .run(Date.now() + retryInMs, ...ids),
      );
    },
    async claimDevices(saga, keys, account) {
      return claim.immediate(saga, keys, account || undefined);
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
            `UPDATE inbox SET state = 'pending', reason = NULL, attempts = 0, lease_until = 0, updated_at = ?
             WHERE id = ? AND state IN ('parked', 'deadLetter', 'orphaned')`,
          )
          .run(now(), id).changes === 1
      );
    },
    async list(state, limit) {
      const rows = db.prepare('SELECT * FROM inbox WHERE state = ? ORDER BY id DESC LIMIT ?').all(state, limit);
      return (rows as InboxRow[]).map(toRecord);
    },
    async purgeDelivered(olderThan) {
      const before = olderThan.toISOString();
      return db.transaction(() => {
        db.prepare(
          `DELETE FROM callback_keys WHERE inbox_id IN
             (SELECT id FROM inbox WHERE state = 'delivered' AND received_at < ?)`,
        ).run(before);
        const callbacks = db.prepare(`DELETE FROM inbox WHERE state = 'delivered' AND received_at < ?`).run(before);
        const tombstones = db.prepare('DELETE FROM correlations WHERE closed_at < ?').run(before);
        return { callbacks: callbacks.changes, tombstones: tombstones.changes };
      })();
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
