/**
 * eidDeviceSwap saga (eid-device-swap.txt): validate → claim devices → submit → await the three
 * outcomes ThingSpace reports by callback, in any order → release the devices.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  log,
  proxyActivities,
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
  SWAP_STEPS,
  thingspaceCallbackSignal,
  validateEidDeviceSwap,
  type CallbackEvent,
  type DeviceId,
  type EidDeviceSwapRequest,
  type EidDeviceSwapResult,
  type EidDeviceSwapStatus,
  type StepState,
  type SwapSagaPhase,
  type SwapStep,
} from '../contracts/index.js';
import type { Activities } from '../activities/index.js';
import { CallbackLedger, NON_RETRYABLE, sagaFailure, stepTimeoutOf } from './common.js';

const store = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', nonRetryableErrorTypes: NON_RETRYABLE },
});

const thingspace = proxyActivities<Activities>({
  // Above the ThingSpace client's own 30 s request timeout, so the client reports timeouts itself.
  startToCloseTimeout: '1 minute',
  // A ThingSpace outage of several minutes is waited out; after an hour the saga fails.
  scheduleToCloseTimeout: '1 hour',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
});

/** Which waiting step a failure callback without a deviceResponse is about, by the service that sent it. */
function stepOfFailure(event: CallbackEvent, steps: Record<SwapStep, StepState>): SwapStep | undefined {
  if (event.type === 'deactivation' || event.type === 'identifierChange' || event.type === 'goToState') {
    return event.type;
  }
  // The page: deactivation and identifier change come from CarrierService, GoToState from StateService.
  const candidates: SwapStep[] =
    event.service === 'StateService' ? ['goToState'] : ['deactivation', 'identifierChange'];
  return candidates.find((s) => steps[s].state === 'waiting');
}

/**
 * Submits the swap. When ThingSpace may have carried it out although its answer was lost, resending
 * could swap twice: the saga goes on without a request id and recognises the swap by its callbacks,
 * which the gateway matches by device identifiers.
 */
async function submitSwap(request: EidDeviceSwapRequest): Promise<{ requestId?: string }> {
  try {
    return await thingspace.submitEidDeviceSwap(request);
  } catch (err) {
    if (
      err instanceof ActivityFailure &&
      err.cause instanceof ApplicationFailure &&
      err.cause.type === FailureType.ThingSpaceOutcomeUnknown
    ) {
      return {};
    }
    throw err;
  }
}

export async function eidDeviceSwap(request: EidDeviceSwapRequest): Promise<EidDeviceSwapResult> {
  let phase: SwapSagaPhase = 'validating';
  let requestId: string | undefined;
  let submitOutcomeUnknown = false;
  const steps = Object.fromEntries(SWAP_STEPS.map((s) => [s, { state: 'waiting' }])) as Record<SwapStep, StepState>;
  const results: Partial<Record<SwapStep, DeviceId[]>> = {};
  const callbackRequestIds = new Set<string>();
  const ledger = new CallbackLedger();

  const apply = (event: CallbackEvent) => {
    if (event.requestId) callbackRequestIds.add(event.requestId);
    if (event.status === 'warning') return;
    const step = event.status === 'failed' ? stepOfFailure(event, steps) : event.type;
    if (step !== 'deactivation' && step !== 'identifierChange' && step !== 'goToState') {
      log.warn('Callback of no swap step ignored', { inboxId: event.inboxId, type: event.type });
      return;
    }
    if (steps[step].state !== 'waiting') return;
    const at = new Date().toISOString();
    const base = event.requestId ? { at, requestId: event.requestId } : { at };
    if (event.status === 'failed') {
      steps[step] = { ...base, state: 'failed', fault: event.fault ?? { code: 'unknown', message: 'Failed' } };
    } else {
      steps[step] = { ...base, state: 'confirmed', confirmedBy: 'callback' };
      if (event.resultDeviceIds) results[step] = event.resultDeviceIds;
    }
  };

  setHandler(thingspaceCallbackSignal, (events) => {
    for (const event of ledger.accept(events)) apply(event);
  });
  setHandler(statusQuery, (): EidDeviceSwapStatus => ({
    phase,
    ...(requestId ? { requestId } : {}),
    ...(submitOutcomeUnknown ? { submitOutcomeUnknown } : {}),
    steps,
    callbacksReceived: ledger.received,
    duplicatesIgnored: ledger.duplicates,
  }));

  const setPhase = (next: SwapSagaPhase) => {
    phase = next;
    upsertSearchAttributes([{ key: searchAttributes.SagaStep, value: next }]);
  };

  const issues = validateEidDeviceSwap(request);
  if (issues.length > 0) {
    phase = 'failed';
    upsertSearchAttributes([
      { key: searchAttributes.Operation, value: 'eidDeviceSwap' },
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
    { key: searchAttributes.Operation, value: 'eidDeviceSwap' },
    { key: searchAttributes.ThingSpaceAccount, value: request.accountName },
    { key: searchAttributes.DeviceIds, value: devices.map(deviceKey) },
  ]);

  const stepTimeout = stepTimeoutOf(request.options);
  try {
    // Not cancellable: a cancelled claim could commit after the release below, and a cancelled submit
    // could still reach ThingSpace after the saga forgot it.
    setPhase('claiming');
    await CancellationScope.nonCancellable(() => store.claimDevices(devices));

    setPhase('submitting');
    const submitted = await CancellationScope.nonCancellable(() => submitSwap(request));
    const submittedAt = new Date().toISOString();
    if (submitted.requestId) {
      requestId = submitted.requestId;
      upsertSearchAttributes([{ key: searchAttributes.ThingSpaceRequestId, value: requestId }]);
      await store.addCorrelationKeys([`requestid:${requestId}`]);
    } else {
      submitOutcomeUnknown = true;
      log.warn('Swap submitted with unknown outcome; waiting for its callbacks', {});
    }

    setPhase('awaitingCallbacks');
    const settled = () => SWAP_STEPS.every((s) => steps[s].state === 'confirmed');
    const failed = () => SWAP_STEPS.find((s) => steps[s].state === 'failed');
    const inTime = await condition(() => settled() || failed() !== undefined, stepTimeout);

    const failedStep = failed();
    if (failedStep) {
      const fault = steps[failedStep].fault;
      throw ApplicationFailure.create({
        type: FailureType.StepFailed,
        nonRetryable: true,
        message: `Swap step ${failedStep} failed: ${fault?.code}: ${fault?.message}`,
        details: [{ step: failedStep, fault, requestId }],
      });
    }
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
    if (!settled()) {
      const waiting = SWAP_STEPS.filter((s) => steps[s].state === 'waiting');
      for (const s of waiting) steps[s] = { state: 'timedOut', at: new Date().toISOString() };
      throw ApplicationFailure.create({
        type: FailureType.StepTimedOut,
        nonRetryable: true,
        message: `No callback for ${waiting.join(', ')} within the step timeout, and the device list does not show it`,
        details: [{ steps: waiting, requestId, submitOutcomeUnknown }],
      });
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
    };
  } catch (err) {
    if ((phase as SwapSagaPhase) !== 'completed') setPhase('failed');
    throw sagaFailure(err);
  } finally {
    // Runs even when the saga is cancelled: a device must never stay claimed by a closed saga.
    await CancellationScope.nonCancellable(() => store.releaseDevices());
    log.info('Devices released', { workflowId: workflowInfo().workflowId });
  }
}
