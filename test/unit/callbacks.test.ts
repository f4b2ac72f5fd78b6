import {
  callbackDeviceIds,
  canonicalCallbackContent,
  normalizeCallback,
  readDeviceIds,
} from '../../contracts/callbacks.js';
import { deactivationCallback, goToStateCallback, identifierChangeCallback } from '../fixtures/swap-callbacks.js';

const STORED = { fingerprint: 'f'.repeat(64), inboxId: 7, receivedAt: '2025-11-23T10:00:00.000Z' };

describe('normalizeCallback', () => {
  it('turns the page\'s "Device deactivated" callback into a successful deactivation event', () => {
    expect(normalizeCallback('CarrierService', deactivationCallback(), STORED)).toEqual({
      fingerprint: STORED.fingerprint,
      inboxId: 7,
      receivedAt: '2025-11-23T10:00:00.000Z',
      service: 'CarrierService',
      type: 'deactivation',
      status: 'success',
      requestId: 'eb3406b0-15fc-4473-8e84-b92cfb67f22d',
      deviceIds: [
        { kind: 'imei', id: '990003420535573' },
        { kind: 'iccid', id: '89148000000800784259' },
      ],
    });
  });

  it("turns the page's identifier-change callback into an event with lower-case kinds and the new identifiers", () => {
    expect(normalizeCallback('CarrierService', identifierChangeCallback(), STORED)).toEqual({
      ...STORED,
      service: 'CarrierService',
      type: 'identifierChange',
      status: 'success',
      requestId: 'ebc3ee16-386c-4531-8da0-e43fc656bf4d',
      deviceIds: [
        { kind: 'iccid', id: '89148000004346060638' },
        { kind: 'imei', id: '358729070031093' },
        { kind: 'eid', id: '89033023312150000000000263619234' },
      ],
      resultDeviceIds: [
        { kind: 'imei', id: '352971090107661' },
        { kind: 'eid', id: '89033023312150000000000256691984' },
        { kind: 'iccid', id: '89148000004346060158' },
      ],
      servicePlan: '18337',
      // The swap page: the profile status stays with the ICCID (its example reports it empty).
      profile: { profileStatus: '' },
    });
  });

  it("reads the page's GoToState callback, which has no status field, as a success", () => {
    expect(normalizeCallback('StateService', goToStateCallback(), STORED)).toEqual({
      ...STORED,
      service: 'StateService',
      type: 'goToState',
      status: 'success',
      requestId: '595f5c44-c31c-4552-8670-020a1545a84d',
      deviceIds: [
        { kind: 'iccid', id: '99412344682328800000' },
        { kind: 'imei', id: '990013907835573' },
      ],
      resultDeviceIds: [
        { kind: 'iccid', id: '99412344682328800000' },
        { kind: 'imei', id: '990013907835573' },
      ],
    });
  });

  it('a Failed callback with a faultResponse becomes a failed event carrying the fault code and text', () => {
    const body = {
      ...identifierChangeCallback(),
      status: 'Failed',
      deviceResponse: {},
      faultResponse: {
        faultcode: 'CarrierService.REQUEST_FAILED.DeviceNotFound',
        faultstring: 'Device not found',
      },
    };
    expect(normalizeCallback('CarrierService', body, STORED)).toEqual({
      ...STORED,
      service: 'CarrierService',
      type: 'unknown',
      status: 'failed',
      requestId: 'ebc3ee16-386c-4531-8da0-e43fc656bf4d',
      deviceIds: [
        { kind: 'iccid', id: '89148000004346060638' },
        { kind: 'imei', id: '358729070031093' },
        { kind: 'eid', id: '89033023312150000000000263619234' },
      ],
      fault: { code: 'CarrierService.REQUEST_FAILED.DeviceNotFound', message: 'Device not found' },
    });
  });

  it('a faultResponse alone marks the event failed, with camel-cased fault fields read too', () => {
    const body = {
      requestId: 'r-1',
      deviceIds: [{ kind: 'IMEI', id: '990013907835573' }],
      deviceResponse: { goToStateResponse: { deviceIds: [] } },
      faultResponse: { faultCode: 'StateService.REQUEST_FAILED.UnexpectedError', faultString: 'Unexpected error' },
    };
    expect(normalizeCallback('StateService', body, STORED)).toEqual({
      ...STORED,
      service: 'StateService',
      type: 'goToState',
      status: 'failed',
      requestId: 'r-1',
      deviceIds: [{ kind: 'imei', id: '990013907835573' }],
      resultDeviceIds: [],
      fault: { code: 'StateService.REQUEST_FAILED.UnexpectedError', message: 'Unexpected error' },
    });
  });

  it('a fault without code or text still says so, rather than dropping the fault', () => {
    const body = { requestId: 'r-2', status: 'Failed', faultResponse: {} };
    expect(normalizeCallback('CarrierService', body, STORED).fault).toEqual({ code: 'unknown', message: '' });
  });

  it('a deactivation that reports deactivated: false is a failure even when its status says Success', () => {
    const body = { ...deactivationCallback(), deviceResponse: { deactivateResponse: { deactivated: false } } };
    expect(normalizeCallback('CarrierService', body, STORED).status).toBe('failed');
  });

  it.each([
    ['Success', 'success'],
    ['SUCCESS', 'success'],
    ['success', 'success'],
    ['Failed', 'failed'],
    ['FAILED', 'failed'],
    ['Failure', 'failed'],
    ['Error', 'failed'],
    ['Warning', 'warning'],
    ['WARNING', 'warning'],
  ])('a status of %p reads as %p whatever its casing', (status, expected) => {
    expect(normalizeCallback('CarrierService', { ...deactivationCallback(), status }, STORED).status).toBe(expected);
  });

  it('an eUICC profile callback that first warns (device unreachable) becomes a deviceProfile warning', () => {
    const body = {
      requestId: 'p-1',
      deviceIds: [{ kind: 'EID', id: '89033023312150000000000263619234' }],
      deviceResponse: { deviceProfileResponse: { profileStatus: 'pending' } },
      status: 'Warning',
    };
    expect(normalizeCallback('DeviceProfileService', body, STORED)).toEqual({
      ...STORED,
      service: 'DeviceProfileService',
      type: 'deviceProfile',
      status: 'warning',
      requestId: 'p-1',
      deviceIds: [{ kind: 'eid', id: '89033023312150000000000263619234' }],
      profile: { profileStatus: 'pending' },
    });
  });

  it('reads `ids` when a callback lists its devices under that name instead of `deviceIds`', () => {
    const { deviceIds, ...rest } = deactivationCallback();
    const body = { ...rest, ids: deviceIds };
    expect(normalizeCallback('CarrierService', body, STORED).deviceIds).toEqual([
      { kind: 'imei', id: '990003420535573' },
      { kind: 'iccid', id: '89148000000800784259' },
    ]);
  });

  it('a callback with an empty request id, no devices and no deviceResponse is an unknown success without ids', () => {
    expect(normalizeCallback('CarrierService', { requestId: '', deviceResponse: 'n/a' }, STORED)).toEqual({
      ...STORED,
      service: 'CarrierService',
      type: 'unknown',
      status: 'success',
      deviceIds: [],
    });
  });

  it('never carries the credentials or delivery counters of the body into the event', () => {
    const body = { ...deactivationCallback(), username: 'ts-user', password: 'ts-secret', callbackCount: 3 };
    const event = JSON.stringify(normalizeCallback('CarrierService', body, STORED));
    expect(event).not.toContain('ts-user');
    expect(event).not.toContain('ts-secret');
    expect(event).not.toContain('callbackCount');
  });
});

describe('readDeviceIds', () => {
  it('lower-cases kinds, keeps ids as sent, and skips malformed entries', () => {
    expect(
      readDeviceIds([
        { kind: 'ICCID', id: '8914800000080078425F' },
        { kind: 'imei', id: 990013907835573 },
        { kind: 'mdn' },
        null,
        'eid:1',
        [{ kind: 'eid', id: '1' }],
        { kind: 'Mdn', id: '8586928930', extra: true },
      ]),
    ).toEqual([
      { kind: 'iccid', id: '8914800000080078425F' },
      { kind: 'mdn', id: '8586928930' },
    ]);
  });

  it.each([undefined, null, 'imei', { kind: 'imei', id: '990013907835573' }])('reads %p as no identifiers', (value) => {
    expect(readDeviceIds(value)).toEqual([]);
  });
});

describe('canonicalCallbackContent', () => {
  it('a re-delivery (callbackCount 2) has the same canonical content as the first delivery', () => {
    const first = deactivationCallback();
    const second = { ...deactivationCallback(), callbackCount: 2 };
    expect(canonicalCallbackContent('CarrierService', second)).toBe(canonicalCallbackContent('CarrierService', first));
  });

  it('credentials do not change the content: a delivery with an old password is the same callback', () => {
    const withNew = { ...deactivationCallback(), username: 'cb-user', password: 'new-password' };
    const withOld = {
      ...deactivationCallback(),
      username: 'cb-user',
      password: 'old-password',
      maxCallbackThreshold: 5,
    };
    const withNone: Record<string, unknown> = deactivationCallback();
    delete withNone.username;
    delete withNone.password;
    const canonical = canonicalCallbackContent('CarrierService', withNew);
    expect(canonicalCallbackContent('CarrierService', withOld)).toBe(canonical);
    expect(canonicalCallbackContent('CarrierService', withNone)).toBe(canonical);
    expect(canonical).not.toContain('password');
  });

  it('key order does not matter at any depth', () => {
    const reordered = {
      maxCallbackThreshold: 4,
      status: 'Success',
      deviceResponse: { deactivateResponse: { deactivated: true } },
      deviceIds: [
        { kind: 'imei', id: '990003420535573' },
        { kind: 'iccid', id: '89148000000800784259' },
      ],
      requestId: 'eb3406b0-15fc-4473-8e84-b92cfb67f22d',
    };
    expect(canonicalCallbackContent('CarrierService', reordered)).toBe(
      canonicalCallbackContent('CarrierService', deactivationCallback()),
    );
  });

  it('is the service and the sorted body without credentials or counters, as JSON', () => {
    expect(
      canonicalCallbackContent('StateService', {
        username: 'u',
        password: 'p',
        status: 'Success',
        requestId: 'r-1',
        deviceResponse: { goToStateResponse: { stateName: 'WiFi Activate', deviceIds: [{ kind: 'imei', id: '1' }] } },
        callbackCount: 2,
      }),
    ).toBe(
      '["StateService",{"deviceResponse":{"goToStateResponse":{"deviceIds":[{"id":"1","kind":"imei"}],"stateName":"WiFi Activate"}},"requestId":"r-1","status":"Success"}]',
    );
  });

  it('different content gives different canonical content: status, request id, devices, nested result, service', () => {
    const base = canonicalCallbackContent('CarrierService', deactivationCallback());
    const variants = [
      canonicalCallbackContent('CarrierService', { ...deactivationCallback(), status: 'Failed' }),
      canonicalCallbackContent('CarrierService', { ...deactivationCallback(), requestId: 'other' }),
      canonicalCallbackContent('CarrierService', {
        ...deactivationCallback(),
        deviceIds: [{ id: '990003420535574', kind: 'imei' }],
      }),
      canonicalCallbackContent('CarrierService', {
        ...deactivationCallback(),
        deviceResponse: { deactivateResponse: { deactivated: false } },
      }),
      canonicalCallbackContent('StateService', deactivationCallback()),
    ];
    expect(new Set([base, ...variants]).size).toBe(6);
  });
});

describe('callbackDeviceIds', () => {
  it('collects the top-level and the changeIdentifierResponse identifiers of a swap callback', () => {
    expect(callbackDeviceIds(identifierChangeCallback())).toEqual([
      { kind: 'iccid', id: '89148000004346060638' },
      { kind: 'imei', id: '358729070031093' },
      { kind: 'eid', id: '89033023312150000000000263619234' },
      { kind: 'imei', id: '352971090107661' },
      { kind: 'eid', id: '89033023312150000000000256691984' },
      { kind: 'iccid', id: '89148000004346060158' },
    ]);
  });

  it('lists an identifier once when the top level and the GoToState result repeat it in other casing', () => {
    expect(callbackDeviceIds(goToStateCallback())).toEqual([
      { kind: 'iccid', id: '99412344682328800000' },
      { kind: 'imei', id: '990013907835573' },
    ]);
  });

  it('finds identifiers under `ids` and inside arrays at any depth of deviceResponse', () => {
    const body = {
      ids: [{ kind: 'MDN', id: '8586928930' }],
      deviceResponse: {
        deviceProfileResponse: {
          results: [
            { ids: [{ kind: 'Eid', id: '89033023312150000000000263619234' }] },
            { device: { deviceIds: [{ kind: 'iccid', id: '89148000004346060158' }] } },
            { deviceIds: [{ kind: 'mdn', id: '8586928930' }] },
          ],
        },
      },
    };
    expect(callbackDeviceIds(body)).toEqual([
      { kind: 'mdn', id: '8586928930' },
      { kind: 'eid', id: '89033023312150000000000263619234' },
      { kind: 'iccid', id: '89148000004346060158' },
    ]);
  });

  it('a callback naming no devices yields none', () => {
    expect(
      callbackDeviceIds({ requestId: 'r-1', deviceResponse: { deactivateResponse: { deactivated: true } } }),
    ).toEqual([]);
  });
});

const PROFILE_EID = '89033023312150000000000263619234';
const PROFILE_ICCID = '89148000004346060638';
const PROFILE_IMEI = '358729070031093';

/** The callback of change-profile-service-plan.txt, with real identifiers in the page's mixed-case kinds. */
function servicePlanCallback(): Record<string, unknown> {
  const ids = [
    { id: PROFILE_EID, kind: 'Eid' },
    { id: PROFILE_IMEI, kind: 'Imei' },
    { id: '18586928930', kind: 'msisdn' },
    { id: PROFILE_ICCID, kind: 'Iccid' },
  ];
  return {
    requestId: 'd1f08526-5443-4054-9a29-4456490ea9f8',
    deviceIds: ids,
    deviceResponse: {
      deviceProfileResponse: {
        deviceIdentifierCollection: ids,
        state: 'ACTIVE',
        profileStatus: 'ENABLE',
        profileRole: 'LOCAL',
      },
    },
    status: 'SUCCESS',
    callbackCount: 1,
    maxCallbackThreshold: 4,
  };
}

/** The callback of activate-euicc-profile.txt, with real identifiers; `profile` replaces response fields. */
function activationCallback(profile: Record<string, unknown> = {}, status = 'SUCCESS'): Record<string, unknown> {
  const ids = [
    { id: PROFILE_ICCID, kind: 'iccid' },
    { id: PROFILE_IMEI, kind: 'imei' },
    { id: PROFILE_EID, kind: 'eid' },
    { id: '8586928930', kind: 'mdn' },
  ];
  return {
    username: 'username',
    password: 'password',
    requestId: 'd1f08526-5443-4054-9a29-4456490ea9f8',
    deviceIds: ids,
    deviceResponse: {
      deviceProfileResponse: {
        deviceIdentifierCollection: ids,
        state: 'Active',
        profileStatus: 'ENABLE',
        euiccStatus: 'EXECUTED_SUCCESS',
        euiccStatusCode: '1.2.365',
        euiccStatusDesc: 'EUICC device profile has been updated',
        euiccSubAddressUpdateStatus: 'EXECUTED_SUCCESS',
        euiccSubAddressUpdateStatusCode: '1',
        euiccSubAddressUpdateStatusDesc: 'SUCCESS: Address has been updated',
        carrierName: 'Verizon Wireless',
        profileRole: 'LEAD',
        ...profile,
      },
    },
    status,
    callbackCount: 1,
    maxCallbackThreshold: 4,
  };
}

describe('normalizeCallback of eSIM profile callbacks (DeviceProfileService)', () => {
  it("turns the service-plan page's callback into a successful deviceProfile event with the profile it reports", () => {
    expect(normalizeCallback('DeviceProfileService', servicePlanCallback(), STORED)).toEqual({
      ...STORED,
      service: 'DeviceProfileService',
      type: 'deviceProfile',
      status: 'success',
      requestId: 'd1f08526-5443-4054-9a29-4456490ea9f8',
      deviceIds: [
        { kind: 'eid', id: PROFILE_EID },
        { kind: 'imei', id: PROFILE_IMEI },
        { kind: 'msisdn', id: '18586928930' },
        { kind: 'iccid', id: PROFILE_ICCID },
      ],
      profile: { state: 'ACTIVE', profileStatus: 'ENABLE', profileRole: 'LOCAL' },
    });
  });

  it("turns the activation page's callback into an event with the nine profile fields and nothing else of the body", () => {
    const event = normalizeCallback('DeviceProfileService', activationCallback(), STORED);
    expect(event).toEqual({
      ...STORED,
      service: 'DeviceProfileService',
      type: 'deviceProfile',
      status: 'success',
      requestId: 'd1f08526-5443-4054-9a29-4456490ea9f8',
      deviceIds: [
        { kind: 'iccid', id: PROFILE_ICCID },
        { kind: 'imei', id: PROFILE_IMEI },
        { kind: 'eid', id: PROFILE_EID },
        { kind: 'mdn', id: '8586928930' },
      ],
      profile: {
        state: 'Active',
        profileStatus: 'ENABLE',
        profileRole: 'LEAD',
        euiccStatus: 'EXECUTED_SUCCESS',
        euiccStatusCode: '1.2.365',
        euiccStatusDesc: 'EUICC device profile has been updated',
        euiccSubAddressUpdateStatus: 'EXECUTED_SUCCESS',
        euiccSubAddressUpdateStatusCode: '1',
        euiccSubAddressUpdateStatusDesc: 'SUCCESS: Address has been updated',
      },
    });
    expect(JSON.stringify(event)).not.toContain('password');
  });

  it.each([
    ['SUCCESS', 'success'],
    ['FAILED', 'failed'],
    ['Failed', 'failed'],
    ['WARNING', 'warning'],
  ])('a profile callback with status %p reads as %p', (status, expected) => {
    expect(normalizeCallback('DeviceProfileService', activationCallback({}, status), STORED).status).toBe(expected);
  });

  it('a FAILED profile callback without a faultResponse takes its fault from the eUICC status code and text', () => {
    const body = activationCallback(
      { euiccStatus: 'EXECUTED_FAILED', euiccStatusCode: '8.1.1', euiccStatusDesc: 'Profile download failed' },
      'FAILED',
    );
    const event = normalizeCallback('DeviceProfileService', body, STORED);
    expect(event.status).toBe('failed');
    expect(event.fault).toEqual({ code: '8.1.1', message: 'Profile download failed' });
    expect(event.profile).toEqual({
      state: 'Active',
      profileStatus: 'ENABLE',
      profileRole: 'LEAD',
      euiccStatus: 'EXECUTED_FAILED',
      euiccStatusCode: '8.1.1',
      euiccStatusDesc: 'Profile download failed',
      euiccSubAddressUpdateStatus: 'EXECUTED_SUCCESS',
      euiccSubAddressUpdateStatusCode: '1',
      euiccSubAddressUpdateStatusDesc: 'SUCCESS: Address has been updated',
    });
  });

  it('a failed profile callback with only an eUICC status text still carries it as the fault', () => {
    const body = activationCallback({ euiccStatusCode: undefined, euiccStatusDesc: 'EID not found' }, 'Failed');
    expect(normalizeCallback('DeviceProfileService', body, STORED).fault).toEqual({
      code: 'unknown',
      message: 'EID not found',
    });
  });

  it('a failed profile callback without any eUICC status or faultResponse has no fault to report', () => {
    const body = activationCallback(
      { euiccStatus: undefined, euiccStatusCode: undefined, euiccStatusDesc: undefined },
      'FAILED',
    );
    const event = normalizeCallback('DeviceProfileService', body, STORED);
    expect(event.status).toBe('failed');
    expect(event).not.toHaveProperty('fault');
  });

  it('a faultResponse, when present, is the fault rather than the eUICC status', () => {
    const body = {
      ...activationCallback({ euiccStatusCode: '8.1.1', euiccStatusDesc: 'Profile download failed' }, 'Failed'),
      faultResponse: {
        faultcode: 'DeviceProfileService.REQUEST_FAILED.UnexpectedError',
        faultstring: 'Unexpected error',
      },
    };
    expect(normalizeCallback('DeviceProfileService', body, STORED).fault).toEqual({
      code: 'DeviceProfileService.REQUEST_FAILED.UnexpectedError',
      message: 'Unexpected error',
    });
  });

  it.each(['SUCCESS', 'WARNING'])('a %s profile callback with an eUICC status code has no fault', (status) => {
    expect(normalizeCallback('DeviceProfileService', activationCallback({}, status), STORED)).not.toHaveProperty(
      'fault',
    );
  });

  it('profile fields sent as numbers or booleans are read as strings; null, objects and arrays are left out', () => {
    const body = {
      requestId: 'p-2',
      status: 'SUCCESS',
      deviceResponse: {
        deviceProfileResponse: {
          state: null,
          profileStatus: ['ENABLE'],
          profileRole: { role: 'LEAD' },
          euiccStatus: true,
          euiccStatusCode: 1,
          euiccStatusDesc: '',
        },
      },
    };
    expect(normalizeCallback('DeviceProfileService', body, STORED).profile).toEqual({
      euiccStatus: 'true',
      euiccStatusCode: '1',
      euiccStatusDesc: '',
    });
  });

  it.each([{}, { deviceIdentifierCollection: [], carrierName: 'Verizon Wireless' }, 'ENABLE', [{ state: 'ACTIVE' }]])(
    'a deviceProfileResponse of %p reports no profile',
    (deviceProfileResponse) => {
      const body = { requestId: 'p-3', status: 'SUCCESS', deviceResponse: { deviceProfileResponse } };
      const event = normalizeCallback('DeviceProfileService', body, STORED);
      expect(event.type).toBe('deviceProfile');
      expect(event).not.toHaveProperty('profile');
    },
  );

  it('profile fields outside a deviceProfileResponse are not read as a profile', () => {
    const body = { ...deactivationCallback(), deviceResponse: { deactivateResponse: { state: 'deactive' } } };
    expect(normalizeCallback('CarrierService', body, STORED)).not.toHaveProperty('profile');
  });
});

describe('normalizeCallback: the service plan of an identifier change', () => {
  /** The callback of change-device-identifier.txt. */
  const changeCallback = (servicePlan?: unknown): Record<string, unknown> => ({
    username: '',
    password: '',
    requestId: 'a28892ea-6503-4aa7-bfa2-4cd45d42f61b',
    deviceIds: [{ id: '22211315718', kind: 'ESN' }],
    deviceResponse: {
      changeIdentifierResponse: {
        deviceIds: [{ id: 'A1000001999990', kind: 'iccid' }],
        ...(servicePlan === undefined ? {} : { servicePlan }),
      },
    },
    status: 'Success',
    callbackCount: 1,
    maxCallbackThreshold: 4,
  });

  it("carries the page's servicePlan into the event next to the new identifiers", () => {
    expect(normalizeCallback('CarrierService', changeCallback('M2M_4G'), STORED)).toEqual({
      ...STORED,
      service: 'CarrierService',
      type: 'identifierChange',
      status: 'success',
      requestId: 'a28892ea-6503-4aa7-bfa2-4cd45d42f61b',
      deviceIds: [{ kind: 'esn', id: '22211315718' }],
      resultDeviceIds: [{ kind: 'iccid', id: 'A1000001999990' }],
      servicePlan: 'M2M_4G',
    });
  });

  it.each([undefined, '', null, 42])('a servicePlan of %p (the plan did not change) is left out', (servicePlan) => {
    expect(normalizeCallback('CarrierService', changeCallback(servicePlan), STORED)).not.toHaveProperty('servicePlan');
  });

  it('a servicePlan in a deviceProfileResponse is the plan the profile callback names', () => {
    const body = { requestId: 'p-4', deviceResponse: { deviceProfileResponse: { servicePlan: 'M2M_4G' } } };
    expect(normalizeCallback('DeviceProfileService', body, STORED).servicePlan).toBe('M2M_4G');
  });

  it('a servicePlan outside both responses is not read', () => {
    const body = { requestId: 'p-5', servicePlan: 'M2M_4G', deviceResponse: { deactivateResponse: {} } };
    expect(normalizeCallback('CarrierService', body, STORED)).not.toHaveProperty('servicePlan');
  });
});

describe('callbackDeviceIds of eSIM profile callbacks', () => {
  it("collects the page's deviceIdentifierCollection with the top-level identifiers, each once", () => {
    const body = activationCallback({
      deviceIdentifierCollection: [
        { id: PROFILE_EID, kind: 'EID' },
        { id: '89148000004346060158', kind: 'Iccid' },
      ],
    });
    expect(callbackDeviceIds(body)).toEqual([
      { kind: 'iccid', id: PROFILE_ICCID },
      { kind: 'imei', id: PROFILE_IMEI },
      { kind: 'eid', id: PROFILE_EID },
      { kind: 'mdn', id: '8586928930' },
      { kind: 'iccid', id: '89148000004346060158' },
    ]);
  });

  it('finds the device of a profile callback that names it only in deviceIdentifierCollection', () => {
    const { deviceIds: _top, ...body } = servicePlanCallback();
    expect(callbackDeviceIds(body)).toEqual([
      { kind: 'eid', id: PROFILE_EID },
      { kind: 'imei', id: PROFILE_IMEI },
      { kind: 'msisdn', id: '18586928930' },
      { kind: 'iccid', id: PROFILE_ICCID },
    ]);
  });
});
