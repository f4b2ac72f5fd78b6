/**
 * The ThingSpace simulator's asynchronous side: the three callbacks of an eidDeviceSwap, their effects on
 * the inventory, delivery (re-sends, slow listeners, lost callbacks) and callback faults. Real HTTP on
 * port 0, with a listener on port 0 standing in for the callback gateway.
 */
import express from 'express';
import { createSimulator, type SimulatorOptions } from '../../simulator/app.js';
import type { SimDevice } from '../../simulator/platform/devices/inventory.js';
import { listen as listenSimulator, type RunningSimulator } from '../../simulator/server.js';
import { listen } from '../fixtures/http.js';
import { json, loginToSimulator, waitFor, type Json } from '../fixtures/simulator-client.js';

const ACCOUNT = '0000123456-00001';
const SMSR = '1.3.6.1.4.1.31746.1.500.200.101.5';
const STEPS = ['deactivation', 'identifierChange', 'goToState'];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Received {
  service: string;
  body: Json;
}

/** Answers each callback with the status `behaviour` returns, after its optional delay. */
type Behaviour = (service: string, body: Json) => { status: number; delayMs?: number };

interface Listener {
  url: string;
  received: Received[];
  behaviour: Behaviour;
}

interface Harness {
  running: RunningSimulator;
  sim: ReturnType<typeof createSimulator>;
  api: string;
  control: string;
  listener: Listener;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }>;
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function startListener(): Promise<Listener> {
  const app = express();
  app.use(express.json());
  const listener: Listener = { url: '', received: [], behaviour: () => ({ status: 200 }) };
  app.post('/callbacks/:service', (req, res) => {
    const service = String(req.params.service);
    listener.received.push({ service, body: req.body });
    const { status, delayMs } = listener.behaviour(service, req.body);
    if (delayMs) setTimeout(() => res.status(status).end(), delayMs);
    else res.status(status).end();
  });
  const running = await listen(app);
  listener.url = running.url;
  cleanups.push(running.close);
  return listener;
}

/** A simulator with a logged-in client, and a listener registered for CarrierService and StateService. */
async function start(options: SimulatorOptions = {}, register = ['CarrierService', 'StateService']): Promise<Harness> {
  // Callbacks 25 ms apart arrive in the order they were sent, even on a busy machine.
  const sim = createSimulator({ callbackDelayMs: 25, retryIntervalMs: 20, attemptTimeoutMs: 1000, ...options });
  const running = await listenSimulator(sim, 0);
  cleanups.push(() => running.stop());
  const listener = await startListener();
  const api = `${running.url}/api`;
  const { call } = await loginToSimulator(api);
  for (const name of register) {
    const res = await call('POST', `/callbacks/${ACCOUNT}`, {
      name,
      url: `${listener.url}/callbacks/${name}`,
      username: 'gw-user',
      password: 'gw-secret',
    });
    expect(res.status).toBe(200);
  }
  return { running, sim, api, control: `${running.url}/__sim`, listener, call };
}

/** Waits until the simulator has nothing left to deliver. */
async function quiet(h: Harness): Promise<void> {
  await waitFor(async () => (await json(`${h.control}/callbacks/pending`, 'GET')).body.pending === 0);
}

async function faults(h: Harness, body: unknown): Promise<void> {
  expect((await json(`${h.control}/faults`, 'POST', body)).status).toBe(200);
}

function fixture(h: Harness): { out: SimDevice; into: SimDevice; withLine: SimDevice } {
  const all = h.sim.state.inventory.all();
  return {
    out: all[0] as SimDevice,
    into: all.find((d) => d.state === 'pre-active') as SimDevice,
    withLine: all.at(-1) as SimDevice,
  };
}

function swapBody(out: SimDevice, into: SimDevice, withIccid = false): Record<string, unknown> {
  return {
    accountName: ACCOUNT,
    deviceToSwapOut: [
      { kind: 'mdn', id: out.mdn },
      { kind: 'eid', id: out.eid },
      { kind: 'imei', id: out.imei },
      { kind: 'iccid', id: out.iccid },
    ],
    deviceToSwapIn: [
      { kind: 'eid', id: into.eid },
      { kind: 'imei', id: into.imei },
      ...(withIccid ? [{ kind: 'iccid', id: into.iccid }] : []),
    ],
    mdnZipCode: '98802',
    serviceName: 'WiFi',
    stateName: 'WiFi Activate',
    servicePlan: 'M2M4G1GB',
    smsrOid: SMSR,
  };
}

async function swap(h: Harness, withLine = false): Promise<{ requestId: string; out: SimDevice; into: SimDevice }> {
  const f = fixture(h);
  const out = structuredClone(f.out);
  const into = structuredClone(withLine ? f.withLine : f.into);
  const res = await h.call('POST', '/devices/actions/eidDeviceSwap', swapBody(out, into, withLine));
  expect(res.status).toBe(200);
  expect(res.body).toEqual({
    requestId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
  });
  return { requestId: res.body.requestId as string, out, into };
}

const kindOf = (body: Json): string => Object.keys(body.deviceResponse ?? { failed: 1 })[0] ?? '';
const stepOf = (body: Json): string =>
  ({ deactivateResponse: 'deactivation', changeIdentifierResponse: 'identifierChange', usageResponse: 'goToState' })[
    kindOf(body)
  ] ?? 'failed';

describe('eidDeviceSwap callbacks', () => {
  test('a swap answers with a requestId, then delivers the three documented callbacks and changes the inventory', async () => {
    const h = await start();
    const { requestId, out, into } = await swap(h);
    await waitFor(() => h.listener.received.length === 3);
    await quiet(h);
    const record = h.sim.state.operations[0];
    expect(record).toBeDefined();
    const { callbackRequestIds, newLine } = record!;
    expect(callbackRequestIds.goToState).toBe(requestId);
    expect(new Set([callbackRequestIds.deactivation, callbackRequestIds.identifierChange, requestId]).size).toBe(3);

    const byStep = (a: Received, b: Received) => STEPS.indexOf(stepOf(a.body)) - STEPS.indexOf(stepOf(b.body));
    expect([...h.listener.received].sort(byStep)).toEqual([
      {
        service: 'CarrierService',
        body: {
          username: 'gw-user',
          password: 'gw-secret',
          requestId: callbackRequestIds.deactivation,
          deviceIds: [
            { id: out.imei, kind: 'imei' },
            { id: out.iccid, kind: 'iccid' },
          ],
          deviceResponse: { deactivateResponse: { deactivated: true } },
          status: 'Success',
          callbackCount: 1,
          maxCallbackThreshold: 4,
        },
      },
      {
        service: 'CarrierService',
        body: {
          username: 'gw-user',
          password: 'gw-secret',
          requestId: callbackRequestIds.identifierChange,
          deviceIds: [
            { id: out.iccid, kind: 'Iccid' },
            { id: out.imei, kind: 'Imei' },
            { id: out.eid, kind: 'Eid' },
          ],
          deviceResponse: {
            changeIdentifierResponse: {
              deviceIds: [
                { id: into.imei, kind: 'imei' },
                { id: into.eid, kind: 'eid' },
                { id: into.iccid, kind: 'iccid' },
              ],
              servicePlan: out.servicePlan,
              smsrOid: SMSR,
              profileStatus: '',
            },
          },
          status: 'Success',
          callbackCount: 1,
          maxCallbackThreshold: 4,
        },
      },
      {
        service: 'StateService',
        body: {
          username: 'gw-user',
          password: 'gw-secret',
          requestId,
          deviceIds: [
            { id: newLine.iccid, kind: 'Iccid' },
            { id: out.imei, kind: 'Imei' },
          ],
          deviceResponse: {
            usageResponse: [],
            goToStateResponse: {
              deviceIds: [
                { id: newLine.iccid, kind: 'Iccid' },
                { id: out.imei, kind: 'Imei' },
              ],
              serviceName: 'WiFi',
              stateName: 'WiFi Activate',
            },
          },
          callbackCount: 1,
          maxCallbackThreshold: 4,
        },
      },
    ]);
    expect(newLine.iccid).toMatch(/^\d{20}$/);
    expect(newLine.mdn).toMatch(/^[2-9]\d{9}$/);

    const swappedIn = (await h.call('POST', '/devices/actions/list', { deviceId: { kind: 'mdn', id: out.mdn } })).body
      .devices[0];
    expect(swappedIn.deviceIds).toEqual([
      { id: into.eid, kind: 'eid' },
      { id: into.iccid, kind: 'iccid' },
      { id: into.imei, kind: 'imei' },
      { id: out.mdn, kind: 'mdn' },
      { id: `1${out.mdn}`, kind: 'msisdn' },
    ]);
    expect(swappedIn.carrierInformations).toEqual([
      { carrierName: 'Verizon Wireless', servicePlan: out.servicePlan, state: 'active' },
    ]);
    const swappedOut = (await h.call('POST', '/devices/actions/list', { deviceId: { kind: 'imei', id: out.imei } }))
      .body.devices[0];
    expect(swappedOut.deviceIds).toEqual([
      { id: out.eid, kind: 'eid' },
      { id: newLine.iccid, kind: 'iccid' },
      { id: out.imei, kind: 'imei' },
      { id: newLine.mdn, kind: 'mdn' },
      { id: `1${newLine.mdn}`, kind: 'msisdn' },
    ]);
    expect(swappedOut.carrierInformations).toEqual([
      { carrierName: 'Verizon Wireless', servicePlan: 'M2M4G1GB', state: 'active' },
    ]);
    const originalLine = (await h.call('POST', '/devices/actions/list', { deviceId: { kind: 'iccid', id: out.iccid } }))
      .body.devices[0];
    expect(originalLine.carrierInformations[0].state).toBe('deactive');

    const log = ((await json(`${h.control}/callbacks`, 'GET')).body as Json[]).sort(
      (a, b) => STEPS.indexOf(a.step) - STEPS.indexOf(b.step),
    );
    expect(log).toEqual(
      ['deactivation', 'identifierChange', 'goToState'].map((step) => ({
        service: step === 'goToState' ? 'StateService' : 'CarrierService',
        step,
        requestId: callbackRequestIds[step as 'deactivation'],
        url: `${h.listener.url}/callbacks/${step === 'goToState' ? 'StateService' : 'CarrierService'}`,
        callbackCount: 1,
        outcome: 'delivered',
        httpStatus: 200,
        at: expect.any(String),
      })),
    );
    expect((await json(`${h.control}/operations`, 'GET')).body[0].steps).toEqual({
      deactivation: 'completed',
      identifierChange: 'completed',
      goToState: 'completed',
    });
  });

  test('a swap-in device with a line must be named by its ICCID, and its old line is deactivated', async () => {
    const h = await start();
    const { out, into } = await swap(h, true);
    expect(into.mdn).toBeDefined();
    await waitFor(() => h.listener.received.length === 3);
    const device = h.sim.state.inventory.find('imei', into.imei);
    expect(device).toMatchObject({ mdn: out.mdn, iccid: into.iccid, state: 'active', servicePlan: out.servicePlan });
    expect(device?.retiredLines).toEqual([
      {
        iccid: into.iccid,
        mdn: into.mdn,
        state: 'deactive',
        servicePlan: into.servicePlan,
        retiredAt: expect.any(String),
      },
    ]);
    const oldLine = await h.call('POST', '/devices/actions/list', { deviceId: { kind: 'mdn', id: into.mdn } });
    expect(oldLine.body.devices[0].carrierInformations[0].state).toBe('deactive');
  });

  test('callbacks of a service without a registered listener are lost, and the log says so', async () => {
    const h = await start({}, ['CarrierService']);
    const { requestId } = await swap(h);
    await waitFor(() => h.listener.received.length === 2);
    await quiet(h);
    // Entries are written when the outcome is known, so their order depends on HTTP timing.
    const log = ((await json(`${h.control}/callbacks`, 'GET')).body as Json[]).sort(
      (a, b) => STEPS.indexOf(a.step) - STEPS.indexOf(b.step),
    );
    expect(log.map((e) => [e.step, e.outcome])).toEqual([
      ['deactivation', 'delivered'],
      ['identifierChange', 'delivered'],
      ['goToState', 'lost'],
    ]);
    expect(log[2]).toEqual({
      service: 'StateService',
      step: 'goToState',
      requestId,
      callbackCount: 1,
      outcome: 'lost',
      at: expect.any(String),
    });
    // The step itself happened: reconciliation finds the new line.
    expect(h.sim.state.inventory.find('imei', fixture(h).out.imei)?.iccid).toBe(
      h.sim.state.operations[0]?.newLine.iccid,
    );
  });
});

describe('callback delivery', () => {
  test('a refused callback is re-sent after the retry interval with callbackCount + 1', async () => {
    const h = await start({ retryIntervalMs: 40 });
    let refusals = 1;
    h.listener.behaviour = (service) =>
      service === 'StateService' && refusals-- > 0 ? { status: 500 } : { status: 200 };
    await swap(h);
    await waitFor(() => h.listener.received.length === 4);
    await quiet(h);
    const state = h.listener.received.filter((r) => r.service === 'StateService').map((r) => r.body.callbackCount);
    expect(state).toEqual([1, 2]);
    const log = ((await json(`${h.control}/callbacks`, 'GET')).body as Json[]).filter((e) => e.step === 'goToState');
    expect(log.map((e) => [e.callbackCount, e.outcome, e.httpStatus])).toEqual([
      [1, 'failed', 500],
      [2, 'delivered', 200],
    ]);
    expect(Date.parse(log[1].at) - Date.parse(log[0].at)).toBeGreaterThanOrEqual(30);
  });

  test('a listener that always refuses gets maxCallbackThreshold attempts, or one retry in observed mode', async () => {
    const documented = await start();
    documented.listener.behaviour = () => ({ status: 503 });
    await swap(documented);
    await quiet(documented);
    const counts = documented.listener.received
      .filter((r) => r.service === 'StateService')
      .map((r) => r.body.callbackCount);
    expect(counts).toEqual([1, 2, 3, 4]);

    const observed = await start({ callbackRetry: 'observed' });
    observed.listener.behaviour = () => ({ status: 503 });
    await swap(observed);
    await quiet(observed);
    expect(
      observed.listener.received.filter((r) => r.service === 'StateService').map((r) => r.body.callbackCount),
    ).toEqual([1, 2]);
  });

  test('a listener slower than the attempt timeout gets a duplicate while the first delivery is still open', async () => {
    const h = await start({ attemptTimeoutMs: 100 });
    h.listener.behaviour = (service, body) =>
      service === 'StateService' && body.callbackCount === 1 ? { status: 200, delayMs: 300 } : { status: 200 };
    await swap(h);
    await quiet(h);
    const state = h.listener.received.filter((r) => r.service === 'StateService');
    expect(state.map((r) => r.body.callbackCount)).toEqual([1, 2]);
    const log = ((await json(`${h.control}/callbacks`, 'GET')).body as Json[]).filter((e) => e.step === 'goToState');
    // The second attempt is answered first; the slow first one is acknowledged later, and no third is sent.
    expect(log.map((e) => [e.callbackCount, e.outcome])).toEqual([
      [2, 'delivered'],
      [1, 'delivered'],
    ]);
  });
  test('paced callbacks are held at 0, let out in order at most N a second, and all go when pacing stops', async () => {
    const h = await start({ callbackDelayMs: 1 });
    const pace = (perSecond: number | null) => json(`${h.control}/callbacks/pace`, 'POST', { perSecond });
    expect((await pace(0)).status).toBe(200);
    await swap(h);
    await sleep(200);
    expect(h.listener.received).toHaveLength(0);
    expect((await json(`${h.control}/callbacks/pending`, 'GET')).body.pending).toBeGreaterThan(0);
    const released = Date.now();
    await pace(10);
    await waitFor(() => h.listener.received.length === 3);
    // Three callbacks at 10 a second: the first right away, the last about 200 ms later, in the documented order.
    expect(Date.now() - released).toBeGreaterThanOrEqual(150);
    expect(h.listener.received.map((r) => stepOf(r.body))).toEqual(STEPS);
    await pace(0);
    await swap(h);
    await sleep(100);
    expect(h.listener.received).toHaveLength(3);
    await pace(null);
    await waitFor(() => h.listener.received.length === 6);
    await quiet(h);
    expect((await pace(-1)).status).toBe(400);
  });
});

describe('callback faults', () => {
  test('duplicate: 1 delivers every callback twice, the copy with callbackCount 2', async () => {
    const h = await start();
    await faults(h, { callbacks: { duplicate: 1 } });
    await swap(h);
    await waitFor(() => h.listener.received.length === 6);
    await quiet(h);
    for (const step of STEPS) {
      const copies = h.listener.received.filter((r) => stepOf(r.body) === step).map((r) => r.body);
      expect(copies.map((b) => b.callbackCount)).toEqual([1, 2]);
      expect({ ...copies[1], callbackCount: 1 }).toEqual(copies[0]);
    }
  });

  test('drop: 1 sends no callback, but ThingSpace still did the work', async () => {
    const h = await start();
    await faults(h, { callbacks: { drop: 1 } });
    const { out, into } = await swap(h);
    await quiet(h);
    expect(h.listener.received).toEqual([]);
    expect(((await json(`${h.control}/callbacks`, 'GET')).body as Json[]).map((e) => e.outcome)).toEqual([
      'dropped',
      'dropped',
      'dropped',
    ]);
    expect(h.sim.state.inventory.find('mdn', out.mdn as string)?.imei).toBe(into.imei);
  });

  test('order: reverse delivers GoToState first and the deactivation last', async () => {
    const h = await start({ callbackDelayMs: 100 });
    await faults(h, { callbacks: { order: 'reverse' } });
    await swap(h);
    await waitFor(() => h.listener.received.length === 3);
    expect(h.listener.received.map((r) => stepOf(r.body))).toEqual(['goToState', 'identifierChange', 'deactivation']);
    const out = h.sim.state.inventory.find('imei', fixture(h).out.imei);
    expect(out?.state).toBe('active');
    expect(out?.retiredLines.map((l) => l.state)).toEqual(['deactive']);
  });

  test('beforeResponse: GoToState reaches the listener before the swap request is answered', async () => {
    const h = await start({ callbackDelayMs: 200 });
    await faults(h, { callbacks: { beforeResponse: ['goToState'] } });
    const { requestId } = await swap(h);
    expect(h.listener.received.map((r) => stepOf(r.body))).toEqual(['goToState']);
    expect(h.listener.received[0]?.body.requestId).toBe(requestId);
    await waitFor(() => h.listener.received.length === 3);
  });

  test('fail: a failed step sends status Failed with a faultResponse and leaves the inventory alone', async () => {
    const h = await start();
    await faults(h, {
      callbacks: { fail: { deactivation: { faultcode: 'REQUEST_FAILED.DeviceNotActive', faultstring: 'Line busy' } } },
    });
    const { out } = await swap(h);
    await waitFor(() => h.listener.received.length === 3);
    const record = h.sim.state.operations[0]!;
    expect(h.listener.received.find((r) => r.body.status === 'Failed')?.body).toEqual({
      username: 'gw-user',
      password: 'gw-secret',
      requestId: record.callbackRequestIds.deactivation,
      deviceIds: [
        { id: out.imei, kind: 'imei' },
        { id: out.iccid, kind: 'iccid' },
      ],
      status: 'Failed',
      faultResponse: { faultcode: 'CarrierService.REQUEST_FAILED.DeviceNotActive', faultstring: 'Line busy' },
      callbackCount: 1,
      maxCallbackThreshold: 4,
    });
    expect(record.steps).toEqual({ deactivation: 'failed', identifierChange: 'completed', goToState: 'completed' });
    // GoToState retired the original line, which the failed deactivation left active.
    expect(h.sim.state.inventory.findRetired('iccid', out.iccid)?.line.state).toBe('active');
  });

  test('never: a step that never completes sends nothing and changes nothing, and nothing stays pending', async () => {
    const h = await start();
    await faults(h, { callbacks: { never: ['goToState'] } });
    const { out } = await swap(h);
    await waitFor(() => h.listener.received.length === 2);
    await quiet(h);
    expect(h.listener.received.map((r) => stepOf(r.body)).sort()).toEqual(['deactivation', 'identifierChange']);
    expect(h.sim.state.inventory.find('imei', out.imei)).toMatchObject({ iccid: out.iccid, state: 'deactive' });
    expect(h.sim.state.operations[0]?.steps.goToState).toBe('never');
  });

  test('a processed fault answers the swap with a 500, yet the swap happens and its callbacks arrive', async () => {
    const h = await start();
    await faults(h, { responses: [{ operation: 'eidDeviceSwap', status: 500, processed: true }] });
    const f = fixture(h);
    const res = await h.call('POST', '/devices/actions/eidDeviceSwap', swapBody(f.out, f.into));
    expect(res).toEqual({
      status: 500,
      body: { errorCode: 'UnifiedWebService.REQUEST_FAILED.UnexpectedError', errorMessage: expect.any(String) },
    });
    await waitFor(() => h.listener.received.length === 3);
    expect(h.sim.state.operations).toHaveLength(1);
  });

  test('after a password change the old one keeps arriving for credentialLagMs', async () => {
    const h = await start();
    await faults(h, { callbacks: { credentialLagMs: 60_000 } });
    await h.call('POST', `/callbacks/${ACCOUNT}`, {
      name: 'CarrierService',
      url: `${h.listener.url}/callbacks/CarrierService`,
      username: 'gw-user',
      password: 'rotated',
    });
    await swap(h);
    await waitFor(() => h.listener.received.length === 3);
    expect(h.listener.received.map((r) => r.body.password)).toEqual(['gw-secret', 'gw-secret', 'gw-secret']);
  });
});

describe('determinism', () => {
  async function run(seed: number) {
    const h = await start({ seed });
    await faults(h, { callbacks: { order: 'random', duplicate: 0.5, drop: 0.3, delayMs: 15 } });
    const swaps = [];
    const all = h.sim.state.inventory.all();
    const candidates = all.filter((d) => d.state === 'pre-active');
    for (let i = 0; i < 3; i++) {
      const res = await h.call(
        'POST',
        '/devices/actions/eidDeviceSwap',
        swapBody(all[i] as SimDevice, candidates[i] as SimDevice),
      );
      swaps.push(res.body.requestId as string);
    }
    await quiet(h);
    const log = ((await json(`${h.control}/callbacks`, 'GET')).body as Json[])
      .map((e) => `${e.requestId}:${e.step}:${e.callbackCount}:${e.outcome}`)
      .sort();
    const lines = h.sim.state.operations.map((o) => o.newLine);
    return { swaps, log, lines };
  }

  test('the same seed gives the same request ids, new lines and fault decisions; another seed does not', async () => {
    const [a, b, c] = await Promise.all([run(7), run(7), run(8)]);
    expect(b).toEqual(a);
    expect(c.swaps).not.toEqual(a.swaps);
    expect(a.log.some((l) => l.endsWith(':dropped'))).toBe(true);
    expect(a.log.some((l) => l.includes(':2:delivered'))).toBe(true);
  });
});
