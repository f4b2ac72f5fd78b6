/**
 * The bulk sagas with their devices in the store (store/operations.ts), at any size: a coordinator that
 * keeps only counters. It cuts the pending devices into position ranges, starts a `profileShard` per
 * range (a few at a time), and each shard loads its range, runs it, and writes every device's outcome to
 * the store. Progress is read from the store's counts, never pushed by the shards, and the coordinator
 * continues as new every SHARDS_PER_RUN shards, so no history grows with the number of devices.
 *
 * A saga started with its devices inline stores them as its first step and then runs the same way; its
 * result still lists every device, read back from the store.
 */
import {
  condition,
  continueAsNew,
  executeChild,
  isCancellation,
  log,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  bulkDeviceQuery,
  FailureType,
  isStoredBulkRequest,
  statusQuery,
  type ActivateDeviceProfilesInput,
  type BulkContinuation,
  type BulkCounts,
  type BulkOperation,
  type BulkResult,
  type BulkStatus,
  type BulkSummary,
  type ChangeProfileServicePlanInput,
  type ProfileShardInput,
  type StoredShardResult,
  type ValidationIssue,
} from '../contracts/index.js';
import { localOperationActivities, operationActivities, stepTimeoutOf } from './saga/activities.js';
import { OperatorDecisions } from './saga/decisions.js';
import { invalidRequest, sagaFailure, shardFailureReason } from './saga/failures.js';
import { SagaPhase, sagaTags } from './saga/phase.js';
import { profileShard } from './profile-shard.js';

/** Shards started per run before the coordinator continues as new (about 8 history events each). */
export const SHARDS_PER_RUN = 50;
/** A run continues as new past this many events, whatever the shard count (the limit asked is 2,000). */
const MAX_RUN_EVENTS = 1_500;
/** How often the status and the UI's details are refreshed from the store's counts while shards run. */
const REFRESH_INTERVAL = '30 seconds';
export const STORED_SHARD_SIZE = 1_000;
export const STORED_SHARD_CONCURRENCY = 4;

type BulkInput = ChangeProfileServicePlanInput | ActivateDeviceProfilesInput;

const zero = (total: number): BulkCounts => ({
  total,
  succeeded: 0,
  failed: 0,
  noAnswer: 0,
  pending: total,
  warnings: 0,
});

/** The store's counts of an operation's devices, by state. */
interface DeviceCounts {
  total: number;
  pending: number;
  succeeded: number;
  failed: number;
  noAnswer: number;
  skipped: number;
}

function bulkCounts(c: DeviceCounts): BulkCounts {
  return {
    total: c.total,
    succeeded: c.succeeded,
    failed: c.failed,
    noAnswer: c.noAnswer,
    pending: c.pending,
    warnings: 0,
    ...(c.skipped > 0 ? { skipped: c.skipped } : {}),
  };
}

/** The request's validation: for the stored form every field but the devices, which were checked row by row. */
function issuesOf(input: BulkInput, validate: (input: unknown) => ValidationIssue[]): ValidationIssue[] {
  if (!isStoredBulkRequest(input)) return validate(input);
  const { deviceSet, continued: _continued, ...body } = input;
  const issues = validate({ ...body, devices: [] }).filter((issue) => issue.field !== 'devices');
  if (!Number.isInteger(deviceSet.count) || deviceSet.count < 1) {
    issues.push({
      field: 'deviceSet.count',
      message: 'deviceSet.count must be the number of devices stored (1 or more)',
    });
  }
  return issues;
}

export async function runStoredBulk(
  operation: BulkOperation,
  input: BulkInput,
  validate: (input: unknown) => ValidationIssue[],
): Promise<BulkResult | BulkSummary> {
  const info = workflowInfo();
  const stored = isStoredBulkRequest(input);
  const carried: BulkContinuation | undefined = stored ? input.continued : undefined;
  const phase = new SagaPhase<BulkStatus['phase']>(carried ? 'running' : 'validating');
  const decisions = new OperatorDecisions(
    (d) => d.decision !== 'compensate',
    () => phase.value,
  );
  decisions.received.push(...(carried?.decisions ?? []));
  const total = stored ? input.deviceSet.count : Array.isArray(input?.devices) ? input.devices.length : 0;
  let counts = zero(total);
  let running = 0;
  const state: BulkContinuation = carried ?? {
    inline: !stored,
    round: 0,
    ranges: [],
    shardsInRound: 0,
    shardsDone: 0,
    requests: 0,
    callbacksReceived: 0,
    duplicatesIgnored: 0,
    decisions: [],
    runs: 1,
  };

  const describe = () => {
    const answered = counts.succeeded + counts.failed;
    setCurrentDetails(
      `**${operation}**, round ${state.round + 1}: ${answered} of ${total} devices answered — ` +
        `${counts.succeeded} succeeded, ${counts.failed} failed, ${counts.noAnswer} no answer, ` +
        `${counts.pending} pending, ${counts.skipped ?? 0} skipped. ` +
        `Shards: ${running} running, ${state.shardsDone} of ${state.shardsInRound} done. Run ${state.runs}.`,
    );
  };
  // A million devices do not fit in a workflow: each device's state is in the store, not in this saga.
  setHandler(bulkDeviceQuery, () => {
    throw new Error(
      `this bulk saga keeps its devices in the operation store: read them with \`euicc results ${info.workflowId}\` ` +
        "or the client's results(); a running shard answers the device query for its own devices",
    );
  });
  setHandler(statusQuery, (): BulkStatus => {
    const awaiting = decisions.awaiting;
    return {
      phase: phase.value,
      operation,
      counts,
      shards: { total: state.shardsInRound, running, completed: state.shardsDone, round: state.round },
      callbacksReceived: state.callbacksReceived,
      duplicatesIgnored: state.duplicatesIgnored,
      ...(awaiting
        ? { awaitingDecision: { failed: counts.failed, noAnswer: counts.noAnswer, since: awaiting.since } }
        : {}),
      ...(decisions.received.length > 0 ? { decisions: decisions.received } : {}),
    };
  });

  // One upsert with the phase (search attributes are set again in each run).
  const account = typeof input?.accountName === 'string' ? input.accountName : undefined;
  phase.stage(sagaTags({ operation, ...(account !== undefined ? { account } : {}) }));
  if (!carried) {
    const issues = issuesOf(input, validate);
    if (issues.length > 0) {
      phase.set('failed');
      throw invalidRequest(issues);
    }
  }
  const { options } = input;
  const body = bodyOf(input);
  const operationId = stored ? input.deviceSet.operationId : info.workflowId;
  const shardSize = options?.shardSize ?? STORED_SHARD_SIZE;
  const concurrency = options?.shardConcurrency ?? STORED_SHARD_CONCURRENCY;
  const stepTimeout = stepTimeoutOf(options);
  const policy = options?.failurePolicy ?? 'hold';
  const refresh = async () => {
    counts = bulkCounts(await localOperationActivities.operationCounts({ operationId }));
    describe();
  };

  if (!carried) {
    if (!stored) {
      await operationActivities.storeInlineDevices({
        operationId,
        operation,
        accountName: input.accountName,
        digest: info.workflowId,
        devices: input.devices,
      });
    }
    let plan;
    try {
      plan = await operationActivities.planRound({ operationId, round: 0, shardSize, retry: false });
    } catch (err) {
      // No such device set in the store: the request is invalid.
      phase.set('failed');
      throw sagaFailure(err);
    }
    Object.assign(state, { ranges: plan.ranges, shardsInRound: plan.ranges.length, shardsDone: 0 });
  }
  phase.set('running');
  await refresh();

  /** The run's share of the round; true when shards are left for the next run. */
  const runShards = async (): Promise<boolean> => {
    let started = 0;
    const rotate = () =>
      started >= SHARDS_PER_RUN ||
      workflowInfo().continueAsNewSuggested ||
      workflowInfo().historyLength > MAX_RUN_EVENTS;
    const lane = async () => {
      while (state.ranges.length > 0 && !rotate()) {
        const [from, to] = state.ranges.shift() as [number, number];
        const shard = `${info.runId.slice(0, 8)}-r${state.round}-s${state.shardsInRound - state.ranges.length - 1}`;
        started += 1;
        running += 1;
        const shardInput: ProfileShardInput = {
          shard,
          operation,
          body,
          devices: [],
          stepTimeout,
          evidence: true,
          ...(state.maxRequestDevices !== undefined ? { maxRequestDevices: state.maxRequestDevices } : {}),
          deviceSet: { operationId, from, to, round: state.round },
        };
        try {
          const result = (await executeChild(profileShard, {
            workflowId: `${info.workflowId}/${shard}`,
            args: [shardInput],
          })) as StoredShardResult;
          state.requests += result.requests;
          state.callbacksReceived += result.callbacksReceived;
          state.duplicatesIgnored += result.duplicatesIgnored;
          if (result.requestSize !== undefined) {
            state.maxRequestDevices = Math.min(state.maxRequestDevices ?? result.requestSize, result.requestSize);
          }
        } catch (err) {
          if (isCancellation(err)) throw err;
          // A shard that failed as a whole (not a device): its devices still pending fail with its reason.
          const { code, message } = shardFailureReason(err);
          log.error('Shard failed', { shard, error: message });
          await operationActivities.failPendingDevices({ operationId, from, to, round: state.round, code, message });
        }
        running -= 1;
        state.shardsDone += 1;
      }
    };
    let lanesDone = false;
    const refreshing = (async () => {
      while (!lanesDone) {
        if (await condition(() => lanesDone, REFRESH_INTERVAL)) break;
        await refresh();
      }
    })();
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, state.ranges.length)) }, lane));
    lanesDone = true;
    await refreshing;
    return state.ranges.length > 0;
  };

  for (;;) {
    if (await runShards()) {
      state.decisions = decisions.received;
      state.runs += 1;
      await continueAsNew<(input: BulkInput) => Promise<BulkResult | BulkSummary>>({
        ...body,
        ...(options ? { options } : {}),
        deviceSet: { operationId, count: total },
        continued: state,
      } as BulkInput);
    }
    await refresh();
    const retryable = counts.failed + counts.noAnswer;
    if (retryable === 0 || policy === 'fail') break;
    phase.set('awaitingDecision');
    const decision = await decisions.await(
      { type: FailureType.StepFailed, message: `${retryable} of ${total} devices failed or got no answer` },
      () => false,
    );
    if (decision?.decision !== 'retry') {
      return finish({
        abandoned: {
          ...(decision?.reason ? { reason: decision.reason } : {}),
          ...(decision?.operator ? { operator: decision.operator } : {}),
        },
      });
    }
    state.round += 1;
    phase.set('running');
    log.info('Resubmitting the devices that failed or got no answer', { devices: retryable, round: state.round });
    const plan = await operationActivities.planRound({ operationId, round: state.round, shardSize, retry: true });
    Object.assign(state, { ranges: plan.ranges, shardsInRound: plan.ranges.length, shardsDone: 0 });
  }
  return finish({});

  async function finish(end: { abandoned?: BulkResult['abandoned'] }): Promise<BulkResult | BulkSummary> {
    await operationActivities.closeOperation({ operationId });
    phase.set('completed');
    describe();
    const common = {
      operation,
      accountName: body.accountName,
      operationId,
      counts,
      resubmissions: state.round,
      ...(end.abandoned ? { abandoned: end.abandoned } : {}),
      completedAt: new Date().toISOString(),
    };
    if (!state.inline) return { ...common, requests: state.requests, runs: state.runs };
    const { devices, faults, addressUpdateFailed, requestIds } = await operationActivities.readInlineResults({
      operationId,
    });
    return {
      ...common,
      devices,
      faults,
      requestIds,
      ...(addressUpdateFailed > 0 ? { addressUpdateFailed } : {}),
    };
  }
}

/** The ThingSpace body without devices, stored form or options. */
function bodyOf(input: BulkInput): ProfileShardInput['body'] {
  const { options: _options, ...rest } = input as BulkInput & {
    devices?: unknown;
    deviceSet?: unknown;
    continued?: unknown;
  };
  const { devices: _devices, deviceSet: _set, continued: _continued, ...body } = rest;
  return body as ProfileShardInput['body'];
}
