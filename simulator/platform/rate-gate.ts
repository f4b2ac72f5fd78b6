/**
 * A load-test control, not a ThingSpace behaviour: items queue in order and leave at most `perSecond` a
 * second (0 holds them). The simulator paces operation callbacks with it (`POST /__sim/callbacks/pace`), and
 * the benchmark's bare endpoint its signals, so both sides of a comparison see the same arrival rate.
 */
export class RateGate<T> {
  private queue: T[] = [];
  private credit = 0;
  private last = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private perSecond: number,
    private readonly send: (item: T) => void,
  ) {
    this.timer = setInterval(() => this.release(), TICK_MS);
    this.timer.unref();
  }

  get size(): number {
    return this.queue.length;
  }

  push(item: T): void {
    this.queue.push(item);
  }

  setRate(perSecond: number): void {
    this.release();
    this.perSecond = perSecond;
    // Credit saved at the old rate must not let anything out at the new one (none at all at 0).
    this.credit = Math.min(this.credit, this.most());
  }

  /** Stops the gate; answers what was still queued, in order. */
  stop(): T[] {
    clearInterval(this.timer);
    return this.queue.splice(0);
  }

  /** At most a few ticks' worth saved up: an idle spell must not turn into a burst. None while held (0). */
  private most(): number {
    return this.perSecond === 0 ? 0 : Math.max(1, (this.perSecond * TICK_MS * 4) / 1000);
  }

  private release(): void {
    const now = performance.now();
    this.credit = Math.min(this.credit + ((now - this.last) / 1000) * this.perSecond, this.most());
    this.last = now;
    const out = this.queue.splice(0, Math.min(Math.floor(this.credit), this.queue.length));
    this.credit -= out.length;
    out.forEach((item) => this.send(item));
  }
}

/** How often a gate lets items out. */
const TICK_MS = 5;
