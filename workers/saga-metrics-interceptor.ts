/**
 * A workflow interceptor module (bundled with the workflows by `createLifecycleWorker`): it times each
 * saga run and reports how it ended through the `sagaMetrics` sink, which the worker turns into Prometheus
 * metrics (workers/metrics.ts). Sinks are not called during replay, so a run's end is reported once, by
 * the worker that completes it. It issues no commands: histories replay unchanged.
 */
import {
  ContinueAsNew,
  isCancellation,
  proxySinks,
  TemporalFailure,
  ApplicationFailure,
  workflowInfo,
  type Next,
  type Sinks,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';

export interface SagaEnd {
  /** The workflow type: the operation, or `profileShard`. */
  operation: string;
  outcome: 'completed' | 'failed' | 'cancelled' | 'continuedAsNew';
  /** The FailureType of a failed saga (`StepFailed`, `Compensated`, …); empty otherwise. */
  failureType: string;
  /** From the workflow's start to this end, in workflow time. */
  seconds: number;
}

export interface SagaMetricsSinks extends Sinks {
  sagaMetrics: { ended(end: SagaEnd): void };
}

const { sagaMetrics } = proxySinks<SagaMetricsSinks>();

class SagaMetricsInbound implements WorkflowInboundCallsInterceptor {
  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const end = (outcome: SagaEnd['outcome'], failureType = ''): void => {
      const info = workflowInfo();
      sagaMetrics.ended({
        operation: info.workflowType,
        outcome,
        failureType,
        seconds: Math.max(0, (Date.now() - info.startTime.getTime()) / 1000),
      });
    };
    try {
      const result = await next(input);
      end('completed');
      return result;
    } catch (err) {
      if (err instanceof ContinueAsNew) end('continuedAsNew');
      else if (isCancellation(err)) end('cancelled');
      else if (err instanceof ApplicationFailure) end('failed', err.type ?? 'ApplicationFailure');
      else if (err instanceof TemporalFailure) end('failed', err.name);
      // Any other error fails the workflow task, not the saga: the task is retried.
      throw err;
    }
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new SagaMetricsInbound()] });
