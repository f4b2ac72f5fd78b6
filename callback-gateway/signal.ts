import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { thingspaceCallbackSignal } from '../contracts/index.js';
import { WorkflowGone, type SignalSaga } from './dispatcher.js';

/** Signals through Temporal; a saga that has closed becomes WorkflowGone (its callbacks are orphaned). */
export function temporalSignaler(client: Client): SignalSaga {
  return async (workflowId, events) => {
    try {
      await client.workflow.getHandle(workflowId).signal(thingspaceCallbackSignal, events);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new WorkflowGone(workflowId);
      throw err;
    }
  };
}
