/**
 * Where each step of a saga over one ThingSpace request stands, from its callbacks and the device list.
 * Pure: no Temporal, no I/O; unit-tested on its own (test/unit/step-tracker.test.ts). The operation
 * supplies its rules: which step a callback is about, and what a success must name to count.
 */
import type { CallbackEvent, DeviceId, StepState } from '../../contracts/index.js';

/** What a confirmed step reported: the identifiers, and what else its callback carried. */
export interface StepResult {
  deviceIds?: DeviceId[];
  servicePlan?: string;
  profileStatus?: string;
}

/** The operation's part: its steps and how a callback maps onto them. */
export interface StepRules<S extends string> {
  readonly steps: readonly S[];
  /** The step a success or failure callback is about (a failure may say little), or undefined: none of ours. */
  stepOf(event: CallbackEvent, states: Readonly<Record<S, StepState>>): S | undefined;
  /** Whether a success names what `step` must name (its content, not just a device it shares). */
  names(step: S, event: CallbackEvent): boolean;
}

/**
 * Whether a callback may decide `step` (workflows/saga/callbacks.ts): its own request id, or content that
 * names the step. Sagas that started before callbacks needed evidence trust every callback.
 */
export type Judge = (step: string, event: CallbackEvent, contentOk: boolean) => boolean;

export const trustEveryCallback: Judge = () => true;

/** A failure kept as unverified (see CallbackEvidence) that the device list did not contradict. */
export interface ReportedFailure {
  step: string;
  fault: { code: string; message: string };
  requestId?: string;
}

const now = () => new Date().toISOString();

export class StepTracker<S extends string> {
  readonly states: Record<S, StepState>;
  readonly results: Partial<Record<S, StepResult>> = {};

  constructor(
    private readonly rules: StepRules<S>,
    private readonly judge: Judge = trustEveryCallback,
  ) {
    this.states = Object.fromEntries(rules.steps.map((s) => [s, { state: 'waiting' }])) as Record<S, StepState>;
  }

  get steps(): readonly S[] {
    return this.rules.steps;
  }

  /**
   * Applies a callback; the step it decided, or undefined (a warning, none of ours, a step already
   * settled, or a callback the judge did not let count). While the saga holds (`holding`), a late
   * callback still decides a timed-out step: the outcome happened after all.
   */
  apply(event: CallbackEvent, holding = false): S | undefined {
    if (event.status === 'warning') return undefined;
    const step = this.rules.stepOf(event, this.states);
    if (step === undefined) return undefined;
    const { state } = this.states[step];
    const open = state === 'waiting' || (holding && state === 'timedOut');
    if (!open || !this.judge(step, event, this.rules.names(step, event))) return undefined;
    const base = event.requestId ? { at: now(), requestId: event.requestId } : { at: now() };
    if (event.status === 'failed') {
      this.states[step] = { ...base, state: 'failed', fault: event.fault ?? { code: 'unknown', message: 'Failed' } };
      return step;
    }
    this.states[step] = { ...base, state: 'confirmed', confirmedBy: 'callback' };
    const result: StepResult = {
      ...(event.resultDeviceIds ? { deviceIds: event.resultDeviceIds } : {}),
      ...(event.servicePlan ? { servicePlan: event.servicePlan } : {}),
      ...(event.profile?.profileStatus !== undefined ? { profileStatus: event.profile.profileStatus } : {}),
    };
    this.results[step] = result;
    return step;
  }

  /** Every step confirmed. */
  settled(): boolean {
    return this.steps.every((s) => this.states[s].state === 'confirmed');
  }

  /** The first failed step, in the rules' order. */
  failed(): S | undefined {
    return this.steps.find((s) => this.states[s].state === 'failed');
  }

  /** The steps still waiting for their outcome. */
  waiting(): S[] {
    return this.steps.filter((s) => this.states[s].state === 'waiting');
  }

  /** No step has an outcome yet. */
  nothingSeen(): boolean {
    return this.waiting().length === this.steps.length;
  }

  /** The device list showed the step: confirmed by reconciliation, with what the list reported. */
  confirm(step: S, deviceIds?: DeviceId[], extra: Omit<StepResult, 'deviceIds'> = {}): void {
    this.states[step] = { state: 'confirmed', confirmedBy: 'reconciliation', at: now() };
    this.results[step] = { ...(deviceIds ? { deviceIds } : {}), ...extra };
  }

  /**
   * The device list does not show these steps: a failure kept as unverified for a waiting step is now
   * its outcome. The first failed step, if any.
   */
  failUnverified(reported: readonly ReportedFailure[]): S | undefined {
    for (const step of this.waiting()) {
      const failure = reported.find((r) => r.step === step);
      if (!failure) continue;
      const id = failure.requestId ? { requestId: failure.requestId } : {};
      this.states[step] = { state: 'failed', at: now(), fault: failure.fault, ...id };
    }
    return this.failed();
  }

  /** The waiting steps time out; which they were. */
  timeOut(): S[] {
    const waiting = this.waiting();
    for (const step of waiting) this.states[step] = { state: 'timedOut', at: now() };
    return waiting;
  }

  /**
   * A `retry`: the steps in `state` wait again. Returns how to put them back (a refused resubmission
   * leaves them as they were).
   */
  reopen(state: 'failed' | 'timedOut'): () => void {
    const before = this.steps.filter((s) => this.states[s].state === state).map((s) => [s, this.states[s]] as const);
    for (const [step] of before) this.states[step] = { state: 'waiting' };
    return () => {
      for (const [step, was] of before) this.states[step] = was;
    };
  }
}
