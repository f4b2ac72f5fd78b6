/**
 * Bounds on what a callback puts into a saga's history. The gateway accepts bodies of up to
 * CALLBACK_MAX_BODY and keeps each as it came in the inbox; the event a saga receives is capped: every
 * string to a length, every device list to a count. ThingSpace's own callbacks stay far below the caps,
 * so a capped value is a malformed or hostile callback, and its original stays in the inbox for operators.
 */
import type { CallbackEvent, DeviceId } from '../contracts/index.js';

export const EVENT_LIMITS = {
  /** A device identifier: EIDs have 32 digits. */
  deviceId: 64,
  /** Request ids, service plans, fault codes, statuses of a profile. */
  text: 256,
  /** A fault's message. */
  message: 1024,
  /** Identifiers in one list: a device has a handful (EID, IMEI, ICCID, MDN, MSISDN, …). */
  devices: 32,
} as const;

const cap = (value: string, max: number): string => (value.length > max ? value.slice(0, max) : value);

function capDevices(ids: readonly DeviceId[]): DeviceId[] {
  return ids
    .slice(0, EVENT_LIMITS.devices)
    .map((d) => ({ kind: cap(d.kind, EVENT_LIMITS.text), id: cap(d.id, EVENT_LIMITS.deviceId) }));
}

/** Whether normalisation had to cap anything (for a log line). */
export function exceedsLimits(event: CallbackEvent): boolean {
  return JSON.stringify(event) !== JSON.stringify(boundEvent(event));
}

/** The event with every string and device list capped (EVENT_LIMITS); the inbox keeps the original. */
export function boundEvent(event: CallbackEvent): CallbackEvent {
  const bounded: CallbackEvent = { ...event, deviceIds: capDevices(event.deviceIds) };
  if (event.requestId !== undefined) bounded.requestId = cap(event.requestId, EVENT_LIMITS.text);
  if (event.resultDeviceIds) bounded.resultDeviceIds = capDevices(event.resultDeviceIds);
  if (event.servicePlan !== undefined) bounded.servicePlan = cap(event.servicePlan, EVENT_LIMITS.text);
  if (event.fault) {
    bounded.fault = {
      code: cap(event.fault.code, EVENT_LIMITS.text),
      message: cap(event.fault.message, EVENT_LIMITS.message),
    };
  }
  if (event.profile) {
    bounded.profile = Object.fromEntries(
      Object.entries(event.profile).map(([k, v]) => [k, typeof v === 'string' ? cap(v, EVENT_LIMITS.text) : v]),
    ) as CallbackEvent['profile'];
  }
  return bounded;
}

/** Bytes an event takes in a signal (JSON, before encryption, which adds a constant). */
export function eventBytes(event: CallbackEvent): number {
  return Buffer.byteLength(JSON.stringify(event), 'utf8');
}

const FAULT_TEXT_FIELDS = ['faultcode', 'faultCode', 'faultstring', 'faultString'];

/**
 * The body as the normaliser can read it: a fault code or text that is an object or array (not ThingSpace's,
 * which are strings) becomes its JSON, because turning such a value into text can throw
 * (`[{"toString": null}]`). The inbox keeps the body as it came.
 */
export function normalizableBody(body: Record<string, unknown>): Record<string, unknown> {
  const fault = body.faultResponse;
  if (typeof fault !== 'object' || fault === null || Array.isArray(fault)) return body;
  const safe: Record<string, unknown> = { ...(fault as Record<string, unknown>) };
  for (const field of FAULT_TEXT_FIELDS) {
    if (typeof safe[field] === 'object' && safe[field] !== null) safe[field] = JSON.stringify(safe[field]);
  }
  return { ...body, faultResponse: safe };
}
