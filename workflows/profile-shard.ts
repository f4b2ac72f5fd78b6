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
  patched,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  ACTIVATION_INTERVAL_MS,
  bulkDeviceQuery,
  deviceKey,
  FailureType,
  searchAttributes,
  shardProgressSignal,
  thingspaceCallbackSignal,
  WORKFLOW_TYPES,
  type BulkCounts,
  type BulkDeviceStatus,
  type CallbackEvent,
  type ProfileShardInput,
  type ProfileShardResult,
  type ProfileSubmission,
  type StoredShardResult,
} from '../contracts/index.js';
import { msToNumber } from '@temporalio/common';
import { CallbackLedger, OwnRequestIds } from './saga/callbacks.js';
import { sagaFailure } from './saga/failures.js';
import {
  operationActivities,
  reconcileActivities,
  REQUEST_IDS_PATCH,
  retryingSubmits,
  storeActivities,
  submitActivities,
  submitOrEvidence,
  submitOrUnknown,
  thingspaceActivities,
} from './saga/activities.js';

const store = storeActivities;

const thingspace = thingspaceActivities('2 minutes');
const submits = submitActivities('2 minutes');
const retried = retryingSubmits('2 minutes');

/** Progress goes to the parent at most this often, and only when it changed. */
const PROGRESS_INTERVAL = '5 seconds';
/**
 * A shard stops reporting progress after this many signals: a run takes at most 10,000 signals, and ten
 * shards trickling for hours must not use them up (the result still carries every outcome).
 */
const MAX_PROGRESS_REPORTS = 300;

type DeviceState = 'pending' | 'warning' | 'succeeded' | 'reconciled' | 'failed';

/** `u`: open, with a failure callback of an unknown request id (evidence shards). */
const LETTER: Record<DeviceState, string> = {
  pending: 'n',
  warning: 'n',
  succeeded: 's',
  reconciled: 'r',
  failed: 'f',
};
const isFinal = (s: DeviceState | undefined) => s === 'succeeded' || s === 'reconciled' || s === 'failed';

export async function profileShard(input: ProfileShardInput): Promise<ProfileShardResult | StoredShardResult> {
  return input.deviceSet ? storedShard(input, input.deviceSet) : runShard(input, true);
}

/**
 * The shard's work over `input.devices`; `reportsProgress`: its counts go to the parent as they change.
 * `requestOf`, when given, receives each device's ThingSpace request: the one it was sent in, then the one
 * its counted callback names.
 */
async function runShard(
  input: ProfileShardInput,
  reportsProgress: boolean,
  requestOf?: Map<number, string>,
): Promise<ProfileShardResult> {
  const { shard, operation, devices } = input;
  const evidence = input.evidence === true;
  /** Shards started before the patch do not list their request ids (see REQUEST_IDS_PATCH). */
  const listsRequestIds = patched(REQUEST_IDS_PATCH);
  const own = new OwnRequestIds();
  const unverified = new Map<number, { code: string; message: string }>();
  /** The events behind `unverified`: judged again when their request id becomes the shard's own. */
  const held: CallbackEvent[] = [];
  const addressFaults = new Map<number, { code: string; message: string }>();
  const requestIds: string[] = [];
  let requestSize: number | undefined;
  let ignoredCallbacks = 0;
  const servicePlanOf = (body: ProfileShardInput['body']) => ('servicePlan' in body ? body.servicePlan : undefined);
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
  /** A plan change's callback that names a plan must name the requested one (the page's example names none). */
  const contentOk = (event: CallbackEvent) =>
    operation !== 'changeProfileServicePlan' ||
    event.servicePlan === undefined ||
    event.servicePlan.toLowerCase() === String(servicePlanOf(input.body) ?? '').toLowerCase();
  const apply = (event: CallbackEvent) => {
    if (event.type !== 'deviceProfile' && event.status !== 'failed') return;
    if (event.requestId && !evidence) callbackRequestIds.add(event.requestId);
    const index = event.deviceIds.map((d) => indexOf.get(deviceKey(d))).find((i) => i !== undefined);
    const ownRequest = evidence ? own.has(event.requestId) : requestId !== undefined && event.requestId === requestId;
    if (index === undefined) {
      if (event.status === 'failed' && ownRequest) {
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
      // A request-level failure may come before the answer that makes its request id the shard's own.
      if (evidence && event.status === 'failed') held.push(event);
      log.warn('Profile callback for no device of this shard ignored', { inboxId: event.inboxId });
      return;
    }
    if (isFinal(states[index])) return;
    if (evidence && event.status !== 'warning') {
      const verdict = own.judge(event, contentOk(event));
      if (verdict === 'unverified') {
        unverified.set(index, event.fault ?? { code: 'unknown', message: event.profile?.euiccStatusDesc ?? 'Failed' });
        held.push(event);
        changed = true;
        return;
      }
      if (verdict === 'ignored') {
        ignoredCallbacks += 1;
        log.warn('Profile callback that does not name this request ignored', { inboxId: event.inboxId });
        return;
      }
    }
    if (evidence && event.requestId) callbackRequestIds.add(event.requestId);
    if (event.requestId) requestOf?.set(index, event.requestId);
    unverified.delete(index);
    if (event.status === 'warning') {
      states[index] = 'warning';
    } else if (event.status === 'failed') {
      states[index] = 'failed';
      faults.set(index, event.fault ?? { code: 'unknown', message: event.profile?.euiccStatusDesc ?? 'Failed' });
    } else {
      states[index] = 'succeeded';
      const address = event.profile?.euiccSubAddressUpdateStatus;
      if (address !== undefined && !/SUCCESS/i.test(address)) {
        // activate-euicc-profile.txt: the activation succeeded, the address update it asked for did not.
        addressFaults.set(index, {
          code: event.profile?.euiccSubAddressUpdateStatusCode ?? address,
          message: event.profile?.euiccSubAddressUpdateStatusDesc ?? address,
        });
      }
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

  const parent = reportsProgress ? workflowInfo().parent : undefined;
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
    const grouped = (entries: Map<number, { code: string; message: string }>) => {
      const groups = new Map<string, { code: string; message: string; indices: number[] }>();
      for (const [index, fault] of [...entries.entries()].sort(([a], [b]) => a - b)) {
        const key = `${fault.code}\n${fault.message}`;
        const entry = groups.get(key) ?? { ...fault, indices: [] };
        entry.indices.push(index);
        groups.set(key, entry);
      }
      return [...groups.values()];
    };
    const open = (i: number) => !isFinal(states[i]) && unverified.has(i);
    return {
      shard,
      ...(requestId ? { requestId } : {}),
      ...(!requestId && submitted ? { submitOutcomeUnknown: true, ...fromCallbacks() } : {}),
      outcomes: states.map((s, i) => (evidence && open(i) ? 'u' : LETTER[s])).join(''),
      faults: [...byReason.values()],
      callbacksReceived: ledger.received,
      duplicatesIgnored: ledger.duplicates,
      // The answered requests, and the request a lost answer carried, as its counted callbacks name it.
      ...(evidence ? { requestIds: [...new Set([...requestIds, ...callbackRequestIds])] } : {}),
      ...(requestSize !== undefined ? { requestSize } : {}),
      ...(evidence && unverified.size > 0
        ? { unverified: grouped(new Map([...unverified].filter(([i]) => open(i)))) }
        : {}),
      ...(addressFaults.size > 0 ? { addressFaults: grouped(addressFaults) } : {}),
      ...(ignoredCallbacks > 0 ? { ignoredCallbacks } : {}),
    };
  };

  /** Every device failed for the same reason (the request was refused, a device is busy …). */
  const failAll = (err: unknown): void => {
    const failure = sagaFailure(err);
    if (!(failure instanceof ApplicationFailure)) throw failure;
    const fault = { code: failure.type ?? FailureType.InternalError, message: failure.message };
    states.forEach((state, i) => {
      if (isFinal(state)) return;
      states[i] = 'failed';
      faults.set(i, fault);
    });
    log.warn('Shard failed as a whole', { shard, failureType: failure.type });
  };

  /** Fails the devices in [from, to) for the same reason (their request was refused). */
  const failRange = (from: number, to: number, err: unknown) => {
    const failure = sagaFailure(err);
    if (!(failure instanceof ApplicationFailure)) throw failure;
    const fault = { code: failure.type ?? FailureType.InternalError, message: failure.message };
    for (let i = from; i < to; i += 1) {
      if (isFinal(states[i])) continue;
      states[i] = 'failed';
      faults.set(i, fault);
    }
  };
  const tooLarge = (err: unknown) => {
    const failure = sagaFailure(err);
    const details =
      failure instanceof ApplicationFailure ? (failure.details?.[0] as { tooLarge?: boolean }) : undefined;
    return details?.tooLarge === true;
  };

  /**
   * Evidence shards: the devices in requests of `maxRequestDevices` (all at once by default). A request
   * refused for its size is split in halves and the halves sent; it was refused, so nothing happens
   * twice, and the size that was accepted holds for the rest of the shard (and the operation).
   */
  const submitInRequests = async () => {
    let size = input.maxRequestDevices ?? devices.length;
    const ranges: [number, number][] = [];
    for (let from = 0; from < devices.length; from += size) ranges.push([from, Math.min(from + size, devices.length)]);
    let first = true;
    while (ranges.length > 0) {
      const [from, to] = ranges.shift() as [number, number];
      if (!first && operation === 'activateDeviceProfiles') await sleep(ACTIVATION_INTERVAL_MS);
      first = false;
      const body = { ...input.body, devices: devices.slice(from, to) } as ProfileSubmission['body'];
      let answer;
      try {
        answer = await submitOrEvidence(() => retried.submitProfileOperation({ operation, body } as ProfileSubmission));
      } catch (err) {
        if (isCancellation(err)) throw err;
        if (tooLarge(err) && to - from > 1) {
          size = Math.ceil((to - from) / 2);
          requestSize = size;
          log.warn('ThingSpace refused the request for its size; sending it in halves', { shard, size });
          // Every range not sent yet goes at the smaller size too.
          const rest = [[from, to] as [number, number], ...ranges.splice(0)];
          for (const [a, b] of rest) for (let i = a; i < b; i += size) ranges.push([i, Math.min(i + size, b)]);
          continue;
        }
        failRange(from, to, err);
        continue;
      }
      submitted = true;
      if ('evidence' in answer) {
        log.warn('Shard request submitted with unknown outcome; waiting for its callbacks', { shard, from, to });
        continue;
      }
      requestIds.push(answer.requestId);
      for (let i = from; i < to; i += 1) requestOf?.set(i, answer.requestId);
      own.add(answer.requestId);
      // Failures that arrived before this answer carried its request id: they count now.
      for (const event of held.filter((e) => own.has(e.requestId))) {
        held.splice(held.indexOf(event), 1);
        apply(event);
      }
      requestId ??= answer.requestId;
      upsertSearchAttributes([
        { key: searchAttributes.ThingSpaceRequestId, value: answer.requestId },
        ...(listsRequestIds ? [{ key: searchAttributes.ThingSpaceRequestIds, value: [...requestIds] }] : []),
      ]);
      await store.addCorrelationKeys([`requestid:${answer.requestId}`]);
    }
  };

  upsertSearchAttributes([
    { key: searchAttributes.Operation, value: WORKFLOW_TYPES.profileShard },
    { key: searchAttributes.ThingSpaceAccount, value: accountName },
  ]);
  /**
   * The shard's work; its result is read after the devices are released, so a callback delivered while
   * they were being released is in it.
   */
  const run = async (): Promise<void> => {
    const keys = devices.flatMap((d) => d.deviceIds);
    try {
      await CancellationScope.nonCancellable(() =>
        evidence ? store.claimDevices(keys, accountName) : store.claimDevices(keys),
      );
    } catch (err) {
      return failAll(err);
    }
    if (evidence) {
      await CancellationScope.nonCancellable(submitInRequests);
      if (states.every(isFinal)) return;
    }
    if (!evidence) {
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
        upsertSearchAttributes([
          { key: searchAttributes.ThingSpaceRequestId, value: requestId },
          ...(listsRequestIds ? [{ key: searchAttributes.ThingSpaceRequestIds, value: [requestId] }] : []),
        ]);
        await store.addCorrelationKeys([`requestid:${requestId}`]);
      } else log.warn('Shard submitted with unknown outcome; waiting for its callbacks', { shard });
    }

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
    // Evidence shards leave the device list to the bulk saga: one read for the whole operation.
    if (open.length > 0 && !evidence) {
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
  };
  try {
    await run();
  } finally {
    await CancellationScope.nonCancellable(() => store.releaseDevices());
  }
  return finish();
}

/**
 * A shard of an operation whose devices are in the store: loads the pending devices of its range, runs
 * them as any evidence shard does, reads the device list once for those still open, and writes every
 * device's outcome back to the store. Its result is only counters, so the coordinator's history stays
 * the same size whatever the number of devices.
 */
async function storedShard(
  input: ProfileShardInput,
  set: NonNullable<ProfileShardInput['deviceSet']>,
): Promise<StoredShardResult> {
  const { operationId, from, to, round } = set;
  // `operationDevices` is absent from results recorded before it was added: the reconciliation then reads as before.
  const { positions, devices, operationDevices } = await operationActivities.loadShardDevices({
    operationId,
    from,
    to,
  });
  const counts = { devices: devices.length, succeeded: 0, failed: 0, noAnswer: 0 };
  const empty = { shard: input.shard, counts, requests: 0, callbacksReceived: 0, duplicatesIgnored: 0 };
  if (devices.length === 0) return empty;
  const requestOf = new Map<number, string>();
  const result = await runShard({ ...input, devices, evidence: true }, false, requestOf);

  const letters = result.outcomes;
  const reasons = new Map<number, { code: string; message: string }>();
  for (const fault of result.faults) for (const i of fault.indices) reasons.set(i, fault);
  const unverified = new Map<number, { code: string; message: string }>();
  for (const fault of result.unverified ?? []) for (const i of fault.indices) unverified.set(i, fault);
  const addressFaults = new Map<number, { code: string; message: string }>();
  for (const fault of result.addressFaults ?? []) for (const i of fault.indices) addressFaults.set(i, fault);

  // No callback for some devices: the device list decides them (one read for the shard).
  const open = devices.flatMap((_, i) => (letters[i] === 'n' || letters[i] === 'u' ? [i] : []));
  const confirmed = new Set<number>();
  if (open.length > 0) {
    const body = input.body as { servicePlan?: unknown };
    try {
      const answer = await reconcileActivities.reconcileBulkOperation({
        operation: input.operation,
        accountName: input.body.accountName,
        ...(typeof body.servicePlan === 'string' ? { servicePlan: body.servicePlan } : {}),
        devices: open.map((i) => (devices[i] as (typeof devices)[number]).deviceIds),
        ...(operationDevices !== undefined ? { accountDevices: operationDevices } : {}),
      });
      for (const position of answer.confirmed) confirmed.add(open[position] as number);
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn('Reconciliation from the device list failed', { shard: input.shard, error: String(err) });
    }
  }

  const requestIds = result.requestIds ?? (result.requestId ? [result.requestId] : []);
  const outcomes = devices.map((_, i) => {
    const position = positions[i] as number;
    const request = requestOf.get(i);
    const onlyRequest = request ? { requestId: request } : {};
    const letter = letters[i];
    const address = addressFaults.get(i);
    const withAddress = address ? { addressFault: { code: address.code, message: address.message } } : {};
    if (letter === 's') return { position, state: 'succeeded' as const, ...onlyRequest, ...withAddress };
    if (letter === 'r' || confirmed.has(i)) {
      return { position, state: 'succeeded' as const, confirmedBy: 'reconciliation' as const, ...onlyRequest };
    }
    const reason = letter === 'f' ? (reasons.get(i) ?? { code: 'unknown', message: 'Failed' }) : unverified.get(i);
    if (reason)
      return { position, state: 'failed' as const, code: reason.code, message: reason.message, ...onlyRequest };
    return { position, state: 'noAnswer' as const, ...onlyRequest };
  });
  for (const outcome of outcomes) counts[outcome.state] += 1;
  await operationActivities.recordShardOutcomes({ operationId, round, outcomes });
  return {
    ...empty,
    requests: requestIds.length,
    ...(result.requestSize !== undefined ? { requestSize: result.requestSize } : {}),
    callbacksReceived: result.callbacksReceived,
    duplicatesIgnored: result.duplicatesIgnored,
  };
}
