/**
 * Device identifiers: the kinds and formats ThingSpace accepts, reading a request's `{kind, id}` lists, and
 * finding the one device a list names. One copy for every operation of the simulator.
 */
import type { DeviceId } from '../../../contracts/types.js';
import { ErrorCode } from '../errors.js';
import { invalid, isRecord, type Invalid } from '../util.js';
import type { InventoryLookup, SimDevice } from './inventory.js';

/** Identifier kinds ThingSpace accepts, and the formats it documents (thingspace-api-notes.md). */
export const DEVICE_KINDS = ['eid', 'iccid', 'imei', 'mdn', 'msisdn', 'meid', 'esn', 'imsi'] as const;
export const ID_FORMATS: Record<string, RegExp> = {
  eid: /^\d{32}$/,
  // Some SIMs end the ICCID in a hex check digit.
  iccid: /^\d{18,19}[0-9A-Fa-f]$/,
  imei: /^\d{15,16}$/,
  mdn: /^\d{10}$/,
  msisdn: /^\d{10,15}$/,
  meid: /^[0-9A-Fa-f]{14,18}$/,
  esn: /^(\d{11}|[0-9A-Fa-f]{8})$/,
  imsi: /^\d{14,15}$/,
};

/** The ThingSpace error for a malformed `{kind, id}`, or undefined when it is well formed. */
export function deviceIdProblem(value: unknown, path: string): { code: ErrorCode; message: string } | undefined {
  if (!isRecord(value)) {
    return { code: ErrorCode.DeviceIdentifierInvalid, message: `${path} must be an object with kind and id.` };
  }
  const { kind, id } = value;
  if (typeof kind !== 'string' || !(DEVICE_KINDS as readonly string[]).includes(kind.toLowerCase())) {
    return { code: ErrorCode.DeviceKindInvalid, message: `${path}.kind '${String(kind)}' is not a valid device kind.` };
  }
  const format = ID_FORMATS[kind.toLowerCase()];
  if (typeof id !== 'string' || id === '' || (format !== undefined && !format.test(id))) {
    return { code: ErrorCode.DeviceIdentifierInvalid, message: `${path}.id is not a valid ${kind.toLowerCase()}.` };
  }
  return undefined;
}

/** Case-insensitive equality of two identifiers; false when either is missing. */
export function sameId(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}

/** `kind:id` with the id in lower case: the key one identifier is indexed or de-duplicated under. */
export function idKey(kind: string, id: string): string {
  return `${kind}:${id.toLowerCase()}`;
}

/** The MSISDN of a US MDN: the MDN with the country code 1. */
export function msisdnOf(mdn: string): string {
  return `1${mdn}`;
}

/** `{kind, id}` copies with the kinds in lower case. */
export function lowerKinds(ids: readonly DeviceId[]): DeviceId[] {
  return ids.map(({ kind, id }) => ({ kind: kind.toLowerCase(), id }));
}

/**
 * A request's list of `{kind, id}` named `field`: present and non-empty (else `missing`), every item well
 * formed, no kind twice; kinds lower-cased.
 */
export function readDeviceIdList(value: unknown, field: string, missing: string): DeviceId[] | Invalid {
  if (!Array.isArray(value) || value.length === 0) return invalid(ErrorCode.DeviceNotDefined, missing);
  const ids: DeviceId[] = [];
  for (const [i, item] of value.entries()) {
    const problem = deviceIdProblem(item, `${field}[${i}]`);
    if (problem) return invalid(problem.code, problem.message);
    const { kind, id } = item as DeviceId;
    const lower = kind.toLowerCase();
    if (ids.some((d) => d.kind === lower)) {
      return invalid(ErrorCode.DeviceIdentifierInvalid, `${field} lists kind ${lower} more than once.`);
    }
    ids.push({ kind: lower, id });
  }
  return ids;
}

/** What a list of identifiers names: one device, an identifier no device (of the account) carries, or two devices. */
export type Resolved = { device: SimDevice } | { missing: DeviceId } | { mismatch: true };

/**
 * The one device every identifier in `ids` (non-empty) names, checked in order; with `accountName`, a device
 * of another account is as unknown as one that does not exist.
 */
export function resolveIds(lookup: Pick<InventoryLookup, 'find'>, ids: DeviceId[], accountName?: string): Resolved {
  let found: SimDevice | undefined;
  for (const named of ids) {
    const device = lookup.find(named.kind, named.id);
    if (!device || (accountName !== undefined && device.accountName !== accountName)) return { missing: named };
    if (found && found !== device) return { mismatch: true };
    found = device;
  }
  return { device: found as SimDevice };
}

/** Current identifiers of a device as ThingSpace lists them: lower-case kinds. */
export function deviceIdsOf(device: SimDevice): DeviceId[] {
  const ids: DeviceId[] = [];
  if (device.eid) ids.push({ id: device.eid, kind: 'eid' });
  ids.push({ id: device.iccid, kind: 'iccid' });
  ids.push({ id: device.imei, kind: 'imei' });
  if (device.meid) ids.push({ id: device.meid, kind: 'meid' });
  if (device.mdn) {
    ids.push({ id: device.mdn, kind: 'mdn' });
    ids.push({ id: msisdnOf(device.mdn), kind: 'msisdn' });
  }
  return ids;
}
