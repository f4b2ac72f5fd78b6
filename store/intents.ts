/**
 * Submit intents: a row written before a request that ThingSpace would act on leaves, and settled when
 * its answer is known. A retried attempt (Temporal retries the submit activity after a 503, and after a
 * worker that died mid-request) reads the row first: a row still `sending` means an earlier attempt may
 * have reached ThingSpace, so the outcome is unknown and nothing is sent again.
 */
import type Database from 'better-sqlite3';
import type pg from 'pg';

export type IntentState = 'sending' | 'notActed' | 'answered';

export interface SubmitIntent {
  state: IntentState;
  /** Attempts that began sending under this key. */
  attempts: number;
  /** ThingSpace's request id, once `answered`. */
  requestId?: string;
}

export interface SubmitIntents {
  /**
   * Begins an attempt under `key` (one per submit the saga makes, shared by its retries). Records
   * `sending` unless an earlier attempt is still `sending` (it may have reached ThingSpace) or was
   * `answered`; returns the earlier attempt's record, if any, as it was before this call.
   */
  beginSubmit(key: string): Promise<SubmitIntent | undefined>;
  /** Settles the attempt: ThingSpace answered with a request id, or surely did not act. */
  settleSubmit(key: string, state: 'answered' | 'notActed', requestId?: string): Promise<void>;
}

export const INTENTS_SQL = (table: string) => `
CREATE TABLE IF NOT EXISTS ${table} (
  key TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  request_id TEXT,
  updated_at TEXT NOT NULL
);`;

interface IntentRow {
  state: IntentState;
  attempts: number;
  request_id: string | null;
}

const toIntent = (row: IntentRow): SubmitIntent => ({
  state: row.state,
  attempts: Number(row.attempts),
  ...(row.request_id ? { requestId: row.request_id } : {}),
});

/** Whether an attempt may send: nothing before it, or an earlier attempt that surely did not act. */
const maySend = (previous: SubmitIntent | undefined) => previous === undefined || previous.state === 'notActed';

export function sqliteIntents(db: Database.Database): SubmitIntents {
  db.exec(INTENTS_SQL('submit_intents'));
  const read = db.prepare('SELECT state, attempts, request_id FROM submit_intents WHERE key = ?');
  const write = db.prepare(
    `INSERT INTO submit_intents (key, state, attempts, updated_at) VALUES (?, 'sending', 1, ?)
     ON CONFLICT (key) DO UPDATE SET state = 'sending', attempts = attempts + 1, updated_at = excluded.updated_at`,
  );
  const begin = db.transaction((key: string): SubmitIntent | undefined => {
    const row = read.get(key) as IntentRow | undefined;
    const previous = row ? toIntent(row) : undefined;
    if (maySend(previous)) write.run(key, new Date().toISOString());
    return previous;
  });
  const settle = db.prepare('UPDATE submit_intents SET state = ?, request_id = ?, updated_at = ? WHERE key = ?');
  return {
    async beginSubmit(key) {
      return begin.immediate(key);
    },
    async settleSubmit(key, state, requestId) {
      settle.run(state, requestId ?? null, new Date().toISOString(), key);
    },
  };
}

export function postgresIntents(
  table: string,
  transaction: <T>(work: (client: pg.PoolClient) => Promise<T>) => Promise<T>,
  pool: pg.Pool,
): SubmitIntents {
  return {
    async beginSubmit(key) {
      return transaction(async (client) => {
        const { rows } = await client.query<IntentRow>(
          `SELECT state, attempts, request_id FROM ${table} WHERE key = $1 FOR UPDATE`,
          [key],
        );
        const previous = rows[0] ? toIntent(rows[0]) : undefined;
        if (maySend(previous)) {
          // Two attempts racing on a new key: the loser's insert conflicts and sees the winner's row.
          const inserted = await client.query<IntentRow>(
            `INSERT INTO ${table} (key, state, attempts, updated_at) VALUES ($1, 'sending', 1, $2)
             ON CONFLICT (key) DO UPDATE SET state = 'sending', attempts = ${table}.attempts + 1,
               updated_at = EXCLUDED.updated_at
             WHERE ${table}.state = 'notActed'
             RETURNING state, attempts, request_id`,
            [key, new Date().toISOString()],
          );
          if (inserted.rowCount === 0) {
            const again = await client.query<IntentRow>(
              `SELECT state, attempts, request_id FROM ${table} WHERE key = $1`,
              [key],
            );
            return again.rows[0] ? toIntent(again.rows[0]) : undefined;
          }
        }
        return previous;
      });
    },
    async settleSubmit(key, state, requestId) {
      await pool.query(`UPDATE ${table} SET state = $1, request_id = $2, updated_at = $3 WHERE key = $4`, [
        state,
        requestId ?? null,
        new Date().toISOString(),
        key,
      ]);
    },
  };
}
