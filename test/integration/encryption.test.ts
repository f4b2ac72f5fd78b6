import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { getBulkOperation, startActivateDeviceProfiles } from '../../client/index.js';
import { EncryptionCodec } from '../../codec/index.js';
import type { ActivateDeviceProfilesRequest, ProfileDevice } from '../../contracts/index.js';
import { ACCOUNT, startSystem, type TestSystem } from './harness.js';
import { connectTestClient, type TestClient } from './temporal-env.js';

const KEY = randomBytes(32).toString('base64');

const PLACE_OF_USE: ActivateDeviceProfilesRequest['primaryPlaceOfUse'] = {
  customerName: { firstName: 'Ada', lastName: 'Lovelace-King' },
  address: { addressLine1: '10 Elm Street', city: 'Wenatchee', state: 'WA', zip: '98801', country: 'USA' },
};
const CUSTOMER_DATA = ['Lovelace-King', '10 Elm Street', 'Wenatchee'];

let system: TestSystem;
let withoutKey: TestClient;
let prefix = 700;

beforeAll(async () => {
  system = await startSystem({ payloadEncryptionKey: KEY });
  withoutKey = await connectTestClient();
});

afterAll(async () => {
  await system?.stop();
  await withoutKey?.connection.close();
});

interface Generated {
  eid: string;
  iccid: string;
}

/** Pre-active eSIM devices of this test's own, and their identifiers as a profile request names them. */
async function seedDevices(count: number): Promise<{ ids: string[]; devices: ProfileDevice[] }> {
  prefix += 1;
  const { devices } = await system.sim<{ devices: Generated[] }>('POST', '/__sim/devices/generate', {
    accountName: ACCOUNT,
    count,
    state: 'pre-active',
    servicePlan: 'M2M_4G',
    withEid: true,
    prefix: String(prefix),
  });
  return {
    ids: devices.flatMap((d) => [d.eid, d.iccid]),
    devices: devices.map((d) => ({
      deviceIds: [
        { kind: 'eid', id: d.eid },
        { kind: 'iccid', id: d.iccid },
      ],
    })),
  };
}

function request(devices: ProfileDevice[]): ActivateDeviceProfilesRequest {
  return {
    accountName: ACCOUNT,
    devices,
    servicePlan: 'M2M_4G',
    carrierName: 'Verizon Wireless',
    mdnZipCode: '98801',
    primaryPlaceOfUse: PLACE_OF_USE,
  };
}

const startOptions = () => ({
  taskQueue: system.taskQueue,
  operationId: randomUUID(),
  failurePolicy: 'fail' as const,
  stepTimeout: '2 minutes',
});

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

/** A history as the Temporal server stores it, read by a client that holds no key. */
function storedHistory(workflowId: string): Promise<History> {
  return withoutKey.client.workflow.getHandle(workflowId).fetchHistory();
}

/** Every string in a history, payload bytes decoded as text, so a search sees what Temporal stores. */
function historyText(history: History): string {
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

/**
 * The payloads a codec handles, by where they are in the history: inputs (workflow, activity, child workflow,
 * signal) and results. Search attributes and failure messages are not among them: Temporal never encodes those.
 */
function codecPayloads(history: History): { event: string; payload: Payload }[] {
  const found: { event: string; payload: Payload }[] = [];
  for (const event of history.events ?? []) {
    for (const [name, attributes] of Object.entries(event)) {
      if (!name.endsWith('EventAttributes') || !attributes || typeof attributes !== 'object') continue;
      for (const field of ['input', 'result'] as const) {
        const payloads = (attributes as Record<string, { payloads?: Payload[] } | null | undefined>)[field]?.payloads;
        for (const payload of payloads ?? []) found.push({ event: name, payload });
      }
    }
  }
  return found;
}

const encodingOf = (payload: Payload): string => Buffer.from(payload.metadata?.encoding ?? []).toString('utf8');

/** The child workflows (shards) a bulk saga started, by the ids in its history. */
function childIds(history: History): string[] {
  return (history.events ?? []).flatMap((e) => {
    const id = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
    return id ? [id] : [];
  });
}

describe('payload encryption end to end', () => {
  it('activates profiles while Temporal stores the customer’s name, address and devices only as ciphertext', async () => {
    const { ids, devices } = await seedDevices(3);
    const handle = await startActivateDeviceProfiles(system.client, request(devices), startOptions());
    const result = await handle.result();
    expect(result.counts).toMatchObject({ total: 3, succeeded: 3, failed: 0 });

    const parent = await storedHistory(handle.workflowId);
    const shards = await Promise.all(childIds(parent).map(storedHistory));
    expect(shards.length).toBeGreaterThan(0);
    for (const history of [parent, ...shards]) {
      const text = historyText(history);
      for (const value of [...CUSTOMER_DATA, ...ids]) expect(text).not.toContain(value);
      const payloads = codecPayloads(history);
      expect(payloads.length).toBeGreaterThan(0);
      expect(payloads.filter(({ payload }) => encodingOf(payload) !== 'binary/encrypted')).toEqual([]);
    }
    // The gateway's signals (the callbacks) are among the encrypted payloads, not only what the client sent.
    const signalled = shards.flatMap((h) => codecPayloads(h)).filter((p) => p.event.includes('Signaled'));
    expect(signalled.length).toBeGreaterThan(0);

    // The request is in the history all the same, readable with the key.
    const started = codecPayloads(parent).find((p) => p.event === 'workflowExecutionStartedEventAttributes');
    const [decrypted] = await EncryptionCodec.fromSetting(KEY).decode([started?.payload as Payload]);
    expect(defaultPayloadConverter.fromPayload(decrypted as Payload)).toMatchObject({
      primaryPlaceOfUse: PLACE_OF_USE,
      devices,
    });

    // A client without the key cannot read the result; the client with it reads result and status as ever.
    await expect(withoutKey.client.workflow.getHandle(handle.workflowId).result()).rejects.toThrow(
      'Unknown encoding: binary/encrypted',
    );
    const again = getBulkOperation(system.client, handle.workflowId);
    expect(await again.result()).toEqual(result);
    expect(await again.status()).toMatchObject({ phase: 'completed' });
  });

  it('finishes a saga started before the key was set, whose request Temporal stored in clear', async () => {
    const { devices } = await seedDevices(1);
    // Started by a client without the key: the worker, which has it, still reads the plain input.
    const handle = await startActivateDeviceProfiles(withoutKey.client, request(devices), startOptions());

    const result = await getBulkOperation(system.client, handle.workflowId).result();

    expect(result.counts).toMatchObject({ total: 1, succeeded: 1, failed: 0 });
    const payloads = codecPayloads(await storedHistory(handle.workflowId));
    expect(encodingOf(payloads[0]?.payload as Payload)).toBe('json/plain');
    expect(payloads.slice(1).map((p) => encodingOf(p.payload))).toEqual(
      payloads.slice(1).map(() => 'binary/encrypted'),
    );
  });
});
