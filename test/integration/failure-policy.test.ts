import {
  decide,
  DecisionRefusedError,
  sendOperatorDecision,
  startEidDeviceSwap,
  type EidDeviceSwapHandle,
} from '../../client/index.js';
import { FailureType, searchAttributes, type DeviceId, type EidDeviceSwapStatus } from '../../contracts/index.js';
import {
  failureOf,
  requestLogLength,
  seedSwapPair,
  simRequests,
  startSystem,
  swapRequest,
  waitFor,
  type TestSystem,
} from './harness.js';

interface SimOperation {
  requestId: string;
  steps: Record<string, string>;
}

let system: TestSystem;

beforeAll(async () => {
  system = await startSystem();
});

afterAll(async () => {
  await system?.stop();
});

beforeEach(async () => {
  await system.sim('POST', '/__sim/faults', { clear: true });
});

const idOf = (ids: DeviceId[], kind: string) => ids.find((d) => d.kind === kind)?.id as string;

async function swapSubmits(since: number): Promise<number[]> {
  return (await simRequests(system, 'eidDeviceSwap', since)).map((r) => r.status);
}

async function awaitingDecision(handle: EidDeviceSwapHandle): Promise<EidDeviceSwapStatus> {
  await waitFor(async () => (await handle.status()).phase === 'awaitingDecision');
  return handle.status();
}

const identifierChangeFails = {
  identifierChange: { faultcode: 'REQUEST_FAILED.UnexpectedError', faultstring: 'The SM-SR did not answer.' },
};

describe('eidDeviceSwap failure policies', () => {
  it('when policy hold meets a failed step, the saga awaits a decision and an abandon ends it Abandoned', async () => {
    await system.sim('POST', '/__sim/faults', { callbacks: { fail: identifierChangeFails } });
    const pair = await seedSwapPair(system);
    // The failure callback carries a request id of its own, unknown to the saga: it decides nothing until
    // the step timeout, when the device list shows that the identifier change did not happen.
    const request = swapRequest(pair, { options: { failurePolicy: 'hold', stepTimeout: '4 seconds' } });
    const handle = await startEidDeviceSwap(system.client, request, { taskQueue: system.taskQueue });

    await waitFor(async () => (await handle.status()).unverifiedFailures?.length === 1);
    expect((await handle.status()).phase).toBe('awaitingCallbacks');
    const held = await awaitingDecision(handle);
    const failedStep = held.steps.identifierChange;
    const stepFailure =
      'Swap step identifierChange failed: CarrierService.REQUEST_FAILED.UnexpectedError: The SM-SR did not answer. ' +
      `(a callback of request ${failedStep.requestId} said so, and the device list does not show the step)`;
    expect(held.awaitingDecision).toEqual({
      failure: { type: FailureType.StepFailed, message: stepFailure },
      since: expect.any(String),
    });
    expect(failedStep).toMatchObject({ state: 'failed' });
    expect((await handle.describe()).typedSearchAttributes.get(searchAttributes.SagaStep)).toBe('awaitingDecision');

    // The update refuses what the saga cannot take, with the reason, and answers once the saga took it.
    await expect(decide(system.client, handle.workflowId, { decision: 'abandon' })).rejects.toThrow(
      new DecisionRefusedError('operator is required: who decides'),
    );
    await expect(
      decide(system.client, handle.workflowId, { decision: 'undo', operator: 'ops-alice' } as never),
    ).rejects.toThrow('Decision refused: decision must be one of retry, compensate, abandon');
    const outcome = await decide(system.client, handle.workflowId, {
      decision: 'abandon',
      reason: 'customer cancelled the hardware change',
      operator: 'ops-alice',
    });
    expect(outcome).toEqual({ acted: true, phase: 'abandoned' });
    const failure = await failureOf(handle);
    expect(failure.type).toBe(FailureType.Abandoned);
    expect(failure.message).toBe(
      `Swap abandoned by ops-alice: customer cancelled the hardware change (after StepFailed: ${stepFailure})`,
    );
    const status = await handle.status();
    expect(status.phase).toBe('abandoned');
    expect(status.awaitingDecision).toBeUndefined();
    expect(status.decisions).toEqual([
      {
        decision: 'abandon',
        reason: 'customer cancelled the hardware change',
        operator: 'ops-alice',
        at: expect.any(String),
        acted: true,
      },
    ]);
    expect((await handle.describe()).typedSearchAttributes.get(searchAttributes.SagaStep)).toBe('abandoned');
  });

  it('when an operator sends retry twice after a failed step, the swap is resubmitted once and completes', async () => {
    // Only the identifier change happens (and fails) the first time, so the inventory is untouched and
    // ThingSpace accepts the same swap again.
    await system.sim('POST', '/__sim/faults', {
      callbacks: { fail: identifierChangeFails, never: ['deactivation', 'goToState'] },
    });
    const pair = await seedSwapPair(system);
    const since = await requestLogLength(system);
    const request = swapRequest(pair, { options: { failurePolicy: 'hold', stepTimeout: '4 seconds' } });
    const handle = await startEidDeviceSwap(system.client, request, { taskQueue: system.taskQueue });
    const held = await awaitingDecision(handle);
    expect(held.steps).toEqual({
      deactivation: { state: 'waiting' },
      identifierChange: expect.objectContaining({ state: 'failed' }),
      goToState: { state: 'waiting' },
    });

    await system.sim('POST', '/__sim/faults', { clear: true });
    await Promise.all([
      sendOperatorDecision(system.client, handle.workflowId, { decision: 'retry', operator: 'ops-bob' }),
      sendOperatorDecision(system.client, handle.workflowId, { decision: 'retry', operator: 'ops-bob' }),
    ]);
    const result = await handle.result();
    expect(result.previousRequestIds).toEqual([held.requestId]);
    expect(result.requestId).not.toBe(held.requestId);
    expect(result.steps).toEqual({
      deactivation: expect.objectContaining({ state: 'confirmed', confirmedBy: 'callback' }),
      identifierChange: expect.objectContaining({ state: 'confirmed', confirmedBy: 'callback' }),
      goToState: expect.objectContaining({ state: 'confirmed', confirmedBy: 'callback', requestId: result.requestId }),
    });
    expect(await swapSubmits(since)).toEqual([200, 200]);
    const status = await handle.status();
    expect(status.phase).toBe('completed');
    expect(status.decisions?.map((d) => d.acted)).toEqual([true, false]);
    const replacement = await system.sim<{ mdn?: string; state: string }>(
      'GET',
      `/__sim/devices/eid/${idOf(pair.swapIn, 'eid')}`,
    );
    expect(replacement).toMatchObject({ mdn: idOf(pair.swapOut, 'mdn'), state: 'active' });
  });

  it('when policy hold meets a timeout, a retry waits again and completes from the device list', async () => {
    // The steps happen after the first step timeout and their callbacks are lost: the first
    // reconciliation sees nothing, the one after the retry sees all three.
    await system.sim('POST', '/__sim/faults', { callbacks: { drop: 1, delayMs: 3000 } });
    const pair = await seedSwapPair(system);
    const since = await requestLogLength(system);
    const request = swapRequest(pair, { options: { failurePolicy: 'hold', stepTimeout: '2 seconds' } });
    const handle = await startEidDeviceSwap(system.client, request, { taskQueue: system.taskQueue });
    const held = await awaitingDecision(handle);
    expect(held.awaitingDecision?.failure).toEqual({
      type: FailureType.StepTimedOut,
      message:
        'No callback for deactivation, identifierChange, goToState within the step timeout, and the device list does not show it',
    });

    await waitFor(async () => {
      const operations = await system.sim<SimOperation[]>('GET', '/__sim/operations');
      const swap = operations.find((o) => o.requestId === held.requestId);
      return swap !== undefined && Object.values(swap.steps).every((s) => s === 'completed');
    });
    await system.sim('POST', '/__sim/faults', { clear: true });
    await sendOperatorDecision(system.client, handle.workflowId, { decision: 'retry' });
    const result = await handle.result();
    const reconciled = { state: 'confirmed', confirmedBy: 'reconciliation', at: expect.any(String) };
    expect(result.steps).toEqual({ deactivation: reconciled, identifierChange: reconciled, goToState: reconciled });
    expect(result.requestId).toBe(held.requestId);
    expect(await swapSubmits(since)).toEqual([200]);
  });

  it('when policy compensate meets a failed GoToState after the MDN moved, the swap is reversed and ends Compensated', async () => {
    await system.sim('POST', '/__sim/faults', {
      callbacks: { fail: { goToState: { faultcode: 'REQUEST_FAILED.UnexpectedError', faultstring: 'No line.' } } },
    });
    const pair = await seedSwapPair(system);
    const since = await requestLogLength(system);
    const request = swapRequest(pair, { options: { failurePolicy: 'compensate' } });
    const handle = await startEidDeviceSwap(system.client, request, { taskQueue: system.taskQueue });
    const failure = await failureOf(handle);

    expect(failure.type).toBe(FailureType.Compensated);
    const mdn = idOf(pair.swapOut, 'mdn');
    const originalEid = idOf(pair.swapOut, 'eid');
    const undone = {
      compensation: 'reverseEidDeviceSwap',
      outcome: 'undone',
      detail: `MDN ${mdn} moved back to the original device (eid ${originalEid})`,
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    };
    expect(failure.details).toEqual([
      {
        failure: {
          type: FailureType.StepFailed,
          message: 'Swap step goToState failed: StateService.REQUEST_FAILED.UnexpectedError: No line.',
        },
        compensations: [undone],
      },
    ]);
    expect(await swapSubmits(since)).toEqual([200, 200]);
    const status = await handle.status();
    expect(status.phase).toBe('compensated');
    expect(status.compensations).toEqual([undone]);
    // The reverse swap put the MDN back on the original device.
    const original = await system.sim<{ mdn?: string; state: string }>('GET', `/__sim/devices/eid/${originalEid}`);
    expect(original).toMatchObject({ mdn, state: 'active' });
    const operations = await system.sim<{ swapOut: { eid: string }; swapIn: { eid: string } }[]>(
      'GET',
      '/__sim/operations',
    );
    const reverse = operations.find((o) => o.swapIn.eid === originalEid);
    expect(reverse?.swapOut.eid).toBe(idOf(pair.swapIn, 'eid'));
  });

  it('when an operator decides compensate before the MDN moved, there is nothing to undo and the saga ends Compensated', async () => {
    await system.sim('POST', '/__sim/faults', {
      callbacks: { fail: identifierChangeFails, never: ['deactivation', 'goToState'] },
    });
    const pair = await seedSwapPair(system);
    const since = await requestLogLength(system);
    // Compensation first waits one step timeout for the steps still in flight.
    const request = swapRequest(pair, { options: { failurePolicy: 'hold', stepTimeout: '2 seconds' } });
    const handle = await startEidDeviceSwap(system.client, request, { taskQueue: system.taskQueue });
    await awaitingDecision(handle);
    await sendOperatorDecision(system.client, handle.workflowId, { decision: 'compensate' });
    const failure = await failureOf(handle);
    expect(failure.type).toBe(FailureType.Compensated);
    expect(failure.details).toEqual([
      {
        failure: expect.objectContaining({ type: FailureType.StepFailed }),
        compensations: [
          {
            compensation: 'reverseEidDeviceSwap',
            outcome: 'nothingToUndo',
            detail: 'the MDN never left the original device',
          },
        ],
      },
    ]);
    expect(await swapSubmits(since)).toEqual([200]);
  });

  it('when ThingSpace refuses the resubmission, the saga awaits a decision again', async () => {
    // The deactivation happened the first time, so ThingSpace refuses the same swap again.
    await system.sim('POST', '/__sim/faults', { callbacks: { fail: identifierChangeFails, never: ['goToState'] } });
    const pair = await seedSwapPair(system);
    const request = swapRequest(pair, { options: { failurePolicy: 'hold', stepTimeout: '4 seconds' } });
    const handle = await startEidDeviceSwap(system.client, request, { taskQueue: system.taskQueue });
    await awaitingDecision(handle);
    await waitFor(async () => (await handle.status()).steps.deactivation.state === 'confirmed');
    await sendOperatorDecision(system.client, handle.workflowId, { decision: 'retry' });
    await waitFor(async () => (await handle.status()).decisions?.length === 1);
    await waitFor(async () => {
      const status = await handle.status();
      return status.phase === 'awaitingDecision' && status.awaitingDecision?.failure.type !== FailureType.StepFailed;
    });
    const status = await handle.status();
    expect(status.awaitingDecision?.failure.type).toBe(FailureType.ThingSpaceRejected);
    expect(status.steps.identifierChange).toMatchObject({ state: 'failed' });
    await sendOperatorDecision(system.client, handle.workflowId, { decision: 'abandon', reason: 'test finished' });
    expect((await failureOf(handle)).type).toBe(FailureType.Abandoned);
  });

  it('ignores a decision sent while the saga is not awaiting one', async () => {
    await system.sim('POST', '/__sim/faults', { callbacks: { never: ['goToState'] } });
    const pair = await seedSwapPair(system);
    const request = swapRequest(pair, { options: { failurePolicy: 'hold', stepTimeout: '1 minute' } });
    const handle = await startEidDeviceSwap(system.client, request, { taskQueue: system.taskQueue });
    await waitFor(async () => (await handle.status()).phase === 'awaitingCallbacks');
    await sendOperatorDecision(system.client, handle.workflowId, { decision: 'abandon' });
    await waitFor(async () => (await handle.status()).decisions?.length === 1);
    const status = await handle.status();
    expect(status.phase).toBe('awaitingCallbacks');
    expect(status.decisions).toEqual([{ decision: 'abandon', at: expect.any(String), acted: false }]);
    // The update refuses it instead, and the refusal leaves no trace in the history.
    await expect(
      decide(system.client, handle.workflowId, { decision: 'abandon', operator: 'ops-bob' }),
    ).rejects.toThrow(new DecisionRefusedError('the saga is not waiting for a decision'));
    const { events } = await handle.fetchHistory();
    expect((events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toEqual([]);
    expect((await handle.status()).decisions).toHaveLength(1);
    await handle.terminate('test finished');
  });
});
