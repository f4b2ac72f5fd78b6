/**
 * Typed helpers for backend services: start a saga, follow it, read its status. A retried start of
 * the same operation returns the saga already started instead of starting a second one.
 */
import { createHash } from 'node:crypto';
import {
  ApplicationFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import {
  bulkDeviceQuery,
  describeIssues,
  operatorDecisionSignal,
  operatorDecisionUpdate,
  sagaSummary,
  statusQuery,
  TASK_QUEUE,
  validateActivateDeviceProfiles,
  validateChangeDeviceIdentifier,
  validateChangeProfileServicePlan,
  validateEidDeviceSwap,
  workflowIds,
  WORKFLOW_TYPES,
  type ActivateDeviceProfilesRequest,
  type BulkDeviceStatus,
  type BulkOperation,
  type BulkOptions,
  type BulkResult,
  type BulkStatus,
  type BulkSummary,
  type ChangeDeviceIdentifierRequest,
  type ChangeDeviceIdentifierResult,
  type ChangeDeviceIdentifierStatus,
  type ChangeProfileServicePlanRequest,
  type DecisionOutcome,
  type EidDeviceSwapRequest,
  type EidDeviceSwapResult,
  type EidDeviceSwapStatus,
  type OperatorDecision,
  type SagaOptions,
  type SagaStatus,
  type SagaStatusByOperation,
  type StoredBulkRequest,
  type ValidationIssue,
  type WorkflowType,
} from '../contracts/index.js';
import { canonicalJson } from '../contracts/json.js';
import type { OperationStore } from '../store/operations.js';
import {
  checkDevices,
  InvalidDevicesError,
  OperationConflictError,
  storeDevices,
  type CheckedDevices,
  type DeviceProgress,
  type DeviceSource,
} from './devices.js';

export * from '../contracts/index.js';
export {
  checkDevices,
  describeProblem,
  DeviceSourceError,
  InvalidDevicesError,
  OperationConflictError,
  results,
  type CheckedDevices,
  type DeviceProblem,
  type DeviceProgress,
  type DeviceSource,
  type ResultsOptions,
} from './devices.js';
/** Pass `dataConverter: dataConverterFor(PAYLOAD_ENCRYPTION_KEY)` to your Client when the worker encrypts payloads. */
export { dataConverterFor } from '../codec/index.js';
export {
  doctor,
  DOCTOR_CHECKS,
  type CheckResult,
  type CheckStatus,
  type DoctorConfig,
  type DoctorOptions,
} from './doctor.js';

/** Thrown before anything starts when the request breaks a documented rule. */
export class InvalidRequestError extends Error {
  override name = 'InvalidRequestError';
  constructor(readonly issues: ValidationIssue[]) {
    super(describeIssues(issues));
  }
}

export interface StartOptions {
  taskQueue?: string;
}

/** A saga's handle, with its `status` query typed. */
export type SagaHandle<Request, Result, Status> = WorkflowHandle<(request: Request) => Promise<Result>> & {
  status(): Promise<Status>;
};
export type EidDeviceSwapHandle = SagaHandle<EidDeviceSwapRequest, EidDeviceSwapResult, EidDeviceSwapStatus>;
export type ChangeDeviceIdentifierHandle = SagaHandle<
  ChangeDeviceIdentifierRequest,
  ChangeDeviceIdentifierResult,
  ChangeDeviceIdentifierStatus
>;
export type BulkHandle<Request> = SagaHandle<Request, BulkResult, BulkStatus> & {
  /**
   * Where one device stands, by any of its identifiers as `kind:id`; undefined when the saga has no such
   * device. Bulk sagas started before the operation store answer it; later ones keep their devices in the
   * store and refuse it with where to read them (`results()`, `euicc results`).
   */
  device(key: string): Promise<BulkDeviceStatus | undefined>;
};

/**
 * The `status` query, narrowed to the operations the caller expects. A saga answering for another operation
 * (a workflow id of another kind of saga) is an error; an answer without `operation` comes from a worker
 * that predates the field and is taken as it is.
 */
async function narrowedStatus<O extends keyof SagaStatusByOperation>(
  handle: WorkflowHandle,
  operations: readonly O[],
): Promise<SagaStatusByOperation[O]> {
  const status = await handle.query(statusQuery);
  const operation = (status as { operation?: string }).operation;
  if (operation !== undefined && !(operations as readonly string[]).includes(operation)) {
    throw new Error(
      `Workflow ${handle.workflowId} is a ${operation} saga, not ${operations.join(' or ')}; use the helpers for ${operation}`,
    );
  }
  return status as SagaStatusByOperation[O];
}

const BULK_OPERATIONS = [WORKFLOW_TYPES.changeProfileServicePlan, WORKFLOW_TYPES.activateDeviceProfiles] as const;

function bulkHandle<Request>(handle: WorkflowHandle): BulkHandle<Request> {
  return Object.assign(handle as BulkHandle<Request>, {
    status: () => narrowedStatus(handle, BULK_OPERATIONS),
    device: (key: string) => handle.query(bulkDeviceQuery, key),
  });
}

/**
 * Temporal refuses a workflow input above 2 MB (its default blob size limit); the check here says so in
 * words before anything starts. About 15,000 devices of a profile request fit.
 */
const MAX_INPUT_BYTES = 1_900_000;

/** Merges per-call options into the request's `options`. */
function withOptions<T extends { options?: object }>(request: T, options: object): T {
  return Object.keys(options).length > 0 ? { ...request, options: { ...request.options, ...options } } : request;
}

async function startSaga<H extends WorkflowHandle>(
  client: Client,
  type: WorkflowType,
  workflowId: string,
  body: unknown,
  taskQueue: string,
  status: (handle: WorkflowHandle) => () => Promise<unknown>,
): Promise<H> {
  let handle: WorkflowHandle;
  // What the Temporal UI shows of the saga: a one-line summary and the request without personal data.
  const shown = sagaSummary(type, body);
  try {
    handle = await client.workflow.start(type, {
      taskQueue,
      workflowId,
      args: [body],
      ...(shown ? { staticSummary: shown.summary, staticDetails: shown.details } : {}),
      // Running: return it. Completed: never run the same operation twice. Failed or cancelled: may start again.
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    handle = client.workflow.getHandle(workflowId);
  }
  return Object.assign(handle, { status: status(handle) }) as unknown as H;
}

function validated<T>(body: T, validate: (input: unknown) => ValidationIssue[]): T {
  const issues = validate(body);
  if (issues.length > 0) throw new InvalidRequestError(issues);
  return body;
}

/**
 * Starts an eidDeviceSwap saga (or finds the one already started for the same account and devices).
 * `options` is merged into the request's own `options` (timeouts, failure policy).
 */
export async function startEidDeviceSwap(
  client: Client,
  request: EidDeviceSwapRequest,
  options: SagaOptions & StartOptions = {},
): Promise<EidDeviceSwapHandle> {
  const { taskQueue = TASK_QUEUE, ...sagaOptions } = options;
  const body = validated(withOptions(request, sagaOptions), validateEidDeviceSwap);
  return startSaga(
    client,
    WORKFLOW_TYPES.eidDeviceSwap,
    workflowIds.eidDeviceSwap(body),
    body,
    taskQueue,
    (h) => () => narrowedStatus(h, [WORKFLOW_TYPES.eidDeviceSwap]),
  );
}

/** A handle to an existing swap by its workflow id. */
export function getEidDeviceSwap(client: Client, workflowId: string): EidDeviceSwapHandle {
  const handle = client.workflow.getHandle(workflowId);
  return Object.assign(handle as EidDeviceSwapHandle, {
    status: () => narrowedStatus(handle, [WORKFLOW_TYPES.eidDeviceSwap]),
  });
}

/**
 * Starts a changeDeviceIdentifier saga (or finds the one already started for the same change of the same
 * device). The page's body names no account; `accountName` (the account the worker logs in to) keys the
 * saga. `operationId` (default: a digest of the request) tells one change from another.
 */
export async function startChangeDeviceIdentifier(
  client: Client,
  accountName: string,
  request: ChangeDeviceIdentifierRequest,
  options: SagaOptions & StartOptions & { operationId?: string } = {},
): Promise<ChangeDeviceIdentifierHandle> {
  const { taskQueue = TASK_QUEUE, operationId, ...sagaOptions } = options;
  const body = validated(withOptions(request, sagaOptions), validateChangeDeviceIdentifier);
  const workflowId = workflowIds.changeDeviceIdentifier(accountName, body, operationId ?? requestDigest(body));
  // The page's body names no account: the saga gets it among its options (never sent to ThingSpace, and
  // not part of the id's digest, so a start of the same change finds the same saga).
  return startSaga(
    client,
    WORKFLOW_TYPES.changeDeviceIdentifier,
    workflowId,
    { ...body, options: { ...body.options, accountName } },
    taskQueue,
    (h) => () => narrowedStatus(h, [WORKFLOW_TYPES.changeDeviceIdentifier]),
  );
}

/** A handle to an existing identifier change by its workflow id. */
export function getChangeDeviceIdentifier(client: Client, workflowId: string): ChangeDeviceIdentifierHandle {
  const handle = client.workflow.getHandle(workflowId);
  return Object.assign(handle as ChangeDeviceIdentifierHandle, {
    status: () => narrowedStatus(handle, [WORKFLOW_TYPES.changeDeviceIdentifier]),
  });
}

export interface BulkStartOptions extends BulkOptions, StartOptions {
  /**
   * The caller's own id for the operation; a start with the same id finds the saga already started.
   * Default: a digest of the request (account, devices and every ThingSpace field).
   */
  operationId?: string;
}

/** A stable digest of the ThingSpace part of a request (key order does not matter). */
export function requestDigest(body: object): string {
  const { options: _options, ...thingspace } = body as { options?: unknown };
  return createHash('sha256').update(canonicalJson(thingspace)).digest('hex').slice(0, 16);
}

async function startBulk<Request extends ChangeProfileServicePlanRequest | ActivateDeviceProfilesRequest>(
  client: Client,
  operation: BulkOperation,
  request: Request,
  options: BulkStartOptions,
  validate: (input: unknown) => ValidationIssue[],
): Promise<BulkHandle<Request>> {
  const { taskQueue = TASK_QUEUE, operationId, ...bulkOptions } = options;
  const body = validated(withOptions(request, bulkOptions), validate);
  const bytes = Buffer.byteLength(JSON.stringify(body));
  if (bytes > MAX_INPUT_BYTES) {
    throw new InvalidRequestError([
      {
        field: 'devices',
        message: `the request is ${(bytes / 1e6).toFixed(1)} MB with ${body.devices.length} devices; Temporal takes at most 2 MB per workflow input — keep the devices in the operation store instead: startBulkOperation(…) or \`euicc start ${operation} --devices <file>\` (docs/operations.md#fleet-scale-bulk-operations)`,
      },
    ]);
  }
  const workflowId = workflowIds.bulk(operation, body.accountName, operationId ?? requestDigest(body));
  const handle = await startSaga<WorkflowHandle>(
    client,
    operation,
    workflowId,
    body,
    taskQueue,
    (h) => () => narrowedStatus(h, BULK_OPERATIONS),
  );
  return bulkHandle<Request>(handle);
}

/** Starts a changeProfileServicePlan saga (or finds the one already started for the same request). */
export async function startChangeProfileServicePlan(
  client: Client,
  request: ChangeProfileServicePlanRequest,
  options: BulkStartOptions = {},
): Promise<BulkHandle<ChangeProfileServicePlanRequest>> {
  return startBulk(client, WORKFLOW_TYPES.changeProfileServicePlan, request, options, validateChangeProfileServicePlan);
}

/** Starts an activateDeviceProfiles saga (or finds the one already started for the same request). */
export async function startActivateDeviceProfiles(
  client: Client,
  request: ActivateDeviceProfilesRequest,
  options: BulkStartOptions = {},
): Promise<BulkHandle<ActivateDeviceProfilesRequest>> {
  return startBulk(client, WORKFLOW_TYPES.activateDeviceProfiles, request, options, validateActivateDeviceProfiles);
}

type BulkRequestOf<O extends BulkOperation> = O extends 'changeProfileServicePlan'
  ? ChangeProfileServicePlanRequest
  : ActivateDeviceProfilesRequest;

/** The ThingSpace body of a bulk operation without its devices, which come apart (`DeviceSource`). */
export type BulkBody<O extends BulkOperation> = Omit<BulkRequestOf<O>, 'devices'>;

export interface StoredBulkStartOptions extends BulkStartOptions {
  /** Store invalid and repeated devices as `skipped` with their reason instead of refusing the whole set. */
  skipInvalid?: boolean;
  /** Called as the devices are checked (every 5,000) and stored (every chunk). */
  onProgress?: (progress: DeviceProgress) => void;
}

/** A bulk saga whose devices are in the operation store; its result is a BulkSummary. */
export type StoredBulkHandle<O extends BulkOperation> = SagaHandle<
  StoredBulkRequest<BulkRequestOf<O>>,
  BulkSummary,
  BulkStatus
> & {
  device(key: string): Promise<BulkDeviceStatus | undefined>;
  /** The store's key for the devices (the workflow id): `results(operations, operationId)`, `euicc results`. */
  operationId: string;
  /** Devices stored (skipped ones included), skipped, and whether this call stored them (false: found stored). */
  devices: { total: number; skipped: number; uploaded: boolean };
};

/**
 * Starts a bulk saga over any number of devices kept in the operation store (a million and more), or finds
 * the one already started. In order, before anything is started:
 * 1. the body (without devices) is validated, and every device is read and checked with the operation's
 *    rules — invalid or repeated devices refuse the whole set (InvalidDevicesError, naming each row) unless
 *    `skipInvalid`, which stores them as `skipped` with their reason;
 * 2. the workflow id `<operation>:<account>:<operationId>` is the store's operation id (default operationId:
 *    a digest of the body and the devices, so the same start finds the same operation);
 * 3. the operation is created in the store and its devices appended in chunks of 5,000, then sealed with
 *    their count and digest. An operation found sealed with the same devices is not uploaded again; one
 *    with another request or other devices is refused (OperationConflictError);
 * 4. the saga starts with the stored form `{...body, deviceSet: {operationId, count}, options}`, with the
 *    same reuse rules as the inline starts (a running or completed saga is returned, not started again).
 * `devices` may also be the result of `checkDevices` (to report problems before connecting anywhere).
 */
export async function startBulkOperation<O extends BulkOperation>(
  client: Client,
  operations: OperationStore,
  operation: O,
  body: BulkBody<O>,
  devices: DeviceSource | CheckedDevices,
  options: StoredBulkStartOptions = {},
): Promise<StoredBulkHandle<O>> {
  const { taskQueue = TASK_QUEUE, operationId, skipInvalid, onProgress, ...bulkOptions } = options;
  const request = validatedBody(operation, withOptions(body as BulkBody<O> & { options?: object }, bulkOptions));
  const checked = isChecked(devices)
    ? devices
    : await checkDevices(operation, devices, { skipInvalid: skipInvalid ?? false, ...(onProgress && { onProgress }) });
  if (checked.operation !== operation) {
    throw new Error(`the devices were checked for ${checked.operation}, not ${operation}`);
  }
  if (checked.problemCount > 0 && !checked.skipInvalid) throw new InvalidDevicesError(checked);
  if (checked.skipped === checked.total) {
    throw new InvalidRequestError([
      { field: 'devices', message: 'every device is invalid or repeated: nothing to do' },
    ]);
  }

  const digest = requestDigest(request);
  const key =
    operationId ?? createHash('sha256').update(digest).update(checked.devicesDigest).digest('hex').slice(0, 16);
  const workflowId = workflowIds.bulk(operation, request.accountName, key);
  const existing = await operations.getOperation(workflowId);
  if (existing && existing.digest !== digest) {
    throw new OperationConflictError(
      `operation ${workflowId} was started with another request (other ThingSpace fields); use another operation id`,
    );
  }
  const sealed = existing?.devicesDigest !== undefined;
  if (sealed && (existing.devicesDigest !== checked.devicesDigest || existing.total !== checked.total)) {
    throw new OperationConflictError(
      `operation ${workflowId} already holds ${existing.total ?? '?'} other devices; use another operation id`,
    );
  }
  if (!sealed) {
    if (!existing) {
      await operations.createOperation({
        operationId: workflowId,
        operation,
        accountName: request.accountName,
        digest,
      });
    }
    await storeDevices(operations, workflowId, checked, {
      resume: existing !== undefined,
      ...(onProgress && { onProgress }),
    });
  }

  const stored = { ...request, deviceSet: { operationId: workflowId, count: checked.total } };
  const handle = await startSaga<WorkflowHandle>(
    client,
    operation,
    workflowId,
    stored,
    taskQueue,
    (h) => () => narrowedStatus(h, BULK_OPERATIONS),
  );
  return Object.assign(bulkHandle(handle), {
    operationId: workflowId,
    devices: { total: checked.total, skipped: checked.skipped, uploaded: !sealed },
  }) as unknown as StoredBulkHandle<O>;
}

function isChecked(devices: DeviceSource | CheckedDevices): devices is CheckedDevices {
  return typeof devices === 'object' && devices !== null && 'devicesDigest' in devices;
}

/**
 * The body of a bulk request without its devices, by the operation's rules (every rule but those on
 * `devices`, which `checkDevices` applies row by row).
 */
export function validateBulkBody(operation: BulkOperation, body: unknown): ValidationIssue[] {
  if (typeof body === 'object' && body !== null && ('devices' in body || 'deviceSet' in body)) {
    return [{ field: 'devices', message: 'give the devices apart from the body (a file, an array or an iterable)' }];
  }
  const validate =
    operation === WORKFLOW_TYPES.changeProfileServicePlan
      ? validateChangeProfileServicePlan
      : validateActivateDeviceProfiles;
  const withDevices = typeof body === 'object' && body !== null ? { ...body, devices: [] } : body;
  return validate(withDevices).filter((issue) => issue.field !== 'devices');
}

function validatedBody<T extends { accountName: string }>(operation: BulkOperation, body: T): T {
  return validated(body, (input) => validateBulkBody(operation, input));
}

/** A handle to an existing bulk saga by its workflow id. */
export function getBulkOperation<Request = unknown>(client: Client, workflowId: string): BulkHandle<Request> {
  return bulkHandle<Request>(client.workflow.getHandle(workflowId));
}

/**
 * Decides for a saga held by failure policy `hold` (update `decide`; the CLI equivalent is `temporal
 * workflow update execute --workflow-id <id> --name decide --input '{"decision":"retry","operator":"jane"}'`).
 * Answers `{ acted, phase }` once the saga has taken the decision. A decision the saga cannot take is
 * refused with the reason (`DecisionRefusedError`) and leaves no trace in its history: it is not waiting for
 * one, another is being taken, the decision is unknown, `compensate` on a bulk saga, or no `operator`.
 */
export async function decide(client: Client, workflowId: string, decision: OperatorDecision): Promise<DecisionOutcome> {
  try {
    return await client.workflow.getHandle(workflowId).executeUpdate(operatorDecisionUpdate, { args: [decision] });
  } catch (err) {
    const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.message.startsWith('Decision refused: ')) {
      throw new DecisionRefusedError(cause.message.slice('Decision refused: '.length));
    }
    throw err;
  }
}

/** A decision the saga refused, with why (see `decide`). */
export class DecisionRefusedError extends Error {
  constructor(readonly reason: string) {
    super(`Decision refused: ${reason}`);
    this.name = 'DecisionRefusedError';
  }
}

/**
 * The same decision as signal `operatorDecision`, kept for compatibility: a signal cannot answer or be
 * refused. The saga acts on the first decision it receives while awaiting one and ignores the rest; read
 * `status().decisions` to see which one it acted on. Prefer `decide`.
 */
export async function sendOperatorDecision(
  client: Client,
  workflowId: string,
  decision: OperatorDecision,
): Promise<void> {
  await client.workflow.getHandle(workflowId).signal(operatorDecisionSignal, decision);
}

/** Where a saga stands, whatever its operation: its execution as Temporal describes it, and its `status` query. */
export interface SagaView {
  workflowId: string;
  runId: string;
  /** The workflow type: the operation (`eidDeviceSwap`, …). */
  type: string;
  /** Temporal's execution status: `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLED`, `TERMINATED`, `TIMED_OUT`, … */
  execution: string;
  startTime: string;
  closeTime?: string;
  /** The saga's `status` query; absent when it could not be asked (`statusError` says why). */
  status?: SagaStatus;
  statusError?: string;
  /** A saga that ended failed: its failure type (a FailureType) and message. */
  failure?: { type?: string; message: string };
}

/** How long a `status` query may take: a closed saga is answered by a worker replaying its history. */
const STATUS_QUERY_MS = 10_000;

/**
 * Where any saga stands by its workflow id (`euicc status`): Temporal's description of the run and the saga's
 * `status` query, and for a saga that ended failed, its failure. Throws Temporal's WorkflowNotFoundError for
 * an unknown id.
 */
export async function statusOf(client: Client, workflowId: string): Promise<SagaView> {
  const handle = client.workflow.getHandle(workflowId);
  const described = await handle.describe();
  const view: SagaView = {
    workflowId,
    runId: described.runId,
    type: described.type,
    execution: described.status.name,
    startTime: described.startTime.toISOString(),
    ...(described.closeTime && { closeTime: described.closeTime.toISOString() }),
  };
  try {
    view.status = await client.connection.withDeadline(Date.now() + STATUS_QUERY_MS, () => handle.query(statusQuery));
  } catch (err) {
    view.statusError = (err as Error).message;
  }
  if (view.execution === 'FAILED') {
    try {
      await handle.result();
    } catch (err) {
      const cause = err instanceof WorkflowFailedError ? err.cause : err;
      view.failure = {
        ...(cause instanceof ApplicationFailure && cause.type ? { type: cause.type } : {}),
        message: (cause as Error).message,
      };
    }
  }
  return view;
}

/** True once a saga will not move without someone: it ended, or it holds for an operator decision. */
export function sagaSettled(view: SagaView): boolean {
  return view.execution !== 'RUNNING' || view.status?.phase === 'awaitingDecision';
}

export interface WatchOptions {
  /** Between two status reads, in ms; default 500. */
  intervalMs?: number;
  /** Stops watching (resolves with the last view) when aborted. */
  signal?: AbortSignal;
}

/**
 * Follows a saga until it ends or holds for a decision, calling `onView` with each new read, and resolves with
 * the last one. Reads are sequential: when it resolves, no call is in flight, so the caller may close the
 * connection at once.
 */
export async function watchSaga(
  client: Client,
  workflowId: string,
  onView: (view: SagaView) => void,
  options: WatchOptions = {},
): Promise<SagaView> {
  const intervalMs = options.intervalMs ?? 500;
  for (;;) {
    const view = await statusOf(client, workflowId);
    onView(view);
    if (sagaSettled(view) || options.signal?.aborted) return view;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, intervalMs);
      options.signal?.addEventListener('abort', done, { once: true });
    });
  }
}
