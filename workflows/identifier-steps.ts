/**
 * The one step of a changeDeviceIdentifier as its callback reports it (change-device-identifier.txt): the
 * CarrierService callback with the change's result or its failure (whose `deviceResponse` may be empty).
 * Pure: no Temporal (test/unit/step-tracker.test.ts).
 */
import type { ChangeDeviceIdentifierRequest, DeviceId } from '../contracts/index.js';
import { mentionsAny } from './saga/callbacks.js';
import type { StepRules } from './saga/steps.js';

const isNumber = (d: DeviceId) => ['mdn', 'msisdn'].includes(d.kind.toLowerCase());

/**
 * A success must name the change: the new identifiers (`deviceIdsTo`) among its results, or, for a
 * ChangeMSISDN, the device by an identifier that does not change.
 */
export function identifierChangeRules(request: ChangeDeviceIdentifierRequest): StepRules<'identifierChange'> {
  const unchanging = (request.deviceIds ?? []).filter((d) => !isNumber(d));
  return {
    steps: ['identifierChange'],
    stepOf(event) {
      if (event.service !== 'CarrierService') return undefined;
      const outcome = event.type === 'identifierChange' || (event.status === 'failed' && event.type === 'unknown');
      return outcome ? 'identifierChange' : undefined;
    },
    names(_step, event) {
      return request.deviceIdsTo && request.deviceIdsTo.length > 0
        ? mentionsAny(event.resultDeviceIds, request.deviceIdsTo)
        : mentionsAny([...event.deviceIds, ...(event.resultDeviceIds ?? [])], unchanging);
    },
  };
}
