/** Which callbacks may decide a step (workflows/saga/callbacks.ts): pure rules, no Temporal needed. */
import type { CallbackEvent } from '../../contracts/index.js';
import { mentionsAny, OwnRequestIds } from '../../workflows/saga/callbacks.js';

const event = (over: Partial<CallbackEvent>): CallbackEvent => ({
  fingerprint: 'f',
  inboxId: 1,
  service: 'CarrierService',
  type: 'identifierChange',
  status: 'success',
  deviceIds: [],
  receivedAt: '2026-12-03T10:00:00.000Z',
  ...over,
});

describe('OwnRequestIds.judge', () => {
  it("counts any callback of the saga's own request id, a failure too", () => {
    const own = new OwnRequestIds();
    own.add('mine');
    expect(own.judge(event({ requestId: 'mine', status: 'failed' }), false)).toBe('counts');
    expect(own.judge(event({ requestId: 'mine' }), false)).toBe('counts');
  });

  it('keeps a failure of an unknown request id as unverified, whatever it names', () => {
    const own = new OwnRequestIds();
    expect(own.judge(event({ requestId: 'other', status: 'failed' }), true)).toBe('unverified');
    expect(own.judge(event({ status: 'failed' }), true)).toBe('unverified');
  });

  it('counts a success of an unknown request id only when it names what the step must name, and learns its id', () => {
    const own = new OwnRequestIds();
    expect(own.judge(event({ requestId: 'stray' }), false)).toBe('ignored');
    expect(own.has('stray')).toBe(false);
    expect(own.judge(event({ requestId: 'sibling' }), true)).toBe('counts');
    expect(own.has('sibling')).toBe(true);
    expect(own.judge(event({ requestId: 'sibling', status: 'failed' }), false)).toBe('counts');
  });
});

describe('mentionsAny', () => {
  it('compares kinds and ids without case', () => {
    expect(mentionsAny([{ kind: 'EID', id: 'ABC' }], [{ kind: 'eid', id: 'abc' }])).toBe(true);
    expect(mentionsAny([{ kind: 'imei', id: 'abc' }], [{ kind: 'eid', id: 'abc' }])).toBe(false);
    expect(mentionsAny(undefined, [{ kind: 'eid', id: 'abc' }])).toBe(false);
  });
});
