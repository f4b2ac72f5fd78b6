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

/**
 * What to do when a step fails or times out (after reconciliation):
 * - `fail` ends the saga with `StepFailed` / `StepTimedOut`;
 * - `hold` (the default) waits, without a timeout, for an `operatorDecision` signal: `retry`, `compensate` or `abandon`;
 * - `compensate` runs the compensations registered so far, newest first, and ends with `Compensated`.
 */
export const FAILURE_POLICIES = ['fail', 'hold', 'compensate'] as const;
export type FailurePolicy = (typeof FAILURE_POLICIES)[number];

/**
 * An operator's answer to a held saga (signal `operatorDecision`). `retry` re-runs the failure point,
 * `compensate` undoes what was done, `abandon` ends the saga failed with `Abandoned`. Only one decision
 * is acted on at a time; others, and any sent while the saga is not awaiting one, are ignored.
 */
export interface OperatorDecision {
  decision: 'retry' | 'compensate' | 'abandon';
  reason?: string;
  operator?: string;
}

/** What the `decide` update answers once the saga has taken the decision: the phase it moved to. */
export interface DecisionOutcome {
  acted: boolean;
  phase: string;
}

/** A decision the saga received, and whether it acted on it (status query). */
export interface ReceivedDecision extends OperatorDecision {
  at: string;
  acted: boolean;
}

/** What one compensation did: `undone`, or `nothingToUndo` (the step it undoes never happened). */
export interface CompensationOutcome {
  compensation: string;
  outcome: 'undone' | 'nothingToUndo';
  detail: string;
  requestId?: string;
}

/** Per-saga options, carried next to the ThingSpace body under `options`. */
export interface SagaOptions {
  /**
   * How long the saga waits, from the submit, for every step's callback, in milliseconds or as a
   * duration string ('30 minutes').
   * Default 2 hours: ThingSpace re-sends an unacknowledged callback for up to 15 minutes, and real
   * carrier work can take an hour.
   */
  stepTimeout?: string | number;
  /** What a failed or timed-out step leads to; default `hold` (wait for an operator decision). */
  failurePolicy?: FailurePolicy;
  /**
   * changeDeviceIdentifier only: the account of the device (the page's body names none), set by the
   * client. Scopes callback correlation to the account and fills the ThingSpaceAccount attribute.
   */
  accountName?: string;
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

/**
 * The `change4gOption` values of change-device-identifier.txt, spelled as the page lists them. The
 * page's table heading writes `Change4GOption`; the wire field is `change4gOption` (thingspace-api-notes.md).
 */
export const CHANGE_4G_OPTIONS = [
  'ChangeICCID',
  'ChangeIMEI',
  'ChangeIMEIandICCID',
  'ChangeMSISDN',
  '3Gto4G',
  '4Gto3G',
  'ChangeIMEIandEID',
] as const;
export type Change4gOption = (typeof CHANGE_4G_OPTIONS)[number];

/** The path parameter of change-device-identifier.txt: "Either “3g” or “4g” depending on the device that's changing". */
export const SERVICE_TYPES = ['3g', '4g'] as const;
export type ServiceType = (typeof SERVICE_TYPES)[number];

/**
 * The body of `PUT /m2m/v1/devices/{serviceType}/actions/deviceId` (change-device-identifier.txt), plus
 * the path parameter `serviceType` carried as a field (DESIGN.md §7) and `options`.
 */
export interface ChangeDeviceIdentifierRequest {
  serviceType: ServiceType;
  /** The device to change, by its old identifier or one that isn't changing. */
  deviceIds: DeviceId[];
  /** The new identifier; required for every `change4gOption` except `ChangeMSISDN`, which must not have it. */
  deviceIdsTo?: DeviceId[];
  /** Required for 4G. */
  change4gOption?: Change4gOption;
  /** 5 digits; where a number is assigned when no number with `npaNxx` is available. */
  zipCode?: string;
  /** 6 digits; required by `ChangeMSISDN` when `assignNonGeoMdn` is false. */
  npaNxx?: string;
  servicePlan?: string;
  /** Required by `ChangeMSISDN`. */
  assignNonGeoMdn?: boolean;
  /** Required by `ChangeIMEIandEID`. */
  smsrOid?: string;
  options?: SagaOptions;
}

/** The three outcomes a swap waits for, in the order the page lists them (any order on the wire). */
export const SWAP_STEPS = ['deactivation', 'identifierChange', 'goToState'] as const;
export type SwapStep = (typeof SWAP_STEPS)[number];

/** What a callback reports, derived from its `deviceResponse` (see normalizeCallback). */
export type CallbackEventType = SwapStep | 'deviceProfile' | 'unknown';

/**
 * How the gateway matched a callback to the saga run it signals (store/types.ts): `request`, by a
 * request id the saga registered itself; `learned`, by a request id an earlier callback delivered to
 * the run carried; `device`, only by a device the run claimed before the callback reached the inbox.
 * `device` is the weakest: the callback may belong to another operation on the same device.
 */
export type MatchedBy = 'request' | 'learned' | 'device';

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
  /** The service plan a `changeIdentifierResponse` or a `deviceProfileResponse` reports. */
  servicePlan?: string;
  /** What a `deviceProfileResponse` reports (eSIM profile operations). */
  profile?: ProfileReport;
  /** ISO time the gateway received the first delivery. */
  receivedAt: string;
  /** How the gateway matched it to this run; absent in signals of gateways older than the field. */
  matchedBy?: MatchedBy;
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

/** Phase of a saga over one ThingSpace request (eidDeviceSwap, changeDeviceIdentifier). */
export type RequestSagaPhase =
  | 'validating'
  | 'claiming'
  | 'submitting'
  | 'awaitingCallbacks'
  | 'reconciling'
  | 'awaitingDecision'
  | 'compensating'
  | 'compensated'
  | 'abandoned'
  | 'completed'
  | 'failed';

/**
 * What the status of a saga over one ThingSpace request (eidDeviceSwap, changeDeviceIdentifier) holds
 * besides its steps.
 */
/** @deprecated The name before changeDeviceIdentifier shared it: use RequestSagaPhase. */
export type SwapSagaPhase = RequestSagaPhase;

export interface RequestSagaStatus {
  phase: RequestSagaPhase;
  requestId?: string;
  /** ThingSpace may have accepted the request but its answer was lost; the saga waits for the callbacks. */
  submitOutcomeUnknown?: boolean;
  callbacksReceived: number;
  duplicatesIgnored: number;
  /** Policy `hold`: the failure the saga stopped at, and since when it waits for an operator decision. */
  awaitingDecision?: { failure: { type: string; message: string }; since: string };
  /** Operator decisions received, in order (present once one arrived). */
  decisions?: ReceivedDecision[];
  /** Request ids of earlier submits, when a `retry` resubmitted the request. */
  previousRequestIds?: string[];
  /** What the compensations did (present once they ran). */
  compensations?: CompensationOutcome[];
  /** Evidence held for a person: present while the submit's outcome is unknown. */
  outcomeEvidence?: OutcomeEvidence;
  /**
   * Failure callbacks of request ids the saga does not know, matched by device only: they decide nothing
   * on their own (a later success wins; at the step timeout the device list decides).
   */
  unverifiedFailures?: UnverifiedFailure[];
  /** Callbacks for a step that did not name what the step must name (another operation's). */
  ignoredCallbacks?: number;
}

/** Answer of the `status` query of eidDeviceSwap. */
export interface EidDeviceSwapStatus extends RequestSagaStatus {
  operation: 'eidDeviceSwap';
  steps: Record<SwapStep, StepState>;
}

/** How a submit whose outcome is unknown ended: the attempt and what was observed. */
export interface OutcomeEvidence {
  attempt?: number;
  observed: string;
  status?: number;
  errorCode?: string;
}

/** A failure callback that did not count: shown in the status until the step settles. */
export interface UnverifiedFailure {
  step: string;
  requestId?: string;
  fault: { code: string; message: string };
  inboxId: number;
  at: string;
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
  /** Request ids of earlier submits, when an operator's `retry` resubmitted the swap. */
  previousRequestIds?: string[];
  /**
   * What the page says must happen next: the eUICC profile status stays with the ICCID, so a profile may
   * have to be downloaded to the new device; with the `profileStatus` the identifier change reported.
   */
  followUps?: string[];
  /** The `profileStatus` of the identifier-change callback (the page's example has it empty). */
  profileStatus?: string;
}

/** Answer of the `status` query of changeDeviceIdentifier: one step, the CarrierService outcome. */
export interface ChangeDeviceIdentifierStatus extends RequestSagaStatus {
  operation: 'changeDeviceIdentifier';
  step: StepState;
}

/** The outcome of a changeDeviceIdentifier saga. */
export interface ChangeDeviceIdentifierResult {
  /** The request id ThingSpace returned ('unknown' when its answer was lost and the callback had none). */
  requestId: string;
  /** The device as the request named it. */
  deviceIds: DeviceId[];
  /** The new identifiers, as the CarrierService callback's `changeIdentifierResponse` reported them. */
  newDeviceIds: DeviceId[];
  /** The service plan the callback reported, when the change set one. */
  servicePlan?: string;
  confirmedBy: 'callback' | 'reconciliation';
  submittedAt: string;
  completedAt: string;
  previousRequestIds?: string[];
  /** What the page says must happen next (ChangeIMEIandEID: download the local profile to the new device). */
  followUps?: string[];
}

/** One device of a bulk eSIM profile request: `{ deviceIds: [{kind, id}, …] }` as the pages show. */
export interface ProfileDevice {
  deviceIds: DeviceId[];
}

/** Options of the bulk sagas (DESIGN.md §6), next to the ThingSpace body under `options`. */
export interface BulkOptions {
  /** How long a shard waits, from its submit, for every device's callback; default 2 hours. */
  stepTimeout?: string | number;
  /**
   * When devices failed or got no answer: `hold` (default) waits for an operator decision — `retry`
   * resubmits only those devices, `abandon` ends with the results as they are; `fail` ends at once with
   * the per-device results. (`compensate` is not offered: the pages document no undo for a profile.)
   */
  failurePolicy?: 'hold' | 'fail';
  /** Devices per ThingSpace request (child workflow); default 1,000, at most 10,000. */
  shardSize?: number;
  /** Shards in flight at once; default 4. */
  shardConcurrency?: number;
}

/** The body of `POST /m2m/v1/devices/profile/actions/serviceplan` (change-profile-service-plan.txt), plus `options`. */
export interface ChangeProfileServicePlanRequest {
  /** Each device by both its `eid` and its `iccid` ("both values must be present"). */
  devices: ProfileDevice[];
  accountName: string;
  servicePlan: string;
  options?: BulkOptions;
}

/** `primaryPlaceOfUse` of activate-euicc-profile.txt: the name and address used for line usage taxation. */
export interface PrimaryPlaceOfUse {
  customerName: {
    title?: string;
    firstName: string;
    middleName?: string;
    lastName: string;
    suffix?: string;
  };
  address: {
    /** The page's table spells it `addresLine1`; its example `addressLine1`. Either is accepted. */
    addressLine1: string;
    addressLine2?: string;
    city: string;
    state: string;
    zip: string;
    zip4?: string;
    country: string;
  };
}

/** The body of `POST /m2m/v1/devices/profile/actions/activate` (activate-euicc-profile.txt), plus `options`. */
export interface ActivateDeviceProfilesRequest {
  devices: ProfileDevice[];
  accountName: string;
  smsrOid?: string;
  carrierName?: string;
  servicePlan?: string;
  mdnZipCode?: string;
  carrierIpPoolName?: string;
  primaryPlaceOfUse?: PrimaryPlaceOfUse;
  options?: BulkOptions;
}

export type BulkOperation = 'changeProfileServicePlan' | 'activateDeviceProfiles';

/**
 * The devices of a bulk operation kept in the store (store/operations.ts) rather than in the request,
 * so that one operation can hold any number of them. `operationId` is the store's key (the saga's
 * workflow id); `count` the devices stored.
 */
export interface StoredDeviceSet {
  operationId: string;
  count: number;
}

/** A bulk request whose devices are in the store: the ThingSpace body without `devices`, plus `deviceSet`. */
export type StoredBulkRequest<R extends { devices: ProfileDevice[] }> = Omit<R, 'devices'> & {
  deviceSet: StoredDeviceSet;
  /** Set by the saga itself when it continues as new: where the previous run stopped. */
  continued?: BulkContinuation;
};

/** What a bulk saga carries into its next run (it continues as new to keep its history small). */
export interface BulkContinuation {
  /** The result lists every device, as for a saga started with its devices inline. */
  inline: boolean;
  round: number;
  /** The round's shards not started yet, as position ranges [from, to). */
  ranges: [number, number][];
  shardsInRound: number;
  shardsDone: number;
  requests: number;
  callbacksReceived: number;
  duplicatesIgnored: number;
  maxRequestDevices?: number;
  decisions: ReceivedDecision[];
  /** Runs so far, this one included. */
  runs: number;
}

/** What a bulk saga takes: the plain ThingSpace body (devices inline) or the stored form. */
export type ChangeProfileServicePlanInput =
  ChangeProfileServicePlanRequest | StoredBulkRequest<ChangeProfileServicePlanRequest>;
export type ActivateDeviceProfilesInput =
  ActivateDeviceProfilesRequest | StoredBulkRequest<ActivateDeviceProfilesRequest>;

/** True for the stored form of a bulk request. */
export function isStoredBulkRequest(input: unknown): input is { deviceSet: StoredDeviceSet } {
  const set = (input as { deviceSet?: unknown } | null)?.deviceSet as Partial<StoredDeviceSet> | undefined;
  return typeof set === 'object' && set !== null && typeof set.operationId === 'string';
}

/** What ThingSpace said of one device's profile (deviceProfileResponse). */
export interface ProfileReport {
  state?: string;
  profileStatus?: string;
  profileRole?: string;
  euiccStatus?: string;
  euiccStatusCode?: string;
  euiccStatusDesc?: string;
  /** activate-euicc-profile.txt: the outcome of the address update an activation asks for. */
  euiccSubAddressUpdateStatus?: string;
  euiccSubAddressUpdateStatusCode?: string;
  euiccSubAddressUpdateStatusDesc?: string;
}

/** One reason devices of a bulk saga failed for: ThingSpace's code and text, and the request it answered. */
export interface BulkFault {
  code: string;
  message: string;
  requestId?: string;
}

/**
 * The reasons of a bulk result, each (with its request) stored once however many devices share it:
 * `idOf` gives a reason's index in `faults`, adding it the first time.
 */
export class FaultTable {
  readonly faults: BulkFault[] = [];
  private readonly ids = new Map<string, number>();

  idOf(fault: BulkFault): number {
    const key = `${fault.code}\n${fault.message}\n${fault.requestId ?? ''}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.faults.push(fault) - 1;
      this.ids.set(key, id);
    }
    return id;
  }
}

/** One device's outcome in a bulk saga. `device` is its key (`kind:id`, the first identifier given). */
export interface BulkDeviceResult {
  device: string;
  outcome: 'succeeded' | 'failed' | 'noAnswer';
  /**
   * For `failed`: the position of the reason in `BulkResult.faults` (each reason is stored once, so 10,000
   * devices refused for the same reason do not repeat it 10,000 times).
   */
  faultId?: number;
  /** `reconciliation`: no callback came; the device list shows the effect. Absent: confirmed by callback. */
  confirmedBy?: 'reconciliation';
  /**
   * An activation that succeeded although the address update it asked for failed: the position of the
   * `euiccSubAddressUpdateStatus` code and description in `BulkResult.faults`.
   */
  addressUpdateFaultId?: number;
}

/** Counts of a bulk saga or shard; `pending` devices have no outcome yet (`warning` ones included). */
export interface BulkCounts {
  total: number;
  succeeded: number;
  failed: number;
  noAnswer: number;
  pending: number;
  /** Devices whose last callback was a `warning` (eUICC: device unreachable for now). */
  warnings: number;
  /** Operations in the store: devices not sent, for being invalid or repeated (`--skip-invalid`). */
  skipped?: number;
}

export type BulkPhase = 'validating' | 'running' | 'awaitingDecision' | 'completed' | 'failed';

/**
 * Answer of the `device` query of a bulk saga or shard: where one device stands. `shard` is the workflow
 * id of the shard that has the device now (its own `device` query tells whether a warning came).
 */
export interface BulkDeviceStatus {
  device: string;
  state: 'pending' | 'warning' | 'succeeded' | 'failed' | 'noAnswer';
  shard?: string;
  fault?: { code: string; message: string };
  confirmedBy?: 'reconciliation';
}

/** Answer of the `status` query of a bulk saga. */
export interface BulkStatus {
  phase: BulkPhase;
  operation: BulkOperation;
  counts: BulkCounts;
  shards: { total: number; running: number; completed: number; round: number };
  callbacksReceived: number;
  duplicatesIgnored: number;
  awaitingDecision?: { failed: number; noAnswer: number; since: string };
  decisions?: ReceivedDecision[];
}

/** A bulk shard's ThingSpace request: the operation's body with one shard's devices. */
export type ProfileSubmission =
  | { operation: 'changeProfileServicePlan'; body: Omit<ChangeProfileServicePlanRequest, 'options'> }
  | { operation: 'activateDeviceProfiles'; body: Omit<ActivateDeviceProfilesRequest, 'options'> };

/** Input of the profileShard child workflow: one shard of a bulk saga. */
export interface ProfileShardInput {
  /** The parent's name for the shard, e.g. `r0-s3` (round 0, shard 3). */
  shard: string;
  operation: BulkOperation;
  /** The ThingSpace body without `devices` (account, plan, place of use …). */
  body: Omit<ProfileSubmission['body'], 'devices'>;
  devices: ProfileDevice[];
  stepTimeout: string | number;
  /**
   * Set by bulk sagas that need evidence (EVIDENCE_PATCH): submits retried by their RetryPolicy, callbacks
   * that count only with the shard's own request ids, a request refused for its size split in halves,
   * and no reconciliation here: the bulk saga reads the device list once for the whole operation.
   */
  evidence?: true;
  /** Devices per ThingSpace request, when an earlier shard learnt that ThingSpace takes no more. */
  maxRequestDevices?: number;
  /**
   * Operations with their devices in the store: the shard's devices are the pending ones of positions
   * [from, to), loaded as its first step (`devices` is empty), and it writes their outcomes back.
   */
  deviceSet?: { operationId: string; from: number; to: number; round: number };
}

/** Result of a shard of an operation in the store: counters only, the outcomes are in the store. */
export interface StoredShardResult {
  shard: string;
  counts: { devices: number; succeeded: number; failed: number; noAnswer: number };
  /** ThingSpace requests sent (a request refused for its size is split). */
  requests: number;
  /** The request size ThingSpace accepted after refusing a larger one. */
  requestSize?: number;
  callbacksReceived: number;
  duplicatesIgnored: number;
}

/** Result of the profileShard child workflow, merged by its bulk saga. */
export interface ProfileShardResult {
  shard: string;
  requestId?: string;
  submitOutcomeUnknown?: boolean;
  /**
   * One letter per device, in the shard's order: `s` succeeded (callback), `r` succeeded (device list),
   * `f` failed, `n` no answer. Compact, because the parent's history keeps every shard's result.
   */
  outcomes: string;
  /** ThingSpace's reasons, each once, with the positions of the devices that failed for it. */
  faults: { code: string; message: string; indices: number[] }[];
  callbacksReceived: number;
  duplicatesIgnored: number;
  /** Evidence shards: every request id ThingSpace answered (a shard split for its size sends several). */
  requestIds?: string[];
  /** Evidence shards: the request size ThingSpace accepted after refusing a larger one. */
  requestSize?: number;
  /**
   * Evidence shards: failure callbacks of request ids the shard does not know, for devices still open
   * (letter `u`); the device list decides them.
   */
  unverified?: { code: string; message: string; indices: number[] }[];
  /** Activations whose address update failed although the activation succeeded. */
  addressFaults?: { code: string; message: string; indices: number[] }[];
}

/** What a saga's operation answers to the `status` query. */
export interface SagaStatusByOperation {
  eidDeviceSwap: EidDeviceSwapStatus;
  changeDeviceIdentifier: ChangeDeviceIdentifierStatus;
  changeProfileServicePlan: BulkStatus;
  activateDeviceProfiles: BulkStatus;
}

/** Answer of the `status` query of any saga; `operation` tells which. */
export type SagaStatus = SagaStatusByOperation[keyof SagaStatusByOperation];

/** Result of a bulk saga: every device once, with its last outcome. */
export interface BulkResult {
  operation: BulkOperation;
  accountName: string;
  /** Where the devices are stored (bulk sagas from the store's release on): `euicc results <operationId>`. */
  operationId?: string;
  counts: BulkCounts;
  /** Every device's outcome, in request order. */
  devices: BulkDeviceResult[];
  /** The reasons failed devices refer to by `faultId`. */
  faults: BulkFault[];
  requestIds: string[];
  /** Resubmission rounds run for failed devices (0 when none). */
  resubmissions: number;
  /** Activations that succeeded while their address update failed (see `addressUpdateFaultId`). */
  addressUpdateFailed?: number;
  abandoned?: { reason?: string; operator?: string };
  completedAt: string;
}

/**
 * Result of a bulk saga started with its devices in the store: counts only, since a million devices do
 * not fit in a result. Each device's outcome is read from the store: `euicc results <operationId>` or
 * the client's `results()`.
 */
export interface BulkSummary {
  operation: BulkOperation;
  accountName: string;
  operationId: string;
  counts: BulkCounts;
  /** ThingSpace requests sent, over every round. */
  requests: number;
  resubmissions: number;
  addressUpdateFailed?: number;
  abandoned?: { reason?: string; operator?: string };
  /** Runs of the coordinator (it continues as new to keep its history small). */
  runs: number;
  completedAt: string;
}

/** True for a bulk saga's summary (devices in the store), false for a result that lists its devices. */
export function isBulkSummary(result: BulkResult | BulkSummary): result is BulkSummary {
  return !Array.isArray((result as Partial<BulkResult>).devices);
}

/** What a retention purge deleted (workflows/retention.ts). */
export interface RetentionPurge {
  /** Delivered callbacks of the inbox. */
  callbacks: number;
  /** Correlation keys of closed saga runs. */
  tombstones: number;
  /** Closed bulk operations, and their devices. */
  operations: number;
  devices: number;
}
