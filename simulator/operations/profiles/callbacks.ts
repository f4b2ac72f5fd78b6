/** One device's DeviceProfileService callback in each page's shape: SUCCESS, WARNING or FAILED. */
import type { CallbackService, DeviceId } from '../../../contracts/types.js';
import { VERIZON, type DeviceState, type ProfileRole, type SimDevice } from '../../platform/devices/inventory.js';
import { ErrorCode } from '../../platform/errors.js';
import { withServicePrefix } from '../../platform/util.js';
import type { ContentSource, DeviceFailure, DevicePlan, ProfileOperation } from './types.js';

/** The service that sends every profile callback. */
export const SERVICE: CallbackService = 'DeviceProfileService';

/** The role reported for a device whose profile role the inventory does not set: each page's example. */
const DEFAULT_ROLE: Record<ProfileOperation, ProfileRole> = {
  changeProfileServicePlan: 'LOCAL',
  activateDeviceProfiles: 'LEAD',
};

/**
 * eUICC statuses of the activation callbacks. Success and address update are the page's example; the page
 * gives no values for a device not reachable yet or a failed profile, so those two are the simulator's own.
 */
const EUICC = {
  success: {
    euiccStatus: 'EXECUTED_SUCCESS',
    euiccStatusCode: '1.2.365',
    euiccStatusDesc: 'EUICC device profile has been updated',
  },
  addressUpdated: {
    euiccSubAddressUpdateStatus: 'EXECUTED_SUCCESS',
    euiccSubAddressUpdateStatusCode: '1',
    euiccSubAddressUpdateStatusDesc: 'SUCCESS: Address has been updated',
  },
  warning: {
    euiccStatus: 'IN_PROGRESS',
    euiccStatusCode: '1.2.100',
    euiccStatusDesc: 'device not reachable, retrying',
  },
  failed: { euiccStatus: 'EXECUTED_FAILED', euiccStatusCode: '1.2.500' },
} as const;

/** A device's identifiers in its callback, in the order and kind casing of each page's example. */
function callbackIds(operation: ProfileOperation, device: SimDevice): DeviceId[] {
  if (operation === 'changeProfileServicePlan') {
    return [
      ...(device.eid ? [{ id: device.eid, kind: 'Eid' }] : []),
      { id: device.imei, kind: 'Imei' },
      ...(device.mdn ? [{ id: `1${device.mdn}`, kind: 'msisdn' }] : []),
      { id: device.iccid, kind: 'Iccid' },
    ];
  }
  return [
    { id: device.iccid, kind: 'iccid' },
    { id: device.imei, kind: 'imei' },
    ...(device.eid ? [{ id: device.eid, kind: 'eid' }] : []),
    ...(device.mdn ? [{ id: device.mdn, kind: 'mdn' }] : []),
  ];
}

/** The service plan page's example says `ACTIVE`, the activation page's `Active`. */
function stateText(operation: ProfileOperation, state: DeviceState): string {
  return operation === 'changeProfileServicePlan'
    ? state.toUpperCase()
    : state.charAt(0).toUpperCase() + state.slice(1);
}

function callbackContent(
  request: ContentSource,
  ids: DeviceId[],
  device: SimDevice | undefined,
  profile: Record<string, unknown>,
  status: string,
): Record<string, unknown> {
  const { operation } = request.summary;
  return {
    requestId: request.summary.requestId,
    deviceIds: ids,
    deviceResponse: {
      deviceProfileResponse: {
        deviceIdentifierCollection: ids.map((d) => ({ ...d })),
        ...(device ? { state: stateText(operation, device.state) } : {}),
        ...profile,
      },
    },
    status,
  };
}

function carrierOf(request: ContentSource, device: SimDevice): string {
  return request.fields.carrierName ?? device.carrierName ?? VERIZON;
}

export function roleOf(request: ContentSource, device: SimDevice): ProfileRole {
  return device.profileRole ?? DEFAULT_ROLE[request.summary.operation];
}

export function successContent(request: ContentSource, device: SimDevice): Record<string, unknown> {
  const ids = callbackIds(request.summary.operation, device);
  const profile =
    request.summary.operation === 'changeProfileServicePlan'
      ? { profileStatus: 'ENABLE', profileRole: roleOf(request, device) }
      : {
          profileStatus: 'ENABLE',
          ...EUICC.success,
          ...(request.fields.placeOfUse ? EUICC.addressUpdated : {}),
          carrierName: carrierOf(request, device),
          profileRole: roleOf(request, device),
        };
  return callbackContent(request, ids, device, profile, 'SUCCESS');
}

export function warningContent(request: ContentSource, device: SimDevice): Record<string, unknown> {
  const ids = callbackIds(request.summary.operation, device);
  const profile = { ...EUICC.warning, carrierName: carrierOf(request, device), profileRole: roleOf(request, device) };
  return callbackContent(request, ids, device, profile, 'WARNING');
}

export function failureContent(
  request: ContentSource,
  plan: Pick<DevicePlan, 'ids'>,
  device: SimDevice | undefined,
  failure: DeviceFailure,
): Record<string, unknown> {
  const ids = device ? callbackIds(request.summary.operation, device) : plan.ids.map((d) => ({ ...d }));
  const profile =
    request.summary.operation === 'activateDeviceProfiles'
      ? { ...EUICC.failed, euiccStatusDesc: failure.faultstring }
      : {};
  const faultcode = withServicePrefix(SERVICE, failure.faultcode);
  return {
    ...callbackContent(request, ids, device, profile, 'FAILED'),
    faultResponse: { faultcode, faultstring: failure.faultstring },
  };
}

/**
 * One device's callback content for `operation` (SUCCESS, WARNING or FAILED); changes nothing. Stray
 * callbacks reuse it. `device` absent: a device ThingSpace does not know, named by `ids`.
 */
export function deviceProfileContent(spec: {
  operation: ProfileOperation;
  requestId: string;
  ids: DeviceId[];
  device?: SimDevice;
  status: 'success' | 'warning' | 'failed';
  failure?: DeviceFailure;
}): Record<string, unknown> {
  const source: ContentSource = {
    summary: { requestId: spec.requestId, operation: spec.operation },
    fields: { placeOfUse: false },
  };
  const { device } = spec;
  if (spec.status === 'failed' || !device) {
    const failure = spec.failure ?? { faultcode: ErrorCode.DeviceNotFound, faultstring: 'The device was not found.' };
    return failureContent(source, { ids: spec.ids }, device, failure);
  }
  return spec.status === 'warning' ? warningContent(source, device) : successContent(source, device);
}
