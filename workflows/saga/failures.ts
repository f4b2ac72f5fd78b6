/** The failures a saga ends with, built in one place. Workflow code: deterministic, no I/O. */
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, TimeoutFailure } from '@temporalio/workflow';
import { describeIssues, FailureType, type ValidationIssue } from '../../contracts/index.js';

/** Failure types that retrying cannot fix. */
export const NON_RETRYABLE: string[] = [
  FailureType.InvalidRequest,
  FailureType.DeviceBusy,
  FailureType.ThingSpaceRejected,
  FailureType.ThingSpaceAuthFailed,
];

/** Failures an operator's `retry` answers by resubmitting the request. */
export const RESUBMITTABLE: string[] = [
  FailureType.StepFailed,
  FailureType.ThingSpaceRejected,
  FailureType.ThingSpaceUnavailable,
  FailureType.ThingSpaceAuthFailed,
];

/**
 * The failure a saga ends with. An activity's typed failure (`ThingSpaceRejected`, `DeviceBusy`, …)
 * arrives wrapped in an ActivityFailure; the saga re-raises it at the top, with the same type, message
 * and details, so callers match `WorkflowFailedError.cause.type` whatever step failed.
 */
export function sagaFailure(err: unknown): unknown {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
    const { type, message, details } = err.cause;
    return ApplicationFailure.create({
      type: type ?? FailureType.InternalError,
      message,
      details: details as unknown[],
      nonRetryable: true,
      cause: err,
    });
  }
  // The retry budget (schedule-to-close) ran out while ThingSpace kept failing.
  if (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure) {
    return ApplicationFailure.create({
      type: FailureType.ThingSpaceUnavailable,
      message: `${err.activityType} did not succeed within its retry budget`,
      details: [{ activity: err.activityType, timeoutType: err.cause.timeoutType }],
      nonRetryable: true,
      cause: err,
    });
  }
  return err;
}

/**
 * `InvalidRequest`: the request breaks the page's rules. A failure is kept in history: thousands of device
 * issues would bloat it, the first 100 tell enough.
 */
export function invalidRequest(issues: ValidationIssue[], prefix = ''): ApplicationFailure {
  return ApplicationFailure.create({
    type: FailureType.InvalidRequest,
    nonRetryable: true,
    message: `${prefix}${describeIssues(issues)}`,
    details: [{ issues: issues.slice(0, 100), issueCount: issues.length }],
  });
}

/** The reason a child workflow (a bulk shard) failed as a whole: its failure type and message. */
export function shardFailureReason(err: unknown): { code: string; message: string } {
  const cause = err instanceof ChildWorkflowFailure ? err.cause : err;
  const message = cause instanceof Error ? cause.message : String(cause);
  const code =
    cause instanceof ApplicationFailure ? (cause.type ?? FailureType.InternalError) : FailureType.ShardFailed;
  return { code, message };
}
