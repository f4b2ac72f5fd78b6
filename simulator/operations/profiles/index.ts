/**
 * The bulk eSIM profile operations of DeviceProfileService: `POST /m2m/v1/devices/profile/actions/serviceplan`
 * (change-profile-service-plan.txt) and `POST /m2m/v1/devices/profile/actions/activate`
 * (activate-euicc-profile.txt). One request names up to 10,000 devices and is answered with one
 * `{requestId}`; each device's outcome follows as its own callback ("The callback would be one for each
 * profile"), handed to the dispatcher at a bounded pace, and changes the inventory when it is generated.
 *
 * Whole request or one device: what a client can check before sending (the body's shape, identifier kinds
 * and formats, the 10,000 limit, the place of use) refuses the whole request with a 400, as ThingSpace's
 * synchronous validation does. What only ThingSpace knows — a device the account does not hold,
 * identifiers of different devices, a device in a state the operation cannot start from — is accepted and
 * reported in that device's own FAILED callback, so one stale device does not hold back 9,999 others.
 */
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isPoBox, US_STATE_CODES } from '../../../contracts/bulk-validation.js';
import type { BulkOperation, CallbackService, DeviceId } from '../../../contracts/types.js';
import type { ActedLedger } from '../../platform/acted.js';
import type { CallbackDispatcher, CallbackJob, DeliveryTiming } from '../../platform/delivery.js';
import {
  DEVICE_STATES,
  PROFILE_ROLES,
  deviceIdProblem,
  deviceIdsOf,
  hasLine,
  InventoryConflictError,
  type DeviceState,
  type Inventory,
  type InventoryLookup,
  type ProfileRole,
  type SimDevice,
} from '../../platform/devices/inventory.js';
import { ErrorCode, defaultFaultBody, respond, sendFormError } from '../../platform/errors.js';
import { MAX_PROFILE_DEVICES, type FaultState, type ProfileFaults } from '../../platform/faults.js';
import type { SwapRecord } from '../eid-device-swap/index.js';
import {
  luhnCheckDigit,
  randomDigits,
  randomInt,
  seededUuid,
  shuffle,
  type SeededRandom,
} from '../../platform/random.js';

export type ProfileOperation = BulkOperation;

export { MAX_PROFILE_DEVICES };

const SERVICE: CallbackService = 'DeviceProfileService';

/** Kinds each page accepts; the service plan change only eid and iccid, and "both values must be present". */
const ACCEPTED_KINDS: Record<ProfileOperation, readonly string[]> = {
  changeProfileServicePlan: ['eid', 'iccid'],
  activateDeviceProfiles: ['imei', 'iccid', 'mdn', 'eid'],
};

/** The role reported for a device whose profile role the inventory does not set: each page's example. */
const DEFAULT_ROLE: Record<ProfileOperation, ProfileRole> = {
  changeProfileServicePlan: 'LOCAL',
  activateDeviceProfiles: 'LEAD',
};

const DEFAULT_CARRIER = 'Verizon Wireless';

/**
 * eUICC statuses of the activation callbacks. Success and address update are the page's example; the page
 * gives no values for a device not reachable yet or a failed profile, so those two are the simulator's own.
 */
const EUICC = {
  success: {
    euiccStatus: 'EXECUTED_SUCCESS',
    euiccStatusCode: '1.2.365',
    euiccStatusDesc: 'EUICC device profile has been updated',
  },
  addressUpdated: {
    euiccSubAddressUpdateStatus: 'EXECUTED_SUCCESS',
    euiccSubAddressUpdateStatusCode: '1',
    euiccSubAddressUpdateStatusDesc: 'SUCCESS: Address has been updated',
  },
  warning: {
    euiccStatus: 'IN_PROGRESS',
    euiccStatusCode: '1.2.100',
    euiccStatusDesc: 'device not reachable, retrying',
  },
  failed: { euiccStatus: 'EXECUTED_FAILED', euiccStatusCode: '1.2.500' },
} as const;

/** A device activated through the eUICC endpoint must have an eUICC; the docs name no code for this case. */
const NOT_EUICC = 'REQUEST_FAILED.Device.NotEuicc';

type Invalid = { ok: false; code: ErrorCode; message: string };

function invalid(code: ErrorCode, message: string): Invalid {
  return { ok: false, code, message };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What one device's FAILED callback reports; `faultcode` without the `DeviceProfileService.` prefix. */
export interface DeviceFailure {
  faultcode: string;
  faultstring: string;
}

/** One device of a valid request: its identifiers as named, and what they resolved to. */
interface RequestedDevice {
  ids: DeviceId[];
  device?: SimDevice;
  failure?: DeviceFailure;
}

interface RequestFields {
  servicePlan?: string;
  carrierName?: string;
  smsrOid?: string;
  /** A primaryPlaceOfUse was given: the activation callback then reports the address update. */
  placeOfUse: boolean;
}

export interface ValidProfileRequest extends RequestFields {
  operation: ProfileOperation;
  accountName: string;
  devices: RequestedDevice[];
}

// ---------------------------------------------------------------------------------------------------------
// Validation

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
      const key = `${kind}:${id.toLowerCase()}`;
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

/** Customer names: "up to 20 [25] alphanumeric characters, space, dash, exclamation point, and pound sign". */
const NAME_CHARACTERS = /^[A-Za-z0-9 \-!#]+$/;
function nameProblem(value: unknown, path: string, maxLength: number): Invalid | undefined {
  if (value === undefined || value === '') return invalid(ErrorCode.ParameterNotDefined, `${path} is required.`);
  if (typeof value !== 'string' || value.length > maxLength || !NAME_CHARACTERS.test(value)) {
    return invalid(
      ErrorCode.ParameterInvalid,
      `${path} must be at most ${maxLength} letters, digits, spaces, '-', '!' or '#'.`,
    );
  }
  return undefined;
}

function optionalStringProblem(record: Record<string, unknown>, field: string, path: string): Invalid | undefined {
  const value = record[field];
  if (value !== undefined && typeof value !== 'string') {
    return invalid(ErrorCode.ParameterInvalid, `${path}.${field} must be a string.`);
  }
  return undefined;
}

function requiredString(record: Record<string, unknown>, field: string, path: string): string | Invalid {
  const value = record[field];
  if (value === undefined || value === '')
    return invalid(ErrorCode.ParameterNotDefined, `${path}.${field} is required.`);
  if (typeof value !== 'string' || value.trim() === '') {
    return invalid(ErrorCode.ParameterInvalid, `${path}.${field} must be a non-empty string.`);
  }
  return value;
}

/** The first problem of a primaryPlaceOfUse, by the rules of activate-euicc-profile.txt. */
export function placeOfUseProblem(value: unknown): Invalid | undefined {
  const at = 'primaryPlaceOfUse';
  if (!isRecord(value))
    return invalid(ErrorCode.ParameterInvalid, `${at} must be an object with customerName and address.`);
  const { customerName, address } = value;
  if (!isRecord(customerName)) {
    return invalid(
      ErrorCode.ParameterNotDefined,
      `${at}.customerName is required: an object with firstName and lastName.`,
    );
  }
  const name = `${at}.customerName`;
  const nameIssue =
    nameProblem(customerName.firstName, `${name}.firstName`, 20) ??
    nameProblem(customerName.lastName, `${name}.lastName`, 25) ??
    optionalStringProblem(customerName, 'title', name) ??
    optionalStringProblem(customerName, 'middleName', name) ??
    optionalStringProblem(customerName, 'suffix', name);
  if (nameIssue) return nameIssue;
  if (!isRecord(address)) {
    return invalid(
      ErrorCode.ParameterNotDefined,
      `${at}.address is required: an object with addressLine1, city, state, zip and country.`,
    );
  }
  const where = `${at}.address`;
  // The page's table spells it addresLine1, its example addressLine1.
  const line1 = requiredString({ addressLine1: address.addressLine1 ?? address.addresLine1 }, 'addressLine1', where);
  if (typeof line1 !== 'string') return line1;
  // "This must be a physical address for taxation; it cannot be a P.O. box."
  if (isPoBox(line1)) {
    return invalid(ErrorCode.ParameterInvalid, `${where}.addressLine1 must be a physical address, not a P.O. box.`);
  }
  const lineIssue = optionalStringProblem(address, 'addressLine2', where);
  if (lineIssue) return lineIssue;
  const city = requiredString(address, 'city', where);
  if (typeof city !== 'string') return city;
  const state = requiredString(address, 'state', where);
  if (typeof state !== 'string') return state;
  // The page points to ISO 3166-2:US, which writes the codes in capitals.
  if (!US_STATE_CODES.has(state)) {
    return invalid(ErrorCode.ParameterInvalid, `${where}.state must be a two-letter US state code such as TX.`);
  }
  const zip = requiredString(address, 'zip', where);
  if (typeof zip !== 'string') return zip;
  if (!/^\d{5}$/.test(zip)) return invalid(ErrorCode.ParameterInvalid, `${where}.zip must be 5 digits.`);
  const { zip4 } = address;
  if (zip4 !== undefined && (typeof zip4 !== 'string' || !/^\d{4}$/.test(zip4))) {
    return invalid(ErrorCode.ParameterInvalid, `${where}.zip4 must be 4 digits.`);
  }
  const country = requiredString(address, 'country', where);
  if (typeof country !== 'string') return country;
  if (country !== 'US' && country !== 'USA') {
    return invalid(ErrorCode.ParameterInvalid, `${where}.country must be US or USA.`);
  }
  return undefined;
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
  let found: SimDevice | undefined;
  for (const { kind, id } of ids) {
    const device = lookup.find(kind, id);
    // A device of another account is as unknown to this account as one that does not exist.
    if (!device || device.accountName !== accountName) {
      return {
        failure: {
          faultcode: ErrorCode.DeviceNotFound,
          faultstring: `Device ${kind} ${id} was not found in account ${accountName}.`,
        },
      };
    }
    if (found && found !== device) {
      return {
        failure: {
          faultcode: ErrorCode.DeviceIdentifierMismatch,
          faultstring: 'The identifiers belong to different devices.',
        },
      };
    }
    found = device;
  }
  const device = found as SimDevice;
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

// ---------------------------------------------------------------------------------------------------------
// Requests, outcomes and callbacks

/** Where a device of an accepted request stands; `warning`: a WARNING was sent, the final callback not yet. */
export type DeviceOutcome = 'pending' | 'warning' | 'succeeded' | 'failed' | 'never';

/** One accepted profile request as the control API lists it. */
export interface ProfileRequestSummary {
  requestId: string;
  operation: ProfileOperation;
  accountName: string;
  submittedAt: string;
  servicePlan?: string;
  devices: number;
  /** Devices per outcome so far; they add up to `devices`. */
  outcomes: Record<DeviceOutcome, number>;
}

/** A request's summary with every device's outcome, in request order. */
export interface ProfileRequestDetail extends ProfileRequestSummary {
  results: { deviceIds: DeviceId[]; outcome: DeviceOutcome; fault?: DeviceFailure }[];
}

interface CallFlags {
  duplicate: boolean;
  drop: boolean;
}

/** What was decided for one device when the request was accepted, and how far it got. */
interface DevicePlan {
  ids: DeviceId[];
  deviceNumber?: number;
  /** Decided at request time (unknown device, injected failure); state problems are found when it runs. */
  failure?: DeviceFailure;
  warning: boolean;
  /** MDN set aside for a device activated without one, so the seed, not timing, decides who gets which. */
  mdn?: string;
  calls: { warning: CallFlags; final: CallFlags };
  /** Under `acceptDuplicates`: the device is in an earlier request still in flight, so it is acted on again. */
  repeat?: boolean;
  outcome: DeviceOutcome;
  fault?: DeviceFailure;
}

/** What the callback builders read of a request. */
interface ContentSource {
  summary: Pick<ProfileRequestSummary, 'requestId' | 'operation'>;
  fields: RequestFields;
}

interface ProfileRequest extends ContentSource {
  summary: ProfileRequestSummary;
  fields: RequestFields;
  plans: DevicePlan[];
  timing: DeliveryTiming;
  warningDelayMs: number;
}

export interface ProfileDeps {
  inventory: Inventory;
  faults: FaultState;
  random: SeededRandom;
  profiles: ProfileState;
  /** Swaps: their new lines' MDNs are taken although no device carries them yet. */
  operations: SwapRecord[];
  acted: ActedLedger;
  /** Stray callbacks for the request's devices, delivered before it is answered (the `strayCallbacks` profile). */
  strayCallbacks(accountName: string, trigger: { operation: ProfileOperation; devices: SimDevice[] }): Promise<void>;
  now(): number;
  callbackDelayMs(): number;
  deliveryTiming(): DeliveryTiming;
}

function setOutcome(request: ProfileRequest, plan: DevicePlan, outcome: DeviceOutcome): void {
  request.summary.outcomes[plan.outcome]--;
  request.summary.outcomes[outcome]++;
  plan.outcome = outcome;
}

/** An MDN no device carries or carried, no swap allocated and no pending activation holds. */
function reserveMdn(deps: ProfileDeps, lookup: InventoryLookup): string {
  for (;;) {
    // As a swap allocates a new line's MDN: North American numbers, the area code does not start with 0 or 1.
    const mdn = `${2 + randomInt(deps.random.ids, 8)}${randomDigits(deps.random.ids, 9)}`;
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
function planRequest(deps: ProfileDeps, valid: ValidProfileRequest): ProfileRequest {
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

/** A device's identifiers in its callback, in the order and kind casing of each page's example. */
function callbackIds(operation: ProfileOperation, device: SimDevice): DeviceId[] {
  if (operation === 'changeProfileServicePlan') {
    return [
      ...(device.eid ? [{ id: device.eid, kind: 'Eid' }] : []),
      { id: device.imei, kind: 'Imei' },
      ...(device.mdn ? [{ id: `1${device.mdn}`, kind: 'msisdn' }] : []),
      { id: device.iccid, kind: 'Iccid' },
    ];
  }
  return [
    { id: device.iccid, kind: 'iccid' },
    { id: device.imei, kind: 'imei' },
    ...(device.eid ? [{ id: device.eid, kind: 'eid' }] : []),
    ...(device.mdn ? [{ id: device.mdn, kind: 'mdn' }] : []),
  ];
}

/** The service plan page's example says `ACTIVE`, the activation page's `Active`. */
function stateText(operation: ProfileOperation, state: DeviceState): string {
  return operation === 'changeProfileServicePlan'
    ? state.toUpperCase()
    : state.charAt(0).toUpperCase() + state.slice(1);
}

function callbackContent(
  request: ContentSource,
  ids: DeviceId[],
  device: SimDevice | undefined,
  profile: Record<string, unknown>,
  status: string,
): Record<string, unknown> {
  const { operation } = request.summary;
  return {
    requestId: request.summary.requestId,
    deviceIds: ids,
    deviceResponse: {
      deviceProfileResponse: {
        deviceIdentifierCollection: ids.map((d) => ({ ...d })),
        ...(device ? { state: stateText(operation, device.state) } : {}),
        ...profile,
      },
    },
    status,
  };
}

function carrierOf(request: ContentSource, device: SimDevice): string {
  return request.fields.carrierName ?? device.carrierName ?? DEFAULT_CARRIER;
}

function roleOf(request: ContentSource, device: SimDevice): ProfileRole {
  return device.profileRole ?? DEFAULT_ROLE[request.summary.operation];
}

function successContent(request: ContentSource, device: SimDevice): Record<string, unknown> {
  const ids = callbackIds(request.summary.operation, device);
  const profile =
    request.summary.operation === 'changeProfileServicePlan'
      ? { profileStatus: 'ENABLE', profileRole: roleOf(request, device) }
      : {
          profileStatus: 'ENABLE',
          ...EUICC.success,
          ...(request.fields.placeOfUse ? EUICC.addressUpdated : {}),
          carrierName: carrierOf(request, device),
          profileRole: roleOf(request, device),
        };
  return callbackContent(request, ids, device, profile, 'SUCCESS');
}

function warningContent(request: ContentSource, device: SimDevice): Record<string, unknown> {
  const ids = callbackIds(request.summary.operation, device);
  const profile = { ...EUICC.warning, carrierName: carrierOf(request, device), profileRole: roleOf(request, device) };
  return callbackContent(request, ids, device, profile, 'WARNING');
}

function failureContent(
  request: ContentSource,
  plan: Pick<DevicePlan, 'ids'>,
  device: SimDevice | undefined,
  failure: DeviceFailure,
): Record<string, unknown> {
  const ids = device ? callbackIds(request.summary.operation, device) : plan.ids.map((d) => ({ ...d }));
  const profile =
    request.summary.operation === 'activateDeviceProfiles'
      ? { ...EUICC.failed, euiccStatusDesc: failure.faultstring }
      : {};
  const faultcode = failure.faultcode.startsWith(`${SERVICE}.`) ? failure.faultcode : `${SERVICE}.${failure.faultcode}`;
  return {
    ...callbackContent(request, ids, device, profile, 'FAILED'),
    faultResponse: { faultcode, faultstring: failure.faultstring },
  };
}

/**
 * One device's callback content for `operation` (SUCCESS, WARNING or FAILED); changes nothing. Stray
 * callbacks reuse it. `device` absent: a device ThingSpace does not know, named by `ids`.
 */
export function deviceProfileContent(spec: {
  operation: ProfileOperation;
  requestId: string;
  ids: DeviceId[];
  device?: SimDevice;
  status: 'success' | 'warning' | 'failed';
  failure?: DeviceFailure;
}): Record<string, unknown> {
  const source: ContentSource = {
    summary: { requestId: spec.requestId, operation: spec.operation },
    fields: { placeOfUse: false },
  };
  const { device } = spec;
  if (spec.status === 'failed' || !device) {
    const failure = spec.failure ?? { faultcode: ErrorCode.DeviceNotFound, faultstring: 'The device was not found.' };
    return failureContent(source, { ids: spec.ids }, device, failure);
  }
  return spec.status === 'warning' ? warningContent(source, device) : successContent(source, device);
}

/** Checked when ThingSpace carries the operation out, against the device as it is then. */
function stateFailure(operation: ProfileOperation, device: SimDevice): DeviceFailure | undefined {
  if (operation === 'changeProfileServicePlan') {
    // A plan never changes while suspended (thingspace-api-notes.md); a deactivated line has no profile in use.
    if (device.state === 'suspend' || device.state === 'deactive') {
      return {
        faultcode: ErrorCode.DeviceStateInvalid,
        faultstring: `The device is ${device.state}; its plan can change only while it is active or pre-active.`,
      };
    }
    return undefined;
  }
  if (device.state === 'active') {
    return { faultcode: ErrorCode.DeviceAlreadyActive, faultstring: "The device's profile is already active." };
  }
  if (device.state === 'suspend') {
    return {
      faultcode: ErrorCode.DeviceStateInvalid,
      faultstring: 'The device is suspended; resume it rather than activate it.',
    };
  }
  return undefined;
}

/** What a successful profile operation does to the device. */
function applyEffect(deps: ProfileDeps, request: ProfileRequest, plan: DevicePlan, device: SimDevice): void {
  const { fields } = request;
  deps.acted.record(device, request.summary.requestId);
  device.profileStatus = 'ENABLE';
  device.profileRole = roleOf(request, device);
  if (request.summary.operation === 'changeProfileServicePlan') {
    device.servicePlan = fields.servicePlan as string;
    return;
  }
  if (!device.mdn) {
    // The MDN set aside at request time is used without another look at the inventory: that look costs a
    // pass over every device, once per device of a 10,000-device request.
    device.mdn = plan.mdn ?? reserveMdn(deps, deps.inventory.lookup());
    deps.profiles.reservedMdns.delete(device.mdn);
  }
  device.state = 'active';
  device.connected = true;
  device.lastActivationDate = new Date(deps.now()).toISOString();
  if (fields.servicePlan) device.servicePlan = fields.servicePlan;
  if (fields.smsrOid) device.smsrOid = fields.smsrOid;
  if (fields.carrierName) device.carrierName = fields.carrierName;
}

function job(request: ProfileRequest, step: string, content: Record<string, unknown>, flags: CallFlags): CallbackJob {
  return {
    accountName: request.summary.accountName,
    service: SERVICE,
    step,
    requestId: request.summary.requestId,
    content,
    duplicate: flags.duplicate,
    drop: flags.drop,
    timing: request.timing,
  };
}

function deviceOf(deps: ProfileDeps, plan: DevicePlan): SimDevice | undefined {
  return plan.deviceNumber === undefined ? undefined : deps.inventory.byNumber(plan.deviceNumber);
}

/** The device's final callback: the operation carried out (or failed) now, its effect applied. */
function finish(deps: ProfileDeps, request: ProfileRequest, plan: DevicePlan): CallbackJob {
  const { operation } = request.summary;
  const device = deviceOf(deps, plan);
  const failure =
    plan.failure ??
    (device
      ? plan.repeat
        ? undefined
        : stateFailure(operation, device)
      : { faultcode: ErrorCode.DeviceNotFound, faultstring: 'The device was not found.' });
  let content: Record<string, unknown>;
  if (failure || !device) {
    plan.fault = failure;
    setOutcome(request, plan, 'failed');
    content = failureContent(request, plan, device, failure as DeviceFailure);
  } else {
    applyEffect(deps, request, plan, device);
    setOutcome(request, plan, 'succeeded');
    content = successContent(request, device);
  }
  if (plan.mdn) deps.profiles.reservedMdns.delete(plan.mdn);
  return job(request, operation, content, plan.calls.final);
}

/** eUICC: the device is not reachable yet; its final callback follows after the warning delay. */
function warn(deps: ProfileDeps, request: ProfileRequest, plan: DevicePlan): CallbackJob {
  const device = deviceOf(deps, plan);
  if (!device) return finish(deps, request, plan);
  setOutcome(request, plan, 'warning');
  deps.profiles.pacer.enqueue(request.warningDelayMs, [() => finish(deps, request, plan)]);
  return job(request, `${request.summary.operation}:warning`, warningContent(request, device), plan.calls.warning);
}

/** Queues every device's first callback in the order the `callbacks.order` fault asks for. */
function scheduleRequest(deps: ProfileDeps, request: ProfileRequest): void {
  const { order } = deps.faults.callbacks;
  const live = request.plans.filter((p) => p.outcome !== 'never');
  const ordered =
    order === 'reverse' ? [...live].reverse() : order === 'random' ? shuffle(deps.random.faults, live) : live;
  deps.profiles.pacer.enqueue(
    deps.callbackDelayMs(),
    ordered.map((plan) => () => (plan.warning ? warn(deps, request, plan) : finish(deps, request, plan))),
  );
}

/**
 * `POST /m2m/v1/devices/profile/actions/serviceplan` and `…/activate` → 200 `{requestId}`; one
 * DeviceProfileService callback per device follows (two for a device reported unreachable first).
 */
export function profileHandler(operation: ProfileOperation, deps: ProfileDeps): RequestHandler {
  return async (req, res) => {
    const body: unknown = req.body;
    if (
      operation === 'activateDeviceProfiles' &&
      isRecord(body) &&
      typeof body.accountName === 'string' &&
      body.accountName !== '' &&
      !deps.profiles.limiter.take(body.accountName, deps.now())
    ) {
      // "429 Too many requests" on eSIM endpoints, without a promised Retry-After (thingspace-api-notes.md).
      return respond(res, 429, defaultFaultBody(operation, 429));
    }
    const result = validateProfileRequest(operation, body, deps.inventory, deps.faults.maxProfileRequestDevices);
    if (!result.ok) return sendFormError(res, deps.faults.profileErrorForm, result.code, result.message);
    const request = planRequest(deps, result.value);
    deps.profiles.add(request);
    const devices = result.value.devices.flatMap((d) => (d.device ? [d.device] : []));
    await deps.strayCallbacks(result.value.accountName, { operation, devices });
    scheduleRequest(deps, request);
    respond(res, 200, { requestId: request.summary.requestId });
  };
}

// ---------------------------------------------------------------------------------------------------------
// Rate limit and pacing

/**
 * At most `limit` requests per key in any window of `windowMs` (activations: 100 requests a minute per
 * account, thingspace-api-notes.md). Every request that names an account counts, valid or not, as at a
 * gateway; a refused one does not.
 */
export class SlidingWindowLimiter {
  private windows = new Map<string, number[]>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
  ) {}

  take(key: string, now: number): boolean {
    const recent = (this.windows.get(key) ?? []).filter((t) => t > now - this.windowMs);
    const allowed = recent.length < this.limit;
    if (allowed) recent.push(now);
    this.windows.set(key, recent);
    return allowed;
  }

  clear(): void {
    this.windows.clear();
  }
}

type Generate = () => CallbackJob | undefined;

export interface PacerOptions {
  dispatcher: CallbackDispatcher;
  logger: Logger;
  /** Callbacks handed to the dispatcher per second, at most; `Infinity` for no limit. */
  perSecond: number;
  /** Deliveries whose first attempt is still unanswered, at most. */
  maxInFlight: number;
}

/**
 * Hands callbacks to the dispatcher at a bounded rate and with a bounded number of first attempts open:
 * ThingSpace sends per-device callbacks over time, and a listener flooded with 10,000 at once would answer
 * slower than the ~4-s attempt timeout and get each one twice. Paced in real time (not the simulator's
 * clock, which tests freeze); re-sends, duplicates and drops stay the dispatcher's.
 */
export class CallbackPacer {
  private ready: Generate[] = [];
  private head = 0;
  private waiting = 0;
  private inFlight = 0;
  private timers = new Set<NodeJS.Timeout>();
  private pumpTimer: NodeJS.Timeout | undefined;
  private readonly burst: number;
  private tokens: number;
  private refilledAt = performance.now();
  /** Bumped by cancelAll, so deliveries settling afterwards change nothing. */
  private epoch = 0;

  constructor(private readonly options: PacerOptions) {
    // Up to 50 ms worth of callbacks may leave together, so the pump need not wake every few milliseconds.
    this.burst = Math.max(1, Math.ceil(options.perSecond / 20));
    this.tokens = this.burst;
  }

  /** Callbacks queued and not yet generated. */
  pending(): number {
    return this.waiting + this.ready.length - this.head;
  }

  /** After `delayMs`, queues `items` (in order) for generation and delivery. */
  enqueue(delayMs: number, items: Generate[]): void {
    if (items.length === 0) return;
    this.waiting += items.length;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.waiting -= items.length;
      for (const item of items) this.ready.push(item);
      this.pump();
    }, delayMs);
    this.timers.add(timer);
  }

  /** Forgets everything queued (reset and close). */
  cancelAll(): void {
    this.epoch++;
    this.timers.forEach((t) => clearTimeout(t));
    this.timers.clear();
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    this.ready = [];
    this.head = 0;
    this.waiting = 0;
    this.inFlight = 0;
  }

  private refill(): void {
    if (this.options.perSecond === Infinity) {
      this.tokens = Infinity;
      return;
    }
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.options.perSecond) / 1000);
    this.refilledAt = now;
  }

  private pump(): void {
    this.refill();
    while (this.head < this.ready.length && this.inFlight < this.options.maxInFlight && this.tokens >= 1) {
      this.tokens -= 1;
      this.release(this.ready[this.head++] as Generate);
    }
    if (this.head >= this.ready.length) {
      this.ready = [];
      this.head = 0;
    } else if (this.head > 4096) {
      this.ready = this.ready.slice(this.head);
      this.head = 0;
    }
    // At the in-flight limit, a settling delivery pumps again; otherwise wait for the next token.
    if (this.head < this.ready.length && this.inFlight < this.options.maxInFlight && !this.pumpTimer) {
      const waitMs = Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.options.perSecond));
      this.pumpTimer = setTimeout(() => {
        this.pumpTimer = undefined;
        this.pump();
      }, waitMs);
    }
  }

  private release(generate: Generate): void {
    let job: CallbackJob | undefined;
    try {
      job = generate();
    } catch (error) {
      this.options.logger.error({ err: error }, 'Profile callback generation failed');
    }
    if (!job) return;
    const epoch = this.epoch;
    this.inFlight++;
    void this.options.dispatcher.deliver(job).finally(() => {
      if (epoch !== this.epoch) return;
      this.inFlight--;
      this.pump();
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// State and seeding

const REQUEST_LIMIT = 1_000;

export interface ProfileStateOptions {
  dispatcher: CallbackDispatcher;
  logger: Logger;
  activationRateLimitPerMinute: number;
  callbacksPerSecond: number;
  callbacksInFlight: number;
}

/** The profile operations' part of a simulator: accepted requests, the rate limit, the pacer. */
export class ProfileState {
  readonly limiter: SlidingWindowLimiter;
  readonly pacer: CallbackPacer;
  /** MDNs set aside for activations whose final callback is still to come. */
  readonly reservedMdns = new Set<string>();
  /** Last sequence number used per prefix by `POST /__sim/devices/generate`. */
  readonly sequences = new Map<string, number>();
  private requests: ProfileRequest[] = [];

  constructor(options: ProfileStateOptions) {
    this.limiter = new SlidingWindowLimiter(options.activationRateLimitPerMinute);
    this.pacer = new CallbackPacer({
      dispatcher: options.dispatcher,
      logger: options.logger,
      perSecond: options.callbacksPerSecond,
      maxInFlight: options.callbacksInFlight,
    });
  }

  add(request: ProfileRequest): void {
    this.requests.push(request);
    if (this.requests.length > REQUEST_LIMIT) this.requests.splice(0, this.requests.length - REQUEST_LIMIT);
  }

  /** Devices of `operation` requests whose callbacks are not all generated. */
  inFlightDevices(operation: ProfileOperation): Set<number> {
    const numbers = new Set<number>();
    for (const request of this.requests) {
      if (request.summary.operation !== operation) continue;
      for (const plan of request.plans) {
        if ((plan.outcome === 'pending' || plan.outcome === 'warning') && plan.deviceNumber !== undefined) {
          numbers.add(plan.deviceNumber);
        }
      }
    }
    return numbers;
  }

  summaries(): ProfileRequestSummary[] {
    return this.requests.map((r) => ({ ...r.summary, outcomes: { ...r.summary.outcomes } }));
  }

  detail(requestId: string): ProfileRequestDetail | undefined {
    const request = this.requests.find((r) => r.summary.requestId === requestId);
    if (!request) return undefined;
    return {
      ...request.summary,
      outcomes: { ...request.summary.outcomes },
      results: request.plans.map((p) => ({
        deviceIds: p.ids,
        outcome: p.outcome,
        ...(p.fault ? { fault: p.fault } : {}),
      })),
    };
  }

  /** Profile callbacks queued and not yet handed to the dispatcher. */
  pending(): number {
    return this.pacer.pending();
  }

  reset(): void {
    this.pacer.cancelAll();
    this.requests = [];
    this.limiter.clear();
    this.reservedMdns.clear();
    this.sequences.clear();
  }
}

export const MAX_GENERATED_DEVICES = 20_000;
/** Sequence numbers per prefix: the MDN has six digits for it. */
const MAX_SEQUENCE = 999_999;

export const generateDevicesSchema = z
  .object({
    accountName: z.string().min(1),
    count: z.number().int().min(1).max(MAX_GENERATED_DEVICES),
    state: z.enum(DEVICE_STATES),
    servicePlan: z.string().min(1),
    withEid: z.boolean().default(true),
    /** Up to 3 digits placed in every identifier, so batches generated under different prefixes never meet. */
    prefix: z
      .string()
      .regex(/^\d{1,3}$/, 'prefix must be 1 to 3 digits')
      .default('0'),
    profileRole: z.enum(PROFILE_ROLES).optional(),
  })
  .strict();
export type GenerateDevicesRequest = z.infer<typeof generateDevicesSchema>;

export interface GeneratedIds {
  eid?: string;
  iccid: string;
  imei: string;
  mdn?: string;
}

/** EID check digits (GSMA SGP.29, ISO 7064 MOD 97-10): the 32-digit EID modulo 97 is 1. */
export function eidCheckDigits(body30: string): string {
  return String(98n - ((BigInt(body30) * 100n) % 97n)).padStart(2, '0');
}

/**
 * The identifiers of generated device number `sequence` under a 3-digit `prefix`: an EID with its check
 * digits, a 20-digit ICCID and a 15-digit IMEI with Luhn check digits, and an MDN for a line in service.
 */
export function generatedIds(prefix: string, sequence: number, withEid: boolean, withMdn: boolean): GeneratedIds {
  const digits = (width: number): string => `${prefix}${String(sequence).padStart(width, '0')}`;
  const eid = `890490320077${digits(15)}`;
  const iccid = `8914807${digits(9)}`;
  const imei = `35${digits(9)}`;
  return {
    ...(withEid ? { eid: eid + eidCheckDigits(eid) } : {}),
    iccid: iccid + luhnCheckDigit(iccid),
    imei: imei + luhnCheckDigit(imei),
    ...(withMdn ? { mdn: `5${digits(6)}` } : {}),
  };
}

/**
 * Adds `count` devices with identifiers derived from the prefix and a per-prefix counter, so a test can
 * predict them; numbers whose identifiers a device already has are skipped. Devices with a line in
 * service (active, suspended) get an MDN.
 */
export function generateDevices(
  inventory: Inventory,
  sequences: Map<string, number>,
  spec: GenerateDevicesRequest,
): GeneratedIds[] {
  const prefix = spec.prefix.padStart(3, '0');
  const withMdn = hasLine(spec.state);
  const lookup = inventory.lookup();
  let sequence = sequences.get(prefix) ?? 0;
  const generated: GeneratedIds[] = [];
  while (generated.length < spec.count) {
    sequence++;
    if (sequence > MAX_SEQUENCE) {
      throw new InventoryConflictError(`Prefix ${prefix} has no identifiers left; use another prefix.`);
    }
    const ids = generatedIds(prefix, sequence, spec.withEid, withMdn);
    if (Object.entries(ids).some(([kind, id]) => lookup.isKnown(kind, id as string))) continue;
    generated.push(ids);
  }
  inventory.upsert(
    generated.map((ids) => ({
      accountName: spec.accountName,
      ...ids,
      state: spec.state,
      servicePlan: spec.servicePlan,
      ...(spec.profileRole ? { profileRole: spec.profileRole } : {}),
    })),
  );
  sequences.set(prefix, sequence);
  return generated;
}
