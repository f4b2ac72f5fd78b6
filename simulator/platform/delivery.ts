/**
 * Sends callbacks to registered listeners the way ThingSpace does (thingspace-api-notes.md, Callbacks):
 * a JSON POST with the registered credentials in the body; anything but a 2xx is re-sent with
 * `callbackCount` + 1 up to `maxCallbackThreshold` attempts; a listener slower than ~4 s gets the next
 * attempt while the first is still open; a service without a registration at send time loses the callback.
 */
import type { Logger } from 'pino';
import type { CallbackService } from '../../contracts/types.js';
import { RateGate } from './rate-gate.js';
import type { CallbackRegistry } from './registrations.js';

/** `maxCallbackThreshold` every callback carries (thingspace-api-notes.md). */
export const MAX_CALLBACK_THRESHOLD = 4;

/**
 * `threshold`: up to MAX_CALLBACK_THRESHOLD attempts in all (documented count, observed interval);
 * `observed`: one fast retry and nothing more, as developers saw in production.
 */
export type RetryMode = 'threshold' | 'observed';

export interface DeliveryTiming {
  retry: RetryMode;
  /** Wait before re-sending a refused callback; observed ~1.5 s. */
  retryIntervalMs: number;
  /** How long an attempt may stay unanswered before the next one is sent; observed ~4 s. */
  attemptTimeoutMs: number;
  /** Wait between an acknowledged delivery and its injected duplicate. */
  duplicateDelayMs: number;
  /** After a re-registration, the previous credentials keep being sent this long. */
  credentialLagMs: number;
}

/** One callback to deliver. `content` has no credentials and no delivery counters. */
export interface CallbackJob {
  accountName: string;
  service: CallbackService;
  /** What the callback reports, for the delivery log (e.g. `deactivation`). */
  step: string;
  requestId: string;
  content: Record<string, unknown>;
  /** Deliver once more after it is acknowledged. */
  duplicate: boolean;
  /** Never send it: the notification is lost although ThingSpace did the work. */
  drop: boolean;
  timing: DeliveryTiming;
  /** `callbackCount` of the first attempt; more than 1 for a late re-send of an old callback. Default 1. */
  callbackCount?: number;
  /** A callback of an operation the system never started (portal-started, or a late re-send). */
  stray?: boolean;
}

export type DeliveryOutcome = 'delivered' | 'failed' | 'dropped' | 'lost';

export interface DeliveryLogEntry {
  service: CallbackService;
  step: string;
  requestId: string;
  /** Absent when no listener was registered (`lost`). */
  url?: string;
  callbackCount: number;
  outcome: DeliveryOutcome;
  /** The listener's status; absent when it never answered (network error, timeout). */
  httpStatus?: number;
  /** True for a re-delivery injected by the `duplicate` fault. */
  duplicate?: boolean;
  /** True for a stray callback: no operation the simulator models sent it. */
  stray?: boolean;
  at: string;
}

interface Delivery {
  job: CallbackJob;
  open: number;
  waiting: number;
  acknowledged: boolean;
  duplicated: boolean;
  finished: boolean;
}

/** An attempt nobody answers is abandoned after this long, so a dead listener cannot pin sockets. */
const HARD_ATTEMPT_LIMIT_MS = 30_000;
const LOG_LIMIT = 10_000;
/** The oldest entries go a thousand at a time: dropping one per entry would move the whole log each time. */
const LOG_SLACK = 1_000;

export interface DispatcherDeps {
  registry: CallbackRegistry;
  now: () => number;
  logger: Logger;
}

export class CallbackDispatcher {
  readonly log: DeliveryLogEntry[] = [];
  private active = new Set<Delivery>();
  private scheduled = 0;
  private timers = new Set<NodeJS.Timeout>();
  private controllers = new Set<AbortController>();
  private inFlight = new Set<Promise<void>>();
  /** Bumped by cancelAll, so answers to cancelled attempts change nothing. */
  private epoch = 0;
  /** Set by `pace`: scheduled callbacks wait here and leave at most `perSecond` a second (0 holds them). */
  private gate?: RateGate<CallbackJob>;

  constructor(private readonly deps: DispatcherDeps) {}

  /** Callbacks generated or scheduled but not yet settled (acknowledged, given up, lost or dropped). */
  pending(): number {
    return this.scheduled + this.active.size + (this.gate?.size ?? 0);
  }

  /**
   * A control for load tests, not a ThingSpace behaviour: from now on the callbacks `schedule` generates
   * queue in order and leave at most `perSecond` a second; 0 holds them; `null` lets the queue go at once
   * and stops pacing. Stray and profile callbacks are not paced here (profiles have their own pacer).
   */
  pace(perSecond: number | null): void {
    if (perSecond === null) {
      this.gate?.stop().forEach((job) => void this.deliver(job));
      this.gate = undefined;
    } else if (this.gate) this.gate.setRate(perSecond);
    else this.gate = new RateGate(perSecond, (job) => void this.deliver(job));
  }

  /**
   * After `delayMs`, calls `generate` (which applies the step's effects and builds its callback) and
   * delivers the result. Pending from now on.
   */
  schedule(delayMs: number, generate: () => CallbackJob | undefined): void {
    this.scheduled++;
    this.later(delayMs, () => {
      this.scheduled--;
      let job: CallbackJob | undefined;
      try {
        job = generate();
      } catch (error) {
        this.deps.logger.error({ err: error }, 'Callback generation failed');
      }
      if (!job) return;
      if (this.gate) this.gate.push(job);
      else void this.deliver(job);
    });
  }

  /** Delivers `job`; the promise settles when the first attempt is answered, fails or times out. */
  deliver(job: CallbackJob): Promise<void> {
    const delivery: Delivery = { job, open: 0, waiting: 0, acknowledged: false, duplicated: false, finished: false };
    this.active.add(delivery);
    if (job.drop) {
      this.record(delivery, 1, 'dropped', this.deps.registry.get(job.accountName, job.service)?.url);
      this.settle(delivery);
      return Promise.resolve();
    }
    return this.attempt(delivery, Math.min(job.callbackCount ?? 1, this.maxAttempts(job)), false);
  }

  /** Forgets everything scheduled and aborts open requests (used by reset). */
  cancelAll(): void {
    this.epoch++;
    this.timers.forEach((t) => clearTimeout(t));
    this.timers.clear();
    this.controllers.forEach((c) => c.abort());
    this.controllers.clear();
    this.active.clear();
    this.scheduled = 0;
    this.gate?.stop();
    this.gate = undefined;
  }

  async close(): Promise<void> {
    this.cancelAll();
    await Promise.allSettled([...this.inFlight]);
  }

  clearLog(): void {
    this.log.length = 0;
  }

  /** Runs `fn` after `delayMs`; the returned function cancels it (no-op once it ran). */
  private later(delayMs: number, fn: () => void): () => void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, delayMs);
    this.timers.add(timer);
    return () => {
      clearTimeout(timer);
      this.timers.delete(timer);
    };
  }

  /** Like `later`, but the delivery counts as pending until the timer ran or was cancelled. */
  private wait(d: Delivery, delayMs: number, fn: () => void): () => void {
    d.waiting++;
    let done = false;
    const cancel = this.later(delayMs, () => {
      done = true;
      d.waiting--;
      fn();
    });
    return () => {
      if (done) return;
      done = true;
      d.waiting--;
      cancel();
    };
  }

  private maxAttempts(job: CallbackJob): number {
    return job.timing.retry === 'observed' ? 2 : MAX_CALLBACK_THRESHOLD;
  }

  private attempt(d: Delivery, callbackCount: number, isDuplicate: boolean): Promise<void> {
    const { job } = d;
    const registration = this.deps.registry.get(job.accountName, job.service);
    if (!registration) {
      // Observed: callbacks sent while no listener is registered are lost, not queued.
      this.record(d, callbackCount, 'lost');
      this.settle(d);
      return Promise.resolve();
    }
    const credentials = this.deps.registry.credentialsAt(registration, this.deps.now(), job.timing.credentialLagMs);
    const body = {
      ...credentials,
      ...job.content,
      callbackCount,
      maxCallbackThreshold: MAX_CALLBACK_THRESHOLD,
    };
    const epoch = this.epoch;
    const controller = new AbortController();
    this.controllers.add(controller);
    const hardLimit = setTimeout(
      () => controller.abort(),
      Math.max(HARD_ATTEMPT_LIMIT_MS, job.timing.attemptTimeoutMs),
    );
    d.open++;

    return new Promise<void>((resolveFirst) => {
      // Set once the next attempt is on its way, so a late answer to this one does not send another.
      let movedOn = isDuplicate;
      const cancelTimeout = isDuplicate
        ? () => undefined
        : this.wait(d, job.timing.attemptTimeoutMs, () => {
            // Observed: a listener slower than ~4 s gets the next attempt while the first is still open.
            movedOn = true;
            resolveFirst();
            this.next(d, callbackCount, 0);
          });
      const request = fetch(registration.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'ThingSpace-Callback-Simulator' },
        body: JSON.stringify(body),
        signal: controller.signal,
      })
        .then(async (response) => {
          await response.arrayBuffer().catch(() => undefined);
          return response.status;
        })
        .then(
          (status): number | undefined => status,
          (): number | undefined => undefined,
        )
        .then((status) => {
          clearTimeout(hardLimit);
          this.controllers.delete(controller);
          if (epoch !== this.epoch) return resolveFirst();
          d.open--;
          cancelTimeout();
          const ok = status !== undefined && status >= 200 && status < 300;
          this.record(d, callbackCount, ok ? 'delivered' : 'failed', registration.url, status, isDuplicate);
          if (ok && !d.acknowledged) {
            d.acknowledged = true;
            if (job.duplicate && !d.duplicated) {
              d.duplicated = true;
              this.wait(d, job.timing.duplicateDelayMs, () => {
                void this.attempt(d, Math.min(callbackCount + 1, this.maxAttempts(job)), true);
              });
            }
          } else if (!ok && !movedOn) {
            this.next(d, callbackCount, job.timing.retryIntervalMs);
          }
          movedOn = true;
          resolveFirst();
          this.settle(d);
        });
      const tracked: Promise<void> = request.finally(() => this.inFlight.delete(tracked));
      this.inFlight.add(tracked);
    });
  }

  /** Schedules attempt `callbackCount + 1` unless acknowledged or out of attempts. */
  private next(d: Delivery, callbackCount: number, delayMs: number): void {
    if (d.acknowledged || callbackCount >= this.maxAttempts(d.job)) return this.settle(d);
    this.wait(d, delayMs, () => {
      if (d.acknowledged) return this.settle(d);
      void this.attempt(d, callbackCount + 1, false);
    });
  }

  private settle(d: Delivery): void {
    if (d.finished || d.open > 0 || d.waiting > 0) return;
    d.finished = true;
    this.active.delete(d);
  }

  private record(
    d: Delivery,
    callbackCount: number,
    outcome: DeliveryOutcome,
    url?: string,
    httpStatus?: number,
    duplicate = false,
  ): void {
    const entry: DeliveryLogEntry = {
      service: d.job.service,
      step: d.job.step,
      requestId: d.job.requestId,
      callbackCount,
      outcome,
      at: new Date(this.deps.now()).toISOString(),
    };
    if (url !== undefined) entry.url = url;
    if (httpStatus !== undefined) entry.httpStatus = httpStatus;
    if (duplicate) entry.duplicate = true;
    if (d.job.stray) entry.stray = true;
    this.log.push(entry);
    if (this.log.length > LOG_LIMIT + LOG_SLACK) this.log.splice(0, this.log.length - LOG_LIMIT);
  }
}
