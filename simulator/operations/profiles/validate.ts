/**
 * The profile requests' synchronous checks (see `index.ts` for what refuses the whole request and what fails
 * one device), and resolving each named device.
 */
import type { DeviceId } from '../../../contracts/types.js';
import { deviceIdProblem, idKey, resolveIds } from '../../platform/devices/identifiers.js';
import type { Inventory, InventoryLookup, SimDevice } from '../../platform/devices/inventory.js';
import { ErrorCode } from '../../platform/errors.js';
import { MAX_PROFILE_DEVICES } from '../../platform/faults.js';
import { invalid, isRecord, type Invalid } from '../../platform/util.js';
import { placeOfUseProblem } from './place-of-use.js';
import type { DeviceFailure, ProfileOperation, RequestedDevice, RequestFields, ValidProfileRequest } from './types.js';

/** Kinds each page accepts; the service plan change only eid and iccid, and "both values must be present". */
const ACCEPTED_KINDS: Record<ProfileOperation, readonly string[]> = {
  changeProfileServicePlan: ['eid', 'iccid'],
  activateDeviceProfiles: ['imei', 'iccid', 'mdn', 'eid'],
};

/** A device activated through the eUICC endpoint must have an eUICC; the docs name no code for this case. */
const NOT_EUICC = 'REQUEST_FAILED.Device.NotEuicc';

function readDeviceIds(entry: unknown, path: string, operation: ProfileOperation): DeviceId[] | Invalid {
  if (!isRecord(entry) || !Array.isArray(entry.deviceIds) || entry.deviceIds.length === 0) {
    return invalid(ErrorCode.DeviceIdentifierInvalid, `${path} must be an object with a non-empty deviceIds list.`);
  }
  const accepted = ACCEPTED_KINDS[operation];
  const ids: DeviceId[] = [];
  for (const [j, item] of entry.deviceIds.entries()) {
    const at = `${path}.deviceIds[${j}]`;
    const kind = isRecord(item) && typeof item.kind === 'string' ? item.kind.toLowerCase() : undefined;
    if (kind !== undefined && !accepted.includes(kind)) {
      return invalid(
        ErrorCode.DeviceKindInvalid,
        `${at}.kind '${String((item as DeviceId).kind)}' is not accepted here; use ${accepted.join(', ')}.`,
      );
    }
    const problem = deviceIdProblem(item, at);
    if (problem) return invalid(problem.code, problem.message);
    const { id } = item as DeviceId;
    if (ids.some((d) => d.kind === kind)) {
      return invalid(ErrorCode.DeviceIdentifierInvalid, `${path} lists kind ${String(kind)} more than once.`);
    }
    ids.push({ kind: kind as string, id });
  }
  if (operation === 'changeProfileServicePlan') {
    for (const kind of accepted) {
      if (!ids.some((d) => d.kind === kind)) {
        return invalid(
          ErrorCode.DeviceIdentifierMissing,
          `${path} must include the device's ${kind}: both eid and iccid must be present.`,
        );
      }
    }
  }
  return ids;
}

function readDevices(value: unknown, operation: ProfileOperation, maxDevices: number): DeviceId[][] | Invalid {
  if (!Array.isArray(value) || value.length === 0) {
    return invalid(ErrorCode.DeviceNotDefined, 'devices is required: a list of {deviceIds: [{kind, id}]}.');
  }
  // Checked before any device, so nothing of a refused request is acted on.
  if (value.length > maxDevices) {
    return invalid(
      ErrorCode.MaxRequestsExceeded,
      `The request has ${value.length} devices; at most ${maxDevices} devices are allowed in one request.`,
    );
  }
  const seen = new Map<string, number>();
  const devices: DeviceId[][] = [];
  for (const [i, entry] of value.entries()) {
    const ids = readDeviceIds(entry, `devices[${i}]`, operation);
    if (!Array.isArray(ids)) return ids;
    for (const { kind, id } of ids) {
      const key = idKey(kind, id);
      const earlier = seen.get(key);
      if (earlier !== undefined) {
        return invalid(
          ErrorCode.DeviceDuplicate,
          `devices[${i}] and devices[${earlier}] both name ${kind} ${id}: name each device once.`,
        );
      }
      seen.set(key, i);
    }
    devices.push(ids);
  }
  return devices;
}

function servicePlanFields(body: Record<string, unknown>): RequestFields | Invalid {
  const { servicePlan } = body;
  if (typeof servicePlan !== 'string' || servicePlan.trim() === '') {
    return invalid(ErrorCode.ParameterNotDefined, 'servicePlan is required: the name of the plan to change to.');
  }
  return { servicePlan, placeOfUse: false };
}

function activationFields(body: Record<string, unknown>): RequestFields | Invalid {
  const fields: RequestFields = { placeOfUse: false };
  for (const name of ['servicePlan', 'carrierName', 'smsrOid'] as const) {
    const value = body[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.trim() === '') {
      return invalid(ErrorCode.ParameterInvalid, `${name} must be a non-empty string when given.`);
    }
    fields[name] = value;
  }
  // The page's example sends an empty carrierIpPoolName.
  if (body.carrierIpPoolName !== undefined && typeof body.carrierIpPoolName !== 'string') {
    return invalid(ErrorCode.ParameterInvalid, 'carrierIpPoolName must be a string when given.');
  }
  const { mdnZipCode } = body;
  if (mdnZipCode !== undefined && (typeof mdnZipCode !== 'string' || !/^\d{5}$/.test(mdnZipCode))) {
    return invalid(ErrorCode.ParameterInvalid, 'mdnZipCode must be a 5-digit zip code.');
  }
  if (body.primaryPlaceOfUse !== undefined) {
    const problem = placeOfUseProblem(body.primaryPlaceOfUse);
    if (problem) return problem;
    fields.placeOfUse = true;
  }
  return fields;
}

/** The device all of `ids` name in `accountName`, or the failure its callback will report. */
function resolveDevice(
  lookup: InventoryLookup,
  accountName: string,
  ids: DeviceId[],
): { device: SimDevice } | { failure: DeviceFailure } {
  const resolved = resolveIds(lookup, ids, accountName);
  if ('missing' in resolved) {
    const { kind, id } = resolved.missing;
    return {
      failure: {
        faultcode: ErrorCode.DeviceNotFound,
        faultstring: `Device ${kind} ${id} was not found in account ${accountName}.`,
      },
    };
  }
  if ('mismatch' in resolved) {
    return {
      failure: {
        faultcode: ErrorCode.DeviceIdentifierMismatch,
        faultstring: 'The identifiers belong to different devices.',
      },
    };
  }
  const { device } = resolved;
  if (!device.eid) {
    return { failure: { faultcode: NOT_EUICC, faultstring: 'The device has no eUICC (no EID), so no eSIM profile.' } };
  }
  return { device };
}

/**
 * Checks a profile request the way ThingSpace does, one error per request, the first found: the body's
 * shape, then the operation's fields, then the account; then resolves each device (see the file comment
 * for what fails the whole request and what fails one device).
 */
export function validateProfileRequest(
  operation: ProfileOperation,
  body: unknown,
  inventory: Inventory,
  /** The pages say 10,000; the `maxProfileRequestDevices` fault lowers it. */
  maxDevices: number = MAX_PROFILE_DEVICES,
): { ok: true; value: ValidProfileRequest } | Invalid {
  if (!isRecord(body)) return invalid(ErrorCode.RequestUndefined, 'The request body must be a JSON object.');
  const { accountName } = body;
  if (typeof accountName !== 'string' || accountName === '') {
    return invalid(ErrorCode.AccountNotDefined, 'accountName is required.');
  }
  const named = readDevices(body.devices, operation, maxDevices);
  if (!Array.isArray(named)) return named;
  const fields = operation === 'changeProfileServicePlan' ? servicePlanFields(body) : activationFields(body);
  if ('ok' in fields) return fields;
  if (!inventory.accounts.has(accountName)) {
    return invalid(ErrorCode.AccountNotFound, `Account ${accountName} was not found.`);
  }
  const lookup = inventory.lookup();
  const claimed = new Map<number, number>();
  const devices: RequestedDevice[] = [];
  for (const [i, ids] of named.entries()) {
    const resolved = resolveDevice(lookup, accountName, ids);
    if ('device' in resolved) {
      const earlier = claimed.get(resolved.device.deviceNumber);
      if (earlier !== undefined) {
        return invalid(
          ErrorCode.DeviceDuplicate,
          `devices[${i}] and devices[${earlier}] name the same device: name each device once.`,
        );
      }
      claimed.set(resolved.device.deviceNumber, i);
    }
    devices.push({ ids, ...resolved });
  }
  return { ok: true, value: { operation, accountName, devices, ...fields } };
}
