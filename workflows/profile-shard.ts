/**
 * One shard of a bulk saga (DESIGN.md §6): a child workflow that claims its devices, sends ONE ThingSpace
 * request for them, and collects the one DeviceProfileService callback per profile that follows. Each
 * device ends `succeeded`, `failed` (with ThingSpace's reason) or `noAnswer`. Its own history holds only
 * its shard's callbacks, so no history comes near Temporal's limits however many devices the saga has.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  bulkDeviceQuery,
  deviceKey,
  FailureType,
  PROFILE_SHARD_WORKFLOW,
  searchAttributes,
  shardProgressSignal,
  thingspaceCallbackSignal,
  type BulkCounts,
  type BulkDeviceStatus,
  type BulkOperation,
  type CallbackEvent,
  type ProfileDevice,
} from '../contracts/index.js';
import { msToNumber } from '@temporalio/common';
import type { ProfileSubmission } from '../activities/index.js';
import {
  CallbackLedger,
  sagaFailure,
  storeActivities,
  submitActivities,
  submitOrUnknown,
  thingspaceActivities,
} from './common.js';

const store = storeActivities;

const thingspace = thingspaceActivities('2 minutes');
const submits = submitActivities('2 minutes');

/** Progress goes to the parent at most this often, and only when it changed. */
const PROGRESS_INTERVAL = '5 seconds';
/**
 * A shard stops reporting progress after this many signals: a run takes at most 10,000 signals, and ten
 * shards trickling for hours must not use them up (the result still carries every outcome).
 */
const MAX_PROGRESS_REPORTS = 300;

export interface ProfileShardInput {
  /** The parent's name for the shard, e.g. `r0-s3` (round 0, shard 3). */
  shard: string;
  operation: BulkOperation;
  /** The ThingSpace body without `devices` (account, plan, place of use …). */
  body: Omit<ProfileSubmission['body'], 'devices'>;
  devices: ProfileDevice[];
  stepTimeout: string | number;
}

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
}

type DeviceState = 'pending' | 'warning' | 'succeeded' | 'reconciled' | 'failed';

const LETTER: Record<DeviceState, string> = {
  pending: 'n',
  warning: 'n',
  succeeded: 's',
  reconciled: 'r',
  failed: 'f',
};
const isFinal = (s: DeviceState | undefined) => s === 'succeeded' || s === 'reconciled' || s === 'failed';

export async function profileShard(input: ProfileShardInput): Promise<ProfileShardResult> {
  const { shard, operation, devices } = input;
  const accountName = input.body.accountName;
  const states: DeviceState[] = devices.map(() => 'pending');
  const faults = new Map<number, { code: string; message: string }>();
  // Any identifier of a device finds it: callbacks list every identifier, in any casing.
  const indexOf = new Map<string, number>();
  devices.forEach((d, i) => d.deviceIds.forEach((id) => indexOf.set(deviceKey(id), i)));
  const ledger = new CallbackLedger();
  let requestId: string | undefined;
  let changed = false;

  const counts = (): BulkCounts => {
    const c: BulkCounts = { total: devices.length, succeeded: 0, failed: 0, noAnswer: 0, pending: 0, warnings: 0 };
    for (const s of states) {
      if (s === 'succeeded' || s === 'reconciled') c.succeeded += 1;
      else if (s === 'failed') c.failed += 1;
      else c.pending += 1;
      if (s === 'warning') c.warnings += 1;
    }
    return c;
  };
  const settled = () => states.every(isFinal);

  /** Request ids the callbacks carried: the request's own, when its answer was lost. */
  const callbackRequestIds = new Set<string>();
  const apply = (event: CallbackEvent) => {
    if (event.type !== 'deviceProfile' && event.status !== 'failed') return;
    if (event.requestId) callbackRequestIds.add(event.requestId);
    const index = event.deviceIds.map((d) => indexOf.get(deviceKey(d))).find((i) => i !== undefined);
    if (index === undefined) {
      if (event.status === 'failed' && requestId !== undefined && event.requestId === requestId) {
        // A failure of the request itself, naming no device: it is every open device's outcome.
        const fault = event.fault ?? { code: 'unknown', message: 'The request failed' };
        states.forEach((state, i) => {
          if (isFinal(state)) return;
          states[i] = 'failed';
          faults.set(i, fault);
        });
        changed = true;
        return;
      }
      log.warn('Profile callback for no device of this shard ignored', { inboxId: event.inboxId });
      return;
    }
    if (isFinal(states[index])) return;
    if (event.status === 'warning') {
      states[index] = 'warning';
    } else if (event.status === 'failed') {
      states[index] = 'failed';
      faults.set(index, event.fault ?? { code: 'unknown', message: event.profile?.euiccStatusDesc ?? 'Failed' });
    } else {
      states[index] = 'succeeded';
    }
    changed = true;
  };
  setHandler(thingspaceCallbackSignal, (events) => ledger.accept(events).forEach(apply));
  setHandler(bulkDeviceQuery, (key): BulkDeviceStatus | undefined => {
    const index = indexOf.get(String(key).toLowerCase());
    const device = index === undefined ? undefined : devices[index]?.deviceIds[0];
    if (index === undefined || !device) return undefined;
    const state = states[index] as DeviceState;
    const fault = faults.get(index);
    return {
      device: deviceKey(device),
      state: state === 'reconciled' ? 'succeeded' : state,
      shard: workflowInfo().workflowId,
      ...(fault ? { fault } : {}),
      ...(state === 'reconciled' ? { confirmedBy: 'reconciliation' as const } : {}),
    };
  });

  const parent = workflowInfo().parent;
  let reports = 0;
  /** Progress for the parent's status query. Best effort: a signal that fails never costs an outcome. */
  const report = async () => {
    changed = false;
    if (!parent || reports >= MAX_PROGRESS_REPORTS) return;
    reports += 1;
    try {
      await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(shardProgressSignal, {
        shard,
        counts: counts(),
      });
    } catch (err) {
      reports = MAX_PROGRESS_REPORTS;
      log.warn('Progress no longer reported to the bulk saga', { shard, error: String(err) });
    }
  };

  let submitted = false;
  /** With the submit's answer lost, the one request id this shard's callbacks carried is the request's. */
  const fromCallbacks = (): { requestId?: string } => {
    const [only, ...others] = [...callbackRequestIds];
    return only && others.length === 0 ? { requestId: only } : {};
  };
  const finish = (): ProfileShardResult => {
    // One entry per distinct reason: a refused shard would otherwise repeat its message for each device.
    const byReason = new Map<string, { code: string; message: string; indices: number[] }>();
    for (const [index, fault] of [...faults.entries()].sort(([a], [b]) => a - b)) {
      const key = `${fault.code}\n${fault.message}`;
      const entry = byReason.get(key) ?? { ...fault, indices: [] };
      entry.indices.push(index);
      byReason.set(key, entry);
    }
    return {
      shard,
      ...(requestId ? { requestId } : {}),
      ...(!requestId && submitted ? { submitOutcomeUnknown: true, ...fromCallbacks() } : {}),
      outcomes: states.map((s) => LETTER[s]).join(''),
      faults: [...byReason.values()],
      callbacksReceived: ledger.received,
      duplicatesIgnored: ledger.duplicates,
    };
  };

  /** Every device failed for the same reason (the request was refused, a device is busy …). */
  const failAll = (err: unknown): ProfileShardResult => {
    const failure = sagaFailure(err);
    if (!(failure instanceof ApplicationFailure)) throw failure;
    const fault = { code: failure.type ?? FailureType.InternalError, message: failure.message };
    states.forEach((state, i) => {
      if (isFinal(state)) return;
      states[i] = 'failed';
      faults.set(i, fault);
    });
    log.warn('Shard failed as a whole', { shard, failureType: failure.type });
    return finish();
  };

  upsertSearchAttributes([
    { key: searchAttributes.Operation, value: PROFILE_SHARD_WORKFLOW },
    { key: searchAttributes.ThingSpaceAccount, value: accountName },
  ]);
  try {
    const keys = devices.flatMap((d) => d.deviceIds);
    try {
      await CancellationScope.nonCancellable(() => store.claimDevices(keys));
    } catch (err) {
      return failAll(err);
    }
    let answer: { requestId?: string };
    try {
      answer = await CancellationScope.nonCancellable(() =>
        submitOrUnknown(
          () => submits.submitProfileOperation({ operation, body: { ...input.body, devices } } as ProfileSubmission),
          // ThingSpace would accept the same plan change or activation twice.
          { resendWhenUnanswered: false },
        ),
      );
    } catch (err) {
      return failAll(err);
    }
    submitted = true;
    requestId = answer.requestId;
    if (requestId) {
      // Operators find the shard of a ThingSpace request id by this attribute.
      upsertSearchAttributes([{ key: searchAttributes.ThingSpaceRequestId, value: requestId }]);
      await store.addCorrelationKeys([`requestid:${requestId}`]);
    } else log.warn('Shard submitted with unknown outcome; waiting for its callbacks', { shard });

    // Waits for every device, reporting progress as it comes, until the step timeout.
    const deadline = Date.now() + msToNumber(input.stepTimeout as Parameters<typeof msToNumber>[0]);
    while (!settled() && Date.now() < deadline) {
      await condition(() => settled() || changed, deadline - Date.now());
      if (settled()) break;
      if (changed) {
        await report();
        const pause = Math.min(msToNumber(PROGRESS_INTERVAL), deadline - Date.now());
        if (pause > 0) await condition(settled, pause);
      }
    }

    const open = devices.flatMap((d, i) => (isFinal(states[i]) ? [] : [d.deviceIds]));
    if (open.length > 0) {
      // Callbacks can be lost for good (ThingSpace re-sends only a few times): ask the device list.
      const servicePlan = 'servicePlan' in input.body ? input.body.servicePlan : undefined;
      let confirmed: string[] = [];
      try {
        ({ confirmed } = await thingspace.reconcileProfiles({
          operation,
          accountName,
          ...(servicePlan ? { servicePlan } : {}),
          devices: open,
        }));
      } catch (err) {
        if (isCancellation(err)) throw err;
        // The outcomes the callbacks brought stand; the devices the list could not confirm get no answer.
        log.warn('Reconciliation from the device list failed', { shard, error: String(sagaFailure(err)) });
      }
      const seen = new Set(confirmed);
      devices.forEach((d, i) => {
        const first = d.deviceIds[0];
        if (!isFinal(states[i]) && first && seen.has(deviceKey(first))) states[i] = 'reconciled';
      });
    }
    return finish();
  } finally {
    await CancellationScope.nonCancellable(() => store.releaseDevices());
  }
}
