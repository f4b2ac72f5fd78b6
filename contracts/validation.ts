/**
 * Input validation for saga requests, by the rules of the ThingSpace pages. Pure and deterministic:
 * workflows run it first, the client runs it before starting a saga, so bad input fails with a message
 * that names the field and nothing reaches ThingSpace.
 */
import { msToNumber } from '@temporalio/common';
import { CHANGE_4G_OPTIONS, FAILURE_POLICIES, SERVICE_TYPES, type DeviceId, type SagaOptions } from './types.js';

/** One broken rule: `field` is a JSON path into the request, `message` a sentence for a person. */
export interface ValidationIssue {
  field: string;
  message: string;
}

/** Identifier kinds ThingSpace knows (thingspace-api-notes.md, Device identifiers). */
export const DEVICE_KINDS = ['eid', 'iccid', 'imei', 'mdn', 'msisdn', 'meid', 'esn', 'imsi'] as const;

/** Formats ThingSpace documents; kinds without a rule here only need to be non-empty. */
const ID_FORMATS: Record<string, { pattern: RegExp; rule: string }> = {
  eid: { pattern: /^\d{32}$/, rule: '32 digits' },
  // Some SIMs end the ICCID in a hex check digit (thingspace-api-notes.md).
  iccid: { pattern: /^\d{18,19}[0-9A-Fa-f]$/, rule: '19 or 20 digits (the last may be a hex check digit)' },
  imei: { pattern: /^\d{15,16}$/, rule: '15 digits (16 for an IMEISV)' },
  mdn: { pattern: /^\d{10}$/, rule: '10 digits' },
  meid: { pattern: /^[0-9A-Fa-f]{14,18}$/, rule: '14 to 18 hex digits' },
};

/** True when Temporal reads `value` as a duration above zero (the same parser the workflow uses). */
function positiveDuration(value: string | number): boolean {
  // A bare '30' would be read as milliseconds: ask for the unit rather than guess.
  if (typeof value === 'string' && !/[a-z]/i.test(value)) return false;
  try {
    const ms = msToNumber(value as Parameters<typeof msToNumber>[0]);
    return Number.isFinite(ms) && ms > 0;
  } catch {
    return false;
  }
}

export class RequestValidator {
  readonly issues: ValidationIssue[] = [];

  add(field: string, message: string): void {
    this.issues.push({ field, message });
  }

  object(value: unknown, field: string): value is Record<string, unknown> {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return true;
    this.add(field, `${field} must be a JSON object`);
    return false;
  }

  requiredString(body: Record<string, unknown>, field: string, path = field): string | undefined {
    const value = body[field];
    if (value === undefined || value === null || value === '') {
      this.add(path, `${path} is required`);
      return undefined;
    }
    if (typeof value !== 'string' || value.trim() === '') {
      this.add(path, `${path} must be a non-empty string`);
      return undefined;
    }
    return value;
  }

  optionalString(body: Record<string, unknown>, field: string, path = field): string | undefined {
    const value = body[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || value.trim() === '') {
      this.add(path, `${path} must be a non-empty string when given`);
      return undefined;
    }
    return value;
  }

  pattern(value: string | undefined, pattern: RegExp, path: string, rule: string): void {
    if (value !== undefined && !pattern.test(value)) this.add(path, `${path} must be ${rule}`);
  }

  /**
   * An array of `{kind, id}` with known kinds, well-formed ids and no kind twice. `kinds` narrows the
   * accepted kinds for operations whose page supports fewer.
   */
  deviceIds(value: unknown, path: string, kinds: readonly string[] = DEVICE_KINDS): DeviceId[] | undefined {
    if (!Array.isArray(value) || value.length === 0) {
      this.add(path, `${path} is required: a non-empty array of {kind, id}`);
      return undefined;
    }
    const seen = new Set<string>();
    const devices: DeviceId[] = [];
    value.forEach((item: unknown, i) => {
      const at = `${path}[${i}]`;
      if (!this.object(item, at)) return;
      const kind = this.requiredString(item, 'kind', `${at}.kind`);
      const id = this.requiredString(item, 'id', `${at}.id`);
      if (kind === undefined || id === undefined) return;
      const lower = kind.toLowerCase();
      if (!kinds.includes(lower)) {
        this.add(`${at}.kind`, `${at}.kind '${kind}' is not one of ${kinds.join(', ')}`);
        return;
      }
      if (seen.has(lower)) this.add(`${at}.kind`, `${at}.kind '${lower}' appears more than once`);
      seen.add(lower);
      const format = ID_FORMATS[lower];
      if (format && !format.pattern.test(id)) this.add(`${at}.id`, `${at}.id must be ${format.rule} for kind ${lower}`);
      devices.push({ kind: lower, id });
    });
    return devices;
  }

  requireKinds(devices: DeviceId[] | undefined, kinds: string[], path: string, why: string): void {
    if (!devices) return;
    for (const kind of kinds) {
      if (!devices.some((d) => d.kind === kind)) this.add(path, `${path} must include the device's ${kind}: ${why}`);
    }
  }

  /** A step timeout, when given: milliseconds or a duration string Temporal reads as more than zero. */
  stepTimeout(value: unknown, path: string): void {
    if (value === undefined) return;
    const ok = (typeof value === 'number' || typeof value === 'string') && positiveDuration(value);
    if (!ok) this.add(path, `${path} must be a positive number of milliseconds or a duration like '30 minutes'`);
  }

  options(value: unknown, path = 'options'): void {
    if (value === undefined) return;
    if (!this.object(value, path)) return;
    const options = value as SagaOptions & Record<string, unknown>;
    this.stepTimeout(options.stepTimeout, `${path}.stepTimeout`);
    const policy = options.failurePolicy;
    if (policy !== undefined && !(FAILURE_POLICIES as readonly unknown[]).includes(policy)) {
      this.add(`${path}.failurePolicy`, `${path}.failurePolicy must be one of 'fail', 'hold', 'compensate'`);
    }
  }
}

/** Rules of eid-device-swap.txt. Returns every issue found, in field order; empty when valid. */
export function validateEidDeviceSwap(input: unknown): ValidationIssue[] {
  const v = new RequestValidator();
  if (!v.object(input, 'request')) return v.issues;
  v.requiredString(input, 'accountName');
  const out = v.deviceIds(input.deviceToSwapOut, 'deviceToSwapOut');
  // The page: the swapped-out device is "specified by the device's MDN, EID, IMEI, and ICCID".
  v.requireKinds(out, ['mdn', 'eid', 'imei', 'iccid'], 'deviceToSwapOut', 'the page requires MDN, EID, IMEI and ICCID');
  const into = v.deviceIds(input.deviceToSwapIn, 'deviceToSwapIn');
  // The page: the replacement is "specified by the device's EID and IMEI" (plus ICCID if it has a line).
  v.requireKinds(into, ['eid', 'imei'], 'deviceToSwapIn', 'the page requires EID and IMEI');
  if (out && into) {
    const key = (d: DeviceId) => `${d.kind}:${d.id.toLowerCase()}`;
    const outKeys = new Set(out.map(key));
    const shared = into.find((d) => outKeys.has(key(d)));
    if (shared) v.add('deviceToSwapIn', `deviceToSwapIn shares ${shared.kind} ${shared.id} with deviceToSwapOut`);
  }
  v.optionalString(input, 'carrierIpPoolName');
  v.pattern(v.requiredString(input, 'mdnZipCode'), /^\d{5}$/, 'mdnZipCode', '5 digits');
  v.requiredString(input, 'serviceName');
  v.requiredString(input, 'stateName');
  v.requiredString(input, 'servicePlan');
  v.pattern(v.requiredString(input, 'smsrOid'), /^\d+(\.\d+)+$/, 'smsrOid', 'an object id of dot-separated numbers');
  v.options(input.options);
  return v.issues;
}

const absent = (value: unknown): boolean => value === undefined || value === null;

/**
 * Rules of change-device-identifier.txt, with the path parameter `serviceType` as a field (DESIGN.md §7).
 * Returns every issue found, in the page's field order; empty when valid.
 */
export function validateChangeDeviceIdentifier(input: unknown): ValidationIssue[] {
  const v = new RequestValidator();
  if (!v.object(input, 'request')) return v.issues;
  const serviceType = v.requiredString(input, 'serviceType');
  if (serviceType !== undefined && !(SERVICE_TYPES as readonly string[]).includes(serviceType)) {
    v.add('serviceType', `serviceType must be '3g' or '4g'`);
  }
  const option = input.change4gOption;
  const changeMsisdn = option === 'ChangeMSISDN';
  v.deviceIds(input.deviceIds, 'deviceIds');
  if (!changeMsisdn) {
    // The page: deviceIdsTo is "Required for all change4GOptions except ChangeMSISDN".
    v.deviceIds(input.deviceIdsTo, 'deviceIdsTo');
  } else if (!absent(input.deviceIdsTo)) {
    // The page: "You cannot change the hardware (IMEI or ICCID) and the MSISDN in the same API call".
    v.add(
      'deviceIdsTo',
      'deviceIdsTo must be left out for ChangeMSISDN: hardware and MSISDN cannot change in one call',
    );
  }
  if (absent(option)) {
    // The page's table writes Change4GOption; ThingSpace reads change4gOption — thingspace-api-notes.md.
    if (!absent(input.change4GOption)) v.add('change4GOption', 'change4GOption must be spelled change4gOption');
    else if (serviceType === '4g') v.add('change4gOption', 'change4gOption is required for 4G');
  } else if (!(CHANGE_4G_OPTIONS as readonly unknown[]).includes(option)) {
    v.add('change4gOption', `change4gOption must be one of ${CHANGE_4G_OPTIONS.join(', ')}`);
  }
  v.pattern(v.optionalString(input, 'zipCode'), /^\d{5}$/, 'zipCode', '5 digits');
  // The page: npaNxx is used "when assignNonGeoMDN is false"; zipCode is only the fallback when no number
  // starting with the NPA NXX is available, so it does not replace npaNxx.
  if (changeMsisdn && input.assignNonGeoMdn === false && absent(input.npaNxx)) {
    v.add('npaNxx', 'npaNxx is required for ChangeMSISDN when assignNonGeoMdn is false');
  } else {
    v.pattern(v.optionalString(input, 'npaNxx'), /^\d{6}$/, 'npaNxx', '6 digits (area code and prefix)');
  }
  v.optionalString(input, 'servicePlan');
  const assignNonGeoMdn = input.assignNonGeoMdn;
  if (changeMsisdn && absent(assignNonGeoMdn)) {
    v.add('assignNonGeoMdn', 'assignNonGeoMdn is required for ChangeMSISDN');
  } else if (!absent(assignNonGeoMdn) && typeof assignNonGeoMdn !== 'boolean') {
    v.add('assignNonGeoMdn', 'assignNonGeoMdn must be true or false');
  }
  // The page: ChangeIMEIandEID "must also include smsrOid".
  if (option === 'ChangeIMEIandEID' && absent(input.smsrOid)) {
    v.add('smsrOid', 'smsrOid is required for ChangeIMEIandEID');
  } else {
    v.pattern(v.optionalString(input, 'smsrOid'), /^\d+(\.\d+)+$/, 'smsrOid', 'an object id of dot-separated numbers');
  }
  v.options(input.options);
  return v.issues;
}

/** At most this many issues are spelled out; a bulk request with thousands of bad devices says how many more. */
export const MAX_DESCRIBED_ISSUES = 20;

/** One sentence for an error message, naming every field at fault. */
export function describeIssues(issues: ValidationIssue[]): string {
  const shown = issues.slice(0, MAX_DESCRIBED_ISSUES).map((i) => i.message);
  const more = issues.length - shown.length;
  return `Invalid request: ${shown.join('; ')}${more > 0 ? `; and ${more} more issues` : ''}`;
}
