/**
 * Activities: every side effect of the sagas. Built by a factory over injected dependencies, so the
 * worker wires the real ThingSpace client and store, and tests can pass others (STYLE.md §2).
 */
import { activityInfo, cancellationSignal, getClient, heartbeat, log, sleep } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  ACTIVATION_INTERVAL_MS,
  deviceKey,
  FailureType,
  type ChangeDeviceIdentifierRequest,
  type DeviceId,
  type EidDeviceSwapRequest,
  type ProfileSubmission,
  type RetentionPurge,
} from '../contracts/index.js';
import type { ThingSpaceClient } from '../thingspace/index.js';
import type { SagaRef, Store } from '../store/index.js';
import type { OperationStore } from '../store/operations.js';
import { createCompensations } from './compensate.js';
import { createOperationActivities } from './operations.js';
import { rethrowAtActivityBoundary } from './errors.js';
import { submitWithIntent } from './submit.js';
import {
  reconcileChangeDeviceIdentifier,
  reconcileDevices,
  reconcileEidDeviceSwap,
  reconcileProfiles,
  type DeviceLister,
  type DeviceReconciliation,
  type DeviceReconciliationInput,
  type IdentifierReconciliation,
  type ProfileReconciliation,
  type ReconcileOptions,
  type SwapReconciliation,
} from './reconcile.js';

/** The ThingSpace calls the activities need; the client in thingspace/ provides them. */
export type ThingSpacePort = DeviceLister &
  Pick<
    ThingSpaceClient,
    'eidDeviceSwap' | 'changeDeviceIdentifier' | 'changeProfileServicePlan' | 'activateDeviceProfiles'
  >;

/**
 * The activation is sent with `addressLine1`, as the page's example and Verizon's SDK spell it; the page's
 * table spells it `addresLine1`, which a request may use (contracts/bulk-validation.ts accepts either).
 */
export function withAddressLine1<T extends { primaryPlaceOfUse?: unknown }>(body: T): T {
  const place = body.primaryPlaceOfUse as { address?: Record<string, unknown> } | undefined;
  const address = place?.address;
  if (!address || !('addresLine1' in address)) return body;
  const { addresLine1, ...rest } = address;
  return { ...body, primaryPlaceOfUse: { ...place, address: { addressLine1: addresLine1, ...rest } } };
}

export interface ActivityDeps {
  thingspace: ThingSpacePort;
  store: Store;
  /** The device sets of bulk operations; bulk sagas need it, the others do not. */
  operations?: OperationStore;
  /** Whether a saga run still runs; default: asks Temporal through the activity's client. */
  sagaIsOpen?: (saga: SagaRef) => Promise<boolean>;
}

/** The ThingSpace body of a saga request: everything but our `options`. */
function thingspaceBody<T extends { options?: unknown }>(request: T): Omit<T, 'options'> {
  const { options: _options, ...body } = request;
  return body;
}

async function askTemporal({ workflowId, runId }: SagaRef): Promise<boolean> {
  try {
    const description = await getClient().workflow.getHandle(workflowId, runId).describe();
    return description.status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** "Device imei:1 is" / "Devices imei:1, imei:2, imei:3 and 997 more are". */
function describeBusy(keys: string[]): string {
  if (keys.length === 1) return `Device ${keys[0]} is`;
  const shown = keys.slice(0, 3).join(', ');
  return `Devices ${shown}${keys.length > 3 ? ` and ${keys.length - 3} more` : ''} are`;
}

/** The saga run this activity works for. */
function currentSaga(): SagaRef {
  const execution = activityInfo().workflowExecution;
  if (!execution)
    throw ApplicationFailure.nonRetryable('This activity runs only inside a saga', FailureType.InternalError);
  return { workflowId: execution.workflowId, runId: execution.runId };
}

/** Reconciliation inside an activity: cancellable, heartbeating its progress, resuming an earlier attempt's. */
function reconcileOptions(activity: string, input: DeviceReconciliationInput): ReconcileOptions {
  const info = activityInfo();
  const resume: unknown = info.heartbeatDetails;
  if (resume !== undefined) {
    log.info('Reconciliation resumes from the progress of an earlier attempt', {
      activity,
      attempt: info.attempt,
      devices: input.devices.length,
    });
  }
  return { signal: cancellationSignal(), resume, onProgress: (progress) => heartbeat(progress) };
}

export function createActivities({ thingspace, store, operations, sagaIsOpen = askTemporal }: ActivityDeps) {
  /**
   * Waits for the account's next activation slot. The slot is reserved in the operation store, so the
   * limit holds across every operation and worker of the account.
   */
  async function activationSlot(accountName: string): Promise<void> {
    if (!operations) return;
    const wait = await operations.reserveSlot(`activate:${accountName}`, ACTIVATION_INTERVAL_MS);
    if (wait > 0) await sleep(wait);
  }

  /**
   * Releases the claims of holders that have closed without releasing (terminated, timed out): a
   * device must not stay busy because of a saga that no longer runs. Returns how many it released.
   */
  async function releaseClosedHolders(holders: SagaRef[]): Promise<number> {
    let released = 0;
    for (const holder of holders) {
      if (await sagaIsOpen(holder)) continue;
      await store.releaseSaga(holder);
      log.warn('Released the devices of a saga that closed without releasing them', {
        holderWorkflowId: holder.workflowId,
        holderRunId: holder.runId,
      });
      released += 1;
    }
    return released;
  }

  return {
    ...createCompensations({ thingspace, store }),
    ...createOperationActivities(operations),

    /**
     * The retention purge: delivered callbacks and tombstones older than `olderThanMs`, and closed bulk
     * operations with their devices. Idempotent (what is gone stays gone).
     */
    async purgeExpired(input: { olderThanMs: number }): Promise<RetentionPurge> {
      const olderThan = new Date(Date.now() - input.olderThanMs);
      const inbox = await store.purgeDelivered(olderThan);
      const closed = operations ? await operations.purgeClosed(olderThan) : { operations: 0, devices: 0 };
      const purged = { ...inbox, ...closed };
      log.info('Retention purge', { olderThan: olderThan.toISOString(), ...purged });
      return purged;
    },

    /**
     * Claims the saga's devices so that a device is in at most one open operation of the account, and
     * records their identifiers for callback correlation. With `accountName` the keys are scoped by the
     * account (callbacks of other accounts never match them) and the saga's request ids registered later
     * are too; without it (sagas started before accounts were recorded) they match callbacks of any
     * account. Idempotent for the same saga; `DeviceBusy` (not retried) when another open saga holds one.
     */
    async claimDevices(devices: DeviceId[], accountName?: string): Promise<void> {
      const saga = currentSaga();
      const keys = [...new Set(devices.map(deviceKey))];
      let result = await store.claimDevices(saga, keys, accountName);
      if (!result.ok) {
        const holders = [...new Map(result.busy.map((b) => [`${b.workflowId}\n${b.runId}`, b])).values()];
        if ((await releaseClosedHolders(holders)) > 0) result = await store.claimDevices(saga, keys, accountName);
      }
      if (!result.ok) {
        throw ApplicationFailure.create({
          type: FailureType.DeviceBusy,
          nonRetryable: true,
          // A bulk shard may find hundreds busy: the message names a few, the details at most 100.
          message: `${describeBusy(result.busy.map((b) => b.key))} part of another open operation`,
          details: [
            {
              busyCount: result.busy.length,
              busy: result.busy.slice(0, 100).map(({ key, workflowId }) => ({ key, workflowId })),
            },
          ],
        });
      }
    },

    /**
     * Adds correlation keys (ThingSpace request ids, `requestid:<id>`) to the saga, scoped by the account
     * its claim recorded; re-opens parked callbacks that match.
     */
    async addCorrelationKeys(keys: string[]): Promise<number> {
      return store.addCorrelationKeys(currentSaga(), keys);
    },

    /** Frees the saga's devices and keys. Idempotent: releasing twice, or nothing, succeeds. */
    async releaseDevices(): Promise<void> {
      await store.releaseSaga(currentSaga());
    },

    /**
     * Reads from ThingSpace's device list which swap steps happened (for steps whose callback never
     * came). Read-only, so retried freely.
     */
    async reconcileEidDeviceSwap(request: EidDeviceSwapRequest): Promise<SwapReconciliation> {
      try {
        return await reconcileEidDeviceSwap(thingspace, request, cancellationSignal());
      } catch (err) {
        rethrowAtActivityBoundary(err);
      }
    },

    /** POST /devices/actions/eidDeviceSwap (see activities/submit.ts for retries and lost answers). */
    async submitEidDeviceSwap(request: EidDeviceSwapRequest): Promise<{ requestId: string }> {
      return submitWithIntent(store, 'swap', () =>
        thingspace.eidDeviceSwap(thingspaceBody(request), cancellationSignal()),
      );
    },

    /** PUT /devices/{serviceType}/actions/deviceId (see activities/submit.ts for retries and lost answers). */
    async submitChangeDeviceIdentifier(request: ChangeDeviceIdentifierRequest): Promise<{ requestId: string }> {
      const { serviceType, ...body } = thingspaceBody(request);
      return submitWithIntent(store, 'identifier change', () =>
        thingspace.changeDeviceIdentifier(serviceType, body, cancellationSignal()),
      );
    },

    /** Reads from the device list whether an identifier change happened (its callback never came). */
    async reconcileChangeDeviceIdentifier(request: ChangeDeviceIdentifierRequest): Promise<IdentifierReconciliation> {
      try {
        return await reconcileChangeDeviceIdentifier(thingspace, request, cancellationSignal());
      } catch (err) {
        rethrowAtActivityBoundary(err);
      }
    },

    /** One bulk shard's request: POST /devices/profile/actions/serviceplan or …/activate. */
    async submitProfileOperation(submission: ProfileSubmission): Promise<{ requestId: string }> {
      const what = `${submission.operation} request for ${submission.body.devices.length} devices`;
      // Before the intent is written: a worker that dies while waiting has sent nothing.
      if (submission.operation === 'activateDeviceProfiles') await activationSlot(submission.body.accountName);
      return submitWithIntent(store, what, () =>
        submission.operation === 'changeProfileServicePlan'
          ? thingspace.changeProfileServicePlan(submission.body, cancellationSignal())
          : thingspace.activateDeviceProfiles(withAddressLine1(submission.body), cancellationSignal()),
      );
    },

    /**
     * Reads the device list for the devices of a shard that got no callback, and says which of them show
     * the operation's effect, by the key of their first identifier. Read-only, so retried freely; heartbeats
     * its progress after each list request and a retried attempt resumes from it.
     */
    async reconcileProfiles(input: DeviceReconciliationInput): Promise<ProfileReconciliation> {
      try {
        return await reconcileProfiles(thingspace, input, reconcileOptions('reconcileProfiles', input));
      } catch (err) {
        rethrowAtActivityBoundary(err);
      }
    },

    /**
     * Reconciles a whole bulk operation at once: more than a few devices are found in one scan of the
     * account (`largestDeviceIdSeen` from 0, one request per 500 lines or so), whatever their shard. Says
     * which devices, by index into `input.devices`, show the operation's effect. Read-only, so retried
     * freely; heartbeats `ReconcileProgress` after each list request and a retried attempt resumes from it
     * rather than scan again. Needs a `heartbeatTimeout` longer than one list request with a login.
     */
    async reconcileBulkOperation(input: DeviceReconciliationInput): Promise<DeviceReconciliation> {
      try {
        return await reconcileDevices(thingspace, input, reconcileOptions('reconcileBulkOperation', input));
      } catch (err) {
        rethrowAtActivityBoundary(err);
      }
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
