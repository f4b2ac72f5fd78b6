/**
 * Activities: every side effect of the sagas. Built by a factory over injected dependencies, so the
 * worker wires the real ThingSpace client and store, and tests can pass others (STYLE.md §2).
 */
import { activityInfo, cancellationSignal, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { deviceKey, FailureType, type DeviceId, type EidDeviceSwapRequest } from '../contracts/index.js';
import type { Store } from '../store/index.js';
import { rethrowAtActivityBoundary } from './errors.js';

/** The ThingSpace calls the activities need; the client in thingspace/ provides them. */
export interface ThingSpacePort {
  eidDeviceSwap(body: Omit<EidDeviceSwapRequest, 'options'>, signal?: AbortSignal): Promise<{ requestId: string }>;
}

export interface ActivityDeps {
  thingspace: ThingSpacePort;
  store: Store;
}

/** The ThingSpace body of a saga request: everything but our `options`. */
function thingspaceBody<T extends { options?: unknown }>(request: T): Omit<T, 'options'> {
  const { options: _options, ...body } = request;
  return body;
}

export function createActivities({ thingspace, store }: ActivityDeps) {
  const workflowId = (): string => {
    const id = activityInfo().workflowExecution?.workflowId;
    if (!id) throw ApplicationFailure.nonRetryable('This activity runs only inside a saga', FailureType.InternalError);
    return id;
  };

  return {
    /**
     * Claims the saga's devices so that a device is in at most one open operation, and records their
     * identifiers for callback correlation. Idempotent for the same saga; `DeviceBusy` (not retried)
     * when another open saga holds one.
     */
    async claimDevices(devices: DeviceId[]): Promise<void> {
      const result = await store.claimDevices(workflowId(), [...new Set(devices.map(deviceKey))]);
      if (!result.ok) {
        throw ApplicationFailure.create({
          type: FailureType.DeviceBusy,
          nonRetryable: true,
          message: `Device ${result.busy.map((b) => b.key).join(', ')} is part of another open operation`,
          details: [{ busy: result.busy }],
        });
      }
    },

    /** Adds correlation keys (ThingSpace request ids) to the saga; re-opens parked callbacks that match. */
    async addCorrelationKeys(keys: string[]): Promise<number> {
      return store.addCorrelationKeys(workflowId(), keys);
    },

    /** Frees the saga's devices and keys. Idempotent: releasing twice, or nothing, succeeds. */
    async releaseDevices(): Promise<void> {
      await store.releaseWorkflow(workflowId());
    },

    /**
     * POST /devices/actions/eidDeviceSwap. Retried by Temporal on 5xx/429/network (ThingSpace's
     * Retry-After honoured); a 4xx ends the step with ThingSpace's error code, not retried.
     */
    async submitEidDeviceSwap(request: EidDeviceSwapRequest): Promise<{ requestId: string }> {
      try {
        const { requestId } = await thingspace.eidDeviceSwap(thingspaceBody(request), cancellationSignal());
        log.info('ThingSpace accepted the swap', { requestId });
        return { requestId };
      } catch (err) {
        rethrowAtActivityBoundary(err);
      }
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
