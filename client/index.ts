/**
 * Typed helpers for backend services: start a saga, follow it, read its status. A retried start of
 * the same operation returns the saga already started instead of starting a second one.
 */
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import {
  describeIssues,
  operatorDecisionSignal,
  statusQuery,
  TASK_QUEUE,
  validateEidDeviceSwap,
  workflowIds,
  type EidDeviceSwapRequest,
  type EidDeviceSwapResult,
  type EidDeviceSwapStatus,
  type OperatorDecision,
  type SagaOptions,
  type ValidationIssue,
} from '../contracts/index.js';

export * from '../contracts/index.js';

/** Thrown before anything starts when the request breaks a documented rule. */
export class InvalidRequestError extends Error {
  override name = 'InvalidRequestError';
  constructor(readonly issues: ValidationIssue[]) {
    super(describeIssues(issues));
  }
}

export interface StartOptions {
  taskQueue?: string;
}

export type EidDeviceSwapHandle = WorkflowHandle<(request: EidDeviceSwapRequest) => Promise<EidDeviceSwapResult>> & {
  status(): Promise<EidDeviceSwapStatus>;
};

/**
 * Starts an eidDeviceSwap saga (or finds the one already started for the same account and devices).
 * `options` is merged into the request's own `options` (timeouts, failure policy).
 */
export async function startEidDeviceSwap(
  client: Client,
  request: EidDeviceSwapRequest,
  options: SagaOptions & StartOptions = {},
): Promise<EidDeviceSwapHandle> {
  const { taskQueue = TASK_QUEUE, ...sagaOptions } = options;
  const body: EidDeviceSwapRequest =
    Object.keys(sagaOptions).length > 0 ? { ...request, options: { ...request.options, ...sagaOptions } } : request;
  const issues = validateEidDeviceSwap(body);
  if (issues.length > 0) throw new InvalidRequestError(issues);
  const workflowId = workflowIds.eidDeviceSwap(body);
  let handle: WorkflowHandle;
  try {
    handle = await client.workflow.start('eidDeviceSwap', {
      taskQueue,
      workflowId,
      args: [body],
      // Running: return it. Completed: never swap twice. Failed or cancelled: may be started again.
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    handle = client.workflow.getHandle(workflowId);
  }
  return Object.assign(handle as EidDeviceSwapHandle, { status: () => handle.query(statusQuery) });
}

/** A handle to an existing swap by its workflow id. */
export function getEidDeviceSwap(client: Client, workflowId: string): EidDeviceSwapHandle {
  const handle = client.workflow.getHandle(workflowId);
  return Object.assign(handle as EidDeviceSwapHandle, { status: () => handle.query(statusQuery) });
}

/**
 * Sends an operator's decision to a saga held by failure policy `hold` (signal `operatorDecision`; the
 * CLI equivalent is `temporal workflow signal --workflow-id <id> --name operatorDecision --input
 * '{"decision":"retry"}'`). A signal cannot answer: the saga acts on the first decision it receives
 * while awaiting one and ignores the rest; read `status().decisions` to see which one it acted on.
 */
export async function sendOperatorDecision(
  client: Client,
  workflowId: string,
  decision: OperatorDecision,
): Promise<void> {
  await client.workflow.getHandle(workflowId).signal(operatorDecisionSignal, decision);
}
