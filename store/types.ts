/**
 * The gateway's durable inbox and the correlation table, shared by the gateway (callbacks in, signals
 * out) and the worker's activities (claims and correlation keys). Every method is safe to call from
 * several processes at once and idempotent where the doc says so.
 */
import type { CallbackService } from '../contracts/index.js';
import type { SubmitIntents } from './intents.js';

export type { IntentState, SubmitIntent, SubmitIntents } from './intents.js';

/** One run of a saga: callbacks are signalled to that run, never to a later run with the same id. */
export interface SagaRef {
  workflowId: string;
  runId: string;
}

export type InboxState = 'pending' | 'delivered' | 'parked' | 'orphaned' | 'deadLetter';

export interface InboxRecord {
  id: number;
  service: CallbackService;
  fingerprint: string;
  /** The callback body without credentials. */
  body: Record<string, unknown>;
  receivedAt: string;
  /** How many times ThingSpace delivered it (re-deliveries share the fingerprint). */
  deliveries: number;
  state: InboxState;
  workflowId?: string;
  runId?: string;
  reason?: string;
}

export interface NewCallback {
  service: CallbackService;
  fingerprint: string;
  body: Record<string, unknown>;
  receivedAt: string;
  /** Correlation keys: `requestid:<id>` and `kind:id` of every device the callback names. */
  keys: string[];
}

/** A pending callback with the saga run its keys point to (a request id wins over device ids). */
export interface DispatchItem {
  record: InboxRecord;
  saga?: SagaRef;
}

export type ClaimResult = { ok: true } | { ok: false; busy: ({ key: string } & SagaRef)[] };

export interface InboxCounts {
  received: number;
  duplicates: number;
  pending: number;
  delivered: number;
  parked: number;
  orphaned: number;
  deadLetter: number;
}

export interface Store extends SubmitIntents {
  /** Stores a callback; a re-delivery (same fingerprint) only increments `deliveries`. */
  recordCallback(callback: NewCallback): Promise<{ id: number; duplicate: boolean }>;
  /**
   * Leases up to `limit` pending callbacks for `leaseMs` so that concurrent dispatchers do not take
   * the same rows; each comes with the saga it correlates to, if any.
   */
  leasePending(limit: number, leaseMs: number): Promise<DispatchItem[]>;
  markDelivered(ids: number[], saga: SagaRef): Promise<void>;
  /** Parks the callbacks that still match no open saga (checked in the same statement). */
  parkUnmatched(ids: number[], reason: string): Promise<void>;
  markOrphaned(ids: number[], saga: SagaRef, reason: string): Promise<void>;
  /** Gives leased rows back so they are tried again after `retryInMs`. */
  releaseLease(ids: number[], retryInMs: number): Promise<void>;
  /**
   * Claims device keys for a saga run; idempotent for the same run. Fails with the holders when any
   * key is held by another open run (a device is in at most one open operation).
   */
  claimDevices(saga: SagaRef, keys: string[]): Promise<ClaimResult>;
  /** Adds correlation keys (e.g. `requestid:<id>`) to a run and re-opens parked callbacks that match. */
  addCorrelationKeys(saga: SagaRef, keys: string[]): Promise<number>;
  /**
   * Closes a run's claims and keys; idempotent. The keys stay as tombstones so that a late callback
   * carrying the run's request id is orphaned rather than given to a later saga.
   */
  releaseSaga(saga: SagaRef): Promise<void>;
  list(state: InboxState, limit: number): Promise<InboxRecord[]>;
  get(id: number): Promise<InboxRecord | undefined>;
  /** Moves callbacks parked for longer than `olderThanMs` to the dead-letter list; returns how many. */
  expireParked(olderThanMs: number): Promise<number>;
  /**
   * Puts a parked, dead-letter or orphaned callback back to pending, so the dispatcher correlates and
   * signals it again; false when there is no such callback in one of those states.
   */
  replay(id: number): Promise<boolean>;
  counts(): Promise<InboxCounts>;
  /** Checks the store answers (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
