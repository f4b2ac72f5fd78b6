/**
 * Whether a callback may decide a step of this saga (workflow code: deterministic, no I/O). Callbacks
 * of operations the saga never started reach the same listener: a portal-started operation on the same
 * device, or a late re-send of an old one. The gateway matches a callback to a saga by request id or by
 * device; a callback counts only when it carries one of the saga's own request ids, or when its content
 * names what this step must name. A failure matched only by device never fails a step on its word: it is
 * kept as unverified, a later success for the step wins, and at the step timeout the device list decides.
 */
import type { CallbackEvent, DeviceId, UnverifiedFailure } from '../contracts/index.js';

export type { UnverifiedFailure };

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
