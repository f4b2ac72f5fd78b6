import { Client, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { randomBytes, randomUUID } from 'node:crypto';
import { getBulkOperation, startActivateDeviceProfiles, startEidDeviceSwap } from '../../client/index.js';
import { EncryptionCodec } from '../../codec/index.js';
import { FailureType, type ActivateDeviceProfilesRequest, type ProfileDevice } from '../../contracts/index.js';
import {
  ACCOUNT,
  failureOf,
  seedSwapPair,
  startSystem,
  swapRequest,
  uniqueDigits,
  type TestSystem,
} from './harness.js';
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

/**
 * Every string in a history, payload bytes decoded as text, so a search sees what Temporal stores; without
 * the fields named in `except`.
 */
function historyText(history: History, except: string[] = []): string {
  const parts: string[] = [];
  const visit = (value: unknown): void => {
    if (value instanceof Uint8Array) parts.push(Buffer.from(value).toString('utf8'));
    else if (typeof value === 'string') parts.push(value);
    else if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === 'object') {
      for (const [name, field] of Object.entries(value)) if (!except.includes(name)) visit(field);
    }
  };
  visit(history);
  return parts.join('\n');
}

type Failure = temporal.api.failure.v1.IFailure;

/** Every failure a history stores, causes included, by the event that holds it. */
function storedFailures(history: History): { event: string; failure: Failure }[] {
  const found: { event: string; failure: Failure }[] = [];
  for (const event of history.events ?? []) {
    for (const [name, attributes] of Object.entries(event)) {
      if (!name.endsWith('EventAttributes') || !attributes || typeof attributes !== 'object') continue;
      for (let failure = (attributes as { failure?: Failure | null }).failure; failure; failure = failure.cause) {
        found.push({ event: name, failure });
      }
    }
  }
  return found;
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

const encodingOf = (payload: Payload | null | undefined): string =>
  Buffer.from(payload?.metadata?.encoding ?? []).toString('utf8');

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

  it('fails a swap ThingSpace refuses with a message naming the device, stored only as ciphertext', async () => {
    const pair = await seedSwapPair(system);
    // An imei no device has: ThingSpace's refusal names it (`Device imei … was not found`).
    const unknownImei = `35${uniqueDigits(9)}9999`.slice(0, 15);
    const swapIn = [...pair.swapIn.filter((d) => d.kind !== 'imei'), { kind: 'imei', id: unknownImei }];
    const handle = await startEidDeviceSwap(system.client, swapRequest({ ...pair, swapIn }), {
      taskQueue: system.taskQueue,
    });

    const failure = await failureOf(handle);
    const message = `ThingSpace rejected the request: REQUEST_FAILED.DeviceNotFound: Device imei ${unknownImei} was not found in account ${ACCOUNT}.`;
    expect({ type: failure.type, message: failure.message }).toEqual({ type: FailureType.ThingSpaceRejected, message });
    // A stack trace starts with the message: it needs encrypting as much.
    expect(failure.stack?.split('\n')[0]).toBe(`ApplicationFailure: ${message}`);

    const history = await storedHistory(handle.workflowId);
    const failures = storedFailures(history);
    // The activity's failure and the saga's, each with its causes: messages and stack traces all encrypted.
    expect(new Set(failures.map((f) => f.event))).toEqual(
      new Set(['activityTaskFailedEventAttributes', 'workflowExecutionFailedEventAttributes']),
    );
    expect(
      failures.map(({ failure: f }) => ({
        message: f.message,
        stackTrace: f.stackTrace,
        encoding: encodingOf(f.encodedAttributes),
      })),
    ).toEqual(failures.map(() => ({ message: 'Encoded failure', stackTrace: '', encoding: 'binary/encrypted' })));
    // Failure types stay readable for search and diagnosis.
    const failed = failures.find((f) => f.event === 'workflowExecutionFailedEventAttributes');
    expect(failed?.failure.applicationFailureInfo?.type).toBe(FailureType.ThingSpaceRejected);
    // The imei is in the DeviceIds search attribute, which Temporal never encrypts, and nowhere else.
    expect(historyText(history)).toContain(unknownImei);
    expect(historyText(history, ['searchAttributes'])).not.toContain(unknownImei);

    // Without the key the failure is unreadable; with the codec alone (Temporal's default failure converter) it reads.
    await expect(withoutKey.client.workflow.getHandle(handle.workflowId).result()).rejects.toThrow(
      'Unknown encoding: binary/encrypted',
    );
    const codecOnly = new Client({
      connection: withoutKey.connection,
      dataConverter: { payloadCodecs: [EncryptionCodec.fromSetting(KEY)] },
    });
    const read = await failureOf(codecOnly.workflow.getHandle(handle.workflowId));
    expect({ type: read.type, message: read.message, stack: read.stack }).toEqual({
      type: failure.type,
      message: failure.message,
      stack: failure.stack,
    });
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
