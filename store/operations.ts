/**
 * The device sets of bulk operations, kept outside Temporal so that one operation can hold any number of
 * devices (a million and more): the devices in request order under an operation id, and each device's
 * outcome as its shard writes it. Shards read their range, write their outcomes; the coordinator keeps
 * only counters; `euicc results` streams the outcomes. SQLite (its own file next to the inbox, so a
 * million rows never hold up the gateway's writes) or PostgreSQL (DATABASE_URL).
 */
import type { BulkOperation, ProfileDevice } from '../contracts/index.js';

/** Where a device of an operation stands. `pending`: not (yet) answered in the current round. */
export type DeviceState = 'pending' | 'succeeded' | 'failed' | 'noAnswer' | 'skipped';
export const DEVICE_STATES: readonly DeviceState[] = ['pending', 'succeeded', 'failed', 'noAnswer', 'skipped'];

export interface OperationRecord {
  operationId: string;
  operation: BulkOperation;
  accountName: string;
  /** A digest of the request's other fields: the same id with a different request is refused. */
  digest: string;
  /** Devices stored (positions 0 … total-1); set when the upload is sealed. */
  total?: number;
  /** A digest of the devices in order, set with `total`: a second upload under the id must match it. */
  devicesDigest?: string;
  createdAt: string;
  sealedAt?: string;
  closedAt?: string;
}

/** One device as stored: its position in the request (0-based) and its identifiers. */
export interface StoredDevice {
  position: number;
  device: ProfileDevice;
}

/** A device to store. `skipped` rows (invalid or repeated, with `--skip-invalid`) carry their reason. */
export interface NewDevice extends StoredDevice {
  skipped?: { code: string; message: string };
}

/** One device's outcome, as a shard writes it. */
export interface DeviceOutcome {
  position: number;
  state: Exclude<DeviceState, 'pending'>;
  /** ThingSpace's reason for `failed` (or why a device was skipped). */
  code?: string;
  message?: string;
  /** The ThingSpace request that answered (or last tried) the device. */
  requestId?: string;
  /** `reconciliation`: no callback came, the device list shows the effect. */
  confirmedBy?: 'reconciliation';
  /** Activations: the address update failed although the activation succeeded. */
  addressFault?: { code: string; message: string };
}

/** A device with its outcome, as `euicc results` and the client's iterator give it. */
export interface DeviceResult extends StoredDevice {
  state: DeviceState;
  code?: string;
  message?: string;
  requestId?: string;
  confirmedBy?: 'reconciliation';
  addressFault?: { code: string; message: string };
  /** The round (0: first submission, 1: first retry …) that last changed the device. */
  round: number;
  updatedAt: string;
}

export type DeviceCounts = Record<DeviceState, number> & { total: number };

/** Ranges [from, to) of positions, each holding at most `shardSize` pending devices. */
export interface RoundPlan {
  ranges: [number, number][];
  devices: number;
}

export interface OperationStore {
  /**
   * Creates an operation, or finds it: the same id with the same digest is the same operation
   * (`created: false`, its record); with another digest it is refused with an error.
   */
  createOperation(
    op: Pick<OperationRecord, 'operationId' | 'operation' | 'accountName' | 'digest'>,
  ): Promise<{ created: boolean; record: OperationRecord }>;
  /** Stores devices; idempotent by position (a device already stored stays as it is). Refused once sealed. */
  appendDevices(operationId: string, devices: NewDevice[]): Promise<void>;
  /**
   * Marks the upload complete with its device count and digest; idempotent for the same values, refused
   * with an error for others.
   */
  sealOperation(operationId: string, total: number, devicesDigest: string): Promise<void>;
  getOperation(operationId: string): Promise<OperationRecord | undefined>;
  /** The pending devices with positions in [from, to), in order. */
  loadPending(operationId: string, from: number, to: number): Promise<StoredDevice[]>;
  /**
   * Plans a round: with `retry`, the failed and unanswered devices become pending again (round number
   * `round`); then the pending devices are cut into ranges of at most `shardSize`.
   */
  planRound(operationId: string, round: number, shardSize: number, retry: boolean): Promise<RoundPlan>;
  /** Writes outcomes; idempotent (writing the same outcome twice changes nothing). */
  recordOutcomes(operationId: string, round: number, outcomes: DeviceOutcome[]): Promise<void>;
  counts(operationId: string): Promise<DeviceCounts>;
  /** Devices in position order after `after` (exclusive; -1 for the start), optionally of one state. */
  readResults(
    operationId: string,
    options: { after: number; limit: number; state?: DeviceState },
  ): Promise<DeviceResult[]>;
  /** Marks the operation closed (its saga ended): retention counts from here. */
  closeOperation(operationId: string): Promise<void>;
  /** Deletes operations closed before `olderThan`, with their devices; says how many of each. */
  purgeClosed(olderThan: Date): Promise<{ operations: number; devices: number }>;
  /**
   * Reserves the next slot of a rate limit shared by every worker (e.g. `activate:<account>`, one request
   * per `intervalMs`): resolves with how long to wait before using it (0: now).
   */
  reserveSlot(key: string, intervalMs: number): Promise<number>;
  close(): Promise<void>;
}
