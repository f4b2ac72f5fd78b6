/**
 * The device-list endpoint the orchestrator reconciles with (`POST /m2m/v1/devices/actions/list`,
 * thingspace-api-notes.md), over the inventory: current devices, and retired lines looked up by identifier.
 */
import type { Request, Response } from 'express';
import type { DeviceId } from '../../../contracts/types.js';
import { ErrorCode, respond, sendError } from '../errors.js';
import { isRecord } from '../util.js';
import { deviceIdProblem, deviceIdsOf } from './identifiers.js';
import { VERIZON, type DeviceState, type Inventory, type RetiredLine, type SimDevice } from './inventory.js';

interface CarrierEntry {
  carrierName: string;
  servicePlan: string;
  state: DeviceState;
}

interface ListEntry {
  accountName: string;
  billingCycleEndDate: string;
  carrierInformations: CarrierEntry[];
  connected: boolean;
  createdAt: string;
  customFields: { key: string; value: string }[];
  deviceIds: DeviceId[];
  extendedAttributes: { key: string; value: string }[];
  groupNames: string[];
  ipAddress?: string;
  lastActivationBy?: string;
  lastActivationDate?: string;
  lastConnectionDate?: string;
}

/** The Verizon US line first, then the Global profile, if any (see globalProfileSchema). */
function carrierEntries(device: SimDevice, line: Pick<SimDevice, 'servicePlan' | 'state'>, current: boolean) {
  const entries: CarrierEntry[] = [
    { carrierName: device.carrierName ?? VERIZON, servicePlan: line.servicePlan, state: line.state },
  ];
  if (current && device.globalProfile) entries.push({ ...device.globalProfile });
  return entries;
}

function listEntry(
  device: SimDevice,
  deviceIds: DeviceId[],
  line: Pick<SimDevice, 'servicePlan' | 'state'>,
  current = true,
): ListEntry {
  const entry: ListEntry = {
    accountName: device.accountName,
    billingCycleEndDate: '',
    carrierInformations: carrierEntries(device, line, current),
    connected: device.connected,
    createdAt: device.createdAt,
    customFields: [],
    deviceIds,
    // Clients page with the internal device id found here on the last device of a page.
    extendedAttributes: [
      { key: 'DeviceId', value: String(device.deviceNumber) },
      ...(device.smsrOid ? [{ key: 'SmsrOid', value: device.smsrOid }] : []),
      ...(device.profileStatus ? [{ key: 'ProfileStatus', value: device.profileStatus }] : []),
      ...(device.profileRole ? [{ key: 'ProfileRole', value: device.profileRole }] : []),
    ],
    groupNames: [`Default: ${device.accountName}`],
  };
  if (device.ipAddress && line.state === 'active') entry.ipAddress = device.ipAddress;
  if (device.lastActivationDate) {
    entry.lastActivationBy = 'ThingSpace Simulator';
    entry.lastActivationDate = device.lastActivationDate;
    entry.lastConnectionDate = device.lastActivationDate;
  }
  return entry;
}

function retiredEntry(device: SimDevice, line: RetiredLine): ListEntry {
  const ids: DeviceId[] = [];
  if (device.eid) ids.push({ id: device.eid, kind: 'eid' });
  ids.push({ id: line.iccid, kind: 'iccid' }, { id: device.imei, kind: 'imei' });
  if (line.mdn) ids.push({ id: line.mdn, kind: 'mdn' });
  return { ...listEntry(device, ids, line, false), connected: false };
}

interface ListDeps {
  inventory: Inventory;
  pageSize: number;
}

function nonNegativeInt(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

interface IdentifierFilter {
  kind: string;
  contains?: string;
  startswith?: string;
  endswith?: string;
}

function matchesIdentifierFilter(ids: DeviceId[], filter: IdentifierFilter): boolean {
  return ids.some(
    (d) =>
      d.kind === filter.kind.toLowerCase() &&
      (filter.contains === undefined || d.id.includes(filter.contains)) &&
      (filter.startswith === undefined || d.id.startsWith(filter.startswith)) &&
      (filter.endswith === undefined || d.id.endsWith(filter.endswith)),
  );
}

/** The date a device list without `largestDeviceIdSeen` sorts by: its last activation, else when it was added. */
function listDate(device: SimDevice): number {
  const created = Date.parse(device.createdAt);
  const activated = device.lastActivationDate === undefined ? NaN : Date.parse(device.lastActivationDate);
  return Number.isNaN(activated) ? created : Math.max(created, activated);
}

/**
 * Newest first; devices of the same date by device number, highest first, so the order is the same on
 * every run (dates come from the fixture or the simulator's clock).
 */
function byDateNewestFirst(a: SimDevice, b: SimDevice): number {
  return listDate(b) - listDate(a) || b.deviceNumber - a.deviceNumber;
}

/**
 * `POST /m2m/v1/devices/actions/list` (thingspace-api-notes.md, Reconciliation endpoints): 200 with the
 * last page, 202 while `hasMoreData` is true. With `largestDeviceIdSeen` (0 included) the devices come
 * sorted by internal device id, starting after it; without it, sorted by date, newest first — Verizon's
 * warning that such a first page is no start for paging (a client that pages on from it misses devices).
 */
export function deviceListHandler(deps: ListDeps) {
  return (req: Request, res: Response): void => {
    const body: unknown = req.body;
    if (!isRecord(body)) return sendError(res, ErrorCode.RequestUndefined, 'The request body must be a JSON object.');
    const { accountName, deviceId, currentState, servicePlan, earliest, latest, filter } = body;
    if (accountName !== undefined && typeof accountName !== 'string') {
      return sendError(res, ErrorCode.AccountNotDefined, 'accountName must be a string.');
    }
    if (typeof accountName === 'string' && !deps.inventory.accounts.has(accountName)) {
      return sendError(res, ErrorCode.AccountNotFound, `Account ${accountName} was not found.`);
    }
    for (const [name, value] of Object.entries({ currentState, servicePlan, earliest, latest })) {
      if (value !== undefined && typeof value !== 'string') {
        return sendError(res, ErrorCode.ParameterInvalid, `${name} must be a string.`);
      }
    }
    for (const name of ['maxNumberOfDevices', 'largestDeviceIdSeen'] as const) {
      if (body[name] !== undefined && !nonNegativeInt(body[name])) {
        return sendError(res, ErrorCode.ParameterInvalid, `${name} must be a non-negative integer.`);
      }
    }
    const identifierFilters: IdentifierFilter[] = [];
    if (filter !== undefined) {
      const list = isRecord(filter) ? filter.deviceIdentifierFilters : undefined;
      if (!isRecord(filter) || (list !== undefined && !Array.isArray(list))) {
        return sendError(res, ErrorCode.ParameterInvalid, 'filter.deviceIdentifierFilters must be an array.');
      }
      for (const item of (list as unknown[] | undefined) ?? []) {
        if (!isRecord(item) || typeof item.kind !== 'string') {
          return sendError(res, ErrorCode.DeviceKindInvalid, 'Every device identifier filter needs a kind.');
        }
        identifierFilters.push(item as unknown as IdentifierFilter);
      }
    }

    if (deviceId !== undefined) {
      const problem = deviceIdProblem(deviceId, 'deviceId');
      if (problem) return sendError(res, problem.code, problem.message);
      const { kind, id } = deviceId as DeviceId;
      const current = deps.inventory.find(kind, id);
      const retired = current ? undefined : deps.inventory.findRetired(kind, id);
      const device = current ?? retired?.device;
      if (!device || (typeof accountName === 'string' && device.accountName !== accountName)) {
        return sendError(res, ErrorCode.DeviceNotFound, `Device ${kind.toLowerCase()} ${id} was not found.`);
      }
      const entry = retired
        ? retiredEntry(retired.device, retired.line)
        : listEntry(device, deviceIdsOf(device), device);
      const shown =
        (currentState === undefined || entry.carrierInformations[0]?.state === String(currentState).toLowerCase()) &&
        (servicePlan === undefined || entry.carrierInformations.some((c) => c.servicePlan === servicePlan));
      return respond(res, 200, { hasMoreData: false, devices: shown ? [entry] : [] });
    }

    const cursor = typeof body.largestDeviceIdSeen === 'number' ? body.largestDeviceIdSeen : undefined;
    const state = currentState === undefined ? undefined : String(currentState).toLowerCase();
    const from = earliest === undefined ? undefined : Date.parse(String(earliest));
    const to = latest === undefined ? undefined : Date.parse(String(latest));
    const matches = (d: SimDevice) =>
      (accountName === undefined || d.accountName === accountName) &&
      (cursor === undefined || d.deviceNumber > cursor) &&
      (state === undefined || d.state === state) &&
      (servicePlan === undefined || carrierEntries(d, d, true).some((c) => c.servicePlan === servicePlan)) &&
      (from === undefined || Date.parse(d.createdAt) >= from) &&
      (to === undefined || Date.parse(d.createdAt) <= to) &&
      (identifierFilters.length === 0 || identifierFilters.every((f) => matchesIdentifierFilter(deviceIdsOf(d), f)));
    const wanted =
      typeof body.maxNumberOfDevices === 'number' && body.maxNumberOfDevices > 0 ? body.maxNumberOfDevices : Infinity;
    const size = Math.min(wanted, deps.pageSize);
    const page: SimDevice[] = [];
    let hasMoreData = false;
    if (cursor === undefined) {
      const sorted = deps.inventory.all().filter(matches).sort(byDateNewestFirst);
      page.push(...sorted.slice(0, size));
      hasMoreData = sorted.length > page.length;
    } else {
      // The inventory is in device-number order: stop at the first device past the page.
      for (const d of deps.inventory.after(cursor)) {
        if (!matches(d)) continue;
        if (page.length === size) {
          hasMoreData = true;
          break;
        }
        page.push(d);
      }
    }
    const devices = page.map((d) => listEntry(d, deviceIdsOf(d), d));
    respond(res, hasMoreData ? 202 : 200, { hasMoreData, devices });
  };
}
