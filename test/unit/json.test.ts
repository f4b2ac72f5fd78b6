import { requestDigest } from '../../client/index.js';
import { canonicalJson, isRecord } from '../../contracts/json.js';

describe('canonicalJson', () => {
  it('sorts keys at every level, inside arrays too, and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: { f: 3, e: 4 } }, 'x'] })).toBe(
      '{"a":[{"c":{"e":4,"f":3},"d":2},"x"],"b":1}',
    );
  });

  it('two values that differ only in key order give the same text', () => {
    expect(canonicalJson({ x: { a: 1, b: 2 }, y: null })).toBe(canonicalJson({ y: null, x: { b: 2, a: 1 } }));
  });
});

describe('isRecord', () => {
  it('holds for plain objects only', () => {
    expect([{}, { a: 1 }, [], null, 'x', 1, undefined].map(isRecord)).toEqual([
      true,
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});

describe('requestDigest', () => {
  const body = {
    accountName: 'acct-1',
    servicePlan: 'M2M_4G',
    devices: [{ deviceIds: [{ kind: 'eid', id: '8904' }] }],
  };

  // Workflow ids carry it: a retried start after an upgrade must find the saga its first start began.
  it('is the same digest as before, whatever the key order and the options', () => {
    expect(requestDigest(body)).toBe('7b7dd268644fbd3e');
    expect(
      requestDigest({
        devices: [{ deviceIds: [{ id: '8904', kind: 'eid' }] }],
        servicePlan: 'M2M_4G',
        accountName: 'acct-1',
        options: { failurePolicy: 'hold' },
      }),
    ).toBe('7b7dd268644fbd3e');
  });
});
