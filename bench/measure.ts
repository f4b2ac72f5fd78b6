/** What the bench measures with: percentiles, CPU and peak memory of process trees, an HTTP load loop. */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The `p`-th percentile (0–100) of `values`, nearest rank; NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? NaN;
}

/** Process ids below `pid`, recursively. */
export function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.flatMap((c) => [c, ...descendants(c)]);
}

const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) `pid` has used so far; 0 once it is gone. */
function cpuOf(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** A thread of a process tree: its name (`comm`), whether it is its process's main thread, its CPU seconds so far. */
export interface ThreadCpu {
  name: string;
  main: boolean;
  seconds: number;
}

/** CPU seconds so far of every thread of `pid` and the processes below it, by thread id. */
export function threadCpuOf(pid: number | undefined): Map<number, ThreadCpu> {
  const threads = new Map<number, ThreadCpu>();
  if (pid === undefined) return threads;
  for (const p of [pid, ...descendants(pid)]) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${p}/task/${tid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        threads.set(Number(tid), {
          name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
          main: Number(tid) === p,
          seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND,
        });
      } catch {
        // gone
      }
    }
  }
  return threads;
}

/** CPU seconds used so far by `pid` and every process below it; 0 for none. */
export function cpuSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  return [pid, ...descendants(pid)].reduce((sum, p) => sum + cpuOf(p), 0);
}

/** CPU seconds used so far by this process and every process below it (dev server, parts, their node children). */
export function cpuSecondsOfTree(): number {
  const own = process.cpuUsage();
  return (own.user + own.system) / 1e6 + descendants(process.pid).reduce((sum, pid) => sum + cpuOf(pid), 0);
}

/**
 * Resets the peak resident memory (VmHWM) of `pid`'s tree to its current RSS (Linux `clear_refs` 5), so
 * that `peakRssMiB` afterwards is the peak of what follows: one scenario's, not the whole run's.
 */
export function resetPeakRss(pid: number | undefined): void {
  if (pid === undefined) return;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      writeFileSync(`/proc/${p}/clear_refs`, '5');
    } catch {
      // gone
    }
  }
}

/** Peak resident memory (VmHWM; VmRSS: now) in MiB of the largest process in `pid`'s tree. */
export function peakRssMiB(pid: number | undefined, field: 'VmHWM' | 'VmRSS' = 'VmHWM'): number {
  if (pid === undefined) return NaN;
  let peak = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const hwm = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (hwm) peak = Math.max(peak, Number(hwm[1]) / 1024);
    } catch {
      // gone
    }
  }
  return peak;
}

export interface LoadResult {
  sent: number;
  failed: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * POSTs `count` JSON bodies (`body(i)`) to `url` over `connections` keep-alive connections. Without `rate`,
 * each connection sends its next request when the last is answered (throughput); with `rate`, request i
 * is due at i/rate s, and its latency counts from then, or from when it left if earlier (so queueing behind a
 * slow server is counted, and no latency is negative).
 */
export async function postLoad(
  url: string,
  body: (i: number) => unknown,
  options: { count: number; connections: number; rate?: number },
): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const latencies: number[] = [];
  let failed = 0;
  const one = (i: number, since: number): Promise<void> =>
    new Promise((resolve) => {
      const payload = JSON.stringify(body(i));
      const req = request(url, {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      });
      req.on('response', (res) => {
        res.resume().on('end', () => {
          if (res.statusCode !== 200 && res.statusCode !== 202) failed += 1;
          latencies.push(performance.now() - since);
          resolve();
        });
      });
      req.on('error', () => {
        failed += 1;
        resolve();
      });
      req.end(payload);
    });
  const started = performance.now();
  if (options.rate === undefined) {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < options.count) await one(next++, performance.now());
    };
    await Promise.all(Array.from({ length: options.connections }, lane));
  } else {
    const pending: Promise<void>[] = [];
    for (let i = 0; i < options.count; i++) {
      const due = started + (i * 1000) / options.rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      // Up to 1 ms early is sent at once: its latency counts from when it left, not from a later due time.
      pending.push(one(i, Math.min(due, performance.now())));
    }
    await Promise.all(pending);
  }
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return {
    sent: options.count,
    failed,
    seconds,
    perSecond: options.count / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: Math.max(...latencies),
  };
}
