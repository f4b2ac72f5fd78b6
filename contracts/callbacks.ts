/**
 * Turning a raw ThingSpace callback body into a CallbackEvent. Pure: the gateway uses it before
 * signalling, tests use it directly. Tolerates ThingSpace's varying casing (`IMEI`/`Imei`/`imei`,
 * `Success`/`SUCCESS`) and `ids` instead of `deviceIds` (thingspace-api-notes.md).
 */
import { canonicalJson, isRecord } from './json.js';
import type { CallbackEvent, CallbackEventType, CallbackService, DeviceId, ProfileReport } from './types.js';

/** Body fields that differ between deliveries of the same callback, or must never be stored in events. */
const VOLATILE_FIELDS = new Set(['username', 'password', 'callbackCount', 'maxCallbackThreshold']);

/** Reads `[{kind, id}]` with kinds lower-cased, skipping malformed entries. */
export function readDeviceIds(value: unknown): DeviceId[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item: unknown) =>
    isRecord(item) && typeof item.kind === 'string' && typeof item.id === 'string'
      ? [{ kind: item.kind.toLowerCase(), id: item.id }]
      : [],
  );
}

/**
 * The content that identifies a callback: the body without credentials and delivery counters, keys
 * sorted at every level, so a re-delivery (`callbackCount: 2`) has the same canonical form.
 */
export function canonicalCallbackContent(service: CallbackService, body: Record<string, unknown>): string {
  const content = Object.fromEntries(Object.entries(body).filter(([k]) => !VOLATILE_FIELDS.has(k)));
  return canonicalJson([service, content]);
}

function eventType(deviceResponse: Record<string, unknown>): CallbackEventType {
  if ('deactivateResponse' in deviceResponse) return 'deactivation';
  if ('changeIdentifierResponse' in deviceResponse) return 'identifierChange';
  if ('goToStateResponse' in deviceResponse) return 'goToState';
  if ('deviceProfileResponse' in deviceResponse) return 'deviceProfile';
  return 'unknown';
}

function eventStatus(body: Record<string, unknown>, deviceResponse: Record<string, unknown>): CallbackEvent['status'] {
  const status = typeof body.status === 'string' ? body.status.toLowerCase() : undefined;
  if (isRecord(body.faultResponse) || status === 'failed' || status === 'failure' || status === 'error')
    return 'failed';
  if (status === 'warning') return 'warning';
  // Anything but a documented success (or no status, as on the GoToState example) is not final.
  if (status !== undefined && status !== 'success' && status !== 'successful' && status !== 'completed') {
    return 'warning';
  }
  if (isRecord(deviceResponse.deactivateResponse) && deviceResponse.deactivateResponse.deactivated === false) {
    return 'failed';
  }
  return 'success';
}

/** The `deviceProfileResponse` fields an event's ProfileReport carries (the two eSIM profile pages). */
const PROFILE_FIELDS = [
  'state',
  'profileStatus',
  'profileRole',
  'euiccStatus',
  'euiccStatusCode',
  'euiccStatusDesc',
  'euiccSubAddressUpdateStatus',
  'euiccSubAddressUpdateStatusCode',
  'euiccSubAddressUpdateStatusDesc',
] as const satisfies readonly (keyof ProfileReport)[];

/** The profile fields a `deviceProfileResponse` carries, as strings; undefined when it carries none. */
function readProfile(response: Record<string, unknown>): ProfileReport | undefined {
  const report: ProfileReport = {};
  for (const field of PROFILE_FIELDS) {
    const value = response[field];
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      report[field] = String(value);
    }
  }
  return Object.keys(report).length > 0 ? report : undefined;
}

/** Normalizes an authenticated callback body. `fingerprint`, `inboxId` and `receivedAt` come from the inbox. */
export function normalizeCallback(
  service: CallbackService,
  body: Record<string, unknown>,
  stored: { fingerprint: string; inboxId: number; receivedAt: string },
): CallbackEvent {
  const deviceResponse = isRecord(body.deviceResponse) ? body.deviceResponse : {};
  const type = eventType(deviceResponse);
  const event: CallbackEvent = {
    ...stored,
    service,
    type,
    status: eventStatus(body, deviceResponse),
    deviceIds: readDeviceIds(body.deviceIds ?? body.ids),
  };
  if (typeof body.requestId === 'string' && body.requestId !== '') event.requestId = body.requestId;
  const result =
    type === 'identifierChange'
      ? deviceResponse.changeIdentifierResponse
      : type === 'goToState'
        ? deviceResponse.goToStateResponse
        : undefined;
  if (isRecord(result)) event.resultDeviceIds = readDeviceIds(result.deviceIds);
  if (type === 'identifierChange' && isRecord(result) && typeof result.servicePlan === 'string' && result.servicePlan) {
    event.servicePlan = result.servicePlan;
  }
  if (type === 'identifierChange' && isRecord(result) && typeof result.profileStatus === 'string') {
    // The swap page: the eUICC profile status stays with the ICCID; the new device may need a download.
    event.profile = { profileStatus: result.profileStatus };
  }
  if (type === 'deviceProfile' && isRecord(deviceResponse.deviceProfileResponse)) {
    const profile = readProfile(deviceResponse.deviceProfileResponse);
    if (profile) event.profile = profile;
    const plan = deviceResponse.deviceProfileResponse.servicePlan;
    if (typeof plan === 'string' && plan !== '') event.servicePlan = plan;
  }
  if (isRecord(body.faultResponse)) {
    event.fault = {
      code: String(body.faultResponse.faultcode ?? body.faultResponse.faultCode ?? 'unknown'),
      message: String(body.faultResponse.faultstring ?? body.faultResponse.faultString ?? ''),
    };
  } else if (
    event.status === 'failed' &&
    event.profile &&
    (event.profile.euiccStatusCode !== undefined || event.profile.euiccStatusDesc !== undefined)
  ) {
    // A failed eUICC profile operation may say why only in its eUICC status, not in a faultResponse.
    event.fault = { code: event.profile.euiccStatusCode ?? 'unknown', message: event.profile.euiccStatusDesc ?? '' };
  }
  return event;
}

/** Every identifier a callback mentions, top level and inside `deviceResponse`, for correlation. */
export function callbackDeviceIds(body: Record<string, unknown>): DeviceId[] {
  const found: DeviceId[] = [...readDeviceIds(body.deviceIds ?? body.ids)];
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (isRecord(value)) {
      for (const [key, child] of Object.entries(value)) {
        // deviceProfileResponse lists its devices as `deviceIdentifierCollection`.
        if (key === 'deviceIds' || key === 'ids' || key === 'deviceIdentifierCollection') {
          found.push(...readDeviceIds(child));
        } else visit(child);
      }
    }
  };
  visit(body.deviceResponse);
  const unique = new Map(found.map((d) => [`${d.kind}:${d.id}`, d]));
  return [...unique.values()];
}

/**
 * A correlation key scoped by the ThingSpace account: `<account>|requestid:<id>`, `<account>|imei:<id>`.
 * Callbacks name no account, but ThingSpace keeps one callback URL per service per account, so the
 * gateway knows the account from the URL it registered (`/callbacks/<service>/<account>`); keys of
 * different accounts never match each other.
 */
export function scopedKey(account: string, key: string): string {
  return `${account}|${key}`;
}

/**
 * The URL ThingSpace posts an account's callbacks of one service to: `<base>/<token>/<service>/<account>`.
 * The token is a second secret besides the credentials in the body (callback-gateway/app.ts); the callbacks
 * themselves name no account, so the path tells the gateway whose they are, and it correlates them only with
 * that account's sagas.
 */
export function callbackUrl(baseUrl: string, pathToken: string, service: string, accountName: string): string {
  return [baseUrl.replace(/\/$/, ''), pathToken, service, accountName]
    .map((p, i) => (i ? encodeURIComponent(p) : p))
    .join('/');
}
