import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import {
  checkDevices,
  checkRows,
  csvCells,
  DeviceSourceError,
  InvalidDevicesError,
  OperationConflictError,
  results,
  SeenIdentifiers,
  storeDevices,
  type CheckedRow,
  type DeviceProgress,
  type DeviceSource,
} from '../../client/devices.js';
import { InvalidRequestError, startBulkOperation, startChangeProfileServicePlan } from '../../client/index.js';
import { MemoryOperationStore } from '../fixtures/operation-store.js';

const dir = mkdtempSync(join(tmpdir(), 'euicc-devices-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

/** The n-th test device of a plan change: a 32-digit EID and a 20-digit ICCID. */
const eid = (n: number) => `8904903200700888260008${String(n).padStart(10, '0')}`;
const iccid = (n: number) => `891480000${String(n).padStart(11, '0')}`;
const planDevice = (n: number) => ({
  deviceIds: [
    { kind: 'eid', id: eid(n) },
    { kind: 'iccid', id: iccid(n) },
  ],
});
const csv = (rows: string[], eol = '\n') => ['eid,iccid', ...rows].join(eol) + eol;

async function rows(source: DeviceSource, operation: 'changeProfileServicePlan' | 'activateDeviceProfiles') {
  const found: CheckedRow[] = [];
  for await (const row of checkRows(operation, source)) found.push(row);
  return found;
}

describe('reading a device file', () => {
  it('a CSV with CRLF line ends, a byte-order mark, quoted cells and blank lines gives one device a row', async () => {
    const path = file(
      'fleet.csv',
      '\uFEFFEID , ICCID\r\n' +
        `${eid(1)},${iccid(1)}\r\n` +
        '\r\n' +
        `"${eid(2)}", "${iccid(2)}"\r\n` +
        ',\r\n' +
        `${eid(3)},${iccid(3)}`,
    );
    expect(await rows({ file: path }, 'changeProfileServicePlan')).toEqual([
      { line: 2, position: 0, device: planDevice(1) },
      { line: 4, position: 1, device: planDevice(2) },
      { line: 6, position: 2, device: planDevice(3) },
    ]);
  });

  it('an activation CSV may name each device by other kinds; empty cells are left out', async () => {
    const path = file('activate.csv', 'imei,mdn,eid\n990013907835573,,\n,8586928930,\n');
    expect((await rows({ file: path }, 'activateDeviceProfiles')).map((row) => row.device)).toEqual([
      { deviceIds: [{ kind: 'imei', id: '990013907835573' }] },
      { deviceIds: [{ kind: 'mdn', id: '8586928930' }] },
    ]);
  });

  it('JSON lines (.jsonl or .ndjson) give each line as a device, blank lines ignored', async () => {
    const text = `${JSON.stringify(planDevice(1))}\n\n${JSON.stringify(planDevice(2))}\n`;
    for (const name of ['fleet.jsonl', 'fleet.ndjson']) {
      expect(await rows({ file: file(name, text) }, 'changeProfileServicePlan')).toEqual([
        { line: 1, position: 0, device: planDevice(1) },
        { line: 3, position: 1, device: planDevice(2) },
      ]);
    }
  });

  it.each([
    ['fleet.txt', 'eid,iccid\n', "name the devices' format by its extension: .csv, .jsonl or .ndjson"],
    ['empty.csv', '', 'is empty: it needs a header row of identifier kinds'],
    ['imei.csv', 'eid,imei\n', "line 1: column 2 'imei' is not an identifier kind of this operation: use eid, iccid"],
    ['twice.csv', 'eid,iccid,EID\n', "line 1: column 'eid' appears twice"],
  ])('%s cannot be read at all: a DeviceSourceError saying why', async (name, content, why) => {
    const path = file(name, content);
    await expect(checkDevices('changeProfileServicePlan', { file: path })).rejects.toThrow(
      new DeviceSourceError(`${path}${why.startsWith('line') || why.startsWith('is') ? ' ' : ': '}${why}`),
    );
  });

  it('a missing file is a DeviceSourceError naming it', async () => {
    await expect(checkDevices('changeProfileServicePlan', { file: join(dir, 'none.csv') })).rejects.toThrow(
      `cannot read ${join(dir, 'none.csv')}: ENOENT`,
    );
  });

  it('CSV cells follow RFC 4180 quoting on one line', () => {
    expect(csvCells('a, "b,c" ,"say ""hi""",')).toEqual(['a', 'b,c', 'say "hi"', '']);
    expect(csvCells('"open,b')).toBeUndefined();
    expect(csvCells('"a"x,b')).toBeUndefined();
  });
});

describe('checking the devices row by row', () => {
  it('every invalid or repeated row is named by its file line (the header is line 1), nothing else', async () => {
    const path = file(
      'bad.csv',
      csv([
        `${eid(1)},${iccid(1)}`, // line 2
        `${eid(2)},${iccid(2)}`, // line 3
        `1234,${iccid(3)}`, // line 4
        `${eid(4)},`, // line 5
        `${eid(5)},${iccid(5)},extra`, // line 6
        `${eid(9)},${iccid(2)}`, // line 7
        `"${eid(6)},${iccid(6)}`, // line 8
      ]),
    );
    const checked = await checkDevices('changeProfileServicePlan', { file: path });
    expect(checked).toMatchObject({ total: 7, skipped: 5, problemCount: 5, unit: 'line' });
    expect(checked.problems).toEqual([
      { line: 4, code: 'InvalidDevice', message: 'eid 1234 must be 32 digits' },
      {
        line: 5,
        code: 'InvalidDevice',
        message: "deviceIds must include the device's iccid: the page says both values, eid and iccid, must be present",
      },
      { line: 6, code: 'InvalidDevice', message: 'has 3 cells, the header 2' },
      { line: 7, code: 'RepeatedDevice', message: `repeats iccid ${iccid(2)} of line 3` },
      { line: 8, code: 'InvalidDevice', message: 'a quoted cell is not closed on its line' },
    ]);
  });

  it('a JSON line that is not JSON, or not a device, is named by its line', async () => {
    const path = file(
      'bad.jsonl',
      [JSON.stringify(planDevice(1)), '{"deviceIds": [', '[1]', '{"deviceIds": []}'].join('\n'),
    );
    const { problems } = await checkDevices('changeProfileServicePlan', { file: path });
    expect(problems.map(({ line, message }) => ({ line, message }))).toEqual([
      { line: 2, message: expect.stringMatching(/^is not JSON: /) },
      { line: 3, message: 'the device must be a JSON object' },
      { line: 4, message: 'deviceIds is required: a non-empty array of {kind, id}' },
    ]);
  });

  it('devices from an array are named by their place in it, from 1', async () => {
    const { problems, unit } = await checkDevices('activateDeviceProfiles', [
      { deviceIds: [{ kind: 'imei', id: '990013907835573' }] },
      { deviceIds: [{ kind: 'IMEI', id: '990013907835573' }] },
    ]);
    expect({ unit, problems }).toEqual({
      unit: 'device',
      problems: [{ line: 2, code: 'RepeatedDevice', message: 'repeats imei 990013907835573 of line 1' }],
    });
  });

  it('an ICCID named again with its hex check digit in the other case is the same device', async () => {
    const hex = '8914800000433306063F';
    const { problems } = await checkDevices('activateDeviceProfiles', [
      { deviceIds: [{ kind: 'iccid', id: hex }] },
      { deviceIds: [{ kind: 'iccid', id: hex.toLowerCase() }] },
    ]);
    expect(problems.map((p) => p.code)).toEqual(['RepeatedDevice']);
  });

  it('the repeat check keeps its table small and exact over many devices', () => {
    const seen = new SeenIdentifiers();
    let falseRepeats = 0;
    for (let n = 1; n <= 100_000; n++) {
      const ids = planDevice(n).deviceIds;
      if (seen.firstOf(ids) !== undefined) falseRepeats++;
      seen.add(ids, n + 1);
    }
    expect(falseRepeats).toBe(0);
    expect(seen.firstOf([{ kind: 'iccid', id: iccid(77_777) }])).toEqual({
      id: { kind: 'iccid', id: iccid(77_777) },
      line: 77_778,
    });
    expect(seen.firstOf([{ kind: 'eid', id: iccid(77_777) }])).toBeUndefined();
  });
});

describe('the devices digest', () => {
  const devices = [planDevice(1), planDevice(2), planDevice(3)];

  it('is the same for the same devices from a CSV file (either column order), JSON lines, an array or an iterable', async () => {
    const digests = await Promise.all(
      [
        { file: file('a.csv', csv([1, 2, 3].map((n) => `${eid(n)},${iccid(n)}`))) },
        { file: file('b.csv', `iccid,eid\n${[1, 2, 3].map((n) => `${iccid(n)},${eid(n)}`).join('\n')}`) },
        { file: file('c.jsonl', devices.map((d) => JSON.stringify(d)).join('\n')) },
        devices,
        () => devices.values(),
        async function* () {
          yield* devices;
        },
      ].map(async (source) => (await checkDevices('changeProfileServicePlan', source)).devicesDigest),
    );
    expect(new Set(digests).size).toBe(1);
    expect(digests[0]).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with the order of the devices and with a device skipped', async () => {
    const base = (await checkDevices('changeProfileServicePlan', devices)).devicesDigest;
    const reordered = (await checkDevices('changeProfileServicePlan', [...devices].reverse())).devicesDigest;
    const withBad = await checkDevices('changeProfileServicePlan', [...devices, { deviceIds: [] }], {
      skipInvalid: true,
    });
    expect(new Set([base, reordered, withBad.devicesDigest]).size).toBe(3);
  });
});

describe('storing the devices in chunks', () => {
  const OPERATION = 'changeProfileServicePlan:0000123456-00001:fleet-1';

  async function created(store: MemoryOperationStore) {
    await store.createOperation({
      operationId: OPERATION,
      operation: 'changeProfileServicePlan',
      accountName: '0000123456-00001',
      digest: 'd',
    });
  }

  it('12,001 devices go in chunks of 5,000 with progress, then the seal with their count and digest', async () => {
    const path = file('big.csv', csv(Array.from({ length: 12_001 }, (_, i) => `${eid(i)},${iccid(i)}`)));
    const store = new MemoryOperationStore();
    await created(store);
    const checked = await checkDevices('changeProfileServicePlan', { file: path });
    const progress: DeviceProgress[] = [];
    await storeDevices(store, OPERATION, checked, { onProgress: (p) => progress.push(p) });

    expect(store.calls.slice(1)).toEqual([
      `appendDevices ${OPERATION} 5000`,
      `appendDevices ${OPERATION} 5000`,
      `appendDevices ${OPERATION} 2001`,
      `sealOperation ${OPERATION} 12001`,
    ]);
    expect(progress).toEqual([
      { phase: 'uploading', done: 5000, total: 12_001 },
      { phase: 'uploading', done: 10_000, total: 12_001 },
      { phase: 'uploading', done: 12_001, total: 12_001 },
    ]);
    expect(await store.getOperation(OPERATION)).toMatchObject({ total: 12_001, devicesDigest: checked.devicesDigest });
    expect(await store.loadPending(OPERATION, 12_000, 12_001)).toEqual([
      { position: 12_000, device: planDevice(12_000) },
    ]);
  });

  it('invalid rows refuse the whole set before anything is stored', async () => {
    const store = new MemoryOperationStore();
    await created(store);
    const checked = await checkDevices('changeProfileServicePlan', [planDevice(1), { deviceIds: [] }]);
    await expect(storeDevices(store, OPERATION, checked)).rejects.toThrow(InvalidDevicesError);
    expect(store.calls).toEqual([`createOperation ${OPERATION}`]);
  });

  it('with skipInvalid, invalid and repeated rows are stored as skipped, with their reason', async () => {
    const store = new MemoryOperationStore();
    await created(store);
    const checked = await checkDevices(
      'changeProfileServicePlan',
      [planDevice(1), { deviceIds: [{ kind: 'eid', id: '1' }] }, planDevice(1)],
      { skipInvalid: true },
    );
    await storeDevices(store, OPERATION, checked);
    const stored = [];
    for await (const result of results(store, OPERATION, { state: 'skipped' })) stored.push(result);
    expect(
      stored.map(({ position, device, state, code, message }) => ({ position, device, state, code, message })),
    ).toEqual([
      {
        position: 1,
        device: { deviceIds: [{ kind: 'eid', id: '1' }] },
        state: 'skipped',
        code: 'InvalidDevice',
        message:
          "eid 1 must be 32 digits; deviceIds must include the device's iccid: the page says both values, eid and iccid, must be present",
      },
      {
        position: 2,
        device: planDevice(1),
        state: 'skipped',
        code: 'RepeatedDevice',
        message: `repeats eid ${eid(1)} of line 1`,
      },
    ]);
  });

  it('a file changed after its check stops the upload before the changed chunk, and nothing is sealed', async () => {
    const store = new MemoryOperationStore();
    await created(store);
    const lines = Array.from({ length: 7 }, (_, i) => `${eid(i)},${iccid(i)}`);
    const path = file('changing.csv', csv(lines));
    const checked = await checkDevices('changeProfileServicePlan', { file: path }, { chunkSize: 3 });
    lines[4] = `${eid(40)},${iccid(40)}`;
    writeFileSync(path, csv(lines));

    await expect(storeDevices(store, OPERATION, checked)).rejects.toThrow(
      `${path} changed after it was checked (rows 4 to 6 differ); nothing was sealed or started: start again`,
    );
    expect(store.calls.slice(1)).toEqual([`appendDevices ${OPERATION} 3`]);
  });

  it('resuming an unfinished upload refuses other devices already stored under the id', async () => {
    const store = new MemoryOperationStore();
    await created(store);
    await store.appendDevices(OPERATION, [{ position: 0, device: planDevice(9) }]);
    const checked = await checkDevices('changeProfileServicePlan', [planDevice(1), planDevice(2)]);
    await expect(storeDevices(store, OPERATION, checked, { resume: true })).rejects.toThrow(OperationConflictError);
  });
});

describe('reading results', () => {
  it('pages through readResults after the last position, with the state asked for', async () => {
    const store = new MemoryOperationStore();
    const id = 'changeProfileServicePlan:acct:r';
    await store.createOperation({
      operationId: id,
      operation: 'changeProfileServicePlan',
      accountName: 'acct',
      digest: 'd',
    });
    await store.appendDevices(
      id,
      Array.from({ length: 2_500 }, (_, position) => ({ position, device: planDevice(position) })),
    );
    await store.recordOutcomes(
      id,
      0,
      Array.from({ length: 2_500 }, (_, position) => ({ position, state: position % 2 ? 'failed' : 'succeeded' })),
    );

    const all: number[] = [];
    for await (const result of results(store, id)) all.push(result.position);
    const failed: number[] = [];
    for await (const result of results(store, id, { state: 'failed', pageSize: 500 })) failed.push(result.position);

    expect(all).toEqual(Array.from({ length: 2_500 }, (_, i) => i));
    expect(failed).toEqual(Array.from({ length: 1_250 }, (_, i) => 2 * i + 1));
    expect(store.calls.filter((c) => c.startsWith('readResults')).slice(0, 4)).toEqual([
      `readResults ${id} after -1`,
      `readResults ${id} after 999`,
      `readResults ${id} after 1999`,
      `readResults ${id} after -1`,
    ]);
  });
});

describe('startBulkOperation', () => {
  const BODY = { accountName: '0000123456-00001', servicePlan: 'M2M_5G_PLUS' };

  /** A Temporal client that records starts: the first start of an id starts, later ones find it running. */
  function fakeClient() {
    const starts: { type: string; workflowId: string; args: unknown[] }[] = [];
    const client = {
      workflow: {
        start: async (type: string, options: { workflowId: string; args: unknown[] }) => {
          starts.push({ type, workflowId: options.workflowId, args: options.args });
          return { workflowId: options.workflowId, query: async () => undefined };
        },
        getHandle: (workflowId: string) => ({ workflowId }),
      },
    } as unknown as Client;
    return { client, starts };
  }

  it('stores the devices, then starts the saga with the stored form under the workflow id the store keys', async () => {
    const { client, starts } = fakeClient();
    const store = new MemoryOperationStore();
    const devices = [planDevice(1), planDevice(2)];

    const handle = await startBulkOperation(client, store, 'changeProfileServicePlan', BODY, devices, {
      operationId: 'fleet-2026-03',
      shardSize: 500,
    });

    const operationId = 'changeProfileServicePlan:0000123456-00001:fleet-2026-03';
    expect({ operationId: handle.operationId, devices: handle.devices, starts }).toEqual({
      operationId,
      devices: { total: 2, skipped: 0, uploaded: true },
      starts: [
        {
          type: 'changeProfileServicePlan',
          workflowId: operationId,
          args: [{ ...BODY, options: { shardSize: 500 }, deviceSet: { operationId, count: 2 } }],
        },
      ],
    });
    expect(store.calls).toEqual([
      `createOperation ${operationId}`,
      `appendDevices ${operationId} 2`,
      `sealOperation ${operationId} 2`,
    ]);
  });

  it('started again with the same devices, it finds the sealed operation and uploads nothing', async () => {
    const { client, starts } = fakeClient();
    const store = new MemoryOperationStore();
    const devices = [planDevice(1), planDevice(2)];
    const first = await startBulkOperation(client, store, 'changeProfileServicePlan', BODY, devices);
    store.calls.length = 0;

    const again = await startBulkOperation(client, store, 'changeProfileServicePlan', BODY, () => devices.values());

    expect({ id: again.operationId, devices: again.devices, calls: store.calls, starts: starts.length }).toEqual({
      id: first.operationId,
      devices: { total: 2, skipped: 0, uploaded: false },
      calls: [],
      starts: 2,
    });
    expect(first.operationId).toMatch(/^changeProfileServicePlan:0000123456-00001:[0-9a-f]{16}$/);
  });

  it('the same operation id with other devices, or another plan, is refused before anything is stored', async () => {
    const { client } = fakeClient();
    const store = new MemoryOperationStore();
    const options = { operationId: 'fleet' };
    await startBulkOperation(client, store, 'changeProfileServicePlan', BODY, [planDevice(1)], options);

    await expect(
      startBulkOperation(client, store, 'changeProfileServicePlan', BODY, [planDevice(2)], options),
    ).rejects.toThrow(
      'operation changeProfileServicePlan:0000123456-00001:fleet already holds 1 other devices; use another operation id',
    );
    await expect(
      startBulkOperation(
        client,
        store,
        'changeProfileServicePlan',
        { ...BODY, servicePlan: 'OTHER' },
        [planDevice(1)],
        options,
      ),
    ).rejects.toThrow(OperationConflictError);
  });

  it('an invalid body or invalid devices start nothing and store nothing', async () => {
    const { client, starts } = fakeClient();
    const store = new MemoryOperationStore();
    await expect(
      startBulkOperation(client, store, 'changeProfileServicePlan', { accountName: 'a' } as typeof BODY, [
        planDevice(1),
      ]),
    ).rejects.toThrow(InvalidRequestError);
    await expect(
      startBulkOperation(client, store, 'changeProfileServicePlan', BODY, [planDevice(1), planDevice(1)]),
    ).rejects.toThrow(InvalidDevicesError);
    expect({ starts, calls: store.calls }).toEqual({ starts: [], calls: [] });
  });

  it('the inline start, above 2 MB, points to the stored form', async () => {
    const { client } = fakeClient();
    const devices = Array.from({ length: 20_000 }, (_, n) => planDevice(n));
    await expect(startChangeProfileServicePlan(client, { ...BODY, devices })).rejects.toThrow(
      /keep the devices in the operation store instead: startBulkOperation\(…\) or `euicc start changeProfileServicePlan --devices <file>`/,
    );
  });
});
