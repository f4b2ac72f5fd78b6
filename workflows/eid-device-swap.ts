/**
 * eidDeviceSwap saga (eid-device-swap.txt): validate → claim devices → submit → await the three
 * outcomes ThingSpace reports by callback, in any order → release the devices. A failed or timed-out
 * step follows `options.failurePolicy` (DESIGN.md §4, step 7): fail, hold for an operator decision, or
 * compensate by swapping the original device back in.
 */
import {
  patched,
  ApplicationFailure,
  CancellationScope,
  condition,
  log,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  describeIssues,
  deviceKey,
  FailureType,
  searchAttributes,
  statusQuery,
  WORKFLOW_TYPES,
  SWAP_STEPS,
  thingspaceCallbackSignal,
  validateEidDeviceSwap,
  type CallbackEvent,
  type CompensationOutcome,
  type DeviceId,
  type EidDeviceSwapRequest,
  type EidDeviceSwapResult,
  type EidDeviceSwapStatus,
  type FailurePolicy,
  type OperatorDecision,
  type StepState,
  type SwapSagaPhase,
  type SwapStep,
} from '../contracts/index.js';
import { CallbackEvidence, mentionsAny } from './callback-trust.js';
import {
  CallbackLedger,
  EVIDENCE_PATCH,
  RESUBMITTABLE,
  retryingSubmits,
  sagaFailure,
  stepTimeoutOf,
  storeActivities,
  submitActivities,
  submitOrEvidence,
  submitOrUnknown,
  thingspaceActivities,
  type OutcomeEvidence,
} from './common.js';
import { abandoned, OperatorDecisions } from './decisions.js';
import { reverseSwapRequest } from './reverse-swap.js';

const store = storeActivities;

const thingspace = thingspaceActivities('1 minute');
const submits = submitActivities('1 minute');
const retried = retryingSubmits('1 minute');

/** eid-device-swap.txt: what the swap leaves to do. */
const PROFILE_FOLLOW_UP =
  'The eUICC profile status stays with the ICCID: the profile status of the original device does not move to the new device, which may need a profile download';

/** Which waiting step a failure callback without a deviceResponse is about, by the service that sent it. */
function stepOfFailure(event: CallbackEvent, steps: Record<SwapStep, StepState>): SwapStep | undefined {
  if (event.type === 'deactivation' || event.type === 'identifierChange' || event.type === 'goToState') {
    return event.type;
  }
  // The page: deactivation and identifier change come from CarrierService, GoToState from StateService;
  // of the two CarrierService callbacks only the identifier change's example carries the EID.
  const namesEid = event.deviceIds.some((d) => d.kind === 'eid');
  const candidates: SwapStep[] =
    event.service === 'StateService'
      ? ['goToState']
      : namesEid
        ? ['identifierChange', 'deactivation']
        : ['deactivation', 'identifierChange'];
  return candidates.find((s) => steps[s].state === 'waiting');
}

/** A compensation registered before the step it undoes (STYLE.md §5); run newest first. */
interface Compensation {
  name: string;
  run(): Promise<CompensationOutcome>;
}

function messageOf(err: unknown): string {
  const failure = sagaFailure(err);
  return failure instanceof Error ? failure.message : String(failure);
}

const mentions = (ids: DeviceId[] | undefined, device: DeviceId | undefined): boolean =>
  device !== undefined &&
  (ids ?? []).some(
    (d) => d.kind.toLowerCase() === device.kind.toLowerCase() && d.id.toLowerCase() === device.id.toLowerCase(),
  );

export async function eidDeviceSwap(request: EidDeviceSwapRequest): Promise<EidDeviceSwapResult> {
  /** Runs started before the patch keep their behaviour (see EVIDENCE_PATCH). */
  const needsEvidence = patched(EVIDENCE_PATCH);
  const trust = new CallbackEvidence();
  const unverified = trust.unverified;
  let evidence: OutcomeEvidence | undefined;
  let profileStatus: string | undefined;
  let phase: SwapSagaPhase = 'validating';
  let requestId: string | undefined;
  let submitOutcomeUnknown = false;
  const steps = Object.fromEntries(SWAP_STEPS.map((s) => [s, { state: 'waiting' }])) as Record<SwapStep, StepState>;
  const results: Partial<Record<SwapStep, DeviceId[]>> = {};
  const callbackRequestIds = new Set<string>();
  const ledger = new CallbackLedger();
  const previousRequestIds: string[] = [];
  const decisions = new OperatorDecisions();
  const compensations: Compensation[] = [];
  let compensationOutcomes: CompensationOutcome[] | undefined;
  /** The reverse swap's identifier change, while a compensation waits for it. */
  let reverseStep: StepState | undefined;

  const originalDevice = request.deviceToSwapOut ?? [];
  const replacementDevice = request.deviceToSwapIn ?? [];
  /** What each step's success must name: the swapped-out device, the replacement, the swapped-out device. */
  const contentOk = (step: SwapStep, event: CallbackEvent): boolean => {
    if (step === 'deactivation') return mentionsAny(event.deviceIds, originalDevice);
    if (step === 'identifierChange') return mentionsAny(event.resultDeviceIds, replacementDevice);
    return mentionsAny([...event.deviceIds, ...(event.resultDeviceIds ?? [])], originalDevice);
  };
  /** Whether a callback for an open step counts (see callback-trust.ts); runs before the patch trusted all. */
  const counts = (step: SwapStep, event: CallbackEvent): boolean => {
    if (!needsEvidence) return true;
    return trust.counts(step, event, contentOk(step, event));
  };

  const apply = (event: CallbackEvent) => {
    if (event.requestId && !needsEvidence) callbackRequestIds.add(event.requestId);
    if (event.status === 'warning') return;
    const step = event.status === 'failed' ? stepOfFailure(event, steps) : event.type;
    if (step !== 'deactivation' && step !== 'identifierChange' && step !== 'goToState') {
      log.warn('Callback of no swap step ignored', { inboxId: event.inboxId, type: event.type });
      return;
    }
    // A held saga still takes a late callback for a timed-out step: the outcome happened after all.
    const open = steps[step].state === 'waiting' || (phase === 'awaitingDecision' && steps[step].state === 'timedOut');
    if (!open || !counts(step, event)) return;
    if (event.requestId) callbackRequestIds.add(event.requestId);
    const at = new Date().toISOString();
    const base = event.requestId ? { at, requestId: event.requestId } : { at };
    if (event.status === 'failed') {
      steps[step] = { ...base, state: 'failed', fault: event.fault ?? { code: 'unknown', message: 'Failed' } };
    } else {
      steps[step] = { ...base, state: 'confirmed', confirmedBy: 'callback' };
      if (event.resultDeviceIds) results[step] = event.resultDeviceIds;
      if (step === 'identifierChange' && event.profile?.profileStatus !== undefined) {
        profileStatus = event.profile.profileStatus;
      }
    }
  };

  const originalEid = request.deviceToSwapOut?.find((d) => d.kind.toLowerCase() === 'eid');
  const replacementEid = request.deviceToSwapIn?.find((d) => d.kind.toLowerCase() === 'eid');
  /**
   * The reverse swap's identifier change: its result names the original device (the MDN moved back);
   * a failed CarrierService callback naming the replacement's EID is about it too — the page's
   * deactivation callbacks carry only IMEI and ICCID.
   */
  const applyToReverse = (event: CallbackEvent) => {
    if (event.requestId) callbackRequestIds.add(event.requestId);
    if (reverseStep?.state !== 'waiting' || event.status === 'warning' || event.service !== 'CarrierService') return;
    const at = new Date().toISOString();
    const base = event.requestId ? { at, requestId: event.requestId } : { at };
    if (
      event.status === 'success' &&
      event.type === 'identifierChange' &&
      mentions(event.resultDeviceIds, originalEid)
    ) {
      reverseStep = { ...base, state: 'confirmed', confirmedBy: 'callback' };
    } else if (
      event.status === 'failed' &&
      (event.type === 'identifierChange' || event.type === 'unknown') &&
      mentions(event.deviceIds, replacementEid)
    ) {
      reverseStep = { ...base, state: 'failed', fault: event.fault ?? { code: 'unknown', message: 'Failed' } };
    }
  };

  setHandler(thingspaceCallbackSignal, (events) => {
    for (const event of ledger.accept(events)) {
      if (reverseStep) applyToReverse(event);
      else apply(event);
    }
  });
  setHandler(statusQuery, (): EidDeviceSwapStatus => ({
    operation: WORKFLOW_TYPES.eidDeviceSwap,
    phase,
    ...(requestId ? { requestId } : {}),
    ...(submitOutcomeUnknown ? { submitOutcomeUnknown } : {}),
    steps,
    callbacksReceived: ledger.received,
    duplicatesIgnored: ledger.duplicates,
    ...(decisions.awaiting ? { awaitingDecision: decisions.awaiting } : {}),
    ...(decisions.received.length > 0 ? { decisions: decisions.received } : {}),
    ...(previousRequestIds.length > 0 ? { previousRequestIds } : {}),
    ...(compensationOutcomes ? { compensations: compensationOutcomes } : {}),
    ...(evidence ? { outcomeEvidence: evidence } : {}),
    ...trust.status(),
  }));

  const setPhase = (next: SwapSagaPhase) => {
    phase = next;
    upsertSearchAttributes([{ key: searchAttributes.SagaStep, value: next }]);
  };

  const issues = validateEidDeviceSwap(request);
  if (issues.length > 0) {
    phase = 'failed';
    upsertSearchAttributes([
      { key: searchAttributes.Operation, value: WORKFLOW_TYPES.eidDeviceSwap },
      { key: searchAttributes.SagaStep, value: 'failed' },
    ]);
    throw ApplicationFailure.create({
      type: FailureType.InvalidRequest,
      nonRetryable: true,
      message: describeIssues(issues),
      details: [{ issues }],
    });
  }

  const devices = [...request.deviceToSwapOut, ...request.deviceToSwapIn];
  upsertSearchAttributes([
    { key: searchAttributes.Operation, value: WORKFLOW_TYPES.eidDeviceSwap },
    { key: searchAttributes.ThingSpaceAccount, value: request.accountName },
    { key: searchAttributes.DeviceIds, value: devices.map(deviceKey) },
  ]);

  const stepTimeout = stepTimeoutOf(request.options);
  /**
   * `hold` by default (DESIGN.md §4). Histories that reached a failure before that default existed
   * have no patch marker, so their replay stays on the `fail` path.
   */
  const policyFor = (): FailurePolicy =>
    request.options?.failurePolicy ?? (patched('hold-by-default') ? 'hold' : 'fail');
  const settled = () => SWAP_STEPS.every((s) => steps[s].state === 'confirmed');
  const failed = () => SWAP_STEPS.find((s) => steps[s].state === 'failed');
  let submittedAt = '';

  /** Submits the swap and records its request id for correlation. */
  const submit = async () => {
    setPhase('submitting');
    const submitted = await CancellationScope.nonCancellable(async () => {
      if (!needsEvidence) {
        return submitOrUnknown(() => submits.submitEidDeviceSwap(request), { resendWhenUnanswered: true });
      }
      const answer = await submitOrEvidence(() => retried.submitEidDeviceSwap(request));
      evidence = 'evidence' in answer ? answer.evidence : undefined;
      return 'evidence' in answer ? {} : answer;
    });
    submittedAt = new Date().toISOString();
    if (submitted.requestId) {
      if (requestId) previousRequestIds.push(requestId);
      requestId = submitted.requestId;
      // A failure that arrived before the submit's answer carried the request id just learnt: it counts now.
      trust.learn(requestId).forEach(apply);
      submitOutcomeUnknown = false;
      upsertSearchAttributes([{ key: searchAttributes.ThingSpaceRequestId, value: requestId }]);
      await store.addCorrelationKeys([`requestid:${requestId}`]);
    } else {
      // A resubmission whose outcome is unknown: the request id of the earlier attempt is history now.
      if (requestId) previousRequestIds.push(requestId);
      requestId = undefined;
      submitOutcomeUnknown = true;
      log.warn('Swap submitted with unknown outcome; waiting for its callbacks', {});
    }
  };

  /** `StepFailed` for a failed step; `byDeviceList`: an unverified failure the device list bore out. */
  const stepFailure = (step: SwapStep, byDeviceList = false): ApplicationFailure => {
    const { fault } = steps[step];
    const why = byDeviceList
      ? ` (a callback of request ${steps[step].requestId ?? 'unknown'} said so, and the device list does not show the step)`
      : '';
    return ApplicationFailure.create({
      type: FailureType.StepFailed,
      nonRetryable: true,
      message: `Swap step ${step} failed: ${fault?.code}: ${fault?.message}${why}`,
      details: [{ step, fault, requestId, ...(byDeviceList ? { confirmedBy: 'deviceList' } : {}) }],
    });
  };

  /** Waits for the open steps for one step timeout, then reconciles; the failure, if any is left. */
  const waitForSteps = async (): Promise<ApplicationFailure | undefined> => {
    setPhase('awaitingCallbacks');
    const inTime = await condition(() => settled() || failed() !== undefined, stepTimeout);

    const failedStep = failed();
    if (failedStep) return stepFailure(failedStep);
    if (!inTime) {
      // ThingSpace gives up on callbacks after a few attempts: ask its device list before failing.
      setPhase('reconciling');
      const { confirmed } = await thingspace.reconcileEidDeviceSwap(request);
      for (const step of SWAP_STEPS) {
        const found = confirmed[step];
        if (steps[step].state !== 'waiting' || !found) continue;
        steps[step] = { state: 'confirmed', confirmedBy: 'reconciliation', at: new Date().toISOString() };
        results[step] = found;
      }
    }
    if (needsEvidence && !settled()) {
      // The device list does not show these steps: a failure callback kept as unverified is now the outcome.
      for (const s of SWAP_STEPS) {
        const reported = unverified.find((u) => u.step === s);
        if (steps[s].state !== 'waiting' || !reported) continue;
        steps[s] = {
          state: 'failed',
          at: new Date().toISOString(),
          fault: reported.fault,
          ...(reported.requestId ? { requestId: reported.requestId } : {}),
        };
      }
      const shownFailed = failed();
      if (shownFailed) return stepFailure(shownFailed, true);
      const nothingSeen = SWAP_STEPS.every((s) => steps[s].state === 'waiting');
      if (submitOutcomeUnknown && nothingSeen) {
        // Neither callbacks nor the device list say whether ThingSpace took the swap: a person decides.
        return ApplicationFailure.create({
          type: FailureType.ThingSpaceOutcomeUnknown,
          nonRetryable: true,
          message: `ThingSpace may or may not have accepted the swap (${evidence?.observed ?? 'its answer was lost'}); no callback came and the device list shows no step`,
          details: [{ evidence, steps: SWAP_STEPS }],
        });
      }
    }
    if (!settled()) {
      const waiting = SWAP_STEPS.filter((s) => steps[s].state === 'waiting');
      for (const s of waiting) steps[s] = { state: 'timedOut', at: new Date().toISOString() };
      return ApplicationFailure.create({
        type: FailureType.StepTimedOut,
        nonRetryable: true,
        message: `No callback for ${waiting.join(', ')} within the step timeout, and the device list does not show it`,
        details: [{ steps: waiting, requestId, submitOutcomeUnknown }],
      });
    }
    return undefined;
  };

  /** Policy `hold`: parks the saga until an operator decides; no timeout, a person is needed. */
  const awaitDecision = async (failure: ApplicationFailure): Promise<OperatorDecision | undefined> => {
    setPhase('awaitingDecision');
    log.warn('Swap awaits an operator decision', { failureType: failure.type, requestId });
    // Late callbacks still count while the saga holds: if they complete the swap, nothing is left to decide.
    const decision = await decisions.await(failure, settled);
    if (!decision) log.info('Swap completed by late callbacks while it held', { requestId });
    return decision;
  };

  /**
   * `retry` re-runs the failure point. A timed-out step is waited for again (and reconciled again). A
   * failed step cannot be redone on its own — the page offers only the whole swap — so the swap is
   * resubmitted: new request id, confirmed steps stay confirmed, failed ones wait again.
   */
  const retry = async (failure: ApplicationFailure): Promise<ApplicationFailure | undefined> => {
    if (failure.type === FailureType.ThingSpaceOutcomeUnknown) {
      // A person decided that the swap never reached ThingSpace: send it again.
      try {
        await submit();
      } catch (err) {
        const refused = sagaFailure(err);
        if (!(refused instanceof ApplicationFailure) || !RESUBMITTABLE.includes(refused.type ?? '')) throw refused;
        return refused;
      }
      return waitForSteps();
    }
    if (failure.type === FailureType.StepTimedOut) {
      for (const s of SWAP_STEPS) if (steps[s].state === 'timedOut') steps[s] = { state: 'waiting' };
      return waitForSteps();
    }
    const reset = SWAP_STEPS.filter((s) => steps[s].state === 'failed');
    const before = Object.fromEntries(reset.map((s) => [s, steps[s]])) as Partial<Record<SwapStep, StepState>>;
    for (const s of reset) steps[s] = { state: 'waiting' };
    try {
      await submit();
    } catch (err) {
      const refused = sagaFailure(err);
      if (!(refused instanceof ApplicationFailure) || !RESUBMITTABLE.includes(refused.type ?? '')) throw refused;
      // ThingSpace refused the resubmission (e.g. a step of the first swap changed the devices): the
      // failed steps stay failed and the operator decides again.
      for (const s of reset) steps[s] = before[s] as StepState;
      return refused;
    }
    return waitForSteps();
  };

  /** Runs the compensations registered so far, newest first, none of them cancellable. */
  const compensate = async (failure: ApplicationFailure): Promise<ApplicationFailure> => {
    setPhase('compensating');
    // The three outcomes come in any order: one step may fail while another is still under way. Undo
    // only what is known, so wait (one step timeout at most) for the steps still in flight.
    const inFlight = () => SWAP_STEPS.some((s) => steps[s].state === 'waiting');
    if (inFlight()) await condition(() => !inFlight(), stepTimeout);
    const outcomes: CompensationOutcome[] = [];
    const failures: { compensation: string; message: string }[] = [];
    await CancellationScope.nonCancellable(async () => {
      for (const compensation of [...compensations].reverse()) {
        try {
          outcomes.push(await compensation.run());
        } catch (err) {
          // Never swallowed: logged here and named in the saga's failure.
          const message = messageOf(err);
          log.error('Compensation failed', { compensation: compensation.name, error: message });
          failures.push({ compensation: compensation.name, message });
        }
      }
    });
    compensationOutcomes = outcomes;
    const original = { type: failure.type, message: failure.message };
    if (failures.length > 0) {
      setPhase('failed');
      return ApplicationFailure.create({
        type: FailureType.CompensationFailed,
        nonRetryable: true,
        message: `Compensation ${failures.map((f) => `${f.compensation} failed: ${f.message}`).join('; ')} (after ${original.type}: ${original.message})`,
        details: [{ failure: original, failed: failures, compensations: outcomes }],
      });
    }
    setPhase('compensated');
    log.info('Swap compensated', { compensations: outcomes.map((o) => `${o.compensation}: ${o.outcome}`) });
    return ApplicationFailure.create({
      type: FailureType.Compensated,
      nonRetryable: true,
      message: `Swap compensated after ${original.type} (${original.message}): ${outcomes.map((o) => `${o.compensation} ${o.outcome}: ${o.detail}`).join('; ')}`,
      details: [{ failure: original, compensations: outcomes }],
    });
  };

  /**
   * Undoes the swap with a swap in the other direction, once the MDN has moved (identifier change);
   * before that, nothing of the line moved and there is nothing to undo. Waits for the reverse swap's
   * identifier-change callback only — the outcome that puts the MDN back — then the device list.
   */
  const reverseSwap = async (): Promise<CompensationOutcome> => {
    const name = 'reverseEidDeviceSwap';
    /**
     * The MDN did not move, so no swap needs reversing, unless the original line was deactivated on
     * the way: a swap cannot bring a line back, and saying "nothing to undo" would hide a device
     * without service.
     */
    const mdnStayed = (): CompensationOutcome => {
      if (steps.deactivation.state === 'confirmed') {
        const iccid = request.deviceToSwapOut.find((d) => d.kind === 'iccid')?.id;
        throw ApplicationFailure.create({
          type: FailureType.CompensationFailed,
          nonRetryable: true,
          message: `The original line (iccid ${iccid}) was deactivated but the MDN did not move; a swap cannot restore it, restore the line by hand`,
          details: [{ deactivatedIccid: iccid }],
        });
      }
      return { compensation: name, outcome: 'nothingToUndo', detail: 'the MDN never left the original device' };
    };
    if (needsEvidence) {
      // Built from the request and the device list only: a callback's identifiers may be another operation's.
      const { confirmed } = await thingspace.reconcileEidDeviceSwap(request);
      if (confirmed.deactivation && steps.deactivation.state !== 'confirmed') {
        steps.deactivation = { state: 'confirmed', confirmedBy: 'reconciliation', at: new Date().toISOString() };
      }
      if (!confirmed.identifierChange) {
        if (steps.identifierChange.state === 'confirmed') {
          throw ApplicationFailure.create({
            type: FailureType.CompensationFailed,
            nonRetryable: true,
            message:
              'The identifier change was reported, but the device list does not show the MDN on the replacement; the reverse swap cannot be built from evidence, reverse it by hand',
            details: [{ step: 'identifierChange' }],
          });
        }
        return mdnStayed();
      }
      results.identifierChange = confirmed.identifierChange;
      results.goToState = confirmed.goToState;
    } else if (steps.identifierChange.state !== 'confirmed' && steps.identifierChange.state !== 'failed') {
      // A timed-out step may still have happened upstream (STYLE.md §5): ask the device list once more.
      const { confirmed } = await thingspace.reconcileEidDeviceSwap(request);
      if (confirmed.identifierChange) results.identifierChange = confirmed.identifierChange;
      if (confirmed.goToState && steps.goToState.state !== 'confirmed') {
        steps.goToState = { state: 'confirmed', confirmedBy: 'reconciliation', at: new Date().toISOString() };
        results.goToState = confirmed.goToState;
      }
      if (confirmed.deactivation && steps.deactivation.state !== 'confirmed') {
        steps.deactivation = { state: 'confirmed', confirmedBy: 'reconciliation', at: new Date().toISOString() };
      }
      if (!confirmed.identifierChange) return mdnStayed();
    } else if (steps.identifierChange.state === 'failed') {
      return mdnStayed();
    }
    const reverse = reverseSwapRequest(request, {
      swappedIn: results.identifierChange,
      swappedOut: needsEvidence || steps.goToState.state === 'confirmed' ? results.goToState : undefined,
      originalLineDeactivated: steps.deactivation.state === 'confirmed',
    });
    const invalid = validateEidDeviceSwap(reverse);
    if (invalid.length > 0) {
      throw ApplicationFailure.create({
        type: FailureType.InvalidRequest,
        nonRetryable: true,
        message: `The reverse swap cannot be built: ${describeIssues(invalid)}`,
        details: [{ issues: invalid }],
      });
    }
    const mdn = reverse.deviceToSwapOut.find((d) => d.kind === 'mdn')?.id;
    const detail = `MDN ${mdn} moved back to the original device (eid ${originalEid?.id})`;
    reverseStep = { state: 'waiting' };
    const submitted = await thingspace.reverseEidDeviceSwap(reverse);
    if (submitted.alreadyUndone) {
      reverseStep = { state: 'confirmed', confirmedBy: 'reconciliation', at: new Date().toISOString() };
      return { compensation: name, outcome: 'undone', detail: `${detail} before the reverse swap was sent` };
    }
    if (submitted.requestId) await store.addCorrelationKeys([`requestid:${submitted.requestId}`]);
    const withId = submitted.requestId ? { requestId: submitted.requestId } : {};
    const inTime = await condition(() => reverseStep?.state !== 'waiting', stepTimeout);
    const step = reverseStep as StepState;
    if (step.state === 'failed') {
      throw ApplicationFailure.create({
        type: FailureType.StepFailed,
        nonRetryable: true,
        message: `The reverse swap's identifier change failed: ${step.fault?.code}: ${step.fault?.message}`,
        details: [{ step: 'identifierChange', fault: step.fault, ...withId }],
      });
    }
    if (!inTime) {
      const { confirmed } = await thingspace.reconcileEidDeviceSwap(reverse);
      if (!confirmed.identifierChange) {
        throw ApplicationFailure.create({
          type: FailureType.StepTimedOut,
          nonRetryable: true,
          message:
            'No identifier-change callback for the reverse swap within the step timeout, and the device list does not show the MDN back on the original device',
          details: [{ steps: ['identifierChange'], ...withId }],
        });
      }
      reverseStep = { state: 'confirmed', confirmedBy: 'reconciliation', at: new Date().toISOString() };
    }
    return { compensation: name, outcome: 'undone', detail, ...withId };
  };

  try {
    // Not cancellable: a cancelled claim could commit after the release below, and a cancelled submit
    // could still reach ThingSpace after the saga forgot it.
    setPhase('claiming');
    await CancellationScope.nonCancellable(() => store.claimDevices(devices, request.accountName));

    // Registered before the submit it undoes: a submit whose answer is lost may still swap upstream.
    compensations.push({ name: 'reverseEidDeviceSwap', run: reverseSwap });
    await submit();

    let failure = await waitForSteps();
    while (failure) {
      // An unknown outcome is never failed or compensated on a guess: it waits for a person.
      const policy = failure.type === FailureType.ThingSpaceOutcomeUnknown ? 'hold' : policyFor();
      if (policy === 'fail') throw failure;
      const decision: OperatorDecision | undefined =
        policy === 'compensate' ? { decision: 'compensate' } : await awaitDecision(failure);
      if (!decision) break;
      if (decision.decision === 'compensate') throw await compensate(failure);
      if (decision.decision === 'abandon') {
        setPhase('abandoned');
        throw abandoned('Swap', decision, failure);
      }
      failure = await retry(failure);
    }
    // With an unknown submit outcome, the GoToState callback carries the request id the swap got.
    requestId ??= steps.goToState.requestId ?? 'unknown';

    setPhase('completed');
    log.info('Swap completed', { requestId });
    return {
      accountName: request.accountName,
      requestId,
      callbackRequestIds: [...callbackRequestIds].sort(),
      swappedInDevice: results.identifierChange ?? request.deviceToSwapIn,
      swappedOutDevice: results.goToState ?? [],
      steps,
      submittedAt,
      completedAt: new Date().toISOString(),
      ...(previousRequestIds.length > 0 ? { previousRequestIds } : {}),
      ...(profileStatus !== undefined ? { profileStatus } : {}),
      followUps: [PROFILE_FOLLOW_UP],
    };
  } catch (err) {
    const ended: SwapSagaPhase[] = ['completed', 'compensated', 'abandoned', 'failed'];
    if (!ended.includes(phase)) setPhase('failed');
    throw sagaFailure(err);
  } finally {
    // Runs even when the saga is cancelled: a device must never stay claimed by a closed saga.
    await CancellationScope.nonCancellable(() => store.releaseDevices());
    log.info('Devices released', { workflowId: workflowInfo().workflowId });
  }
}
