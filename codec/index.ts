/**
 * Encryption of Temporal payloads (DESIGN.md §8): activation requests carry customers' names and addresses,
 * and every saga's input, results, signals and activity arguments carry device identifiers. With
 * PAYLOAD_ENCRYPTION_KEY set, the worker, the gateway and every client encrypt them before they reach the
 * Temporal server, which stores and shows only ciphertext.
 *
 * Wire format: AES-256-GCM over the protobuf encoding of the whole original payload (its metadata included,
 * so not even the encoding is visible), with a random 12-byte IV per payload. The encrypted payload's data is
 * IV ‖ ciphertext ‖ 16-byte tag; its metadata is `encoding: binary/encrypted`, `encryption-cipher:
 * AES-256-GCM` and `encryption-key-id` (see `config/payload-keys.ts`).
 *
 * Failures are encrypted too: with a key set, the failure converter (`failure-converter.cjs`) moves each
 * failure's message and stack trace into a payload that this codec encrypts, so the history shows only
 * `Encoded failure`. Failure types, such as `ThingSpaceRejected`, stay readable.
 *
 * Not encrypted (Temporal never passes them through a codec): search attributes, workflow and activity ids
 * and types, and failure types. None of them may carry personal data.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { METADATA_ENCODING_KEY, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import { ConfigError } from '../config/index.js';
import { PAYLOAD_KEY_VARIABLE, readPayloadKeys, type PayloadKey } from '../config/payload-keys.js';

export { payloadKeyId, payloadKeyProblem, PAYLOAD_KEY_VARIABLE, type PayloadKey } from '../config/payload-keys.js';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
export const CIPHER_METADATA = 'encryption-cipher';
const CIPHER = 'AES-256-GCM';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * The module that workers and clients load the failure converter from (`require`d by the SDK, and bundled
 * with the workflows): an absolute path next to this file, as `WORKFLOWS_PATH` in `workers/worker.ts`.
 */
export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.cjs', import.meta.url));

const ProtoPayload = proto.temporal.api.common.v1.Payload;
const text = (bytes: Uint8Array | undefined): string | undefined =>
  bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');

/** An encrypted payload that cannot be decrypted. The message names the key id, never key material. */
export class PayloadDecryptionError extends Error {
  override name = 'PayloadDecryptionError';
}

export class EncryptionCodec implements PayloadCodec {
  readonly #encryptWith: PayloadKey;
  readonly #keys: ReadonlyMap<string, Buffer>;

  /** `keys[0]` encrypts; every key decrypts. */
  constructor(keys: readonly PayloadKey[]) {
    const [first] = keys;
    if (first === undefined) throw new Error('EncryptionCodec needs at least one key');
    this.#encryptWith = first;
    this.#keys = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** A codec over a PAYLOAD_ENCRYPTION_KEY value; a ConfigError names what is wrong without echoing it. */
  static fromSetting(value: string): EncryptionCodec {
    const read = readPayloadKeys(value);
    if ('problem' in read) throw new ConfigError(`Invalid configuration: ${PAYLOAD_KEY_VARIABLE}: ${read.problem}`);
    return new EncryptionCodec(read.keys);
  }

  /** Ids of the keys it decrypts with; the first is the one it encrypts with. */
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.#encrypt(payload));
  }

  /** Payloads it did not encrypt pass unchanged: histories recorded before a key was set still replay. */
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.#decrypt(payload));
  }

  #encrypt(payload: Payload): Payload {
    const { id, key } = this.#encryptWith;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const plain = ProtoPayload.encode(payload).finish();
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING),
        [CIPHER_METADATA]: Buffer.from(CIPHER),
        [KEY_ID_METADATA]: Buffer.from(id),
      },
      data: sealed,
    };
  }

  #decrypt(payload: Payload): Payload {
    if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
    const id = text(payload.metadata?.[KEY_ID_METADATA]);
    if (id === undefined) {
      throw new PayloadDecryptionError(`An encrypted payload has no ${KEY_ID_METADATA} metadata`);
    }
    const key = this.#keys.get(id);
    if (key === undefined) {
      throw new PayloadDecryptionError(
        `A payload was encrypted with key ${id}, which is not in ${PAYLOAD_KEY_VARIABLE} (its keys: ${this.keyIds.join(', ')}); add that key after the current one`,
      );
    }
    const cipherName = text(payload.metadata?.[CIPHER_METADATA]);
    if (cipherName !== undefined && cipherName !== CIPHER) {
      throw new PayloadDecryptionError(`A payload was encrypted with ${cipherName}; only ${CIPHER} is supported`);
    }
    const data = Buffer.from(payload.data ?? []);
    if (data.length < IV_BYTES + TAG_BYTES) {
      throw new PayloadDecryptionError('An encrypted payload is too short to hold its IV and authentication tag');
    }
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch (cause) {
      throw new PayloadDecryptionError(
        `An encrypted payload failed authentication with key ${id}: it was altered or damaged`,
        { cause },
      );
    }
    // A plain object with only the fields present, as the SDK's own payloads are (proto3 has no empty fields).
    const { metadata, data: original, externalPayloads } = ProtoPayload.decode(plain);
    return {
      ...(Object.keys(metadata).length > 0 && { metadata }),
      ...(original.length > 0 && { data: original }),
      ...(externalPayloads.length > 0 && { externalPayloads }),
    };
  }
}

/**
 * The data converter for a PAYLOAD_ENCRYPTION_KEY value: the EncryptionCodec as the only payload codec and
 * the failure converter that puts failure messages and stack traces into encrypted payloads, or undefined
 * (Temporal's default, no encryption) when the key is unset or empty. Pass it as `dataConverter` to every
 * Worker and Client: they must all agree, or one of them meets payloads it cannot read. A worker given a
 * pre-built workflow bundle needs one built with `failureConverterPath` from this converter.
 *
 * Worker and Client alike load the failure converter from `failureConverterPath` (the SDK's DataConverter
 * takes no converter object). Reading an encoded failure needs only the codec: Temporal's default failure
 * converter restores message and stack trace from the encoded attributes whatever its own options.
 */
export function dataConverterFor(key?: string): DataConverter | undefined {
  if (key === undefined || key.trim() === '') return undefined;
  return { payloadCodecs: [EncryptionCodec.fromSetting(key)], failureConverterPath: FAILURE_CONVERTER_PATH };
}
