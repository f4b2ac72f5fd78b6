/**
 * The operation store on PostgreSQL (DATABASE_URL), for workers on several hosts. Same semantics as the
 * SQLite one (operations-sqlite.ts). Devices are written with one statement per call over arrays
 * (`unnest`), so that a chunk of thousands of rows is one round trip. An append holds its operation's row
 * in share mode and a seal in update mode: no device slips in after the seal counted them.
 *
 * Times of rows come from the process clock, as in the inbox store; rate-limit slots from the server's
 * (`clock_timestamp()`), the one clock every worker sharing a limit agrees on.
 */
import pg from 'pg';
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

export interface PostgresOperationStoreOptions {
  /** Schema holding the tables, created if missing; `public` unless set. */
  schema?: string;
}

interface OperationRow {
  id: string;
  operation_id: string;
  operation: OperationRecord['operation'];
  account_name: string;
  digest: string;
  total: number | null;
  devices_digest: string | null;
  created_at: Date;
  sealed_at: Date | null;
  closed_at: Date | null;
}

function toRecord(row: OperationRow): OperationRecord {
  return {
    operationId: row.operation_id,
    operation: row.operation,
    accountName: row.account_name,
    digest: row.digest,
    ...(row.total !== null && { total: row.total }),
    ...(row.devices_digest !== null && { devicesDigest: row.devices_digest }),
    createdAt: row.created_at.toISOString(),
    ...(row.sealed_at !== null && { sealedAt: row.sealed_at.toISOString() }),
    ...(row.closed_at !== null && { closedAt: row.closed_at.toISOString() }),
  };
}

/** A double-quoted identifier, so that any schema name is taken literally. */
function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The URL carries a password: an error that quotes it (an unparsable URL, say) must not reach a log. */
function redact(err: unknown, url: string): Error {
  const message = err instanceof Error ? err.message : String(err);
  const safe = new Error(`PostgreSQL operation store: ${url ? message.split(url).join('<DATABASE_URL>') : message}`);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') Object.assign(safe, { code });
  return safe;
}

function schemaSql(s: string): string {
  return `
CREATE TABLE IF NOT EXISTS ${s}.operations (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  operation_id text NOT NULL UNIQUE,
  operation text NOT NULL,
  account_name text NOT NULL,
  digest text NOT NULL,
  total integer,
  devices_digest text,
  created_at timestamptz NOT NULL,
  sealed_at timestamptz,
  closed_at timestamptz
);
CREATE INDEX IF NOT EXISTS operations_closed ON ${s}.operations (closed_at) WHERE closed_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS ${s}.operation_devices (
  op bigint NOT NULL,
  position integer NOT NULL,
  device jsonb NOT NULL,
  state text NOT NULL,
  code text,
  message text,
  request_id text,
  confirmed_by text,
  address_code text,
  address_message text,
  round integer NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (op, position)
);
-- Counts, the pending devices of a round and results of one state, each in position order.
CREATE INDEX IF NOT EXISTS operation_devices_state ON ${s}.operation_devices (op, state, position);
-- The devices of each state, kept by statement triggers in the writing transaction: counts read a few rows,
-- not a million. Each statement adds its changes per state, in (op, state) order: writers never deadlock.
CREATE TABLE IF NOT EXISTS ${s}.operation_counts (
  op bigint NOT NULL,
  state text NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (op, state)
);
CREATE OR REPLACE FUNCTION ${s}.operation_devices_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ${s}.operation_counts AS c (op, state, n)
  SELECT op, state, count(*) FROM added GROUP BY op, state ORDER BY op, state
  ON CONFLICT (op, state) DO UPDATE SET n = c.n + excluded.n;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION ${s}.operation_devices_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ${s}.operation_counts AS c (op, state, n)
  SELECT op, state, sum(n) FROM (
    SELECT op, state, count(*) AS n FROM added GROUP BY op, state
    UNION ALL
    SELECT op, state, -count(*) FROM removed GROUP BY op, state
  ) AS moves
  GROUP BY op, state HAVING sum(n) <> 0 ORDER BY op, state
  ON CONFLICT (op, state) DO UPDATE SET n = c.n + excluded.n;
  RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER operation_devices_added AFTER INSERT ON ${s}.operation_devices
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ${s}.operation_devices_added();
CREATE OR REPLACE TRIGGER operation_devices_moved AFTER UPDATE ON ${s}.operation_devices
  REFERENCING OLD TABLE AS removed NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ${s}.operation_devices_moved();
CREATE TABLE IF NOT EXISTS ${s}.rate_slots (
  key text PRIMARY KEY,
  next_at bigint NOT NULL
);
`;
}

/** Serialises concurrent `CREATE … IF NOT EXISTS` of several processes starting at once. */
const SCHEMA_LOCK = "hashtext('euicc-orchestrator operations schema')";

/** Rows per INSERT of an append: bounded statements whatever chunk the caller passes. */
const INSERT_ROWS = 10_000;

export async function openPostgresOperationStore(
  url: string,
  options: PostgresOperationStoreOptions = {},
): Promise<OperationStore> {
  const schemaName = options.schema ?? 'public';
  const s = quoteIdent(schemaName);
  const operations = `${s}.operations`;
  const devices = `${s}.operation_devices`;
  const stateCounts = `${s}.operation_counts`;
  const rateSlots = `${s}.rate_slots`;

  let pool: pg.Pool;
  try {
    pool = new pg.Pool({ connectionString: url });
  } catch (err) {
    throw redact(err, url);
  }
  // An idle connection that drops (a database restart) is discarded by the pool and the next query opens
  // a new one; without a listener the 'error' event would end the process.
  pool.on('error', () => undefined);

  const now = () => new Date().toISOString();

  async function transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async function findOperation(db: pg.Pool | pg.PoolClient, operationId: string, lock = '') {
    const { rows } = await db.query<OperationRow>(`SELECT * FROM ${operations} WHERE operation_id = $1 ${lock}`, [
      operationId,
    ]);
    return rows[0];
  }

  async function knownOperation(db: pg.Pool | pg.PoolClient, operationId: string, lock = '') {
    const row = await findOperation(db, operationId, lock);
    if (!row) throw refused.unknown(operationId);
    return row;
  }

  const operationKey = async (operationId: string) => (await knownOperation(pool, operationId)).id;

  try {
    await transaction(async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(${SCHEMA_LOCK})`);
      // CREATE SCHEMA checks the privilege even when the schema exists, so an existing one is left alone.
      const { rowCount } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schemaName]);
      if (!rowCount) await client.query(`CREATE SCHEMA ${s}`);
      await client.query(schemaSql(s));
    });
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw redact(err, url);
  }

  return {
    async createOperation(op) {
      const { rows } = await pool.query<OperationRow>(
        `INSERT INTO ${operations} (operation_id, operation, account_name, digest, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (operation_id) DO NOTHING RETURNING *`,
        [op.operationId, op.operation, op.accountName, op.digest, now()],
      );
      if (rows[0]) return { created: true, record: toRecord(rows[0]) };
      const record = toRecord(await knownOperation(pool, op.operationId));
      if (!sameRequest(record, op)) throw refused.otherRequest(op.operationId);
      return { created: false, record };
    },

    async appendDevices(operationId, list) {
      checkDevices(list);
      await transaction(async (client) => {
        const row = await knownOperation(client, operationId, 'FOR SHARE');
        if (row.sealed_at !== null) throw refused.sealed(operationId);
        const at = now();
        for (let i = 0; i < list.length; i += INSERT_ROWS) {
          const chunk = list.slice(i, i + INSERT_ROWS);
          await client.query(
            `INSERT INTO ${devices} (op, position, device, state, code, message, updated_at)
             SELECT $1, position, device::jsonb, state, code, message, $2
             FROM unnest($3::integer[], $4::text[], $5::text[], $6::text[], $7::text[])
               AS d (position, device, state, code, message)
             ON CONFLICT (op, position) DO NOTHING`,
            [
              row.id,
              at,
              chunk.map((d) => d.position),
              chunk.map((d) => JSON.stringify(d.device)),
              chunk.map((d): DeviceState => (d.skipped ? 'skipped' : 'pending')),
              chunk.map((d) => d.skipped?.code ?? null),
              chunk.map((d) => d.skipped?.message ?? null),
            ],
          );
        }
      });
    },

    async sealOperation(operationId, total, devicesDigest) {
      await transaction(async (client) => {
        const row = await knownOperation(client, operationId, 'FOR UPDATE');
        if (row.sealed_at !== null) {
          if (row.total === total && row.devices_digest === devicesDigest) return;
          throw refused.otherSeal(operationId, row.total ?? 0);
        }
        // Positions are whole numbers from 0 and unique: `total` of them ending at total-1 are exactly 0 … total-1.
        const { rows } = await client.query<{ stored: string; last: number }>(
          `SELECT count(*) AS stored, COALESCE(max(position), -1) AS last FROM ${devices} WHERE op = $1`,
          [row.id],
        );
        const stored = Number(rows[0]!.stored);
        if (stored !== total || rows[0]!.last !== total - 1) throw refused.incomplete(operationId, total, stored);
        await client.query(`UPDATE ${operations} SET total = $1, devices_digest = $2, sealed_at = $3 WHERE id = $4`, [
          total,
          devicesDigest,
          now(),
          row.id,
        ]);
      });
    },

    async getOperation(operationId) {
      const row = await findOperation(pool, operationId);
      return row && toRecord(row);
    },

    async loadPending(operationId, from, to) {
      const op = await operationKey(operationId);
      const { rows } = await pool.query<StoredDevice>(
        `SELECT position, device FROM ${devices}
         WHERE op = $1 AND state = 'pending' AND position >= $2 AND position < $3 ORDER BY position`,
        [op, from, to],
      );
      return rows;
    },

    async planRound(operationId, round, shardSize, retry) {
      checkShardSize(shardSize);
      return transaction(async (client) => {
        const op = (await knownOperation(client, operationId)).id;
        if (retry) {
          await client.query(
            `UPDATE ${devices} SET state = 'pending', code = NULL, message = NULL, confirmed_by = NULL,
               address_code = NULL, address_message = NULL, round = $2, updated_at = $3
             WHERE op = $1 AND state IN ('failed', 'noAnswer') AND round < $2`,
            [op, round, now()],
          );
        }
        // One ordered walk of the pending positions: every `shardSize`-th one starts a range.
        const { rows } = await client.query<{ first: number; last: number; devices: string }>(
          `SELECT min(position) AS first, max(position) AS last, count(*) AS devices FROM (
             SELECT position, (row_number() OVER (ORDER BY position) - 1) / $2 AS slice
             FROM ${devices} WHERE op = $1 AND state = 'pending') AS pending
           GROUP BY slice ORDER BY slice`,
          [op, shardSize],
        );
        const plan: RoundPlan = { ranges: [], devices: 0 };
        for (const r of rows) {
          plan.ranges.push([r.first, r.last + 1]);
          plan.devices += Number(r.devices);
        }
        return plan;
      });
    },

    async recordOutcomes(operationId, round, outcomes) {
      checkOutcomes(outcomes);
      const op = await operationKey(operationId);
      if (outcomes.length === 0) return;
      const rows = outcomes.map(outcomeColumns);
      const positions = rows.map((r) => r.position);
      const low = positions.reduce((a, b) => Math.min(a, b));
      const high = positions.reduce((a, b) => Math.max(a, b));
      // A round older than the device's is a late write of an earlier round: it must not undo a retry. The
      // bounds of the positions keep the planner on the shard's range: without them, it may hash the
      // operation's every row (a million) to join a few thousand outcomes.
      await pool.query(
        `UPDATE ${devices} AS d SET state = o.state, code = o.code, message = o.message, request_id = o.request_id,
           confirmed_by = o.confirmed_by, address_code = o.address_code, address_message = o.address_message,
           round = $2, updated_at = $3
         FROM unnest($4::integer[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
             $11::text[])
           AS o (position, state, code, message, request_id, confirmed_by, address_code, address_message)
         WHERE d.op = $1 AND d.position = o.position AND d.position BETWEEN $12 AND $13 AND d.round <= $2
           AND (d.state, d.code, d.message, d.request_id, d.confirmed_by, d.address_code, d.address_message, d.round)
             IS DISTINCT FROM
             (o.state, o.code, o.message, o.request_id, o.confirmed_by, o.address_code, o.address_message, $2)`,
        [
          op,
          round,
          now(),
          positions,
          rows.map((r) => r.state),
          rows.map((r) => r.code),
          rows.map((r) => r.message),
          rows.map((r) => r.requestId),
          rows.map((r) => r.confirmedBy),
          rows.map((r) => r.addressCode),
          rows.map((r) => r.addressMessage),
          low,
          high,
        ],
      );
    },

    async counts(operationId) {
      const op = await operationKey(operationId);
      const { rows } = await pool.query<{ state: DeviceState; n: string }>(
        `SELECT state, n FROM ${stateCounts} WHERE op = $1 AND n <> 0`,
        [op],
      );
      const counts = Object.fromEntries(DEVICE_STATES.map((state) => [state, 0])) as DeviceCounts;
      counts.total = 0;
      for (const { state, n } of rows) {
        counts[state] = Number(n);
        counts.total += Number(n);
      }
      return counts;
    },

    async readResults(operationId, { after, limit, state }) {
      const op = await operationKey(operationId);
      const { rows } =
        state === undefined
          ? await pool.query<DeviceRow>(
              `SELECT * FROM ${devices} WHERE op = $1 AND position > $2 ORDER BY position LIMIT $3`,
              [op, after, limit],
            )
          : await pool.query<DeviceRow>(
              `SELECT * FROM ${devices} WHERE op = $1 AND state = $2 AND position > $3 ORDER BY position LIMIT $4`,
              [op, state, after, limit],
            );
      return rows.map(deviceResult);
    },

    async closeOperation(operationId) {
      await pool.query(`UPDATE ${operations} SET closed_at = $1 WHERE operation_id = $2 AND closed_at IS NULL`, [
        now(),
        operationId,
      ]);
    },

    async purgeClosed(olderThan) {
      const { rows } = await pool.query<{ operations: string; devices: string }>(
        `WITH gone AS (DELETE FROM ${operations} WHERE closed_at < $1 RETURNING id),
           removed AS (DELETE FROM ${devices} WHERE op IN (SELECT id FROM gone) RETURNING 1),
           uncounted AS (DELETE FROM ${stateCounts} WHERE op IN (SELECT id FROM gone))
         SELECT (SELECT count(*) FROM gone) AS operations, (SELECT count(*) FROM removed) AS devices`,
        [olderThan.toISOString()],
      );
      return { operations: Number(rows[0]!.operations), devices: Number(rows[0]!.devices) };
    },

    async reserveSlot(key, intervalMs) {
      checkInterval(intervalMs);
      // One statement: a second reservation of the key waits for the first's row lock, then sees its slot.
      const { rows } = await pool.query<{ wait: string }>(
        `WITH clock AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now)
         INSERT INTO ${rateSlots} AS r (key, next_at) SELECT $1, now + $2 FROM clock
         ON CONFLICT (key) DO UPDATE SET next_at = GREATEST(r.next_at, excluded.next_at - $2) + $2
         RETURNING r.next_at - $2 - (SELECT now FROM clock) AS wait`,
        [key, Math.ceil(intervalMs)],
      );
      return Number(rows[0]!.wait);
    },

    async close() {
      await pool.end();
    },
  };
}
