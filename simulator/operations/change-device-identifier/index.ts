/**
 * `PUT /m2m/v1/devices/{serviceType}/actions/deviceId` (change-device-identifier.txt): validation and the
 * page's preconditions with ThingSpace's error codes, the `{requestId}` answer, and the one CarrierService
 * callback, which changes the inventory when it is generated. This file holds the route handlers; the rules
 * are in `rules.ts`, the checks in `validate.ts`, what is decided on acceptance in `plan.ts`, the callback in
 * `callbacks.ts`, and its effect on the inventory in `effects.ts`.
 *
 * Where the page leaves the model open, the simulator decides:
 * - **Technology.** A device with an MEID is a 3G device, any other a 4G device. A plan whose code contains
 *   `3G` (not `3GB`) works only on 3G devices, one with `4G` only on 4G devices, any other on both.
 * - **serviceType** names the device that's changing: `4g` takes all seven `change4gOption`s; `3g` takes
 *   none (new 3G hardware) or `3Gto4G`. Every option also states which technology the device must have.
 * - **deviceIdsTo** must name exactly the kinds in `CHANGE_RULES` (`rules.ts`). The inventory keeps an IMEI and an
 *   ICCID for every device, so 3G hardware is named by its MEID and IMEI.
 * - **The EID** belongs to the SIM: kept when the SIM stays (ChangeIMEI, ChangeMSISDN) or gets a new
 *   profile (ChangeICCID), replaced by ChangeIMEIandEID, dropped when new hardware comes without one.
 * - **Old hardware** stays in the platform's database (replaced SIMs as deactivated lines, replaced IMEIs,
 *   EIDs and MEIDs in the operation's records) until deleted, which the simulator never does: it cannot be
 *   the new hardware of a later change.
 * - **Numbers.** An NPA-NXX whose NXX is 555 has no numbers available (NANP keeps 555 for directory and
 *   fictional use), any other has. When the NPA-NXX has none, the number comes from the `zipCode`, whose
 *   NPA-NXX is made from its digits; with no `zipCode` the callback reports the failure. Non-geographic
 *   numbers come from area code 544, one of NANP's non-geographic 5XX codes.
 */
import type { Request, RequestHandler, Response } from 'express';
import { respond, sendError } from '../../platform/errors.js';
import { generate } from './callbacks.js';
import { planChange } from './plan.js';
import { CHANGE_IDENTIFIER_STEP, type ChangeIdentifierDeps, type DeliveryPlan } from './types.js';
import { validateChange } from './validate.js';

/**
 * `PUT /m2m/v1/devices/{serviceType}/actions/deviceId` → 200 `{requestId}`; one CarrierService callback
 * follows "when the device identifier has been changed, or if there was a problem".
 */
export function changeDeviceIdentifierHandler(deps: ChangeIdentifierDeps): RequestHandler {
  return async (req: Request, res: Response) => {
    const result = validateChange(req.params.serviceType, req.body, deps);
    if (!result.ok) return sendError(res, result.code, result.message);
    const record = planChange(deps, result.value);
    deps.changeIdentifierRequests.push(record);
    await deps.strayCallbacks(record.accountName, { operation: 'changeDeviceIdentifier', device: result.value.device });
    const faults = deps.faults.callbacks;
    // Both dice are rolled for every request, so a seed fixes the outcome whatever the faults.
    const plan: DeliveryPlan = {
      duplicate: deps.random.faults() < faults.duplicate,
      drop: deps.random.faults() < faults.drop,
      timing: deps.deliveryTiming(),
    };
    if (faults.never.includes(CHANGE_IDENTIFIER_STEP)) {
      record.status = 'never';
    } else if (faults.beforeResponse.includes(CHANGE_IDENTIFIER_STEP)) {
      await deps.dispatcher.deliver(generate(deps, record, faults, plan));
    } else {
      deps.dispatcher.schedule(deps.callbackDelayMs(), () => generate(deps, record, faults, plan));
    }
    respond(res, 200, { requestId: record.requestId });
  };
}

/** `GET /__sim/identifier-changes`: every accepted identifier change, oldest first. */
export function identifierChangesHandler(deps: Pick<ChangeIdentifierDeps, 'changeIdentifierRequests'>): RequestHandler {
  return (_req, res) => {
    res.json(deps.changeIdentifierRequests);
  };
}
