/** The swap's synchronous checks, in ThingSpace's order and with its error codes (eid-device-swap.txt). */
import type { DeviceId } from '../../../contracts/types.js';
import { readDeviceIdList, resolveIds } from '../../platform/devices/identifiers.js';
import { hasLine, type Inventory, type SimDevice } from '../../platform/devices/inventory.js';
import { ErrorCode } from '../../platform/errors.js';
import { invalid, isRecord, type Invalid } from '../../platform/util.js';
import type { SwapRequestFields, ValidSwap } from './types.js';

type Side = 'deviceToSwapOut' | 'deviceToSwapIn';

/** Kinds the page requires per side: out "by the device's MDN, EID, IMEI, and ICCID", in "by EID and IMEI". */
const REQUIRED_KINDS: Record<Side, string[]> = {
  deviceToSwapOut: ['mdn', 'eid', 'imei', 'iccid'],
  deviceToSwapIn: ['eid', 'imei'],
};

const REQUIRED_FIELDS = ['mdnZipCode', 'serviceName', 'stateName', 'servicePlan', 'smsrOid'] as const;

function readIds(body: Record<string, unknown>, side: Side): DeviceId[] | Invalid {
  const ids = readDeviceIdList(body[side], side, `${side} is required: a list of device identifiers.`);
  if (!Array.isArray(ids)) return ids;
  for (const kind of REQUIRED_KINDS[side]) {
    if (!ids.some((d) => d.kind === kind)) {
      return invalid(ErrorCode.DeviceIdentifierMissing, `${side} must include the device's ${kind}.`);
    }
  }
  return ids;
}

/** The one inventory device all of `ids` name, in `accountName`. */
function resolveDevice(inventory: Inventory, accountName: string, side: string, ids: DeviceId[]): SimDevice | Invalid {
  const resolved = resolveIds(inventory, ids, accountName);
  if ('missing' in resolved) {
    const { kind, id } = resolved.missing;
    return invalid(ErrorCode.DeviceNotFound, `Device ${kind} ${id} was not found in account ${accountName}.`);
  }
  if ('mismatch' in resolved) {
    return invalid(ErrorCode.DeviceIdentifierMismatch, `The identifiers of ${side} belong to different devices.`);
  }
  return resolved.device;
}

/** The request's shape, before the account and devices are looked at. */
export function readSwapRequest(body: unknown): { ok: true; value: SwapRequestFields } | Invalid {
  if (!isRecord(body)) return invalid(ErrorCode.RequestUndefined, 'The request body must be a JSON object.');
  const { accountName, carrierIpPoolName } = body;
  if (typeof accountName !== 'string' || accountName === '') {
    return invalid(ErrorCode.AccountNotDefined, 'accountName is required.');
  }
  const outIds = readIds(body, 'deviceToSwapOut');
  if (!Array.isArray(outIds)) return outIds;
  const inIds = readIds(body, 'deviceToSwapIn');
  if (!Array.isArray(inIds)) return inIds;
  const fields: Record<string, string> = {};
  for (const field of REQUIRED_FIELDS) {
    const value = body[field];
    if (typeof value !== 'string' || value.trim() === '') {
      return invalid(ErrorCode.ParameterNotDefined, `${field} is required.`);
    }
    fields[field] = value;
  }
  if (!/^\d{5}(-\d{4})?$/.test(fields.mdnZipCode ?? '')) {
    return invalid(ErrorCode.ParameterInvalid, 'mdnZipCode must be a US Zip code.');
  }
  if (carrierIpPoolName !== undefined && (typeof carrierIpPoolName !== 'string' || carrierIpPoolName === '')) {
    return invalid(ErrorCode.ParameterInvalid, 'carrierIpPoolName must be a non-empty string when given.');
  }
  return {
    ok: true,
    value: {
      accountName,
      outIds,
      inIds,
      mdnZipCode: fields.mdnZipCode as string,
      serviceName: fields.serviceName as string,
      stateName: fields.stateName as string,
      servicePlan: fields.servicePlan as string,
      smsrOid: fields.smsrOid as string,
      ...(typeof carrierIpPoolName === 'string' ? { carrierIpPoolName } : {}),
    },
  };
}

/** Checks a swap request the way ThingSpace does: shape first, then the account, then the devices. */
export function validateSwap(body: unknown, inventory: Inventory): { ok: true; value: ValidSwap } | Invalid {
  const read = readSwapRequest(body);
  if (!read.ok) return read;
  const { accountName, outIds, inIds, ...fields } = read.value;
  if (!inventory.accounts.has(accountName)) {
    return invalid(ErrorCode.AccountNotFound, `Account ${accountName} was not found.`);
  }
  const out = resolveDevice(inventory, accountName, 'deviceToSwapOut', outIds);
  if ('ok' in out) return out;
  const into = resolveDevice(inventory, accountName, 'deviceToSwapIn', inIds);
  if ('ok' in into) return into;
  if (out === into) return invalid(ErrorCode.SameDevice, 'deviceToSwapIn and deviceToSwapOut are the same device.');
  if (out.state !== 'active') {
    return invalid(ErrorCode.DeviceStateInvalid, `The device to swap out is ${out.state}; it must be active.`);
  }
  // "If you are installing a device that already has an active line of service, you must also specify
  // the device's ICCID."
  if (hasLine(into.state) && !inIds.some((d) => d.kind === 'iccid')) {
    return invalid(
      ErrorCode.DeviceIdentifierMissing,
      "deviceToSwapIn has a line of service: the device's iccid is required.",
    );
  }
  return { ok: true, value: { accountName, out, into, ...fields } };
}
