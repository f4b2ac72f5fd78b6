/**
 * The kernel of a saga over one ThingSpace request (eidDeviceSwap, changeDeviceIdentifier): the phase,
 * validate-or-fail, claim and release, the status query, the submit, the wait for the steps' callbacks
 * with the device list at the step timeout, the hold / retry / compensate / abandon loop (DESIGN.md §4,
 * step 7) and the compensation stack. The operation supplies a spec: its step rules, its submit, its
 * reconciliation and its default policy; its saga then reads as its steps. Workflow code: deterministic.
 */
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  log,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import {
  FailureType,
  searchAttributes,
  statusQuery,
  stepDetails,
  thingspaceCallbackSignal,
  type CallbackEvent,
  type CompensationOutcome,
  type DeviceId,
  type FailurePolicy,
  type OperatorDecision,
  type RequestSagaPhase,
  type RequestSagaStatus,
  type SagaOptions,
  type SagaStatus,
  type ValidationIssue,
  type WorkflowType,
} from '../../contracts/index.js';
import {
  EVIDENCE_PATCH,
  LIGHT_SAGA_PATCH,
  localStoreActivities,
  REQUEST_IDS_PATCH,
  retryingSubmits,
  stepTimeoutOf,
  storeActivities,
  submitActivities,
  submitOrEvidence,
  submitOrUnknown,
  type OutcomeEvidence,
} from './activities.js';
import { CallbackEvidence, CallbackLedger } from './callbacks.js';
import { abandoned, OperatorDecisions } from './decisions.js';
import { invalidRequest, RESUBMITTABLE, sagaFailure } from './failures.js';
import { SagaPhase, sagaTags } from './phase.js';
import { StepTracker, trustEveryCallback, type StepRules } from './steps.js';

const submits = submitActivities('1 minute');
const retried = retryingSubmits('1 minute');

/** A compensation, registered before the step it undoes (STYLE.md §5); the stack runs newest first. */
export interface Compensation {
  name: string;
  run(): Promise<CompensationOutcome>;
}

export interface RequestSagaSpec<S extends string> {
  operation: Extract<WorkflowType, 'eidDeviceSwap' | 'changeDeviceIdentifier'>;
  /** How messages name the operation: `Swap`, `Identifier change`. */
  noun: string;
  options: SagaOptions | undefined;
  rules: StepRules<S>;
  /** How a failure message names a step: `Swap step goToState`. */
  stepLabel(step: S): string;
  /** The policy when the request names none. */
  defaultPolicy(): FailurePolicy;
  /** Sends the request once; `activities` are the submit activities of the run's patch level. */
  submit(activities: Activities): Promise<{ requestId: string }>;
  /** At the step timeout: confirms the waiting steps the device list shows. */
  reconcile(steps: StepTracker<S>): Promise<void>;
  /**
   * Before the compensations run: whatever the operation must know first. `completed`: the device list
   * shows the work done after all, and the saga completes instead.
   */
  beforeCompensating(steps: StepTracker<S>): Promise<'compensate' | 'completed'>;
  /** The operation's part of the status: its steps. */
  status(steps: StepTracker<S>): object;
}

const ENDED: RequestSagaPhase[] = ['completed', 'compensated', 'abandoned', 'failed'];

export class RequestSaga<S extends string> {
  /** New runs are light (LIGHT_SAGA_PATCH), which implies the two patches below; older runs read them. */
  private readonly light = patched(LIGHT_SAGA_PATCH);
  /** Runs started before the patch keep their behaviour (see EVIDENCE_PATCH). */
  readonly needsEvidence = this.light || patched(EVIDENCE_PATCH);
  /** Runs started before it do not list their request ids in `ThingSpaceRequestIds` (new upserts). */
  private readonly listsRequestIds = this.light || patched(REQUEST_IDS_PATCH);
  /** The store's calls: local activities in a light saga. */
  private readonly store = this.light ? localStoreActivities : storeActivities;
  readonly phase = new SagaPhase<RequestSagaPhase>('validating', () => this.show());
  /** Every request id the saga sent, or whose callbacks decided a step: search attribute `ThingSpaceRequestIds`. */
  private readonly requestIds: string[] = [];
  readonly trust = new CallbackEvidence();
  readonly steps: StepTracker<S>;
  readonly stepTimeout: string | number;
  /** Request ids seen on the callbacks that decided a step (every callback's, for runs before the patch). */
  readonly callbackRequestIds = new Set<string>();
  readonly previousRequestIds: string[] = [];
  requestId: string | undefined;
  submittedAt = '';
  private submitOutcomeUnknown = false;
  private evidence: OutcomeEvidence | undefined;
  private readonly ledger = new CallbackLedger();
  private readonly decisions = new OperatorDecisions(
    () => true,
    () => this.phase.value,
  );
  private readonly compensations: Compensation[] = [];
  private compensationOutcomes: CompensationOutcome[] | undefined;
  /** Where callbacks go while a compensation waits for its own (the reverse swap). */
  private diverted: ((event: CallbackEvent) => void) | undefined;

  constructor(private readonly spec: RequestSagaSpec<S>) {
    const judge = this.needsEvidence
      ? (step: string, event: CallbackEvent, contentOk: boolean) => this.trust.counts(step, event, contentOk)
      : trustEveryCallback;
    this.steps = new StepTracker(spec.rules, judge);
    this.stepTimeout = stepTimeoutOf(spec.options);
    setHandler(thingspaceCallbackSignal, (events) => {
      for (const event of this.ledger.accept(events)) (this.diverted ?? this.apply)(event);
    });
    setHandler(statusQuery, (): SagaStatus => {
      const base: Pick<RequestSagaStatus, 'phase' | 'requestId' | 'submitOutcomeUnknown'> = {
        phase: this.phase.value,
        ...(this.requestId ? { requestId: this.requestId } : {}),
        ...(this.submitOutcomeUnknown ? { submitOutcomeUnknown: true } : {}),
      };
      return {
        operation: spec.operation,
        ...base,
        ...spec.status(this.steps),
        callbacksReceived: this.ledger.received,
        duplicatesIgnored: this.ledger.duplicates,
        ...(this.decisions.awaiting ? { awaitingDecision: this.decisions.awaiting } : {}),
        ...(this.decisions.received.length > 0 ? { decisions: this.decisions.received } : {}),
        ...(this.previousRequestIds.length > 0 ? { previousRequestIds: this.previousRequestIds } : {}),
        ...(this.compensationOutcomes ? { compensations: this.compensationOutcomes } : {}),
        ...(this.evidence ? { outcomeEvidence: this.evidence } : {}),
        ...this.trust.status(),
      } as SagaStatus;
    });
  }

  private readonly apply = (event: CallbackEvent): void => {
    if (event.requestId && !this.needsEvidence) this.callbackRequestIds.add(event.requestId);
    const holding = this.phase.value === 'awaitingDecision';
    if (this.steps.apply(event, holding) === undefined) return;
    if (event.requestId) {
      this.callbackRequestIds.add(event.requestId);
      this.listRequestId(event.requestId);
    }
    this.show();
  };

  /**
   * Lists a request id the saga sent or whose callback counted, so an operator holding any callback's id
   * finds the saga (`ThingSpaceRequestIds = "<id>"`). `also`: other attributes to upsert with it.
   */
  listRequestId(requestId: string, also: SearchAttributeUpdatePair[] = []): void {
    const listed = this.listsRequestIds && !this.requestIds.includes(requestId);
    if (listed) this.requestIds.push(requestId);
    const list = listed ? [{ key: searchAttributes.ThingSpaceRequestIds, value: [...this.requestIds] }] : [];
    if (also.length + list.length === 0) return;
    // A light saga sends them with the upsert of the phase it waits in next.
    if (this.light) this.phase.stage([...also, ...list]);
    else upsertSearchAttributes([...also, ...list]);
  }

  /** The Temporal UI's current details: the phase and a table of the steps. */
  private show(): void {
    setCurrentDetails(
      stepDetails(this.spec.noun, this.phase.value, this.steps?.states ?? {}, {
        callbacks: this.ledger?.received ?? 0,
        duplicates: this.ledger?.duplicates ?? 0,
        requestId: this.requestId,
      }),
    );
  }

  /** Validate-or-fail: an invalid request ends the saga `InvalidRequest` before anything starts. */
  validate(issues: ValidationIssue[]): void {
    if (issues.length === 0) return;
    this.phase.failAtStart(this.spec.operation, 'failed');
    throw invalidRequest(issues);
  }

  /** Operators' search attributes: the operation, the account and the devices. */
  tag(devices: DeviceId[], account?: string): void {
    const tags = sagaTags({ operation: this.spec.operation, account, devices });
    // A light saga sends them with its first phase.
    if (this.light) this.phase.stage(tags);
    else upsertSearchAttributes(tags);
  }

  /**
   * Claims the devices, runs the saga's steps and releases the devices, whatever happens. A failure leaves
   * with the type its activity gave it (`WorkflowFailedError.cause.type`).
   */
  async run<T>(devices: DeviceId[], account: string | undefined, steps: () => Promise<T>): Promise<T> {
    try {
      // Not cancellable: a cancelled claim could commit after the release below, and a cancelled submit
      // could still reach ThingSpace after the saga forgot it.
      this.phase.set('claiming');
      await CancellationScope.nonCancellable(() => this.store.claimDevices(devices, account));
      const result = await steps();
      this.phase.set('completed');
      log.info(`${this.spec.noun} completed`, { requestId: this.requestId });
      return result;
    } catch (err) {
      if (!ENDED.includes(this.phase.value)) this.phase.set('failed');
      throw sagaFailure(err);
    } finally {
      this.decisions.end();
      // Runs even when the saga is cancelled: a device must never stay claimed by a closed saga.
      await CancellationScope.nonCancellable(() => this.store.releaseDevices());
    }
  }

  /** Registers a compensation before the step it undoes: a submit whose answer is lost may still act. */
  compensateWith(compensation: Compensation): void {
    this.compensations.push(compensation);
  }

  /** Callbacks go to `handler` from now on (a compensation that waits for its own request's callbacks). */
  divertCallbacks(handler: (event: CallbackEvent) => void): void {
    this.diverted = handler;
  }

  /**
   * Submits the request and registers its request id for correlation. Retried by Temporal while
   * ThingSpace surely did not act; an unknown outcome leaves no request id and the callbacks decide.
   */
  async submit(): Promise<void> {
    // A light saga passes through `submitting` without an upsert: the submit is one activity.
    if (this.light) this.phase.pass('submitting');
    else this.phase.set('submitting');
    const submitted = await CancellationScope.nonCancellable(async () => {
      if (!this.needsEvidence) {
        return submitOrUnknown(() => this.spec.submit(submits), { resendWhenUnanswered: true });
      }
      const answer = await submitOrEvidence(() => this.spec.submit(retried));
      this.evidence = 'evidence' in answer ? answer.evidence : undefined;
      return 'evidence' in answer ? {} : answer;
    });
    this.submittedAt = new Date().toISOString();
    if (this.requestId) this.previousRequestIds.push(this.requestId);
    this.requestId = submitted.requestId;
    this.submitOutcomeUnknown = this.requestId === undefined;
    if (this.requestId === undefined) {
      log.warn(`${this.spec.noun} submitted with unknown outcome; waiting for its callbacks`, {});
      return;
    }
    // A failure that arrived before the submit's answer carried the request id just learnt: it counts now.
    this.trust.learn(this.requestId).forEach(this.apply);
    this.listRequestId(this.requestId, [{ key: searchAttributes.ThingSpaceRequestId, value: this.requestId }]);
    await this.store.addCorrelationKeys([`requestid:${this.requestId}`]);
  }

  /**
   * Waits for every step, then follows the failure policy until the saga completes; throws how it ended
   * otherwise. An unknown outcome is never failed or compensated on a guess: it waits for a person.
   */
  async settle(): Promise<void> {
    let failure = await this.awaitSteps();
    while (failure) {
      const policy =
        failure.type === FailureType.ThingSpaceOutcomeUnknown
          ? 'hold'
          : (this.spec.options?.failurePolicy ?? this.spec.defaultPolicy());
      if (policy === 'fail') throw failure;
      const decision: OperatorDecision | undefined =
        policy === 'compensate' ? { decision: 'compensate' } : await this.awaitDecision(failure);
      if (!decision) return;
      if (decision.decision === 'abandon') {
        this.phase.set('abandoned');
        throw abandoned(this.spec.noun, decision, failure);
      }
      if (decision.decision === 'compensate') {
        const compensated = await this.compensate(failure);
        if (compensated) throw compensated;
        return;
      }
      failure = await this.retry(failure);
    }
  }

  /** Waits for the open steps for one step timeout, then asks the device list; the failure, if any is left. */
  private async awaitSteps(): Promise<ApplicationFailure | undefined> {
    const { steps } = this;
    this.phase.set('awaitingCallbacks');
    const inTime = await condition(() => steps.settled() || steps.failed() !== undefined, this.stepTimeout);
    const failedStep = steps.failed();
    if (failedStep) return this.stepFailed(failedStep, false);
    if (!inTime) {
      // ThingSpace gives up on callbacks after a few attempts: ask its device list before failing.
      this.phase.set('reconciling');
      await this.spec.reconcile(steps);
    }
    if (this.needsEvidence && !steps.settled()) {
      // The device list does not show these steps: a failure kept as unverified is now the outcome.
      const shownFailed = steps.failUnverified(this.trust.unverified);
      if (shownFailed) return this.stepFailed(shownFailed, true);
      if (this.submitOutcomeUnknown && steps.nothingSeen()) {
        // Neither callbacks nor the device list say whether ThingSpace took the request: a person decides.
        const observed = this.evidence?.observed ?? 'its answer was lost';
        return ApplicationFailure.create({
          type: FailureType.ThingSpaceOutcomeUnknown,
          nonRetryable: true,
          message: `ThingSpace may or may not have accepted the ${this.spec.noun.toLowerCase()} (${observed}); no callback came and the device list shows no step`,
          details: [{ evidence: this.evidence, steps: steps.steps }],
        });
      }
    }
    if (steps.settled()) return undefined;
    const waiting = steps.timeOut();
    return ApplicationFailure.create({
      type: FailureType.StepTimedOut,
      nonRetryable: true,
      message: `No callback for ${waiting.join(', ')} within the step timeout, and the device list does not show it`,
      details: [{ steps: waiting, requestId: this.requestId, submitOutcomeUnknown: this.submitOutcomeUnknown }],
    });
  }

  /** `StepFailed` for a failed step; `byDeviceList`: an unverified failure the device list bore out. */
  private stepFailed(step: S, byDeviceList: boolean): ApplicationFailure {
    const { fault, requestId } = this.steps.states[step];
    const why = byDeviceList
      ? ` (a callback of request ${requestId ?? 'unknown'} said so, and the device list does not show the step)`
      : '';
    return ApplicationFailure.create({
      type: FailureType.StepFailed,
      nonRetryable: true,
      message: `${this.spec.stepLabel(step)} failed: ${fault?.code}: ${fault?.message}${why}`,
      details: [
        { step, fault, requestId: this.requestId, ...(byDeviceList ? { confirmedBy: 'deviceList' as const } : {}) },
      ],
    });
  }

  /** Policy `hold`: parks the saga until an operator decides; no timeout, a person is needed. */
  private async awaitDecision(failure: ApplicationFailure): Promise<OperatorDecision | undefined> {
    this.phase.set('awaitingDecision');
    log.warn(`${this.spec.noun} awaits an operator decision`, { failureType: failure.type, requestId: this.requestId });
    // Late callbacks still count while the saga holds: if they complete it, nothing is left to decide.
    const decision = await this.decisions.await(failure, () => this.steps.settled());
    if (!decision)
      log.info(`${this.spec.noun} completed by late callbacks while it held`, { requestId: this.requestId });
    return decision;
  }

  /**
   * `retry` re-runs the failure point. Timed-out steps are waited for (and reconciled) again. A failed
   * step cannot be redone on its own (the pages offer only the whole request), so the request is
   * resubmitted: new request id, confirmed steps stay confirmed, failed ones wait again. After an unknown
   * outcome, a person decided that the request never reached ThingSpace.
   */
  private async retry(failure: ApplicationFailure): Promise<ApplicationFailure | undefined> {
    if (failure.type === FailureType.StepTimedOut) {
      this.steps.reopen('timedOut');
      return this.awaitSteps();
    }
    const restore = this.steps.reopen('failed');
    try {
      await this.submit();
    } catch (err) {
      const refused = sagaFailure(err);
      if (!(refused instanceof ApplicationFailure) || !RESUBMITTABLE.includes(refused.type ?? '')) throw refused;
      // ThingSpace refused the resubmission (a step of the first request changed the devices): the
      // failed steps stay failed and the operator decides again.
      restore();
      return refused;
    }
    return this.awaitSteps();
  }

  /**
   * Runs the compensations registered so far, newest first, none of them cancellable; the failure the
   * saga ends with, or undefined when the operation's check found the work done after all.
   */
  private async compensate(failure: ApplicationFailure): Promise<ApplicationFailure | undefined> {
    this.phase.set('compensating');
    if ((await this.spec.beforeCompensating(this.steps)) === 'completed') {
      log.info(`The device list shows the ${this.spec.noun.toLowerCase()} done after all; nothing to compensate`, {
        requestId: this.requestId,
      });
      return undefined;
    }
    const outcomes: CompensationOutcome[] = [];
    const failures: { compensation: string; message: string }[] = [];
    await CancellationScope.nonCancellable(async () => {
      for (const compensation of [...this.compensations].reverse()) {
        try {
          outcomes.push(await compensation.run());
        } catch (err) {
          // Never swallowed: logged here and named in the saga's failure.
          const failed = sagaFailure(err);
          const message = failed instanceof Error ? failed.message : String(failed);
          log.error('Compensation failed', { compensation: compensation.name, error: message });
          failures.push({ compensation: compensation.name, message });
        }
      }
    });
    this.compensationOutcomes = outcomes;
    const original = { type: failure.type, message: failure.message };
    if (failures.length > 0) {
      this.phase.set('failed');
      return ApplicationFailure.create({
        type: FailureType.CompensationFailed,
        nonRetryable: true,
        message: `Compensation ${failures.map((f) => `${f.compensation} failed: ${f.message}`).join('; ')} (after ${original.type}: ${original.message})`,
        details: [{ failure: original, failed: failures, compensations: outcomes }],
      });
    }
    this.phase.set('compensated');
    const done = outcomes.map((o) => `${o.compensation} ${o.outcome}: ${o.detail}`).join('; ');
    log.info(`${this.spec.noun} compensated`, {
      compensations: outcomes.map((o) => `${o.compensation}: ${o.outcome}`),
    });
    return ApplicationFailure.create({
      type: FailureType.Compensated,
      nonRetryable: true,
      message: `${this.spec.noun} compensated after ${original.type} (${original.message}): ${done}`,
      details: [{ failure: original, compensations: outcomes }],
    });
  }
}
