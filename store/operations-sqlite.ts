/**
 * The operation store on SQLite: a file of its own (DATA_DIR/operations.db), so that writing a million
 * devices never holds up the inbox the gateway writes to. Each call is one transaction; synchronous FULL,
 * because a shard's outcomes, once its activity reported success, are not written again.
 *
 * Operations get an integer key (`operations.id`), so that the million device rows and their index carry
 * an integer rather than the operation id's text.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  checkDevices,
  checkInterval,
  checkOutcomes,
  checkShardSize,
  deviceResult,
  outcomeColumns,
  refused,
  sameRequest,
  type DeviceRow,
} from './operation-rows.js';
import {
  DEVICE_STATES,
  type DeviceCounts,
  type DeviceState,
  type OperationRecord,
  type OperationStore,
  type RoundPlan,
  type StoredDevice,
} from './operations.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS operations (
  id INTEGER PRIMARY KEY,
  operation_id TEXT NOT NULL UNIQUE,
  operation TEXT NOT NULL,
  account_name TEXT NOT NULL,
  digest TEXT NOT NULL,
  total INTEGER,
  devices_digest TEXT,
  created_at TEXT NOT NULL,
  sealed_at TEXT,
  closed_at TEXT
);
CREATE INDEX IF NOT EXISTS operations_closed ON operations (closed_at) WHERE closed_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS operation_devices (
  op INTEGER NOT NULL,
  position INTEGER NOT NULL,
  device TEXT NOT NULL,
  state TEXT NOT NULL,
  code TEXT,
  message TEXT,
  request_id TEXT,
  confirmed_by TEXT,
  address_code TEXT,
  address_message TEXT,
  round INTEGER NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (op, position)
) WITHOUT ROWID;
-- Counts, the pending devices of a round and results of one state, each in position order.
CREATE INDEX IF NOT EXISTS operation_devices_state ON operation_devices (op, state, position);
-- The devices of each state, kept by triggers in the writing transaction: counts read a few rows, not a million.
CREATE TABLE IF NOT EXISTS operation_counts (
  op INTEGER NOT NULL,
  state TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (op, state)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS operation_devices_added AFTER INSERT ON operation_devices BEGIN
  INSERT INTO operation_counts (op, state, n) VALUES (new.op, new.state, 1)
  ON CONFLICT (op, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS operation_devices_moved AFTER UPDATE OF state ON operation_devices
WHEN old.state <> new.state BEGIN
  UPDATE operation_counts SET n = n - 1 WHERE op = old.op AND state = old.state;
  INSERT INTO operation_counts (op, state, n) VALUES (new.op, new.state, 1)
  ON CONFLICT (op, state) DO UPDATE SET n = n + 1;
END;
CREATE TABLE IF NOT EXISTS rate_slots (
  key TEXT PRIMARY KEY,
  next_at INTEGER NOT NULL
);
`;

interface OperationRow {
  id: number;
  operation_id: string;
  operation: OperationRecord['operation'];
  account_name: string;
  digest: string;
  total: number | null;
  devices_digest: string | null;
  created_at: string;
  sealed_at: string | null;
  closed_at: string | null;
}

function toRecord(row: OperationRow): OperationRecord {
  return {
    operationId: row.operation_id,
    operation: row.operation,
    accountName: row.account_name,
    digest: row.digest,
    ...(row.total !== null && { total: row.total }),
    ...(row.devices_digest !== null && { devicesDigest: row.devices_digest }),
    createdAt: row.created_at,
    ...(row.sealed_at !== null && { sealedAt: row.sealed_at }),
    ...(row.closed_at !== null && { closedAt: row.closed_at }),
  };
}

export function openSqliteOperationStore(file: string): OperationStore {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  // FULL: outcomes a shard reported are not written again, so they must survive a power loss.
  db.pragma('synchronous = FULL');
  db.exec(SCHEMA);

  const now = () => new Date().toISOString();

  const findOperation = db.prepare('SELECT * FROM operations WHERE operation_id = ?');
  const insertOperation = db.prepare(
    `INSERT INTO operations (operation_id, operation, account_name, digest, created_at)
     VALUES (@operationId, @operation, @accountName, @digest, @at)`,
  );
  const insertDevice = db.prepare(
    `INSERT OR IGNORE INTO operation_devices (op, position, device, state, code, message, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const storedDevices = db.prepare(
    'SELECT count(*) AS stored, COALESCE(max(position), -1) AS last FROM operation_devices WHERE op = ?',
  );
  const seal = db.prepare('UPDATE operations SET total = ?, devices_digest = ?, sealed_at = ? WHERE id = ?');
  const pending = db.prepare(
    `SELECT position, device FROM operation_devices
     WHERE op = ? AND state = 'pending' AND position >= ? AND position < ? ORDER BY position`,
  );
  const retry = db.prepare(
    `UPDATE operation_devices SET state = 'pending', code = NULL, message = NULL, confirmed_by = NULL,
       address_code = NULL, address_message = NULL, round = @round, updated_at = @at
     WHERE op = @op AND state IN ('failed', 'noAnswer') AND round < @round`,
  );
  // The pending positions in order, through the index: a range ends `shardSize` pending devices on.
  const firstPending = db
    .prepare(
      `SELECT position FROM operation_devices WHERE op = ? AND state = 'pending' AND position >= ?
       ORDER BY position LIMIT 1`,
    )
    .pluck();
  const nthPending = db
    .prepare(
      `SELECT position FROM operation_devices WHERE op = ? AND state = 'pending' AND position >= ?
       ORDER BY position LIMIT 1 OFFSET ?`,
    )
    .pluck();
  const lastPending = db
    .prepare(`SELECT max(position) FROM operation_devices WHERE op = ? AND state = 'pending'`)
    .pluck();
  const countPending = db
    .prepare(`SELECT count(*) FROM operation_devices WHERE op = ? AND state = 'pending' AND position >= ?`)
    .pluck();
  // A round older than the device's is a late write of an earlier round: it must not undo a retry.
  const recordOutcome = db.prepare(
    `UPDATE operation_devices SET state = @state, code = @code, message = @message, request_id = @requestId,
       confirmed_by = @confirmedBy, address_code = @addressCode, address_message = @addressMessage,
       round = @round, updated_at = @at
     WHERE op = @op AND position = @position AND round <= @round
       AND NOT (state IS @state AND code IS @code AND message IS @message AND request_id IS @requestId
         AND confirmed_by IS @confirmedBy AND address_code IS @addressCode AND address_message IS @addressMessage
         AND round IS @round)`,
  );
  const countStates = db.prepare('SELECT state, n FROM operation_counts WHERE op = ? AND n <> 0');
  const results = db.prepare('SELECT * FROM operation_devices WHERE op = ? AND position > ? ORDER BY position LIMIT ?');
  const resultsOfState = db.prepare(
    'SELECT * FROM operation_devices WHERE op = ? AND state = ? AND position > ? ORDER BY position LIMIT ?',
  );
  const closeOp = db.prepare('UPDATE operations SET closed_at = ? WHERE operation_id = ? AND closed_at IS NULL');
  const expired = db.prepare('SELECT id FROM operations WHERE closed_at < ?').pluck();
  const deleteDevices = db.prepare('DELETE FROM operation_devices WHERE op = ?');
  const deleteCounts = db.prepare('DELETE FROM operation_counts WHERE op = ?');
  const deleteOperation = db.prepare('DELETE FROM operations WHERE id = ?');
  const reserve = db
    .prepare(
      `INSERT INTO rate_slots (key, next_at) VALUES (@key, @now + @interval)
     ON CONFLICT (key) DO UPDATE SET next_at = max(next_at, @now) + @interval
     RETURNING next_at`,
    )
    .pluck();

  const operationRow = (operationId: string) => findOperation.get(operationId) as OperationRow | undefined;
  const knownRow = (operationId: string): OperationRow => {
    const row = operationRow(operationId);
    if (!row) throw refused.unknown(operationId);
    return row;
  };
  const operationKey = (operationId: string) => knownRow(operationId).id;

  const create = db.transaction((op: Parameters<OperationStore['createOperation']>[0]) => {
    const found = operationRow(op.operationId);
    if (found) {
      const record = toRecord(found);
      if (!sameRequest(record, op)) throw refused.otherRequest(op.operationId);
      return { created: false, record };
    }
    insertOperation.run({ ...op, at: now() });
    return { created: true, record: toRecord(knownRow(op.operationId)) };
  });

  const append = db.transaction((operationId: string, devices: Parameters<OperationStore['appendDevices']>[1]) => {
    const row = knownRow(operationId);
    if (row.sealed_at !== null) throw refused.sealed(operationId);
    const at = now();
    for (const d of devices) {
      const state: DeviceState = d.skipped ? 'skipped' : 'pending';
      insertDevice.run(
        row.id,
        d.position,
        JSON.stringify(d.device),
        state,
        d.skipped?.code ?? null,
        d.skipped?.message ?? null,
        at,
      );
    }
  });

  const sealOp = db.transaction((operationId: string, total: number, devicesDigest: string) => {
    const row = knownRow(operationId);
    if (row.sealed_at !== null) {
      if (row.total === total && row.devices_digest === devicesDigest) return;
      throw refused.otherSeal(operationId, row.total ?? 0);
    }
    // Positions are whole numbers from 0 and unique: `total` of them ending at total-1 are exactly 0 … total-1.
    const { stored, last } = storedDevices.get(row.id) as { stored: number; last: number };
    if (stored !== total || last !== total - 1) throw refused.incomplete(operationId, total, stored);
    seal.run(total, devicesDigest, now(), row.id);
  });

  const plan = db.transaction((operationId: string, round: number, shardSize: number, again: boolean) => {
    const op = operationKey(operationId);
    if (again) retry.run({ op, round, at: now() });
    const plan: RoundPlan = { ranges: [], devices: 0 };
    let from = firstPending.get(op, 0) as number | undefined;
    while (from !== undefined) {
      const last = nthPending.get(op, from, shardSize - 1) as number | undefined;
      if (last === undefined) {
        plan.ranges.push([from, (lastPending.get(op) as number) + 1]);
        plan.devices += countPending.get(op, from) as number;
        break;
      }
      plan.ranges.push([from, last + 1]);
      plan.devices += shardSize;
      from = firstPending.get(op, last + 1) as number | undefined;
    }
    return plan;
  });

  const record = db.transaction(
    (operationId: string, round: number, outcomes: Parameters<OperationStore['recordOutcomes']>[2]) => {
      const op = operationKey(operationId);
      const at = now();
      for (const o of outcomes) recordOutcome.run({ ...outcomeColumns(o), op, round, at });
    },
  );

  const purge = db.transaction((olderThan: string) => {
    let operations = 0;
    let devices = 0;
    for (const id of expired.all(olderThan) as number[]) {
      devices += deleteDevices.run(id).changes;
      deleteCounts.run(id);
      operations += deleteOperation.run(id).changes;
    }
    return { operations, devices };
  });

  return {
    async createOperation(op) {
      return create.immediate(op);
    },
    async appendDevices(operationId, devices) {
      checkDevices(devices);
      append.immediate(operationId, devices);
    },
    async sealOperation(operationId, total, devicesDigest) {
      sealOp.immediate(operationId, total, devicesDigest);
    },
    async getOperation(operationId) {
      const row = operationRow(operationId);
      return row && toRecord(row);
    },
    async loadPending(operationId, from, to) {
      const op = operationKey(operationId);
      return (pending.all(op, from, to) as { position: number; device: string }[]).map((row): StoredDevice => ({
        position: row.position,
        device: JSON.parse(row.device) as StoredDevice['device'],
      }));
    },
    async planRound(operationId, round, shardSize, again) {
      checkShardSize(shardSize);
      return plan.immediate(operationId, round, shardSize, again);
    },
    async recordOutcomes(operationId, round, outcomes) {
      checkOutcomes(outcomes);
      record.immediate(operationId, round, outcomes);
    },
    async counts(operationId) {
      const op = operationKey(operationId);
      const counts = Object.fromEntries(DEVICE_STATES.map((s) => [s, 0])) as DeviceCounts;
      counts.total = 0;
      for (const { state, n } of countStates.all(op) as { state: DeviceState; n: number }[]) {
        counts[state] = n;
        counts.total += n;
      }
      return counts;
    },
    async readResults(operationId, { after, limit, state }) {
      const op = operationKey(operationId);
      const rows = (
        state === undefined ? results.all(op, after, limit) : resultsOfState.all(op, state, after, limit)
      ) as DeviceRow[];
      return rows.map(deviceResult);
    },
    async closeOperation(operationId) {
      closeOp.run(now(), operationId);
    },
    async purgeClosed(olderThan) {
      return purge.immediate(olderThan.toISOString());
    },
    async reserveSlot(key, intervalMs) {
      checkInterval(intervalMs);
      const at = Date.now();
      const interval = Math.ceil(intervalMs);
      const nextAt = reserve.get({ key, now: at, interval }) as number;
      return nextAt - interval - at;
    },
    async close() {
      db.close();
    },
  };
}
