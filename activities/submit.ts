/**
 * Sending a request that ThingSpace would act on again if it came twice: a swap, an identifier change, a
 * profile request. Temporal's RetryPolicy does the retrying (the saga sets it); each attempt first reads
 * the intent row that earlier attempts of the same submit wrote (store/intents.ts), and how a send ended
 * is decided by `requestEnd` (thingspace/outcome.ts), nowhere else:
 * - an earlier attempt is still `sending` (its worker died mid-request, it timed out): the request may
 *   have left, so the outcome is unknown and nothing is sent;
 * - ThingSpace surely did not act and trying again may work: `ThingSpaceUnavailable`, retried, with
 *   `Retry-After` as the next retry's delay;
 * - ThingSpace refused: `ThingSpaceRejected` or `ThingSpaceAuthFailed`, not retried;
 * - ThingSpace may have acted: `ThingSpaceOutcomeUnknown`, not retried. Callbacks, then the device list,
 *   then a person settle it.
 */
import { activityInfo, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../contracts/index.js';
import { ThingSpaceError } from '../thingspace/index.js';
import { refusedForSize, requestEnd } from '../thingspace/outcome.js';
import type { SubmitIntents } from '../store/index.js';
import { toApplicationFailure } from './errors.js';

/** What an unknown outcome's failure carries for the operator: the attempt and what was observed. */
export interface OutcomeEvidence {
  attempt: number;
  observed: string;
  status?: number;
  errorCode?: string;
}

function outcomeUnknown(what: string, evidence: OutcomeEvidence): ApplicationFailure {
  return ApplicationFailure.create({
    type: FailureType.ThingSpaceOutcomeUnknown,
    nonRetryable: true,
    message: `ThingSpace may have accepted the ${what} (${evidence.observed}); it is not sent again`,
    details: [evidence],
  });
}

/** The intent key of the running attempt: one submit of one saga run, shared by its retries. */
function intentKey(): string {
  const info = activityInfo();
  const run = info.workflowExecution;
  return `${run?.workflowId ?? info.workflowType}/${run?.runId ?? ''}/${info.activityId}`;
}

export async function submitWithIntent(
  intents: SubmitIntents,
  what: string,
  send: () => Promise<{ requestId: string }>,
): Promise<{ requestId: string }> {
  const { attempt } = activityInfo();
  const key = intentKey();
  const previous = await intents.beginSubmit(key);
  if (previous?.state === 'answered' && previous.requestId) return { requestId: previous.requestId };
  if (previous?.state === 'sending') {
    throw outcomeUnknown(what, {
      attempt,
      observed: `attempt ${previous.attempts} ended without an answer: its worker stopped or it timed out mid-request`,
    });
  }
  let requestId: string;
  try {
    ({ requestId } = await send());
  } catch (err) {
    const end = requestEnd(err);
    if (end.acted === 'unknown') {
      const answer = err instanceof ThingSpaceError ? { status: err.status, errorCode: err.code } : {};
      throw outcomeUnknown(what, { attempt, observed: end.case, ...answer });
    }
    await intents.settleSubmit(key, 'notActed');
    if (err instanceof ThingSpaceError && !end.resend && !err.authFailure) {
      throw ApplicationFailure.create({
        type: FailureType.ThingSpaceRejected,
        message: `ThingSpace rejected the request: ${err.code}: ${err.message}`,
        nonRetryable: true,
        // `tooLarge`: refused for its number of devices; a bulk shard splits it and sends the halves.
        details: [{ status: err.status, errorCode: err.code, ...(refusedForSize(err) ? { tooLarge: true } : {}) }],
        cause: err,
      });
    }
    if (err instanceof ThingSpaceError && end.resend) {
      throw ApplicationFailure.create({
        type: FailureType.ThingSpaceUnavailable,
        message: `ThingSpace did not act on the ${what} (${end.case}): ${err.code}: ${err.message}`,
        nonRetryable: false,
        details: [{ status: err.status, errorCode: err.code }],
        ...(err.retryAfterMs !== undefined ? { nextRetryDelay: err.retryAfterMs } : {}),
        cause: err,
      });
    }
    throw toApplicationFailure(err);
  }
  try {
    await intents.settleSubmit(key, 'answered', requestId);
  } catch (err) {
    // The answer is in hand and this attempt succeeds: no later attempt of this submit will run.
    log.warn('Could not record the submit answer', { requestId, error: String(err) });
  }
  log.info(`ThingSpace accepted the ${what}`, { requestId });
  return { requestId };
}
