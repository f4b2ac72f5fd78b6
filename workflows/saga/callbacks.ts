/**
 * The callbacks a saga takes: each applied once, and only when it may decide a step.
 *
 * Whether a callback may decide a step of this saga (workflow code: deterministic, no I/O). Callbacks
 * of operations the saga never started reach the same listener: a portal-started operation on the same
 * device, or a late re-send of an old one. The gateway matches a callback to a saga by request id or by
 * device; a callback counts only when it carries one of the saga's own request ids, or when its content
 * names what this step must name. A failure matched only by device never fails a step on its word: it is
 * kept as unverified, a later success for the step wins, and at the step timeout the device list decides.
 */
import { log } from '@temporalio/workflow';
import type { CallbackEvent, DeviceId, UnverifiedFailure } from '../../contracts/index.js';

export type { UnverifiedFailure };

/**
 * Exactly-once effect over at-least-once delivery: the gateway may signal the same callback more than
 * once (a crash between signal and bookkeeping), and ThingSpace may send it twice; both share a
 * fingerprint, so only the first is applied.
 */
export class CallbackLedger {
  private readonly seen = new Set<string>();
  received = 0;
  duplicates = 0;

  /**
   * The events not seen before, in order. A malformed signal (sent by hand, not by the gateway) is
   * dropped: a signal handler that throws would fail every workflow task of the saga.
   */
  accept(events: CallbackEvent[]): CallbackEvent[] {
    const fresh: CallbackEvent[] = [];
    if (!Array.isArray(events)) return fresh;
    for (const event of events) {
      if (typeof event?.fingerprint !== 'string' || !Array.isArray(event.deviceIds)) continue;
      this.received += 1;
      if (this.seen.has(event.fingerprint)) {
        this.duplicates += 1;
        continue;
      }
      this.seen.add(event.fingerprint);
      fresh.push(event);
    }
    return fresh;
  }
}

const key = (d: DeviceId) => `${d.kind.toLowerCase()}:${d.id.toLowerCase()}`;

/** Whether `ids` names any of `devices` (kinds and ids compared case-insensitively). */
export function mentionsAny(ids: DeviceId[] | undefined, devices: DeviceId[]): boolean {
  const wanted = new Set(devices.map(key));
  return (ids ?? []).some((d) => wanted.has(key(d)));
}

export type Verdict = 'counts' | 'ignored' | 'unverified';

/** The request ids that are the saga's own: those its submits got, and those of callbacks that counted. */
export class OwnRequestIds {
  private readonly ids = new Set<string>();

  add(id: string | undefined): void {
    if (id) this.ids.add(id);
  }

  has(id: string | undefined): boolean {
    return id !== undefined && this.ids.has(id);
  }

  /**
   * The verdict on a callback for a step: its own request id counts; a success counts when `contentOk`
   * (its request id then becomes the saga's own); a failure of an unknown request id is unverified.
   */
  judge(event: CallbackEvent, contentOk: boolean): Verdict {
    if (this.has(event.requestId)) return 'counts';
    if (event.status === 'failed') return 'unverified';
    if (!contentOk) return 'ignored';
    this.add(event.requestId);
    return 'counts';
  }
}

/**
 * What a single-device saga knows of its callbacks' evidence: its own request ids, the failures kept as
 * unverified (shown in the status), the events behind them (judged again once their request id becomes
 * the saga's own: a failure may arrive before the submit's answer), and how many callbacks were ignored.
 */
export class CallbackEvidence {
  readonly unverified: UnverifiedFailure[] = [];
  ignored = 0;
  private readonly own = new OwnRequestIds();
  private readonly held: CallbackEvent[] = [];

  /** Whether a callback for `step` counts; a failure of an unknown request id is kept, others ignored. */
  counts(step: string, event: CallbackEvent, contentOk: boolean): boolean {
    const verdict = this.own.judge(event, contentOk);
    if (verdict === 'counts') return true;
    if (verdict === 'unverified') {
      const fault = event.fault ?? { code: 'unknown', message: 'Failed' };
      const id = event.requestId ? { requestId: event.requestId } : {};
      this.unverified.push({ step, fault, inboxId: event.inboxId, at: new Date().toISOString(), ...id });
      this.held.push(event);
      log.warn('Failure callback of an unknown request id kept as unverified', { step, inboxId: event.inboxId });
    } else {
      this.ignored += 1;
      log.warn('Callback that does not name this operation ignored', { step, inboxId: event.inboxId });
    }
    return false;
  }

  /** A request id the saga's submit got: the held failures that carry it, to apply now. */
  learn(requestId: string | undefined): CallbackEvent[] {
    this.own.add(requestId);
    const now = this.held.filter((e) => this.own.has(e.requestId));
    for (const event of now) {
      this.held.splice(this.held.indexOf(event), 1);
      this.unverified.splice(
        this.unverified.findIndex((u) => u.inboxId === event.inboxId),
        1,
      );
    }
    return now;
  }

  /** The status fields it adds. */
  status(): { unverifiedFailures?: UnverifiedFailure[]; ignoredCallbacks?: number } {
    return {
      ...(this.unverified.length > 0 ? { unverifiedFailures: this.unverified } : {}),
      ...(this.ignored > 0 ? { ignoredCallbacks: this.ignored } : {}),
    };
  }
}
