/**
 * eidDeviceSwap saga (eid-device-swap.txt): validate → claim both devices → submit the swap → await the
 * three outcomes ThingSpace reports by callback, in any order (deactivation, identifier change,
 * GoToState), the device list at the step timeout → release the devices. A failed or timed-out step
 * follows `options.failurePolicy` (DESIGN.md §4, step 7): fail, hold for an operator decision, or
 * compensate by swapping the original device back in (reverse-swap.ts). The kernel (saga/) does the rest.
 */
import { condition, patched } from '@temporalio/workflow';
import {
  SWAP_STEPS,
  validateEidDeviceSwap,
  WORKFLOW_TYPES,
  type EidDeviceSwapRequest,
  type EidDeviceSwapResult,
  type SwapStep,
} from '../contracts/index.js';
import { reverseSwap } from './reverse-swap.js';
import { thingspaceActivities } from './saga/activities.js';
import { RequestSaga } from './saga/request-saga.js';
import { swapStepRules } from './swap-steps.js';

const thingspace = thingspaceActivities('1 minute');

/** eid-device-swap.txt: what the swap leaves to do. */
const PROFILE_FOLLOW_UP =
  'The eUICC profile status stays with the ICCID: the profile status of the original device does not move to the new device, which may need a profile download';

export async function eidDeviceSwap(request: EidDeviceSwapRequest): Promise<EidDeviceSwapResult> {
  const saga: RequestSaga<SwapStep> = new RequestSaga({
    operation: WORKFLOW_TYPES.eidDeviceSwap,
    noun: 'Swap',
    options: request.options,
    rules: swapStepRules(request),
    stepLabel: (step) => `Swap step ${step}`,
    // `hold` by default (DESIGN.md §4). Histories that reached a failure before that default existed have
    // no patch marker, so their replay stays on the `fail` path.
    defaultPolicy: () => (patched('hold-by-default') ? 'hold' : 'fail'),
    submit: (activities) => activities.submitEidDeviceSwap(request),
    reconcile: async (steps) => {
      const { confirmed } = await thingspace.reconcileEidDeviceSwap(request);
      for (const step of SWAP_STEPS) {
        const found = confirmed[step];
        if (steps.states[step].state === 'waiting' && found) steps.confirm(step, found);
      }
    },
    // The three outcomes come in any order: one step may fail while another is still under way. Undo only
    // what is known, so wait (one step timeout at most) for the steps still in flight.
    beforeCompensating: async (steps) => {
      const inFlight = () => steps.waiting().length > 0;
      if (inFlight()) await condition(() => !inFlight(), saga.stepTimeout);
      return 'compensate';
    },
    status: (steps) => ({ steps: steps.states }),
  });

  saga.validate(validateEidDeviceSwap(request));
  const devices = [...request.deviceToSwapOut, ...request.deviceToSwapIn];
  saga.tag(devices, request.accountName);

  return saga.run(devices, request.accountName, async () => {
    // Registered before the submit it undoes: a submit whose answer is lost may still swap upstream.
    saga.compensateWith(reverseSwap(saga, request));
    await saga.submit();
    await saga.settle();

    const { states, results } = saga.steps;
    return {
      accountName: request.accountName,
      // With an unknown submit outcome, the GoToState callback carries the request id the swap got.
      requestId: saga.requestId ?? states.goToState.requestId ?? 'unknown',
      callbackRequestIds: [...saga.callbackRequestIds].sort(),
      swappedInDevice: results.identifierChange?.deviceIds ?? request.deviceToSwapIn,
      swappedOutDevice: results.goToState?.deviceIds ?? [],
      steps: states,
      submittedAt: saga.submittedAt,
      completedAt: new Date().toISOString(),
      ...(saga.previousRequestIds.length > 0 ? { previousRequestIds: saga.previousRequestIds } : {}),
      ...(results.identifierChange?.profileStatus !== undefined
        ? { profileStatus: results.identifierChange.profileStatus }
        : {}),
      followUps: [PROFILE_FOLLOW_UP],
    };
  });
}
