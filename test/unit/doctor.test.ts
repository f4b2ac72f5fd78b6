import { doctor, type DoctorConfig } from '../../client/doctor.js';
import { parseConfig, cliSchema } from '../../config/index.js';
import {
  ThingSpaceError,
  type CredentialCheck,
  type RegisteredCallback,
  type ThingSpaceClient,
} from '../../thingspace/index.js';

const ACCOUNT = '0000123456-00001';
const TOKEN = 'doctor-test-callback-path-token-0123456789';
// Nothing listens on port 9: Temporal's checks fail or are skipped, quickly (timeoutMs below).
const config: DoctorConfig = parseConfig(cliSchema, {
  TEMPORAL_ADDRESS: '127.0.0.1:9',
  GATEWAY_URL: 'https://gw-internal.example.com/euicc',
  GATEWAY_PUBLIC_URL: 'https://gw.example.com/euicc',
  CALLBACK_PUBLIC_URL: 'https://callbacks.example.com/callbacks',
  CALLBACK_PATH_TOKEN: TOKEN,
});

/** A ThingSpace client that answers what the test says and counts what it was asked. */
function fakeThingSpace(credentials: CredentialCheck, registered: RegisteredCallback[] = []) {
  const calls: string[] = [];
  const thingspace = {
    verifyCredentials: async () => {
      calls.push('verifyCredentials');
      return credentials;
    },
    listCallbacks: async (account: string) => {
      calls.push(`listCallbacks ${account}`);
      return registered;
    },
  } as unknown as ThingSpaceClient;
  return { thingspace, calls };
}

const ready = (async () => Response.json({ status: 'ready' })) as unknown as typeof fetch;

const registration = (service: string, base = 'https://callbacks.example.com/callbacks') => ({
  accountName: ACCOUNT,
  serviceName: service,
  url: `${base}/${TOKEN}/${service}/${ACCOUNT}`,
});

async function run(thingspace: ThingSpaceClient, fetchImpl: typeof fetch = ready) {
  const results = await doctor(config, { thingspace, fetch: fetchImpl, timeoutMs: 300 });
  return Object.fromEntries(results.map((r) => [r.check, `${r.status}: ${r.detail}`]));
}

describe('doctor', () => {
  it('answers every check; without Temporal its checks are skipped, and the rest still run', async () => {
    const { thingspace } = fakeThingSpace({ ok: true }, [
      registration('CarrierService'),
      registration('StateService'),
      registration('DeviceProfileService'),
    ]);
    expect(await run(thingspace)).toEqual({
      temporal: expect.stringMatching(/^fail: cannot reach Temporal at 127\.0\.0\.1:9: /),
      namespace: 'skip: Temporal is not reachable',
      'search attributes': 'skip: Temporal is not reachable',
      worker: 'skip: Temporal is not reachable',
      gateway: 'pass: https://gw.example.com/euicc/readyz ready',
      'thingspace credentials': `pass: token and session login accepted by ${config.THINGSPACE_BASE_URL}`,
      'callback registrations': `pass: CarrierService, StateService, DeviceProfileService of ${ACCOUNT} point at https://callbacks.example.com/callbacks`,
      'payload key': 'skip: PAYLOAD_ENCRYPTION_KEY is unset: payloads are in clear',
    });
  });

  it('names each registration that is missing or points elsewhere', async () => {
    const { thingspace } = fakeThingSpace({ ok: true }, [
      registration('CarrierService'),
      registration('StateService', 'http://old-gateway:3000/callbacks'),
    ]);
    expect((await run(thingspace))['callback registrations']).toBe(
      `fail: StateService points at http://old-gateway:3000/callbacks/<token>/StateService/${ACCOUNT}; ` +
        `DeviceProfileService not registered; expected https://callbacks.example.com/callbacks/<token>/<service>/${ACCOUNT}: ` +
        'run npm run register-callbacks',
    );
  });

  it('a refused login is reported once, and the callbacks are not listed (no second login)', async () => {
    const error = new ThingSpaceError({
      status: 400,
      code: 'INPUT_INVALID.UserCredentials.Invalid',
      message: 'The username or password is not valid.',
      authFailure: true,
    });
    const { thingspace, calls } = fakeThingSpace({ ok: false, failedStep: 'session', error });
    const results = await run(thingspace);
    expect([results['thingspace credentials'], results['callback registrations'], calls]).toEqual([
      'fail: the session login failed (HTTP 400 INPUT_INVALID.UserCredentials.Invalid: The username or password ' +
        'is not valid.): check the THINGSPACE_* credentials',
      'skip: no session: not logging in again, so the account is never locked',
      ['verifyCredentials'],
    ]);
  });

  it('a gateway that is not ready, or not there, fails its check', async () => {
    const { thingspace } = fakeThingSpace({ ok: true });
    const unavailable = (async () =>
      Response.json({ status: 'unavailable' }, { status: 503 })) as unknown as typeof fetch;
    const refused = (async () => {
      throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
    }) as unknown as typeof fetch;
    expect((await run(thingspace, unavailable)).gateway).toBe(
      'fail: https://gw.example.com/euicc/readyz answered HTTP 503 unavailable',
    );
    expect((await run(thingspace, refused)).gateway).toBe(
      'fail: cannot reach https://gw.example.com/euicc/readyz: ECONNREFUSED',
    );
  });
});
