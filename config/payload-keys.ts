/**
 * The format of PAYLOAD_ENCRYPTION_KEY. It lives with the configuration, free of Temporal imports, so that the
 * schemas can validate it and the codec (`codec/index.ts`) reads keys from here without config importing codec.
 *
 * The variable holds one or more AES-256 keys separated by commas, each the base64 of 32 random bytes
 * (`openssl rand -base64 32`). The first key encrypts; every key decrypts. A key is rotated by putting the new
 * one first and keeping the old one after it for as long as histories it encrypted are retained.
 *
 * A key's id, stored in the metadata of every payload it encrypts, is derived from the key itself, so ids need
 * no naming, do not change when the list is reordered, and two processes with the same key agree on its id.
 */
import { createHash } from 'node:crypto';

export const PAYLOAD_KEY_VARIABLE = 'PAYLOAD_ENCRYPTION_KEY';

export const KEY_BYTES = 32;

/** Standard or URL-safe base64 of exactly 32 bytes: 43 characters, then at most one `=`. */
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}=?$/;

export interface PayloadKey {
  /** 16 hex digits, derived from the key. */
  id: string;
  key: Buffer;
}

/** The id stored with payloads a key encrypted: the first 8 bytes of a SHA-256 over a label and the key. */
export function payloadKeyId(key: Buffer): string {
  return createHash('sha256').update('euicc-orchestrator payload key\0').update(key).digest('hex').slice(0, 16);
}

/**
 * The keys in a PAYLOAD_ENCRYPTION_KEY value, or the problem with it. Problems name a key by its position,
 * never by its content, because they end up in logs.
 */
export function readPayloadKeys(value: string): { keys: PayloadKey[] } | { problem: string } {
  const entries = value.split(',').map((entry) => entry.trim());
  const keys: PayloadKey[] = [];
  for (const [index, entry] of entries.entries()) {
    const which = entries.length === 1 ? 'the key' : `key ${index + 1} of ${entries.length}`;
    if (entry === '') return { problem: `${which} is empty` };
    if (!BASE64_KEY.test(entry)) {
      return {
        problem: `${which} is not the base64 of ${KEY_BYTES} bytes (generate one with: openssl rand -base64 32)`,
      };
    }
    const key = Buffer.from(entry, 'base64');
    const id = payloadKeyId(key);
    const earlier = keys.findIndex((k) => k.id === id);
    if (earlier !== -1) return { problem: `${which} repeats key ${earlier + 1}` };
    keys.push({ id, key });
  }
  return { keys };
}

/** What is wrong with a PAYLOAD_ENCRYPTION_KEY value, or undefined when it is a valid key list. */
export function payloadKeyProblem(value: string): string | undefined {
  const read = readPayloadKeys(value);
  return 'problem' in read ? read.problem : undefined;
}
