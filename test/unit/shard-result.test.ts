/** A bulk saga reads every shape of shard result ever written (workflows/bulk.ts): running sagas survive upgrades. */
import { faultPositions } from '../../workflows/bulk.js';

describe('faultPositions', () => {
  it('reads the positions of a reason stored once (`indices`)', () => {
    expect(faultPositions({ code: 'E1', message: 'no plan', indices: [0, 3, 7] })).toEqual([0, 3, 7]);
  });

  it('reads a fault of the first release, one per device (`index`)', () => {
    expect(faultPositions({ index: 4, code: 'E1', message: 'no plan' })).toEqual([4]);
  });

  it('names no device for a fault with neither', () => {
    expect(faultPositions({ code: 'E1', message: 'no plan' } as never)).toEqual([]);
  });
});
