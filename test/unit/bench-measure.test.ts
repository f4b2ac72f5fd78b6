import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpuSecondsOf, peakRssMiB, percentile, postLoad, resetPeakRss, threadCpuOf } from '../../bench/measure.js';

describe("the bench's measures", () => {
  it('takes percentiles by nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('posts every body over keep-alive connections, closed loop and at a fixed rate', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push(body);
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const closed = await postLoad(url, (i) => ({ i }), { count: 50, connections: 8 });
      expect(closed).toMatchObject({ sent: 50, failed: 0 });
      const paced = await postLoad(url, (i) => ({ i }), { count: 20, connections: 4, rate: 200 });
      expect(paced).toMatchObject({ sent: 20, failed: 0 });
      expect(paced.seconds).toBeGreaterThanOrEqual(0.09);
      expect(paced.p99Ms).toBeLessThanOrEqual(paced.maxMs);
      expect(new Set(seen).size).toBe(50);
      // At 1 ms apart the send loop does not sleep (it sleeps only for more than 1 ms): requests leave early and count from then.
      const fast = await postLoad(url, (i) => ({ i }), { count: 200, connections: 8, rate: 1_000 });
      expect(fast.p50Ms).toBeGreaterThanOrEqual(0);
    } finally {
      server.close();
    }
  });

  it("resets a process's peak memory to its current size, so one scenario's peak can be read; counts its CPU", async () => {
    // A child that fills 300 MB, frees it and spins a little: its peak stays, its resident size falls.
    const child = spawn(
      process.execPath,
      [
        '--expose-gc',
        '-e',
        `let b = Buffer.alloc(300e6, 1); b = null; gc();
         const end = Date.now() + 200; while (Date.now() < end);
         console.log('ready'); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await once(child.stdout, 'data');
      expect(peakRssMiB(child.pid)).toBeGreaterThan(280);
      expect(peakRssMiB(child.pid, 'VmRSS')).toBeLessThan(200);
      expect(cpuSecondsOf(child.pid)).toBeGreaterThan(0.1);
      // The spinning was on its main thread; V8's and libuv's threads are listed beside it.
      const threads = [...threadCpuOf(child.pid).values()];
      expect(threads.filter((t) => t.main)).toEqual([expect.objectContaining({ name: 'node' })]);
      expect(threads.find((t) => t.main)?.seconds).toBeGreaterThan(0.1);
      expect(threads.length).toBeGreaterThan(1);
      expect(threadCpuOf(undefined).size).toBe(0);
      resetPeakRss(child.pid);
      expect(peakRssMiB(child.pid)).toBeLessThan(200);
    } finally {
      child.kill();
    }
    expect(cpuSecondsOf(undefined)).toBe(0);
  });
});
