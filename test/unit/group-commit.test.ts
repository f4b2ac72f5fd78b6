import { jest } from '@jest/globals';
import { withGroupCommit } from '../../store/group-commit.js';
import { openSqliteStore } from '../../store/sqlite.js';
import type { NewCallback, RecordedCallback, Store } from '../../store/types.js';
import { listenGateway, postJson, type Listening } from '../fixtures/http.js';
import { CALLBACK_CREDENTIALS, deactivationCallback } from '../fixtures/swap-callbacks.js';
import { callback } from '../store-contract.js';

const deactivation = (requestId: string) => ({ ...deactivationCallback(CALLBACK_CREDENTIALS), requestId });

/** A store whose batch transactions commit (or fail) only when the test says so. */
function heldStore(real: Store) {
  const batches: { callbacks: NewCallback[]; commit: () => void; fail: (err: Error) => void }[] = [];
  const store: Store = {
    ...real,
    recordCallbacks: (callbacks) =>
      new Promise<RecordedCallback[]>((resolve, reject) => {
        batches.push({
          callbacks,
          commit: () => void real.recordCallbacks(callbacks).then(resolve, reject),
          fail: reject,
        });
      }),
  };
  return { store, batches };
}

/** Settles once every callback already queued (timers of 0 ms, promise jobs) has run. */
const settled = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('group commit of the inbox', () => {
  let real: Store;

  beforeEach(() => {
    real = openSqliteStore(':memory:');
  });

  afterEach(async () => {
    await real.close().catch(() => undefined);
  });

  it('callbacks recorded within the window share one transaction, and each gets its own answer', async () => {
    const spy = jest.spyOn(real, 'recordCallbacks');
    const store = withGroupCommit(real, { windowMs: 20, maxCallbacks: 256 });
    const a = callback('r-1', ['requestid:r-1']);
    const b = callback('r-2', ['requestid:r-2']);

    const answers = await Promise.all([a, b, a].map((c) => store.recordCallback(c)));

    expect(answers).toEqual([
      { id: 1, duplicate: false },
      { id: 2, duplicate: false },
      { id: 1, duplicate: true },
    ]);
    expect(spy.mock.calls).toEqual([[[a, b, a]]]);
  });

  it('nothing is answered before its transaction commits', async () => {
    const { store: held, batches } = heldStore(real);
    const store = withGroupCommit(held, { windowMs: 1, maxCallbacks: 256 });
    const answered: RecordedCallback[] = [];
    const waiting = ['r-1', 'r-2'].map((name) =>
      store.recordCallback(callback(name, [`requestid:${name}`])).then((answer) => answered.push(answer)),
    );

    await settled();
    expect(batches).toHaveLength(1);
    expect(answered).toEqual([]);

    batches[0]?.commit();
    await Promise.all(waiting);
    expect(answered).toEqual([
      { id: 1, duplicate: false },
      { id: 2, duplicate: false },
    ]);
  });

  it('a transaction that fails fails every callback of its batch, and none is stored', async () => {
    const { store: held, batches } = heldStore(real);
    const store = withGroupCommit(held, { windowMs: 1, maxCallbacks: 256 });
    const outcomes = Promise.allSettled(['r-1', 'r-2', 'r-3'].map((n) => store.recordCallback(callback(n, []))));

    await settled();
    batches[0]?.fail(new Error('SQLITE_IOERR: disk I/O error'));

    expect((await outcomes).map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect((await real.counts()).received).toBe(0);
  });

  it('a full batch is written at once, without waiting for the window', async () => {
    const { store: held, batches } = heldStore(real);
    const store = withGroupCommit(held, { windowMs: 60_000, maxCallbacks: 2 });
    void store.recordCallback(callback('r-1', []));
    void store.recordCallback(callback('r-2', []));
    void store.recordCallback(callback('r-3', []));

    expect(batches.map((b) => b.callbacks.map((c) => c.fingerprint))).toEqual([['fp-r-1', 'fp-r-2']]);
    const closed = store.close();
    expect(batches.map((b) => b.callbacks.map((c) => c.fingerprint))).toEqual([['fp-r-1', 'fp-r-2'], ['fp-r-3']]);
    batches.forEach((b) => b.commit());
    await closed;
  });

  it('closing writes the open batch and waits for it before the store closes', async () => {
    const spy = jest.spyOn(real, 'close');
    const store = withGroupCommit(real, { windowMs: 60_000, maxCallbacks: 256 });
    const answer = store.recordCallback(callback('r-1', ['requestid:r-1']));
    const inbox = await real.list('pending', 10);

    await store.close();
    expect(await answer).toEqual({ id: 1, duplicate: false });
    expect(inbox).toEqual([]);
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('a window of 0 ms leaves the store as it is: one transaction per callback', () => {
    expect(withGroupCommit(real, { windowMs: 0, maxCallbacks: 256 })).toBe(real);
  });

  describe('in the gateway', () => {
    let gateway: Listening | undefined;

    afterEach(async () => {
      await gateway?.close();
      gateway = undefined;
    });

    it('callbacks posted together are stored in one transaction, each acknowledged with its own row', async () => {
      const spy = jest.spyOn(real, 'recordCallbacks');
      // Written when the tenth arrives, however slowly the requests come.
      const store = withGroupCommit(real, { windowMs: 60_000, maxCallbacks: 10 });
      gateway = await listenGateway({ store, credentials: CALLBACK_CREDENTIALS });
      const names = Array.from({ length: 10 }, (_, i) => `r-${i}`);

      const responses = await Promise.all(
        names.map((n) => postJson(`${gateway?.url}/callbacks/CarrierService`, deactivation(n))),
      );

      const answers = await Promise.all(responses.map(async (r) => ({ status: r.status, body: await r.json() })));
      expect(answers.map((a) => a.status)).toEqual(names.map(() => 200));
      expect(new Set(answers.map((a) => (a.body as { id: number }).id)).size).toBe(10);
      expect(spy).toHaveBeenCalledTimes(1);
      expect((await real.counts()).received).toBe(10);
    });

    it('when the batch cannot be written, every callback in it is answered 503 so that ThingSpace sends it again', async () => {
      const failing: Store = { ...real, recordCallbacks: () => Promise.reject(new Error('SQLITE_FULL')) };
      const store = withGroupCommit(failing, { windowMs: 60_000, maxCallbacks: 3 });
      gateway = await listenGateway({ store, credentials: CALLBACK_CREDENTIALS });

      const responses = await Promise.all(
        ['r-1', 'r-2', 'r-3'].map((n) => postJson(`${gateway?.url}/callbacks/CarrierService`, deactivation(n))),
      );

      expect(responses.map((r) => r.status)).toEqual([503, 503, 503]);
    });
  });
});
