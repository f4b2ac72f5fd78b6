/**
 * Operator decisions for sagas held by policy `hold` (DESIGN.md §7): the `decide` update, which refuses
 * what the saga cannot take, and the `operatorDecision` signal kept for compatibility. Workflow code:
 * deterministic, no I/O.
 */
import { ApplicationFailure, condition, log, setHandler } from '@temporalio/workflow';
import {
  FailureType,
  operatorDecisionSignal,
  operatorDecisionUpdate,
  type DecisionOutcome,
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

/** Why the saga cannot take `input` now, or undefined when it can. */
function refusal(
  input: unknown,
  state: { awaiting: boolean; pending: boolean; offers: (d: OperatorDecision) => boolean },
  { needsOperator }: { needsOperator: boolean },
): string | undefined {
  const decision = readDecision(input);
  if (!decision) return `decision must be one of ${DECISIONS.join(', ')}`;
  if (needsOperator && !decision.operator?.trim()) return 'operator is required: who decides';
  if (!state.offers(decision)) return `${decision.decision} is not offered by this operation`;
  if (!state.awaiting) return 'the saga is not waiting for a decision';
  if (state.pending) return 'another decision is being taken';
  return undefined;
}

/**
 * Receives operator decisions. Only one decision is acted on at a time, and only while the saga awaits one
 * (`await`). The `decide` update refuses any other with the reason, and answers an accepted one once the
 * saga has taken it; a signal cannot be refused, so it is recorded as not acted on (the status shows it).
 */
export class OperatorDecisions {
  readonly received: ReceivedDecision[] = [];
  /** Since when, and after what failure, the saga waits for a decision. */
  awaiting: { failure: { type: string; message: string }; since: string } | undefined;
  private pending: OperatorDecision | undefined;
  /** The decision the saga took last: an update's answer waits for it. */
  private taken: OperatorDecision | undefined;
  /** The saga is ending (cancelled while a decision was on its way): an update still waiting is answered. */
  private ended = false;

  /**
   * `offers`: whether the operation offers a decision at all (bulk sagas have no compensation). `phase`:
   * where the saga stands, the update's answer.
   */
  constructor(
    private readonly offers: (decision: OperatorDecision) => boolean = () => true,
    phase: () => string = () => 'unknown',
  ) {
    const state = () => ({ awaiting: this.awaiting !== undefined, pending: this.pending !== undefined, offers });
    setHandler(operatorDecisionSignal, (input) => {
      const decision = readDecision(input);
      if (!decision) {
        log.warn('Operator decision ignored: not retry, compensate or abandon', {});
        return;
      }
      // The signal keeps the rules it always had (no operator needed): runs it decided replay as they ran.
      const refused = refusal(decision, state(), { needsOperator: false });
      this.received.push({ ...decision, at: new Date().toISOString(), acted: refused === undefined });
      if (refused === undefined) this.pending = decision;
      else log.warn('Operator decision ignored', { decision: decision.decision, reason: refused });
    });
    setHandler(
      operatorDecisionUpdate,
      async (input): Promise<DecisionOutcome> => {
        const decision = readDecision(input) as OperatorDecision;
        const entry: ReceivedDecision = { ...decision, at: new Date().toISOString(), acted: true };
        this.received.push(entry);
        this.pending = decision;
        // The saga takes it in its own time (this activation); the answer says where that led.
        await condition(() => this.taken === decision || this.ended);
        entry.acted = this.taken === decision;
        return { acted: entry.acted, phase: phase() };
      },
      {
        validator: (input) => {
          const refused = refusal(input, state(), { needsOperator: true });
          if (refused) throw new Error(`Decision refused: ${refused}`);
        },
      },
    );
  }

  /** The saga is ending: a decision still on its way will not be taken, and its update is answered so. */
  end(): void {
    this.ended = true;
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
    this.taken = decision;
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
