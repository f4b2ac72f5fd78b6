/**
 * Operator decisions for sagas held by policy `hold` (DESIGN.md §7: signal `operatorDecision`). Workflow
 * code: deterministic, no I/O.
 */
import { ApplicationFailure, condition, log, setHandler } from '@temporalio/workflow';
import {
  FailureType,
  operatorDecisionSignal,
  type OperatorDecision,
  type ReceivedDecision,
} from '../../contracts/index.js';

const DECISIONS: readonly string[] = ['retry', 'compensate', 'abandon'];

/** What a decision is asked about: a failure's type and message. */
export interface FailureSummary {
  type?: string | null;
  message: string;
}

/** The decision in a signal's payload, or undefined when it is not one (signals cannot be refused). */
export function readDecision(input: unknown): OperatorDecision | undefined {
  if (typeof input !== 'object' || input === null) return undefined;
  const { decision, reason, operator } = input as Record<string, unknown>;
  if (typeof decision !== 'string' || !DECISIONS.includes(decision)) return undefined;
  return {
    decision: decision as OperatorDecision['decision'],
    ...(typeof reason === 'string' ? { reason } : {}),
    ...(typeof operator === 'string' ? { operator } : {}),
  };
}

/**
 * Receives `operatorDecision` signals. Only one decision is acted on at a time, and only while the saga
 * awaits one (`await`); any other is recorded as not acted on, so the status query shows it.
 */
export class OperatorDecisions {
  readonly received: ReceivedDecision[] = [];
  /** Since when, and after what failure, the saga waits for a decision. */
  awaiting: { failure: { type: string; message: string }; since: string } | undefined;
  private pending: OperatorDecision | undefined;

  constructor(private readonly accepts: (decision: OperatorDecision) => boolean = () => true) {
    setHandler(operatorDecisionSignal, (input) => {
      const decision = readDecision(input);
      if (!decision) {
        log.warn('Operator decision ignored: not retry, compensate or abandon', {});
        return;
      }
      const acted = this.awaiting !== undefined && this.pending === undefined && this.accepts(decision);
      this.received.push({ ...decision, at: new Date().toISOString(), acted });
      if (acted) this.pending = decision;
      else
        log.warn('Operator decision ignored', { decision: decision.decision, awaiting: this.awaiting !== undefined });
    });
  }

  /**
   * Waits, without a timeout (a person is needed), for a decision about `failure`; undefined when
   * `resolved` turns true first (late callbacks completed the work).
   */
  async await(failure: FailureSummary, resolved: () => boolean): Promise<OperatorDecision | undefined> {
    this.awaiting = {
      failure: { type: failure.type ?? FailureType.InternalError, message: failure.message },
      since: new Date().toISOString(),
    };
    await condition(() => this.pending !== undefined || resolved());
    const decision = this.pending;
    this.pending = undefined;
    this.awaiting = undefined;
    if (decision) log.info('Operator decision taken', { decision: decision.decision, operator: decision.operator });
    return decision;
  }
}

/** The failure a saga ends with when an operator abandons it. */
export function abandoned(what: string, decision: OperatorDecision, failure: ApplicationFailure): ApplicationFailure {
  const by = decision.operator ? ` by ${decision.operator}` : '';
  return ApplicationFailure.create({
    type: FailureType.Abandoned,
    nonRetryable: true,
    message: `${what} abandoned${by}: ${decision.reason ?? 'no reason given'} (after ${failure.type}: ${failure.message})`,
    details: [
      {
        failure: { type: failure.type, message: failure.message },
        reason: decision.reason,
        operator: decision.operator,
      },
    ],
  });
}
