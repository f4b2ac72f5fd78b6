import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { thingspaceCallbackSignal } from '../contracts/index.js';
import { WorkflowGone, type SignalSaga } from './dispatcher.js';

/**
 * Signals through Temporal, to the exact run that claimed the devices: a later run with the same
 * workflow id never receives an earlier run's callbacks. A closed run becomes WorkflowGone (its
 * callbacks are orphaned).
 */
export function temporalSignaler(client: Client): SignalSaga {
  return async ({ workflowId, runId }, events) => {
    try {
      await client.workflow.getHandle(workflowId, runId).signal(thingspaceCallbackSignal, events);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new WorkflowGone(workflowId);
      throw err;
    }
  };
}
