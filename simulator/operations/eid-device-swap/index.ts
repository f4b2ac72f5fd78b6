/**
 * `POST /m2m/v1/devices/actions/eidDeviceSwap` (eid-device-swap.txt): validation with ThingSpace's error
 * codes, the `{requestId}` answer, and the three asynchronous outcomes — deactivation of the original
 * ICCID and the identifier change (CarrierService), GoToState of the new line (StateService) — each
 * changing the inventory when its callback is generated. This file holds the route handler; the checks are in
 * `validate.ts`, what is decided on acceptance in `plan.ts`, the callbacks in `callbacks.ts`, and what each
 * step does to the inventory in `effects.ts`.
 */
import type { RequestHandler } from 'express';
import { respond, sendError } from '../../platform/errors.js';
import { generate } from './callbacks.js';
import { inFlightDuplicate, planSteps, planSwap, sidesOf } from './plan.js';
import type { SwapDeps, SwapRecord } from './types.js';
import { validateSwap } from './validate.js';

/** `POST /m2m/v1/devices/actions/eidDeviceSwap` → 200 `{requestId}`; the outcomes follow as callbacks. */
export function eidDeviceSwapHandler(deps: SwapDeps): RequestHandler {
  return async (req, res) => {
    const duplicate = deps.faults.acceptDuplicates ? inFlightDuplicate(deps, req.body) : undefined;
    let record: SwapRecord;
    if (duplicate) {
      record = planSwap(deps, duplicate.fields, duplicate.first);
    } else {
      const result = validateSwap(req.body, deps.inventory);
      if (!result.ok) return sendError(res, result.code, result.message);
      record = planSwap(deps, result.value, sidesOf(result.value.out, result.value.into));
    }
    deps.operations.push(record);
    const out = deps.inventory.byNumber(record.swapOut.deviceNumber);
    const into = deps.inventory.byNumber(record.swapIn.deviceNumber);
    if (out && into) await deps.strayCallbacks(record.accountName, { operation: 'eidDeviceSwap', out, into });
    const faults = deps.faults.callbacks;
    const timing = deps.deliveryTiming();
    const delayMs = deps.callbackDelayMs();
    const plans = planSteps(deps, faults).filter((plan) => {
      if (!faults.never.includes(plan.step)) return true;
      record.steps[plan.step] = 'never';
      return false;
    });
    for (const plan of plans.filter((p) => faults.beforeResponse.includes(p.step))) {
      await deps.dispatcher.deliver(generate(deps, record, plan, faults, timing));
    }
    plans
      .filter((p) => !faults.beforeResponse.includes(p.step))
      .forEach((plan, i) => {
        deps.dispatcher.schedule(delayMs * (i + 1), () => generate(deps, record, plan, faults, timing));
      });
    respond(res, 200, { requestId: record.requestId });
  };
}
