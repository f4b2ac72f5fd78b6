/**
 * The operation store contract against a real PostgreSQL, plus what only a shared server can show:
 * workers on several connections reserving one rate limit and recording shards at once. The tables live
 * in a schema of their own, dropped at the end. PostgreSQL must be running (CI starts it): an unreachable
 * server fails the run.
 */
import pg from 'pg';
import { openPostgresOperationStore } from '../../store/operations-postgres.js';
import type { OperationStore } from '../../store/operations.js';
import { OPERATION_ID, REQUEST, newDevices, operationStoreContract } from '../operation-store-contract.js';

const DATABASE_URL = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA = `operation_store_test_${process.pid}_${Date.now()}`;

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
  await admin?.end();
});

/** A store on the test schema, emptied. */
async function openEmpty(): Promise<OperationStore> {
  const store = await openPostgresOperationStore(DATABASE_URL, { schema: SCHEMA });
  await admin.query(
    `TRUNCATE "${SCHEMA}".operations, "${SCHEMA}".operation_devices, "${SCHEMA}".operation_counts, "${SCHEMA}".rate_slots RESTART IDENTITY`,
  );
  return store;
}

operationStoreContract('PostgreSQL', async () => {
  const store = await openEmpty();
  return { store, cleanup: () => store.close() };
});

describe('PostgreSQL operation store shared by several workers', () => {
  let workers: OperationStore[];

  beforeEach(async () => {
    workers = [
      await openEmpty(),
      ...(await Promise.all([1, 2].map(() => openPostgresOperationStore(DATABASE_URL, { schema: SCHEMA })))),
    ];
  });

  afterEach(async () => {
    await Promise.all(workers.map((w) => w.close()));
  });

  it('three workers reserving one rate limit at once never share a slot', async () => {
    const waits = await Promise.all(
      Array.from({ length: 12 }, (_, i) => workers[i % workers.length]!.reserveSlot('activate:acme', 500)),
    );
    const sorted = [...waits].sort((a, b) => a - b);
    sorted.forEach((wait, k) => {
      expect(wait).toBeLessThanOrEqual(500 * k);
      expect(wait).toBeGreaterThan(500 * k - 400);
    });
  });

  it('shards recording their outcomes at once, each twice, leave exact counts', async () => {
    const [a] = workers as [OperationStore];
    await a.createOperation(REQUEST);
    await a.appendDevices(OPERATION_ID, newDevices(0, 3_000));
    await a.sealOperation(OPERATION_ID, 3_000, 'sha256:devices');
    const { ranges } = await a.planRound(OPERATION_ID, 0, 250, false);
    expect(ranges).toHaveLength(12);

    // Every shard's outcomes are written twice at once, as by an activity retried while its first attempt runs.
    await Promise.all(
      [...ranges, ...ranges].map(async ([from, to], i) => {
        const worker = workers[i % workers.length]!;
        const devices = await worker.loadPending(OPERATION_ID, from, to);
        await worker.recordOutcomes(
          OPERATION_ID,
          0,
          devices.map((d) => ({
            position: d.position,
            state: d.position % 3 ? 'succeeded' : 'failed',
            requestId: 'r-1',
          })),
        );
      }),
    );
    expect(await a.counts(OPERATION_ID)).toEqual({
      pending: 0,
      succeeded: 2_000,
      failed: 1_000,
      noAnswer: 0,
      skipped: 0,
      total: 3_000,
    });
  });

  it('an upload racing its seal: the seal counts every device or the append is refused', async () => {
    const [a, b] = workers as [OperationStore, OperationStore];
    await a.createOperation(REQUEST);
    await a.appendDevices(OPERATION_ID, newDevices(0, 100));
    const [append, seal] = await Promise.allSettled([
      b.appendDevices(OPERATION_ID, newDevices(100, 5_100)),
      a.sealOperation(OPERATION_ID, 100, 'sha256:first-100'),
    ]);
    const total = (await a.counts(OPERATION_ID)).total;
    if (seal.status === 'fulfilled') {
      expect(append.status).toBe('rejected');
      expect(total).toBe(100);
    } else {
      expect(append.status).toBe('fulfilled');
      expect(total).toBe(5_100);
    }
  });
});

describe('PostgreSQL operation store errors', () => {
  it('a store that cannot connect says so without quoting the URL or its password', async () => {
    const secretUrl = 'postgres://ops:hunter2-secret@127.0.0.1:1/ops';
    const err = (await openPostgresOperationStore(secretUrl).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/^PostgreSQL operation store: /);
    expect(JSON.stringify({ ...err, message: err.message, stack: err.stack })).not.toContain('hunter2');
  });

  it('an unparsable URL is reported without quoting it', async () => {
    const secretUrl = 'postgres://ops:hunter2-secret@[bad';
    const err = (await openPostgresOperationStore(secretUrl).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/^PostgreSQL operation store: /);
    expect(JSON.stringify({ ...err, message: err.message, stack: err.stack })).not.toContain('hunter2');
  });
});
