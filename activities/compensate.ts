/**
 * Compensations: activities that undo a saga step (STYLE.md §5). Each is idempotent — when there is
 * nothing (left) to undo it succeeds without acting — so Temporal may retry it freely.
 */
import { cancellationSignal, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType, type EidDeviceSwapRequest } from '../contracts/index.js';
import type { SubmitIntents } from '../store/index.js';
import { rethrowAtActivityBoundary } from './errors.js';
import type { ThingSpacePort } from './index.js';
import { reconcileEidDeviceSwap } from './reconcile.js';
import { submitWithIntent } from './submit.js';

/** What submitting a reverse swap did. */
export interface ReverseSwapSubmission {
  /** The reverse swap's request id; absent when ThingSpace's answer was lost (see `outcomeUnknown`). */
  requestId?: string;
  /** The device list already shows the MDN back on the original device: nothing was sent. */
  alreadyUndone?: boolean;
  /** ThingSpace may have accepted the reverse swap but its answer was lost; it was not resent. */
  outcomeUnknown?: boolean;
}

export function createCompensations({ thingspace, store }: { thingspace: ThingSpacePort; store: SubmitIntents }) {
  return {
    /**
     * Undoes an eidDeviceSwap by the only means eid-device-swap.txt offers: another swap, in the other
     * direction (`reverse` is built by the saga). First reads the device list: when the MDN is already
     * back on the original device, there is nothing to undo and nothing is sent, which makes a retry of
     * this activity safe. Like the forward submit, a reverse swap whose answer was lost is not resent.
     */
    async reverseEidDeviceSwap(reverse: EidDeviceSwapRequest): Promise<ReverseSwapSubmission> {
      let confirmed;
      try {
        ({ confirmed } = await reconcileEidDeviceSwap(thingspace, reverse, cancellationSignal()));
      } catch (err) {
        rethrowAtActivityBoundary(err);
      }
      if (confirmed.identifierChange) {
        log.info('The device list already shows the swap undone; not sending the reverse swap', {});
        return { alreadyUndone: true };
      }
      const { options: _options, ...body } = reverse;
      try {
        return await submitWithIntent(store, 'reverse swap', () =>
          thingspace.eidDeviceSwap(body, cancellationSignal()),
        );
      } catch (err) {
        if (err instanceof ApplicationFailure && err.type === FailureType.ThingSpaceOutcomeUnknown) {
          log.warn('The reverse swap may have been accepted already; not resending it', {});
          return { outcomeUnknown: true };
        }
        throw err;
      }
    },
  };
}
