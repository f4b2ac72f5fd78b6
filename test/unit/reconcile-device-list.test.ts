/**
 * Reconciliation against the simulator's device list over real HTTP on loopback: the list comes sorted by
 * date unless `largestDeviceIdSeen` is sent, as Verizon documents, so only a scan that starts at 0 and
 * pages on by the `DeviceId` cursor sees every device. Thousands of devices, the real ThingSpace client.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { pino } from 'pino';
import { createActivities, type ThingSpacePort } from '../../activities/index.js';
import {
  reconcileDevices,
  reconcileEidDeviceSwap,
  reconcileMethod,
  type DeviceReconciliation,
  type ReconcileProgress,
} from '../../activities/reconcile.js';
import type { DeviceId } from '../../contracts/index.js';
import { createSimulator } from '../../simulator/app.js';
import { listen, type RunningSimulator } from '../../simulator/server.js';
import type { Store } from '../../store/index.js';
import { createThingSpaceClient, type ThingSpaceClient } from '../../thingspace/index.js';
import { json, loginToSimulator, type Json } from '../fixtures/simulator-client.js';

const ACCOUNT = '0000444444-00001';
const LIST = '/devices/actions/list';

class Clock {
  t = Date.parse('2025-06-01T12:00:00Z');
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

interface Harness {
  running: RunningSimulator;
  control: string;
  clock: Clock;
  thingspace: ThingSpaceClient;
}

const running: RunningSimulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

async function start(devicePageSize?: number): Promise<Harness> {
  const clock = new Clock();
  const sim = createSimulator({ now: clock.now, ...(devicePageSize ? { devicePageSize } : {}) });
  const server = await listen(sim, 0);
  running.push(server);
  const thingspace = createThingSpaceClient(
    {
      baseUrl: `${server.url}/api`,
      clientId: 'sim-client-id',
      clientSecret: 'sim-client-secret',
      username: 'sim-user',
      password: 'sim-password',
    },
    { logger: pino({ level: 'silent' }) },
  );
  return { running: server, control: `${server.url}/__sim`, clock, thingspace };
}

interface Generated {
  eid: string;
  iccid: string;
  imei: string;
}

/**
 * `batches` batches of `size` devices, an hour apart, so the date order (newest batch first) is not the
 * device-id order; `plan(batch)` is the service plan of each batch.
 */
async function generate(h: Harness, batches: number, size: number, plan: (batch: number) => string) {
  const all: (Generated & { servicePlan: string })[] = [];
  for (let b = 0; b < batches; b++) {
    const servicePlan = plan(b);
    const res = await json(`${h.control}/devices/generate`, 'POST', {
      accountName: ACCOUNT,
      count: size,
      state: 'active',
      servicePlan,
    });
    expect(res.status).toBe(200);
    all.push(...(res.body.devices as Generated[]).map((d) => ({ ...d, servicePlan })));
    h.clock.advance(60 * 60_000);
  }
  return all;
}

const ids = (d: Generated): DeviceId[] => [
  { kind: 'eid', id: d.eid },
  { kind: 'iccid', id: d.iccid },
];

async function listRequests(h: Harness): Promise<number> {
  return ((await json(`${h.control}/requests?operation=deviceList`, 'GET')).body as Json[]).length;
}

const imeiOf = (d: Json): string => (d.deviceIds as Json[]).find((i) => i.kind === 'imei').id;
const numberOf = (d: Json): number => Number((d.extendedAttributes as Json[]).find((a) => a.key === 'DeviceId').value);

describe('the simulated device list', () => {
  test('without largestDeviceIdSeen the newest devices come first; with it (0 too) by device id, after it', async () => {
    const h = await start(4);
    const [first] = await generate(h, 3, 3, () => 'PLAN');
    // Device numbers are ThingSpace-wide: the bundled fixture's devices come first.
    const base = ((await json(`${h.control}/devices/imei/${first?.imei}`, 'GET')).body.deviceNumber as number) - 1;
    const n = (...numbers: number[]) => numbers.map((x) => base + x);
    const c = await loginToSimulator(`${h.running.url}/api`);

    const byDate = await c.call('POST', LIST, { accountName: ACCOUNT });
    expect(byDate.status).toBe(202);
    expect(byDate.body.hasMoreData).toBe(true);
    // The last batch (devices 7-9) is the newest; within a batch, the highest number first.
    expect((byDate.body.devices as Json[]).map(numberOf)).toEqual(n(9, 8, 7, 6));

    const pages: { status: number; numbers: number[] }[] = [];
    let cursor = 0;
    for (;;) {
      const page = await c.call('POST', LIST, { accountName: ACCOUNT, largestDeviceIdSeen: cursor });
      pages.push({ status: page.status, numbers: (page.body.devices as Json[]).map(numberOf) });
      if (!page.body.hasMoreData) break;
      cursor = numberOf((page.body.devices as Json[]).at(-1));
    }
    expect(pages).toEqual([
      { status: 202, numbers: n(1, 2, 3, 4) },
      { status: 202, numbers: n(5, 6, 7, 8) },
      { status: 200, numbers: n(9) },
    ]);
    expect(await c.call('POST', LIST, { accountName: ACCOUNT, largestDeviceIdSeen: base + 9 })).toEqual({
      status: 200,
      body: { hasMoreData: false, devices: [] },
    });
  });

  test('paging after a cursor starts at the next device number, replaced devices keeping their place', async () => {
    const h = await start(1000);
    const generated = await generate(h, 3, 1000, () => 'PLAN');
    const numberOfImei = async (imei: string) =>
      (await json(`${h.control}/devices/imei/${imei}`, 'GET')).body.deviceNumber as number;
    const first = await numberOfImei((generated[0] as Generated).imei);
    // Device 1,500 of the three batches is replaced in place: same IMEI, another plan.
    const replaced = generated[1499] as Generated;
    const upsert = await json(`${h.control}/devices`, 'POST', {
      accountName: ACCOUNT,
      ...replaced,
      state: 'active',
      servicePlan: 'OTHER',
    });
    expect(upsert.status).toBe(200);
    const c = await loginToSimulator(`${h.running.url}/api`);
    const page = await c.call('POST', LIST, { accountName: ACCOUNT, largestDeviceIdSeen: first + 1497 });
    const listed = page.body.devices as Json[];
    expect(page.status).toBe(202);
    expect(listed.map(numberOf)).toEqual(Array.from({ length: 1000 }, (_, i) => first + 1498 + i));
    expect(imeiOf(listed[1] as Json)).toBe(replaced.imei);
    expect((listed[1] as Json).carrierInformations[0].servicePlan).toBe('OTHER');

    // The control API pages the same way; a bad cursor is refused with the reason.
    const control = await json(`${h.control}/devices?after=${first + 2997}&limit=10`, 'GET');
    expect((control.body as Json[]).map((d) => d.deviceNumber)).toEqual([first + 2998, first + 2999]);
    const bad = await json(`${h.control}/devices?after=x`, 'GET');
    expect(bad.status).toBe(400);
    expect(bad.body.issues[0].message).toMatch(/after must be a device number/);
  });

  test('a Global eSIM profile is listed as a second carrierInformations entry, named after its carrier', async () => {
    const h = await start();
    const device = {
      accountName: ACCOUNT,
      eid: '89049032005000000000000010007919',
      iccid: '89148000001234500378',
      imei: '352911091001133',
      mdn: '2025550101',
      state: 'active',
      servicePlan: 'M2M4G5GB',
      globalProfile: { carrierName: 'Vodafone DE', servicePlan: 'GLOBAL-EU-1GB', state: 'active' },
    };
    expect((await json(`${h.control}/devices`, 'POST', device)).status).toBe(200);
    const c = await loginToSimulator(`${h.running.url}/api`);
    const listed = await c.call('POST', LIST, { deviceId: { kind: 'eid', id: device.eid } });
    expect(listed.body.devices[0].carrierInformations).toEqual([
      { carrierName: 'Verizon Wireless', servicePlan: 'M2M4G5GB', state: 'active' },
      { carrierName: 'Vodafone DE', servicePlan: 'GLOBAL-EU-1GB', state: 'active' },
    ]);
  });
});

describe('reconciliation over the simulated device list', () => {
  test('a scan that starts without largestDeviceIdSeen and pages on from its last record misses devices', async () => {
    const h = await start();
    const devices = await generate(h, 10, 500, () => 'NEW');
    const c = await loginToSimulator(`${h.running.url}/api`);
    const seen = new Set<string>();
    let body: Json = { accountName: ACCOUNT };
    for (;;) {
      const page = await c.call('POST', LIST, body);
      for (const d of page.body.devices as Json[]) seen.add(imeiOf(d));
      if (!page.body.hasMoreData) break;
      body = { accountName: ACCOUNT, largestDeviceIdSeen: numberOf((page.body.devices as Json[]).at(-1)) };
    }
    // The newest 500 (the last batch, highest number first), then only what lies after the lowest of
    // them — the same 499 again: the other 4,500 are never read.
    expect(seen.size).toBe(500);
    expect(devices.filter((d) => !seen.has(d.imei))).toHaveLength(4500);
  });

  test('reconciling a plan change of 5,000 devices on the date-sorted list finds every device', async () => {
    const h = await start();
    // 6,000 lines: 5,000 in the operation, of which 4,800 changed plan; 1,000 others on the old plan.
    const devices = await generate(h, 12, 500, (b) => (b % 3 === 1 ? 'OLD' : 'NEW'));
    const inOperation = devices.slice(0, 5000);
    const unchanged = new Set(inOperation.flatMap((d, i) => (i % 25 === 0 ? [i] : [])));
    for (const i of unchanged) {
      const d = inOperation[i] as Generated & { servicePlan: string };
      if (d.servicePlan === 'NEW') {
        await json(`${h.control}/devices`, 'POST', { accountName: ACCOUNT, ...d, state: 'active', servicePlan: 'OLD' });
      }
    }
    const expected = inOperation.flatMap((d, i) => (d.servicePlan === 'NEW' && !unchanged.has(i) ? [i] : []));

    const result = await reconcileDevices(h.thingspace, {
      operation: 'changeProfileServicePlan',
      accountName: ACCOUNT,
      servicePlan: 'NEW',
      devices: inOperation.map(ids),
    });

    expect(result).toEqual({ confirmed: expected, method: 'scan', requests: 12 });
    expect(expected.length).toBeGreaterThan(3000);
    expect(await listRequests(h)).toBe(12);
  });

  test('stragglers of an operation on a large account are looked up one by one while that takes fewer requests', async () => {
    const h = await start();
    const devices = await generate(h, 4, 500, () => 'NEW');
    const stragglers = devices.slice(0, 30).map(ids);
    const input = { operation: 'changeProfileServicePlan' as const, accountName: ACCOUNT, servicePlan: 'NEW' };
    const all30 = Array.from({ length: 30 }, (_, i) => i);

    // An account of at least 20,000 lines is 40 pages to scan: 30 lookups are cheaper.
    const looked = await reconcileDevices(h.thingspace, { ...input, devices: stragglers, accountDevices: 20_000 });
    expect(looked).toEqual({ confirmed: all30, method: 'lookup', requests: 30 });
    // 2,000 lines are at most 4 pages: the scan is cheaper (and stops at the first, where all 30 are).
    // Without a size, more than 20 devices are scanned for.
    const scanned = await reconcileDevices(h.thingspace, { ...input, devices: stragglers, accountDevices: 2_000 });
    expect(scanned).toEqual({ confirmed: all30, method: 'scan', requests: 1 });
    expect((await reconcileDevices(h.thingspace, { ...input, devices: stragglers })).method).toBe('scan');
    expect(reconcileMethod({ devices: new Array(2000).fill([]), accountDevices: 1_000_000 })).toBe('lookup');
    expect(reconcileMethod({ devices: new Array(2001).fill([]), accountDevices: 1_000_000 })).toBe('scan');
    expect(reconcileMethod({ devices: new Array(20).fill([]) })).toBe('lookup');
  });

  test('a Global plan change is confirmed by the Global profile entry, not the Verizon US plan', async () => {
    const h = await start();
    const generated = await generate(h, 1, 30, () => 'M2M4G5GB');
    // Half of them show the Global plan on their Global profile; the Verizon US plan never changes.
    for (const [i, d] of generated.entries()) {
      const global = {
        carrierName: 'Vodafone DE',
        servicePlan: i % 2 === 0 ? 'GLOBAL-NEW' : 'GLOBAL-OLD',
        state: 'active',
      };
      await json(`${h.control}/devices`, 'POST', {
        accountName: ACCOUNT,
        ...d,
        state: 'active',
        globalProfile: global,
      });
    }
    const input = { operation: 'changeProfileServicePlan' as const, accountName: ACCOUNT, servicePlan: 'GLOBAL-NEW' };
    const even = generated.flatMap((_, i) => (i % 2 === 0 ? [i] : []));

    const scanned = await reconcileDevices(h.thingspace, { ...input, devices: generated.map(ids) });
    expect(scanned).toEqual({ confirmed: even, method: 'scan', requests: 1 });
    const looked = await reconcileDevices(h.thingspace, { ...input, devices: generated.slice(0, 4).map(ids) });
    expect(looked).toEqual({ confirmed: [0, 2], method: 'lookup', requests: 4 });
  });

  test('when the first attempt stops after three pages, the retried attempt resumes from its heartbeat cursor', async () => {
    const h = await start();
    const devices = await generate(h, 10, 500, () => 'NEW');
    const activities = createActivities({ thingspace: h.thingspace as ThingSpacePort, store: {} as Store });
    const input = {
      operation: 'changeProfileServicePlan' as const,
      accountName: ACCOUNT,
      servicePlan: 'NEW',
      devices: devices.map(ids),
    };

    const first = new MockActivityEnvironment({ attempt: 1 });
    const beats: ReconcileProgress[] = [];
    first.on('heartbeat', (details: ReconcileProgress) => {
      beats.push(details);
      if (beats.length === 3) first.cancel();
    });
    await expect(first.run(activities.reconcileBulkOperation, input)).rejects.toThrow();
    const last = beats[2] as ReconcileProgress;
    expect(last).toEqual({
      method: 'scan',
      // The fixture's 23 devices (another account) come before the generated ones.
      cursor: 23 + 1500,
      requests: 3,
      devices: 5000,
      foundCount: 1500,
      found: expect.any(String),
    });
    // The found-so-far bitmap stays small: one bit a device.
    expect(Buffer.from(last.found, 'base64')).toHaveLength(625);
    const firstRequests = await listRequests(h);
    expect(firstRequests).toBe(3);

    const second = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: last });
    const result: DeviceReconciliation = await second.run(activities.reconcileBulkOperation, input);

    expect(result).toEqual({
      confirmed: devices.map((_, i) => i),
      method: 'scan',
      requests: 10,
      resumedFrom: 23 + 1500,
    });
    // Pages 4 to 10 only: the first three are not read again.
    expect((await listRequests(h)) - firstRequests).toBe(7);
  });

  test('a swap is read from the request identifiers alone, with both devices as the list shows them', async () => {
    const h = await start();
    const [out, into] = await generate(h, 1, 2, () => '4G 2GB');
    const outDevice = (await json(`${h.control}/devices/imei/${out?.imei}`, 'GET')).body as Json;
    const request = {
      accountName: ACCOUNT,
      deviceToSwapOut: [
        { kind: 'mdn', id: outDevice.mdn as string },
        { kind: 'eid', id: out?.eid as string },
        { kind: 'imei', id: out?.imei as string },
        { kind: 'iccid', id: out?.iccid as string },
      ],
      deviceToSwapIn: [
        { kind: 'eid', id: into?.eid as string },
        { kind: 'imei', id: into?.imei as string },
      ],
    };
    const before = await reconcileEidDeviceSwap(h.thingspace, request);
    expect(before.confirmed).toEqual({});
    expect(before.listed.swappedOut).toEqual({
      deviceIds: expect.arrayContaining([{ kind: 'mdn', id: outDevice.mdn }]),
      state: 'active',
      servicePlan: '4G 2GB',
    });
    expect(before.listed.swappedIn?.state).toBe('active');
    expect(before.listed.originalLine?.deviceIds).toContainEqual({ kind: 'iccid', id: out?.iccid });
  });
});
