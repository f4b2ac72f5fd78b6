/**
 * The gateway's durable inbox and the correlation table, shared by the gateway (callbacks in, signals
 * out) and the worker's activities (claims and correlation keys). Every method is safe to call from
 * several processes at once and idempotent where the doc says so.
 */
import type { CallbackService, MatchedBy } from '../contracts/index.js';
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
  /** The ThingSpace account, when the callback came to an account's URL (`/callbacks/<service>/<account>`). */
  account?: string;
  workflowId?: string;
  runId?: string;
  reason?: string;
  /** Signals of it that failed for a reason other than Temporal being unreachable; absent when none. */
  failedAttempts?: number;
}

export interface NewCallback {
  service: CallbackService;
  fingerprint: string;
  body: Record<string, unknown>;
  receivedAt: string;
  /** The account of the URL it came to; absent for the account-less `/callbacks/<service>`. */
  account?: string;
  /**
   * Correlation keys: `requestid:<id>` and `kind:id` of every device the callback names; with an
   * account, each also scoped by it (`<account>|requestid:<id>`, contracts `scopedKey`).
   */
  keys: string[];
}

/** Where a callback went: its inbox row, and whether that row existed already (a re-delivery). */
export interface RecordedCallback {
  id: number;
  duplicate: boolean;
}

/**
 * A pending callback with the saga run its keys point to and how they matched (`matchedBy`, set
 * whenever `saga` is): a request id the run registered wins over one it learned, which wins over a
 * device it claimed.
 */
export interface DispatchItem {
  record: InboxRecord;
  saga?: SagaRef;
  matchedBy?: MatchedBy;
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
  recordCallback(callback: NewCallback): Promise<RecordedCallback>;
  /**
   * Stores callbacks in one transaction (group commit): each answer, in order, is what `recordCallback`
   * would have answered had they been recorded one after the other, a repeated fingerprint within the
   * batch included. Either all are stored or none (the promise rejects).
   */
  recordCallbacks(callbacks: NewCallback[]): Promise<RecordedCallback[]>;
  /**
   * Leases up to `limit` pending callbacks for `leaseMs` so that concurrent dispatchers do not take
   * the same rows; each comes with the saga it correlates to, if any.
   */
  leasePending(limit: number, leaseMs: number): Promise<DispatchItem[]>;
  /**
   * Marks callbacks delivered to a run, and makes the request id each carries a `learned` key of that
   * run (scoped by the run's account), unless another open run holds it: siblings and re-sends with that
   * id then follow it to the run, and after the run closes reach its tombstone. Parked callbacks with a
   * learned id are re-opened.
   */
  markDelivered(ids: number[], saga: SagaRef): Promise<void>;
  /** Parks the callbacks that still match no open saga (checked in the same statement). */
  parkUnmatched(ids: number[], reason: string): Promise<void>;
  markOrphaned(ids: number[], saga: SagaRef, reason: string): Promise<void>;
  /** Gives leased rows back so they are tried again after `retryInMs`. */
  releaseLease(ids: number[], retryInMs: number): Promise<void>;
  /**
   * Counts a failed delivery attempt of each pending row: a row reaching `maxAttempts` moves to the
   * dead-letter list with `reason`, the others are given back to be tried again after `retryInMs`.
   * Resolves with the ids that moved to the dead-letter list.
   */
  recordFailedAttempt(ids: number[], reason: string, maxAttempts: number, retryInMs: number): Promise<number[]>;
  /**
   * Claims device keys (`kind:id`, unscoped) for a saga run; idempotent for the same run. With an
   * account the keys are stored scoped by it and the run's account is recorded (for
   * `addCorrelationKeys` and learned keys). Fails with the holders (`key` as given) when another open
   * run of the same account, or one whose account is unknown (claimed without one), holds a device; a
   * claim without an account is refused by an open holder of any account.
   *
   * The claim also records the inbox's highest id: a callback matches the run by a device only when it
   * reached the inbox after the claim (a higher id), whatever the machines' clocks say.
   */
  claimDevices(saga: SagaRef, keys: string[], account?: string): Promise<ClaimResult>;
  /**
   * Adds correlation keys (e.g. `requestid:<id>`, unscoped) to a run, scoped by the account its claim
   * recorded, skipping keys another open run holds; re-opens parked callbacks that now match and says
   * how many.
   */
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
  /**
   * Retention: deletes delivered callbacks received before `olderThan` (with their keys) and the
   * correlation keys of runs closed before it (tombstones); says how many of each.
   */
  purgeDelivered(olderThan: Date): Promise<{ callbacks: number; tombstones: number }>;
  /** Checks the store answers (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
