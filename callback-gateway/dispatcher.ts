/**
 * Delivers stored callbacks to their sagas: leases pending rows, correlates each (a request id the saga
 * registered, then one it learned from an earlier callback, then device identifiers), and sends one `thingspaceCallback` signal per saga per round, so a burst of
 * callbacks for one bulk saga does not become a burst of signals (DESIGN.md §10). Rows stay pending
 * while Temporal is unreachable and are tried again; the store is the only state, so any number of
 * gateways can run this loop.
 */
import type { Logger } from 'pino';
import { normalizeCallback, type CallbackEvent } from '../contracts/index.js';
import type { DispatchItem, SagaRef, Store } from '../store/index.js';
import { boundEvent, eventBytes, normalizableBody } from './bounds.js';
import type { GatewayMetrics } from './metrics.js';
import { traceDispatch } from './tracing.js';

/** Sends events to one saga run. Throws `WorkflowGone` when that run is no longer running. */
export type SignalSaga = (saga: SagaRef, events: CallbackEvent[]) => Promise<void>;

export class WorkflowGone extends Error {
  override name = 'WorkflowGone';
  /**
   * @param received inbox ids the run received before it closed: an earlier round signalled them, and its
   *   gateway died before recording the delivery. They are delivered, not orphaned.
   */
  constructor(
    workflowId: string,
    readonly received: ReadonlySet<number> = new Set(),
  ) {
    super(`Saga ${workflowId} is no longer running`);
  }
}

export interface DispatcherOptions {
  store: Store;
  signal: SignalSaga;
  logger: Logger;
  intervalMs?: number;
  batchSize?: number;
  /** Most events in one signal. */
  maxEventsPerSignal?: number;
  /** Counts parked, delivered and orphaned callbacks, and times their dispatch. */
  metrics?: Pick<GatewayMetrics, 'callback' | 'dispatched'>;
  /** Clock for the dispatch lag. */
  now?: () => number;
  /** Most bytes of events (JSON) in one signal; an event larger than this goes alone. */
  maxSignalBytes?: number;
  /**
   * Failed signals after which a callback goes to the dead-letter list; failures because Temporal is
   * unreachable do not count.
   */
  maxAttempts?: number;
}

/** gRPC codes by which Temporal refuses a signal for what it carries: a bad argument, or a payload too large. */
const INVALID_ARGUMENT = 3;
const RESOURCE_EXHAUSTED = 8;
const TOO_LARGE = /larger than|size|exceeds? .*limit/i;

/**
 * Whether a signal failed for a reason the callbacks it carries cannot cause (try again later, count nothing):
 * Temporal unreachable, overloaded or rate-limited, but also refusing the gateway itself (an expired API key
 * or certificate, a missing namespace, an internal error, a codec that cannot encrypt). Only a refusal of the
 * payload — an invalid argument, a message over a size limit, an event that cannot be serialised — counts
 * against the callback; an outage of any kind never dead-letters a genuine callback.
 */
export function isTransient(err: unknown): boolean {
  const codes: unknown[] = [];
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    codes.push((e as { code?: unknown }).code);
    e = (e as { cause?: unknown }).cause;
  }
  const message = err instanceof Error ? err.message : String(err);
  if (codes.includes(INVALID_ARGUMENT)) return false;
  if (codes.includes(RESOURCE_EXHAUSTED)) return !TOO_LARGE.test(message);
  if (codes.some((c) => typeof c === 'number')) return true;
  // Not a gRPC answer: an event the converter cannot serialise is the callback's fault; anything else is not.
  return !(err instanceof TypeError || err instanceof RangeError);
}

/** Splits events into signals of at most `maxEvents` events and `maxBytes` bytes (a larger event alone). */
export function chunkEvents<T>(
  items: readonly T[],
  bytes: (item: T) => number,
  maxEvents: number,
  maxBytes: number,
): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    const n = bytes(item);
    if (current.length > 0 && (current.length >= maxEvents || size + n > maxBytes)) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += n;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

export interface Dispatcher {
  start(): void;
  /** Runs a round soon (after a new callback was stored). */
  kick(): void;
  /** Runs one round now; resolves with how many rows it handled. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
  readonly running: boolean;
}

const LEASE_MS = 30_000;
const RETRY_MS = 2_000;

/** The event a saga receives; `matchedBy` lets it weigh a callback matched only by a device. */
function toEvent(item: DispatchItem): CallbackEvent {
  const { record } = item;
  const event = normalizeCallback(record.service, normalizableBody(record.body), {
    fingerprint: record.fingerprint,
    inboxId: record.id,
    receivedAt: record.receivedAt,
  });
  if (item.matchedBy) event.matchedBy = item.matchedBy;
  return boundEvent(event);
}

/** A callback on its way to a saga: its inbox row and the event the saga receives. */
interface Pending {
  id: number;
  event: CallbackEvent;
  item: DispatchItem;
}

export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const { store, signal, logger } = options;
  const intervalMs = options.intervalMs ?? 250;
  const batchSize = options.batchSize ?? 500;
  const maxEvents = options.maxEventsPerSignal ?? 100;
  const maxBytes = options.maxSignalBytes ?? 256 * 1024;
  const maxAttempts = options.maxAttempts ?? 10;
  const now = options.now ?? Date.now;
  /** Counts `items` under `outcome`, by service. */
  const count = (items: DispatchItem[], outcome: 'parked' | 'delivered' | 'orphaned'): void => {
    const byService = new Map<string, number>();
    for (const { record } of items) byService.set(record.service, (byService.get(record.service) ?? 0) + 1);
    for (const [service, n] of byService) options.metrics?.callback(service, outcome, n);
  };
  const delivered = (items: DispatchItem[]): void => {
    count(items, 'delivered');
    const at = now();
    for (const { record } of items) options.metrics?.dispatched((at - Date.parse(record.receivedAt)) / 1000);
  };
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let round: Promise<number> | undefined;
  let again = false;

  async function deliver(saga: SagaRef, items: DispatchItem[]): Promise<void> {
    const events: Pending[] = [];
    for (const item of items) {
      try {
        events.push({ id: item.record.id, event: toEvent(item), item });
      } catch (err) {
        // A body the normaliser cannot read must not hold back the others, round after round.
        const reason = `cannot be normalised: ${(err as Error).message}`.slice(0, 500);
        await store.recordFailedAttempt([item.record.id], reason, 1, RETRY_MS);
        logger.error({ ...saga, inboxId: item.record.id, reason }, 'Callback moved to the dead-letter list');
      }
    }
    for (const chunk of chunkEvents(events, (e) => eventBytes(e.event), maxEvents, maxBytes)) {
      await deliverChunk(saga, chunk);
    }
  }

  async function deliverChunk(saga: SagaRef, chunk: Pending[]): Promise<void> {
    const ids = chunk.map((c) => c.id);
    const items = (pick: (id: number) => boolean) => chunk.filter((c) => pick(c.id)).map((c) => c.item);
    try {
      await traceDispatch(saga, ids, () =>
        signal(
          saga,
          chunk.map((c) => c.event),
        ),
      );
      await store.markDelivered(ids, saga);
      delivered(items(() => true));
      logger.info({ ...saga, count: ids.length }, 'Callbacks delivered');
    } catch (err) {
      if (err instanceof WorkflowGone) {
        // A gateway that died between the signal and its bookkeeping leaves delivered rows pending; the
        // closed run's history says which of them it got.
        const received = ids.filter((id) => err.received.has(id));
        const orphaned = ids.filter((id) => !err.received.has(id));
        if (received.length > 0) {
          await store.markDelivered(received, saga);
          delivered(items((id) => err.received.has(id)));
          logger.info({ ...saga, count: received.length }, 'Callbacks delivered before the saga closed');
        }
        if (orphaned.length > 0) {
          await store.markOrphaned(orphaned, saga, 'saga no longer running');
          count(
            items((id) => !err.received.has(id)),
            'orphaned',
          );
          logger.warn({ ...saga, count: orphaned.length }, 'Callbacks orphaned: saga no longer running');
        }
      } else if (isTransient(err)) {
        await store.releaseLease(ids, RETRY_MS);
        logger.warn({ ...saga, err: (err as Error).message }, 'Signal failed; callbacks stay pending');
      } else if (chunk.length > 1) {
        // One of them may be at fault: each on its own, so the others are not held back with it.
        logger.warn({ ...saga, count: ids.length, err: (err as Error).message }, 'Signal refused; sending one by one');
        for (const one of chunk) await deliverChunk(saga, [one]);
      } else {
        const reason = `signal refused: ${(err as Error).message}`.slice(0, 500);
        const dead = await store.recordFailedAttempt(ids, reason, maxAttempts, RETRY_MS);
        if (dead.length > 0)
          logger.error({ ...saga, inboxIds: dead, reason }, 'Callback moved to the dead-letter list');
        else logger.warn({ ...saga, inboxIds: ids, reason }, 'Signal refused; the callback will be tried again');
      }
    }
  }

  async function once(): Promise<number> {
    const items = await store.leasePending(batchSize, LEASE_MS);
    if (items.length === 0) return 0;
    const bySaga = new Map<string, { saga: SagaRef; items: DispatchItem[] }>();
    const unmatched: DispatchItem[] = [];
    for (const item of items) {
      if (item.saga) {
        const key = `${item.saga.workflowId}\n${item.saga.runId}`;
        const group = bySaga.get(key) ?? { saga: item.saga, items: [] };
        group.items.push(item);
        bySaga.set(key, group);
      } else unmatched.push(item);
    }
    if (unmatched.length > 0) {
      await store.parkUnmatched(
        unmatched.map((item) => item.record.id),
        'no open saga matches its request id or devices',
      );
      count(unmatched, 'parked');
      logger.info({ count: unmatched.length }, 'Callbacks parked until a saga claims them');
    }
    await Promise.all([...bySaga.values()].map(({ saga, items: group }) => deliver(saga, group)));
    return items.length;
  }

  async function loop(): Promise<void> {
    timer = undefined;
    if (!running) return;
    try {
      round = once();
      const handled = await round;
      if (handled > 0) again = true;
    } catch (err) {
      logger.error({ err }, 'Dispatch round failed');
    } finally {
      round = undefined;
    }
    if (running) {
      timer = setTimeout(() => void loop(), again ? 0 : intervalMs);
      again = false;
    }
  }

  return {
    get running() {
      return running;
    },
    start() {
      if (running) return;
      running = true;
      timer = setTimeout(() => void loop(), 0);
    },
    kick() {
      if (!running) return;
      if (round) {
        again = true;
        return;
      }
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => void loop(), 0);
    },
    runOnce: once,
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      await round?.catch(() => undefined);
    },
  };
}
