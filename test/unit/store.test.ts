import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../store/sqlite.js';
import type { InboxRecord, NewCallback, Store } from '../../store/types.js';

const RECEIVED_AT = '2025-11-23T10:00:00.000Z';
const LEASE_MS = 30_000;
const NO_MATCH = 'no open saga matches its request id or devices';

/** A stored callback as the gateway writes it: body without credentials, keys from its request id and devices. */
function callback(name: string, keys: string[], service: NewCallback['service'] = 'CarrierService'): NewCallback {
  return {
    service,
    fingerprint: `fp-${name}`,
    body: { requestId: name, status: 'Success' },
    receivedAt: RECEIVED_AT,
    keys,
  };
}

/** The inbox row a fresh callback becomes. */
function pendingRecord(id: number, c: NewCallback): InboxRecord {
  return {
    id,
    service: c.service,
    fingerprint: c.fingerprint,
    body: c.body,
    receivedAt: c.receivedAt,
    deliveries: 1,
    state: 'pending',
  };
}

describe('SQLite store', () => {
  let store: Store;

  beforeEach(() => {
    store = openSqliteStore(':memory:');
  });

  afterEach(async () => {
    await store.close();
  });

  describe('recording callbacks', () => {
    it('a first delivery is stored as pending; a re-delivery with the same fingerprint only counts a delivery', async () => {
      const first = callback('r-1', ['requestid:r-1', 'imei:990013907835573']);
      expect(await store.recordCallback(first)).toEqual({ id: 1, duplicate: false });
      const again = { ...first, body: { ...first.body, callbackCount: 2 }, receivedAt: '2025-11-23T10:00:04.000Z' };
      expect(await store.recordCallback(again)).toEqual({ id: 1, duplicate: true });

      expect(await store.list('pending', 10)).toEqual([{ ...pendingRecord(1, first), deliveries: 2 }]);
    });

    it('different fingerprints are different callbacks, listed newest first', async () => {
      const a = callback('r-1', ['requestid:r-1']);
      const b = callback('r-2', ['requestid:r-2'], 'StateService');
      expect(await store.recordCallback(a)).toEqual({ id: 1, duplicate: false });
      expect(await store.recordCallback(b)).toEqual({ id: 2, duplicate: false });
      expect(await store.list('pending', 10)).toEqual([pendingRecord(2, b), pendingRecord(1, a)]);
      expect(await store.list('pending', 1)).toEqual([pendingRecord(2, b)]);
    });
  });

  describe('leasing pending callbacks', () => {
    it('a callback whose request id a saga registered comes with that saga', async () => {
      const c = callback('r-1', ['requestid:r-1', 'imei:990013907835573']);
      await store.recordCallback(c);
      expect(await store.addCorrelationKeys('swap-a', ['requestid:r-1'])).toBe(0);

      expect(await store.leasePending(10, LEASE_MS)).toEqual([{ record: pendingRecord(1, c), workflowId: 'swap-a' }]);
    });

    it('a callback matched only by a device comes with the saga that claimed the device', async () => {
      const c = callback('r-other', ['requestid:r-other', 'imei:990013907835573']);
      await store.recordCallback(c);
      expect(await store.claimDevices('swap-a', ['imei:990013907835573'])).toEqual({ ok: true });

      expect(await store.leasePending(10, LEASE_MS)).toEqual([{ record: pendingRecord(1, c), workflowId: 'swap-a' }]);
    });

    it('the request id wins over a device claimed earlier by another saga', async () => {
      expect(await store.claimDevices('swap-old', ['imei:990013907835573'])).toEqual({ ok: true });
      await store.addCorrelationKeys('swap-new', ['requestid:r-1']);
      const c = callback('r-1', ['imei:990013907835573', 'requestid:r-1']);
      await store.recordCallback(c);

      expect(await store.leasePending(10, LEASE_MS)).toEqual([{ record: pendingRecord(1, c), workflowId: 'swap-new' }]);
    });

    it('a callback that matches nothing is leased without a saga', async () => {
      const c = callback('r-1', ['requestid:r-1']);
      await store.recordCallback(c);
      expect(await store.leasePending(10, LEASE_MS)).toEqual([{ record: pendingRecord(1, c) }]);
    });

    it('leased rows are not leased again until the lease is released, and the limit is honoured', async () => {
      const a = callback('r-1', ['requestid:r-1']);
      const b = callback('r-2', ['requestid:r-2']);
      const c = callback('r-3', ['requestid:r-3']);
      for (const x of [a, b, c]) await store.recordCallback(x);

      expect(await store.leasePending(2, LEASE_MS)).toEqual([
        { record: pendingRecord(1, a) },
        { record: pendingRecord(2, b) },
      ]);
      expect(await store.leasePending(10, LEASE_MS)).toEqual([{ record: pendingRecord(3, c) }]);
      expect(await store.leasePending(10, LEASE_MS)).toEqual([]);

      await store.releaseLease([2], 0);
      expect(await store.leasePending(10, LEASE_MS)).toEqual([{ record: pendingRecord(2, b) }]);
    });

    it('a released lease with a retry delay keeps the row back until the delay has passed', async () => {
      const a = callback('r-1', ['requestid:r-1']);
      await store.recordCallback(a);
      await store.leasePending(10, LEASE_MS);
      await store.releaseLease([1], 60_000);
      expect(await store.leasePending(10, LEASE_MS)).toEqual([]);
      expect(await store.list('pending', 10)).toEqual([pendingRecord(1, a)]);
    });

    it('delivered rows are never leased again', async () => {
      await store.recordCallback(callback('r-1', ['requestid:r-1']));
      await store.addCorrelationKeys('swap-a', ['requestid:r-1']);
      await store.leasePending(10, LEASE_MS);
      await store.markDelivered([1], 'swap-a');
      await store.releaseLease([1], 0);
      expect(await store.leasePending(10, LEASE_MS)).toEqual([]);
    });
  });

  describe('parking', () => {
    it('parks the unmatched rows but keeps pending a row whose key a saga registered after the lease', async () => {
      const lonely = callback('r-1', ['requestid:r-1']);
      const early = callback('r-2', ['requestid:r-2', 'eid:89033023312150000000000263619234']);
      await store.recordCallback(lonely);
      await store.recordCallback(early);
      expect(await store.leasePending(10, LEASE_MS)).toEqual([
        { record: pendingRecord(1, lonely) },
        { record: pendingRecord(2, early) },
      ]);

      // The saga registers its request id between the dispatcher's lease and its park.
      await store.addCorrelationKeys('swap-a', ['requestid:r-2']);
      await store.parkUnmatched([1, 2], NO_MATCH);

      expect(await store.list('parked', 10)).toEqual([
        { ...pendingRecord(1, lonely), state: 'parked', reason: NO_MATCH },
      ]);
      // Its lease is cleared too, so the next round delivers it at once.
      expect(await store.leasePending(10, LEASE_MS)).toEqual([
        { record: pendingRecord(2, early), workflowId: 'swap-a' },
      ]);
    });

    it('parking ignores rows that are no longer pending', async () => {
      await store.recordCallback(callback('r-1', ['requestid:r-1']));
      await store.markOrphaned([1], 'swap-gone', 'saga no longer running');
      await store.parkUnmatched([1], NO_MATCH);
      expect(await store.list('parked', 10)).toEqual([]);
      expect((await store.list('orphaned', 10)).map((r) => r.state)).toEqual(['orphaned']);
    });

    it('a saga registering its request id re-opens the parked callbacks that carry it, and says how many', async () => {
      const a = callback('r-1', ['requestid:r-1']);
      const b = callback('r-1-again', ['requestid:r-1', 'imei:990013907835573']);
      const other = callback('r-9', ['requestid:r-9']);
      for (const x of [a, b, other]) await store.recordCallback(x);
      await store.leasePending(10, LEASE_MS);
      await store.parkUnmatched([1, 2, 3], NO_MATCH);

      expect(await store.addCorrelationKeys('swap-a', ['requestid:r-1'])).toBe(2);
      expect(await store.list('pending', 10)).toEqual([pendingRecord(2, b), pendingRecord(1, a)]);
      expect(await store.list('parked', 10)).toEqual([
        { ...pendingRecord(3, other), state: 'parked', reason: NO_MATCH },
      ]);
      expect(await store.leasePending(10, LEASE_MS)).toEqual([
        { record: pendingRecord(1, a), workflowId: 'swap-a' },
        { record: pendingRecord(2, b), workflowId: 'swap-a' },
      ]);
    });

    it('a saga claiming a device re-opens a callback parked because it beat the claim', async () => {
      const c = callback('r-1', ['requestid:r-1', 'iccid:89148000000800784259']);
      await store.recordCallback(c);
      await store.leasePending(10, LEASE_MS);
      await store.parkUnmatched([1], NO_MATCH);

      expect(await store.claimDevices('swap-a', ['iccid:89148000000800784259'])).toEqual({ ok: true });
      expect(await store.list('parked', 10)).toEqual([]);
      expect(await store.leasePending(10, LEASE_MS)).toEqual([{ record: pendingRecord(1, c), workflowId: 'swap-a' }]);
    });

    it('registering a key that no parked callback carries re-opens nothing', async () => {
      await store.recordCallback(callback('r-1', ['requestid:r-1']));
      await store.leasePending(10, LEASE_MS);
      await store.parkUnmatched([1], NO_MATCH);
      expect(await store.addCorrelationKeys('swap-a', ['requestid:r-2'])).toBe(0);
      expect(await store.addCorrelationKeys('swap-a', [])).toBe(0);
      expect((await store.list('parked', 10)).map((r) => r.id)).toEqual([1]);
    });
  });

  describe('claiming devices', () => {
    const keys = ['eid:89033023312150000000000263619234', 'imei:990013907835573'];

    it('claiming the same devices again for the same saga succeeds (a retried activity)', async () => {
      expect(await store.claimDevices('swap-a', keys)).toEqual({ ok: true });
      expect(await store.claimDevices('swap-a', keys)).toEqual({ ok: true });
      expect(await store.claimDevices('swap-a', [...keys, 'mdn:8586928930'])).toEqual({ ok: true });
    });

    it('another saga is told which devices are busy and who holds them, and claims none of its devices', async () => {
      expect(await store.claimDevices('swap-a', keys)).toEqual({ ok: true });
      expect(await store.claimDevices('swap-b', ['mdn:8586928930', 'imei:990013907835573'])).toEqual({
        ok: false,
        busy: [{ key: 'imei:990013907835573', workflowId: 'swap-a' }],
      });
      // swap-b's refused claim left the free device free.
      expect(await store.claimDevices('swap-c', ['mdn:8586928930'])).toEqual({ ok: true });
    });

    it('every busy key is listed with its holder', async () => {
      await store.claimDevices('swap-a', [keys[0]!]);
      await store.claimDevices('swap-b', [keys[1]!]);
      expect(await store.claimDevices('swap-c', keys)).toEqual({
        ok: false,
        busy: [
          { key: keys[0], workflowId: 'swap-a' },
          { key: keys[1], workflowId: 'swap-b' },
        ],
      });
    });

    it('releasing a saga frees its devices and request ids for the next operation; releasing twice is fine', async () => {
      await store.claimDevices('swap-a', keys);
      await store.addCorrelationKeys('swap-a', ['requestid:r-1']);
      await store.releaseWorkflow('swap-a');
      await store.releaseWorkflow('swap-a');
      expect(await store.claimDevices('swap-b', keys)).toEqual({ ok: true });

      const c = callback('r-1', ['requestid:r-1']);
      await store.recordCallback(c);
      expect(await store.leasePending(10, LEASE_MS)).toEqual([{ record: pendingRecord(1, c) }]);
    });
  });

  describe('counts', () => {
    it('an empty inbox counts zero everywhere', async () => {
      expect(await store.counts()).toEqual({
        received: 0,
        duplicates: 0,
        pending: 0,
        delivered: 0,
        parked: 0,
        orphaned: 0,
        deadLetter: 0,
      });
    });

    it('counts distinct callbacks, re-deliveries and each state', async () => {
      const delivered = callback('r-1', ['requestid:r-1']);
      const orphaned = callback('r-3', ['requestid:r-3']);
      const { id: deliveredId } = await store.recordCallback(delivered);
      await store.recordCallback(delivered);
      await store.recordCallback(delivered);
      const { id: parkedId } = await store.recordCallback(callback('r-2', ['requestid:r-2']));
      const { id: orphanedId } = await store.recordCallback(orphaned);
      await store.recordCallback(callback('r-4', ['requestid:r-4']));
      await store.recordCallback(callback('r-4', ['requestid:r-4']));

      await store.markDelivered([deliveredId], 'swap-a');
      await store.parkUnmatched([parkedId], NO_MATCH);
      await store.markOrphaned([orphanedId], 'swap-gone', 'saga no longer running');

      expect(await store.counts()).toEqual({
        received: 4,
        duplicates: 3,
        pending: 1,
        delivered: 1,
        parked: 1,
        orphaned: 1,
        deadLetter: 0,
      });
      expect(await store.list('delivered', 10)).toEqual([
        { ...pendingRecord(deliveredId, delivered), deliveries: 3, state: 'delivered', workflowId: 'swap-a' },
      ]);
      expect(await store.list('orphaned', 10)).toEqual([
        {
          ...pendingRecord(orphanedId, orphaned),
          state: 'orphaned',
          workflowId: 'swap-gone',
          reason: 'saga no longer running',
        },
      ]);
    });
  });

  it('answers a ping while open', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });
});

describe('SQLite store on a file', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'euicc-store-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the folder, and two store instances on the same file (gateway and worker) see each other', async () => {
    const file = join(dir, 'nested', 'inbox.db');
    const gateway = openSqliteStore(file);
    const worker = openSqliteStore(file);
    try {
      const c = callback('r-1', ['requestid:r-1', 'imei:990013907835573']);
      expect(await gateway.recordCallback(c)).toEqual({ id: 1, duplicate: false });
      expect(await worker.list('pending', 10)).toEqual([pendingRecord(1, c)]);

      expect(await worker.claimDevices('swap-a', ['imei:990013907835573'])).toEqual({ ok: true });
      expect(await gateway.claimDevices('swap-b', ['imei:990013907835573'])).toEqual({
        ok: false,
        busy: [{ key: 'imei:990013907835573', workflowId: 'swap-a' }],
      });

      expect(await gateway.leasePending(10, LEASE_MS)).toEqual([{ record: pendingRecord(1, c), workflowId: 'swap-a' }]);
      expect(await worker.leasePending(10, LEASE_MS)).toEqual([]);
    } finally {
      await gateway.close();
      await worker.close();
    }
  });

  it('keeps what was written across a close and re-open', async () => {
    const file = join(dir, 'inbox.db');
    const first = openSqliteStore(file);
    await first.recordCallback(callback('r-1', ['requestid:r-1']));
    await first.claimDevices('swap-a', ['mdn:8586928930']);
    await first.close();

    const second = openSqliteStore(file);
    try {
      expect(await second.recordCallback(callback('r-1', ['requestid:r-1']))).toEqual({ id: 1, duplicate: true });
      expect(await second.claimDevices('swap-b', ['mdn:8586928930'])).toEqual({
        ok: false,
        busy: [{ key: 'mdn:8586928930', workflowId: 'swap-a' }],
      });
    } finally {
      await second.close();
    }
  });
});
