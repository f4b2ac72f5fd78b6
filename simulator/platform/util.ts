/** Small helpers the simulator's parts share: one copy each. The simulator keeps them to itself. */
import type { ErrorCode } from './errors.js';

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A request refused synchronously: the error code and message of its 400. */
export type Invalid = { ok: false; code: ErrorCode; message: string };

export function invalid(code: ErrorCode, message: string): Invalid {
  return { ok: false, code, message };
}

/** `code` with its service prefix (`CarrierService.`, `UnifiedWebService.`, …), added when missing. */
export function withServicePrefix(service: string, code: string): string {
  return code.startsWith(`${service}.`) ? code : `${service}.${code}`;
}
