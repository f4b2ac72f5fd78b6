/**
 * Who may post callbacks: an optional allowlist of source networks, and a per-source rate limit. The source
 * is `req.ip`, which express derives from the socket, or from `X-Forwarded-For` only through the proxies
 * `trust proxy` names (GATEWAY_TRUST_PROXY); so behind a proxy the limits apply to the original sender.
 */
import { BlockList, isIP } from 'node:net';
import { cidrProblem } from '../config/cidr.js';

/** An address as written in a CIDR list: IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is the IPv4 address. */
export function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped?.[1] ?? address;
}

/** A matcher for a list of CIDRs and addresses; `undefined` or an empty list allows every source. */
export function sourceAllowlist(cidrs: readonly string[] | undefined): (address: string | undefined) => boolean {
  if (!cidrs || cidrs.length === 0) return () => true;
  const list = new BlockList();
  for (const entry of cidrs) {
    const problem = cidrProblem(entry);
    if (problem) throw new Error(problem);
    const [address = '', prefix] = entry.split('/');
    const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (address) => {
    if (address === undefined) return false;
    const plain = plainAddress(address);
    const family = isIP(plain);
    return family !== 0 && list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  };
}

export interface RateLimiter {
  /** Takes one request from the source's allowance; false when it has none left. */
  take(source: string, now?: number): boolean;
}

/**
 * A token bucket per source: `perMinute` requests a minute on average, bursts of up to `perMinute`. At most
 * `maxSources` buckets are kept (the least recently refilled go first), so a flood of sources cannot grow it
 * without bound.
 */
export function rateLimiter(perMinute: number, maxSources = 10_000): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const perMs = perMinute / 60_000;
  return {
    take(source, now = Date.now()) {
      const bucket = buckets.get(source) ?? { tokens: perMinute, at: now };
      bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * perMs);
      bucket.at = now;
      // Re-inserting keeps the Map in least-recently-used order.
      buckets.delete(source);
      buckets.set(source, bucket);
      if (buckets.size > maxSources) buckets.delete(buckets.keys().next().value as string);
      if (bucket.tokens < 1) return false;
      bucket.tokens -= 1;
      return true;
    },
  };
}
