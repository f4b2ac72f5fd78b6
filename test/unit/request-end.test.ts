/** The one table that decides whether ThingSpace may have acted on a request (thingspace/outcome.ts). */
import { ThingSpaceError } from '../../thingspace/errors.js';
import { requestEnd } from '../../thingspace/outcome.js';

const error = (init: Partial<ConstructorParameters<typeof ThingSpaceError>[0]>) =>
  new ThingSpaceError({ status: 0, code: 'X', message: 'x', ...init });

describe('requestEnd', () => {
  test.each([
    ['a login step failed first', error({ status: 502, notSent: true }), 'resend'],
    ['login refused', error({ status: 400, authFailure: true }), 'refused'],
    ['connection refused', error({ networkCode: 'ECONNREFUSED', code: 'NETWORK' }), 'resend'],
    ['DNS failure', error({ networkCode: 'ENOTFOUND', code: 'NETWORK' }), 'resend'],
    ['timeout', error({ networkCode: 'ETIMEDOUT', code: 'TIMEOUT' }), 'unknown'],
    ['connection reset', error({ networkCode: 'ECONNRESET', code: 'NETWORK' }), 'unknown'],
    ['429', error({ status: 429 }), 'resend'],
    ['503', error({ status: 503 }), 'resend'],
    ['408', error({ status: 408 }), 'resend'],
    [
      'an expired session still refused after the renewal',
      error({ status: 400, code: 'REQUEST_FAILED.SessionToken.Expired' }),
      'resend',
    ],
    ['400 refusal', error({ status: 400, code: 'INPUT_INVALID.DeviceState.Invalid' }), 'refused'],
    ['404', error({ status: 404 }), 'refused'],
    ['500', error({ status: 500 }), 'unknown'],
    ['502', error({ status: 502 }), 'unknown'],
    ['504', error({ status: 504 }), 'unknown'],
    ['a 2xx with an unreadable body', error({ status: 200, code: 'INVALID_RESPONSE' }), 'unknown'],
  ])('%s: %s', (_name, err, expected) => {
    const end = requestEnd(err);
    const seen = end.acted === 'unknown' ? 'unknown' : end.resend ? 'resend' : 'refused';
    expect(seen).toBe(expected);
  });

  test('anything that is not an answer of ThingSpace is an unknown outcome', () => {
    expect(requestEnd(new Error('socket hang up'))).toEqual({
      acted: 'unknown',
      resend: false,
      case: 'not an answer of ThingSpace',
    });
  });
});

describe('withAddressLine1', () => {
  test("sends the page table's addresLine1 as addressLine1", async () => {
    const { withAddressLine1 } = await import('../../activities/index.js');
    const body = {
      accountName: 'a',
      primaryPlaceOfUse: { address: { addresLine1: '1 Main St', city: 'X' } },
    };
    expect(withAddressLine1(body).primaryPlaceOfUse.address).toEqual({ addressLine1: '1 Main St', city: 'X' });
    expect(withAddressLine1({ primaryPlaceOfUse: undefined })).toEqual({ primaryPlaceOfUse: undefined });
  });
});
