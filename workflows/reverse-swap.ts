/**
 * The compensation of an eidDeviceSwap. eid-device-swap.txt offers no undo; the only operation that
 * moves a line back is another swap in the other direction: built from the request and the device list
 * (`reverseSwapRequest`, pure), sent by the `reverseEidDeviceSwap` activity, and awaited by its own
 * identifier-change callback. Workflow code: deterministic, no I/O.
 */
import { ApplicationFailure, condition } from '@temporalio/workflow';
import {
  FailureType,
  validateEidDeviceSwap,
  type CompensationOutcome,
  type DeviceId,
  type EidDeviceSwapRequest,
  type SwapStep,
} from '../contracts/index.js';
import { storeActivities, thingspaceActivities } from './saga/activities.js';
import { invalidRequest } from './saga/failures.js';
import type { Compensation, RequestSaga } from './saga/request-saga.js';
import { StepTracker, type StepRules } from './saga/steps.js';

const thingspace = thingspaceActivities('1 minute');

const lower = (ids: DeviceId[]): DeviceId[] => ids.map((d) => ({ kind: d.kind.toLowerCase(), id: d.id }));
const pick = (ids: DeviceId[], kind: string): DeviceId | undefined => ids.find((d) => d.kind === kind);

/** What the forward swap is known to have done. */
export interface ForwardOutcome {
  /** The replacement's identifiers as the identifier-change callback (or the device list) reported them. */
  swappedIn: DeviceId[] | undefined;
  /** The original device's new line as the GoToState callback (or the device list) reported it. */
  swappedOut: DeviceId[] | undefined;
  /** Whether the original ICCID was deactivated. */
  originalLineDeactivated: boolean;
}

/**
 * The swap that puts the original device back in:
 * - out: the replacement, which now carries the MDN — the page requires its MDN, EID, IMEI and ICCID;
 *   identifiers the callback did not report come from the forward request (the MDN "is transferred to
 *   the newly installed device");
 * - in: the original device by EID and IMEI, plus an ICCID when it has an active line ("If you are
 *   installing a device that already has an active line of service, you must also specify the device's
 *   ICCID"): its new line after GoToState, or its original one if that was never deactivated;
 * - the same account, mdnZipCode, service, state, plan, IP pool and SM-SR.
 */
export function reverseSwapRequest(request: EidDeviceSwapRequest, forward: ForwardOutcome): EidDeviceSwapRequest {
  const reported = lower(forward.swappedIn ?? []);
  const original = lower(request.deviceToSwapOut);
  const replacement = lower(request.deviceToSwapIn);
  const deviceToSwapOut = ['mdn', 'eid', 'imei', 'iccid'].flatMap((kind) => {
    const found = pick(reported, kind) ?? pick(kind === 'mdn' ? original : replacement, kind);
    return found ? [found] : [];
  });
  const newLine = forward.swappedOut ? pick(lower(forward.swappedOut), 'iccid') : undefined;
  const activeIccid = newLine ?? (forward.originalLineDeactivated ? undefined : pick(original, 'iccid'));
  const deviceToSwapIn = [pick(original, 'eid'), pick(original, 'imei'), activeIccid].filter(
    (d): d is DeviceId => d !== undefined,
  );
  const { options: _options, ...body } = request;
  return { ...body, deviceToSwapOut, deviceToSwapIn };
}

const mentions = (ids: DeviceId[] | undefined, device: DeviceId | undefined): boolean =>
  device !== undefined &&
  (ids ?? []).some(
    (d) => d.kind.toLowerCase() === device.kind.toLowerCase() && d.id.toLowerCase() === device.id.toLowerCase(),
  );

/**
 * The reverse swap's one awaited step, its identifier change: its result names the original device (the
 * MDN moved back); a failed CarrierService callback naming the replacement's EID is about it too — the
 * page's deactivation callbacks carry only IMEI and ICCID.
 */
export function reverseSwapRules(request: EidDeviceSwapRequest): StepRules<'identifierChange'> {
  const originalEid = request.deviceToSwapOut.find((d) => d.kind.toLowerCase() === 'eid');
  const replacementEid = request.deviceToSwapIn.find((d) => d.kind.toLowerCase() === 'eid');
  return {
    steps: ['identifierChange'],
    stepOf(event) {
      if (event.service !== 'CarrierService') return undefined;
      if (event.status === 'success') {
        return event.type === 'identifierChange' && mentions(event.resultDeviceIds, originalEid)
          ? 'identifierChange'
          : undefined;
      }
      const failureOfIt = event.type === 'identifierChange' || event.type === 'unknown';
      return failureOfIt && mentions(event.deviceIds, replacementEid) ? 'identifierChange' : undefined;
    },
    names: () => true,
  };
}

const failed = (type: string, message: string, details: object) =>
  ApplicationFailure.create({ type, nonRetryable: true, message, details: [details] });

/**
 * Undoes the swap with a swap in the other direction, once the MDN has moved (identifier change);
 * before that, nothing of the line moved and there is nothing to undo. Waits for the reverse swap's
 * identifier-change callback only — the outcome that puts the MDN back — then the device list.
 */
export function reverseSwap(saga: RequestSaga<SwapStep>, request: EidDeviceSwapRequest): Compensation {
  const name = 'reverseEidDeviceSwap';
  const { steps } = saga;
  const state = (step: SwapStep) => steps.states[step].state;
  const originalEid = request.deviceToSwapOut.find((d) => d.kind.toLowerCase() === 'eid');

  /**
   * The MDN did not move, so no swap needs reversing, unless the original line was deactivated on the
   * way: a swap cannot bring a line back, and saying "nothing to undo" would hide a device without service.
   */
  const mdnStayed = (): CompensationOutcome => {
    if (state('deactivation') === 'confirmed') {
      const iccid = request.deviceToSwapOut.find((d) => d.kind === 'iccid')?.id;
      throw failed(
        FailureType.CompensationFailed,
        `The original line (iccid ${iccid}) was deactivated but the MDN did not move; a swap cannot restore it, restore the line by hand`,
        { deactivatedIccid: iccid },
      );
    }
    return { compensation: name, outcome: 'nothingToUndo', detail: 'the MDN never left the original device' };
  };

  /** What the forward swap did, from the device list (and, for runs before the patch, its callbacks). */
  const forwardOutcome = async (): Promise<ForwardOutcome | undefined> => {
    if (saga.needsEvidence) {
      // Built from the request and the device list only: a callback's identifiers may be another operation's.
      const { confirmed } = await thingspace.reconcileEidDeviceSwap(request);
      if (confirmed.deactivation && state('deactivation') !== 'confirmed') steps.confirm('deactivation');
      if (!confirmed.identifierChange) {
        if (state('identifierChange') === 'confirmed') {
          throw failed(
            FailureType.CompensationFailed,
            'The identifier change was reported, but the device list does not show the MDN on the replacement; the reverse swap cannot be built from evidence, reverse it by hand',
            { step: 'identifierChange' },
          );
        }
        return undefined;
      }
      const deactivated = state('deactivation') === 'confirmed';
      return {
        swappedIn: confirmed.identifierChange,
        swappedOut: confirmed.goToState,
        originalLineDeactivated: deactivated,
      };
    }
    if (state('identifierChange') === 'failed') return undefined;
    let swappedIn = steps.results.identifierChange?.deviceIds;
    if (state('identifierChange') !== 'confirmed') {
      // A timed-out step may still have happened upstream (STYLE.md §5): ask the device list once more.
      const { confirmed } = await thingspace.reconcileEidDeviceSwap(request);
      if (confirmed.identifierChange) swappedIn = confirmed.identifierChange;
      if (confirmed.goToState && state('goToState') !== 'confirmed') steps.confirm('goToState', confirmed.goToState);
      if (confirmed.deactivation && state('deactivation') !== 'confirmed') steps.confirm('deactivation');
      if (!confirmed.identifierChange) return undefined;
    }
    return {
      swappedIn,
      swappedOut: state('goToState') === 'confirmed' ? steps.results.goToState?.deviceIds : undefined,
      originalLineDeactivated: state('deactivation') === 'confirmed',
    };
  };

  const run = async (): Promise<CompensationOutcome> => {
    const forward = await forwardOutcome();
    if (!forward) return mdnStayed();
    const reverse = reverseSwapRequest(request, forward);
    const invalid = validateEidDeviceSwap(reverse);
    if (invalid.length > 0) throw invalidRequest(invalid, 'The reverse swap cannot be built: ');
    const mdn = reverse.deviceToSwapOut.find((d) => d.kind === 'mdn')?.id;
    const detail = `MDN ${mdn} moved back to the original device (eid ${originalEid?.id})`;

    const step = new StepTracker(reverseSwapRules(request));
    saga.divertCallbacks((event) => step.apply(event));
    const submitted = await thingspace.reverseEidDeviceSwap(reverse);
    if (submitted.alreadyUndone) {
      step.confirm('identifierChange');
      return { compensation: name, outcome: 'undone', detail: `${detail} before the reverse swap was sent` };
    }
    if (submitted.requestId) {
      saga.listRequestId(submitted.requestId);
      await storeActivities.addCorrelationKeys([`requestid:${submitted.requestId}`]);
    }
    const withId = submitted.requestId ? { requestId: submitted.requestId } : {};
    const inTime = await condition(() => step.waiting().length === 0, saga.stepTimeout);
    const { fault } = step.states.identifierChange;
    if (step.failed()) {
      throw failed(
        FailureType.StepFailed,
        `The reverse swap's identifier change failed: ${fault?.code}: ${fault?.message}`,
        { step: 'identifierChange', fault, ...withId },
      );
    }
    if (!inTime) {
      const { confirmed } = await thingspace.reconcileEidDeviceSwap(reverse);
      if (!confirmed.identifierChange) {
        throw failed(
          FailureType.StepTimedOut,
          'No identifier-change callback for the reverse swap within the step timeout, and the device list does not show the MDN back on the original device',
          { steps: ['identifierChange'], ...withId },
        );
      }
      step.confirm('identifierChange');
    }
    return { compensation: name, outcome: 'undone', detail, ...withId };
  };
  return { name, run };
}
