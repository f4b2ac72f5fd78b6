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
