/**
 * The swap's three callbacks in the page's shapes, and completing a step when its callback is generated:
 * the step's effect on the inventory (`effects.ts`), or its injected failure.
 */
import type { DeviceId, SwapStep } from '../../../contracts/types.js';
import type { CallbackJob, DeliveryTiming } from '../../platform/delivery.js';
import type { CallbackFaults, StepFailure } from '../../platform/faults.js';
import { withServicePrefix } from '../../platform/util.js';
import { applyStep } from './effects.js';
import { STEP_SERVICE, type StepPlan, type SwapDeps, type SwapRecord } from './types.js';

/** Top-level `deviceIds` of each callback, with the kind casing of the page's examples. */
function callbackDeviceIds(record: SwapRecord, step: SwapStep): DeviceId[] {
  const { swapOut, newLine } = record;
  switch (step) {
    case 'deactivation':
      return [
        { id: swapOut.imei, kind: 'imei' },
        { id: swapOut.iccid, kind: 'iccid' },
      ];
    case 'identifierChange':
      return [
        { id: swapOut.iccid, kind: 'Iccid' },
        { id: swapOut.imei, kind: 'Imei' },
        { id: swapOut.eid, kind: 'Eid' },
      ];
    case 'goToState':
      return [
        { id: newLine.iccid, kind: 'Iccid' },
        { id: swapOut.imei, kind: 'Imei' },
      ];
  }
}

function successContent(record: SwapRecord, step: SwapStep): Record<string, unknown> {
  const deviceIds = callbackDeviceIds(record, step);
  const requestId = record.callbackRequestIds[step];
  switch (step) {
    case 'deactivation':
      return { requestId, deviceIds, deviceResponse: { deactivateResponse: { deactivated: true } }, status: 'Success' };
    case 'identifierChange':
      return {
        requestId,
        deviceIds,
        deviceResponse: {
          changeIdentifierResponse: {
            deviceIds: [
              { id: record.swapIn.imei, kind: 'imei' },
              { id: record.swapIn.eid, kind: 'eid' },
              { id: record.swapIn.iccid, kind: 'iccid' },
            ],
            servicePlan: record.swapOut.servicePlan,
            smsrOid: record.smsrOid,
            profileStatus: '',
          },
        },
        status: 'Success',
      };
    case 'goToState':
      // The page's GoToState example has no `status` field.
      return {
        requestId,
        deviceIds,
        deviceResponse: {
          usageResponse: [],
          goToStateResponse: {
            deviceIds: deviceIds.map((d) => ({ ...d })),
            serviceName: record.serviceName,
            stateName: record.stateName,
          },
        },
      };
  }
}

function failureContent(record: SwapRecord, step: SwapStep, failure: StepFailure): Record<string, unknown> {
  const faultcode = withServicePrefix(STEP_SERVICE[step], failure.faultcode);
  return {
    requestId: record.callbackRequestIds[step],
    deviceIds: callbackDeviceIds(record, step),
    status: 'Failed',
    faultResponse: { faultcode, faultstring: failure.faultstring },
  };
}

/** One step's callback content, a success or the given failure; changes nothing (stray callbacks reuse it). */
export function swapStepContent(record: SwapRecord, step: SwapStep, failure?: StepFailure): Record<string, unknown> {
  return failure ? failureContent(record, step, failure) : successContent(record, step);
}

/** Completes (or fails) one step and builds its callback. */
export function generate(
  deps: SwapDeps,
  record: SwapRecord,
  plan: StepPlan,
  faults: CallbackFaults,
  timing: DeliveryTiming,
): CallbackJob {
  const failure = faults.fail[plan.step];
  let content: Record<string, unknown>;
  if (failure) {
    record.steps[plan.step] = 'failed';
    content = failureContent(record, plan.step, failure);
  } else {
    applyStep(deps, record, plan.step);
    record.steps[plan.step] = 'completed';
    content = successContent(record, plan.step);
  }
  return {
    accountName: record.accountName,
    service: STEP_SERVICE[plan.step],
    step: plan.step,
    requestId: record.callbackRequestIds[plan.step],
    content,
    duplicate: plan.duplicate,
    drop: plan.drop,
    timing,
  };
}
