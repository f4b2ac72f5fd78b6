import { CallbackLedger } from '../../workflows/saga/callbacks.js';
import type { CallbackEvent } from '../../contracts/index.js';

const event = (fingerprint: string): CallbackEvent => ({
  fingerprint,
  inboxId: 1,
  service: 'DeviceProfileService',
  type: 'deviceProfile',
  status: 'success',
  deviceIds: [{ kind: 'eid', id: '1' }],
  receivedAt: '2026-11-23T00:00:00.000Z',
});

describe('CallbackLedger', () => {
  it('passes each fingerprint once and counts what it received and ignored', () => {
    const ledger = new CallbackLedger();
    expect(ledger.accept([event('a'), event('b'), event('a')]).map((e) => e.fingerprint)).toEqual(['a', 'b']);
    expect(ledger.accept([event('b'), event('c')]).map((e) => e.fingerprint)).toEqual(['c']);
    expect({ received: ledger.received, duplicates: ledger.duplicates }).toEqual({ received: 5, duplicates: 2 });
  });

  it('drops a malformed signal instead of throwing (a throwing handler would fail every workflow task)', () => {
    const ledger = new CallbackLedger();
    expect(ledger.accept({ not: 'an array' } as unknown as CallbackEvent[])).toEqual([]);
    const noDevices = { ...event('d'), deviceIds: undefined } as unknown as CallbackEvent;
    expect(ledger.accept([null as unknown as CallbackEvent, noDevices, event('e')]).map((e) => e.fingerprint)).toEqual([
      'e',
    ]);
  });
});
