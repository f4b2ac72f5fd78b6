/** Pure helpers for JSON the product reads from outside (callback bodies, ThingSpace answers, requests). */

/** A plain JSON object: not null, not an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * JSON with the keys of every object sorted, at every level, so that two values that differ only in key
 * order give the same text (callback fingerprints and request digests depend on it).
 */
export function canonicalJson(value: unknown): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (isRecord(v)) {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sorted(v[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sorted(value));
}
