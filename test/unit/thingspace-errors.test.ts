import { isThreeDigitCode } from '../../thingspace/errors.js';
import { mayHaveActed } from '../../thingspace/outcome.js';
import { networkError, parseRetryAfter, parseThingSpaceError, ThingSpaceError } from '../../thingspace/index.js';

const NOW = Date.parse('2025-01-15T10:00:00Z');

function fields(err: ThingSpaceError) {
  return {
    status: err.status,
    code: err.code,
    message: err.message,
    retryable: err.retryable,
    retryAfterMs: err.retryAfterMs,
    mayHaveActed: err.mayHaveActed,
    networkCode: err.networkCode,
  };
}

/** A network failure as got reports it: a RequestError (or TimeoutError) with a system error code. */
function gotFailure(code: string, name = 'RequestError'): Error {
  return Object.assign(new Error(`${code} while talking to ThingSpace`), { name, code });
}

function parse(status: number, body: string, headers: Record<string, string> = {}) {
  return fields(parseThingSpaceError(status, headers, body, NOW));
}

describe('parseThingSpaceError', () => {
  test('an application error keeps its code without the leading service name', () => {
    expect(
      parse(
        400,
        '{"errorCode":"UnifiedWebService.REQUEST_FAILED.SessionToken.Expired","errorMessage":"The Session has expired."}',
      ),
    ).toEqual({
      status: 400,
      code: 'REQUEST_FAILED.SessionToken.Expired',
      message: 'The Session has expired.',
      retryable: false,
      retryAfterMs: undefined,
    });
  });

  test('a code from another service is stripped the same way, and a code without a service is kept', () => {
    expect(parse(400, '{"errorCode":"DeviceService.INPUT_INVALID.Device.Kind.Invalid","errorMessage":"x"}').code).toBe(
      'INPUT_INVALID.Device.Kind.Invalid',
    );
    expect(parse(400, '{"errorCode":"REQUEST_FAILED.DeviceNotFound","errorMessage":"x"}').code).toBe(
      'REQUEST_FAILED.DeviceNotFound',
    );
    expect(parse(400, '{"errorCode":"412","errorMessage":"eSIM error"}').code).toBe('412');
  });

  test('an eSIM profile error in the 3-digit form keeps its status, its code and its message', () => {
    expect(
      parse(
        400,
        '{"errorCode":"400","errorMessage":"The request has 101 devices; at most 100 devices are allowed in one request."}',
      ),
    ).toEqual({
      status: 400,
      code: '400',
      message: 'The request has 101 devices; at most 100 devices are allowed in one request.',
      retryable: false,
      retryAfterMs: undefined,
    });
    expect(parse(401, '{"errorCode":"401","errorMessage":"The Session has expired."}')).toEqual({
      status: 401,
      code: '401',
      message: 'The Session has expired.',
      retryable: false,
      retryAfterMs: undefined,
    });
    expect(isThreeDigitCode('401')).toBe(true);
    expect(isThreeDigitCode('900901')).toBe(false);
    expect(isThreeDigitCode('REQUEST_FAILED.DeviceNotFound')).toBe(false);
  });

  test('a gateway fault with a numeric code reads as the code in a string', () => {
    expect(
      parse(401, '{"fault":{"code":900901,"message":"Invalid Credentials","description":"Access failure for API"}}'),
    ).toEqual({
      status: 401,
      code: '900901',
      message: 'Invalid Credentials: Access failure for API',
      retryable: false,
      retryAfterMs: undefined,
    });
  });

  test('a gateway fault with a string code and no description', () => {
    expect(parse(401, '{"fault":{"code":"900902","message":"Missing Credentials"}}')).toEqual({
      status: 401,
      code: '900902',
      message: 'Missing Credentials',
      retryable: false,
      retryAfterMs: undefined,
    });
  });

  test('an OAuth error uses the error as its code', () => {
    expect(parse(400, '{"error":"invalid_request","error_description":"Missing grant_type parameter value"}')).toEqual({
      status: 400,
      code: 'invalid_request',
      message: 'Missing grant_type parameter value',
      retryable: false,
      retryAfterMs: undefined,
    });
  });

  test('an XML 404 from the gateway gets an HTTP code and the message it carries', () => {
    const xml =
      '<?xml version="1.0"?><am:fault xmlns:am="http://wso2.org/apimanager"><am:code>404</am:code>' +
      '<am:type>Status report</am:type><am:message>Runtime Error</am:message>' +
      '<am:description>No matching resource found in the API for the given request</am:description></am:fault>';
    expect(parse(404, xml)).toEqual({
      status: 404,
      code: 'HTTP_404',
      message: 'Runtime Error: No matching resource found in the API for the given request',
      retryable: false,
      retryAfterMs: undefined,
    });
  });

  test('an HTML 403 page reads as its title', () => {
    expect(parse(403, '<html><head><title>403 Forbidden</title></head><body>…</body></html>')).toEqual({
      status: 403,
      code: 'HTTP_403',
      message: '403 Forbidden',
      retryable: false,
      retryAfterMs: undefined,
    });
  });

  test('an empty 502 is a retryable HTTP error', () => {
    expect(parse(502, '')).toEqual({
      status: 502,
      code: 'HTTP_502',
      message: 'ThingSpace answered HTTP 502',
      retryable: true,
      retryAfterMs: undefined,
    });
  });

  test('a body that is not JSON after all still gives an error', () => {
    expect(parse(500, '{not json').code).toBe('HTTP_500');
  });

  test('a 429 "Too Many Requests" with Retry-After in seconds', () => {
    expect(parse(429, '{"message":"Too Many Requests"}', { 'retry-after': '30' })).toEqual({
      status: 429,
      code: 'HTTP_429',
      message: 'Too Many Requests',
      retryable: true,
      retryAfterMs: 30_000,
    });
  });

  test('a 503 with Retry-After as an HTTP date', () => {
    expect(parse(503, '', { 'Retry-After': 'Wed, 15 Jan 2025 10:02:00 GMT' }).retryAfterMs).toBe(120_000);
  });

  test('408 is retryable, other 4xx are not', () => {
    expect([408, 400, 401, 403, 404, 409, 429, 500, 504].map((s) => parseThingSpaceError(s, {}, '').retryable)).toEqual(
      [true, false, false, false, false, false, true, true, true],
    );
  });

  test('a very long body is cut to one short line', () => {
    const message = parse(500, `<html><title>${'x'.repeat(1000)}</title></html>`).message;
    expect(message.length).toBeLessThanOrEqual(301);
  });
});

describe('parseRetryAfter', () => {
  test('reads seconds and HTTP dates, never negative, and ignores anything else', () => {
    expect([
      parseRetryAfter('0', NOW),
      parseRetryAfter(' 12 ', NOW),
      parseRetryAfter('Wed, 15 Jan 2025 10:00:05 GMT', NOW),
      parseRetryAfter('Wed, 15 Jan 2025 09:00:00 GMT', NOW),
      parseRetryAfter('soon', NOW),
      parseRetryAfter(undefined, NOW),
    ]).toEqual([0, 12_000, 5_000, 0, undefined, undefined]);
  });
});

describe('networkError', () => {
  test('a refused connection is a retryable NETWORK error that keeps the system error code', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      name: 'RequestError',
      code: 'ECONNREFUSED',
    });
    const err = networkError(cause);
    expect(fields(err)).toEqual({
      status: 0,
      code: 'NETWORK',
      message: 'ThingSpace could not be reached (ECONNREFUSED)',
      retryable: true,
      retryAfterMs: undefined,
      mayHaveActed: undefined,
      networkCode: 'ECONNREFUSED',
    });
  });

  test('a timeout is a retryable TIMEOUT error', () => {
    const cause = Object.assign(new Error("Timeout awaiting 'request' for 100ms"), {
      name: 'TimeoutError',
      code: 'ETIMEDOUT',
    });
    expect(fields(networkError(cause))).toEqual({
      status: 0,
      code: 'TIMEOUT',
      message: 'ThingSpace did not answer in time (ETIMEDOUT)',
      retryable: true,
      retryAfterMs: undefined,
      mayHaveActed: undefined,
      networkCode: 'ETIMEDOUT',
    });
  });
});

describe('mayHaveActed', () => {
  test.each([500, 502, 504])('a %p answer may come after ThingSpace carried the request out', (status) => {
    expect(mayHaveActed(parseThingSpaceError(status, {}, '', NOW))).toBe(true);
  });

  test.each([503, 429, 408, 400, 401, 403, 404, 409])(
    'a %p answer means ThingSpace turned the request away',
    (status) => {
      expect(mayHaveActed(parseThingSpaceError(status, {}, '', NOW))).toBe(false);
    },
  );

  test.each(['ECONNRESET', 'EPIPE', 'ECONNABORTED'])(
    'a connection lost mid-request (%p) may have delivered the request',
    (code) => {
      expect(mayHaveActed(networkError(gotFailure(code)))).toBe(true);
    },
  );

  test('a request that timed out waiting for the answer may have been carried out', () => {
    expect(mayHaveActed(networkError(gotFailure('ETIMEDOUT', 'TimeoutError')))).toBe(true);
  });

  test.each(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])(
    'a failure to connect (%p) means the request never reached ThingSpace',
    (code) => {
      expect(mayHaveActed(networkError(gotFailure(code)))).toBe(false);
    },
  );
});

describe('ThingSpaceError', () => {
  test('an auth failure is never retryable, whatever its status', () => {
    expect(new ThingSpaceError({ status: 0, code: 'LoginSuspended', message: 'x', authFailure: true }).retryable).toBe(
      false,
    );
  });

  test('a request that may have been carried out says so when serialized, with its network code and nothing else', () => {
    const acted = new ThingSpaceError({
      status: 0,
      code: 'NETWORK',
      message: 'ThingSpace could not be reached (ECONNRESET)',
      mayHaveActed: true,
      networkCode: 'ECONNRESET',
    });
    const turnedAway = new ThingSpaceError({ status: 503, code: 'HTTP_503', message: 'x', mayHaveActed: false });
    expect([JSON.parse(JSON.stringify(acted)), JSON.parse(JSON.stringify(turnedAway))]).toEqual([
      { name: 'ThingSpaceError', status: 0, code: 'NETWORK', mayHaveActed: true, networkCode: 'ECONNRESET' },
      { name: 'ThingSpaceError', status: 503, code: 'HTTP_503' },
    ]);
  });

  test('serializes to its status and code only', () => {
    const err = parseThingSpaceError(429, { 'retry-after': '3' }, '{"message":"Too Many Requests"}', NOW);
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      name: 'ThingSpaceError',
      status: 429,
      code: 'HTTP_429',
      retryAfterMs: 3000,
    });
    expect(err).toBeInstanceOf(Error);
  });
});

describe('redaction inside the parser', () => {
  it('removes a secret that ThingSpace echoes JSON-escaped in an error message', () => {
    const secret = 'pa"ss\\word-8b2d7a';
    const body = JSON.stringify({
      errorCode: 'UnifiedWebService.INPUT_INVALID.Login',
      errorMessage: `Password ${secret} is wrong`,
    });
    const error = parseThingSpaceError(400, {}, body, 0, (text) => text.split(secret).join('[redacted]'));
    expect(error.message).toBe('Password [redacted] is wrong');
  });
});
