/**
 * The steps of an eidDeviceSwap as its callbacks report them (eid-device-swap.txt): the deactivation of
 * the original line and the identifier change (CarrierService), and the GoToState of the original device
 * (StateService), in any order. Pure: no Temporal (test/unit/step-tracker.test.ts).
 */
import {
  SWAP_STEPS,
  type CallbackEvent,
  type DeviceId,
  type EidDeviceSwapRequest,
  type SwapStep,
} from '../contracts/index.js';
import { mentionsAny } from './saga/callbacks.js';
import type { StepRules } from './saga/steps.js';

const isSwapStep = (type: string): type is SwapStep => (SWAP_STEPS as readonly string[]).includes(type);

/** Which waiting step a failure callback without a deviceResponse is about, by the service that sent it. */
function stepOfFailure(event: CallbackEvent, waiting: (step: SwapStep) => boolean): SwapStep | undefined {
  if (isSwapStep(event.type)) return event.type;
  // The page: deactivation and identifier change come from CarrierService, GoToState from StateService;
  // of the two CarrierService callbacks only the identifier change's example carries the EID.
  const namesEid = event.deviceIds.some((d) => d.kind === 'eid');
  const candidates: SwapStep[] =
    event.service === 'StateService'
      ? ['goToState']
      : namesEid
        ? ['identifierChange', 'deactivation']
        : ['deactivation', 'identifierChange'];
  return candidates.find(waiting);
}

/** What each step's success must name: the swapped-out device, the replacement, the swapped-out device. */
export function swapStepRules(request: EidDeviceSwapRequest): StepRules<SwapStep> {
  const original: DeviceId[] = request.deviceToSwapOut ?? [];
  const replacement: DeviceId[] = request.deviceToSwapIn ?? [];
  return {
    steps: SWAP_STEPS,
    stepOf(event, states) {
      if (event.status === 'failed') return stepOfFailure(event, (s) => states[s].state === 'waiting');
      return isSwapStep(event.type) ? event.type : undefined;
    },
    names(step, event) {
      if (step === 'deactivation') return mentionsAny(event.deviceIds, original);
      if (step === 'identifierChange') return mentionsAny(event.resultDeviceIds, replacement);
      return mentionsAny([...event.deviceIds, ...(event.resultDeviceIds ?? [])], original);
    },
  };
}
