/**
 * changeDeviceIdentifier saga (change-device-identifier.txt): validate → claim the device and its new
 * hardware → submit → await the one CarrierService callback that reports the change or its failure →
 * release. No callback within the step timeout: the device list is asked. A failure follows
 * `options.failurePolicy` like the swap's.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  log,
  patched,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import {
  describeIssues,
  deviceKey,
  FailureType,
  searchAttributes,
  statusQuery,
  thingspaceCallbackSignal,
  validateChangeDeviceIdentifier,
  WORKFLOW_TYPES,
  type CallbackEvent,
  type ChangeDeviceIdentifierRequest,
  type ChangeDeviceIdentifierResult,
  type ChangeDeviceIdentifierStatus,
  type CompensationOutcome,
  type DeviceId,
  type OperatorDecision,
  type StepState,
  type SwapSagaPhase,
} from '../contracts/index.js';
import { CallbackEvidence, mentionsAny } from './callback-trust.js';
import {
  CallbackLedger,
  EVIDENCE_PATCH,
  RESUBMITTABLE,
  retryingSubmits,
  submitOrEvidence,
  type OutcomeEvidence,
  sagaFailure,
  stepTimeoutOf,
  storeActivities,
  submitActivities,
  submitOrUnknown,
  thingspaceActivities,
} from './common.js';
import { abandoned, OperatorDecisions } from './decisions.js';

const store = storeActivities;

const thingspace = thingspaceActivities('1 minute');
const submits = submitActivities('1 minute');
const retried = retryingSubmits('1 minute');

/** The page's follow-up after a ChangeIMEIandEID. */
const LOCAL_PROFILE_DOWNLOAD =
  'ChangeIMEIandEID: the local profile has to be downloaded to the new device now that the change has finished';

/**
 * Whether a CarrierService callback is this change's outcome: an identifier-change result, or a
 * failure (its `deviceResponse` may be empty). The gateway already matched it to this saga by request id
 * or by one of the claimed identifiers.
 */
function isOutcome(event: CallbackEvent): boolean {
  if (event.service !== 'CarrierService' || event.status === 'warning') return false;
  return event.type === 'identifierChange' || (event.status === 'failed' && event.type === 'unknown');
}

export async function changeDeviceIdentifier(
  request: ChangeDeviceIdentifierRequest,
): Promise<ChangeDeviceIdentifierResult> {
  /** Runs started before the patch keep their behaviour (see EVIDENCE_PATCH). */
  const needsEvidence = patched(EVIDENCE_PATCH);
  const trust = new CallbackEvidence();
  const unverified = trust.unverified;
  let evidence: OutcomeEvidence | undefined;
  let phase: SwapSagaPhase = 'validating';
  let requestId: string | undefined;
  let submitOutcomeUnknown = false;
  let step: StepState = { state: 'waiting' };
  let outcome: { newDeviceIds: DeviceId[]; servicePlan?: string } | undefined;
  const previousRequestIds: string[] = [];
  const ledger = new CallbackLedger();
  const decisions = new OperatorDecisions();
  let compensations: CompensationOutcome[] | undefined;

  const isNumber = (d: DeviceId) => ['mdn', 'msisdn'].includes(d.kind.toLowerCase());
  /**
   * A success must name the change: the new identifiers (`deviceIdsTo`) among its results, or, for a
   * ChangeMSISDN, the device by an identifier that does not change.
   */
  const contentOk = (event: CallbackEvent): boolean =>
    request.deviceIdsTo && request.deviceIdsTo.length > 0
      ? mentionsAny(event.resultDeviceIds, request.deviceIdsTo)
      : mentionsAny(
          [...event.deviceIds, ...(event.resultDeviceIds ?? [])],
          (request.deviceIds ?? []).filter((d) => !isNumber(d)),
        );
  const counts = (event: CallbackEvent): boolean => {
    if (!needsEvidence) return true;
    return trust.counts('identifierChange', event, contentOk(event));
  };

  const apply = (event: CallbackEvent) => {
    const open = step.state === 'waiting' || (phase === 'awaitingDecision' && step.state === 'timedOut');
    if (!open || !isOutcome(event) || !counts(event)) return;
    const base = { at: new Date().toISOString(), ...(event.requestId ? { requestId: event.requestId } : {}) };
    if (event.status === 'failed') {
      step = { ...base, state: 'failed', fault: event.fault ?? { code: 'unknown', message: 'Failed' } };
    } else {
      step = { ...base, state: 'confirmed', confirmedBy: 'callback' };
      outcome = {
        newDeviceIds: event.resultDeviceIds ?? [],
        ...(event.servicePlan ? { servicePlan: event.servicePlan } : {}),
      };
    }
  };
  setHandler(thingspaceCallbackSignal, (events) => ledger.accept(events).forEach(apply));
  setHandler(statusQuery, (): ChangeDeviceIdentifierStatus => ({
    operation: WORKFLOW_TYPES.changeDeviceIdentifier,
    phase,
    ...(requestId ? { requestId } : {}),
    ...(submitOutcomeUnknown ? { submitOutcomeUnknown } : {}),
    step,
    callbacksReceived: ledger.received,
    duplicatesIgnored: ledger.duplicates,
    ...(decisions.awaiting ? { awaitingDecision: decisions.awaiting } : {}),
    ...(decisions.received.length > 0 ? { decisions: decisions.received } : {}),
    ...(previousRequestIds.length > 0 ? { previousRequestIds } : {}),
    ...(compensations ? { compensations } : {}),
    ...(evidence ? { outcomeEvidence: evidence } : {}),
    ...trust.status(),
  }));

  const setPhase = (next: SwapSagaPhase) => {
    phase = next;
    upsertSearchAttributes([{ key: searchAttributes.SagaStep, value: next }]);
  };

  const issues = validateChangeDeviceIdentifier(request);
  if (issues.length > 0) {
    phase = 'failed';
    upsertSearchAttributes([
      { key: searchAttributes.Operation, value: WORKFLOW_TYPES.changeDeviceIdentifier },
      { key: searchAttributes.SagaStep, value: 'failed' },
    ]);
    throw ApplicationFailure.create({
      type: FailureType.InvalidRequest,
      nonRetryable: true,
      message: describeIssues(issues),
      details: [{ issues }],
    });
  }

  const account = typeof request.options?.accountName === 'string' ? request.options.accountName : undefined;
  // The device by the identifiers the request names, and the hardware it moves to: both in one operation.
  const devices = [...request.deviceIds, ...(request.deviceIdsTo ?? [])];
  upsertSearchAttributes([
    { key: searchAttributes.Operation, value: WORKFLOW_TYPES.changeDeviceIdentifier },
    { key: searchAttributes.DeviceIds, value: devices.map(deviceKey) },
    ...(needsEvidence && account ? [{ key: searchAttributes.ThingSpaceAccount, value: account }] : []),
  ]);
  const stepTimeout = stepTimeoutOf(request.options);
  const policy = request.options?.failurePolicy ?? 'hold';
  let submittedAt = '';

  const submit = async () => {
    setPhase('submitting');
    const submitted = await CancellationScope.nonCancellable(async () => {
      if (!needsEvidence) {
        return submitOrUnknown(() => submits.submitChangeDeviceIdentifier(request), { resendWhenUnanswered: true });
      }
      const answer = await submitOrEvidence(() => retried.submitChangeDeviceIdentifier(request));
      evidence = 'evidence' in answer ? answer.evidence : undefined;
      return 'evidence' in answer ? {} : answer;
    });
    submittedAt = new Date().toISOString();
    if (requestId) previousRequestIds.push(requestId);
    requestId = submitted.requestId;
    // A failure that arrived before the submit's answer carried the request id just learnt: it counts now.
    trust.learn(requestId).forEach(apply);
    submitOutcomeUnknown = requestId === undefined;
    if (requestId) {
      upsertSearchAttributes([{ key: searchAttributes.ThingSpaceRequestId, value: requestId }]);
      await store.addCorrelationKeys([`requestid:${requestId}`]);
    } else {
      log.warn('Identifier change submitted with unknown outcome; waiting for its callback', {});
    }
  };

  /** Waits for the outcome for one step timeout, then asks the device list; the failure, if any. */
  const waitForOutcome = async (): Promise<ApplicationFailure | undefined> => {
    setPhase('awaitingCallbacks');
    const inTime = await condition(() => step.state !== 'waiting', stepTimeout);
    if (step.state === 'failed') {
      return ApplicationFailure.create({
        type: FailureType.StepFailed,
        nonRetryable: true,
        message: `The identifier change failed: ${step.fault?.code}: ${step.fault?.message}`,
        details: [{ step: 'identifierChange', fault: step.fault, requestId }],
      });
    }
    if (!inTime) {
      setPhase('reconciling');
      const found = await thingspace.reconcileChangeDeviceIdentifier(request);
      if (step.state === 'waiting' && found.newDeviceIds) {
        step = { state: 'confirmed', confirmedBy: 'reconciliation', at: new Date().toISOString() };
        outcome = {
          newDeviceIds: found.newDeviceIds,
          ...(found.servicePlan ? { servicePlan: found.servicePlan } : {}),
        };
      }
    }
    const reported = unverified[0];
    if (needsEvidence && step.state === 'waiting' && reported) {
      // The device list does not show the change: the failure callback kept as unverified is the outcome.
      step = {
        state: 'failed',
        at: new Date().toISOString(),
        fault: reported.fault,
        ...(reported.requestId ? { requestId: reported.requestId } : {}),
      };
      return ApplicationFailure.create({
        type: FailureType.StepFailed,
        nonRetryable: true,
        message: `The identifier change failed: ${reported.fault.code}: ${reported.fault.message} (a callback of request ${reported.requestId ?? 'unknown'} said so, and the device list does not show the change)`,
        details: [{ step: 'identifierChange', fault: reported.fault, requestId, confirmedBy: 'deviceList' }],
      });
    }
    if (needsEvidence && step.state === 'waiting' && submitOutcomeUnknown) {
      // Neither a callback nor the device list says whether ThingSpace took the change: a person decides.
      return ApplicationFailure.create({
        type: FailureType.ThingSpaceOutcomeUnknown,
        nonRetryable: true,
        message: `ThingSpace may or may not have accepted the identifier change (${evidence?.observed ?? 'its answer was lost'}); no callback came and the device list does not show it`,
        details: [{ evidence }],
      });
    }
    if (step.state === 'waiting') {
      step = { state: 'timedOut', at: new Date().toISOString() };
      return ApplicationFailure.create({
        type: FailureType.StepTimedOut,
        nonRetryable: true,
        message: 'No callback for the identifier change within the step timeout, and the device list does not show it',
        details: [{ steps: ['identifierChange'], requestId, submitOutcomeUnknown }],
      });
    }
    return undefined;
  };

  /** `retry`: a timed-out change is waited for again; a failed or refused one is resubmitted. */
  const retry = async (failure: ApplicationFailure): Promise<ApplicationFailure | undefined> => {
    const before = step;
    step = { state: 'waiting' };
    if (failure.type === FailureType.StepTimedOut) return waitForOutcome();
    try {
      await submit();
    } catch (err) {
      const refused = sagaFailure(err);
      if (!(refused instanceof ApplicationFailure) || !RESUBMITTABLE.includes(refused.type ?? '')) throw refused;
      step = before;
      return refused;
    }
    return waitForOutcome();
  };

  /**
   * The page offers no way back: changing the identifier again would need the old hardware, which stays
   * in ThingSpace's database ("To reuse a deactivated device, you must first delete the device"). So the
   * compensation checks that nothing changed — a failed change changes nothing — and says so; a change
   * the device list shows after all completes the saga instead.
   */
  const compensate = async (failure: ApplicationFailure): Promise<ApplicationFailure | undefined> => {
    setPhase('compensating');
    const found = await CancellationScope.nonCancellable(() => thingspace.reconcileChangeDeviceIdentifier(request));
    if (found.newDeviceIds) {
      step = { state: 'confirmed', confirmedBy: 'reconciliation', at: new Date().toISOString() };
      outcome = { newDeviceIds: found.newDeviceIds, ...(found.servicePlan ? { servicePlan: found.servicePlan } : {}) };
      log.info('The device list shows the identifier changed after all; nothing to compensate', { requestId });
      return undefined;
    }
    const done: CompensationOutcome = {
      compensation: 'confirmIdentifierUnchanged',
      outcome: 'nothingToUndo',
      detail: 'the device list shows the device under its old identifiers',
    };
    compensations = [done];
    setPhase('compensated');
    return ApplicationFailure.create({
      type: FailureType.Compensated,
      nonRetryable: true,
      message: `Identifier change compensated after ${failure.type} (${failure.message}): ${done.detail}`,
      details: [{ failure: { type: failure.type, message: failure.message }, compensations: [done] }],
    });
  };

  try {
    setPhase('claiming');
    await CancellationScope.nonCancellable(() =>
      needsEvidence && account ? store.claimDevices(devices, account) : store.claimDevices(devices),
    );
    await submit();

    let failure = await waitForOutcome();
    while (failure) {
      // An unknown outcome is never failed or compensated on a guess: it waits for a person.
      const unknown = failure.type === FailureType.ThingSpaceOutcomeUnknown;
      if (policy === 'fail' && !unknown) throw failure;
      let decision: OperatorDecision | undefined = { decision: 'compensate' };
      if (policy === 'hold' || unknown) {
        setPhase('awaitingDecision');
        // A late callback that confirms the change ends the hold: nothing is left to decide.
        decision = await decisions.await(failure, () => step.state === 'confirmed');
      }
      if (!decision) break;
      if (decision.decision === 'abandon') {
        setPhase('abandoned');
        throw abandoned('Identifier change', decision, failure);
      }
      if (decision.decision === 'compensate') {
        const compensated = await compensate(failure);
        if (compensated) throw compensated;
        break;
      }
      failure = await retry(failure);
    }

    setPhase('completed');
    const result = outcome ?? { newDeviceIds: [] };
    log.info('Identifier change completed', { requestId });
    return {
      requestId: requestId ?? step.requestId ?? 'unknown',
      deviceIds: request.deviceIds,
      newDeviceIds: result.newDeviceIds,
      ...(result.servicePlan ? { servicePlan: result.servicePlan } : {}),
      confirmedBy: step.confirmedBy ?? 'callback',
      submittedAt,
      completedAt: new Date().toISOString(),
      ...(previousRequestIds.length > 0 ? { previousRequestIds } : {}),
      ...(request.change4gOption === 'ChangeIMEIandEID' ? { followUps: [LOCAL_PROFILE_DOWNLOAD] } : {}),
    };
  } catch (err) {
    const ended: SwapSagaPhase[] = ['completed', 'compensated', 'abandoned', 'failed'];
    if (!ended.includes(phase)) setPhase('failed');
    throw sagaFailure(err);
  } finally {
    await CancellationScope.nonCancellable(() => store.releaseDevices());
  }
}
