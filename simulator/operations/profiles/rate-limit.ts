/** The activation endpoint's rate limit (thingspace-api-notes.md: 100 requests a minute per account). */

/**
 * At most `limit` requests per key in any window of `windowMs` (activations: 100 requests a minute per
 * account, thingspace-api-notes.md). Every request that names an account counts, valid or not, as at a
 * gateway; a refused one does not.
 */
export class SlidingWindowLimiter {
  private windows = new Map<string, number[]>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
  ) {}

  take(key: string, now: number): boolean {
    const recent = (this.windows.get(key) ?? []).filter((t) => t > now - this.windowMs);
    const allowed = recent.length < this.limit;
    if (allowed) recent.push(now);
    this.windows.set(key, recent);
    return allowed;
  }

  clear(): void {
    this.windows.clear();
  }
}
