/**
 * The bulk sagas, changeProfileServicePlan and activateDeviceProfiles (DESIGN.md §6): any number of
 * devices, split into shards (default 1,000) run as `profileShard` child workflows — one ThingSpace
 * request each, a few at a time, activations paced under ThingSpace's 100 requests a minute. The saga
 * aggregates each device's outcome (succeeded, failed with ThingSpace's reason, or no answer), shows
 * progress in the `status` query and the UI, and, under policy `hold`, resubmits only the devices that
 * failed or got no answer when an operator says `retry`.
 */
import {
  executeChild,
  isCancellation,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  ACTIVATION_INTERVAL_MS,
  bulkDeviceQuery,
  isStoredBulkRequest,
  type ActivateDeviceProfilesInput,
  type BulkSummary,
  type ChangeProfileServicePlanInput,
  deviceKey,
  FailureType,
  shardProgressSignal,
  FaultTable,
  statusQuery,
  validateActivateDeviceProfiles,
  validateChangeProfileServicePlan,
  WORKFLOW_TYPES,
  type ActivateDeviceProfilesRequest,
  type BulkCounts,
  type BulkDeviceStatus,
  type BulkFault,
  type BulkDeviceResult,
  type BulkOperation,
  type BulkPhase,
  type BulkResult,
  type BulkStatus,
  type ChangeProfileServicePlanRequest,
  type ProfileShardInput,
  type ProfileShardResult,
  type ValidationIssue,
} from '../contracts/index.js';
import { EVIDENCE_PATCH, reconcileActivities, stepTimeoutOf } from './saga/activities.js';
import { OperatorDecisions } from './saga/decisions.js';
import { invalidRequest, shardFailureReason } from './saga/failures.js';
import { SagaPhase, sagaTags } from './saga/phase.js';
import { profileShard } from './profile-shard.js';
import { runStoredBulk } from './bulk-coordinator.js';

export const DEFAULT_SHARD_SIZE = 1_000;
export const DEFAULT_SHARD_CONCURRENCY = 4;

/**
 * Sagas from this patch on keep their devices in the store and run as runStoredBulk (bulk-coordinator.ts);
 * a saga with its devices inline stores them first. Sagas started before it run as they did (runBulk).
 */
export const STORED_DEVICES_PATCH = 'stored-devices';

export async function changeProfileServicePlan(
  request: ChangeProfileServicePlanInput,
): Promise<BulkResult | BulkSummary> {
  const operation = WORKFLOW_TYPES.changeProfileServicePlan;
  if (isStoredBulkRequest(request) || patched(STORED_DEVICES_PATCH)) {
    return runStoredBulk(operation, request, validateChangeProfileServicePlan);
  }
  return runBulk(operation, request, validateChangeProfileServicePlan);
}

export async function activateDeviceProfiles(request: ActivateDeviceProfilesInput): Promise<BulkResult | BulkSummary> {
  const operation = WORKFLOW_TYPES.activateDeviceProfiles;
  if (isStoredBulkRequest(request) || patched(STORED_DEVICES_PATCH)) {
    return runStoredBulk(operation, request, validateActivateDeviceProfiles);
  }
  return runBulk(operation, request, validateActivateDeviceProfiles);
}

type Final = 'pending' | BulkDeviceResult['outcome'];

const emptyCounts = (total: number): BulkCounts => ({
  total,
  succeeded: 0,
  failed: 0,
  noAnswer: 0,
  pending: total,
  warnings: 0,
});

function chunk<T>(items: T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/**
 * The positions a shard's fault names. Shards of the first release wrote one fault per device
 * (`{ index, code, message }`); later ones write each reason once with `indices`. A saga still running
 * across the upgrade reads results of both shapes.
 */
export function faultPositions(fault: ProfileShardResult['faults'][number] | LegacyShardFault): number[] {
  if ('indices' in fault && Array.isArray(fault.indices)) return fault.indices;
  return 'index' in fault && typeof fault.index === 'number' ? [fault.index] : [];
}

/** A fault in a shard result of the first release. */
interface LegacyShardFault {
  index: number;
  code: string;
  message: string;
}

async function runBulk(
  operation: BulkOperation,
  request: ChangeProfileServicePlanRequest | ActivateDeviceProfilesRequest,
  validate: (input: unknown) => ValidationIssue[],
): Promise<BulkResult> {
  const info = workflowInfo();
  /** Runs started before the patch keep their behaviour (see EVIDENCE_PATCH and ProfileShardInput.evidence). */
  const needsEvidence = patched(EVIDENCE_PATCH);
  /** Devices per request once ThingSpace refused a larger one: remembered for the rest of the operation. */
  let maxRequestDevices: number | undefined;
  /** Failure callbacks of unknown request ids, per device still open: the device list decides them. */
  const unverified = new Map<number, { code: string; message: string }>();
  let addressUpdateFailed = 0;
  const phase = new SagaPhase<BulkPhase>('validating');
  const total = Array.isArray(request?.devices) ? request.devices.length : 0;
  const results: BulkDeviceResult[] = [];
  const finals: Final[] = [];
  /** Counts the running shards last reported; their devices are `pending` in `finals`. */
  const live = new Map<string, BulkCounts>();
  const requestIds: string[] = [];
  /** Failure reasons, each once; devices refer to them by position. */
  const faultTable = new FaultTable();
  const { faults } = faultTable;
  let round = 0;
  let shardsInRound = 0;
  let shardsDone = 0;
  let callbacksReceived = 0;
  let duplicatesIgnored = 0;
  let abandonedBy: BulkResult['abandoned'];
  // `compensate` is not offered for profiles (no documented undo): such a decision is recorded, not acted on.
  const decisions = new OperatorDecisions(
    (d) => d.decision !== 'compensate',
    () => phase.value,
  );

  const counts = (): BulkCounts => {
    const c = emptyCounts(total);
    c.pending = 0;
    for (const f of finals) c[f] += 1;
    for (const shard of live.values()) {
      c.succeeded += shard.succeeded;
      c.failed += shard.failed;
      c.warnings += shard.warnings;
      c.pending -= shard.succeeded + shard.failed;
    }
    return c;
  };
  const describe = () => {
    const c = counts();
    const answered = c.succeeded + c.failed;
    setCurrentDetails(
      `**${operation}**, round ${round + 1}: ${answered} of ${total} devices answered — ` +
        `${c.succeeded} succeeded, ${c.failed} failed, ${c.noAnswer} no answer, ${c.pending} pending (${c.warnings} with a warning). ` +
        `Shards: ${live.size} running, ${shardsDone} of ${shardsInRound} done.`,
    );
  };

  setHandler(shardProgressSignal, ({ shard, counts: reported }) => {
    if (!live.has(shard)) return;
    live.set(shard, reported);
    describe();
  });
  /** Each device's position in the request, by any of its identifiers. */
  const indexOf = new Map<string, number>();
  /** The shard each device is in while its shard runs. */
  const runningShard = new Map<number, string>();
  setHandler(bulkDeviceQuery, (key): BulkDeviceStatus | undefined => {
    const index = indexOf.get(String(key).toLowerCase());
    const result = index === undefined ? undefined : results[index];
    if (index === undefined || !result) return undefined;
    const shard = runningShard.get(index);
    if (shard) return { device: result.device, state: 'pending', shard: `${info.workflowId}/${shard}` };
    const final = finals[index] as Final;
    return {
      device: result.device,
      state: final,
      ...(result.faultId !== undefined && final === 'failed' ? { fault: faults[result.faultId] } : {}),
      ...(result.confirmedBy ? { confirmedBy: result.confirmedBy } : {}),
    };
  });
  setHandler(statusQuery, (): BulkStatus => {
    const failed = finals.filter((f) => f === 'failed').length;
    const noAnswer = finals.filter((f) => f === 'noAnswer').length;
    return {
      phase: phase.value,
      operation,
      counts: counts(),
      shards: { total: shardsInRound, running: live.size, completed: shardsDone, round },
      callbacksReceived,
      duplicatesIgnored,
      ...(decisions.awaiting ? { awaitingDecision: { failed, noAnswer, since: decisions.awaiting.since } } : {}),
      ...(decisions.received.length > 0 ? { decisions: decisions.received } : {}),
    };
  });

  upsertSearchAttributes(
    sagaTags({ operation, account: typeof request?.accountName === 'string' ? request.accountName : undefined }),
  );
  const issues = validate(request);
  if (issues.length > 0) {
    phase.set('failed');
    throw invalidRequest(issues);
  }

  const { devices, options, ...rest } = request;
  const shardSize = options?.shardSize ?? DEFAULT_SHARD_SIZE;
  const concurrency = options?.shardConcurrency ?? DEFAULT_SHARD_CONCURRENCY;
  const stepTimeout = stepTimeoutOf(options);
  const policy = options?.failurePolicy ?? 'hold';
  for (const [index, device] of devices.entries()) {
    for (const id of device.deviceIds) indexOf.set(deviceKey(id), index);
    const first = device.deviceIds[0];
    results.push({ device: first ? deviceKey(first) : 'none', outcome: 'noAnswer' });
    finals.push('pending');
  }
  let nextActivationAt = 0;

  /** Waits for the next slot under ThingSpace's activation rate limit. */
  const pace = async () => {
    if (operation !== 'activateDeviceProfiles') return;
    const now = Date.now();
    const at = Math.max(now, nextActivationAt);
    nextActivationAt = at + ACTIVATION_INTERVAL_MS;
    if (at > now) await sleep(at - now);
  };

  const faultIdOf = (fault: BulkFault): number => faultTable.idOf(fault);

  const merge = (indices: number[], outcome: ProfileShardResult) => {
    if (outcome.requestIds) requestIds.push(...outcome.requestIds);
    else if (outcome.requestId) requestIds.push(outcome.requestId);
    if (outcome.requestSize !== undefined) {
      maxRequestDevices = Math.min(maxRequestDevices ?? outcome.requestSize, outcome.requestSize);
    }
    for (const { code, message, indices: open } of outcome.unverified ?? []) {
      for (const i of open) unverified.set(indices[i] as number, { code, message });
    }
    callbacksReceived += outcome.callbacksReceived;
    duplicatesIgnored += outcome.duplicatesIgnored;
    const withRequest = outcome.requestId ? { requestId: outcome.requestId } : {};
    const faultOf = new Map<number, number>();
    for (const fault of outcome.faults) {
      const id = faultIdOf({ code: fault.code, message: fault.message, ...withRequest });
      for (const i of faultPositions(fault)) faultOf.set(i, id);
    }
    indices.forEach((index, i) => {
      const device = (results[index] as BulkDeviceResult).device;
      const letter = outcome.outcomes[i];
      let result: BulkDeviceResult;
      if (letter === 's') result = { device, outcome: 'succeeded' };
      else if (letter === 'r') result = { device, outcome: 'succeeded', confirmedBy: 'reconciliation' };
      else if (letter === 'f') {
        const faultId = faultOf.get(i) ?? faultIdOf({ code: 'unknown', message: 'Failed', ...withRequest });
        result = { device, outcome: 'failed', faultId };
      } else result = { device, outcome: 'noAnswer' };
      results[index] = result;
      finals[index] = result.outcome;
    });
    for (const { code, message, indices: failed } of outcome.addressFaults ?? []) {
      const faultId = faultIdOf({ code, message, ...withRequest });
      for (const i of failed) {
        const result = results[indices[i] as number] as BulkDeviceResult;
        result.addressUpdateFaultId = faultId;
        addressUpdateFailed += 1;
      }
    }
  };

  /**
   * Evidence sagas read the device list once per round, for every device still without an answer; a
   * device it does not show, with a failure callback of an unknown request id, fails for that reason.
   */
  const reconcileRound = async (indices: number[]) => {
    const open = indices.filter((i) => finals[i] === 'noAnswer');
    if (open.length === 0) return;
    const servicePlan = 'servicePlan' in rest && typeof rest.servicePlan === 'string' ? rest.servicePlan : undefined;
    let confirmed: number[] = [];
    try {
      ({ confirmed } = await reconcileActivities.reconcileBulkOperation({
        operation,
        accountName: request.accountName,
        ...(servicePlan ? { servicePlan } : {}),
        devices: open.map((i) => (devices[i] as (typeof devices)[number]).deviceIds),
      }));
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn('Reconciliation from the device list failed', { error: String(err) });
    }
    const seen = new Set(confirmed.map((position) => open[position]));
    for (const i of open) {
      const result = results[i] as BulkDeviceResult;
      const reported = unverified.get(i);
      if (seen.has(i)) {
        results[i] = { device: result.device, outcome: 'succeeded', confirmedBy: 'reconciliation' };
      } else if (reported) {
        results[i] = { device: result.device, outcome: 'failed', faultId: faultIdOf(reported) };
      } else continue;
      finals[i] = (results[i] as BulkDeviceResult).outcome;
    }
  };

  /** Runs one round: the given devices in shards, `concurrency` at a time. */
  const runRound = async (indices: number[]) => {
    for (const i of indices) {
      finals[i] = 'pending';
      unverified.delete(i);
    }
    const shards = chunk(indices, shardSize);
    shardsInRound = shards.length;
    shardsDone = 0;
    let next = 0;
    const lane = async () => {
      while (next < shards.length) {
        const number = next++;
        const members = shards[number] as number[];
        const shard = `r${round}-s${number}`;
        await pace();
        live.set(shard, emptyCounts(members.length));
        for (const i of members) runningShard.set(i, shard);
        describe();
        const input: ProfileShardInput = {
          shard,
          operation,
          body: rest,
          devices: members.map((i) => devices[i] as (typeof devices)[number]),
          stepTimeout,
          ...(needsEvidence ? { evidence: true as const } : {}),
          ...(needsEvidence && maxRequestDevices !== undefined ? { maxRequestDevices } : {}),
        };
        try {
          merge(
            members,
            (await executeChild(profileShard, {
              workflowId: `${info.workflowId}/${shard}`,
              args: [input],
            })) as ProfileShardResult,
          );
        } catch (err) {
          // A cancelled saga ends cancelled, not completed with every device failed.
          if (isCancellation(err)) throw err;
          // A shard that failed as a whole (not a device): its devices fail with its reason.
          const { code, message } = shardFailureReason(err);
          log.error('Shard failed', { shard, error: message });
          const faultId = faultIdOf({ code, message });
          for (const i of members) {
            results[i] = { device: (results[i] as BulkDeviceResult).device, outcome: 'failed', faultId };
            finals[i] = 'failed';
          }
        }
        live.delete(shard);
        for (const i of members) runningShard.delete(i);
        shardsDone += 1;
        describe();
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, shards.length) }, lane));
    if (needsEvidence) await reconcileRound(indices);
  };

  phase.set('running');
  await runRound(devices.map((_, i) => i));
  for (;;) {
    const retryable = finals.flatMap((f, i) => (f === 'failed' || f === 'noAnswer' ? [i] : []));
    if (retryable.length === 0 || policy === 'fail') break;
    phase.set('awaitingDecision');
    const failure = {
      type: FailureType.StepFailed,
      message: `${retryable.length} of ${total} devices failed or got no answer`,
    };
    const decision = await decisions.await(failure, () => false);
    if (decision?.decision !== 'retry') {
      abandonedBy = {
        ...(decision?.reason ? { reason: decision.reason } : {}),
        ...(decision?.operator ? { operator: decision.operator } : {}),
      };
      break;
    }
    round += 1;
    phase.set('running');
    log.info('Resubmitting the devices that failed or got no answer', { devices: retryable.length, round });
    await runRound(retryable);
  }

  phase.set('completed');
  describe();
  return {
    operation,
    accountName: request.accountName,
    counts: counts(),
    devices: results,
    requestIds,
    faults,
    resubmissions: round,
    ...(addressUpdateFailed > 0 ? { addressUpdateFailed } : {}),
    ...(abandonedBy ? { abandoned: abandonedBy } : {}),
    completedAt: new Date().toISOString(),
  };
}
