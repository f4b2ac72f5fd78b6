/** `primaryPlaceOfUse` of an activation, checked by the rules of activate-euicc-profile.txt. */
import { isPoBox, US_STATE_CODES } from '../../../contracts/bulk-validation.js';
import { ErrorCode } from '../../platform/errors.js';
import { invalid, isRecord, type Invalid } from '../../platform/util.js';

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
