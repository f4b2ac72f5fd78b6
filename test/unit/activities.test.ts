/**
 * The saga activities inside Temporal's mock activity context, over a real in-memory store and a fake
 * ThingSpace port (the one fake boundary). The context supplies the saga run the activity works for.
 */
import { jest } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { createActivities, type ThingSpacePort } from '../../activities/index.js';
import { FailureType, type EidDeviceSwapRequest } from '../../contracts/index.js';
import { openSqliteStore } from '../../store/sqlite.js';
import type { SagaRef, Store } from '../../store/types.js';
import { ThingSpaceError, type DeviceListResult } from '../../thingspace/index.js';

const SWAP_ID =
  'eidDeviceSwap:1223334444-01234:eid:66645678912345678912345678400812>eid:67891278912345345678400866645612';
const RUN: SagaRef = { workflowId: SWAP_ID, runId: '0193a0c1-7d3e-7b2a-9f00-4c1d2e3f4a01' };
const OTHER: SagaRef = {
  workflowId:
    'eidDeviceSwap:1223334444-01234:eid:89033023312150000000000200000001>eid:89033023312150000000000200000002',
  runId: '0193a0b7-4e5f-7a61-8b72-9c83d4e5f603',
};
const THIRD: SagaRef = {
  workflowId:
    'eidDeviceSwap:1223334444-01234:eid:89033023312150000000000300000001>eid:89033023312150000000000300000002',
  runId: '0193a0b8-0a1b-7c2d-8e3f-4a5b6c7d8e04',
};

const OUT_EID = { kind: 'EID', id: '66645678912345678912345678400812' };
const OUT_IMEI = { kind: 'imei', id: '990013907835573' };
const IN_EID = { kind: 'eid', id: '67891278912345345678400866645612' };

const request: EidDeviceSwapRequest = {
  accountName: '1223334444-01234',
  deviceToSwapOut: [{ kind: 'mdn', id: '8586928930' }, OUT_EID, OUT_IMEI],
  deviceToSwapIn: [IN_EID, { kind: 'imei', id: '990013907884259' }],
  mdnZipCode: '98802',
  serviceName: 'WiFi',
  stateName: 'WiFi Activate',
  servicePlan: '4G 2GB',
  smsrOid: '1.3.6.1.4.1.31746.1.500.200.101.5',
  options: { stepTimeout: '30 minutes', failurePolicy: 'fail' },
};

/** ThingSpace as the activities see it: records what it was sent and answers as told. */
class FakeThingSpace implements ThingSpacePort {
  sent: { body: unknown; signal: AbortSignal | undefined }[] = [];
  answer: () => Promise<{ requestId: string }> = async () => ({ requestId: '595f5c44-c31c-4552-8670-020a1545a84d' });

  async eidDeviceSwap(body: unknown, signal?: AbortSignal): Promise<{ requestId: string }> {
    this.sent.push({ body, signal });
    return this.answer();
  }

  async changeDeviceIdentifier(_serviceType: string, body: unknown, signal?: AbortSignal) {
    return this.eidDeviceSwap(body, signal);
  }

  async changeProfileServicePlan(body: unknown, signal?: AbortSignal) {
    return this.eidDeviceSwap(body, signal);
  }

  async activateDeviceProfiles(body: unknown, signal?: AbortSignal) {
    return this.eidDeviceSwap(body, signal);
  }

  async listDevices(): Promise<DeviceListResult> {
    return { hasMoreData: false, devices: [] };
  }
}

/** What a workflow sees of a failed activity. */
function summary(err: unknown) {
  if (!(err instanceof ApplicationFailure)) throw err;
  return {
    type: err.type,
    message: err.message,
    nonRetryable: err.nonRetryable,
    details: err.details,
    nextRetryDelay: err.nextRetryDelay,
  };
}

async function failureOf(run: Promise<unknown>): Promise<ReturnType<typeof summary>> {
  try {
    await run;
  } catch (err) {
    return summary(err);
  }
  throw new Error('expected the activity to fail');
}

describe('saga activities', () => {
  let store: Store;
  let thingspace: FakeThingSpace;
  let sagaIsOpen: jest.Mock<(saga: SagaRef) => Promise<boolean>>;
  let logs: LogEntry[];

  beforeEach(() => {
    store = openSqliteStore(':memory:');
    thingspace = new FakeThingSpace();
    sagaIsOpen = jest.fn<(saga: SagaRef) => Promise<boolean>>().mockResolvedValue(true);
    logs = [];
  });

  afterEach(async () => {
    await store.close();
  });

  /** The runs sagaIsOpen was asked about. */
  function askedAbout(): SagaRef[] {
    return sagaIsOpen.mock.calls.map(([saga]) => ({ workflowId: saga.workflowId, runId: saga.runId }));
  }

  /** The activities as the worker hosts them, run in the context of one saga run. */
  function activitiesOf(saga: SagaRef, attempt = 1) {
    const env = new MockActivityEnvironment(
      { workflowExecution: saga, activityType: 'test', attempt },
      { logger: new DefaultLogger('WARN', (entry) => logs.push(entry)) },
    );
    const activities = createActivities({ thingspace, store, sagaIsOpen });
    return {
      claimDevices: (...args: Parameters<typeof activities.claimDevices>) => env.run(activities.claimDevices, ...args),
      addCorrelationKeys: (...args: Parameters<typeof activities.addCorrelationKeys>) =>
        env.run(activities.addCorrelationKeys, ...args),
      releaseDevices: () => env.run(activities.releaseDevices),
      submitEidDeviceSwap: (...args: Parameters<typeof activities.submitEidDeviceSwap>) =>
        env.run(activities.submitEidDeviceSwap, ...args),
    };
  }

  describe('claimDevices', () => {
    it("claims the run's devices under their lower-cased keys, and a retried attempt claims them again", async () => {
      const activities = activitiesOf(RUN);

      await expect(activities.claimDevices([OUT_EID, OUT_IMEI, OUT_EID])).resolves.toBeUndefined();
      await expect(activities.claimDevices([OUT_EID, OUT_IMEI])).resolves.toBeUndefined();

      expect(await store.claimDevices(OTHER, ['eid:66645678912345678912345678400812', 'imei:990013907835573'])).toEqual(
        {
          ok: false,
          busy: [
            { key: 'eid:66645678912345678912345678400812', ...RUN },
            { key: 'imei:990013907835573', ...RUN },
          ],
        },
      );
      expect(sagaIsOpen).not.toHaveBeenCalled();
    });

    it('when another open run holds a device, the claim fails with DeviceBusy, is not retried, and takes nothing', async () => {
      await store.claimDevices(OTHER, ['imei:990013907835573', 'eid:66645678912345678912345678400812']);

      const failure = await failureOf(activitiesOf(RUN).claimDevices([IN_EID, OUT_EID, OUT_IMEI]));

      expect(failure).toEqual({
        type: FailureType.DeviceBusy,
        message:
          'Devices eid:66645678912345678912345678400812, imei:990013907835573 are part of another open operation',
        nonRetryable: true,
        details: [
          {
            busyCount: 2,
            busy: [
              { key: 'eid:66645678912345678912345678400812', workflowId: OTHER.workflowId },
              { key: 'imei:990013907835573', workflowId: OTHER.workflowId },
            ],
          },
        ],
        nextRetryDelay: undefined,
      });
      // Asked once for the holder run, however many devices it holds.
      expect(askedAbout()).toEqual([OTHER]);
      expect(await store.claimDevices(THIRD, ['eid:67891278912345345678400866645612'])).toEqual({ ok: true });
    });

    it('when the holder run has closed without releasing (terminated), its claim is taken over and the claim succeeds', async () => {
      await store.claimDevices(OTHER, ['imei:990013907835573']);
      sagaIsOpen.mockResolvedValue(false);

      await expect(activitiesOf(RUN).claimDevices([OUT_EID, OUT_IMEI])).resolves.toBeUndefined();

      expect(askedAbout()).toEqual([OTHER]);
      expect(await store.claimDevices(THIRD, ['imei:990013907835573'])).toEqual({
        ok: false,
        busy: [{ key: 'imei:990013907835573', ...RUN }],
      });
      expect(
        logs.map(({ level, message, meta }) => ({
          level,
          message,
          namesTheHolder: Object.values(meta ?? {}).includes(OTHER.runId),
        })),
      ).toEqual([
        {
          level: 'WARN',
          message: 'Released the devices of a saga that closed without releasing them',
          namesTheHolder: true,
        },
      ]);
    });

    it('when Temporal cannot say whether the holder still runs, the claim fails to be retried and the holder keeps its devices', async () => {
      await store.claimDevices(OTHER, ['imei:990013907835573']);
      sagaIsOpen.mockRejectedValue(new Error('14 UNAVAILABLE: connection refused'));

      await expect(activitiesOf(RUN).claimDevices([OUT_IMEI])).rejects.toThrow('14 UNAVAILABLE: connection refused');

      expect(await store.claimDevices(THIRD, ['imei:990013907835573'])).toEqual({
        ok: false,
        busy: [{ key: 'imei:990013907835573', ...OTHER }],
      });
    });

    it('with one holder closed and another open, the closed one is released and the claim still fails on the open one', async () => {
      await store.claimDevices(OTHER, ['imei:990013907835573']);
      await store.claimDevices(THIRD, ['eid:66645678912345678912345678400812']);
      sagaIsOpen.mockImplementation(async (saga) => saga.runId !== THIRD.runId);

      const failure = await failureOf(activitiesOf(RUN).claimDevices([OUT_EID, OUT_IMEI]));

      expect(failure).toEqual({
        type: FailureType.DeviceBusy,
        message: 'Device imei:990013907835573 is part of another open operation',
        nonRetryable: true,
        details: [{ busyCount: 1, busy: [{ key: 'imei:990013907835573', workflowId: OTHER.workflowId }] }],
        nextRetryDelay: undefined,
      });
      expect(askedAbout()).toEqual([THIRD, OTHER]);
      const anyone: SagaRef = { workflowId: 'someone', runId: 'r-1' };
      expect(await store.claimDevices(anyone, ['eid:66645678912345678912345678400812'])).toEqual({ ok: true });
    });
  });

  describe('addCorrelationKeys', () => {
    it("registers the run's request id, and the parked callbacks that carry it go to this run", async () => {
      const { id } = await store.recordCallback({
        service: 'CarrierService',
        fingerprint: 'fp-early',
        body: { requestId: 'r-1' },
        receivedAt: new Date().toISOString(),
        keys: ['requestid:r-1'],
      });
      await store.leasePending(10, 30_000);
      await store.parkUnmatched([id], 'no open saga matches its request id or devices');

      await expect(activitiesOf(RUN).addCorrelationKeys(['requestid:r-1'])).resolves.toBe(1);

      expect((await store.leasePending(10, 30_000)).map((item) => ({ id: item.record.id, saga: item.saga }))).toEqual([
        { id, saga: RUN },
      ]);
    });
  });

  describe('releaseDevices', () => {
    it("frees the run's devices for the next operation; releasing twice succeeds", async () => {
      const activities = activitiesOf(RUN);
      await activities.claimDevices([OUT_EID, OUT_IMEI]);

      await expect(activities.releaseDevices()).resolves.toBeUndefined();
      await expect(activities.releaseDevices()).resolves.toBeUndefined();

      await expect(activitiesOf(OTHER).claimDevices([OUT_EID, OUT_IMEI])).resolves.toBeUndefined();
      expect(sagaIsOpen).not.toHaveBeenCalled();
    });

    it('releasing a run that claimed nothing succeeds', async () => {
      await expect(activitiesOf(THIRD).releaseDevices()).resolves.toBeUndefined();
    });
  });

  describe('submitEidDeviceSwap', () => {
    it("sends the swap without the saga options, with the activity's cancellation signal, and returns the request id", async () => {
      const { options: _options, ...body } = request;

      await expect(activitiesOf(RUN).submitEidDeviceSwap(request)).resolves.toEqual({
        requestId: '595f5c44-c31c-4552-8670-020a1545a84d',
      });

      expect(thingspace.sent).toEqual([{ body, signal: expect.any(AbortSignal) }]);
      expect(thingspace.sent[0]?.body).not.toHaveProperty('options');
    });

    it('a 400 from ThingSpace ends the step as ThingSpaceRejected, not retried, with its status and error code', async () => {
      thingspace.answer = () =>
        Promise.reject(
          new ThingSpaceError({
            status: 400,
            code: 'INPUT_INVALID.DeviceState.Invalid',
            message: 'Device is not active.',
          }),
        );

      expect(await failureOf(activitiesOf(RUN).submitEidDeviceSwap(request))).toEqual({
        type: FailureType.ThingSpaceRejected,
        message: 'ThingSpace rejected the request: INPUT_INVALID.DeviceState.Invalid: Device is not active.',
        nonRetryable: true,
        details: [{ status: 400, errorCode: 'INPUT_INVALID.DeviceState.Invalid' }],
        nextRetryDelay: undefined,
      });
    });

    it('an attempt after one that ended without an answer sends nothing: the outcome is unknown', async () => {
      // The first attempt's worker died mid-request: its intent row is still `sending`.
      let release: () => void = () => undefined;
      thingspace.answer = () => new Promise(() => (release = () => undefined));
      void activitiesOf(RUN).submitEidDeviceSwap(request);
      await new Promise((resolve) => setTimeout(resolve, 50));
      release();
      thingspace.answer = async () => ({ requestId: 'second' });

      expect(await failureOf(activitiesOf(RUN, 2).submitEidDeviceSwap(request))).toEqual({
        type: FailureType.ThingSpaceOutcomeUnknown,
        message:
          'ThingSpace may have accepted the swap (attempt 1 ended without an answer: its worker stopped or it timed out mid-request); it is not sent again',
        nonRetryable: true,
        details: [
          {
            attempt: 2,
            observed: 'attempt 1 ended without an answer: its worker stopped or it timed out mid-request',
          },
        ],
        nextRetryDelay: undefined,
      });
      expect(thingspace.sent).toHaveLength(1);
    });

    it('a 503 from ThingSpace is ThingSpaceUnavailable and retried after the delay ThingSpace asked for; the retry sends', async () => {
      thingspace.answer = () =>
        Promise.reject(
          new ThingSpaceError({
            status: 503,
            code: 'HTTP_503',
            message: 'ThingSpace answered HTTP 503',
            retryAfterMs: 5000,
          }),
        );

      expect(await failureOf(activitiesOf(RUN).submitEidDeviceSwap(request))).toEqual({
        type: FailureType.ThingSpaceUnavailable,
        message:
          'ThingSpace did not act on the swap (503 Service Unavailable: turned away): HTTP_503: ThingSpace answered HTTP 503',
        nonRetryable: false,
        details: [{ status: 503, errorCode: 'HTTP_503' }],
        nextRetryDelay: 5000,
      });
      thingspace.answer = async () => ({ requestId: 'accepted' });
      await expect(activitiesOf(RUN, 2).submitEidDeviceSwap(request)).resolves.toEqual({ requestId: 'accepted' });
      expect(thingspace.sent).toHaveLength(2);
    });

    it('a swap ThingSpace may have carried out (502) is ThingSpaceOutcomeUnknown and never resent', async () => {
      thingspace.answer = () =>
        Promise.reject(
          new ThingSpaceError({ status: 502, code: 'HTTP_502', message: 'Bad Gateway', mayHaveActed: true }),
        );

      expect(await failureOf(activitiesOf(RUN).submitEidDeviceSwap(request))).toEqual({
        type: FailureType.ThingSpaceOutcomeUnknown,
        message:
          'ThingSpace may have accepted the swap (5xx other than 503 (500, 502, 504 …): may have acted); it is not sent again',
        nonRetryable: true,
        details: [
          {
            attempt: 1,
            observed: '5xx other than 503 (500, 502, 504 …): may have acted',
            status: 502,
            errorCode: 'HTTP_502',
          },
        ],
        nextRetryDelay: undefined,
      });
      expect(await failureOf(activitiesOf(RUN, 2).submitEidDeviceSwap(request))).toMatchObject({
        type: FailureType.ThingSpaceOutcomeUnknown,
      });
      expect(thingspace.sent).toHaveLength(1);
    });

    it('a swap whose connection broke mid-request is ThingSpaceOutcomeUnknown too', async () => {
      thingspace.answer = () =>
        Promise.reject(
          new ThingSpaceError({
            status: 0,
            code: 'NETWORK',
            message: 'ThingSpace could not be reached (ECONNRESET)',
            mayHaveActed: true,
            networkCode: 'ECONNRESET',
          }),
        );

      expect(await failureOf(activitiesOf(RUN).submitEidDeviceSwap(request))).toMatchObject({
        type: FailureType.ThingSpaceOutcomeUnknown,
        nonRetryable: true,
        details: [
          { attempt: 1, observed: 'no answer after connecting (timeout, reset)', status: 0, errorCode: 'NETWORK' },
        ],
      });
    });

    it('a 502 on the way to the swap (the login) is ThingSpaceUnavailable: the swap was never sent', async () => {
      thingspace.answer = () =>
        Promise.reject(
          new ThingSpaceError({
            status: 502,
            code: 'HTTP_502',
            message: 'ThingSpace answered HTTP 502',
            notSent: true,
          }),
        );

      expect(await failureOf(activitiesOf(RUN).submitEidDeviceSwap(request))).toMatchObject({
        type: FailureType.ThingSpaceUnavailable,
        nonRetryable: false,
        details: [{ status: 502, errorCode: 'HTTP_502' }],
      });
    });

    it('a refused connection is resent: nothing left the machine', async () => {
      thingspace.answer = () =>
        Promise.reject(
          new ThingSpaceError({ status: 0, code: 'NETWORK', message: 'unreachable', networkCode: 'ECONNREFUSED' }),
        );
      expect(await failureOf(activitiesOf(RUN).submitEidDeviceSwap(request))).toMatchObject({
        type: FailureType.ThingSpaceUnavailable,
        nonRetryable: false,
      });
    });
  });
});
