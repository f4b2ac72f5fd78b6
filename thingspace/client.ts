/**
 * The one ThingSpace client: `got` with a prefix URL, an explicit timeout and no retries of its own
 * (Temporal's retry policy is the single source of retries), OAuth and session tokens handled inside.
 *
 * got 14 is ESM-only and the newest major that runs on Node 20 (got 15 needs Node 22); the project is
 * ESM for that reason.
 */
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import got, { RequestError, type Got, type Method } from 'got';
import pino, { type Logger } from 'pino';
import { z } from 'zod';
import { readDeviceIds } from '../contracts/index.js';
import { isThreeDigitCode, networkError, parseThingSpaceError, ThingSpaceError } from './errors.js';
import { mayHaveActed } from './outcome.js';
import type {
  CallbackRegistration,
  CallbackRegistrationResult,
  ActivateDeviceProfilesBody,
  ChangeDeviceIdentifierBody,
  ChangeProfileServicePlanBody,
  DeviceInformation,
  DeviceListRequest,
  DeviceListResult,
  EidDeviceSwapBody,
  ExtendedAttribute,
  RegisteredCallback,
  RequestAccepted,
  ServiceType,
  ThingSpaceClientConfig,
} from './models.js';

export type { ThingSpaceClientConfig } from './models.js';

/**
 * Typed ThingSpace operations. Every method takes an optional AbortSignal (pass the activity's
 * cancellation signal); an aborted call rejects with the signal's reason. No method retries except
 * once after renewing an expired session or bearer token, which ThingSpace rejected without acting on
 * the request.
 */
export interface ThingSpaceClient {
  /** Registers (or replaces) the account's callback URL for one service. Idempotent. */
  registerCallback(
    accountName: string,
    registration: CallbackRegistration,
    signal?: AbortSignal,
  ): Promise<CallbackRegistrationResult>;
  /** The account's registered callbacks, without their passwords; `[]` when none. */
  listCallbacks(accountName: string, signal?: AbortSignal): Promise<RegisteredCallback[]>;
  /** Removes the account's callback for one service. */
  deregisterCallback(accountName: string, serviceName: string, signal?: AbortSignal): Promise<void>;
  /** Submits an eUICC device swap (eid-device-swap.txt). Not idempotent upstream: each call is a new request. */
  eidDeviceSwap(body: EidDeviceSwapBody, signal?: AbortSignal): Promise<RequestAccepted>;
  /**
   * Changes a 3G or 4G device's identifier (change-device-identifier.txt). Not idempotent upstream: each
   * call is a new request.
   */
  changeDeviceIdentifier(
    serviceType: ServiceType,
    body: ChangeDeviceIdentifierBody,
    signal?: AbortSignal,
  ): Promise<RequestAccepted>;
  /** Changes the service plan of eSIM profiles, at most 10,000 per call (change-profile-service-plan.txt). */
  changeProfileServicePlan(body: ChangeProfileServicePlanBody, signal?: AbortSignal): Promise<RequestAccepted>;
  /**
   * Activates eUICC profiles, at most 10,000 per call and 100 calls a minute (activate-euicc-profile.txt).
   * Not idempotent upstream: each call is a new request.
   */
  activateDeviceProfiles(body: ActivateDeviceProfilesBody, signal?: AbortSignal): Promise<RequestAccepted>;
  /** One page of `POST /m2m/v1/devices/actions/list`. Read-only. */
  listDevices(body: DeviceListRequest, signal?: AbortSignal): Promise<DeviceListResult>;
  /**
   * Checks the credentials for a deployment check: one token request, then one session login, each at most
   * once (no renewal, no retry, so a wrong password costs one failed login of the five that lock the
   * account). Resolves `{ ok: true }`, or the step that was refused and why; the session opened serves the next calls.
   */
  verifyCredentials(): Promise<CredentialCheck>;
  /** Ends the current session, if any. */
  logout(signal?: AbortSignal): Promise<void>;
  /** Allows logins again after they were suspended by repeated login failures. */
  resetLoginGuard(): void;
}

/** What `verifyCredentials` found: nothing refused, or the step refused and why. */
export type CredentialCheck = { ok: true } | { ok: false; failedStep: 'token' | 'session'; error: ThingSpaceError };
/** One HTTP exchange with ThingSpace, as the client's `observe` hook sees it. */
export interface ThingSpaceCall {
  /** The operation (`eidDeviceSwap`, `listDevices`, `oauthToken`, `sessionLogin`, …). */
  endpoint: string;
  /** The HTTP status as a string, or the network error code (`ETIMEDOUT`, …), or `aborted`. */
  status: string;
  seconds: number;
}

export interface ThingSpaceClientDeps {
  logger?: Pick<Logger, 'debug' | 'info' | 'warn'>;
  /** Called after every HTTP exchange (metrics). */
  observe?: (call: ThingSpaceCall) => void;
  /** Clock for token lifetimes and session idle time. */
  now?: () => number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** The token lives one hour — thingspace-api-notes.md; used when `expires_in` is missing. */
const DEFAULT_TOKEN_LIFETIME_MS = 60 * 60_000;
const TOKEN_SAFETY_MARGIN_MS = 60_000;
/** Sessions expire after 20 idle minutes — thingspace-api-notes.md; renew a minute early. */
const SESSION_RENEW_AFTER_IDLE_MS = 19 * 60_000;
/**
 * Five consecutive failed logins lock the account — thingspace-api-notes.md. After two, this client
 * stops trying until `resetLoginGuard()`, leaving room for other processes sharing the account.
 */
const MAX_CONSECUTIVE_LOGIN_FAILURES = 2;
/** A bearer token ThingSpace's gateway no longer accepts ("Invalid Credentials") — thingspace-api-notes.md. */
const EXPIRED_BEARER_FAULT = '900901';
const SESSION_ERROR_CODES = ['SessionToken.Expired', 'SessionToken.Invalid', 'SessionToken.Format'];

const tokenResponse = z.object({
  access_token: z.string().min(1),
  expires_in: z.coerce.number().positive().optional(),
});
const loginResponse = z.object({ sessionToken: z.string().min(1) });
const requestAccepted = z.object({ requestId: z.string().min(1) });
const registrationResponse = z.object({ accountName: z.string(), serviceName: z.string() }).partial();
const callbackEntry = z.object({
  accountName: z.string().optional(),
  serviceName: z.string().optional(),
  name: z.string().optional(),
  url: z.string().optional(),
  username: z.string().optional(),
});
const deviceListResponse = z.object({
  hasMoreData: z.boolean().optional(),
  devices: z.array(z.record(z.unknown())).optional(),
});

/**
 * `extendedAttributes` as `{key, value}` strings; entries without a key are dropped. The paging cursor
 * (`DeviceId`) may come as a number or a string.
 */
function readExtendedAttributes(value: unknown): ExtendedAttribute[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.flatMap((entry: unknown): ExtendedAttribute[] => {
    if (typeof entry !== 'object' || entry === null) return [];
    const { key, value: v } = entry as { key?: unknown; value?: unknown };
    if (typeof key !== 'string') return [];
    return [{ key, value: typeof v === 'string' || typeof v === 'number' ? String(v) : '' }];
  });
}

interface AccessToken {
  value: string;
  expiresAt: number;
}

interface Session {
  token: string;
  /** When a request last reached ThingSpace with this session; the idle expiry slides from there. */
  lastUsedAt: number;
}

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface M2MCall {
  operation: string;
  /** The eSIM profile endpoints, whose errors come as `{"errorCode":"<3-digit status>","errorMessage"}`. */
  profileEndpoint?: boolean;
  method: Method;
  path: string;
  json?: unknown;
  signal: AbortSignal | undefined;
}

function abortReason(signal: AbortSignal): Error {
  if (signal.reason instanceof Error) return signal.reason;
  const error = new Error('The ThingSpace request was aborted');
  error.name = 'AbortError';
  return error;
}

/** Waits for a shared promise without letting one caller's cancellation cancel it for the others. */
function awaitWithSignal<T>(shared: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return shared;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    shared.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function isSuccess(answer: HttpAnswer): boolean {
  return answer.status >= 200 && answer.status < 300;
}

function parseJson(body: string): unknown {
  if (body.trim() === '') return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/**
 * `start` shared by concurrent callers: while one run is under way, every call gets its promise; the next
 * call after it settles starts another. A rejection is left to the callers (never unhandled here).
 */
function singleFlight<T>(start: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  return () => {
    if (!running) {
      const run = start().finally(() => {
        if (running === run) running = undefined;
      });
      run.catch(() => undefined);
      running = run;
    }
    return running;
  };
}

export function createThingSpaceClient(
  config: ThingSpaceClientConfig,
  deps: ThingSpaceClientDeps = {},
): ThingSpaceClient {
  const logger = deps.logger ?? pino({ level: 'silent' });
  const now = deps.now ?? Date.now;
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const basicCredentials = Buffer.from(`${config.clientId}:${config.clientSecret}`).toString('base64');

  const http: Got = got.extend({
    prefixUrl: config.baseUrl,
    timeout: { request: timeoutMs },
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
    responseType: 'text',
  });

  let accessToken: AccessToken | undefined;
  let session: Session | undefined;
  let consecutiveLoginFailures = 0;

  /** Removes every value that must never appear in an error message, even if ThingSpace echoes one. */
  function scrubText(text: string): string {
    const secrets = [config.clientSecret, config.password, basicCredentials, accessToken?.value, session?.token];
    let scrubbed = text;
    for (const secret of secrets) {
      if (secret && secret.length >= 4) scrubbed = scrubbed.split(secret).join('[redacted]');
    }
    return scrubbed;
  }

  function describe(error: ThingSpaceError): ConstructorParameters<typeof ThingSpaceError>[0] {
    return {
      status: error.status,
      code: error.code,
      message: error.message,
      retryAfterMs: error.retryAfterMs,
      authFailure: error.authFailure,
      mayHaveActed: error.mayHaveActed,
      networkCode: error.networkCode,
      notSent: error.notSent,
    };
  }

  const tracer = trace.getTracer('euicc-orchestrator');

  /** One HTTP exchange, in a client span (when tracing is on), observed with its status and duration. */
  async function send(
    operation: string,
    path: string,
    options: { method: Method; headers: Record<string, string>; json?: unknown; form?: Record<string, string> },
    signal: AbortSignal | undefined,
  ): Promise<HttpAnswer> {
    return tracer.startActiveSpan(
      `ThingSpace ${operation}`,
      {
        kind: SpanKind.CLIENT,
        attributes: { 'http.request.method': options.method, 'thingspace.endpoint': operation },
      },
      async (span) => {
        const startedAt = now();
        const observed = performance.now();
        const done = (status: string): void => {
          deps.observe?.({ endpoint: operation, status, seconds: (performance.now() - observed) / 1000 });
        };
        try {
          const response = await http(path, {
            method: options.method,
            headers: options.headers,
            ...(options.json !== undefined ? { json: options.json } : {}),
            ...(options.form !== undefined ? { form: options.form } : {}),
            ...(signal ? { signal } : {}),
          });
          logger.debug(
            { operation, status: response.statusCode, durationMs: now() - startedAt },
            'ThingSpace answered',
          );
          done(String(response.statusCode));
          span.setAttribute('http.response.status_code', response.statusCode);
          if (response.statusCode >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
          return { status: response.statusCode, headers: response.headers, body: response.body };
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR });
          if (signal?.aborted) {
            done('aborted');
            throw abortReason(signal);
          }
          if (error instanceof RequestError) {
            // got's errors carry the request options, headers included: only the error code travels on.
            const failure = networkError(error);
            done(failure.code);
            span.setAttribute('error.type', failure.code);
            logger.warn({ operation, code: failure.code, durationMs: now() - startedAt }, 'ThingSpace request failed');
            throw failure;
          }
          done('error');
          throw error;
        } finally {
          span.end();
        }
      },
    );
  }

  /** `send` for the operation itself (not a login): failures say whether ThingSpace may have acted. */
  async function sendOperation(...args: Parameters<typeof send>): Promise<HttpAnswer> {
    try {
      return await send(...args);
    } catch (error) {
      if (error instanceof ThingSpaceError && mayHaveActed(error)) {
        throw new ThingSpaceError({ ...describe(error), mayHaveActed: true });
      }
      throw error;
    }
  }

  function errorOf(answer: HttpAnswer): ThingSpaceError {
    // Redacted inside the parser, after JSON unescaping and before shortening: an escaped or cut secret
    // would slip past a scrub on either side.
    return parseThingSpaceError(answer.status, answer.headers, answer.body, now(), scrubText);
  }

  function loginsSuspendedError(): ThingSpaceError {
    return new ThingSpaceError({
      status: 0,
      code: 'LoginSuspended',
      authFailure: true,
      message:
        `ThingSpace logins are suspended after ${consecutiveLoginFailures} consecutive failures, because 5 ` +
        'consecutive failed logins lock the account; fix the credentials, then call resetLoginGuard() or restart',
    });
  }

  /** A rejected login counts towards the account lock; outages (408, 429, 5xx, network) do not. */
  function loginFailed(operation: string, error: ThingSpaceError): ThingSpaceError {
    if (error.retryable) return error;
    consecutiveLoginFailures += 1;
    logger.warn(
      { operation, status: error.status, code: error.code, consecutiveLoginFailures },
      'ThingSpace rejected the login',
    );
    return new ThingSpaceError({ ...describe(error), authFailure: true });
  }

  async function fetchAccessToken(): Promise<AccessToken> {
    if (consecutiveLoginFailures >= MAX_CONSECUTIVE_LOGIN_FAILURES) throw loginsSuspendedError();
    const answer = await send(
      'oauthToken',
      'ts/v1/oauth2/token',
      {
        method: 'POST',
        headers: { authorization: `Basic ${basicCredentials}`, accept: 'application/json' },
        form: { grant_type: 'client_credentials' },
      },
      undefined,
    );
    if (!isSuccess(answer)) throw loginFailed('oauthToken', errorOf(answer));
    const parsed = tokenResponse.safeParse(parseJson(answer.body));
    if (!parsed.success) {
      throw new ThingSpaceError({
        status: answer.status,
        code: 'INVALID_RESPONSE',
        message: 'ThingSpace returned no access token',
      });
    }
    const lifetimeMs = (parsed.data.expires_in ?? DEFAULT_TOKEN_LIFETIME_MS / 1000) * 1000;
    const token = {
      value: parsed.data.access_token,
      expiresAt: now() + Math.max(lifetimeMs - TOKEN_SAFETY_MARGIN_MS, lifetimeMs / 2),
    };
    logger.info({ expiresInMs: lifetimeMs }, 'ThingSpace access token obtained');
    return token;
  }

  const renewAccessToken = singleFlight(async () => {
    accessToken = await fetchAccessToken();
    return accessToken;
  });

  /** The cached bearer token, or one shared request for a new one. */
  function getAccessToken(): Promise<AccessToken> {
    if (accessToken && now() < accessToken.expiresAt) return Promise.resolve(accessToken);
    return renewAccessToken();
  }

  async function postLogin(bearer: AccessToken): Promise<HttpAnswer> {
    return send(
      'sessionLogin',
      'm2m/v1/session/login',
      {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer.value}`, accept: 'application/json' },
        json: { username: config.username, password: config.password },
      },
      undefined,
    );
  }

  async function login(): Promise<Session> {
    if (consecutiveLoginFailures >= MAX_CONSECUTIVE_LOGIN_FAILURES) throw loginsSuspendedError();
    let bearer = await getAccessToken();
    let answer = await postLogin(bearer);
    if (answer.status === 401 && errorOf(answer).code === EXPIRED_BEARER_FAULT) {
      // The gateway refused the bearer before the account saw the login, so this is not a failed login.
      dropAccessToken(bearer);
      bearer = await getAccessToken();
      answer = await postLogin(bearer);
    }
    if (!isSuccess(answer)) throw loginFailed('sessionLogin', errorOf(answer));
    const parsed = loginResponse.safeParse(parseJson(answer.body));
    if (!parsed.success) {
      throw new ThingSpaceError({
        status: answer.status,
        code: 'INVALID_RESPONSE',
        message: 'ThingSpace returned no session token',
      });
    }
    consecutiveLoginFailures = 0;
    logger.info({}, 'ThingSpace session opened');
    return { token: parsed.data.sessionToken, lastUsedAt: now() };
  }

  const openSession = singleFlight(async () => {
    session = await login();
    return session;
  });

  /** The live session, or one shared login for a new one. */
  function getSession(): Promise<Session> {
    if (session && now() - session.lastUsedAt < SESSION_RENEW_AFTER_IDLE_MS) return Promise.resolve(session);
    session = undefined;
    return openSession();
  }

  /** Forgets a token only if it is still the current one: concurrent callers renew it once, not once each. */
  function dropAccessToken(used: AccessToken): void {
    if (accessToken === used) accessToken = undefined;
  }

  function dropSession(used: Session): void {
    if (session === used) session = undefined;
  }

  function renewalFor(error: ThingSpaceError, call?: M2MCall): 'session' | 'bearer' | undefined {
    if (error.status === 400 && SESSION_ERROR_CODES.some((code) => error.code.endsWith(code))) return 'session';
    if (error.status === 401 && error.code === EXPIRED_BEARER_FAULT) return 'bearer';
    // The eSIM profile pages answer every error as {"errorCode":"<3-digit status>"}, so an expired session
    // there is a bare 401. A new session is enough: a login whose bearer has expired renews that itself.
    if (call?.profileEndpoint && error.status === 401 && isThreeDigitCode(error.code)) return 'session';
    return undefined;
  }

  /** The session and bearer for a call; a failure here means the call itself never left. */
  async function credentials(signal: AbortSignal | undefined): Promise<{ current: Session; bearer: AccessToken }> {
    try {
      const current = await awaitWithSignal(getSession(), signal);
      const bearer = await awaitWithSignal(getAccessToken(), signal);
      return { current, bearer };
    } catch (error) {
      if (error instanceof ThingSpaceError) throw new ThingSpaceError({ ...describe(error), notSent: true });
      throw error;
    }
  }

  async function attempt(call: M2MCall): Promise<{ answer: HttpAnswer; bearer: AccessToken; session: Session }> {
    const { current, bearer } = await credentials(call.signal);
    const answer = await sendOperation(
      call.operation,
      call.path,
      {
        method: call.method,
        headers: {
          authorization: `Bearer ${bearer.value}`,
          'vz-m2m-token': current.token,
          accept: 'application/json',
          'content-type': 'application/json',
        },
        ...(call.json !== undefined ? { json: call.json } : {}),
      },
      call.signal,
    );
    return { answer, bearer, session: current };
  }

  /**
   * One M2M call. An expired session (HTTP 400 `…SessionToken.Expired`, or on a profile endpoint HTTP 401
   * `{"errorCode":"401"}`) or bearer (HTTP 401 fault 900901) means ThingSpace refused the request without acting on it, so it is sent again exactly once
   * after renewing; a second refusal is thrown — thingspace-api-notes.md, Authentication.
   */
  async function m2m(call: M2MCall): Promise<HttpAnswer> {
    for (let renewed = false; ; renewed = true) {
      const sentAt = now();
      const { answer, bearer, session: used } = await attempt(call);
      if (isSuccess(answer)) {
        used.lastUsedAt = Math.max(used.lastUsedAt, sentAt);
        return answer;
      }
      const error = errorOf(answer);
      const renewal = renewalFor(error, call);
      if (renewal === undefined) {
        used.lastUsedAt = Math.max(used.lastUsedAt, sentAt);
        throw mayHaveActed(error) ? new ThingSpaceError({ ...describe(error), mayHaveActed: true }) : error;
      }
      if (renewed) throw error;
      logger.info(
        { operation: call.operation, status: error.status, code: error.code },
        'ThingSpace credentials expired; renewing once',
      );
      dropSession(used);
      if (renewal === 'bearer') dropAccessToken(bearer);
    }
  }

  /** A 2xx whose body cannot be read: for a request that acts, ThingSpace may have acted on it. */
  function invalidResponse(operation: string, status: number): ThingSpaceError {
    const error = new ThingSpaceError({ status, code: 'INVALID_RESPONSE', message: '' });
    return new ThingSpaceError({
      status,
      mayHaveActed: mayHaveActed(error),
      code: 'INVALID_RESPONSE',
      message: `ThingSpace answered ${operation} with an unexpected body`,
    });
  }

  const callbacksPath = (accountName: string): string => `m2m/v1/callbacks/${encodeURIComponent(accountName)}`;

  /** POST /m2m/v1/devices/profile/actions/{action}: one request for many profiles, answered by a request id. */
  async function submitProfileOperation(
    operation: string,
    action: 'serviceplan' | 'activate',
    body: ChangeProfileServicePlanBody | ActivateDeviceProfilesBody,
    signal: AbortSignal | undefined,
  ): Promise<RequestAccepted> {
    const thingspaceBody: typeof body & { options?: unknown } = { ...body };
    delete thingspaceBody.options;
    const answer = await m2m({
      operation,
      profileEndpoint: true,
      method: 'POST',
      path: `m2m/v1/devices/profile/actions/${action}`,
      json: thingspaceBody,
      signal,
    });
    const parsed = requestAccepted.safeParse(parseJson(answer.body));
    if (!parsed.success) throw invalidResponse(operation, answer.status);
    return { requestId: parsed.data.requestId };
  }

  return {
    async registerCallback(accountName, registration, signal) {
      const body: CallbackRegistration = { name: registration.name, url: registration.url };
      if (registration.username !== undefined) body.username = registration.username;
      if (registration.password !== undefined) body.password = registration.password;
      const answer = await m2m({
        operation: 'registerCallback',
        method: 'POST',
        path: callbacksPath(accountName),
        json: body,
        signal,
      });
      const parsed = registrationResponse.safeParse(parseJson(answer.body));
      const result = parsed.success ? parsed.data : {};
      return { accountName: result.accountName ?? accountName, serviceName: result.serviceName ?? registration.name };
    },

    async listCallbacks(accountName, signal) {
      const answer = await m2m({ operation: 'listCallbacks', method: 'GET', path: callbacksPath(accountName), signal });
      const body = parseJson(answer.body);
      // An account with no callbacks may answer an empty body instead of [] — thingspace-api-notes.md.
      if (body === undefined || body === null) return [];
      const parsed = z.array(callbackEntry).safeParse(body);
      if (!parsed.success) throw invalidResponse('listCallbacks', answer.status);
      return parsed.data.map((entry) => {
        const registered: RegisteredCallback = {
          accountName: entry.accountName ?? accountName,
          serviceName: entry.serviceName ?? entry.name ?? '',
          url: entry.url ?? '',
        };
        if (entry.username !== undefined && entry.username !== '') registered.username = entry.username;
        return registered;
      });
    },

    async deregisterCallback(accountName, serviceName, signal) {
      await m2m({
        operation: 'deregisterCallback',
        method: 'DELETE',
        path: `${callbacksPath(accountName)}/name/${encodeURIComponent(serviceName)}`,
        signal,
      });
    },

    async eidDeviceSwap(body, signal) {
      // Saga options ride next to the ThingSpace fields in workflow inputs; ThingSpace must not see them.
      const thingspaceBody: EidDeviceSwapBody & { options?: unknown } = { ...body };
      delete thingspaceBody.options;
      const answer = await m2m({
        operation: 'eidDeviceSwap',
        method: 'POST',
        path: 'm2m/v1/devices/actions/eidDeviceSwap',
        json: thingspaceBody,
        signal,
      });
      const parsed = requestAccepted.safeParse(parseJson(answer.body));
      if (!parsed.success) throw invalidResponse('eidDeviceSwap', answer.status);
      return { requestId: parsed.data.requestId };
    },

    async changeDeviceIdentifier(serviceType, body, signal) {
      // Saga inputs carry options and the path parameter next to the ThingSpace fields; the body must not.
      const thingspaceBody: ChangeDeviceIdentifierBody & { options?: unknown; serviceType?: unknown } = { ...body };
      delete thingspaceBody.options;
      delete thingspaceBody.serviceType;
      const answer = await m2m({
        operation: 'changeDeviceIdentifier',
        method: 'PUT',
        path: `m2m/v1/devices/${encodeURIComponent(serviceType)}/actions/deviceId`,
        json: thingspaceBody,
        signal,
      });
      const parsed = requestAccepted.safeParse(parseJson(answer.body));
      if (!parsed.success) throw invalidResponse('changeDeviceIdentifier', answer.status);
      return { requestId: parsed.data.requestId };
    },

    async changeProfileServicePlan(body, signal) {
      return submitProfileOperation('changeProfileServicePlan', 'serviceplan', body, signal);
    },

    async activateDeviceProfiles(body, signal) {
      return submitProfileOperation('activateDeviceProfiles', 'activate', body, signal);
    },

    async listDevices(body, signal) {
      const answer = await m2m({
        operation: 'listDevices',
        method: 'POST',
        path: 'm2m/v1/devices/actions/list',
        json: body,
        signal,
      });
      const parsed = deviceListResponse.safeParse(parseJson(answer.body));
      if (!parsed.success) throw invalidResponse('listDevices', answer.status);
      const devices = (parsed.data.devices ?? []).map((device): DeviceInformation => {
        const { ids, deviceIds, carrierInformations, extendedAttributes, ...rest } = device;
        const attributes = readExtendedAttributes(extendedAttributes);
        return {
          ...rest,
          // Device lists sometimes say `ids` instead of `deviceIds` — thingspace-api-notes.md.
          deviceIds: readDeviceIds(deviceIds ?? ids),
          carrierInformations: Array.isArray(carrierInformations)
            ? (carrierInformations as DeviceInformation['carrierInformations'])
            : [],
          ...(attributes ? { extendedAttributes: attributes } : {}),
        };
      });
      // HTTP 202 means another page follows — thingspace-api-notes.md.
      return { hasMoreData: answer.status === 202 || parsed.data.hasMoreData === true, devices };
    },

    async verifyCredentials() {
      let bearer: AccessToken;
      try {
        bearer = await getAccessToken();
      } catch (error) {
        if (error instanceof ThingSpaceError) return { ok: false, failedStep: 'token', error };
        throw error;
      }
      if (consecutiveLoginFailures >= MAX_CONSECUTIVE_LOGIN_FAILURES) {
        return { ok: false, failedStep: 'session', error: loginsSuspendedError() };
      }
      let answer: HttpAnswer;
      try {
        answer = await postLogin(bearer);
      } catch (error) {
        if (error instanceof ThingSpaceError) return { ok: false, failedStep: 'session', error };
        throw error;
      }
      if (!isSuccess(answer))
        return { ok: false, failedStep: 'session', error: loginFailed('sessionLogin', errorOf(answer)) };
      const parsed = loginResponse.safeParse(parseJson(answer.body));
      if (!parsed.success) {
        const error = new ThingSpaceError({
          status: answer.status,
          code: 'INVALID_RESPONSE',
          message: 'ThingSpace returned no session token',
        });
        return { ok: false, failedStep: 'session', error };
      }
      consecutiveLoginFailures = 0;
      session = { token: parsed.data.sessionToken, lastUsedAt: now() };
      return { ok: true };
    },

    async logout(signal) {
      const current = session;
      if (!current) return;
      session = undefined;
      const bearer = await awaitWithSignal(getAccessToken(), signal);
      const answer = await send(
        'sessionLogout',
        'm2m/v1/session/logout',
        {
          method: 'POST',
          headers: {
            authorization: `Bearer ${bearer.value}`,
            'vz-m2m-token': current.token,
            accept: 'application/json',
            'content-type': 'application/json',
          },
        },
        signal,
      );
      if (!isSuccess(answer)) {
        const error = errorOf(answer);
        // A session that already expired is as logged out as it gets.
        if (renewalFor(error) === 'session') return;
        throw error;
      }
      logger.info({}, 'ThingSpace session closed');
    },

    resetLoginGuard() {
      consecutiveLoginFailures = 0;
    },
  };
}
