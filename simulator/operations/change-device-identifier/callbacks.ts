/**
 * The one CarrierService callback in the page's shape, and completing the change when it is generated: its
 * effect on the inventory (`effects.ts`), or the failure decided at submit, injected, or found then.
 */
import type { DeviceId } from '../../../contracts/types.js';
import type { CallbackJob } from '../../platform/delivery.js';
import type { CallbackFaults, StepFailure } from '../../platform/faults.js';
import { withServicePrefix } from '../../platform/util.js';
import { applyChange, applyProblem } from './effects.js';
import {
  CHANGE_IDENTIFIER_STEP,
  type ChangeIdentifierDeps,
  type ChangeIdentifierRecord,
  type DeliveryPlan,
} from './types.js';

/** Top-level `deviceIds`: the device as the request named it, kinds upper-case as in the page's example. */
function callbackDeviceIds(record: ChangeIdentifierRecord): DeviceId[] {
  return record.deviceIds.map(({ id, kind }) => ({ id, kind: kind.toUpperCase() }));
}

function successContent(record: ChangeIdentifierRecord): Record<string, unknown> {
  return {
    requestId: record.requestId,
    deviceIds: callbackDeviceIds(record),
    deviceResponse: {
      changeIdentifierResponse: { deviceIds: record.newDeviceIds, servicePlan: record.servicePlan },
    },
    status: 'Success',
  };
}

function failureContent(record: ChangeIdentifierRecord, failure: StepFailure): Record<string, unknown> {
  const faultcode = withServicePrefix('CarrierService', failure.faultcode);
  return {
    requestId: record.requestId,
    deviceIds: callbackDeviceIds(record),
    status: 'Failed',
    faultResponse: { faultcode, faultstring: failure.faultstring },
  };
}

/** The callback content, a success or the given failure; changes nothing (stray callbacks reuse it). */
export function changeIdentifierContent(
  record: ChangeIdentifierRecord,
  failure?: StepFailure,
): Record<string, unknown> {
  return failure ? failureContent(record, failure) : successContent(record);
}

/** Completes (or fails) the change and builds its callback. */
export function generate(
  deps: ChangeIdentifierDeps,
  record: ChangeIdentifierRecord,
  faults: CallbackFaults,
  plan: DeliveryPlan,
): CallbackJob {
  const failure = faults.fail.changeDeviceIdentifier ?? record.failure ?? applyProblem(deps, record);
  let content: Record<string, unknown>;
  if (failure) {
    record.failure = failure;
    record.status = 'failed';
    content = failureContent(record, failure);
  } else {
    applyChange(deps, record);
    record.status = 'completed';
    content = successContent(record);
  }
  return {
    accountName: record.accountName,
    service: 'CarrierService',
    step: CHANGE_IDENTIFIER_STEP,
    requestId: record.requestId,
    content,
    ...plan,
  };
}
