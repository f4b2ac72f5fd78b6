import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { FailureType } from '../../contracts/index.js';
import { rethrowAtActivityBoundary, toApplicationFailure } from '../../activities/errors.js';
import { ThingSpaceError } from '../../thingspace/index.js';

function summary(failure: ApplicationFailure) {
  return {
    type: failure.type,
    message: failure.message,
    nonRetryable: failure.nonRetryable,
    details: failure.details,
    nextRetryDelay: failure.nextRetryDelay,
  };
}

describe('toApplicationFailure', () => {
  test('a ThingSpace 4xx is rejected for good, with its status and error code in the details', () => {
    const cause = new ThingSpaceError({
      status: 400,
      code: 'INPUT_INVALID.DeviceState.Invalid',
      message: 'Device is not active.',
    });

    const failure = toApplicationFailure(cause);

    expect(summary(failure)).toEqual({
      type: FailureType.ThingSpaceRejected,
      message: 'ThingSpace rejected the request: INPUT_INVALID.DeviceState.Invalid: Device is not active.',
      nonRetryable: true,
      details: [{ status: 400, errorCode: 'INPUT_INVALID.DeviceState.Invalid' }],
      nextRetryDelay: undefined,
    });
    expect(failure.cause).toBe(cause);
  });

  test('a throttled call is retried after the delay ThingSpace asked for', () => {
    const cause = new ThingSpaceError({
      status: 429,
      code: 'HTTP_429',
      message: 'Too Many Requests',
      retryAfterMs: 30_000,
    });

    expect(summary(toApplicationFailure(cause))).toEqual({
      type: FailureType.ThingSpaceUnavailable,
      message: 'ThingSpace is unavailable: HTTP_429: Too Many Requests',
      nonRetryable: false,
      details: [{ status: 429, errorCode: 'HTTP_429' }],
      nextRetryDelay: 30_000,
    });
  });

  test('an outage without Retry-After is retried on the policy backoff', () => {
    const cause = new ThingSpaceError({ status: 503, code: 'HTTP_503', message: 'ThingSpace answered HTTP 503' });

    expect(summary(toApplicationFailure(cause))).toEqual({
      type: FailureType.ThingSpaceUnavailable,
      message: 'ThingSpace is unavailable: HTTP_503: ThingSpace answered HTTP 503',
      nonRetryable: false,
      details: [{ status: 503, errorCode: 'HTTP_503' }],
      nextRetryDelay: undefined,
    });
  });

  test('a network failure is retried', () => {
    const cause = new ThingSpaceError({
      status: 0,
      code: 'NETWORK',
      message: 'ThingSpace could not be reached (ECONNRESET)',
    });

    expect(summary(toApplicationFailure(cause))).toMatchObject({
      type: FailureType.ThingSpaceUnavailable,
      nonRetryable: false,
      details: [{ status: 0, errorCode: 'NETWORK' }],
    });
  });

  test('a failed login is never retried, so retries cannot lock the account', () => {
    const cause = new ThingSpaceError({
      status: 400,
      code: 'INPUT_INVALID.Password.Invalid',
      message: 'Invalid credentials.',
      authFailure: true,
    });

    expect(summary(toApplicationFailure(cause))).toEqual({
      type: FailureType.ThingSpaceAuthFailed,
      message: 'ThingSpace login failed: INPUT_INVALID.Password.Invalid: Invalid credentials.',
      nonRetryable: true,
      details: [{ status: 400, errorCode: 'INPUT_INVALID.Password.Invalid' }],
      nextRetryDelay: undefined,
    });
  });

  test('suspended logins are an auth failure too', () => {
    const cause = new ThingSpaceError({ status: 0, code: 'LoginSuspended', message: 'suspended', authFailure: true });

    expect(summary(toApplicationFailure(cause))).toMatchObject({
      type: FailureType.ThingSpaceAuthFailed,
      nonRetryable: true,
    });
  });

  test('an ApplicationFailure passes through unchanged', () => {
    const failure = ApplicationFailure.create({ type: FailureType.DeviceBusy, message: 'busy', nonRetryable: true });

    expect(toApplicationFailure(failure)).toBe(failure);
  });

  test('an unexpected error is an InternalError that Temporal retries, with the error as cause', () => {
    const cause = new TypeError('x is undefined');

    const failure = toApplicationFailure(cause);

    expect(summary(failure)).toEqual({
      type: FailureType.InternalError,
      message: 'x is undefined',
      nonRetryable: false,
      details: undefined,
      nextRetryDelay: undefined,
    });
    expect(failure.cause).toBe(cause);
    expect(toApplicationFailure('plain string').message).toBe('plain string');
  });

  test('a cancellation is not retried', () => {
    expect(summary(toApplicationFailure(new CancelledFailure('CANCELLED')))).toMatchObject({
      type: FailureType.CancelledFailure,
      nonRetryable: true,
    });
  });

  test('details and message never carry headers or secrets', () => {
    const cause = new ThingSpaceError({ status: 401, code: '900901', message: 'Invalid Credentials' });

    const serialized = JSON.stringify({
      failure: toApplicationFailure(cause),
      details: toApplicationFailure(cause).details,
    });

    expect(serialized).not.toMatch(/authorization|vz-m2m-token|bearer/i);
  });
});

describe('rethrowAtActivityBoundary', () => {
  test('rethrows a cancellation unchanged so the worker reports the activity as cancelled', () => {
    const cancelled = new CancelledFailure('CANCELLED');

    expect(() => rethrowAtActivityBoundary(cancelled)).toThrow(cancelled);
  });

  test('throws everything else translated', () => {
    const cause = new ThingSpaceError({ status: 404, code: 'HTTP_404', message: 'Not Found' });

    expect(() => rethrowAtActivityBoundary(cause)).toThrow(
      expect.objectContaining({ type: FailureType.ThingSpaceRejected, nonRetryable: true }) as Error,
    );
  });
});
