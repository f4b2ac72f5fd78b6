/** The profile operations' part of a simulator's state. */
import type { Logger } from 'pino';
import type { CallbackDispatcher } from '../../platform/delivery.js';
import { CallbackPacer } from './pacer.js';
import { SlidingWindowLimiter } from './rate-limit.js';
import type { ProfileOperation, ProfileRequest, ProfileRequestDetail, ProfileRequestSummary } from './types.js';

const REQUEST_LIMIT = 1_000;

export interface ProfileStateOptions {
  dispatcher: CallbackDispatcher;
  logger: Logger;
  activationRateLimitPerMinute: number;
  callbacksPerSecond: number;
  callbacksInFlight: number;
}

/** The profile operations' part of a simulator: accepted requests, the rate limit, the pacer. */
export class ProfileState {
  readonly limiter: SlidingWindowLimiter;
  readonly pacer: CallbackPacer;
  /** MDNs set aside for activations whose final callback is still to come. */
  readonly reservedMdns = new Set<string>();
  private requests: ProfileRequest[] = [];

  constructor(options: ProfileStateOptions) {
    this.limiter = new SlidingWindowLimiter(options.activationRateLimitPerMinute);
    this.pacer = new CallbackPacer({
      dispatcher: options.dispatcher,
      logger: options.logger,
      perSecond: options.callbacksPerSecond,
      maxInFlight: options.callbacksInFlight,
    });
  }

  add(request: ProfileRequest): void {
    this.requests.push(request);
    if (this.requests.length > REQUEST_LIMIT) this.requests.splice(0, this.requests.length - REQUEST_LIMIT);
  }

  /** Devices of `operation` requests whose callbacks are not all generated. */
  inFlightDevices(operation: ProfileOperation): Set<number> {
    const numbers = new Set<number>();
    for (const request of this.requests) {
      if (request.summary.operation !== operation) continue;
      for (const plan of request.plans) {
        if ((plan.outcome === 'pending' || plan.outcome === 'warning') && plan.deviceNumber !== undefined) {
          numbers.add(plan.deviceNumber);
        }
      }
    }
    return numbers;
  }

  summaries(): ProfileRequestSummary[] {
    return this.requests.map((r) => ({ ...r.summary, outcomes: { ...r.summary.outcomes } }));
  }

  detail(requestId: string): ProfileRequestDetail | undefined {
    const request = this.requests.find((r) => r.summary.requestId === requestId);
    if (!request) return undefined;
    return {
      ...request.summary,
      outcomes: { ...request.summary.outcomes },
      results: request.plans.map((p) => ({
        deviceIds: p.ids,
        outcome: p.outcome,
        ...(p.fault ? { fault: p.fault } : {}),
      })),
    };
  }

  /** Profile callbacks queued and not yet handed to the dispatcher. */
  pending(): number {
    return this.pacer.pending();
  }

  reset(): void {
    this.pacer.cancelAll();
    this.requests = [];
    this.limiter.clear();
    this.reservedMdns.clear();
  }
}
