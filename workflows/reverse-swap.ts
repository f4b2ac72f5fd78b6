/**
 * The compensation of an eidDeviceSwap. eid-device-swap.txt offers no undo; the only operation that
 * moves a line back is another swap in the other direction. Pure: the saga builds the request, the
 * `reverseEidDeviceSwap` activity sends it.
 */
import type { DeviceId, EidDeviceSwapRequest } from '../contracts/index.js';

const lower = (ids: DeviceId[]): DeviceId[] => ids.map((d) => ({ kind: d.kind.toLowerCase(), id: d.id }));
const pick = (ids: DeviceId[], kind: string): DeviceId | undefined => ids.find((d) => d.kind === kind);

/** What the forward swap is known to have done. */
export interface ForwardOutcome {
  /** The replacement's identifiers as the identifier-change callback (or the device list) reported them. */
  swappedIn: DeviceId[] | undefined;
  /** The original device's new line as the GoToState callback (or the device list) reported it. */
  swappedOut: DeviceId[] | undefined;
  /** Whether the original ICCID was deactivated. */
  originalLineDeactivated: boolean;
}

/**
 * The swap that puts the original device back in:
 * - out: the replacement, which now carries the MDN — the page requires its MDN, EID, IMEI and ICCID;
 *   identifiers the callback did not report come from the forward request (the MDN "is transferred to
 *   the newly installed device");
 * - in: the original device by EID and IMEI, plus an ICCID when it has an active line ("If you are
 *   installing a device that already has an active line of service, you must also specify the device's
 *   ICCID"): its new line after GoToState, or its original one if that was never deactivated;
 * - the same account, mdnZipCode, service, state, plan, IP pool and SM-SR.
 */
export function reverseSwapRequest(request: EidDeviceSwapRequest, forward: ForwardOutcome): EidDeviceSwapRequest {
  const reported = lower(forward.swappedIn ?? []);
  const original = lower(request.deviceToSwapOut);
  const replacement = lower(request.deviceToSwapIn);
  const deviceToSwapOut = ['mdn', 'eid', 'imei', 'iccid'].flatMap((kind) => {
    const found = pick(reported, kind) ?? pick(kind === 'mdn' ? original : replacement, kind);
    return found ? [found] : [];
  });
  const newLine = forward.swappedOut ? pick(lower(forward.swappedOut), 'iccid') : undefined;
  const activeIccid = newLine ?? (forward.originalLineDeactivated ? undefined : pick(original, 'iccid'));
  const deviceToSwapIn = [pick(original, 'eid'), pick(original, 'imei'), activeIccid].filter(
    (d): d is DeviceId => d !== undefined,
  );
  const { options: _options, ...body } = request;
  return { ...body, deviceToSwapOut, deviceToSwapIn };
}
