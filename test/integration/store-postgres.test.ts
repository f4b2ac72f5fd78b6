/**
 * The store contract against a real PostgreSQL, plus what only a shared server can show: two gateways
 * leasing at once and many sagas claiming one device at once. The tables live in a schema of their own,
 * dropped at the end. PostgreSQL must be running (CI starts it): an unreachable server fails the run.
 */
import pg from 'pg';
import { openPostgresStore } from '../../store/postgres.js';
import type { ClaimResult, Store } from '../../store/types.js';
import {
  IMEI,
  LEASE_MS,
  SWAP_A,
  SWAP_B,
  accountCallback,
  callback,
  pendingRecord,
  storeContract,
} from '../store-contract.js';

const DATABASE_URL = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA = `store_test_${process.pid}_${Date.now()}`;
const OLD_SCHEMA = `${SCHEMA}_old`;

/** Where the tests look for PostgreSQL, without the password the URL may carry. */
function where(): string {
  try {
    const u = new URL(DATABASE_URL);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return 'TEST_DATABASE_URL (unparsable)';
  }
}

let admin: pg.Pool;

beforeAll(async () => {
  admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2, connectionTimeoutMillis: 5_000 });
  admin.on('error', () => undefined);
  try {
    await admin.query('SELECT 1');
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${where()} (${(err as Error).message}). ` +
        'Start it or point TEST_DATABASE_URL at one; these tests never skip.',
    );
  }
});

afterAll(async () => {
  await admin?.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`).catch(() => undefined);
  await admin?.query(`DROP SCHEMA IF EXISTS "${OLD_SCHEMA}" CASCADE`).catch(() => undefined);
  await admin?.end();
});

/** A store on the test schema, emptied and with ids starting at 1 again. */
async function openEmpty(): Promise<Store> {
  const store = await openPostgresStore(DATABASE_URL, { schema: SCHEMA });
  await admin.query(`TRUNCATE "${SCHEMA}".callback_keys, "${SCHEMA}".inbox, "${SCHEMA}".correlations RESTART IDENTITY`);
  return store;
}

storeContract('PostgreSQL', async () => {
  const store = await openEmpty();
  return { store, cleanup: () => store.close() };
});

describe('PostgreSQL store shared by several processes', () => {
  let gatewayA: Store;
  let gatewayB: Store;

  beforeEach(async () => {
    gatewayA = await openEmpty();
    gatewayB = await openPostgresStore(DATABASE_URL, { schema: SCHEMA });
  });

  afterEach(async () => {
    await gatewayA.close();
    await gatewayB.close();
  });

  it('two gateways dispatching at once lease every callback exactly once', async () => {
    const recorded = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        (i % 2 ? gatewayA : gatewayB).recordCallback(callback(`r-${i}`, [`requestid:r-${i}`])),
      ),
    );
    const all = recorded.map((r) => r.id).sort((a, b) => a - b);
    expect(new Set(all).size).toBe(200);

    // Each gateway runs three rounds at a time, in small batches, so leases overlap all the time.
    async function dispatch(store: Store): Promise<number[]> {
      const leased: number[] = [];
      for (;;) {
        const items = await store.leasePending(7, 60_000);
        if (items.length === 0) return leased;
        leased.push(...items.map((item) => item.record.id));
      }
    }
    const rounds = await Promise.all([gatewayA, gatewayB].flatMap((store) => [1, 2, 3].map(() => dispatch(store))));
    const leased = rounds.flat().sort((a, b) => a - b);

    expect(leased).toEqual(all);
    expect(await gatewayB.leasePending(500, 60_000)).toEqual([]);
  });

  it('two gateways writing overlapping batches at once, in opposite orders, store each callback once and count every delivery', async () => {
    const callbacks = Array.from({ length: 50 }, (_, i) => callback(`r-${i}`, [`requestid:r-${i}`]));
    const reversed = [...callbacks].reverse();
    // Eight batches in flight, each re-delivering every callback: without one lock order they would deadlock.
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? gatewayA : gatewayB).recordCallbacks(i % 2 ? callbacks : reversed)),
    );

    const firsts = answers.flat().filter((answer) => !answer.duplicate);
    expect(firsts).toHaveLength(50);
    expect(new Set(firsts.map((answer) => answer.id)).size).toBe(50);
    expect(await gatewayA.counts()).toEqual({
      received: 50,
      duplicates: 7 * 50,
      pending: 50,
      delivered: 0,
      parked: 0,
      orphaned: 0,
      deadLetter: 0,
    });
  });

  it('twenty sagas claiming the same device at once: exactly one wins, the others are told who holds it', async () => {
    const eid = 'eid:89033023312150000000000263619234';
    const results: ClaimResult[] = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        // Half name the devices in the other order: the claims must not deadlock on each other.
        (i % 2 ? gatewayA : gatewayB).claimDevices(
          { workflowId: `swap-${i}`, runId: `run-${i}` },
          i % 4 < 2 ? [eid, IMEI] : [IMEI, eid],
        ),
      ),
    );

    const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
    expect(winners).toHaveLength(1);
    const holder = { workflowId: `swap-${winners[0]}`, runId: `run-${winners[0]}` };
    for (const r of results) {
      if (!r.ok) expect(r.busy.map(({ workflowId, runId }) => ({ workflowId, runId }))).toEqual([holder, holder]);
    }
  });

  it('a key registered while the dispatcher parks leaves no matching callback parked', async () => {
    const n = 40;
    for (let i = 0; i < n; i++) await gatewayA.recordCallback(callback(`r-${i}`, [`requestid:r-${i}`]));
    const ids = (await gatewayA.leasePending(n, 60_000)).map((item) => item.record.id);

    // The worker registers every request id while the gateway parks the rows one by one.
    await Promise.all([
      (async () => {
        for (const id of ids) await gatewayA.parkUnmatched([id], 'no open saga matches');
      })(),
      (async () => {
        for (let i = n - 1; i >= 0; i--) {
          await gatewayB.addCorrelationKeys({ workflowId: `swap-${i}`, runId: `run-${i}` }, [`requestid:r-${i}`]);
        }
      })(),
    ]);

    expect(await gatewayA.list('parked', n)).toEqual([]);
    expect((await gatewayA.leasePending(n, 60_000)).map((item) => item.saga?.workflowId).sort()).toEqual(
      Array.from({ length: n }, (_, i) => `swap-${i}`).sort(),
    );
  });
});

describe('PostgreSQL tables of the first release', () => {
  it('gain the new columns in place; a claim made before them keeps comparing times', async () => {
    const s = `"${OLD_SCHEMA}"`;
    await admin.query(`
      CREATE SCHEMA ${s};
      CREATE TABLE ${s}.inbox (
        id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, service text NOT NULL,
        fingerprint text NOT NULL UNIQUE, body jsonb NOT NULL, received_at timestamptz NOT NULL,
        deliveries integer NOT NULL DEFAULT 1, state text NOT NULL DEFAULT 'pending', workflow_id text,
        run_id text, reason text, lease_until timestamptz NOT NULL DEFAULT '-infinity',
        updated_at timestamptz NOT NULL);
      CREATE TABLE ${s}.callback_keys (
        inbox_id bigint NOT NULL REFERENCES ${s}.inbox (id), key text NOT NULL, PRIMARY KEY (inbox_id, key));
      CREATE TABLE ${s}.correlations (
        key text NOT NULL, workflow_id text NOT NULL, run_id text NOT NULL, kind text NOT NULL,
        created_at timestamptz NOT NULL, closed_at timestamptz, PRIMARY KEY (key, workflow_id, run_id));
      CREATE UNIQUE INDEX correlations_open ON ${s}.correlations (key) WHERE closed_at IS NULL;
      INSERT INTO ${s}.correlations (key, workflow_id, run_id, kind, created_at) VALUES
        ('${IMEI}', 'swap-a', 'run-a1', 'device', '2025-11-23T09:59:00.000Z'),
        ('requestid:r-1', 'swap-a', 'run-a1', 'request', '2025-11-23T09:59:30.000Z');
    `);

    const store = await openPostgresStore(DATABASE_URL, { schema: OLD_SCHEMA });
    try {
      const byDevice = callback('r-2', ['requestid:r-2', IMEI]);
      const early = callback('r-3', ['requestid:r-3', IMEI], 'CarrierService', '2025-11-23T09:58:00.000Z');
      const byRequest = accountCallback('acme', 'r-1', ['requestid:r-1']);
      for (const c of [byDevice, early, byRequest]) await store.recordCallback(c);
      expect(await store.leasePending(10, LEASE_MS)).toEqual([
        { record: pendingRecord(1, byDevice), saga: SWAP_A, matchedBy: 'device' },
        { record: pendingRecord(2, early) },
        { record: pendingRecord(3, byRequest), saga: SWAP_A, matchedBy: 'request' },
      ]);
      expect(await store.claimDevices(SWAP_B, [IMEI], 'acme')).toEqual({ ok: false, busy: [{ key: IMEI, ...SWAP_A }] });
    } finally {
      await store.close();
    }
  });
});

describe('PostgreSQL store errors', () => {
  it('a store that cannot connect says so without quoting the URL or its password', async () => {
    const secretUrl = 'postgres://inbox:hunter2-secret@127.0.0.1:1/inbox';
    const err = (await openPostgresStore(secretUrl).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/^PostgreSQL store: /);
    expect(JSON.stringify({ ...err, message: err.message, stack: err.stack })).not.toContain('hunter2');
  });
});
