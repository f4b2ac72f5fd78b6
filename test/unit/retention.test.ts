import { openSqliteStore } from '../../store/index.js';

const callback = (n: number) => ({
  service: 'CarrierService' as const,
  fingerprint: `fp-${n}`,
  body: { requestId: `r-${n}` },
  receivedAt: new Date(Date.now() - 1_000).toISOString(),
  keys: [`requestid:r-${n}`],
});

describe('retention purge of the inbox', () => {
  it('deletes delivered callbacks and closed runs older than the cut-off, and keeps the rest', async () => {
    const store = openSqliteStore(':memory:');
    const saga = { workflowId: 'w', runId: 'r' };
    await store.claimDevices(saga, ['eid:1']);
    const delivered = await store.recordCallback(callback(1));
    await store.recordCallback(callback(2));
    await store.markDelivered([delivered.id], saga);
    await store.releaseSaga(saga);

    // Nothing is older than an hour ago.
    expect(await store.purgeDelivered(new Date(Date.now() - 3_600_000))).toEqual({ callbacks: 0, tombstones: 0 });
    const purged = await store.purgeDelivered(new Date(Date.now() + 1_000));
    expect(purged.callbacks).toBe(1);
    expect(purged.tombstones).toBeGreaterThanOrEqual(1);
    const counts = await store.counts();
    expect(counts).toMatchObject({ received: 1, delivered: 0, pending: 1 });
    expect(await store.purgeDelivered(new Date(Date.now() + 1_000))).toEqual({ callbacks: 0, tombstones: 0 });
    await store.close();
  });
});
