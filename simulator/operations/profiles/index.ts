/**
 * The bulk eSIM profile operations of DeviceProfileService: `POST /m2m/v1/devices/profile/actions/serviceplan`
 * (change-profile-service-plan.txt) and `POST /m2m/v1/devices/profile/actions/activate`
 * (activate-euicc-profile.txt). One request names up to 10,000 devices and is answered with one
 * `{requestId}`; each device's outcome follows as its own callback ("The callback would be one for each
 * profile"), handed to the dispatcher at a bounded pace, and changes the inventory when it is generated.
 *
 * Whole request or one device: what a client can check before sending (the body's shape, identifier kinds
 * and formats, the 10,000 limit, the place of use) refuses the whole request with a 400, as ThingSpace's
 * synchronous validation does. What only ThingSpace knows — a device the account does not hold,
 * identifiers of different devices, a device in a state the operation cannot start from — is accepted and
 * reported in that device's own FAILED callback, so one stale device does not hold back 9,999 others.
 *
 * This file holds the route handler; the checks are in `validate.ts` and `place-of-use.ts`, what is decided
 * on acceptance in `plan.ts`, the callbacks in `callbacks.ts`, their generation in `schedule.ts`, the effect
 * on the inventory in `effects.ts`, the activation rate limit in `rate-limit.ts`, the pacing of callbacks in
 * `pacer.ts`, and the accepted requests in `state.ts`.
 */
import type { RequestHandler } from 'express';
import { defaultFaultBody, respond, sendFormError } from '../../platform/errors.js';
import { isRecord } from '../../platform/util.js';
import { planRequest } from './plan.js';
import { scheduleRequest } from './schedule.js';
import type { ProfileDeps, ProfileOperation } from './types.js';
import { validateProfileRequest } from './validate.js';

/**
 * `POST /m2m/v1/devices/profile/actions/serviceplan` and `…/activate` → 200 `{requestId}`; one
 * DeviceProfileService callback per device follows (two for a device reported unreachable first).
 */
export function profileHandler(operation: ProfileOperation, deps: ProfileDeps): RequestHandler {
  return async (req, res) => {
    const body: unknown = req.body;
    if (
      operation === 'activateDeviceProfiles' &&
      isRecord(body) &&
      typeof body.accountName === 'string' &&
      body.accountName !== '' &&
      !deps.profiles.limiter.take(body.accountName, deps.now())
    ) {
      // "429 Too many requests" on eSIM endpoints, without a promised Retry-After (thingspace-api-notes.md).
      return respond(res, 429, defaultFaultBody(operation, 429));
    }
    const result = validateProfileRequest(operation, body, deps.inventory, deps.faults.maxProfileRequestDevices);
    if (!result.ok) return sendFormError(res, deps.faults.profileErrorForm, result.code, result.message);
    const request = planRequest(deps, result.value);
    deps.profiles.add(request);
    const devices = result.value.devices.flatMap((d) => (d.device ? [d.device] : []));
    await deps.strayCallbacks(result.value.accountName, { operation, devices });
    scheduleRequest(deps, request);
    respond(res, 200, { requestId: request.summary.requestId });
  };
}
