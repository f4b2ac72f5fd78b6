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
  const event = normalizeCallback(record.service, record.body, {
    fingerprint: record.fingerprint,
    inboxId: record.id,
    receivedAt: record.receivedAt,
  });
  if (item.matchedBy) event.matchedBy = item.matchedBy;
  return event;
}

export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const { store, signal, logger } = options;
  const intervalMs = options.intervalMs ?? 250;
  const batchSize = options.batchSize ?? 500;
  const maxEvents = options.maxEventsPerSignal ?? 100;
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
    for (let i = 0; i < items.length; i += maxEvents) {
      const chunk = items.slice(i, i + maxEvents);
      const ids = chunk.map((item) => item.record.id);
      try {
        await traceDispatch(saga, ids, () => signal(saga, chunk.map(toEvent)));
        await store.markDelivered(ids, saga);
        delivered(chunk);
        logger.info({ ...saga, count: ids.length }, 'Callbacks delivered');
      } catch (err) {
        if (err instanceof WorkflowGone) {
          // A gateway that died between the signal and its bookkeeping leaves delivered rows pending; the
          // closed run's history says which of them it got.
          const received = ids.filter((id) => err.received.has(id));
          const orphaned = ids.filter((id) => !err.received.has(id));
          if (received.length > 0) {
            await store.markDelivered(received, saga);
            delivered(chunk.filter((item) => err.received.has(item.record.id)));
            logger.info({ ...saga, count: received.length }, 'Callbacks delivered before the saga closed');
          }
          if (orphaned.length > 0) {
            await store.markOrphaned(orphaned, saga, 'saga no longer running');
            count(
              chunk.filter((item) => !err.received.has(item.record.id)),
              'orphaned',
            );
            logger.warn({ ...saga, count: orphaned.length }, 'Callbacks orphaned: saga no longer running');
          }
        } else {
          await store.releaseLease(ids, RETRY_MS);
          logger.warn({ ...saga, err: (err as Error).message }, 'Signal failed; callbacks stay pending');
        }
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
