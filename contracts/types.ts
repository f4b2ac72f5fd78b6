/**
 * Shapes shared by every part of the system. Side-effect free: safe to import from workflows, the
 * gateway, the client and tests. Field names follow the ThingSpace pages in thingspace-docs/.
 */

/** A ThingSpace device identifier, e.g. `{ kind: 'eid', id: '8904…' }`. Requests use lower-case kinds. */
export interface DeviceId {
  kind: string;
  id: string;
}

/** The ThingSpace services that send callbacks to the gateway. */
export const CALLBACK_SERVICES = ['CarrierService', 'StateService', 'DeviceProfileService'] as const;
export type CallbackService = (typeof CALLBACK_SERVICES)[number];

/** What to do when a step fails or times out. `fail` ends the saga with a typed failure. */
export type FailurePolicy = 'fail';

/** Per-saga options, carried next to the ThingSpace body under `options`. */
export interface SagaOptions {
  /**
   * How long the saga waits, from the submit, for every step's callback, in milliseconds or as a
   * duration string ('30 minutes').
   * Default 2 hours: ThingSpace re-sends an unacknowledged callback for up to 15 minutes, and real
   * carrier work can take an hour.
   */
  stepTimeout?: string | number;
  failurePolicy?: FailurePolicy;
}

/** The body of `POST /m2m/v1/devices/actions/eidDeviceSwap` (eid-device-swap.txt), plus `options`. */
export interface EidDeviceSwapRequest {
  accountName: string;
  deviceToSwapOut: DeviceId[];
  deviceToSwapIn: DeviceId[];
  carrierIpPoolName?: string;
  mdnZipCode: string;
  serviceName: string;
  stateName: string;
  servicePlan: string;
  smsrOid: string;
  options?: SagaOptions;
}

/** The three outcomes a swap waits for, in the order the page lists them (any order on the wire). */
export const SWAP_STEPS = ['deactivation', 'identifierChange', 'goToState'] as const;
export type SwapStep = (typeof SWAP_STEPS)[number];

/** What a callback reports, derived from its `deviceResponse` (see normalizeCallback). */
export type CallbackEventType = SwapStep | 'deviceProfile' | 'unknown';

/** A callback after the gateway authenticated, stored and normalized it. No credentials, ever. */
export interface CallbackEvent {
  /** Content fingerprint (sha-256 hex); identical re-deliveries share it. */
  fingerprint: string;
  /** Inbox row id in the gateway's store. */
  inboxId: number;
  service: CallbackService;
  type: CallbackEventType;
  requestId?: string;
  status: 'success' | 'failed' | 'warning';
  /** Top-level `deviceIds`, kinds lower-cased. */
  deviceIds: DeviceId[];
  /** Identifiers the callback reports as the result (changeIdentifierResponse / goToStateResponse). */
  resultDeviceIds?: DeviceId[];
  fault?: { code: string; message: string };
  /** ISO time the gateway received the first delivery. */
  receivedAt: string;
}

/** One step of a saga as the `status` query and the result show it. */
export interface StepState {
  state: 'waiting' | 'confirmed' | 'failed' | 'timedOut';
  /** ISO time the step was confirmed or failed. */
  at?: string;
  /** `reconciliation`: no callback came; ThingSpace's device list showed the outcome. */
  confirmedBy?: 'callback' | 'reconciliation';
  requestId?: string;
  fault?: { code: string; message: string };
}

export type SwapSagaPhase =
  'validating' | 'claiming' | 'submitting' | 'awaitingCallbacks' | 'reconciling' | 'completed' | 'failed';

/** Answer of the `status` query of eidDeviceSwap. */
export interface EidDeviceSwapStatus {
  phase: SwapSagaPhase;
  requestId?: string;
  /** ThingSpace may have accepted the swap but its answer was lost; the saga waits for the callbacks. */
  submitOutcomeUnknown?: boolean;
  steps: Record<SwapStep, StepState>;
  callbacksReceived: number;
  duplicatesIgnored: number;
}

/** Result of a completed eidDeviceSwap. */
export interface EidDeviceSwapResult {
  accountName: string;
  requestId: string;
  /** Request ids seen on the callbacks (ThingSpace may use others than the one the swap returned). */
  callbackRequestIds: string[];
  /** The replacement device now carries the line: its identifiers as the identifier-change callback reported. */
  swappedInDevice: DeviceId[];
  /** The swapped-out device with its new line of service, as the GoToState callback reported. */
  swappedOutDevice: DeviceId[];
  steps: Record<SwapStep, StepState>;
  submittedAt: string;
  completedAt: string;
}
