/**
 * Compensations: activities that undo a saga step (STYLE.md §5). Each is idempotent — when there is
 * nothing (left) to undo it succeeds without acting — so Temporal may retry it freely.
 */
import { activityInfo, cancellationSignal, log } from '@temporalio/activity';
import type { EidDeviceSwapRequest } from '../contracts/index.js';
import { rethrowAtActivityBoundary } from './errors.js';
import type { ThingSpacePort } from './index.js';
import { reconcileEidDeviceSwap } from './reconcile.js';
import { submitMayHaveHappened } from './submit.js';

/** What submitting a reverse swap did. */
export interface ReverseSwapSubmission {
  /** The reverse swap's request id; absent when ThingSpace's answer was lost (see `outcomeUnknown`). */
  requestId?: string;
  /** The device list already shows the MDN back on the original device: nothing was sent. */
  alreadyUndone?: boolean;
  /** ThingSpace may have accepted the reverse swap but its answer was lost; it was not resent. */
  outcomeUnknown?: boolean;
}

export function createCompensations({ thingspace }: { thingspace: ThingSpacePort }) {
  return {
    /**
     * Undoes an eidDeviceSwap by the only means eid-device-swap.txt offers: another swap, in the other
     * direction (`reverse` is built by the saga). First reads the device list: when the MDN is already
     * back on the original device, there is nothing to undo and nothing is sent, which makes a retry of
     * this activity safe. Like the forward submit, a reverse swap whose answer was lost is not resent.
     */
    async reverseEidDeviceSwap(reverse: EidDeviceSwapRequest): Promise<ReverseSwapSubmission> {
      try {
        const { confirmed } = await reconcileEidDeviceSwap(thingspace, reverse, cancellationSignal());
        if (confirmed.identifierChange) {
          log.info('The device list already shows the swap undone; not sending the reverse swap', {});
          return { alreadyUndone: true };
        }
        const { options: _options, ...body } = reverse;
        const { requestId } = await thingspace.eidDeviceSwap(body, cancellationSignal());
        log.info('ThingSpace accepted the reverse swap', { requestId });
        return { requestId };
      } catch (err) {
        if (submitMayHaveHappened(err, activityInfo().attempt)) {
          log.warn('The reverse swap may have been accepted already; not resending it', {
            errorCode: err.code,
          });
          return { outcomeUnknown: true };
        }
        rethrowAtActivityBoundary(err);
      }
    },
  };
}
