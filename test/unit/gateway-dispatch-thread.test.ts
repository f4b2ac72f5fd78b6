/**
 * The dispatcher in its worker thread, on a SQLite inbox the test writes from this thread: a kick reaches it,
 * what it counts comes back for /metrics, and stopping ends the thread. No Temporal: the callback matches no saga
 * and is parked, which needs none (the thread's client is lazy and never connects).
 */
import { pino } from 'pino';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDispatchThread } from '../../callback-gateway/dispatch-thread.js';
import type { CallbackOutcome } from '../../callback-gateway/metrics.js';
import { openSqliteStore } from '../../store/sqlite.js';

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('the dispatch thread', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'dispatch-thread-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('when a stored callback matches no saga, the thread parks it and its count reaches this thread', async () => {
    const store = await openSqliteStore(join(dir, 'inbox.db'));
    const counted: { service: string; outcome: CallbackOutcome; count: number | undefined }[] = [];
    const failures: Error[] = [];
    const thread = startDispatchThread({
      config: {
        TEMPORAL_ADDRESS: '127.0.0.1:1',
        TEMPORAL_NAMESPACE: 'default',
        DATA_DIR: dir,
        LOG_LEVEL: 'silent',
        // Only a kick starts a round once the first has found nothing.
        DISPATCH_INTERVAL_MS: 60_000,
        DISPATCH_MAX_ATTEMPTS: 10,
        SIGNAL_MAX_BYTES: 256 * 1024,
      },
      metrics: {
        callback: (service, outcome, count) => counted.push({ service, outcome, count }),
        dispatched: () => undefined,
      },
      logger: pino({ level: 'silent' }),
      onFailure: (err) => failures.push(err),
    });
    try {
      await until(() => thread.running);
      const { id } = await store.recordCallback({
        service: 'CarrierService',
        fingerprint: 'f-1',
        body: { requestId: 'r-1', status: 'Success' },
        receivedAt: new Date().toISOString(),
        keys: ['requestid:r-1'],
      });
      thread.kick();
      await until(() => counted.length > 0);
      expect(counted).toEqual([{ service: 'CarrierService', outcome: 'parked', count: 1 }]);
      expect((await store.get(id))?.state).toBe('parked');
    } finally {
      await thread.stop();
      await store.close();
    }
    expect(thread.running).toBe(false);
    expect(failures).toEqual([]);
  });
});
