/** Pacing of the per-device profile callbacks on their way to the dispatcher. */
import type { Logger } from 'pino';
import type { CallbackDispatcher, CallbackJob } from '../../platform/delivery.js';

type Generate = () => CallbackJob | undefined;

export interface PacerOptions {
  dispatcher: CallbackDispatcher;
  logger: Logger;
  /** Callbacks handed to the dispatcher per second, at most; `Infinity` for no limit. */
  perSecond: number;
  /** Deliveries whose first attempt is still unanswered, at most. */
  maxInFlight: number;
}

/**
 * Hands callbacks to the dispatcher at a bounded rate and with a bounded number of first attempts open:
 * ThingSpace sends per-device callbacks over time, and a listener flooded with 10,000 at once would answer
 * slower than the ~4-s attempt timeout and get each one twice. Paced in real time (not the simulator's
 * clock, which tests freeze); re-sends, duplicates and drops stay the dispatcher's.
 */
export class CallbackPacer {
  private ready: Generate[] = [];
  private head = 0;
  private waiting = 0;
  private inFlight = 0;
  private timers = new Set<NodeJS.Timeout>();
  private pumpTimer: NodeJS.Timeout | undefined;
  private readonly burst: number;
  private tokens: number;
  private refilledAt = performance.now();
  /** Bumped by cancelAll, so deliveries settling afterwards change nothing. */
  private epoch = 0;

  constructor(private readonly options: PacerOptions) {
    // Up to 50 ms worth of callbacks may leave together, so the pump need not wake every few milliseconds.
    this.burst = Math.max(1, Math.ceil(options.perSecond / 20));
    this.tokens = this.burst;
  }

  /** Callbacks queued and not yet generated. */
  pending(): number {
    return this.waiting + this.ready.length - this.head;
  }

  /** After `delayMs`, queues `items` (in order) for generation and delivery. */
  enqueue(delayMs: number, items: Generate[]): void {
    if (items.length === 0) return;
    this.waiting += items.length;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.waiting -= items.length;
      for (const item of items) this.ready.push(item);
      this.pump();
    }, delayMs);
    this.timers.add(timer);
  }

  /** Forgets everything queued (reset and close). */
  cancelAll(): void {
    this.epoch++;
    this.timers.forEach((t) => clearTimeout(t));
    this.timers.clear();
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    this.ready = [];
    this.head = 0;
    this.waiting = 0;
    this.inFlight = 0;
  }

  private refill(): void {
    if (this.options.perSecond === Infinity) {
      this.tokens = Infinity;
      return;
    }
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.options.perSecond) / 1000);
    this.refilledAt = now;
  }

  private pump(): void {
    this.refill();
    while (this.head < this.ready.length && this.inFlight < this.options.maxInFlight && this.tokens >= 1) {
      this.tokens -= 1;
      this.release(this.ready[this.head++] as Generate);
    }
    if (this.head >= this.ready.length) {
      this.ready = [];
      this.head = 0;
    } else if (this.head > 4096) {
      this.ready = this.ready.slice(this.head);
      this.head = 0;
    }
    // At the in-flight limit, a settling delivery pumps again; otherwise wait for the next token.
    if (this.head < this.ready.length && this.inFlight < this.options.maxInFlight && !this.pumpTimer) {
      const waitMs = Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.options.perSecond));
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = undefined;
        this.pump();
      }, waitMs);
    }
  }

  private release(generate: Generate): void {
    let job: CallbackJob | undefined;
    try {
      job = generate();
    } catch (error) {
      this.options.logger.error({ err: error }, 'Profile callback generation failed');
    }
    if (!job) return;
    const epoch = this.epoch;
    this.inFlight++;
    void this.options.dispatcher.deliver(job).finally(() => {
      if (epoch !== this.epoch) return;
      this.inFlight--;
      this.pump();
    });
  }
}
