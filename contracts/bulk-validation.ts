/**
 * Input validation for the two bulk eSIM profile sagas, by the rules of change-profile-service-plan.txt
 * and activate-euicc-profile.txt. Pure and deterministic like validation.ts (workflows run it first).
 * A bulk request may name any number of devices — the saga shards them (DESIGN.md §6) — so every check
 * is linear in the number of devices: nothing compares devices pairwise.
 *
 * Messages never repeat a value of `primaryPlaceOfUse`: failure messages are not encrypted by the payload
 * codec, and a customer's name and address are personal data (DESIGN.md §8).
 */
import { RequestValidator, type ValidationIssue } from './validation.js';
import type { BulkOperation, DeviceId } from './types.js';

/** Devices per ThingSpace request at most (thingspace-api-notes.md: `INPUT_INVALID.MaxRequestsExceeded`). */
export const MAX_SHARD_SIZE = 10_000;
/** ThingSpace takes at most 100 activation requests a minute per account (thingspace-api-notes.md). */
export const ACTIVATION_INTERVAL_MS = 600;
/** Shards in flight at once at most; beyond this they only queue on ThingSpace's rate limits. */
export const MAX_SHARD_CONCURRENCY = 50;
/** Each shard adds about a dozen events to the saga's history, which must stay far below 51,200. */
export const MAX_SHARDS = 1_000;

/** change-profile-service-plan.txt: "Only the following are supported by the request and both values must be present". */
const SERVICE_PLAN_KINDS = ['eid', 'iccid'] as const;
/** activate-euicc-profile.txt: the kinds a device of the request "could be". */
const ACTIVATION_KINDS = ['imei', 'iccid', 'mdn', 'eid'] as const;
/** The identifier kinds a device of each bulk operation may carry. */
export const BULK_DEVICE_KINDS: Readonly<Record<BulkOperation, readonly string[]>> = {
  changeProfileServicePlan: SERVICE_PLAN_KINDS,
  activateDeviceProfiles: ACTIVATION_KINDS,
};

const BULK_FAILURE_POLICIES: readonly unknown[] = ['hold', 'fail'];
const BULK_OPTION_KEYS: readonly string[] = ['stepTimeout', 'failurePolicy', 'shardSize', 'shardConcurrency'];

/**
 * The codes ISO 3166-2:US lists, which the activate page points to for `state`: the 50 states, the
 * District of Columbia and the outlying areas.
 */
export const US_STATE_CODES: ReadonlySet<string> = new Set([
  ...['AL', 'AK', 'AZ', 'AR', 'CA', 'CO', 'CT', 'DE', 'FL', 'GA', 'HI', 'ID', 'IL', 'IN', 'IA', 'KS', 'KY'],
  ...['LA', 'ME', 'MD', 'MA', 'MI', 'MN', 'MS', 'MO', 'MT', 'NE', 'NV', 'NH', 'NJ', 'NM', 'NY', 'NC', 'ND'],
  ...['OH', 'OK', 'OR', 'PA', 'RI', 'SC', 'SD', 'TN', 'TX', 'UT', 'VT', 'VA', 'WA', 'WV', 'WI', 'WY'],
  'DC',
  ...['PR', 'GU', 'VI', 'AS', 'MP', 'UM'],
]);

/**
 * Ways people write a P.O. box: "PO Box 12", "P.O. Box", "P. O. Box", "P.O.Box", "POBox 12", "Post Office
 * Box", "POB 12". A run-together "pobox" or a bare "POB" only counts when a box number follows, so a street
 * such as "Pobox Road" is not mistaken for one.
 */
const PO_BOX_PATTERNS: readonly RegExp[] = [
  /\bp\s*\.?\s*o\s*\.?\s+box\b/i,
  /\bp\s*\.\s*o\s*\.\s*box\b/i,
  /\bp\s*\.?\s*o\s*\.?\s*box\s*#?\s*\d/i,
  /\bpost\s+office\s+box\b/i,
  /\bpob\.?\s*#?\s*\d/i,
];

/** True when a street address line is a P.O. box (see PO_BOX_PATTERNS). */
export function isPoBox(line: string): boolean {
  return PO_BOX_PATTERNS.some((pattern) => pattern.test(line));
}

/** activate-euicc-profile.txt: names are "alphanumeric characters, space, dash, exclamation point, and pound sign". */
const NAME_CHARACTERS = /^[A-Za-z0-9 !#-]*$/;

const absent = (value: unknown): boolean => value === undefined || value === null;

class BulkRequestValidator extends RequestValidator {
  /** Any string, the empty one included: the activate page's example sends `"carrierIpPoolName": ""`. */
  optionalText(body: Record<string, unknown>, field: string, path = field): string | undefined {
    const value = body[field];
    if (absent(value)) return undefined;
    if (typeof value !== 'string') {
      this.add(path, `${path} must be a string when given`);
      return undefined;
    }
    return value;
  }

  /** A string matching `pattern` when given; absent is fine, anything else (the empty string too) is not. */
  optionalPattern(body: Record<string, unknown>, field: string, path: string, pattern: RegExp, rule: string): void {
    const value = body[field];
    if (absent(value)) return;
    if (typeof value !== 'string' || !pattern.test(value)) this.add(path, `${path} must be ${rule} when given`);
  }

  /**
   * `devices`: a non-empty array of `{deviceIds}`, each identifier of one of `kinds`, and no device twice.
   * `each` adds the operation's own rules for one device's identifiers.
   */
  devices(value: unknown, kinds: readonly string[], each?: (ids: DeviceId[], path: string) => void): void {
    if (!Array.isArray(value) || value.length === 0) {
      this.add('devices', 'devices is required: a non-empty array of {deviceIds: [{kind, id}, …]}');
      return;
    }
    const firstNamedBy = new Map<string, number>();
    value.forEach((item: unknown, i) => {
      const ids = this.device(item, `devices[${i}]`, kinds, each);
      if (ids) this.repeatedDevice(ids, i, firstNamedBy);
    });
  }

  /** One device `{deviceIds}` at `at`: its identifiers (kinds lower-cased), undefined when it has none to read. */
  device(
    item: unknown,
    at: string,
    kinds: readonly string[],
    each?: (ids: DeviceId[], path: string) => void,
  ): DeviceId[] | undefined {
    if (!this.object(item, at)) return undefined;
    const ids = this.deviceIds(item.deviceIds, `${at}.deviceIds`, kinds);
    if (!ids) return undefined;
    each?.(ids, `${at}.deviceIds`);
    return ids;
  }

  /**
   * ThingSpace answers with one callback per profile, matched by identifier: a device named twice would
   * get outcomes no one can tell apart. One issue per earlier device it repeats, naming both positions.
   */
  private repeatedDevice(ids: DeviceId[], index: number, firstNamedBy: Map<string, number>): void {
    let reported: number[] | undefined;
    for (const { kind, id } of ids) {
      // Lower-cased id: a hex ICCID check digit is the same digit in either case (names.ts deviceKey).
      const key = `${kind}:${id.toLowerCase()}`;
      const earlier = firstNamedBy.get(key);
      if (earlier === undefined) firstNamedBy.set(key, index);
      else if (earlier !== index && !reported?.includes(earlier)) {
        (reported ??= []).push(earlier);
        const path = `devices[${index}].deviceIds`;
        this.add(path, `${path} repeats ${kind} ${id} of devices[${earlier}]: a device may appear only once`);
      }
    }
  }

  /** `options` of a bulk saga (BulkOptions), for a request of `deviceCount` devices. */
  bulkOptions(value: unknown, deviceCount: number, path = 'options'): void {
    if (value === undefined) return;
    if (!this.object(value, path)) return;
    const shardSize = value.shardSize;
    if (typeof shardSize === 'number' && Number.isInteger(shardSize) && shardSize >= 1) {
      const shards = Math.ceil(deviceCount / shardSize);
      if (shards > MAX_SHARDS) {
        this.add(
          `${path}.shardSize`,
          `${path}.shardSize ${shardSize} makes ${shards} shards of ${deviceCount} devices; at most ${MAX_SHARDS} keep the saga's history small: use a shardSize of at least ${Math.ceil(deviceCount / MAX_SHARDS)}`,
        );
      }
    }
    this.stepTimeout(value.stepTimeout, `${path}.stepTimeout`);
    const policy = value.failurePolicy;
    if (policy === 'compensate') {
      this.add(
        `${path}.failurePolicy`,
        `${path}.failurePolicy 'compensate' is not offered: the pages document no undo for a profile operation, so bulk sagas offer 'hold' or 'fail'`,
      );
    } else if (policy !== undefined && !BULK_FAILURE_POLICIES.includes(policy)) {
      this.add(`${path}.failurePolicy`, `${path}.failurePolicy must be 'hold' or 'fail'`);
    }
    this.wholeNumber(value.shardSize, `${path}.shardSize`, MAX_SHARD_SIZE, '10,000');
    this.wholeNumber(value.shardConcurrency, `${path}.shardConcurrency`, MAX_SHARD_CONCURRENCY, '50');
    for (const key of Object.keys(value)) {
      if (!BULK_OPTION_KEYS.includes(key)) {
        this.add(`${path}.${key}`, `${path}.${key} is not an option: use ${BULK_OPTION_KEYS.join(', ')}`);
      }
    }
  }

  private wholeNumber(value: unknown, path: string, max: number, maxText: string): void {
    if (value === undefined) return;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
      this.add(path, `${path} must be a whole number from 1 to ${maxText}`);
    }
  }

  /** `primaryPlaceOfUse` of activate-euicc-profile.txt: optional, but complete when given. */
  primaryPlaceOfUse(value: unknown, path = 'primaryPlaceOfUse'): void {
    if (absent(value)) return;
    if (!this.object(value, path)) return;
    this.customerName(value.customerName, `${path}.customerName`);
    this.address(value.address, `${path}.address`);
  }

  private customerName(value: unknown, path: string): void {
    if (absent(value)) {
      this.add(path, `${path} is required`);
      return;
    }
    if (!this.object(value, path)) return;
    this.optionalText(value, 'title', `${path}.title`);
    this.personName(value, 'firstName', `${path}.firstName`, 20);
    this.optionalText(value, 'middleName', `${path}.middleName`);
    this.personName(value, 'lastName', `${path}.lastName`, 25);
    this.optionalText(value, 'suffix', `${path}.suffix`);
  }

  private personName(body: Record<string, unknown>, field: string, path: string, max: number): void {
    const name = this.requiredString(body, field, path);
    if (name === undefined) return;
    if (name.length > max) this.add(path, `${path} must be at most ${max} characters`);
    if (!NAME_CHARACTERS.test(name)) {
      this.add(path, `${path} may only contain letters, digits, spaces, dashes, '!' and '#'`);
    }
  }

  private address(value: unknown, path: string): void {
    if (absent(value)) {
      this.add(path, `${path} is required`);
      return;
    }
    if (!this.object(value, path)) return;
    this.addressLine1(value, path);
    this.optionalText(value, 'addressLine2', `${path}.addressLine2`);
    this.requiredString(value, 'city', `${path}.city`);
    this.state(value, `${path}.state`);
    const zip = this.requiredString(value, 'zip', `${path}.zip`);
    this.pattern(zip, /^\d{5}$/, `${path}.zip`, '5 digits (the ZIP+4 extension goes in zip4)');
    this.optionalPattern(value, 'zip4', `${path}.zip4`, /^\d{4}$/, '4 digits');
    const country = this.requiredString(value, 'country', `${path}.country`);
    if (country !== undefined && country !== 'US' && country !== 'USA') {
      this.add(`${path}.country`, `${path}.country must be 'US' or 'USA'`);
    }
  }

  /** The page's table spells the field `addresLine1`, its example `addressLine1` (thingspace-api-notes.md). */
  private addressLine1(address: Record<string, unknown>, path: string): void {
    const tableSpelling = !absent(address.addresLine1);
    if (tableSpelling && !absent(address.addressLine1)) {
      this.add(
        `${path}.addresLine1`,
        `${path}.addresLine1 is another spelling of addressLine1: give one of them, not both`,
      );
      return;
    }
    const field = tableSpelling ? 'addresLine1' : 'addressLine1';
    const line = this.requiredString(address, field, `${path}.${field}`);
    // The page: "This must be a physical address for taxation; it cannot be a P.O. box."
    if (line !== undefined && isPoBox(line)) {
      this.add(`${path}.${field}`, `${path}.${field} must be a physical address for taxation, not a P.O. box`);
    }
  }

  private state(address: Record<string, unknown>, path: string): void {
    const state = this.requiredString(address, 'state', path);
    if (state === undefined || US_STATE_CODES.has(state)) return;
    if (US_STATE_CODES.has(state.toUpperCase())) {
      this.add(path, `${path} must be written in capitals, as ISO 3166-2:US writes the code`);
    } else {
      this.add(path, `${path} must be the two-letter code of a US state, DC or US territory (ISO 3166-2:US, e.g. TX)`);
    }
  }
}

/** What one device of a plan change must carry, beyond its kinds. */
const servicePlanDevice = (v: RequestValidator) => (ids: DeviceId[], path: string) =>
  v.requireKinds(ids, ['eid', 'iccid'], path, 'the page says both values, eid and iccid, must be present');

/**
 * The rules for one device `{deviceIds}` of a bulk operation, as the request validators apply them to each
 * item of `devices` (everything but the check for a device named twice, which spans devices). Issues name
 * paths under `at`; `ids` are the device's identifiers with kinds lower-cased, valid when `issues` is empty.
 */
export function validateBulkDevice(
  operation: BulkOperation,
  device: unknown,
  at = 'device',
): { issues: ValidationIssue[]; ids?: DeviceId[] } {
  const v = new BulkRequestValidator();
  const ids =
    operation === 'changeProfileServicePlan'
      ? v.device(device, at, SERVICE_PLAN_KINDS, servicePlanDevice(v))
      : v.device(device, at, ACTIVATION_KINDS);
  return { issues: v.issues, ...(ids && { ids }) };
}

/**
 * Rules of change-profile-service-plan.txt: every device by both its EID and its ICCID, and the plan to
 * change to. Returns every issue found (account, devices, plan, options); empty when valid.
 */
export function validateChangeProfileServicePlan(input: unknown): ValidationIssue[] {
  const v = new BulkRequestValidator();
  if (!v.object(input, 'request')) return v.issues;
  v.requiredString(input, 'accountName');
  v.devices(input.devices, SERVICE_PLAN_KINDS, servicePlanDevice(v));
  // The page's table does not mark servicePlan required, but a plan change without a plan changes nothing.
  v.requiredString(input, 'servicePlan');
  v.bulkOptions(input.options, Array.isArray(input.devices) ? input.devices.length : 0);
  return v.issues;
}

/**
 * Rules of activate-euicc-profile.txt. Returns every issue found (account, devices, then the page's field
 * order, options); empty when valid.
 */
export function validateActivateDeviceProfiles(input: unknown): ValidationIssue[] {
  const v = new BulkRequestValidator();
  if (!v.object(input, 'request')) return v.issues;
  v.requiredString(input, 'accountName');
  v.devices(input.devices, ACTIVATION_KINDS);
  v.optionalText(input, 'smsrOid');
  v.optionalText(input, 'carrierName');
  v.optionalText(input, 'servicePlan');
  v.optionalPattern(input, 'mdnZipCode', 'mdnZipCode', /^\d{5}$/, '5 digits');
  v.optionalText(input, 'carrierIpPoolName');
  v.primaryPlaceOfUse(input.primaryPlaceOfUse);
  v.bulkOptions(input.options, Array.isArray(input.devices) ? input.devices.length : 0);
  return v.issues;
}
