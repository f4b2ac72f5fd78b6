import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { thingspaceCallbackSignal, type CallbackEvent } from '../contracts/index.js';
import type { SagaRef } from '../store/index.js';
import { WorkflowGone, type SignalSaga } from './dispatcher.js';

/** Closed runs whose received inbox ids were read; a closed run's history does not change. */
const REMEMBERED_RUNS = 100;

/**
 * Signals through Temporal, to the exact run that claimed the devices: a later run with the same
 * workflow id never receives an earlier run's callbacks. A closed run becomes WorkflowGone, which
 * names the callbacks the run did receive before it closed (an earlier delivery whose gateway died
 * before recording it); the others are orphaned.
 */
export function temporalSignaler(client: Client): SignalSaga {
  const remembered = new Map<string, Promise<Set<number>>>();
  const receivedBy = (saga: SagaRef): Promise<Set<number>> => {
    const key = `${saga.workflowId}\n${saga.runId}`;
    let received = remembered.get(key);
    if (!received) {
      received = inboxIdsReceived(client, saga);
      // A failed read (Temporal unreachable) is not remembered: the next round reads again.
      received.catch(() => remembered.delete(key));
      remembered.set(key, received);
      if (remembered.size > REMEMBERED_RUNS) remembered.delete(remembered.keys().next().value as string);
    }
    return received;
  };

  return async (saga, events) => {
    const { workflowId, runId } = saga;
    try {
      await client.workflow.getHandle(workflowId, runId).signal(thingspaceCallbackSignal, events);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new WorkflowGone(workflowId, await receivedBy(saga));
      throw err;
    }
  };
}

/** The inbox ids of every callback signal in a closed run's history; none when the history is gone. */
async function inboxIdsReceived(client: Client, { workflowId, runId }: SagaRef): Promise<Set<number>> {
  const received = new Set<number>();
  let history;
  try {
    history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  } catch (err) {
    // Past the namespace's retention the history is deleted, and with it any delivery.
    if (err instanceof WorkflowNotFoundError) return received;
    throw err;
  }
  const { payloadConverter, payloadCodecs } = client.workflow.options.loadedDataConverter;
  for (const event of history.events ?? []) {
    const signaled = event.workflowExecutionSignaledEventAttributes;
    if (signaled?.signalName !== thingspaceCallbackSignal.name) continue;
    // Codecs decode in the reverse order of encoding (the payloads are encrypted when a key is set).
    let payloads = (signaled.input?.payloads ?? []) as Payload[];
    for (const codec of [...payloadCodecs].reverse()) payloads = await codec.decode(payloads);
    const first = payloads[0];
    const events: unknown = first ? payloadConverter.fromPayload(first) : undefined;
    if (!Array.isArray(events)) continue;
    for (const e of events as Partial<CallbackEvent>[]) if (typeof e?.inboxId === 'number') received.add(e.inboxId);
  }
  return received;
}
