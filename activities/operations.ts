/**
 * The bulk sagas' activities over the operation store (store/operations.ts): a device set kept outside
 * Temporal, read by range by the shards, which write each device's outcome back. Every one is idempotent,
 * so Temporal retries them freely.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import {
  deviceKey,
  FailureType,
  FaultTable,
  type BulkDeviceResult,
  type BulkFault,
  type BulkOperation,
  type ProfileDevice,
} from '../contracts/index.js';
import type { DeviceCounts, DeviceOutcome, OperationStore, RoundPlan } from '../store/operations.js';

/** Rows per store call when storing or reading a whole device set. */
const PAGE = 5_000;

/** The digest of a device set: sha256 over each device's identifiers, in order. */
export function devicesDigest(devices: Iterable<ProfileDevice>): string {
  const hash = createHash('sha256');
  for (const device of devices) hash.update(`${JSON.stringify(device.deviceIds)}\n`);
  return hash.digest('hex');
}

export interface InlineDeviceSet {
  operationId: string;
  operation: BulkOperation;
  accountName: string;
  /** A digest of the request's other fields. */
  digest: string;
  devices: ProfileDevice[];
}

/** The devices and outcomes of a saga started with its devices inline, in the shape BulkResult has. */
export interface InlineResults {
  devices: BulkDeviceResult[];
  faults: BulkFault[];
  addressUpdateFailed: number;
  /** The ThingSpace requests the devices name, each once. */
  requestIds: string[];
}

export function createOperationActivities(operations: OperationStore | undefined) {
  const store = (): OperationStore => {
    if (operations) return operations;
    throw ApplicationFailure.create({
      type: FailureType.InternalError,
      message: 'This worker has no operation store: bulk sagas cannot run on it',
      nonRetryable: true,
    });
  };
  return {
    /** Stores the devices of a saga started with them inline, under its workflow id; idempotent. */
    async storeInlineDevices(set: InlineDeviceSet): Promise<{ count: number }> {
      const { operationId, devices } = set;
      const { record } = await store().createOperation(set);
      if (record.sealedAt === undefined) {
        for (let from = 0; from < devices.length; from += PAGE) {
          const page = devices.slice(from, from + PAGE);
          await store().appendDevices(
            operationId,
            page.map((device, i) => ({ position: from + i, device: { deviceIds: device.deviceIds } })),
          );
        }
        await store().sealOperation(operationId, devices.length, devicesDigest(devices));
      }
      return { count: devices.length };
    },

    /**
     * Plans a round. The first one also checks the device set: an operation missing from the store, or
     * whose upload never finished, fails the saga as an invalid request rather than being retried.
     */
    async planRound(input: {
      operationId: string;
      round: number;
      shardSize: number;
      retry: boolean;
    }): Promise<RoundPlan> {
      if (!input.retry) {
        const record = await store().getOperation(input.operationId);
        if (!record?.sealedAt) {
          throw ApplicationFailure.create({
            type: FailureType.InvalidRequest,
            message: record
              ? `Operation ${input.operationId} was not completely stored (its upload never finished): start it again`
              : `Operation ${input.operationId} is not in the operation store: store its devices first`,
            nonRetryable: true,
          });
        }
      }
      return store().planRound(input.operationId, input.round, input.shardSize, input.retry);
    },

    /**
     * A shard's devices: the pending ones in its range, with their positions; and how many devices the
     * whole operation has (skipped rows aside), which its account holds at least.
     */
    async loadShardDevices(input: {
      operationId: string;
      from: number;
      to: number;
    }): Promise<{ positions: number[]; devices: ProfileDevice[]; operationDevices: number }> {
      const rows = await store().loadPending(input.operationId, input.from, input.to);
      const counts = await store().counts(input.operationId);
      return {
        positions: rows.map((r) => r.position),
        devices: rows.map((r) => r.device),
        operationDevices: counts.total - counts.skipped,
      };
    },

    async recordShardOutcomes(input: { operationId: string; round: number; outcomes: DeviceOutcome[] }) {
      await store().recordOutcomes(input.operationId, input.round, input.outcomes);
    },

    /** A shard that failed as a whole: its devices still pending fail with its reason. */
    async failPendingDevices(input: {
      operationId: string;
      from: number;
      to: number;
      round: number;
      code: string;
      message: string;
    }): Promise<void> {
      const { operationId, from, to, round, code, message } = input;
      const rows = await store().loadPending(operationId, from, to);
      const outcomes = rows.map((r) => ({ position: r.position, state: 'failed' as const, code, message }));
      await store().recordOutcomes(operationId, round, outcomes);
    },

    async operationCounts(input: { operationId: string }): Promise<DeviceCounts> {
      return store().counts(input.operationId);
    },

    async closeOperation(input: { operationId: string }): Promise<void> {
      await store().closeOperation(input.operationId);
    },

    /**
     * Every device's outcome of a saga started with its devices inline (at most what fits in a workflow
     * input), for its result as before the store: each reason once in `faults`.
     */
    async readInlineResults(input: { operationId: string }): Promise<InlineResults> {
      const devices: BulkDeviceResult[] = [];
      const table = new FaultTable();
      const faultId = (fault: BulkFault) => table.idOf(fault);
      let addressUpdateFailed = 0;
      const requestIds = new Set<string>();
      for (let after = -1; ;) {
        const page = await store().readResults(input.operationId, { after, limit: PAGE });
        if (page.length === 0) break;
        for (const row of page) {
          const first = row.device.deviceIds[0];
          const device = first ? deviceKey(first) : 'none';
          const withRequest = row.requestId ? { requestId: row.requestId } : {};
          if (row.requestId) requestIds.add(row.requestId);
          let result: BulkDeviceResult;
          if (row.state === 'succeeded') {
            result = { device, outcome: 'succeeded', ...(row.confirmedBy ? { confirmedBy: row.confirmedBy } : {}) };
          } else if (row.state === 'failed' || row.state === 'skipped') {
            const fault = { code: row.code ?? 'unknown', message: row.message ?? 'Failed', ...withRequest };
            result = { device, outcome: 'failed', faultId: faultId(fault) };
          } else result = { device, outcome: 'noAnswer' };
          if (row.addressFault) {
            result.addressUpdateFaultId = faultId({ ...row.addressFault, ...withRequest });
            addressUpdateFailed += 1;
          }
          devices.push(result);
        }
        after = (page[page.length - 1] as { position: number }).position;
      }
      return { devices, faults: table.faults, addressUpdateFailed, requestIds: [...requestIds] };
    },
  };
}

export type OperationActivities = ReturnType<typeof createOperationActivities>;
