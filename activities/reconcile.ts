/**
 * Reading outcomes from ThingSpace's device list when their callbacks did not come
 * (thingspace-api-notes.md, Reconciliation: the request-status endpoint covers none of these operations).
 * What each function relies on in the list, and what happens when it is not so: docs/reconciliation.md.
 */
import {
  deviceKey,
  type BulkOperation,
  type ChangeDeviceIdentifierRequest,
  type DeviceId,
  type EidDeviceSwapRequest,
  type SwapStep,
} from '../contracts/index.js';
import { deviceNumberOf, globalProfilesOf, verizonLineOf } from '../thingspace/device-list.js';
import { ThingSpaceError } from '../thingspace/errors.js';
import type { DeviceInformation, DeviceListRequest, DeviceListResult } from '../thingspace/index.js';

export interface DeviceLister {
  listDevices(body: DeviceListRequest, signal?: AbortSignal): Promise<DeviceListResult>;
}

/** A device as the list shows it now: every identifier, and the Verizon US line's state and plan. */
export interface ListedDevice {
  deviceIds: DeviceId[];
  /** Lower case: `active`, `deactive`, `pre-active`, `suspend`. */
  state?: string;
  servicePlan?: string;
}

/** The swap's devices as the device list shows them, each found by an identifier from the request. */
export interface SwapListView {
  /** Found by the swapped-out device's IMEI (else its EID): after GoToState it carries a new ICCID and MDN. */
  swappedOut?: ListedDevice;
  /** Found by the replacement's EID (else its IMEI): after the identifier change it carries the MDN. */
  swappedIn?: ListedDevice;
  /** Found by the original ICCID: `deactive` once the deactivation happened. */
  originalLine?: ListedDevice;
}

/** What the device list shows of each step; a step missing from `confirmed` is not visible (yet). */
export interface SwapReconciliation {
  confirmed: Partial<Record<SwapStep, DeviceId[]>>;
  /**
   * Both devices (and the original line) as the list shows them now, so a reverse swap can be built from
   * the request and the list alone; a device the list does not know is absent.
   */
  listed: SwapListView;
}

const idOf = (devices: DeviceId[], kind: string) => devices.find((d) => d.kind.toLowerCase() === kind)?.id;
const stateOf = (device: DeviceInformation) => verizonLineOf(device)?.state?.toLowerCase();
const byKind = (devices: DeviceId[], ...kinds: string[]): DeviceId | undefined => {
  for (const kind of kinds) {
    const id = idOf(devices, kind);
    if (id !== undefined) return { kind, id };
  }
  return undefined;
};

function listed(device: DeviceInformation): ListedDevice {
  const line = verizonLineOf(device);
  const state = line?.state?.toLowerCase();
  return {
    deviceIds: device.deviceIds,
    ...(state ? { state } : {}),
    ...(line?.servicePlan ? { servicePlan: line.servicePlan } : {}),
  };
}

/** One device by identifier (`deviceId` filter); undefined when ThingSpace answers DeviceNotFound. */
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
 * The page's three outcomes, as the device list shows them, from the request's identifiers only (never
 * a callback's): the original ICCID `deactive` (deactivation); the MDN now on the replacement, active
 * (identifier change); the swapped-out device active on a line other than its original one (GoToState:
 * another ICCID, or when the request names no ICCID, an MDN other than the one that moved).
 */
export async function reconcileEidDeviceSwap(
  lister: DeviceLister,
  request: Pick<EidDeviceSwapRequest, 'accountName' | 'deviceToSwapOut' | 'deviceToSwapIn'>,
  signal?: AbortSignal,
): Promise<SwapReconciliation> {
  const { accountName, deviceToSwapOut: out, deviceToSwapIn: into } = request;
  const confirmed: SwapReconciliation['confirmed'] = {};
  const view: SwapListView = {};
  const originalIccid = idOf(out, 'iccid');
  const mdn = idOf(out, 'mdn');

  const oldLine = await find(lister, accountName, byKind(out, 'iccid'), signal);
  if (oldLine) view.originalLine = listed(oldLine);
  if (oldLine && stateOf(oldLine) === 'deactive') confirmed.deactivation = oldLine.deviceIds;

  const replacement = await find(lister, accountName, byKind(into, 'eid', 'imei'), signal);
  if (replacement) view.swappedIn = listed(replacement);
  if (replacement && mdn && idOf(replacement.deviceIds, 'mdn') === mdn && stateOf(replacement) === 'active') {
    confirmed.identifierChange = replacement.deviceIds;
  }

  const swappedOut = await find(lister, accountName, byKind(out, 'imei', 'eid'), signal);
  if (swappedOut) view.swappedOut = listed(swappedOut);
  if (swappedOut && stateOf(swappedOut) === 'active') {
    const iccid = idOf(swappedOut.deviceIds, 'iccid');
    const number = idOf(swappedOut.deviceIds, 'mdn');
    const newLine =
      originalIccid !== undefined
        ? iccid !== undefined && iccid.toLowerCase() !== originalIccid.toLowerCase()
        : mdn !== undefined && number !== undefined && number !== mdn;
    if (newLine) confirmed.goToState = swappedOut.deviceIds.filter((d) => d.kind === 'iccid' || d.kind === 'imei');
  }
  return { confirmed, listed: view };
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
  const plan = verizonLineOf(device)?.servicePlan;
  return plan ? { servicePlan: plan } : {};
}

/** Up to this many devices are looked up one by one; more, and the account's list is read page by page. */
export const FEW_DEVICES = 20;

/** The largest page of the device list: a scan reads at least an account's lines / LIST_PAGE pages. */
export const LIST_PAGE = 500;

/**
 * One request per device, or one per page of the whole account: lookups while they take no more requests
 * than the scan would (at least FEW_DEVICES). A scan of a million-line account is 2,000 requests.
 */
export function reconcileMethod(input: Pick<DeviceReconciliationInput, 'devices' | 'accountDevices'>) {
  const scanPages = Math.ceil((input.accountDevices ?? 0) / LIST_PAGE);
  return input.devices.length <= Math.max(FEW_DEVICES, scanPages) ? ('lookup' as const) : ('scan' as const);
}

/** A bulk operation's devices to reconcile: each entry the identifiers of one device, as in the request. */
export interface DeviceReconciliationInput {
  operation: BulkOperation;
  accountName: string;
  /** The plan a `changeProfileServicePlan` changed to (a Verizon US or a Global plan). */
  servicePlan?: string;
  devices: DeviceId[][];
  /** The account holds at least this many devices (a stored operation knows its size): see reconcileMethod. */
  accountDevices?: number;
}

/**
 * How far a reconciliation got: the activity heartbeats it after each list request and a retried attempt
 * resumes from it. Small whatever the device count (the found devices are a bitmap).
 */
export interface ReconcileProgress {
  /**
   * `scan`: `cursor` is the `largestDeviceIdSeen` of the next page. `lookup`: `cursor` is the index of the
   * next device to look up.
   */
  method: 'scan' | 'lookup';
  cursor: number;
  /** List requests made so far, by every attempt. */
  requests: number;
  /** How many devices the input has; progress of another input is not resumed. */
  devices: number;
  /** How many of them the list showed with the operation's effect so far. */
  foundCount: number;
  /** Base64 bitmap over the input's devices: bit i set when device i was found. */
  found: string;
}

/** Which devices the device list shows with the operation's effect. */
export interface DeviceReconciliation {
  /** Indexes into the input's `devices`, ascending. */
  confirmed: number[];
  method: 'scan' | 'lookup';
  /** List requests made, by every attempt (a resumed attempt counts on from its progress). */
  requests: number;
  /** Where this attempt resumed (a `ReconcileProgress.cursor`), if it did. */
  resumedFrom?: number;
}

export interface ReconcileOptions {
  signal?: AbortSignal;
  /** Progress of an earlier attempt (the activity's heartbeat details); ignored when it does not fit the input. */
  resume?: unknown;
  /** Called after each list request with the progress so far (the activity heartbeats it). */
  onProgress?: (progress: ReconcileProgress) => void;
}

/** The progress of an earlier attempt, when it is one for this input and method. */
export function resumableProgress(
  value: unknown,
  input: Pick<DeviceReconciliationInput, 'devices'>,
  method: ReconcileProgress['method'],
): ReconcileProgress | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const p = value as Partial<ReconcileProgress>;
  const whole = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (p.method !== method || !whole(p.cursor) || !whole(p.requests) || !whole(p.foundCount)) return undefined;
  if (p.devices !== input.devices.length || typeof p.found !== 'string') return undefined;
  if (Buffer.from(p.found, 'base64').length !== Math.ceil(input.devices.length / 8)) return undefined;
  return p as ReconcileProgress;
}

/** The devices found so far, as a bitmap that fits a heartbeat for any device count. */
class Found {
  readonly bits: Uint8Array;
  count = 0;
  constructor(
    readonly size: number,
    from?: string,
  ) {
    this.bits = new Uint8Array(Math.ceil(size / 8));
    if (from !== undefined) {
      this.bits.set(Buffer.from(from, 'base64'));
      for (let i = 0; i < size; i++) if (this.has(i)) this.count++;
    }
  }
  has(i: number): boolean {
    return ((this.bits[i >> 3] ?? 0) & (1 << (i & 7))) !== 0;
  }
  add(i: number): void {
    if (this.has(i)) return;
    this.bits[i >> 3] = (this.bits[i >> 3] ?? 0) | (1 << (i & 7));
    this.count++;
  }
  indexes(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.size; i++) if (this.has(i)) out.push(i);
    return out;
  }
  encode(): string {
    return Buffer.from(this.bits).toString('base64');
  }
}

/**
 * Whether a device shows the operation's effect. A plan change shows on the profile it was for: the
 * Verizon US line's plan, or a Global profile's (another carrier's `carrierInformations` entry). An
 * activation shows as an active line, Verizon US or Global.
 */
export function showsEffect(
  device: DeviceInformation,
  input: Pick<DeviceReconciliationInput, 'operation' | 'servicePlan'>,
): boolean {
  const us = verizonLineOf(device);
  const global = globalProfilesOf(device);
  if (input.operation === 'activateDeviceProfiles') {
    return [us, ...global].some((c) => c?.state?.toLowerCase() === 'active');
  }
  if (input.servicePlan === undefined) return false;
  return us?.servicePlan === input.servicePlan || global.some((c) => c.servicePlan === input.servicePlan);
}

/**
 * Which of `input.devices` the device list shows with the operation's effect. Up to FEW_DEVICES are
 * looked up one by one (`deviceId`); more, and the account is read once, page by page: the first page at
 * `largestDeviceIdSeen: 0` (without it ThingSpace sorts by date and paging on from that misses devices),
 * each next one after the last record's `DeviceId`. A page that says more follow but gives no usable
 * cursor fails the reconciliation rather than guess. Read-only; resumes from `options.resume`.
 */
export async function reconcileDevices(
  lister: DeviceLister,
  input: DeviceReconciliationInput,
  options: ReconcileOptions = {},
): Promise<DeviceReconciliation> {
  const { signal, onProgress } = options;
  const method = reconcileMethod(input);
  const resume = resumableProgress(options.resume, input, method);
  const found = new Found(input.devices.length, resume?.found);
  let requests = resume?.requests ?? 0;
  let cursor = resume?.cursor ?? 0;
  const progress = (): ReconcileProgress => ({
    method,
    cursor,
    requests,
    devices: input.devices.length,
    foundCount: found.count,
    found: found.encode(),
  });
  const result = (): DeviceReconciliation => ({
    confirmed: found.indexes(),
    method,
    requests,
    ...(resume ? { resumedFrom: resume.cursor } : {}),
  });

  if (method === 'lookup') {
    // A few devices: ask for each, rather than read an account that may hold a million lines.
    for (; cursor < input.devices.length;) {
      const ids = input.devices[cursor] ?? [];
      const device = await find(lister, input.accountName, ids[0], signal);
      if (ids[0]) requests++;
      if (device && showsEffect(device, input)) found.add(cursor);
      cursor++;
      onProgress?.(progress());
    }
    return result();
  }

  const index = new Map<string, number>();
  input.devices.forEach((ids, i) => ids.forEach((id) => index.set(deviceKey(id), i)));
  while (found.count < input.devices.length) {
    const page = await lister.listDevices({ accountName: input.accountName, largestDeviceIdSeen: cursor }, signal);
    requests++;
    for (const device of page.devices) {
      if (!showsEffect(device, input)) continue;
      for (const id of device.deviceIds) {
        const i = index.get(deviceKey(id));
        if (i !== undefined) found.add(i);
      }
    }
    if (!page.hasMoreData) break;
    const next = deviceNumberOf(page.devices.at(-1));
    if (next === undefined || next <= cursor) {
      throw new DeviceListCursorError(cursor, page.devices.length);
    }
    cursor = next;
    onProgress?.(progress());
  }
  return result();
}

/**
 * The device list said more pages follow but its last record carries no `DeviceId` past the cursor: a
 * scan cannot go on without skipping or repeating devices.
 */
export class DeviceListCursorError extends Error {
  override name = 'DeviceListCursorError';
  constructor(
    readonly cursor: number,
    readonly pageSize: number,
  ) {
    super(
      `The device list says more pages follow after largestDeviceIdSeen ${cursor} but gives no cursor: ` +
        `the last of its ${pageSize} records has no larger DeviceId in extendedAttributes`,
    );
  }
}

/** Keys (`kind:id` of the first identifier) of the shard's devices whose effect the device list shows. */
export interface ProfileReconciliation {
  confirmed: string[];
}

/** `reconcileDevices`, answered as the keys of each confirmed device's first identifier. */
export async function reconcileProfiles(
  lister: DeviceLister,
  input: DeviceReconciliationInput,
  options: ReconcileOptions = {},
): Promise<ProfileReconciliation> {
  const { confirmed } = await reconcileDevices(lister, input, options);
  return {
    confirmed: confirmed.flatMap((i) => {
      const first = input.devices[i]?.[0];
      return first ? [deviceKey(first)] : [];
    }),
  };
}
