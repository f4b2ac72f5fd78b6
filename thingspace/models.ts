/**
 * Request and response shapes of the ThingSpace M2M endpoints this client calls. Field names follow the
 * ThingSpace pages (thingspace-docs/) and thingspace-api-notes.md.
 */
import type {
  CallbackService,
  ActivateDeviceProfilesRequest,
  ChangeDeviceIdentifierRequest,
  ChangeProfileServicePlanRequest,
  DeviceId,
  EidDeviceSwapRequest,
  ServiceType,
} from '../contracts/index.js';

export type { DeviceId, ServiceType };

/** Where and as whom the client talks to ThingSpace. Secrets here never reach logs or errors. */
export interface ThingSpaceClientConfig {
  /** Base URL including `/api`, e.g. `https://thingspace.verizon.com/api` or the simulator's `http://127.0.0.1:3100/api`. */
  baseUrl: string;
  /** OAuth client id and secret, sent as HTTP Basic to `ts/v1/oauth2/token`. */
  clientId: string;
  clientSecret: string;
  /** M2M account login for `m2m/v1/session/login`. */
  username: string;
  password: string;
  /**
   * Time limit of one HTTP request, in milliseconds. Default 30 000. Keep it below the start-to-close
   * timeout of the activities that call the client, so a hung request fails the attempt rather than the
   * whole activity timing out.
   */
  timeoutMs?: number;
}

/** Body of `POST /m2m/v1/devices/actions/eidDeviceSwap` (eid-device-swap.txt): the saga request without `options`. */
export type EidDeviceSwapBody = Omit<EidDeviceSwapRequest, 'options'>;

/**
 * Body of `PUT /m2m/v1/devices/{serviceType}/actions/deviceId` (change-device-identifier.txt): the saga
 * request without `options` and without `serviceType`, which goes in the path.
 */
export type ChangeDeviceIdentifierBody = Omit<ChangeDeviceIdentifierRequest, 'options' | 'serviceType'>;

/** The synchronous answer to an asynchronous request; the outcome arrives by callback. */
/** Body of `POST /m2m/v1/devices/profile/actions/serviceplan` (change-profile-service-plan.txt). */
export type ChangeProfileServicePlanBody = Omit<ChangeProfileServicePlanRequest, 'options'>;

/** Body of `POST /m2m/v1/devices/profile/actions/activate` (activate-euicc-profile.txt). */
export type ActivateDeviceProfilesBody = Omit<ActivateDeviceProfilesRequest, 'options'>;

export interface RequestAccepted {
  requestId: string;
}

/** Body of `POST /m2m/v1/callbacks/{accountName}`. One URL per service per account. */
export interface CallbackRegistration {
  /** The callback service, e.g. `CarrierService`. */
  name: CallbackService | (string & {});
  url: string;
  /** Echoed in every callback body, at most 40 characters; not the login credentials. */
  username?: string;
  password?: string;
}

export interface CallbackRegistrationResult {
  accountName: string;
  serviceName: string;
}

/**
 * One entry of `GET /m2m/v1/callbacks/{accountName}`. ThingSpace also returns the callback password;
 * the client drops it so listings can be logged and shown to operators.
 */
export interface RegisteredCallback {
  accountName: string;
  serviceName: string;
  url: string;
  username?: string;
}

/**
 * Body of `POST /m2m/v1/devices/actions/list` (thingspace-api-notes.md, Reconciliation endpoints).
 *
 * Paging: send `largestDeviceIdSeen: 0` on the first request and then the `DeviceId` extended attribute of
 * the previous page's last record (`deviceNumberOf`). Without `largestDeviceIdSeen` ThingSpace sorts by
 * date, and a scan that pages on from such a first page misses devices.
 */
export interface DeviceListRequest {
  accountName?: string;
  /** One device: the list answers with that device alone (or `DeviceNotFound`). */
  deviceId?: DeviceId;
  filter?: { deviceIdentifierFilters?: Array<{ kind: string; contains: string }> };
  currentState?: string;
  maxNumberOfDevices?: number;
  /** Paging cursor: 0 for the first page, then the internal device id of the previous page's last record. */
  largestDeviceIdSeen?: number;
}

export interface CarrierInformation {
  /**
   * `Verizon Wireless` for the Verizon US line; a device with a Global eSIM profile is assumed to list it as
   * another entry named after the local carrier (docs/reconciliation.md).
   */
  carrierName?: string;
  servicePlan?: string;
  /** `active`, `deactive`, `pre-active`, `suspend`; casing varies, compare case-insensitively. */
  state?: string;
  [field: string]: unknown;
}

/** A key/value pair of `extendedAttributes` (the list's `DeviceId` cursor is one), values as strings. */
export interface ExtendedAttribute {
  key: string;
  value: string;
}

/** A device as the list reports it; fields the client does not interpret are kept as received. */
export interface DeviceInformation {
  accountName?: string;
  /** Kinds lower-cased; read from `deviceIds` or, when ThingSpace sends it, `ids`. */
  deviceIds: DeviceId[];
  carrierInformations: CarrierInformation[];
  connected?: boolean;
  createdAt?: string;
  lastActivationDate?: string;
  /** Includes `{key: 'DeviceId', value}`, ThingSpace's internal device number: the paging cursor. */
  extendedAttributes?: ExtendedAttribute[];
  [field: string]: unknown;
}

export interface DeviceListResult {
  /** True when ThingSpace has another page (it answers HTTP 202 then); page on with `largestDeviceIdSeen`. */
  hasMoreData: boolean;
  devices: DeviceInformation[];
}
