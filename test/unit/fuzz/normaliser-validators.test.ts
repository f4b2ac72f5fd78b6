import fc from 'fast-check';
import { boundEvent, EVENT_LIMITS, normalizableBody } from '../../../callback-gateway/bounds.js';
import { callbackKeys } from '../../../callback-gateway/app.js';
import {
  CALLBACK_SERVICES,
  normalizeCallback,
  validateActivateDeviceProfiles,
  validateChangeDeviceIdentifier,
  validateChangeProfileServicePlan,
  validateEidDeviceSwap,
  type ValidationIssue,
} from '../../../contracts/index.js';
import {
  caseCounter,
  fuzzParameters,
  hostileJson,
  HOSTILE_KEYS,
  oddString,
  prototypeClean,
} from '../../fixtures/fuzz.js';
import { deactivationCallback } from '../../fixtures/swap-callbacks.js';

const cases = caseCounter();
afterAll(() => cases.report());

/** Every field a callback of any service may carry. */
const CALLBACK_FIELDS = [
  'requestId',
  'deviceIds',
  'ids',
  'deviceResponse',
  'status',
  'faultResponse',
  'callbackCount',
  'maxCallbackThreshold',
  'username',
  'password',
] as const;
const DEVICE_RESPONSES = [
  'deactivateResponse',
  'changeIdentifierResponse',
  'goToStateResponse',
  'deviceProfileResponse',
] as const;

/** A callback: a real one with fields replaced by hostile values, or a response of any kind full of them. */
const callbackBody = (): fc.Arbitrary<Record<string, unknown>> =>
  fc.oneof(
    fc
      .record({
        replace: fc.subarray([...CALLBACK_FIELDS]),
        values: fc.array(hostileJson(), { minLength: CALLBACK_FIELDS.length, maxLength: CALLBACK_FIELDS.length }),
      })
      .map(({ replace, values }) => {
        const body: Record<string, unknown> = deactivationCallback();
        replace.forEach((field, i) => {
          body[field] = values[i];
        });
        return body;
      }),
    fc
      .record({
        response: fc.constantFrom(...DEVICE_RESPONSES),
        inner: fc.dictionary(
          fc.constantFrom(
            'deviceIds',
            'deviceIdentifierCollection',
            'servicePlan',
            'profileStatus',
            'euiccStatusCode',
            'euiccStatusDesc',
            'state',
            ...HOSTILE_KEYS,
          ),
          hostileJson(),
        ),
        deviceIds: fc.array(
          fc.record({ kind: fc.oneof(oddString(), hostileJson()), id: fc.oneof(oddString(), hostileJson()) }),
          { maxLength: 60 },
        ),
        fault: fc.option(
          fc.dictionary(
            fc.constantFrom('faultcode', 'faultstring', 'faultCode', 'faultString', ...HOSTILE_KEYS),
            hostileJson(),
          ),
        ),
        requestId: hostileJson(),
        status: hostileJson(),
      })
      .map(({ response, inner, deviceIds, fault, requestId, status }) => ({
        requestId,
        status,
        deviceIds,
        deviceResponse: { [response]: inner },
        ...(fault !== null && { faultResponse: fault }),
      })),
    fc.dictionary(fc.oneof(fc.constantFrom(...CALLBACK_FIELDS, ...HOSTILE_KEYS), oddString()), hostileJson()),
  );

const isDeviceList = (value: unknown) =>
  Array.isArray(value) && value.every((d) => typeof d?.kind === 'string' && typeof d?.id === 'string');

describe('fuzz: the callback normaliser', () => {
  it('never throws; its event has the documented shape and, bounded, stays within the limits', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CALLBACK_SERVICES), callbackBody(), (service, generated) => {
        cases.count('callback normaliser');
        // As the dispatcher reads it: JSON from the inbox (which has no null-prototype objects, -0 or undefined).
        const body = JSON.parse(JSON.stringify(generated)) as Record<string, unknown>;
        const event = boundEvent(
          normalizeCallback(service, normalizableBody(body), {
            fingerprint: 'f',
            inboxId: 1,
            receivedAt: '2025-01-01T00:00:00.000Z',
          }),
        );
        expect(['success', 'failed', 'warning']).toContain(event.status);
        expect(isDeviceList(event.deviceIds)).toBe(true);
        expect(event.deviceIds.length).toBeLessThanOrEqual(EVENT_LIMITS.devices);
        if (event.resultDeviceIds) expect(isDeviceList(event.resultDeviceIds)).toBe(true);
        if (event.requestId !== undefined) expect(typeof event.requestId).toBe('string');
        for (const value of [
          event.requestId,
          event.servicePlan,
          event.fault?.code,
          ...Object.values(event.profile ?? {}),
        ]) {
          if (typeof value === 'string') expect(value.length).toBeLessThanOrEqual(EVENT_LIMITS.text);
        }
        if (event.fault) expect(event.fault.message.length).toBeLessThanOrEqual(EVENT_LIMITS.message);
        for (const d of [...event.deviceIds, ...(event.resultDeviceIds ?? [])]) {
          expect(d.id.length).toBeLessThanOrEqual(EVENT_LIMITS.deviceId);
        }
        // The gateway's correlation keys come from the same body: strings, never a crash.
        expect(callbackKeys(body, 'acct').every((key) => typeof key === 'string')).toBe(true);
        expect(JSON.parse(JSON.stringify(event))).toEqual(event);
        expect(prototypeClean()).toBe(true);
      }),
      fuzzParameters(),
    );
  });
});

/** The README's requests, valid as they are. */
const VALID = {
  eidDeviceSwap: {
    accountName: '0000123456-00001',
    deviceToSwapOut: [
      { kind: 'mdn', id: '8586928930' },
      { kind: 'eid', id: '89033023312150000000000263619234' },
      { kind: 'imei', id: '990013907835573' },
      { kind: 'iccid', id: '89148000004346060638' },
    ],
    deviceToSwapIn: [
      { kind: 'eid', id: '89033023312150000000000256691984' },
      { kind: 'imei', id: '352971090107661' },
    ],
    mdnZipCode: '98802',
    serviceName: 'WiFi',
    stateName: 'WiFi Activate',
    servicePlan: '4G 2GB',
    smsrOid: '1.3.6.1.4.1.31746.1.500.200.101.5',
    options: { stepTimeout: '4 hours' },
  },
  changeDeviceIdentifier: {
    accountName: '0000123456-00001',
    serviceType: '4g',
    deviceIds: [{ kind: 'imei', id: '990013907835573' }],
    deviceIdsTo: [{ kind: 'iccid', id: '89148000004346060638' }],
    change4gOption: 'ChangeICCID',
  },
  changeProfileServicePlan: {
    accountName: '0000123456-00001',
    devices: [
      {
        deviceIds: [
          { kind: 'eid', id: '89049032007008882600085727534551' },
          { kind: 'iccid', id: '89148000003330233012' },
        ],
      },
    ],
    servicePlan: 'M2M_5G_PLUS',
  },
  activateDeviceProfiles: {
    accountName: '0000123456-00001',
    devices: [
      {
        deviceIds: [
          { kind: 'eid', id: '89049032007008882600085727534551' },
          { kind: 'iccid', id: '89148000003330233012' },
        ],
      },
    ],
    servicePlan: 'M2M_4G',
    carrierName: 'Verizon Wireless',
    mdnZipCode: '98801',
    primaryPlaceOfUse: {
      customerName: { title: 'Dr', firstName: 'Ada', lastName: 'Lovelace' },
      address: { addressLine1: '10 Elm Street', city: 'Wenatchee', state: 'WA', zip: '98801', country: 'USA' },
    },
  },
} as const;

const VALIDATORS: Record<keyof typeof VALID, (input: unknown) => ValidationIssue[]> = {
  eidDeviceSwap: validateEidDeviceSwap,
  changeDeviceIdentifier: validateChangeDeviceIdentifier,
  changeProfileServicePlan: validateChangeProfileServicePlan,
  activateDeviceProfiles: validateActivateDeviceProfiles,
};

/** Every path of a value's leaves and containers, as [path segments]. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const here = prefix.length > 0 ? [prefix] : [];
  if (Array.isArray(value)) return [...here, ...value.flatMap((v, i) => paths(v, [...prefix, i]))];
  if (value && typeof value === 'object') {
    return [...here, ...Object.entries(value).flatMap(([k, v]) => paths(v, [...prefix, k]))];
  }
  return here;
}

function withValueAt(base: unknown, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(base) as Record<string | number, unknown>;
  let node = copy;
  for (const segment of path.slice(0, -1)) node = node[segment] as Record<string | number, unknown>;
  const last = path.at(-1) as string | number;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

describe.each(Object.keys(VALID) as (keyof typeof VALID)[])('fuzz: the %s input validator', (operation) => {
  const validate = VALIDATORS[operation];
  const valid = VALID[operation];
  const fieldPaths = paths(valid);

  it('accepts the documented request', () => {
    expect(validate(valid)).toEqual([]);
  });

  it('never throws; a changed field is accepted or named by an issue with a message', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...fieldPaths),
        fc.oneof(hostileJson(), fc.constant(undefined), oddString()),
        (path, value) => {
          cases.count(`${operation} validator`);
          const issues = validate(withValueAt(valid, path, value));
          for (const issue of issues) {
            expect(typeof issue.field).toBe('string');
            expect(issue.field.length).toBeGreaterThan(0);
            expect(typeof issue.message).toBe('string');
            expect(issue.message.length).toBeGreaterThan(0);
          }
          if (issues.length > 0) {
            // The top-level field changed is among those named (a rule across fields may name others too).
            const top = String(path[0]);
            expect(
              issues.some(
                (issue) =>
                  issue.field === top || issue.field.startsWith(`${top}.`) || issue.field.startsWith(`${top}[`),
              ),
            ).toBe(true);
          }
          expect(prototypeClean()).toBe(true);
        },
      ),
      fuzzParameters(),
    );
  });

  it('never throws on anything at all', () => {
    fc.assert(
      fc.property(hostileJson(), (input) => {
        cases.count(`${operation} validator, any input`);
        const issues = validate(input);
        expect(Array.isArray(issues)).toBe(true);
        if (input === null || typeof input !== 'object' || Array.isArray(input))
          expect(issues.length).toBeGreaterThan(0);
      }),
      fuzzParameters(),
    );
  });
});
