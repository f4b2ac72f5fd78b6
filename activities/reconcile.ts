/**
 * Reading a swap's outcome from ThingSpace's device list when its callbacks did not come
 * (thingspace-api-notes.md, Reconciliation: the request-status endpoint does not cover swaps).
 */
import {
  deviceKey,
  type BulkOperation,
  type ChangeDeviceIdentifierRequest,
  type DeviceId,
  type EidDeviceSwapRequest,
  type SwapStep,
} from '../contracts/index.js';
import { ThingSpaceError } from '../thingspace/errors.js';
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

async function find(
  lister: DeviceLister,
  accountName: string | undefined,
  deviceId: DeviceId | undefined,
  signal?: AbortSignal,
) {
  if (!deviceId) return undefined;
  try {
    const { devices } = await lister.listDevices(accountName ? { accountName, deviceId } : { deviceId }, signal);
    return devices[0];
  } catch (err) {
    // Asking for a device ThingSpace does not know answers DeviceNotFound: for reconciliation, "not there".
    if (err instanceof ThingSpaceError && err.code === 'REQUEST_FAILED.DeviceNotFound') return undefined;
    throw err;
  }
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

/** What the device list shows of an identifier change: the device under its new identifiers, if it moved. */
export interface IdentifierReconciliation {
  newDeviceIds?: DeviceId[];
  servicePlan?: string;
}

/**
 * An identifier change is visible in the device list as an active device that carries every new
 * identifier (`deviceIdsTo`). A `ChangeMSISDN` names no new identifier: it is visible when the device,
 * found by an identifier that does not change, no longer has the MDN the request named it by.
 */
export async function reconcileChangeDeviceIdentifier(
  lister: DeviceLister,
  request: Pick<ChangeDeviceIdentifierRequest, 'deviceIds' | 'deviceIdsTo' | 'change4gOption'>,
  signal?: AbortSignal,
): Promise<IdentifierReconciliation> {
  const isNumber = (d: DeviceId) => ['mdn', 'msisdn'].includes(d.kind.toLowerCase());
  if (request.change4gOption === 'ChangeMSISDN') {
    const oldNumber = request.deviceIds.find(isNumber);
    const stable = request.deviceIds.find((d) => !isNumber(d));
    const device = await find(lister, undefined, stable, signal);
    const numbers = device?.deviceIds.filter(isNumber) ?? [];
    // An MSISDN is the MDN with its country code: compare the last ten digits, whatever the kinds.
    const national = (d: DeviceId) => d.id.replace(/\D/g, '').slice(-10);
    if (!oldNumber || !device || numbers.length === 0) return {};
    if (numbers.some((n) => national(n) === national(oldNumber))) return {};
    return { newDeviceIds: numbers, ...planOf(device) };
  }
  const wanted = request.deviceIdsTo ?? [];
  const device = await find(lister, undefined, wanted[0], signal);
  if (!device || stateOf(device) !== 'active') return {};
  const isWanted = (d: DeviceId) => wanted.some((w) => deviceKey(w) === deviceKey(d));
  const newDeviceIds = device.deviceIds.filter(isWanted);
  if (newDeviceIds.length < wanted.length) return {};
  // As the list spells them, like a callback's changeIdentifierResponse.
  return { newDeviceIds, ...planOf(device) };
}

function planOf(device: DeviceInformation): { servicePlan?: string } {
  const plan = device.carrierInformations[0]?.servicePlan;
  return plan ? { servicePlan: plan } : {};
}

/** Up to this many open devices are looked up one by one; more, and the account's list is read page by page. */
const FEW_DEVICES = 20;

/** Keys (`kind:id`) of the shard's devices whose effect the device list shows. */
export interface ProfileReconciliation {
  confirmed: string[];
}

/** The cursor of the device list: the internal device id of a page's last device. */
function internalId(device: DeviceInformation): number | undefined {
  const attributes = (device as { extendedAttributes?: unknown }).extendedAttributes;
  if (!Array.isArray(attributes)) return undefined;
  const entry = attributes.find((a: { key?: unknown }) => a?.key === 'DeviceId') as { value?: unknown } | undefined;
  const value = Number(entry?.value);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * Pages through the account's devices that show the operation's effect — the new service plan, or an
 * active line after an activation — and returns which of `devices` are among them. One pass over the
 * account (500 devices a page) instead of one request per device.
 */
export async function reconcileProfiles(
  lister: DeviceLister,
  input: { operation: BulkOperation; accountName: string; servicePlan?: string; devices: DeviceId[][] },
  signal?: AbortSignal,
  /** Called after each page (the activity heartbeats with the cursor). */
  onPage?: (cursor: number) => void,
): Promise<ProfileReconciliation> {
  const showsEffect = (device: DeviceInformation) =>
    input.operation === 'activateDeviceProfiles'
      ? stateOf(device) === 'active'
      : device.carrierInformations[0]?.servicePlan === input.servicePlan;
  const wanted = new Map<string, string>();
  for (const ids of input.devices) {
    const first = ids[0];
    if (!first) continue;
    for (const id of ids) wanted.set(deviceKey(id), deviceKey(first));
  }
  const confirmed = new Set<string>();
  if (input.devices.length <= FEW_DEVICES) {
    // A few devices: ask for each, rather than reading an account that may hold a million lines.
    for (const ids of input.devices) {
      const first = ids[0];
      const device = await find(lister, input.accountName, first, signal);
      if (first && device && showsEffect(device)) confirmed.add(deviceKey(first));
    }
    return { confirmed: [...confirmed] };
  }
  // Activations show as active lines; a plan change on any line, so that one reads the whole account.
  const filter: DeviceListRequest =
    input.operation === 'activateDeviceProfiles'
      ? { accountName: input.accountName, currentState: 'active' }
      : { accountName: input.accountName };
  let cursor: number | undefined;
  for (;;) {
    const page = await lister.listDevices(
      cursor === undefined ? filter : { ...filter, largestDeviceIdSeen: cursor },
      signal,
    );
    for (const device of page.devices) {
      if (!showsEffect(device)) continue;
      for (const id of device.deviceIds) {
        const key = wanted.get(deviceKey(id));
        if (key) confirmed.add(key);
      }
    }
    if (!page.hasMoreData) break;
    const last = page.devices.at(-1);
    const next = last ? internalId(last) : undefined;
    if (next === undefined || next === cursor) {
      throw new Error('The device list says more pages follow but gives no cursor to read them');
    }
    cursor = next;
    onPage?.(cursor);
  }
  return { confirmed: [...confirmed] };
}
