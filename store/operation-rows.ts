/**
 * What the SQLite and PostgreSQL operation stores share: the rules that refuse a call, the messages they
 * refuse it with (an operation id and counts, never a device or a customer's data), and the mapping of a
 * row to a `DeviceResult`.
 */
import type { DeviceOutcome, DeviceResult, DeviceState, NewDevice, OperationRecord } from './operations.js';

export class OperationStoreError extends Error {
  override name = 'OperationStoreError';
}

export const refused = {
  unknown: (operationId: string) => new OperationStoreError(`Operation ${operationId} is not in the store`),
  otherRequest: (operationId: string) =>
    new OperationStoreError(`Operation ${operationId} already exists with a different request; choose another id`),
  sealed: (operationId: string) =>
    new OperationStoreError(`Operation ${operationId} is sealed: its devices can no longer change`),
  otherSeal: (operationId: string, total: number) =>
    new OperationStoreError(
      `Operation ${operationId} was sealed with ${total} devices and another digest or count; ` +
        'the devices uploaded again differ from the first upload',
    ),
  incomplete: (operationId: string, total: number, stored: number) =>
    new OperationStoreError(
      `Operation ${operationId} cannot be sealed with ${total} devices: ${stored} are stored at positions 0 to ${total - 1}`,
    ),
};

function checkPosition(position: number): void {
  if (!Number.isSafeInteger(position) || position < 0) {
    throw new OperationStoreError(`A device position must be a whole number from 0 (got ${position})`);
  }
}

export function checkDevices(devices: NewDevice[]): void {
  for (const d of devices) checkPosition(d.position);
}

export function checkOutcomes(outcomes: DeviceOutcome[]): void {
  for (const o of outcomes) checkPosition(o.position);
}

export function checkShardSize(shardSize: number): void {
  if (!Number.isSafeInteger(shardSize) || shardSize < 1) {
    throw new OperationStoreError(`A shard holds at least one device (got ${shardSize})`);
  }
}

export function checkInterval(intervalMs: number): void {
  if (!Number.isFinite(intervalMs) || intervalMs < 0) {
    throw new OperationStoreError(`A rate-limit interval is a number of ms from 0 (got ${intervalMs})`);
  }
}

/** Whether a stored operation is the one asked for: the same request under the same id. */
export function sameRequest(
  record: OperationRecord,
  op: Pick<OperationRecord, 'operation' | 'accountName' | 'digest'>,
): boolean {
  return record.operation === op.operation && record.accountName === op.accountName && record.digest === op.digest;
}

/** The outcome columns of a device row, as both stores write them (absent fields are NULL). */
export function outcomeColumns(o: DeviceOutcome) {
  return {
    position: o.position,
    state: o.state,
    code: o.code ?? null,
    message: o.message ?? null,
    requestId: o.requestId ?? null,
    confirmedBy: o.confirmedBy ?? null,
    addressCode: o.addressFault?.code ?? null,
    addressMessage: o.addressFault?.message ?? null,
  };
}

export interface DeviceRow {
  position: number | string;
  device: string | DeviceResult['device'];
  state: DeviceState;
  code: string | null;
  message: string | null;
  request_id: string | null;
  confirmed_by: string | null;
  address_code: string | null;
  address_message: string | null;
  round: number | string;
  updated_at: string | Date;
}

export function deviceResult(row: DeviceRow): DeviceResult {
  return {
    position: Number(row.position),
    device: typeof row.device === 'string' ? (JSON.parse(row.device) as DeviceResult['device']) : row.device,
    state: row.state,
    ...(row.code !== null && { code: row.code }),
    ...(row.message !== null && { message: row.message }),
    ...(row.request_id !== null && { requestId: row.request_id }),
    ...(row.confirmed_by === 'reconciliation' && { confirmedBy: 'reconciliation' as const }),
    ...(row.address_code !== null && {
      addressFault: { code: row.address_code, message: row.address_message ?? '' },
    }),
    round: Number(row.round),
    updatedAt: typeof row.updated_at === 'string' ? row.updated_at : row.updated_at.toISOString(),
  };
}
