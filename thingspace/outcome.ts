/**
 * Did ThingSpace act? The one place that decides, from how a request ended, whether ThingSpace may have
 * carried it out. A swap, an identifier change and a profile request are acted on again if sent again
 * (no page promises that ThingSpace refuses a repeat while the first is in flight), so a request is sent
 * again by the system only when ThingSpace surely did not act on it. Every other end is an unknown
 * outcome: the callbacks settle it, then the device list, and when neither can, a person.
 *
 * The table is read top to bottom; the first case that matches decides. README "Assumptions" lists
 * the cases that no page states.
 */
import { ThingSpaceError } from './errors.js';

/** How a request ended, as far as ThingSpace acting on it goes. */
export type RequestEnd =
  /** ThingSpace did not act, and says (or the network says) that trying again may work: resend. */
  | { acted: 'no'; resend: true; case: string }
  /** ThingSpace did not act and will not: a refusal (4xx) or a failed login. Never resent. */
  | { acted: 'no'; resend: false; case: string }
  /** ThingSpace may have acted. Never resent without evidence or a person. */
  | { acted: 'unknown'; resend: false; case: string };

/** Connection failures that happen before any byte of the request leaves. */
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * 4xx answers that name a transient cause: the request was turned away unread. An expired session or
 * bearer is renewed once by the client; one that is still refused after the renewal lands here.
 */
const TRANSIENT_4XX_STATUS = new Set([408, 425, 429]);
const TRANSIENT_4XX_CODES = ['SessionToken.Expired', 'SessionToken.Invalid', '900901'];

interface Case {
  case: string;
  when: (error: ThingSpaceError) => boolean;
  end: 'resend' | 'refused' | 'unknown';
}

/** The table. Each row: what was observed, and what it means. */
export const REQUEST_END_CASES: readonly Case[] = [
  { case: 'not sent: a login or token step failed first', when: (e) => e.notSent === true, end: 'resend' },
  { case: 'login refused (never resent: 5 failures lock the account)', when: (e) => !!e.authFailure, end: 'refused' },
  {
    case: 'connection never established (refused, DNS, no route)',
    when: (e) => e.status === 0 && NEVER_CONNECTED.has(e.networkCode ?? ''),
    end: 'resend',
  },
  { case: 'no answer after connecting (timeout, reset)', when: (e) => e.status === 0, end: 'unknown' },
  { case: '503 Service Unavailable: turned away', when: (e) => e.status === 503, end: 'resend' },
  {
    case: '4xx naming a transient cause (408, 425, 429, an expired session)',
    when: (e) =>
      TRANSIENT_4XX_STATUS.has(e.status) ||
      (e.status >= 400 && e.status < 500 && TRANSIENT_4XX_CODES.some((c) => e.code.endsWith(c))),
    end: 'resend',
  },
  { case: 'other 4xx: refused', when: (e) => e.status >= 400 && e.status < 500, end: 'refused' },
  { case: '5xx other than 503 (500, 502, 504 …): may have acted', when: (e) => e.status >= 500, end: 'unknown' },
  { case: 'a 2xx whose body cannot be read', when: (e) => e.status >= 200 && e.status < 300, end: 'unknown' },
];

/**
 * How a request to ThingSpace ended. Anything that is not a ThingSpaceError (a bug, an abort mid-request)
 * is an unknown outcome: it may have been thrown after the request left.
 */
export function requestEnd(error: unknown): RequestEnd {
  if (!(error instanceof ThingSpaceError))
    return { acted: 'unknown', resend: false, case: 'not an answer of ThingSpace' };
  const row = REQUEST_END_CASES.find((c) => c.when(error));
  if (!row || row.end === 'unknown') return { acted: 'unknown', resend: false, case: row?.case ?? 'unrecognised' };
  return row.end === 'resend'
    ? { acted: 'no', resend: true, case: row.case }
    : { acted: 'no', resend: false, case: row.case };
}

/** Whether ThingSpace may have carried out a request that ended with `error`. */
export function mayHaveActed(error: ThingSpaceError): boolean {
  return requestEnd(error).acted === 'unknown';
}

/**
 * Whether a refusal says the request had too many devices. The eSIM pages answer errors with a 3-digit
 * code only, so the message is read too; Verizon's own codes are `MaxRequestsExceeded` and
 * `NumberofDevices`. A request refused for its size was not acted on: split, it can be sent again.
 */
export function refusedForSize(error: unknown): boolean {
  if (!(error instanceof ThingSpaceError) || error.status !== 400) return false;
  if (/MaxRequestsExceeded|NumberofDevices/i.test(error.code)) return true;
  return /\b(at most|maximum|max|too many|exceed\w*|limit\w*)\b[^.]*\bdevices?\b|\bdevices?\b[^.]*\b(at most|maximum|too many|exceed\w*|limit\w*)\b/i.test(
    error.message,
  );
}
