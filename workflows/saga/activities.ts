/**
 * The activities every saga calls, with their timeouts and retry policies, and the submit helpers.
 * Workflow code: deterministic, no I/O.
 */
import { msToNumber } from '@temporalio/common';
import {
  ActivityFailure,
  ApplicationFailure,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  sleep,
} from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import { FailureType, type OutcomeEvidence, type SagaOptions } from '../../contracts/index.js';
import { NON_RETRYABLE } from './failures.js';

export type { OutcomeEvidence };

type Proxied = ReturnType<typeof proxyActivities<Activities>>;
const devices = (n: unknown) => (Array.isArray(n) ? `${n.length} device${n.length === 1 ? '' : 's'}` : 'devices');

/** The one-line summary each activity shows in the Temporal UI, from its arguments. */
const SUMMARIES: { [K in keyof Activities]: (...args: Parameters<Activities[K]>) => string } = {
  claimDevices: (ids, account) => `claim ${devices(ids)}${account ? ` of account ${account}` : ''}`,
  releaseDevices: () => 'release the devices',
  addCorrelationKeys: (keys) => `register ${keys.length} correlation key${keys.length === 1 ? '' : 's'}`,
  submitEidDeviceSwap: () => 'submit the swap',
  reverseEidDeviceSwap: () => 'submit the reverse swap',
  reconcileEidDeviceSwap: () => 'read the swap in the device list',
  submitChangeDeviceIdentifier: (r) => `submit ${r.change4gOption ?? 'the identifier change'}`,
  reconcileChangeDeviceIdentifier: () => 'read the identifier change in the device list',
  submitProfileOperation: (s) => `submit ${s.operation} for ${devices(s.body.devices)}`,
  reconcileProfiles: (input) => `reconcile ${devices(input.devices)}`,
  reconcileBulkOperation: (input) => `reconcile ${devices(input.devices)}`,
  storeInlineDevices: (set) => `store ${devices(set.devices)}`,
  planRound: (p) => `plan round ${p.round} in shards of ${p.shardSize}`,
  loadShardDevices: (r) => `load the pending devices of positions ${r.from}–${r.to - 1}`,
  recordShardOutcomes: (r) => `record ${r.outcomes.length} outcome${r.outcomes.length === 1 ? '' : 's'}`,
  operationCounts: () => 'count the outcomes',
  closeOperation: () => 'close the operation',
  readInlineResults: () => 'read every device outcome',
  purgeExpired: () => 'purge what is past retention',
  failPendingDevices: (r) => `fail the pending devices of positions ${r.from}–${r.to - 1}`,
};

/** The activities with their UI summary (`summary` is user metadata: replay does not compare it). */
function summarized(activities: Proxied): Proxied {
  return new Proxy(activities, {
    get(target, name: string) {
      const activity = target[name as keyof Activities];
      const summary = SUMMARIES[name as keyof Activities] as ((...args: unknown[]) => string) | undefined;
      if (!summary) return activity;
      return (...args: unknown[]) =>
        (activity.executeWithOptions as (options: object, args: unknown[]) => Promise<unknown>)(
          { summary: summary(...args) },
          args,
        );
    },
  });
}

/**
 * The store's activities as local activities (sagas of LIGHT_SAGA_PATCH): quick database calls run inside
 * the workflow task, recorded as one marker each instead of three events and a workflow task. Retried
 * like the store's activities; each of them is idempotent.
 */
export const localStoreActivities = summarized(
  proxyLocalActivities<Activities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', nonRetryableErrorTypes: NON_RETRYABLE },
  }) as Proxied,
);

/** The store's activities (claims, correlation keys): quick, retried until they succeed. */
export const storeActivities = summarized(
  proxyActivities<Activities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', nonRetryableErrorTypes: NON_RETRYABLE },
  }),
);

/**
 * ThingSpace's activities. `startToCloseTimeout` stays above the ThingSpace client's own 30 s request
 * timeout, so the client reports timeouts itself; a bulk request of 10,000 devices gets longer. A
 * ThingSpace outage of several minutes (and 429s) is waited out; after an hour the saga fails.
 */
export function thingspaceActivities(startToCloseTimeout: '1 minute' | '2 minutes' = '1 minute') {
  return summarized(
    proxyActivities<Activities>({
      startToCloseTimeout,
      scheduleToCloseTimeout: '1 hour',
      retry: {
        initialInterval: '2 seconds',
        backoffCoefficient: 2,
        maximumInterval: '1 minute',
        nonRetryableErrorTypes: NON_RETRYABLE,
      },
    }),
  );
}

/**
 * Scans of the device list (activities/reconcile.ts): they heartbeat their cursor after every list
 * request and a retried attempt resumes from it. A scan of a large account takes many pages; a page
 * with more data but no cursor fails loudly, a few times, then the saga goes on without the list.
 */
/**
 * The operation store's activities (bulk device sets): database calls, retried until they succeed. A
 * whole device set of a saga started inline (up to the 2 MB input limit) may take a while to store.
 */
export const operationActivities = summarized(
  proxyActivities<Activities>({
    startToCloseTimeout: '5 minutes',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', nonRetryableErrorTypes: NON_RETRYABLE },
  }),
);

/** The operation store's quick reads (counts) as local activities: a marker each, no workflow task. */
export const localOperationActivities = summarized(
  proxyLocalActivities<Activities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', nonRetryableErrorTypes: NON_RETRYABLE },
  }) as Proxied,
);

export const reconcileActivities = summarized(
  proxyActivities<Activities>({
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '2 minutes',
    retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
  }),
);

/** Default wait for each step's callback: ThingSpace's own re-sends span 15 minutes; carrier work can take hours. */
export const DEFAULT_STEP_TIMEOUT = '2 hours';

export function stepTimeoutOf(options: SagaOptions | undefined): string | number {
  return options?.stepTimeout ?? DEFAULT_STEP_TIMEOUT;
}

/**
 * Submit activities run exactly once per attempt the saga makes: Temporal never retries them by itself,
 * because a retry after a worker died mid-request would send the request again (ThingSpace would accept a
 * plan change or activation twice). The saga retries only what surely did not reach ThingSpace.
 */
export function submitActivities(startToCloseTimeout: '1 minute' | '2 minutes' = '1 minute') {
  return summarized(proxyActivities<Activities>({ startToCloseTimeout, retry: { maximumAttempts: 1 } }));
}

/**
 * The patch of the sagas that need evidence: a submit retried by its RetryPolicy and never resent on an
 * unknown outcome, callbacks that count only with the saga's own request id or the step's content, an
 * unknown outcome that holds for a person, and a reverse swap built from the request and the device list.
 * Read once at the start of a run, so a run keeps the behaviour it started with; runs that started
 * before it replay as they ran.
 */
export const EVIDENCE_PATCH = 'callbacks-need-evidence';

/**
 * The patch that lists every request id of a saga (or shard) in the `ThingSpaceRequestIds` search
 * attribute, so an operator holding any callback's request id finds it. Read once at the start of a run.
 */
export const REQUEST_IDS_PATCH = 'request-ids-search-attribute';

/**
 * The patch of the light saga: the store's calls as local activities, search attributes upserted once per
 * phase the saga waits in (not per step it passes), and one marker that implies EVIDENCE_PATCH and
 * REQUEST_IDS_PATCH instead of three. Same guarantees, fewer history events and workflow tasks.
 */
export const LIGHT_SAGA_PATCH = 'light-saga';

/**
 * Submit activities retried by Temporal (activities/submit.ts): only an attempt that ThingSpace surely
 * did not act on is retried (`ThingSpaceUnavailable`, with `Retry-After` as the next delay); the activity
 * gives up after an hour of that. An unknown outcome is not retried.
 */
export function retryingSubmits(startToCloseTimeout: '1 minute' | '2 minutes' = '1 minute') {
  return summarized(
    proxyActivities<Activities>({
      startToCloseTimeout,
      retry: {
        initialInterval: '2 seconds',
        backoffCoefficient: 2,
        maximumInterval: '1 minute',
        nonRetryableErrorTypes: [...NON_RETRYABLE, FailureType.ThingSpaceOutcomeUnknown],
      },
    }),
  );
}

/** Runs a retried submit; an unknown outcome comes back as its evidence instead of a request id. */
export async function submitOrEvidence(
  submit: () => Promise<{ requestId: string }>,
): Promise<{ requestId: string } | { evidence: OutcomeEvidence }> {
  try {
    return await submit();
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.type === FailureType.ThingSpaceOutcomeUnknown) {
      const details = cause.details?.[0] as Partial<OutcomeEvidence> | undefined;
      return { evidence: { ...details, observed: details?.observed ?? cause.message } };
    }
    throw err;
  }
}

/** How long a submit is retried while ThingSpace is unavailable (a several-minute outage is waited out). */
const SUBMIT_RETRY_BUDGET_MS = 60 * 60_000;

/**
 * For runs that started before EVIDENCE_PATCH only: the submit loop they were written against. Retries
 * `ThingSpaceUnavailable` with capped exponential backoff honouring Retry-After; an unknown outcome
 * (`ThingSpaceOutcomeUnknown`) returns no request id. An attempt that ended with no answer at all (its
 * worker died) is no longer sent again (patch `no-resend-unanswered`); histories that hold such a resend
 * from before the patch replay it. `resendWhenUnanswered` is kept for those histories.
 */
export async function submitOrUnknown(
  submit: () => Promise<{ requestId: string }>,
  { resendWhenUnanswered }: { resendWhenUnanswered: boolean },
): Promise<{ requestId?: string }> {
  const deadline = Date.now() + SUBMIT_RETRY_BUDGET_MS;
  let backoffMs = 2_000;
  let resent = false;
  for (;;) {
    try {
      return await submit();
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      const cause = err.cause;
      const unanswered = !(cause instanceof ApplicationFailure) || cause.type === FailureType.InternalError;
      // An attempt that ended without an answer may have reached ThingSpace: never resent any more. Runs
      // whose history already holds such a resend replay it.
      if (unanswered && (!resendWhenUnanswered || patched('no-resend-unanswered'))) {
        log.warn('Submit ended without an answer; not resending it', { error: String(cause?.message ?? cause) });
        return {};
      }
      if (cause instanceof ApplicationFailure && cause.type === FailureType.ThingSpaceOutcomeUnknown) return {};
      if (resent && cause instanceof ApplicationFailure && cause.type === FailureType.ThingSpaceRejected) {
        // The first attempt may have reached ThingSpace before its worker died: the devices have moved.
        log.warn('A resent submit was refused; the first attempt may have been carried out', {});
        return {};
      }
      if (unanswered) {
        resent = true;
        log.warn('Submit ended without an answer; sending it again', { error: String(cause?.message ?? cause) });
        continue;
      }
      if (!(cause instanceof ApplicationFailure) || cause.type !== FailureType.ThingSpaceUnavailable) throw err;
      const retryAfter = cause.nextRetryDelay === undefined ? undefined : msToNumber(cause.nextRetryDelay);
      const waitMs = Math.max(retryAfter ?? 0, backoffMs);
      if (Date.now() + waitMs > deadline) {
        throw ApplicationFailure.create({
          type: FailureType.ThingSpaceUnavailable,
          nonRetryable: true,
          message: `ThingSpace stayed unavailable for an hour: ${cause.message}`,
          cause: err,
        });
      }
      await sleep(waitMs);
      backoffMs = Math.min(backoffMs * 2, 60_000);
    }
  }
}
