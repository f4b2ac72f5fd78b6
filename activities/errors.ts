/**
 * The single translation of errors into Temporal failures, at the activity boundary (STYLE.md §4).
 * Workflows and clients match on the failure `type` (contracts FailureType), never on messages.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { FailureType } from '../contracts/index.js';
import { ThingSpaceError } from '../thingspace/index.js';

/** Not a ThingSpace answer: a bug or an unexpected dependency failure. Retried, like Temporal's default. */
const INTERNAL_ERROR = FailureType.InternalError;
/** The activity was cancelled while it ran; another attempt would be cancelled too. */
const CANCELLED = FailureType.CancelledFailure;

/** What the failure details carry about ThingSpace's answer; never headers, which hold tokens. */
export interface ThingSpaceFailureDetails {
  status: number;
  errorCode: string;
}

function isCancellation(err: unknown): boolean {
  return err instanceof CancelledFailure || (err instanceof Error && err.name === 'AbortError');
}

function fromThingSpace(err: ThingSpaceError): ApplicationFailure {
  const details: ThingSpaceFailureDetails[] = [{ status: err.status, errorCode: err.code }];
  if (err.authFailure) {
    // Never retried: every retry would be another failed login, and 5 lock the account — thingspace-api-notes.md.
    return ApplicationFailure.create({
      type: FailureType.ThingSpaceAuthFailed,
      message: `ThingSpace login failed: ${err.code}: ${err.message}`,
      nonRetryable: true,
      details,
      cause: err,
    });
  }
  if (err.retryable) {
    return ApplicationFailure.create({
      type: FailureType.ThingSpaceUnavailable,
      message: `ThingSpace is unavailable: ${err.code}: ${err.message}`,
      nonRetryable: false,
      details,
      // ThingSpace's Retry-After overrides the policy's backoff for the next attempt only.
      ...(err.retryAfterMs !== undefined ? { nextRetryDelay: err.retryAfterMs } : {}),
      cause: err,
    });
  }
  return ApplicationFailure.create({
    type: FailureType.ThingSpaceRejected,
    message: `ThingSpace rejected the request: ${err.code}: ${err.message}`,
    nonRetryable: true,
    details,
    cause: err,
  });
}

/**
 * Turns anything an activity caught into the ApplicationFailure it throws:
 * - an ApplicationFailure: unchanged (it was translated already);
 * - a ThingSpaceError: `ThingSpaceAuthFailed` (login failed, not retried), `ThingSpaceUnavailable`
 *   (408/429/5xx/network, retried, `nextRetryDelay` from Retry-After) or `ThingSpaceRejected` (other
 *   answers, not retried); `details: [{ status, errorCode }]`;
 * - a cancellation: `CancelledFailure`, not retried (prefer {@link rethrowAtActivityBoundary}, which lets
 *   the worker report the activity as cancelled);
 * - anything else: `InternalError`, retried.
 * The original error is kept as `cause`.
 */
export function toApplicationFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof ThingSpaceError) return fromThingSpace(err);
  const cause = err instanceof Error ? err : undefined;
  if (isCancellation(err)) {
    return ApplicationFailure.create({
      type: CANCELLED,
      message: cause?.message || 'The activity was cancelled',
      nonRetryable: true,
      ...(cause ? { cause } : {}),
    });
  }
  return ApplicationFailure.create({
    type: INTERNAL_ERROR,
    message: cause?.message || String(err),
    nonRetryable: false,
    ...(cause ? { cause } : {}),
  });
}

/**
 * `catch (err) { rethrowAtActivityBoundary(err); }`: cancellations are rethrown unchanged, so the worker
 * reports the activity as cancelled rather than failed; everything else as {@link toApplicationFailure}.
 */
export function rethrowAtActivityBoundary(err: unknown): never {
  if (isCancellation(err)) throw err;
  throw toApplicationFailure(err);
}
