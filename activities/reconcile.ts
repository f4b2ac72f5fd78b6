/**
 * Reading a swap's outcome from ThingSpace's device list when its callbacks did not come
 * (thingspace-api-notes.md, Reconciliation: the request-status endpoint does not cover swaps).
 */
import type { DeviceId, EidDeviceSwapRequest, SwapStep } from '../contracts/index.js';
import type { DeviceInformation, DeviceListRequest, DeviceListResult } from '../thingspace/index.js';

export interface DeviceLister {
  listDevices(body: DeviceListRequest, signal?: AbortSignal): Promise<DeviceListResult>;
}

/** What the device list shows of each step; a step missing from `confirmed` is not visible (yet). */
export interface SwapReconciliation {
  confirmed: Partial<Record<SwapStep, DeviceId[]>>;
}

const idOf = (devices: DeviceId[], kind: string) => devices.find((d) => d.kind.toLowerCase() === kind)?.id;
const stateOf = (device: DeviceInformation) => device.carrierInformations[0]?.state?.toLowerCase();

async function find(lister: DeviceLister, accountName: string, deviceId: DeviceId | undefined, signal?: AbortSignal) {
  if (!deviceId) return undefined;
  const { devices } = await lister.listDevices({ accountName, deviceId }, signal);
  return devices[0];
}

/**
 * The page's three outcomes, as the device list shows them: the original ICCID `deactive`
 * (deactivation); the MDN now on the replacement (identifier change); the swapped-out device active on
 * an ICCID other than its original one (GoToState, the new line of service).
 */
export async function reconcileEidDeviceSwap(
  lister: DeviceLister,
  request: Pick<EidDeviceSwapRequest, 'accountName' | 'deviceToSwapOut' | 'deviceToSwapIn'>,
  signal?: AbortSignal,
): Promise<SwapReconciliation> {
  const { accountName, deviceToSwapOut: out, deviceToSwapIn: into } = request;
  const confirmed: SwapReconciliation['confirmed'] = {};
  const originalIccid = idOf(out, 'iccid');
  const mdn = idOf(out, 'mdn');

  const oldLine = await find(
    lister,
    accountName,
    originalIccid ? { kind: 'iccid', id: originalIccid } : undefined,
    signal,
  );
  if (oldLine && stateOf(oldLine) === 'deactive') confirmed.deactivation = oldLine.deviceIds;

  const eid = idOf(into, 'eid');
  const replacement = await find(lister, accountName, eid ? { kind: 'eid', id: eid } : undefined, signal);
  if (replacement && mdn && idOf(replacement.deviceIds, 'mdn') === mdn && stateOf(replacement) === 'active') {
    confirmed.identifierChange = replacement.deviceIds;
  }

  const imei = idOf(out, 'imei');
  const swappedOut = await find(lister, accountName, imei ? { kind: 'imei', id: imei } : undefined, signal);
  const newIccid = swappedOut ? idOf(swappedOut.deviceIds, 'iccid') : undefined;
  if (swappedOut && newIccid && newIccid !== originalIccid && stateOf(swappedOut) === 'active') {
    confirmed.goToState = swappedOut.deviceIds.filter((d) => d.kind === 'iccid' || d.kind === 'imei');
  }
  return { confirmed };
}
