/**
 * The gateway's Prometheus metrics: one prom-client registry per gateway, rendered as Prometheus text by
 * `text()` (GET /metrics). Counters and histograms are this process's own; the inbox gauges are read from
 * the store at each scrape, so every gateway sharing an inbox shows the same depths.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { InboxCounts } from '../store/index.js';

/** What happened to one callback POST or inbox row; `refused` is any non-2xx answer to a POST. */
export type CallbackOutcome = 'accepted' | 'duplicate' | 'refused' | 'parked' | 'deadLetter' | 'delivered' | 'orphaned';

/** The inbox states whose depth `euicc_gateway_inbox_callbacks{state}` shows. */
const INBOX_STATES = ['pending', 'delivered', 'parked', 'orphaned', 'deadLetter'] as const;

/** Every metric name this module registers (the dashboard test checks its expressions against them). */
export const GATEWAY_METRIC_NAMES = [
  'euicc_gateway_callbacks_total',
  'euicc_gateway_ack_seconds',
  'euicc_gateway_dispatch_lag_seconds',
  'euicc_gateway_inbox_callbacks',
  'euicc_gateway_inbox_received',
  'euicc_gateway_inbox_duplicates',
] as const;

export interface GatewayMetrics {
  readonly registry: Registry;
  /** `service` is the ThingSpace service, or `unknown` when the callback never named one. */
  callback(service: string, outcome: CallbackOutcome, count?: number): void;
  /** Seconds from a callback POST's arrival to its answer. */
  acknowledged(seconds: number, status: number): void;
  /** Seconds from a callback's arrival to the signal that delivered it to its saga. */
  dispatched(seconds: number): void;
  /** The Prometheus text of every metric, the inbox gauges read from `counts` first. */
  text(counts: () => Promise<InboxCounts>): Promise<string>;
  readonly contentType: string;
}

export function createGatewayMetrics(): GatewayMetrics {
  const registry = new Registry();
  const callbacks = new Counter({
    name: 'euicc_gateway_callbacks_total',
    help: 'Callbacks by ThingSpace service and outcome (accepted, duplicate, refused, parked, deadLetter, delivered, orphaned)',
    labelNames: ['service', 'outcome'],
    registers: [registry],
  });
  const ack = new Histogram({
    name: 'euicc_gateway_ack_seconds',
    help: "Seconds from a callback POST's arrival to the gateway's answer, by HTTP status class",
    labelNames: ['status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 10],
    registers: [registry],
  });
  const lag = new Histogram({
    name: 'euicc_gateway_dispatch_lag_seconds',
    help: "Seconds from a callback's arrival to the signal delivering it to its saga",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
    registers: [registry],
  });
  const depth = new Gauge({
    name: 'euicc_gateway_inbox_callbacks',
    help: 'Callbacks in the inbox by state (pending, delivered, parked, orphaned, deadLetter), read at each scrape',
    labelNames: ['state'],
    registers: [registry],
  });
  const received = new Gauge({
    name: 'euicc_gateway_inbox_received',
    help: 'Distinct callbacks the inbox has received, read at each scrape',
    registers: [registry],
  });
  const duplicates = new Gauge({
    name: 'euicc_gateway_inbox_duplicates',
    help: 'Re-deliveries of callbacks already in the inbox, read at each scrape',
    registers: [registry],
  });

  return {
    registry,
    contentType: registry.contentType,
    callback(service, outcome, count = 1) {
      if (count > 0) callbacks.inc({ service, outcome }, count);
    },
    acknowledged(seconds, status) {
      ack.observe({ status: `${Math.floor(status / 100)}xx` }, seconds);
    },
    dispatched(seconds) {
      lag.observe(Math.max(0, seconds));
    },
    async text(counts) {
      const inbox = await counts();
      for (const state of INBOX_STATES) depth.set({ state }, inbox[state]);
      received.set(inbox.received);
      duplicates.set(inbox.duplicates);
      return registry.metrics();
    },
  };
}
