import { randomUUID } from 'node:crypto';
import { startEidDeviceSwap, type EidDeviceSwapHandle } from '../../client/index.js';
import { FailureType, searchAttributes, WORKFLOW_TYPES, type EidDeviceSwapResult } from '../../contracts/index.js';
import {
  ACCOUNT,
  CALLBACK_CREDENTIALS,
  CALLBACK_PATH_TOKEN,
  SIM_SECRETS,
  seedSwapPair,
  failureOf,
  requestLogLength,
  simRequests,
  startSystem,
  swapRequest,
  waitFor,
  type TestSystem,
} from './harness.js';

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

/** The failure a saga ended with. */

function expectCompleted(result: EidDeviceSwapResult, swappedIn: { kind: string; id: string }[]): void {
  const confirmed = {
    state: 'confirmed',
    confirmedBy: 'callback',
    at: expect.any(String),
    requestId: expect.any(String),
  };
  expect(result).toEqual({
    accountName: ACCOUNT,
    requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    callbackRequestIds: expect.arrayContaining([result.requestId]),
    swappedInDevice: expect.arrayContaining(swappedIn),
    swappedOutDevice: expect.arrayContaining([expect.objectContaining({ kind: 'iccid' })]),
    steps: { deactivation: confirmed, identifierChange: confirmed, goToState: confirmed },
    submittedAt: expect.any(String),
    completedAt: expect.any(String),
    // The page: the eUICC profile status stays with the ICCID (its example reports it empty).
    profileStatus: '',
    followUps: [expect.stringContaining('may need a profile download')],
  });
  // The page's examples: the two CarrierService callbacks carry other request ids than the swap's.
  expect(result.callbackRequestIds).toHaveLength(3);
}

describe('eidDeviceSwap saga', () => {
  it('completes when the three callbacks arrive in the documented order', async () => {
    const pair = await seedSwapPair(system);
    const handle = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    const result = await handle.result();
    expectCompleted(result, pair.swapIn);

    const status = await handle.status();
    expect(status).toEqual({
      operation: 'eidDeviceSwap',
      phase: 'completed',
      requestId: result.requestId,
      steps: result.steps,
      callbacksReceived: 3,
      duplicatesIgnored: 0,
    });
    const described = await handle.describe();
    expect(described.typedSearchAttributes.get(searchAttributes.Operation)).toBe(WORKFLOW_TYPES.eidDeviceSwap);
    expect(described.typedSearchAttributes.get(searchAttributes.ThingSpaceRequestId)).toBe(result.requestId);
    expect(described.typedSearchAttributes.get(searchAttributes.SagaStep)).toBe('completed');
    expect(described.typedSearchAttributes.get(searchAttributes.DeviceIds)).toContain(
      `imei:${pair.swapOut.find((d) => d.kind === 'imei')?.id}`,
    );
    // The simulator's inventory moved the MDN to the replacement.
    const mdn = pair.swapOut.find((d) => d.kind === 'mdn')?.id;
    const swappedIn = await system.sim<{ mdn?: string; state: string }>(
      'GET',
      `/__sim/devices/eid/${pair.swapIn.find((d) => d.kind === 'eid')?.id}`,
    );
    expect(swappedIn).toMatchObject({ mdn, state: 'active' });
  });

  it('is legible in the Temporal UI: summary, details, current details, activity summaries, every request id searchable', async () => {
    const pair = await seedSwapPair(system);
    const handle = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    const result = await handle.result();
    const described = await handle.describe();
    const last4 = (kind: string, ids: { kind: string; id: string }[]) => ids.find((d) => d.kind === kind)?.id.slice(-4);
    expect(await described.staticSummary()).toBe(
      `Swap MDN …${last4('mdn', pair.swapOut)}: EID …${last4('eid', pair.swapOut)} → …${last4('eid', pair.swapIn)} (account ${ACCOUNT})`,
    );
    const details = (await described.staticDetails()) ?? '';
    expect(details).toContain(`| account | ${ACCOUNT} |`);
    // Identifiers only by their last four characters in what the UI shows.
    for (const device of [...pair.swapOut, ...pair.swapIn]) expect(details).not.toContain(device.id);

    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(metadata.currentDetails).toContain('**Swap**: completed');
    expect(metadata.currentDetails).toMatch(/\| goToState \| confirmed \| callback \|/);

    // Every request id the swap sent or whose callback counted finds it. Among this system's sagas (its task
    // queue): other test files share the Temporal server, and their simulators, seeded alike, hand out the same
    // request ids, which ThingSpace never would.
    const listed = described.typedSearchAttributes.get(searchAttributes.ThingSpaceRequestIds) ?? [];
    expect([...listed].sort()).toEqual([...result.callbackRequestIds].sort());
    for (const id of result.callbackRequestIds) {
      const found = [];
      const query = `ThingSpaceRequestIds = "${id}" AND TaskQueue = "${system.taskQueue}"`;
      for await (const w of system.client.workflow.list({ query })) found.push(w.workflowId);
      expect(found).toEqual([handle.workflowId]);
    }

    // Activities and local activities (the store's calls, recorded as markers) alike carry their summary.
    const { events } = await handle.fetchHistory();
    const converter = system.client.options.loadedDataConverter.payloadConverter;
    const summaries = (events ?? [])
      .filter(
        (e) => e.userMetadata?.summary && (e.activityTaskScheduledEventAttributes || e.markerRecordedEventAttributes),
      )
      .map((e) => converter.fromPayload(e.userMetadata!.summary!));
    expect(summaries).toEqual([
      `claim 6 devices of account ${ACCOUNT}`,
      'submit the swap',
      'register 1 correlation key',
      'release the devices',
    ]);
  });

  it('keeps every credential out of the saga history', async () => {
    const pair = await seedSwapPair(system);
    const handle = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    await handle.result();
    const history = historyText(await handle.fetchHistory());
    expect(history).toContain(`"accountName":"${ACCOUNT}"`);
    expect(history).toContain(pair.swapIn[0]!.id);
    for (const secret of [CALLBACK_CREDENTIALS.password, ...SIM_SECRETS]) expect(history).not.toContain(secret);
    const sessions = await system.sim<{ operation: string }[]>('GET', '/__sim/requests');
    expect(sessions.some((r) => r.operation === 'login')).toBe(true);
  });

  it('completes when the callbacks arrive in reverse order', async () => {
    await system.sim('POST', '/__sim/faults', { callbacks: { order: 'reverse' } });
    const pair = await seedSwapPair(system);
    const handle = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    expectCompleted(await handle.result(), pair.swapIn);
  });

  it('applies each callback once when ThingSpace delivers every callback twice', async () => {
    await system.sim('POST', '/__sim/faults', { callbacks: { duplicate: 1 } });
    const pair = await seedSwapPair(system);
    const before = await system.store.counts();
    const handle = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    expectCompleted(await handle.result(), pair.swapIn);
    await waitForSimulatorQuiet();
    const after = await system.store.counts();
    expect(after.received - before.received).toBe(3);
    expect(after.duplicates - before.duplicates).toBe(3);
    const status = await handle.status();
    expect(status.callbacksReceived - status.duplicatesIgnored).toBe(3);
  });

  it('completes when the GoToState callback arrives before the submit activity has returned', async () => {
    await system.sim('POST', '/__sim/faults', { callbacks: { beforeResponse: ['goToState'] } });
    const pair = await seedSwapPair(system);
    const handle = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    expectCompleted(await handle.result(), pair.swapIn);
  });

  it('fails at once, without retries, when ThingSpace answers 400 for an unknown device', async () => {
    const pair = await seedSwapPair(system);
    const unknownEid = '8903302331215000000000000000000' + '1';
    const request = swapRequest({ ...pair, swapIn: [{ kind: 'eid', id: unknownEid }, pair.swapIn[1]!] });
    const since = await requestLogLength(system);
    const handle = await startEidDeviceSwap(system.client, request, { taskQueue: system.taskQueue });
    const failure = await failureOf(handle);
    expect(failure.type).toBe(FailureType.ThingSpaceRejected);
    // The activity's failure is the cause of the workflow's.
    expect(failure.message).toContain('DeviceNotFound');
    const submits = await simRequests(system, 'eidDeviceSwap', since);
    expect(submits.map((r) => r.status)).toEqual([400]);
    // The devices were released: a new swap of the same swap-out device can start.
    const probe = { workflowId: `probe-${randomUUID()}`, runId: randomUUID() };
    const claimAgain = await system.store.claimDevices(probe, [`eid:${unknownEid}`]);
    expect(claimAgain).toEqual({ ok: true });
  });

  it('retries the submit when ThingSpace answers 503 and then 200', async () => {
    await system.sim('POST', '/__sim/faults', { responses: [{ operation: 'eidDeviceSwap', status: 503, times: 1 }] });
    const pair = await seedSwapPair(system);
    const since = await requestLogLength(system);
    const handle = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    expectCompleted(await handle.result(), pair.swapIn);
    const submits = await simRequests(system, 'eidDeviceSwap', since);
    expect(submits.map((r) => r.status)).toEqual([503, 200]);
  });

  it('does not resend a swap whose answer was lost, and completes from its callbacks', async () => {
    // ThingSpace carries the swap out but the answer is a 502: resending could swap twice.
    await system.sim('POST', '/__sim/faults', {
      responses: [{ operation: 'eidDeviceSwap', status: 502, processed: true, times: 1 }],
    });
    const pair = await seedSwapPair(system);
    const since = await requestLogLength(system);
    const handle = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    const result = await handle.result();
    expectCompleted(result, pair.swapIn);
    expect(result.requestId).toBe(result.steps.goToState.requestId);
    expect((await simRequests(system, 'eidDeviceSwap', since)).map((r) => r.status)).toEqual([502]);
    expect(await handle.status()).toMatchObject({ phase: 'completed', submitOutcomeUnknown: true });
  });

  it('takes over the devices of a saga that was terminated before it could release them', async () => {
    await system.sim('POST', '/__sim/faults', {
      callbacks: { never: ['deactivation', 'identifierChange', 'goToState'] },
    });
    const pair = await seedSwapPair(system);
    const first = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    await waitFor(async () => (await first.status()).phase === 'awaitingCallbacks');
    await first.terminate('operator stopped it');
    await system.sim('POST', '/__sim/faults', { clear: true });
    const other = await seedSwapPair(system);
    const second = await startEidDeviceSwap(
      system.client,
      swapRequest({ swapOut: other.swapOut, swapIn: pair.swapIn }),
      {
        taskQueue: system.taskQueue,
      },
    );
    expectCompleted(await second.result(), pair.swapIn);
  });

  it('orphans a late callback of a finished swap instead of giving it to a later saga', async () => {
    const pair = await seedSwapPair(system);
    const handle = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    const result = await handle.result();
    const imei = pair.swapOut.find((d) => d.kind === 'imei')!;
    const late = {
      ...CALLBACK_CREDENTIALS,
      requestId: result.requestId,
      deviceIds: [imei],
      deviceResponse: { goToStateResponse: { deviceIds: [imei], serviceName: 'WiFi', stateName: 'Late' } },
      status: 'Failed',
      faultResponse: { faultcode: 'StateService.REQUEST_FAILED.UnexpectedError', faultstring: 'late' },
    };
    const res = await fetch(`${system.gatewayUrl}/callbacks/${CALLBACK_PATH_TOKEN}/StateService`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(late),
    });
    const { id } = (await res.json()) as { id: number };
    await waitFor(async () => (await system.store.list('orphaned', 50)).some((r) => r.id === id));
    const [orphan] = (await system.store.list('orphaned', 50)).filter((r) => r.id === id);
    expect(orphan).toMatchObject({ workflowId: handle.workflowId, reason: 'saga no longer running' });
    expect(orphan?.body).not.toHaveProperty('password');
  });

  it('completes from the device list when ThingSpace never delivers the callbacks', async () => {
    await system.sim('POST', '/__sim/faults', { callbacks: { drop: 1 } });
    const pair = await seedSwapPair(system);
    const request = swapRequest(pair, { options: { stepTimeout: '2 seconds' } });
    const handle = await startEidDeviceSwap(system.client, request, { taskQueue: system.taskQueue });
    const result = await handle.result();
    const reconciled = { state: 'confirmed', confirmedBy: 'reconciliation', at: expect.any(String) };
    expect(result.steps).toEqual({ deactivation: reconciled, identifierChange: reconciled, goToState: reconciled });
    expect(result.swappedInDevice).toEqual(
      expect.arrayContaining([...pair.swapIn, pair.swapOut.find((d) => d.kind === 'mdn')]),
    );
    expect(result.swappedOutDevice).toEqual(
      expect.arrayContaining([pair.swapOut.find((d) => d.kind === 'imei'), expect.objectContaining({ kind: 'iccid' })]),
    );
    expect(result.callbackRequestIds).toEqual([]);
  });

  it('fails with StepTimedOut naming the step that neither a callback nor the device list confirms', async () => {
    await system.sim('POST', '/__sim/faults', { callbacks: { never: ['goToState'] } });
    const pair = await seedSwapPair(system);
    const request = swapRequest(pair, { options: { stepTimeout: '2 seconds', failurePolicy: 'fail' } });
    const handle = await startEidDeviceSwap(system.client, request, { taskQueue: system.taskQueue });
    const failure = await failureOf(handle);
    expect(failure.type).toBe(FailureType.StepTimedOut);
    expect(failure.message).toBe(
      'No callback for goToState within the step timeout, and the device list does not show it',
    );
    const status = await handle.status();
    expect(status.steps.goToState).toEqual({ state: 'timedOut', at: expect.any(String) });
    expect(status.steps.deactivation).toMatchObject({ state: 'confirmed', confirmedBy: 'callback' });
  });

  it('renews an expired session with exactly one login and completes', async () => {
    const warmUp = await seedSwapPair(system);
    await startEidDeviceSwap(system.client, swapRequest(warmUp), { taskQueue: system.taskQueue }).then((h) =>
      h.result(),
    );
    await system.sim('POST', '/__sim/sessions/expire');
    const since = await requestLogLength(system);
    const pair = await seedSwapPair(system);
    const handle = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    expectCompleted(await handle.result(), pair.swapIn);
    expect((await simRequests(system, 'login', since)).map((r) => r.status)).toEqual([200]);
    expect((await simRequests(system, 'eidDeviceSwap', since)).map((r) => r.status)).toEqual([400, 200]);
  });

  it('answers 401 to a callback with wrong credentials, stores nothing and signals nothing', async () => {
    await system.sim('POST', '/__sim/faults', { callbacks: { never: ['goToState'] } });
    const pair = await seedSwapPair(system);
    const handle = await startEidDeviceSwap(
      system.client,
      swapRequest(pair, { options: { stepTimeout: '1 minute' } }),
      {
        taskQueue: system.taskQueue,
      },
    );
    await waitFor(async () => (await handle.status()).steps.identifierChange.state === 'confirmed');
    await waitFor(async () => (await handle.status()).steps.deactivation.state === 'confirmed');
    const before = await system.store.counts();
    const { requestId } = await handle.status();
    const imei = pair.swapOut.find((d) => d.kind === 'imei')!;
    const forged = {
      username: CALLBACK_CREDENTIALS.username,
      password: 'not-the-password',
      requestId,
      deviceIds: [imei],
      deviceResponse: { goToStateResponse: { deviceIds: [imei], serviceName: 'WiFi', stateName: 'WiFi Activate' } },
    };
    const res = await fetch(`${system.gatewayUrl}/callbacks/${CALLBACK_PATH_TOKEN}/StateService`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(forged),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'unauthorized', message: 'Callback credentials do not match' });
    await new Promise((r) => setTimeout(r, 500));
    expect(await system.store.counts()).toEqual(before);
    const status = await handle.status();
    expect(status.steps.goToState).toEqual({ state: 'waiting' });
    expect(status.callbacksReceived).toBe(2);
    await handle.terminate('test finished');
  });

  it('rejects an invalid request with InvalidRequest naming the field, sending nothing to ThingSpace', async () => {
    const pair = await seedSwapPair(system);
    const since = await requestLogLength(system);
    const handle = await system.client.workflow.start(WORKFLOW_TYPES.eidDeviceSwap, {
      taskQueue: system.taskQueue,
      workflowId: `eidDeviceSwap:invalid:${randomUUID()}`,
      args: [{ ...swapRequest(pair), mdnZipCode: '9880' }],
    });
    const failure = await failureOf(handle as unknown as EidDeviceSwapHandle);
    expect(failure.type).toBe(FailureType.InvalidRequest);
    expect(failure.message).toBe('Invalid request: mdnZipCode must be 5 digits');
    expect(failure.nonRetryable).toBe(true);
    expect(await simRequests(system, 'eidDeviceSwap', since)).toEqual([]);
  });

  it('fails the second of two open swaps of the same device with DeviceBusy', async () => {
    await system.sim('POST', '/__sim/faults', { callbacks: { never: ['goToState'] } });
    const pair = await seedSwapPair(system);
    const first = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    await waitFor(async () => (await first.status()).phase === 'awaitingCallbacks');
    const other = await seedSwapPair(system);
    const second = await startEidDeviceSwap(
      system.client,
      swapRequest({ swapOut: pair.swapOut, swapIn: other.swapIn }),
      { taskQueue: system.taskQueue },
    );
    const failure = await failureOf(second);
    expect(failure.type).toBe(FailureType.DeviceBusy);
    await first.terminate('test finished');
  });

  it('returns the saga already running when the same swap is started twice', async () => {
    await system.sim('POST', '/__sim/faults', { callbacks: { never: ['goToState'] } });
    const pair = await seedSwapPair(system);
    const first = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    const again = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    expect(again.workflowId).toBe(first.workflowId);
    expect((await again.describe()).runId).toBe((await first.describe()).runId);
    await first.terminate('test finished');
  });
});

/** Every string in a history, payload bytes decoded, so a search sees what Temporal stores. */
function historyText(history: unknown): string {
  const parts: string[] = [];
  const visit = (value: unknown): void => {
    if (value instanceof Uint8Array) parts.push(Buffer.from(value).toString('utf8'));
    else if (typeof value === 'string') parts.push(value);
    else if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === 'object') Object.values(value).forEach(visit);
  };
  visit(history);
  return parts.join('\n');
}

async function waitForSimulatorQuiet(): Promise<void> {
  await waitFor(async () => (await system.sim<{ pending: number }>('GET', '/__sim/callbacks/pending')).pending === 0);
  await new Promise((r) => setTimeout(r, 300));
}
