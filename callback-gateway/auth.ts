import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Constant-time comparison: hashing first makes the time independent of where (and whether) lengths differ. */
export function safeEqual(given: unknown, expected: string): boolean {
  return typeof given === 'string' && timingSafeEqual(digest(given), digest(expected));
}

/** SHA-256 of the callback's canonical content: re-deliveries of one callback share it. */
export function fingerprint(canonical: string): string {
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}
