/**
 * Names other code and people rely on (DESIGN.md §7): the task queue, workflow types, signals, queries,
 * search attributes, failure types, and the one workflow-id helper.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type {
  DecisionOutcome,
  BulkCounts,
  BulkDeviceStatus,
  BulkOperation,
  CallbackEvent,
  ChangeDeviceIdentifierRequest,
  DeviceId,
  EidDeviceSwapRequest,
  OperatorDecision,
  SagaStatus,
} from './types.js';

export const TASK_QUEUE = 'euicc-lifecycle';

/**
 * Every workflow type the worker registers, named after its ThingSpace operation. Clients start sagas by
 * these names; the workflow bundle (`workflows/index.ts`) exports exactly these functions.
 */
export const WORKFLOW_TYPES = {
  eidDeviceSwap: 'eidDeviceSwap',
  changeDeviceIdentifier: 'changeDeviceIdentifier',
  changeProfileServicePlan: 'changeProfileServicePlan',
  activateDeviceProfiles: 'activateDeviceProfiles',
  /** The child workflow a bulk saga runs per shard (one ThingSpace request); never started by a client. */
  profileShard: 'profileShard',
  /** The daily retention purge, started by the Schedule `euicc-retention`; never started by a client. */
  retentionPurge: 'retentionPurge',
} as const;
export type WorkflowType = (typeof WORKFLOW_TYPES)[keyof typeof WORKFLOW_TYPES];
/** The operations a client starts a saga for. */
export type Operation = Exclude<keyof typeof WORKFLOW_TYPES, 'profileShard' | 'retentionPurge'>;

/** The gateway sends callbacks in batches: one signal can carry many events for the same saga. */
export const thingspaceCallbackSignal = defineSignal<[CallbackEvent[]]>('thingspaceCallback');
/**
 * Where a saga stands. Every saga answers it; `operation` tells which status it is (the client's typed
 * handles narrow it). From the CLI: `temporal workflow query --name status`.
 */
export const statusQuery = defineQuery<SagaStatus>('status');
/**
 * Where one device of a bulk saga stands, by any of its identifiers as `kind:id` (e.g. `eid:8904…`);
 * undefined when the saga has no such device. From the CLI: `temporal workflow query --name device
 * --input '"eid:8904…"'`.
 */
export const bulkDeviceQuery = defineQuery<BulkDeviceStatus | undefined, [string]>('device');
/** A shard's counts, sent by the shard to its bulk saga as callbacks come in. */
export const shardProgressSignal = defineSignal<[{ shard: string; counts: BulkCounts }]>('shardProgress');
/**
 * An operator's decision for a saga held by policy `hold`, as an Update: a validator refuses a decision
 * the saga cannot take (it is not waiting for one, one is already being taken, an unknown decision,
 * `compensate` where the operation has none, no `operator`) without writing history, and an accepted one
 * answers `{ acted, phase }` once the saga has taken it. From the CLI: `temporal workflow update execute
 * --workflow-id <id> --name decide --input '{"decision":"retry","operator":"jane"}'`.
 */
export const operatorDecisionUpdate = defineUpdate<DecisionOutcome, [OperatorDecision]>('decide');
/**
 * The same decision as a signal, kept for compatibility (Temporal forbids a signal and an update of the
 * same name, hence `decide` above): a signal cannot be refused, so a decision the saga cannot take is
 * recorded with `acted: false` in `status().decisions`.
 */
export const operatorDecisionSignal = defineSignal<[OperatorDecision]>('operatorDecision');

export const searchAttributes = {
  ThingSpaceAccount: defineSearchAttributeKey('ThingSpaceAccount', SearchAttributeType.KEYWORD),
  /** The saga's first request id (sagas before `ThingSpaceRequestIds`; kept for them). */
  ThingSpaceRequestId: defineSearchAttributeKey('ThingSpaceRequestId', SearchAttributeType.KEYWORD),
  /** Every request id the saga sent or whose callbacks counted: `ThingSpaceRequestIds = "<id>"` finds it. */
  ThingSpaceRequestIds: defineSearchAttributeKey('ThingSpaceRequestIds', SearchAttributeType.KEYWORD_LIST),
  DeviceIds: defineSearchAttributeKey('DeviceIds', SearchAttributeType.KEYWORD_LIST),
  SagaStep: defineSearchAttributeKey('SagaStep', SearchAttributeType.KEYWORD),
  Operation: defineSearchAttributeKey('Operation', SearchAttributeType.KEYWORD),
};

/** `--search-attribute` arguments for `temporal server start-dev`. */
export const SEARCH_ATTRIBUTE_DEFINITIONS: Record<keyof typeof searchAttributes, 'Keyword' | 'KeywordList'> = {
  ThingSpaceAccount: 'Keyword',
  ThingSpaceRequestId: 'Keyword',
  ThingSpaceRequestIds: 'KeywordList',
  DeviceIds: 'KeywordList',
  SagaStep: 'Keyword',
  Operation: 'Keyword',
};

/**
 * Failure `type`s of the ApplicationFailures this project throws. Clients match on these, never on
 * messages.
 */
export const FailureType = {
  /** The request breaks a documented rule; nothing was sent to ThingSpace. Non-retryable. */
  InvalidRequest: 'InvalidRequest',
  /** A device of the request is already part of another open operation. Non-retryable. */
  DeviceBusy: 'DeviceBusy',
  /** ThingSpace refused the request (4xx); `details[0]` holds `{ status, errorCode }`. Non-retryable. */
  ThingSpaceRejected: 'ThingSpaceRejected',
  /**
   * ThingSpace may have acted on a request that it would act on again if it came twice (how the request
   * ended is decided by `requestEnd` in thingspace/outcome.ts: a timeout, a reset, 500/502/504, an
   * unreadable 2xx, an earlier attempt whose worker died mid-request). Never resent by the system: the
   * callbacks settle it, then the device list, then a person. `details[0]` holds the evidence
   * `{ attempt, observed, status?, errorCode? }`.
   */
  ThingSpaceOutcomeUnknown: 'ThingSpaceOutcomeUnknown',
  /** ThingSpace is unavailable (5xx, 429, network); retried by Temporal. */
  ThingSpaceUnavailable: 'ThingSpaceUnavailable',
  /** Login to ThingSpace failed; not retried so the account is never locked. */
  ThingSpaceAuthFailed: 'ThingSpaceAuthFailed',
  /** A callback reported that a step failed; `details[0]` holds `{ step, fault }`. */
  StepFailed: 'StepFailed',
  /** No callback arrived within the step timeout; `details[0]` holds `{ steps }`. */
  StepTimedOut: 'StepTimedOut',
  /**
   * An operator abandoned a held saga; `details[0]` holds `{ failure, reason, operator }`. Nothing was
   * undone.
   */
  Abandoned: 'Abandoned',
  /**
   * The saga failed and its compensations undid what was done; `details[0]` holds `{ failure,
   * compensations }`, one `CompensationOutcome` per compensation.
   */
  Compensated: 'Compensated',
  /**
   * A compensation itself failed: the devices may be half-swapped and need a person. The message names
   * the compensation; `details[0]` holds `{ failure, failed, compensations }`.
   */
  CompensationFailed: 'CompensationFailed',
  /** An unexpected error inside an activity; retried by Temporal. */
  InternalError: 'InternalError',
  /**
   * The activity was cancelled while it ran (its saga was cancelled, or its heartbeat timed out). Not
   * retried: another attempt would be cancelled too.
   */
  CancelledFailure: 'CancelledFailure',
  /**
   * A bulk saga's shard failed as a whole without a typed failure: the fault code its devices fail with (see
   * `BulkResult.faults`). Never the type of a failure a saga ends with.
   */
  ShardFailed: 'ShardFailed',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** `kind:id`, lower-cased (ICCIDs may end in a hex digit): the form of correlation keys and the DeviceIds attribute. */
export function deviceKey(device: DeviceId): string {
  return `${device.kind.toLowerCase()}:${device.id.toLowerCase()}`;
}

/** Identifier kinds in order of preference for naming a device in a workflow id. */
const KEY_KINDS = ['eid', 'iccid', 'imei', 'mdn', 'meid', 'esn', 'msisdn', 'imsi'];

function primaryKey(devices: DeviceId[]): string {
  for (const kind of KEY_KINDS) {
    const found = devices.find((d) => d.kind.toLowerCase() === kind);
    if (found) return deviceKey(found);
  }
  const first = devices[0];
  return first ? deviceKey(first) : 'none';
}

/**
 * Workflow ids, `<operation>:<business key>`, built only here. A swap is keyed by account and both
 * devices, so a retried start of the same swap finds the running (or completed) saga instead of
 * starting a second one.
 */
export const workflowIds = {
  eidDeviceSwap(request: Pick<EidDeviceSwapRequest, 'accountName' | 'deviceToSwapOut' | 'deviceToSwapIn'>): string {
    return `eidDeviceSwap:${request.accountName}:${primaryKey(request.deviceToSwapOut)}>${primaryKey(request.deviceToSwapIn)}`;
  },
  /**
   * The page's body names no account, so the caller passes the one it submits for. Keyed by the device
   * being changed (`deviceIds`) and a key of the change itself — the caller's operation id, or a digest of
   * the request — so a retried start finds the saga already started, while a later, different change of
   * the same device (a new number after a new SIM) is a saga of its own.
   */
  changeDeviceIdentifier(
    accountName: string,
    request: Pick<ChangeDeviceIdentifierRequest, 'serviceType' | 'deviceIds'>,
    requestKey: string,
  ): string {
    return `changeDeviceIdentifier:${accountName}:${request.serviceType}:${primaryKey(request.deviceIds)}:${requestKey}`;
  },
  /**
   * A bulk saga is keyed by account and a key of the whole request — the caller's own operation id, or a
   * digest of the request the client computes — so a retried start finds the saga already started.
   */
  bulk(operation: BulkOperation, accountName: string, requestKey: string): string {
    return `${operation}:${accountName}:${requestKey}`;
  },
};
