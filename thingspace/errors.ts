/**
 * ThingSpace failures as one typed error. ThingSpace answers errors in three JSON shapes, sometimes XML
 * or nothing at all (thingspace-api-notes.md, Errors); parseThingSpaceError reads all of them so callers
 * match on `status` and `code`, never on the message.
 */
import { isRecord } from '../contracts/json.js';

/** Error classes that follow the leading service name in an `errorCode` — thingspace-api-notes.md. */
const ERROR_CLASSES = ['INPUT_INVALID', 'REQUEST_FAILED', 'REQUEST_ONHOLD', 'REQUEST_CANCELLED'];

/** Long bodies (HTML error pages) are cut so an error message stays one readable line. */
const MAX_MESSAGE_LENGTH = 300;

export interface ThingSpaceErrorInit {
  /** HTTP status; 0 when no answer arrived (network failure, timeout) or nothing was sent. */
  status: number;
  code: string;
  message: string;
  retryAfterMs?: number;
  authFailure?: boolean;
  /** The request reached ThingSpace and may have been carried out although no answer says so. */
  mayHaveActed?: boolean;
  /** For network failures: the system error code (`ECONNREFUSED`, `ECONNRESET`, …). */
  networkCode?: string;
  /** The operation's request never left: a login or token step before it failed. */
  notSent?: boolean;
}

/**
 * A failed ThingSpace call. Carries no request, headers or credentials, so it is safe to log, serialize
 * and keep as the `cause` of an ApplicationFailure.
 */
export class ThingSpaceError extends Error {
  override readonly name = 'ThingSpaceError';
  /** HTTP status; 0 when no HTTP answer arrived. */
  readonly status: number;
  /**
   * The error code without the leading service name (`REQUEST_FAILED.SessionToken.Expired`), the 3-digit
   * code of the eSIM profile endpoints (`400`, `401`: their pages answer every error so), a gateway
   * fault code (`900901`), an OAuth error (`invalid_client`), `HTTP_<status>` for bodies without a code,
   * or `NETWORK` / `TIMEOUT` when no answer arrived.
   */
  readonly code: string;
  /** How long ThingSpace asked us to wait, from a `Retry-After` header. */
  readonly retryAfterMs?: number;
  /** Logging in failed (bad credentials, or logins suspended to protect the account); never retried. */
  readonly authFailure?: boolean;
  /**
   * True when the request may have been carried out although the answer was lost or an error, as
   * `requestEnd` (thingspace/outcome.ts) decides. Resending it then risks doing it twice.
   */
  readonly mayHaveActed?: boolean;
  readonly networkCode?: string;
  /** The operation's request never left: a login or token step before it failed. */
  readonly notSent?: boolean;

  constructor(init: ThingSpaceErrorInit) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    if (init.authFailure) this.authFailure = true;
    if (init.mayHaveActed) this.mayHaveActed = true;
    if (init.networkCode !== undefined) this.networkCode = init.networkCode;
    if (init.notSent) this.notSent = true;
  }

  /** 408, 429, 5xx and network failures are worth another attempt; other answers will not change. */
  get retryable(): boolean {
    if (this.authFailure) return false;
    if (this.status === 0) return true;
    return this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

export type ResponseHeaders = Record<string, string | string[] | undefined>;

function text(value: unknown): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function clip(message: string): string {
  const oneLine = message.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_MESSAGE_LENGTH ? `${oneLine.slice(0, MAX_MESSAGE_LENGTH)}…` : oneLine;
}

/**
 * True for the eSIM profile endpoints' error codes, `{"errorCode": "The 3-digit HTML error code"}`
 * (activate-euicc-profile.txt, change-profile-service-plan.txt). Such a code says no more than the status.
 */
export function isThreeDigitCode(code: string): boolean {
  return /^\d{3}$/.test(code);
}

/** `UnifiedWebService.REQUEST_FAILED.SessionToken.Expired` → `REQUEST_FAILED.SessionToken.Expired`. */
export function stripServiceName(errorCode: string): string {
  const parts = errorCode.split('.');
  const at = parts.findIndex((part) => ERROR_CLASSES.includes(part));
  return at > 0 ? parts.slice(at).join('.') : errorCode;
}

function header(headers: ResponseHeaders | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

/** `Retry-After` is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3); anything else is ignored. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function fromJson(body: Record<string, unknown>): { code: string; message?: string } | undefined {
  const errorCode = text(body.errorCode);
  if (errorCode !== undefined) return { code: stripServiceName(errorCode), message: text(body.errorMessage) };
  if (isRecord(body.fault)) {
    const code = text(body.fault.code);
    const message = text(body.fault.message);
    const description = text(body.fault.description);
    if (code !== undefined) {
      return { code, message: message && description ? `${message}: ${description}` : (message ?? description) };
    }
  }
  const oauthError = text(body.error);
  if (oauthError !== undefined) return { code: oauthError, message: text(body.error_description) };
  return undefined;
}

/** Gateway faults on 403/404 may be XML such as `<am:fault><am:message>Not Found</am:message>…` — thingspace-api-notes.md. */
function fromMarkup(bodyText: string): string | undefined {
  const element = (name: string): string | undefined =>
    text(new RegExp(`<(?:[\\w-]+:)?${name}>([^<]*)</`, 'i').exec(bodyText)?.[1]);
  const message = element('message');
  const description = element('description');
  if (message && description) return `${message}: ${description}`;
  return message ?? description ?? element('title');
}

/**
 * Reads a ThingSpace error answer: `{errorCode, errorMessage}`, `{fault: {code, message, description}}`
 * (code a string or a number), OAuth `{error, error_description}`, `{message}` (429 on eSIM endpoints),
 * XML, or an empty body. The status is always kept; `Retry-After` becomes `retryAfterMs`.
 */
export function parseThingSpaceError(
  status: number,
  headers: ResponseHeaders | undefined,
  bodyText: string,
  now: number = Date.now(),
  /** Applied to the message before it is shortened, so that no secret survives even in part. */
  redact: (text: string) => string = (text) => text,
): ThingSpaceError {
  const retryAfterMs = parseRetryAfter(header(headers, 'retry-after'), now);
  let parsed: { code: string; message?: string } | undefined;
  let fallbackMessage: string | undefined;
  const trimmed = bodyText.trim();
  if (trimmed.startsWith('{')) {
    try {
      const body: unknown = JSON.parse(trimmed);
      if (isRecord(body)) {
        parsed = fromJson(body);
        fallbackMessage = text(body.message);
      }
    } catch {
      fallbackMessage = undefined;
    }
  } else if (trimmed.startsWith('<')) {
    fallbackMessage = fromMarkup(trimmed);
  }
  const code = parsed?.code ?? `HTTP_${status}`;
  const message = parsed?.message ?? fallbackMessage ?? `ThingSpace answered HTTP ${status}`;
  return new ThingSpaceError({ status, code, message: clip(redact(message)), retryAfterMs });
}

/** Network-level failures (got's RequestError and subclasses) carry a `code` such as `ECONNREFUSED`. */
export function networkError(error: unknown): ThingSpaceError {
  const name = error instanceof Error ? error.name : 'Error';
  const detail = isRecord(error) && typeof error.code === 'string' ? error.code : name;
  const timedOut = name === 'TimeoutError' || detail === 'ETIMEDOUT';
  return new ThingSpaceError({
    status: 0,
    networkCode: detail,
    code: timedOut ? 'TIMEOUT' : 'NETWORK',
    message: timedOut ? `ThingSpace did not answer in time (${detail})` : `ThingSpace could not be reached (${detail})`,
  });
}
