/** When a device's turn comes: whether its state allows the operation, and what success does to it. */
import type { SimDevice } from '../../platform/devices/inventory.js';
import { ErrorCode } from '../../platform/errors.js';
import { roleOf } from './callbacks.js';
import { reserveMdn } from './plan.js';
import type { DeviceFailure, DevicePlan, ProfileDeps, ProfileOperation, ProfileRequest } from './types.js';

/** Checked when ThingSpace carries the operation out, against the device as it is then. */
export function stateFailure(operation: ProfileOperation, device: SimDevice): DeviceFailure | undefined {
  if (operation === 'changeProfileServicePlan') {
    // A plan never changes while suspended (thingspace-api-notes.md); a deactivated line has no profile in use.
    if (device.state === 'suspend' || device.state === 'deactive') {
      return {
        faultcode: ErrorCode.DeviceStateInvalid,
        faultstring: `The device is ${device.state}; its plan can change only while it is active or pre-active.`,
      };
    }
    return undefined;
  }
  if (device.state === 'active') {
    return { faultcode: ErrorCode.DeviceAlreadyActive, faultstring: "The device's profile is already active." };
  }
  if (device.state === 'suspend') {
    return {
      faultcode: ErrorCode.DeviceStateInvalid,
      faultstring: 'The device is suspended; resume it rather than activate it.',
    };
  }
  return undefined;
}

/** What a successful profile operation does to the device. */
export function applyEffect(deps: ProfileDeps, request: ProfileRequest, plan: DevicePlan, device: SimDevice): void {
  const { fields } = request;
  deps.acted.record(device, request.summary.requestId);
  device.profileStatus = 'ENABLE';
  device.profileRole = roleOf(request, device);
  if (request.summary.operation === 'changeProfileServicePlan') {
    device.servicePlan = fields.servicePlan as string;
    return;
  }
  if (!device.mdn) {
    // The MDN set aside at request time is used without another look at the inventory: that look costs a
    // pass over every device, once per device of a 10,000-device request.
    device.mdn = plan.mdn ?? reserveMdn(deps, deps.inventory.lookup());
    deps.profiles.reservedMdns.delete(device.mdn);
  }
  device.state = 'active';
  device.connected = true;
  device.lastActivationDate = new Date(deps.now()).toISOString();
  if (fields.servicePlan) device.servicePlan = fields.servicePlan;
  if (fields.smsrOid) device.smsrOid = fields.smsrOid;
  if (fields.carrierName) device.carrierName = fields.carrierName;
}
