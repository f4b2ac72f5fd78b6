/**
 * `PUT /m2m/v1/devices/{serviceType}/actions/deviceId` (change-device-identifier.txt): validation and the
 * page's preconditions with ThingSpace's error codes, the `{requestId}` answer, and the one CarrierService
 * callback, which changes the inventory when it is generated.
 *
 * Where the page leaves the model open, the simulator decides:
 * - **Technology.** A device with an MEID is a 3G device, any other a 4G device. A plan whose code contains
 *   `3G` (not `3GB`) works only on 3G devices, one with `4G` only on 4G devices, any other on both.
 * - **serviceType** names the device that's changing: `4g` takes all seven `change4gOption`s; `3g` takes
 *   none (new 3G hardware) or `3Gto4G`. Every option also states which technology the device must have.
 * - **deviceIdsTo** must name exactly the kinds in {@link CHANGE_RULES}. The inventory keeps an IMEI and an
 *   ICCID for every device, so 3G hardware is named by its MEID and IMEI.
 * - **The EID** belongs to the SIM: kept when the SIM stays (ChangeIMEI, ChangeMSISDN) or gets a new
 *   profile (ChangeICCID), replaced by ChangeIMEIandEID, dropped when new hardware comes without one.
 * - **Old hardware** stays in the platform's database (replaced SIMs as deactivated lines, replaced IMEIs,
 *   EIDs and MEIDs in this module's records) until deleted, which the simulator never does: it cannot be
 *   the new hardware of a later change.
 * - **Numbers.** An NPA-NXX whose NXX is 555 has no numbers available (NANP keeps 555 for directory and
 *   fictional use), any other has. When the NPA-NXX has none, the number comes from the `zipCode`, whose
 *   NPA-NXX is made from its digits; with no `zipCode` the callback reports the failure. Non-geographic
 *   numbers come from area code 544, one of NANP's non-geographic 5XX codes.
 */
import type { Request, RequestHandler, Response } from 'express';
import {
  CHANGE_4G_OPTIONS,
  SERVICE_TYPES,
  type Change4gOption,
  type DeviceId,
  type ServiceType,
} from '../../../contracts/types.js';
import type { ActedLedger } from '../../platform/acted.js';
import type { CallbackDispatcher, CallbackJob, DeliveryTiming } from '../../platform/delivery.js';
import {
  deviceIdProblem,
  deviceIdsOf,
  hasLine,
  type Inventory,
  type SimDevice,
} from '../../platform/devices/inventory.js';
import { ErrorCode, respond, sendError } from '../../platform/errors.js';
import type { CallbackFaults, FaultState, StepFailure } from '../../platform/faults.js';
import { randomDigits, randomInt, seededUuid, type SeededRandom } from '../../platform/random.js';

/** The delivery-log step and fault key of the one callback this operation sends. */
export const CHANGE_IDENTIFIER_STEP = 'changeDeviceIdentifier';

type Technology = '3g' | '4g';
type HardwareKind = 'iccid' | 'imei' | 'eid' | 'meid';

/** A `change4gOption`, or `3G` for a 3G hardware change (serviceType `3g` without an option). */
type ChangeKind = Change4gOption | '3G';

interface ChangeRule {
  /** The technology of the device before the change, and after it. */
  from: Technology;
  to: Technology;
  /** Kinds `deviceIdsTo` must name; `optional` ones it may name too; any other kind is refused. */
  required: HardwareKind[];
  optional: HardwareKind[];
  /** What becomes of the device's EID. */
  eid: 'keep' | 'replace' | 'drop';
}

/** The table of change-device-identifier.txt, with the kinds each change needs (see the module comment). */
export const CHANGE_RULES: Record<ChangeKind, ChangeRule> = {
  ChangeICCID: { from: '4g', to: '4g', required: ['iccid'], optional: [], eid: 'keep' },
  ChangeIMEI: { from: '4g', to: '4g', required: ['imei'], optional: [], eid: 'keep' },
  ChangeIMEIandICCID: { from: '4g', to: '4g', required: ['imei', 'iccid'], optional: [], eid: 'drop' },
  ChangeMSISDN: { from: '4g', to: '4g', required: [], optional: [], eid: 'keep' },
  '3Gto4G': { from: '3g', to: '4g', required: ['imei'], optional: ['iccid'], eid: 'drop' },
  '4Gto3G': { from: '4g', to: '3g', required: ['meid', 'imei'], optional: ['iccid'], eid: 'drop' },
  ChangeIMEIandEID: { from: '4g', to: '4g', required: ['imei', 'eid'], optional: [], eid: 'replace' },
  '3G': { from: '3g', to: '3g', required: ['meid', 'imei'], optional: ['iccid'], eid: 'drop' },
};

/** Fault codes of failure callbacks, without the `CarrierService.` prefix the callback adds. */
export const ChangeFaultCode = {
  ServicePlanNotCompatible: 'REQUEST_FAILED.ServicePlanNotCompatible',
  MdnNotAvailable: 'REQUEST_FAILED.MdnNotAvailable',
} as const;

/** The non-geographic NANP area code new non-geo MDNs come from. */
export const NON_GEO_NPA = '544';

export type ChangeStatus = 'scheduled' | 'completed' | 'failed' | 'never';

/** One accepted identifier change: what was asked, what was decided, and how it ended. */
export interface ChangeIdentifierRecord {
  requestId: string;
  /** The account the device lives in (the request body names none). */
  accountName: string;
  submittedAt: string;
  serviceType: ServiceType;
  change4gOption?: Change4gOption;
  deviceNumber: number;
  /** The device as the request named it; the callback names it so. */
  deviceIds: DeviceId[];
  /** The device's identifiers when the request was accepted. */
  before: DeviceId[];
  /** What the callback reports as changed: `deviceIdsTo`, or the new MDN and MSISDN. */
  newDeviceIds: DeviceId[];
  /** The device's plan after the change. */
  servicePlan: string;
  smsrOid?: string;
  /** ChangeMSISDN: the number assigned, and where it came from. */
  newMdn?: { mdn: string; source: 'nonGeo' | 'npaNxx' | 'zipCode' };
  /** Identifiers of replaced hardware, set when the change is applied. */
  replaced: DeviceId[];
  /** Why the callback reports a failure: decided at submit, injected, or found when it was generated. */
  failure?: StepFailure;
  status: ChangeStatus;
}

export interface ChangeIdentifierDeps {
  inventory: Inventory;
  dispatcher: CallbackDispatcher;
  faults: FaultState;
  random: SeededRandom;
  /** Swaps, whose new lines hold their MDNs until they are applied. */
  operations: readonly { newLine: { mdn: string } }[];
  changeIdentifierRequests: ChangeIdentifierRecord[];
  acted: ActedLedger;
  /** Stray callbacks for the device, delivered before the request is answered (the `strayCallbacks` profile). */
  strayCallbacks(
    accountName: string,
    trigger: { operation: 'changeDeviceIdentifier'; device: SimDevice },
  ): Promise<void>;
  now(): number;
  callbackDelayMs(): number;
  deliveryTiming(): DeliveryTiming;
}

type Invalid = { ok: false; code: ErrorCode; message: string };

interface ValidChange {
  serviceType: ServiceType;
  option?: Change4gOption;
  rule: ChangeRule;
  device: SimDevice;
  deviceIds: DeviceId[];
  deviceIdsTo: DeviceId[];
  servicePlan?: string;
  assignNonGeoMdn?: boolean;
  npaNxx?: string;
  zipCode?: string;
  smsrOid?: string;
}

function invalid(code: ErrorCode, message: string): Invalid {
  return { ok: false, code, message };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const absent = (value: unknown): boolean => value === undefined || value === null;

/** The technology a plan code is for, or undefined when it works on both. */
export function planTechnology(plan: string): Technology | undefined {
  const is3g = /3G(?!B)/i.test(plan);
  const is4g = /4G(?!B)/i.test(plan);
  if (is3g === is4g) return undefined;
  return is3g ? '3g' : '4g';
}

function planFits(plan: string, technology: Technology): boolean {
  const planFor = planTechnology(plan);
  return planFor === undefined || planFor === technology;
}

function technologyOf(device: SimDevice): Technology {
  return device.meid ? '3g' : '4g';
}

const label = (tech: Technology): string => tech.toUpperCase();

function changeName(kind: ChangeKind): string {
  return kind === '3G' ? 'a 3G change (serviceType 3g without change4gOption)' : kind;
}

/** A list of `{kind, id}`: well formed, no kind twice, kinds lower-cased. */
function readIds(value: unknown, field: string, missing: string): DeviceId[] | Invalid {
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
  const ids = readIds(
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
  let found: SimDevice | undefined;
  for (const { kind, id } of ids) {
    const device = inventory.find(kind, id);
    if (!device) return invalid(ErrorCode.DeviceNotFound, `Device ${kind} ${id} was not found.`);
    if (found && found !== device) {
      return invalid(ErrorCode.DeviceIdentifierMismatch, 'The identifiers in deviceIds belong to different devices.');
    }
    found = device;
  }
  return found as SimDevice;
}

/** Hardware identifiers that changes already applied replaced: still in the platform's database. */
function replacedBefore(deps: ChangeIdentifierDeps, kind: string, id: string): boolean {
  return deps.changeIdentifierRequests.some((r) =>
    r.replaced.some((d) => d.kind === kind && d.id.toLowerCase() === id.toLowerCase()),
  );
}

/** A change not yet applied that will give some device this identifier. */
function pendingWith(deps: ChangeIdentifierDeps, kind: string, id: string): ChangeIdentifierRecord | undefined {
  return deps.changeIdentifierRequests.find(
    (r) =>
      r.status === 'scheduled' &&
      r.newDeviceIds.some((d) => d.kind === kind && d.id.toLowerCase() === id.toLowerCase()),
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
  const deviceIds = readIds(
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

/** NANP keeps NXX 555 for directory and fictional numbers: no number there is available. */
function exhausted(npaNxx: string): boolean {
  return npaNxx.slice(3) === '555';
}

/** The NPA-NXX numbers for a ZIP code come from: NPA and NXX lead with 2-9, the NXX ends in 0 (never 555). */
export function zipNpaNxx(zipCode: string): string {
  const digit = (i: number): number => Number(zipCode[i]);
  return `${2 + (digit(0) % 8)}${zipCode.slice(1, 3)}${2 + (digit(3) % 8)}${zipCode[4]}0`;
}

function mdnTaken(deps: ChangeIdentifierDeps, mdn: string): boolean {
  return (
    deps.inventory.isKnown('mdn', mdn) ||
    deps.operations.some((o) => o.newLine.mdn === mdn) ||
    deps.changeIdentifierRequests.some((r) => r.status === 'scheduled' && r.newMdn?.mdn === mdn)
  );
}

/** A free number starting with `npaNxx`, or undefined when none is available. */
function numberIn(deps: ChangeIdentifierDeps, npaNxx: string): string | undefined {
  if (exhausted(npaNxx)) return undefined;
  // Random draws rather than a scan keep numbers spread out; 1,000 misses mean the prefix is full.
  for (let attempt = 0; attempt < 1000; attempt++) {
    const mdn = `${npaNxx}${randomDigits(deps.random.ids, 4)}`;
    if (!mdnTaken(deps, mdn)) return mdn;
  }
  return undefined;
}

/** ChangeMSISDN's new number, by the page's rules: non-geographic, or from the NPA-NXX, else the ZIP code. */
function assignMdn(deps: ChangeIdentifierDeps, change: ValidChange): ChangeIdentifierRecord['newMdn'] {
  if (change.assignNonGeoMdn) {
    for (;;) {
      const mdn = numberIn(
        deps,
        `${NON_GEO_NPA}${2 + randomInt(deps.random.ids, 8)}${randomDigits(deps.random.ids, 2)}`,
      );
      if (mdn) return { mdn, source: 'nonGeo' };
    }
  }
  const fromNpaNxx = numberIn(deps, change.npaNxx as string);
  if (fromNpaNxx) return { mdn: fromNpaNxx, source: 'npaNxx' };
  const fromZip = change.zipCode === undefined ? undefined : numberIn(deps, zipNpaNxx(change.zipCode));
  return fromZip === undefined ? undefined : { mdn: fromZip, source: 'zipCode' };
}

/** Outcomes the carrier decides on after accepting the request, reported by a failure callback. */
function submitFailure(change: ValidChange, newMdn: ChangeIdentifierRecord['newMdn']): StepFailure | undefined {
  const { rule, device, option } = change;
  // "Replacing a 3G device with a 4G device, or replacing a 4G device with a 3G device, will most likely
  // require changing the service plan."
  if (rule.from !== rule.to && change.servicePlan === undefined && !planFits(device.servicePlan, rule.to)) {
    const to = label(rule.to);
    return {
      faultcode: ChangeFaultCode.ServicePlanNotCompatible,
      faultstring: `Service plan ${device.servicePlan} is not compatible with a ${to} device; a ${to}-compatible servicePlan is probably needed.`,
    };
  }
  if (option === 'ChangeMSISDN' && !newMdn) {
    return {
      faultcode: ChangeFaultCode.MdnNotAvailable,
      faultstring: `No number is available in NPA-NXX ${String(change.npaNxx)}, and no zipCode was given to assign one from.`,
    };
  }
  return undefined;
}

function planChange(deps: ChangeIdentifierDeps, change: ValidChange): ChangeIdentifierRecord {
  const { device } = change;
  const newMdn = change.option === 'ChangeMSISDN' ? assignMdn(deps, change) : undefined;
  const failure = submitFailure(change, newMdn);
  const record: ChangeIdentifierRecord = {
    requestId: seededUuid(deps.random.ids),
    accountName: device.accountName,
    submittedAt: new Date(deps.now()).toISOString(),
    serviceType: change.serviceType,
    ...(change.option ? { change4gOption: change.option } : {}),
    deviceNumber: device.deviceNumber,
    deviceIds: change.deviceIds,
    before: deviceIdsOf(device),
    newDeviceIds: newMdn
      ? [
          { id: newMdn.mdn, kind: 'mdn' },
          { id: `1${newMdn.mdn}`, kind: 'msisdn' },
        ]
      : change.deviceIdsTo.map(({ id, kind }) => ({ id, kind })),
    servicePlan: change.servicePlan ?? device.servicePlan,
    ...(change.smsrOid ? { smsrOid: change.smsrOid } : {}),
    ...(newMdn ? { newMdn } : {}),
    replaced: [],
    ...(failure ? { failure } : {}),
    status: 'scheduled',
  };
  return record;
}

const ruleOf = (record: ChangeIdentifierRecord): ChangeRule => CHANGE_RULES[record.change4gOption ?? '3G'];

/** Whether the change can still be applied when its callback is generated: the world may have moved on. */
function applyProblem(deps: ChangeIdentifierDeps, record: ChangeIdentifierRecord): StepFailure | undefined {
  const device = deps.inventory.byNumber(record.deviceNumber);
  if (!device) {
    return { faultcode: ErrorCode.DeviceNotFound, faultstring: 'The device is no longer in the account.' };
  }
  if (device.state !== 'active' || !device.mdn) {
    return {
      faultcode: ErrorCode.DeviceStateInvalid,
      faultstring: 'The device is no longer in the Active state with an MDN/MSISDN assigned.',
    };
  }
  const taken = record.newDeviceIds.find(({ kind, id }) => {
    const holder = deps.inventory.find(kind, id);
    return holder !== undefined && holder !== device;
  });
  if (taken) {
    return {
      faultcode: ErrorCode.DeviceAlreadyExists,
      faultstring: `${taken.kind} ${taken.id} was given to another device before the change completed.`,
    };
  }
  return undefined;
}

/** Moves the line of service to the new hardware (or number), keeping what reconciliation needs. */
function applyChange(deps: ChangeIdentifierDeps, record: ChangeIdentifierRecord): void {
  const device = deps.inventory.byNumber(record.deviceNumber) as SimDevice;
  deps.acted.record(device, record.requestId);
  const rule = ruleOf(record);
  const at = new Date(deps.now()).toISOString();
  const to = new Map(record.newDeviceIds.map((d) => [d.kind, d.id]));
  const replaced: DeviceId[] = [];
  const iccid = to.get('iccid');
  if (iccid !== undefined) {
    // The old SIM stays listed, deactivated, so a lookup by its ICCID still finds what became of it.
    device.retiredLines.push({
      iccid: device.iccid,
      state: 'deactive',
      servicePlan: device.servicePlan,
      retiredAt: at,
    });
    replaced.push({ id: device.iccid, kind: 'iccid' });
    device.iccid = iccid;
  }
  const imei = to.get('imei');
  if (imei !== undefined) {
    replaced.push({ id: device.imei, kind: 'imei' });
    device.imei = imei;
  }
  if (device.meid && (rule.to === '4g' || to.has('meid'))) replaced.push({ id: device.meid, kind: 'meid' });
  if (rule.to === '4g') delete device.meid;
  else if (to.has('meid')) device.meid = to.get('meid');
  if (device.eid && rule.eid !== 'keep') replaced.push({ id: device.eid, kind: 'eid' });
  if (rule.eid === 'replace') device.eid = to.get('eid');
  if (rule.eid === 'drop') {
    delete device.eid;
    delete device.smsrOid;
  }
  if (rule.eid === 'replace' && record.smsrOid) device.smsrOid = record.smsrOid;
  if (record.newMdn) device.mdn = record.newMdn.mdn;
  device.servicePlan = record.servicePlan;
  record.replaced = replaced;
}

/** Top-level `deviceIds`: the device as the request named it, kinds upper-case as in the page's example. */
function callbackDeviceIds(record: ChangeIdentifierRecord): DeviceId[] {
  return record.deviceIds.map(({ id, kind }) => ({ id, kind: kind.toUpperCase() }));
}

function successContent(record: ChangeIdentifierRecord): Record<string, unknown> {
  return {
    requestId: record.requestId,
    deviceIds: callbackDeviceIds(record),
    deviceResponse: {
      changeIdentifierResponse: { deviceIds: record.newDeviceIds, servicePlan: record.servicePlan },
    },
    status: 'Success',
  };
}

function failureContent(record: ChangeIdentifierRecord, failure: StepFailure): Record<string, unknown> {
  const faultcode = failure.faultcode.startsWith('CarrierService.')
    ? failure.faultcode
    : `CarrierService.${failure.faultcode}`;
  return {
    requestId: record.requestId,
    deviceIds: callbackDeviceIds(record),
    status: 'Failed',
    faultResponse: { faultcode, faultstring: failure.faultstring },
  };
}

/** The callback content, a success or the given failure; changes nothing (stray callbacks reuse it). */
export function changeIdentifierContent(
  record: ChangeIdentifierRecord,
  failure?: StepFailure,
): Record<string, unknown> {
  return failure ? failureContent(record, failure) : successContent(record);
}

interface DeliveryPlan {
  duplicate: boolean;
  drop: boolean;
  timing: DeliveryTiming;
}

/** Completes (or fails) the change and builds its callback. */
function generate(
  deps: ChangeIdentifierDeps,
  record: ChangeIdentifierRecord,
  faults: CallbackFaults,
  plan: DeliveryPlan,
): CallbackJob {
  const failure = faults.fail.changeDeviceIdentifier ?? record.failure ?? applyProblem(deps, record);
  let content: Record<string, unknown>;
  if (failure) {
    record.failure = failure;
    record.status = 'failed';
    content = failureContent(record, failure);
  } else {
    applyChange(deps, record);
    record.status = 'completed';
    content = successContent(record);
  }
  return {
    accountName: record.accountName,
    service: 'CarrierService',
    step: CHANGE_IDENTIFIER_STEP,
    requestId: record.requestId,
    content,
    ...plan,
  };
}

/**
 * `PUT /m2m/v1/devices/{serviceType}/actions/deviceId` → 200 `{requestId}`; one CarrierService callback
 * follows "when the device identifier has been changed, or if there was a problem".
 */
export function changeDeviceIdentifierHandler(deps: ChangeIdentifierDeps): RequestHandler {
  return async (req: Request, res: Response) => {
    const result = validateChange(req.params.serviceType, req.body, deps);
    if (!result.ok) return sendError(res, result.code, result.message);
    const record = planChange(deps, result.value);
    deps.changeIdentifierRequests.push(record);
    await deps.strayCallbacks(record.accountName, { operation: 'changeDeviceIdentifier', device: result.value.device });
    const faults = deps.faults.callbacks;
    // Both dice are rolled for every request, so a seed fixes the outcome whatever the faults.
    const plan: DeliveryPlan = {
      duplicate: deps.random.faults() < faults.duplicate,
      drop: deps.random.faults() < faults.drop,
      timing: deps.deliveryTiming(),
    };
    if (faults.never.includes(CHANGE_IDENTIFIER_STEP)) {
      record.status = 'never';
    } else if (faults.beforeResponse.includes(CHANGE_IDENTIFIER_STEP)) {
      await deps.dispatcher.deliver(generate(deps, record, faults, plan));
    } else {
      deps.dispatcher.schedule(deps.callbackDelayMs(), () => generate(deps, record, faults, plan));
    }
    respond(res, 200, { requestId: record.requestId });
  };
}

/** `GET /__sim/identifier-changes`: every accepted identifier change, oldest first. */
export function identifierChangesHandler(deps: Pick<ChangeIdentifierDeps, 'changeIdentifierRequests'>): RequestHandler {
  return (_req, res) => {
    res.json(deps.changeIdentifierRequests);
  };
}
