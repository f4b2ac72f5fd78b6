/**
 * What is decided when a profile request is accepted: its request id, every device's fate (failure,
 * warning, never), its fault dice, and the MDN an activation will give a device without one.
 */
import { deviceIdsOf } from '../../platform/devices/identifiers.js';
import type { InventoryLookup } from '../../platform/devices/inventory.js';
import type { ProfileFaults } from '../../platform/faults.js';
import { randomNanpMdn, seededUuid } from '../../platform/random.js';
import type {
  CallFlags,
  DeviceOutcome,
  DevicePlan,
  ProfileDeps,
  ProfileRequest,
  ProfileRequestSummary,
  RequestedDevice,
  ValidProfileRequest,
} from './types.js';

/** An MDN no device carries or carried, no swap allocated and no pending activation holds. */
export function reserveMdn(deps: ProfileDeps, lookup: InventoryLookup): string {
  for (;;) {
    // As a swap allocates a new line's MDN.
    const mdn = randomNanpMdn(deps.random.ids);
    if (lookup.isKnown('mdn', mdn) || deps.profiles.reservedMdns.has(mdn)) continue;
    if (deps.operations.some((o) => o.newLine.mdn === mdn)) continue;
    deps.profiles.reservedMdns.add(mdn);
    return mdn;
  }
}

function lowerSet(values: string[]): Set<string> {
  return new Set(values.map((v) => v.toLowerCase()));
}

/** Whether any identifier the device was named by, or carries, is in `names`. */
function named(names: Set<string>, requested: RequestedDevice): boolean {
  if (names.size === 0) return false;
  const ids = [...requested.ids, ...(requested.device ? deviceIdsOf(requested.device) : [])];
  return ids.some((d) => names.has(d.id.toLowerCase()));
}

/** Decides every device's fate up front, rolling the same dice for each device in request order. */
export function planRequest(deps: ProfileDeps, valid: ValidProfileRequest): ProfileRequest {
  const faults: ProfileFaults = deps.faults.profileFaults();
  const callbacks = deps.faults.callbacks;
  const failNames = lowerSet(faults.failDevices);
  const neverNames = lowerSet(faults.never);
  const roll = deps.random.faults;
  const activation = valid.operation === 'activateDeviceProfiles';
  const requestId = seededUuid(deps.random.ids);
  let lookup: InventoryLookup | undefined;
  const flags = (): CallFlags => ({ duplicate: roll() < callbacks.duplicate, drop: roll() < callbacks.drop });
  const inFlight = deps.faults.acceptDuplicates ? deps.profiles.inFlightDevices(valid.operation) : undefined;
  const plans = valid.devices.map((requested): DevicePlan => {
    const never = roll() < faults.neverRate;
    const fail = roll() < faults.failRate;
    const warning = roll() < faults.warningRate;
    const plan: DevicePlan = {
      ids: requested.ids,
      warning: false,
      calls: { warning: flags(), final: flags() },
      outcome: 'pending',
    };
    if (requested.device) plan.deviceNumber = requested.device.deviceNumber;
    if (requested.device && inFlight?.has(requested.device.deviceNumber)) plan.repeat = true;
    if (never || named(neverNames, requested)) {
      plan.outcome = 'never';
      return plan;
    }
    const failure = requested.failure ?? (fail || named(failNames, requested) ? faults.failure : undefined);
    if (failure) plan.failure = failure;
    // A device ThingSpace does not know is never reported unreachable.
    plan.warning = activation && requested.device !== undefined && warning;
    if (activation && requested.device && !requested.device.mdn && !failure) {
      lookup ??= deps.inventory.lookup();
      plan.mdn = reserveMdn(deps, lookup);
    }
    return plan;
  });
  const outcomes: Record<DeviceOutcome, number> = { pending: 0, warning: 0, succeeded: 0, failed: 0, never: 0 };
  plans.forEach((p) => outcomes[p.outcome]++);
  const summary: ProfileRequestSummary = {
    requestId,
    operation: valid.operation,
    accountName: valid.accountName,
    submittedAt: new Date(deps.now()).toISOString(),
    ...(valid.servicePlan ? { servicePlan: valid.servicePlan } : {}),
    devices: plans.length,
    outcomes,
  };
  const { servicePlan, carrierName, smsrOid, placeOfUse } = valid;
  return {
    summary,
    fields: {
      placeOfUse,
      ...(servicePlan ? { servicePlan } : {}),
      ...(carrierName ? { carrierName } : {}),
      ...(smsrOid ? { smsrOid } : {}),
    },
    plans,
    timing: deps.deliveryTiming(),
    warningDelayMs: faults.warningDelayMs ?? deps.callbackDelayMs(),
  };
}
