import {
  reconcileChangeDeviceIdentifier,
  reconcileEidDeviceSwap,
  reconcileProfiles,
  type DeviceLister,
} from '../../activities/reconcile.js';
import { ThingSpaceError } from '../../thingspace/errors.js';
import type { DeviceInformation, DeviceListRequest, DeviceListResult } from '../../thingspace/index.js';

/** A device list of `devices`, paged like ThingSpace: `pageSize` a page, the cursor in extendedAttributes. */
class FakeList implements DeviceLister {
  requests: DeviceListRequest[] = [];
  constructor(
    private readonly devices: (DeviceInformation & { number: number })[],
    private readonly pageSize = 2,
  ) {}

  async listDevices(body: DeviceListRequest): Promise<DeviceListResult> {
    this.requests.push(body);
    if (body.deviceId) {
      const { kind, id } = body.deviceId;
      const found = this.devices.filter((d) => d.deviceIds.some((x) => x.kind === kind && x.id === id));
      if (found.length === 0) {
        throw new ThingSpaceError({
          status: 400,
          code: 'REQUEST_FAILED.DeviceNotFound',
          message: `Device ${kind} ${id} was not found`,
        });
      }
      return { hasMoreData: false, devices: found };
    }
    const after = body.largestDeviceIdSeen ?? 0;
    const matching = this.devices.filter(
      (d) =>
        d.number > after && (body.currentState === undefined || d.carrierInformations[0]?.state === body.currentState),
    );
    const page = matching.slice(0, this.pageSize);
    return { hasMoreData: matching.length > page.length, devices: page };
  }
}

function device(number: number, eid: string, iccid: string, servicePlan: string, state = 'active') {
  return {
    number,
    deviceIds: [
      { kind: 'eid', id: eid },
      { kind: 'iccid', id: iccid },
    ],
    carrierInformations: [{ servicePlan, state }],
    extendedAttributes: [{ key: 'DeviceId', value: String(number) }],
  };
}

describe('reconcileProfiles', () => {
  /** 30 devices on the new plan but E2 (old plan) and E4 (new plan, line not active yet). */
  const list = () =>
    new FakeList(
      Array.from({ length: 30 }, (_, i) => {
        const n = i + 1;
        const plan = n === 2 ? 'OLD' : 'NEW';
        return device(n, `E${n}`, n === 3 ? 'I3F' : `I${n}`, plan, n === 4 ? 'pre-active' : 'active');
      }),
      10,
    );
  const many = Array.from({ length: 25 }, (_, i) => [{ kind: 'eid', id: `E${i + 1}` }]);

  it('pages through the account for many devices from largestDeviceIdSeen 0, and confirms those on the new plan by their first identifier', async () => {
    const lister = list();
    const cursors: number[] = [];
    const { confirmed } = await reconcileProfiles(
      lister,
      { operation: 'changeProfileServicePlan', accountName: 'acct', servicePlan: 'NEW', devices: many },
      { onProgress: (p) => cursors.push(p.cursor) },
    );
    expect(confirmed).toHaveLength(24);
    expect(confirmed).not.toContain('eid:e2');
    expect(confirmed).toContain('eid:e25');
    // Three pages of ten, the first at 0, each next after the last device id of the page before.
    expect(lister.requests).toEqual([
      { accountName: 'acct', largestDeviceIdSeen: 0 },
      { accountName: 'acct', largestDeviceIdSeen: 10 },
      { accountName: 'acct', largestDeviceIdSeen: 20 },
    ]);
    expect(cursors).toEqual([10, 20]);
  });

  it('looks a few devices up one by one, by any identifier in any casing', async () => {
    const lister = list();
    const { confirmed } = await reconcileProfiles(lister, {
      operation: 'changeProfileServicePlan',
      accountName: 'acct',
      servicePlan: 'NEW',
      devices: [
        [
          { kind: 'eid', id: 'E1' },
          { kind: 'iccid', id: 'I1' },
        ],
        [{ kind: 'eid', id: 'E2' }],
        [{ kind: 'iccid', id: 'I3F' }],
        [{ kind: 'eid', id: 'E99' }],
      ],
    });
    expect(confirmed).toEqual(['eid:e1', 'iccid:i3f']);
    expect(lister.requests.map((r) => r.deviceId?.id)).toEqual(['E1', 'E2', 'I3F', 'E99']);
  });

  it('confirms an activation by an active line only', async () => {
    const lister = list();
    const { confirmed } = await reconcileProfiles(lister, {
      operation: 'activateDeviceProfiles',
      accountName: 'acct',
      devices: many,
    });
    expect(confirmed).toHaveLength(24);
    expect(confirmed).not.toContain('eid:e4');
  });

  it('refuses to guess when the list says more pages follow but gives no cursor', async () => {
    const lister = {
      listDevices: async (): Promise<DeviceListResult> => ({
        hasMoreData: true,
        devices: [{ deviceIds: [{ kind: 'eid', id: 'E1' }], carrierInformations: [] }],
      }),
    };
    await expect(
      reconcileProfiles(lister, {
        operation: 'changeProfileServicePlan',
        accountName: 'a',
        servicePlan: 'NEW',
        devices: many,
      }),
    ).rejects.toThrow(/no cursor/);
  });
});

describe('reconcileChangeDeviceIdentifier', () => {
  it('confirms a change when an active device carries every new identifier', async () => {
    const lister = new FakeList([device(1, 'E1', 'NEWSIM', 'PLAN')]);
    await expect(
      reconcileChangeDeviceIdentifier(lister, {
        deviceIds: [{ kind: 'eid', id: 'E1' }],
        deviceIdsTo: [{ kind: 'iccid', id: 'NEWSIM' }],
        change4gOption: 'ChangeICCID',
      }),
    ).resolves.toEqual({ newDeviceIds: [{ kind: 'iccid', id: 'NEWSIM' }], servicePlan: 'PLAN' });
  });

  it('says nothing changed when ThingSpace does not know the new identifier (DeviceNotFound)', async () => {
    const lister = new FakeList([device(1, 'E1', 'OLDSIM', 'PLAN')]);
    await expect(
      reconcileChangeDeviceIdentifier(lister, {
        deviceIds: [{ kind: 'eid', id: 'E1' }],
        deviceIdsTo: [{ kind: 'iccid', id: 'NEWSIM' }],
        change4gOption: 'ChangeICCID',
      }),
    ).resolves.toEqual({});
  });

  it('ChangeMSISDN: confirmed when the device, found by an identifier that does not change, has another number', async () => {
    const moved = {
      ...device(1, 'E1', 'SIM', 'PLAN'),
      deviceIds: [
        { kind: 'eid', id: 'E1' },
        { kind: 'mdn', id: '2025550199' },
      ],
    };
    const lister = new FakeList([moved]);
    const request = {
      deviceIds: [
        { kind: 'mdn', id: '2025550100' },
        { kind: 'eid', id: 'E1' },
      ],
      change4gOption: 'ChangeMSISDN' as const,
    };
    await expect(reconcileChangeDeviceIdentifier(lister, request)).resolves.toEqual({
      newDeviceIds: [{ kind: 'mdn', id: '2025550199' }],
      servicePlan: 'PLAN',
    });
    const unchanged = {
      ...moved,
      deviceIds: [
        { kind: 'eid', id: 'E1' },
        { kind: 'mdn', id: '2025550100' },
      ],
    };
    await expect(reconcileChangeDeviceIdentifier(new FakeList([unchanged]), request)).resolves.toEqual({});
  });
});

describe('reconcileEidDeviceSwap', () => {
  const ids = (pairs: Record<string, string>) => Object.entries(pairs).map(([kind, id]) => ({ kind, id }));
  const record = (number: number, deviceIds: Record<string, string>, state: string) => ({
    number,
    deviceIds: ids(deviceIds),
    carrierInformations: [{ carrierName: 'Verizon Wireless', servicePlan: '4G 2GB', state }],
    extendedAttributes: [{ key: 'DeviceId', value: String(number) }],
  });
  const request = {
    accountName: 'acct',
    deviceToSwapOut: ids({ mdn: '2025550101', eid: 'EOUT', imei: 'IOUT', iccid: 'OLDSIM' }),
    deviceToSwapIn: ids({ eid: 'EIN', imei: 'IIN' }),
  };

  it('after the swap: the replacement has the MDN, the swapped-out device a new line, the old line is deactive; both as listed', async () => {
    const swappedOut = record(1, { eid: 'EOUT', iccid: 'NEWSIM', imei: 'IOUT', mdn: '2025550199' }, 'active');
    const swappedIn = record(2, { eid: 'EIN', iccid: 'INSIM', imei: 'IIN', mdn: '2025550101' }, 'active');
    const oldLine = record(1, { eid: 'EOUT', iccid: 'OLDSIM', imei: 'IOUT' }, 'deactive');
    const lister = new FakeList([swappedOut, swappedIn]);
    const found = (body: DeviceListRequest) =>
      body.deviceId?.id === 'OLDSIM' ? Promise.resolve({ hasMoreData: false, devices: [oldLine] }) : undefined;
    const listDevices = lister.listDevices.bind(lister);
    lister.listDevices = (body) => {
      const answer = found(body);
      if (!answer) return listDevices(body);
      lister.requests.push(body);
      return answer;
    };

    const result = await reconcileEidDeviceSwap(lister, request);

    expect(result).toEqual({
      confirmed: {
        deactivation: oldLine.deviceIds,
        identifierChange: swappedIn.deviceIds,
        goToState: ids({ iccid: 'NEWSIM', imei: 'IOUT' }),
      },
      listed: {
        originalLine: { deviceIds: oldLine.deviceIds, state: 'deactive', servicePlan: '4G 2GB' },
        swappedIn: { deviceIds: swappedIn.deviceIds, state: 'active', servicePlan: '4G 2GB' },
        swappedOut: { deviceIds: swappedOut.deviceIds, state: 'active', servicePlan: '4G 2GB' },
      },
    });
    // Every lookup by an identifier of the request, never by one the list or a callback gave.
    expect(lister.requests.map((r) => r.deviceId)).toEqual([
      { kind: 'iccid', id: 'OLDSIM' },
      { kind: 'eid', id: 'EIN' },
      { kind: 'imei', id: 'IOUT' },
    ]);
  });

  it('before the swap nothing is confirmed, even when the request names no ICCID', async () => {
    const out = record(1, { eid: 'EOUT', iccid: 'OLDSIM', imei: 'IOUT', mdn: '2025550101' }, 'active');
    const into = record(2, { eid: 'EIN', imei: 'IIN' }, 'pre-active');
    const withoutIccid = { ...request, deviceToSwapOut: request.deviceToSwapOut.filter((d) => d.kind !== 'iccid') };
    for (const r of [request, withoutIccid]) {
      const { confirmed } = await reconcileEidDeviceSwap(new FakeList([out, into]), r);
      expect(confirmed).toEqual({});
    }
  });
});
