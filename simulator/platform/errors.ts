/**
 * The three error body shapes ThingSpace answers with (thingspace-api-notes.md, Errors), and the one
 * `respond` every ThingSpace handler answers through, so an injected fault can replace any answer.
 */
import type { Response } from 'express';
import { withServicePrefix } from './util.js';

/** Service prefix of application error codes; clients must match on the part after it. */
const SERVICE = 'UnifiedWebService';

/**
 * Application error codes without the service prefix. The ones listed in thingspace-api-notes.md are
 * ThingSpace's own; the rest follow the same `<CLASS>.<Subject>.<Reason>` form for cases the docs name
 * without giving a code.
 */
export const ErrorCode = {
  RequestUndefined: 'INPUT_INVALID.RequestUndefined',
  RequestTooLarge: 'INPUT_INVALID.Request.TooLarge',
  UnexpectedError: 'REQUEST_FAILED.UnexpectedError',
  SessionExpired: 'REQUEST_FAILED.SessionToken.Expired',
  SessionTokenInvalid: 'INPUT_INVALID.SessionToken.Invalid',
  CredentialsInvalid: 'INPUT_INVALID.UserCredentials.Invalid',
  AccountLocked: 'REQUEST_FAILED.AccountLocked',
  AccountNotDefined: 'INPUT_INVALID.Account.NotDefined',
  AccountNotFound: 'REQUEST_FAILED.AccountNotFound',
  DeviceNotDefined: 'INPUT_INVALID.Device.NotDefined',
  DeviceKindInvalid: 'INPUT_INVALID.Device.Kind.Invalid',
  DeviceIdentifierInvalid: 'INPUT_INVALID.Device.Identifier.Invalid',
  DeviceIdentifierMissing: 'INPUT_INVALID.Device.Identifier.Missing',
  DeviceIdentifierMismatch: 'INPUT_INVALID.Device.Identifier.Mismatch',
  DeviceNotFound: 'REQUEST_FAILED.DeviceNotFound',
  DeviceStateInvalid: 'INPUT_INVALID.DeviceState.Invalid',
  SameDevice: 'INPUT_INVALID.Device.SameDevice',
  ParameterNotDefined: 'INPUT_INVALID.Parameter.NotDefined',
  ParameterInvalid: 'INPUT_INVALID.Parameter.Invalid',
  CallbackServiceInvalid: 'INPUT_INVALID.CallbackService.Invalid',
  CallbackUrlInvalid: 'INPUT_INVALID.CallbackUrl.Invalid',
  CallbackCredentialsInvalid: 'INPUT_INVALID.CallbackCredentials.Invalid',
  ServiceTypeInvalid: 'INPUT_INVALID.ServiceType.Invalid',
  DeviceAlreadyActive: 'REQUEST_FAILED.DeviceAlreadyActive',
  DeviceAlreadyExists: 'REQUEST_FAILED.DeviceAlreadyExists',
  /** More than 10,000 devices in one bulk request (thingspace-api-notes.md). */
  MaxRequestsExceeded: 'INPUT_INVALID.MaxRequestsExceeded',
  DeviceDuplicate: 'INPUT_INVALID.Device.Duplicate',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** A replacement answer set by an injected response fault that lets the request run (`processed`). */
export interface AnswerOverride {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

/**
 * Sends `body` as JSON (or nothing when `undefined`). When a fault asked for the request to be carried out
 * but answered differently, the fault's answer goes out instead.
 */
export function respond(res: Response, status: number, body?: unknown): void {
  const override = res.locals.answerOverride as AnswerOverride | undefined;
  if (override) {
    res.set(override.headers);
    if (override.body === undefined) res.status(override.status).end();
    else res.status(override.status).json(override.body);
    return;
  }
  if (body === undefined) res.status(status).end();
  else res.status(status).json(body);
}

export function errorBody(code: ErrorCode | string, message: string): { errorCode: string; errorMessage: string } {
  return { errorCode: withServicePrefix(SERVICE, code), errorMessage: message };
}

/** `{"errorCode":"UnifiedWebService.<code>","errorMessage":…}`, HTTP 400 unless told. */
export function sendError(res: Response, code: ErrorCode, message: string, status = 400): void {
  respond(res, status, errorBody(code, message));
}

/**
 * The eSIM profile pages (activate-euicc-profile.txt, change-profile-service-plan.txt): "All error responses
 * will be in this format: `{"errorCode": "The 3-digit HTML error code", "errorMessage": "string"}`".
 */
export function threeDigitErrorBody(status: number, message: string): { errorCode: string; errorMessage: string } {
  return { errorCode: String(status), errorMessage: message };
}

/** Operations of the eSIM profile endpoints, whose errors take the 3-digit form by default. */
export const PROFILE_OPERATIONS: readonly string[] = ['changeProfileServicePlan', 'activateDeviceProfiles'];

/** How an endpoint writes its synchronous errors: ThingSpace's unified codes, or the profile pages' 3-digit form. */
export type ErrorForm = 'threeDigit' | 'unified';

/** `sendError` in the given form: the 3-digit form drops the code and keeps the status and message. */
export function sendFormError(res: Response, form: ErrorForm, code: ErrorCode, message: string, status = 400): void {
  if (form === 'threeDigit') respond(res, status, threeDigitErrorBody(status, message));
  else sendError(res, code, message, status);
}

/** API gateway (WSO2) fault bodies; the codes and texts are the ones ThingSpace's error page lists. */
export const GatewayFault = {
  missingCredentials: {
    fault: {
      code: '900902',
      message: 'Missing Credentials',
      description:
        'Required OAuth credentials not provided. Make sure your API invocation call has a header: "Authorization: Bearer ACCESS_TOKEN"',
    },
  },
  invalidCredentials: {
    fault: {
      code: '900901',
      message: 'Invalid Credentials',
      description: 'Access failure for API: /m2m/v1, version: v1. Make sure you have given the correct access token',
    },
  },
  noMatchingResource: {
    fault: {
      code: '900906',
      message: 'No matching resource found in the API for the given request',
      description:
        'Access failure for API: /m2m/v1, version: v1. Check the API documentation and add a proper REST resource path to the invocation URL',
    },
  },
  backendUnavailable: {
    fault: { code: '101503', message: 'Runtime Error', description: 'Error connecting to the back end' },
  },
  backendTimeout: {
    fault: { code: '101504', message: 'Runtime Error', description: 'Send timeout' },
  },
} as const;

/** OAuth 2.0 error body (RFC 6749 §5.2), as ThingSpace's token endpoint answers. */
export function oauthError(error: string, description: string): { error: string; error_description: string } {
  return { error, error_description: description };
}

/** The body ThingSpace would send with `status` when a fault gives none. */
export function defaultFaultBody(operation: string, status: number, form: ErrorForm = 'unified'): unknown {
  // 401 stays the gateway's fault and 429/502-504 keep their own bodies: the gateway answers those.
  if (form === 'threeDigit' && PROFILE_OPERATIONS.includes(operation) && (status === 400 || status === 500)) {
    return threeDigitErrorBody(
      status,
      status === 400 ? 'The request could not be processed.' : 'Unexpected error occurred.',
    );
  }
  if (operation === 'token' || operation === 'revoke') {
    if (status === 400) return oauthError('invalid_request', 'Missing grant_type parameter value');
    if (status === 401) return oauthError('invalid_client', 'Client Authentication failed.');
  }
  if (status === 401) return GatewayFault.invalidCredentials;
  if (status === 429) return { message: 'Too Many Requests' };
  if (status === 502 || status === 503) return GatewayFault.backendUnavailable;
  if (status === 504) return GatewayFault.backendTimeout;
  if (status >= 500) return errorBody(ErrorCode.UnexpectedError, 'Unexpected error occurred.');
  if (status >= 400) return errorBody(ErrorCode.UnexpectedError, 'The request could not be processed.');
  return undefined;
}
