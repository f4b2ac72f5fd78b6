import type { CallbackService } from '../contracts/index.js';
import type { InboxRecord, InboxState } from './types.js';

/** The inbox columns both stores read alike; `id`, `body` and `received_at` differ in type per database. */
export interface InboxRowColumns {
  service: string;
  fingerprint: string;
  deliveries: number;
  state: string;
  account: string | null;
  workflow_id: string | null;
  run_id: string | null;
  reason: string | null;
  /** NULL in a row read before the column existed. */
  attempts?: number | null;
}

/** An inbox row as an InboxRecord, its optional fields present only when set. */
export function inboxRecord(
  row: InboxRowColumns,
  read: { id: number; body: Record<string, unknown>; receivedAt: string },
): InboxRecord {
  const record: InboxRecord = {
    id: read.id,
    service: row.service as CallbackService,
    fingerprint: row.fingerprint,
    body: read.body,
    receivedAt: read.receivedAt,
    deliveries: row.deliveries,
    state: row.state as InboxState,
  };
  if (row.account !== null) record.account = row.account;
  if (row.workflow_id) record.workflowId = row.workflow_id;
  if (row.run_id) record.runId = row.run_id;
  if (row.reason) record.reason = row.reason;
  if (row.attempts) record.failedAttempts = row.attempts;
  return record;
}
