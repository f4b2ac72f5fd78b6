import { ThingSpaceError } from '../thingspace/errors.js';

/**
 * Whether a failed submit of a request that is not idempotent (a swap) may nevertheless have been
 * carried out, so that sending it again could do it twice:
 * - ThingSpace's answer was lost (a timeout, a reset connection, 500/502/504), or
 * - this is a retry and ThingSpace refused it: an earlier attempt may have reached ThingSpace before its
 *   worker died, and the refusal (the devices have already moved) then says nothing about that attempt.
 * A refusal of the first attempt is a real refusal.
 */
export function submitMayHaveHappened(err: unknown, attempt: number): err is ThingSpaceError {
  if (!(err instanceof ThingSpaceError)) return false;
  if (err.mayHaveActed) return true;
  return attempt > 1 && !err.retryable && !err.authFailure;
}
