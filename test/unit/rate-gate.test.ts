import { RateGate } from '../../simulator/platform/rate-gate.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RateGate', () => {
  it('lets nothing out once held at 0, whatever credit it saved at its earlier rate', async () => {
    const sent: number[] = [];
    const gate = new RateGate<number>(10, (n) => sent.push(n));
    try {
      await sleep(250); // idle at 10/s: a whole item's credit saved up
      gate.setRate(0);
      gate.push(1);
      await sleep(150);
      expect(sent).toEqual([]);
      expect(gate.size).toBe(1);
      gate.setRate(1_000);
      await sleep(50);
      expect(sent).toEqual([1]);
    } finally {
      expect(gate.stop()).toEqual([]);
    }
  });

  it('does not turn an idle spell into a burst, and stop answers what was queued, in order', async () => {
    const sent: number[] = [];
    const gate = new RateGate<number>(20, (n) => sent.push(n));
    await sleep(300);
    const since = performance.now();
    for (let i = 0; i < 10; i++) gate.push(i);
    await sleep(20);
    // One item's credit at most was saved; then 20 a second.
    expect(sent.length).toBeLessThanOrEqual(1 + Math.floor(((performance.now() - since) * 20) / 1000));
    expect(sent.length).toBeLessThan(10);
    expect(gate.stop()).toEqual([...Array(10).keys()].slice(sent.length));
  });
});
