/** The identifier change's synchronous checks, in ThingSpace's order and with its error codes. */
import {
  CHANGE_4G_OPTIONS,
  SERVICE_TYPES,
  type Change4gOption,
  type DeviceId,
  type ServiceType,
} from '../../../contracts/types.js';
import { readDeviceIdList, resolveIds, sameId } from '../../platform/devices/identifiers.js';
import { hasLine, type Inventory, type SimDevice } from '../../platform/devices/inventory.js';
import { ErrorCode } from '../../platform/errors.js';
import { invalid, isRecord, type Invalid } from '../../platform/util.js';
import { CHANGE_RULES, changeName, label, planFits, technologyOf, type ChangeKind } from './rules.js';
import type { ChangeIdentifierDeps, ChangeIdentifierRecord, ValidChange } from './types.js';

const absent = (value: unknown): boolean => value === undefined || value === null;

function readServiceType(value: unknown): ServiceType | Invalid {
  if (typeof value === 'string' && (SERVICE_TYPES as readonly string[]).includes(value)) return value as ServiceType;
  return invalid(ErrorCode.ServiceTypeInvalid, `serviceType '${String(value)}' is not valid: use 3g or 4g.`);
}

/** `change4gOption`: required for 4g; on 3g only `3Gto4G` (the one change whose device is a 3G device). */
function readOption(body: Record<string, unknown>, serviceType: ServiceType): ChangeKind | Invalid {
  const option = body.change4gOption;
  if (absent(option)) {
    if (serviceType === '4g') return invalid(ErrorCode.ParameterNotDefined, 'change4gOption is required for 4g.');
    return '3G';
  }
  if (typeof option !== 'string' || !(CHANGE_4G_OPTIONS as readonly string[]).includes(option)) {
    return invalid(
      ErrorCode.ParameterInvalid,
      `change4gOption '${String(option)}' is not valid: use one of ${CHANGE_4G_OPTIONS.join(', ')}.`,
    );
  }
  if (serviceType === '3g' && option !== '3Gto4G') {
    return invalid(ErrorCode.ParameterInvalid, `change4gOption ${option} changes a 4G device: use serviceType 4g.`);
  }
  return option as Change4gOption;
}

/** `deviceIdsTo`: absent for ChangeMSISDN, else exactly the kinds the change takes. */
function readDeviceIdsTo(body: Record<string, unknown>, kind: ChangeKind): DeviceId[] | Invalid {
  const rule = CHANGE_RULES[kind];
  if (kind === 'ChangeMSISDN') {
    if (absent(body.deviceIdsTo)) return [];
    return invalid(
      ErrorCode.ParameterInvalid,
      'deviceIdsTo must be left out with ChangeMSISDN: the hardware (IMEI or ICCID) and the MSISDN cannot change in the same request.',
    );
  }
  const ids = readDeviceIdList(
    body.deviceIdsTo,
    'deviceIdsTo',
    `deviceIdsTo is required for ${changeName(kind)}: the new ${rule.required.join(' and ')}.`,
  );
  if (!Array.isArray(ids)) return ids;
  const allowed: string[] = [...rule.required, ...rule.optional];
  for (const [i, { kind: idKind }] of ids.entries()) {
    if (!allowed.includes(idKind)) {
      return invalid(
        ErrorCode.DeviceKindInvalid,
        `deviceIdsTo[${i}].kind ${idKind} does not fit ${changeName(kind)}, which takes ${allowed.join(', ')}.`,
      );
    }
  }
  for (const required of rule.required) {
    if (!ids.some((d) => d.kind === required)) {
      return invalid(
        ErrorCode.DeviceIdentifierMissing,
        `deviceIdsTo must include the new ${required} for ${changeName(kind)}.`,
      );
    }
  }
  return ids;
}

interface NumberFields {
  assignNonGeoMdn?: boolean;
  npaNxx?: string;
  zipCode?: string;
}

/** `assignNonGeoMdn`, `npaNxx` and `zipCode`; the first two are required by ChangeMSISDN. */
function readNumberFields(body: Record<string, unknown>, kind: ChangeKind): NumberFields | Invalid {
  const { assignNonGeoMdn, npaNxx, zipCode } = body;
  const fields: NumberFields = {};
  if (absent(assignNonGeoMdn)) {
    if (kind === 'ChangeMSISDN') {
      return invalid(ErrorCode.ParameterNotDefined, 'assignNonGeoMdn is required for ChangeMSISDN.');
    }
  } else if (typeof assignNonGeoMdn !== 'boolean') {
    return invalid(ErrorCode.ParameterInvalid, 'assignNonGeoMdn must be true or false.');
  } else {
    fields.assignNonGeoMdn = assignNonGeoMdn;
  }
  if (absent(npaNxx)) {
    if (kind === 'ChangeMSISDN' && assignNonGeoMdn === false) {
      return invalid(
        ErrorCode.ParameterNotDefined,
        'npaNxx is required for ChangeMSISDN when assignNonGeoMdn is false.',
      );
    }
  } else if (typeof npaNxx !== 'string' || !/^\d{6}$/.test(npaNxx)) {
    return invalid(ErrorCode.ParameterInvalid, 'npaNxx must be 6 digits: the area code and prefix.');
  } else {
    fields.npaNxx = npaNxx;
  }
  if (!absent(zipCode)) {
    if (typeof zipCode !== 'string' || !/^\d{5}(-\d{4})?$/.test(zipCode)) {
      return invalid(ErrorCode.ParameterInvalid, 'zipCode must be a US ZIP code.');
    }
    fields.zipCode = zipCode;
  }
  return fields;
}

function optionalString(body: Record<string, unknown>, field: string): string | undefined | Invalid {
  const value = body[field];
  if (absent(value)) return undefined;
  if (typeof value !== 'string' || value.trim() === '') {
    return invalid(ErrorCode.ParameterInvalid, `${field} must be a non-empty string when given.`);
  }
  return value;
}

/** The one device every identifier in `ids` names, in whichever account it lives. */
function resolveDevice(inventory: Inventory, ids: DeviceId[]): SimDevice | Invalid {
  const resolved = resolveIds(inventory, ids);
  if ('missing' in resolved) {
    const { kind, id } = resolved.missing;
    return invalid(ErrorCode.DeviceNotFound, `Device ${kind} ${id} was not found.`);
  }
  if ('mismatch' in resolved) {
    return invalid(ErrorCode.DeviceIdentifierMismatch, 'The identifiers in deviceIds belong to different devices.');
  }
  return resolved.device;
}

/** Hardware identifiers that changes already applied replaced: still in the platform's database. */
function replacedBefore(deps: ChangeIdentifierDeps, kind: string, id: string): boolean {
  return deps.changeIdentifierRequests.some((r) => r.replaced.some((d) => d.kind === kind && sameId(d.id, id)));
}

/** A change not yet applied that will give some device this identifier. */
function pendingWith(deps: ChangeIdentifierDeps, kind: string, id: string): ChangeIdentifierRecord | undefined {
  return deps.changeIdentifierRequests.find(
    (r) => r.status === 'scheduled' && r.newDeviceIds.some((d) => d.kind === kind && sameId(d.id, id)),
  );
}

/** True when a line of service (a billing account) holds this SIM. */
function simOnLine(inventory: Inventory, iccid: string): boolean {
  const current = inventory.find('iccid', iccid);
  if (current) return hasLine(current.state);
  const retired = inventory.findRetired('iccid', iccid);
  return retired !== undefined && hasLine(retired.line.state);
}

/**
 * The page's condition on new hardware: "cannot already be in the ThingSpace Platform database", and a new
 * SIM "must be inactive and not already associated with a billing account". An unknown ICCID is a new SIM.
 */
function newHardwareProblem(deps: ChangeIdentifierDeps, device: SimDevice, ids: DeviceId[]): Invalid | undefined {
  for (const { kind, id } of ids) {
    if (deps.inventory.find(kind, id) === device) {
      return invalid(ErrorCode.SameDevice, `deviceIdsTo ${kind} ${id} is the device's current ${kind}.`);
    }
    if (kind === 'iccid' && simOnLine(deps.inventory, id)) {
      return invalid(
        ErrorCode.DeviceAlreadyActive,
        `The new SIM (iccid ${id}) is active on a line of service: it must be inactive and not associated with a billing account. Deactivate that line, then delete the device with POST /devices/actions/delete.`,
      );
    }
    if (deps.inventory.isKnown(kind, id) || replacedBefore(deps, kind, id)) {
      return invalid(
        ErrorCode.DeviceAlreadyExists,
        `${kind} ${id} is already in the ThingSpace Platform database. To reuse that hardware, first delete it with POST /devices/actions/delete.`,
      );
    }
    const pending = pendingWith(deps, kind, id);
    // Under `acceptDuplicates` a repeat of a change still in flight for the same device is not refused.
    if (pending && !(deps.faults.acceptDuplicates && pending.deviceNumber === device.deviceNumber)) {
      return invalid(
        ErrorCode.DeviceAlreadyExists,
        `${kind} ${id} is being assigned to a device by request ${pending.requestId}.`,
      );
    }
  }
  return undefined;
}

/** The device's preconditions: active with an MDN, the technology the change expects, a plan that fits. */
function deviceProblem(device: SimDevice, kind: ChangeKind, servicePlan: string | undefined): Invalid | undefined {
  const rule = CHANGE_RULES[kind];
  if (device.state !== 'active' || !device.mdn) {
    const now = device.state !== 'active' ? `is ${device.state}` : 'has no MDN';
    return invalid(
      ErrorCode.DeviceStateInvalid,
      `The device ${now}; it must be in the Active state with an MDN/MSISDN assigned.`,
    );
  }
  const technology = technologyOf(device);
  if (technology !== rule.from) {
    return invalid(
      ErrorCode.ServiceTypeInvalid,
      `The device is a ${label(technology)} device; ${changeName(kind)} changes a ${label(rule.from)} device.`,
    );
  }
  if (servicePlan !== undefined && !planFits(servicePlan, rule.to)) {
    return invalid(
      ErrorCode.ParameterInvalid,
      `servicePlan ${servicePlan} is not compatible with a ${label(rule.to)} device.`,
    );
  }
  return undefined;
}

/** Checks a request the way ThingSpace does: the path, the body's shape, then the device and new hardware. */
export function validateChange(
  serviceTypeParam: unknown,
  body: unknown,
  deps: ChangeIdentifierDeps,
): { ok: true; value: ValidChange } | Invalid {
  const serviceType = readServiceType(serviceTypeParam);
  if (typeof serviceType !== 'string') return serviceType;
  if (!isRecord(body)) return invalid(ErrorCode.RequestUndefined, 'The request body must be a JSON object.');
  const deviceIds = readDeviceIdList(
    body.deviceIds,
    'deviceIds',
    'deviceIds is required: the device to change, by one of its identifiers.',
  );
  if (!Array.isArray(deviceIds)) return deviceIds;
  const kind = readOption(body, serviceType);
  if (typeof kind !== 'string') return kind;
  const deviceIdsTo = readDeviceIdsTo(body, kind);
  if (!Array.isArray(deviceIdsTo)) return deviceIdsTo;
  const numbers = readNumberFields(body, kind);
  if ('ok' in numbers) return numbers;
  const smsrOid = optionalString(body, 'smsrOid');
  if (typeof smsrOid === 'object') return smsrOid;
  if (kind === 'ChangeIMEIandEID' && smsrOid === undefined) {
    return invalid(ErrorCode.ParameterNotDefined, 'smsrOid is required for ChangeIMEIandEID.');
  }
  const servicePlan = optionalString(body, 'servicePlan');
  if (typeof servicePlan === 'object') return servicePlan;

  const device = resolveDevice(deps.inventory, deviceIds);
  if ('ok' in device) return device;
  const problem = deviceProblem(device, kind, servicePlan) ?? newHardwareProblem(deps, device, deviceIdsTo);
  if (problem) return problem;
  return {
    ok: true,
    value: {
      serviceType,
      ...(kind === '3G' ? {} : { option: kind }),
      rule: CHANGE_RULES[kind],
      device,
      deviceIds,
      deviceIdsTo,
      ...numbers,
      ...(servicePlan === undefined ? {} : { servicePlan }),
      ...(smsrOid === undefined ? {} : { smsrOid }),
    },
  };
}
