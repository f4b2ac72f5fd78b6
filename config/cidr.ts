/** The format of CIDR lists in the configuration (CALLBACK_ALLOWED_SOURCES, GATEWAY_TRUST_PROXY). */
import { isIP } from 'node:net';

/** What is wrong with one entry of a CIDR list (`10.0.0.0/8`, `2001:db8::/32`, or one address), if anything. */
export function cidrProblem(entry: string): string | undefined {
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return `${JSON.stringify(entry)} is not an address or CIDR`;
  if (prefix === undefined) return undefined;
  const bits = Number(prefix);
  if (!/^\d{1,3}$/.test(prefix) || bits > (family === 4 ? 32 : 128)) {
    return `${JSON.stringify(entry)} has a bad prefix length`;
  }
  return undefined;
}
