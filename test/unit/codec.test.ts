import { Client } from '@temporalio/client';
import { ApplicationFailure, defaultFailureConverter, defaultPayloadConverter, type Payload } from '@temporalio/common';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  dataConverterFor,
  EncryptionCodec,
  PayloadDecryptionError,
  payloadKeyId,
  payloadKeyProblem,
} from '../../codec/index.js';
import { payloadToJson, type JsonPayload } from '../../callback-gateway/codec-endpoints.js';
import { ConfigError, gatewaySchema, parseConfig, startSchema, workerSchema } from '../../config/index.js';
import { FailureType, type ActivateDeviceProfilesRequest } from '../../contracts/index.js';
import { openSqliteStore, type Store } from '../../store/index.js';
import { CALLBACK_CREDENTIALS } from '../fixtures/swap-callbacks.js';
import { listenGateway, type Listening } from '../fixtures/http.js';

// Fixed test keys, and the ids their payloads carry. The ids are pinned: if their derivation changed, every
// history encrypted before the change would become unreadable.
const KEY_A = Buffer.alloc(32, 0xa1).toString('base64');
const KEY_B = Buffer.alloc(32, 0xb2).toString('base64');
const ID_A = '009888036c5f510b';
const ID_B = '18a75b9e36617f14';

const REQUEST: ActivateDeviceProfilesRequest = {
  accountName: '0000123456-00001',
  devices: [{ deviceIds: [{ kind: 'iccid', id: '89148000001234567891' }] }],
  servicePlan: 'M2M_4G',
  primaryPlaceOfUse: {
    customerName: { firstName: 'Ada', lastName: 'Lovelace-King' },
    address: { addressLine1: '10 Elm Street', city: 'Wenatchee', state: 'WA', zip: '98801', country: 'USA' },
  },
};

const toPayload = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);
const utf8 = (bytes: Uint8Array | null | undefined): string => Buffer.from(bytes ?? []).toString('utf8');
const metadataText = (payload: Payload): Record<string, string> =>
  Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([name, value]) => [name, utf8(value)]));

/** What decoding threw, as a plain object so the whole of it can be compared. */
async function decodeFailure(codec: EncryptionCodec, payloads: Payload[]): Promise<{ name: string; message: string }> {
  const err = await codec.decode(payloads).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PayloadDecryptionError);
  return { name: (err as Error).name, message: (err as Error).message };
}

/** One encrypted payload, from KEY_A unless told. */
async function sealed(value: unknown = REQUEST, codec = EncryptionCodec.fromSetting(KEY_A)): Promise<Payload> {
  const [payload] = await codec.encode([toPayload(value)]);
  return payload as Payload;
}

/** The payload with one byte of its data inverted. */
function flipped(payload: Payload, index: number): Payload {
  const data = Buffer.from(payload.data ?? []);
  data[index] = (data[index] ?? 0) ^ 0xff;
  return { ...payload, data };
}

describe('EncryptionCodec', () => {
  const codec = EncryptionCodec.fromSetting(KEY_A);

  it('decrypts what it encrypted back to the very payload, in order, for every kind of value', async () => {
    const values = [REQUEST, 'Lovelace-King', 42, null, undefined, [1, 2, 3], new Uint8Array([0, 1, 254, 255])];
    const payloads = values.map(toPayload);

    const decoded = await codec.decode(await codec.encode(payloads));

    // Compared in their protobuf JSON form: the bytes come back as Buffers, the converter made Uint8Arrays.
    expect(decoded.map(payloadToJson)).toEqual(payloads.map(payloadToJson));
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual(values);
    expect(await codec.encode([])).toEqual([]);
  });

  it('hides the whole payload, its encoding included, and names only the cipher and the key id', async () => {
    const plain = toPayload(REQUEST);
    const encrypted = await sealed();

    expect(metadataText(encrypted)).toEqual({
      encoding: 'binary/encrypted',
      'encryption-cipher': 'AES-256-GCM',
      'encryption-key-id': ID_A,
    });
    const data = Buffer.from(encrypted.data ?? []);
    for (const secret of ['Lovelace', '10 Elm Street', '89148000001234567891', 'json/plain']) {
      expect(data.includes(secret)).toBe(false);
    }
    // 12-byte IV, then the ciphertext of the protobuf-encoded payload (a few bytes of framing), then the 16-byte tag.
    expect(data.length).toBeGreaterThan(12 + (plain.data?.length ?? 0) + 16);
    expect(data.length).toBeLessThan(12 + (plain.data?.length ?? 0) + 16 + 40);
  });

  it('uses a fresh random IV for every payload, so equal requests never look equal in the history', async () => {
    const [first, second] = await codec.encode([toPayload(REQUEST), toPayload(REQUEST)]);
    const third = await sealed();
    const ivs = [first, second, third].map((p) =>
      Buffer.from(p?.data ?? [])
        .subarray(0, 12)
        .toString('hex'),
    );

    expect(new Set(ivs).size).toBe(3);
    expect(new Set([first, second, third].map((p) => Buffer.from(p?.data ?? []).toString('hex'))).size).toBe(3);
  });

  it.each([
    ['the IV', 0],
    ['the ciphertext', 20],
    ['the authentication tag', -1],
  ])('detects a change to %s and refuses to decrypt', async (_part, offset) => {
    const encrypted = await sealed();
    const index = offset >= 0 ? offset : (encrypted.data?.length ?? 0) + offset;

    expect(await decodeFailure(codec, [flipped(encrypted, index)])).toEqual({
      name: 'PayloadDecryptionError',
      message: `An encrypted payload failed authentication with key ${ID_A}: it was altered or damaged`,
    });
  });

  it('refuses an encrypted payload cut too short to hold its IV and tag', async () => {
    const encrypted = await sealed();

    expect(await decodeFailure(codec, [{ ...encrypted, data: encrypted.data?.subarray(0, 27) }])).toEqual({
      name: 'PayloadDecryptionError',
      message: 'An encrypted payload is too short to hold its IV and authentication tag',
    });
  });

  it('names the missing key when a payload was encrypted with a key it does not hold', async () => {
    const fromB = await sealed(REQUEST, EncryptionCodec.fromSetting(KEY_B));

    expect(await decodeFailure(codec, [fromB])).toEqual({
      name: 'PayloadDecryptionError',
      message: `A payload was encrypted with key ${ID_B}, which is not in PAYLOAD_ENCRYPTION_KEY (its keys: ${ID_A}); add that key after the current one`,
    });
  });

  it('refuses an encrypted payload without a key id, or with a key id relabelled to another key it holds', async () => {
    const encrypted = await sealed();
    const { 'encryption-key-id': _id, ...withoutId } = encrypted.metadata ?? {};
    const both = EncryptionCodec.fromSetting(`${KEY_B},${KEY_A}`);
    const relabelled = { ...encrypted, metadata: { ...encrypted.metadata, 'encryption-key-id': Buffer.from(ID_B) } };

    expect(await decodeFailure(codec, [{ ...encrypted, metadata: withoutId }])).toEqual({
      name: 'PayloadDecryptionError',
      message: 'An encrypted payload has no encryption-key-id metadata',
    });
    expect(await decodeFailure(both, [relabelled])).toEqual({
      name: 'PayloadDecryptionError',
      message: `An encrypted payload failed authentication with key ${ID_B}: it was altered or damaged`,
    });
  });

  it('refuses a payload that says it was encrypted with another cipher', async () => {
    const encrypted = await sealed();
    const other = {
      ...encrypted,
      metadata: { ...encrypted.metadata, 'encryption-cipher': Buffer.from('AES-128-CBC') },
    };

    expect(await decodeFailure(codec, [other])).toEqual({
      name: 'PayloadDecryptionError',
      message: 'A payload was encrypted with AES-128-CBC; only AES-256-GCM is supported',
    });
  });

  it('passes payloads it did not encrypt through unchanged, so histories from before the key still replay', async () => {
    const plain = [toPayload(REQUEST), toPayload(null), { metadata: { encoding: Buffer.from('binary/snappy') } }];
    const mixed = [plain[0], await sealed('Lovelace-King'), plain[1], plain[2]] as Payload[];

    const decoded = await codec.decode(mixed);

    expect(decoded[0]).toBe(plain[0]);
    expect(decoded[2]).toBe(plain[1]);
    expect(decoded[3]).toBe(plain[2]);
    expect(defaultPayloadConverter.fromPayload(decoded[1] as Payload)).toBe('Lovelace-King');
  });

  it('rotates keys: the first key encrypts, the others still decrypt what they encrypted before', async () => {
    const old = EncryptionCodec.fromSetting(KEY_A);
    const rotated = EncryptionCodec.fromSetting(`${KEY_B}, ${KEY_A}`);
    const beforeRotation = await sealed(REQUEST, old);
    const afterRotation = await sealed(REQUEST, rotated);

    expect(rotated.keyIds).toEqual([ID_B, ID_A]);
    expect(metadataText(afterRotation)['encryption-key-id']).toBe(ID_B);
    expect(
      (await rotated.decode([beforeRotation, afterRotation])).map((p) => defaultPayloadConverter.fromPayload(p)),
    ).toEqual([REQUEST, REQUEST]);
    // A process still on the old key alone cannot read the new payloads, and says which key it lacks.
    expect((await decodeFailure(old, [afterRotation])).message).toContain(`encrypted with key ${ID_B}`);
  });

  it('derives a key id from the key alone: stable, the same wherever the key stands in the list', () => {
    expect(payloadKeyId(Buffer.from(KEY_A, 'base64'))).toBe(ID_A);
    expect(EncryptionCodec.fromSetting(`${KEY_A},${KEY_B}`).keyIds).toEqual([ID_A, ID_B]);
    // URL-safe base64 without padding is the same key.
    expect(EncryptionCodec.fromSetting(Buffer.alloc(32, 0xa1).toString('base64url')).keyIds).toEqual([ID_A]);
  });
});

describe('dataConverterFor', () => {
  it('gives no data converter, Temporal’s default, when no key is set', () => {
    expect(dataConverterFor(undefined)).toBeUndefined();
    expect(dataConverterFor('')).toBeUndefined();
  });

  it('gives the encryption codec as the only payload codec when a key is set', () => {
    const converter = dataConverterFor(`${KEY_A},${KEY_B}`);

    expect(converter?.payloadCodecs).toHaveLength(1);
    expect(converter?.payloadCodecs?.[0]).toBeInstanceOf(EncryptionCodec);
    expect((converter?.payloadCodecs?.[0] as EncryptionCodec).keyIds).toEqual([ID_A, ID_B]);
  });

  it('names the failure converter module only when a key is set, for workers to bundle with the workflows', () => {
    expect(dataConverterFor(KEY_A)?.failureConverterPath).toBe(
      fileURLToPath(new URL('../../codec/failure-converter.cjs', import.meta.url)),
    );
    expect(dataConverterFor('')?.failureConverterPath).toBeUndefined();
  });

  it('gives a client the failure converter that hides messages and stack traces, which the codec encrypts', async () => {
    const client = new Client({ dataConverter: dataConverterFor(KEY_A) });
    const plainClient = new Client({ dataConverter: dataConverterFor(undefined) });
    const { failureConverter, payloadConverter } = client.options.loadedDataConverter;
    const plainFailureConverter = plainClient.options.loadedDataConverter.failureConverter;
    // Neither ever connected: they were built only to show the converters they load.
    await Promise.all([client.connection.close(), plainClient.connection.close()]);
    const codec = EncryptionCodec.fromSetting(KEY_A);
    const error = ApplicationFailure.create({
      type: FailureType.ThingSpaceRejected,
      message: 'ThingSpace rejected the request: customer Ada Lovelace-King is not at 10 Elm Street',
      nonRetryable: true,
      details: [{ status: 400, errorCode: 'UnifiedWebService.INPUT_INVALID.Parameter.Invalid' }],
    });

    const failure = failureConverter.errorToFailure(error, payloadConverter);
    const [attributes] = await codec.encode([failure.encodedAttributes as Payload]);

    expect(failure).toMatchObject({
      message: 'Encoded failure',
      stackTrace: '',
      applicationFailureInfo: { type: FailureType.ThingSpaceRejected, nonRetryable: true },
    });
    expect(metadataText(attributes as Payload).encoding).toBe('binary/encrypted');
    expect(Buffer.from(attributes?.data ?? []).includes('Lovelace')).toBe(false);
    // Without a key, failures keep Temporal's default: message and stack trace in clear.
    expect(plainFailureConverter).toBe(defaultFailureConverter);

    // Temporal's default converter, which a client given only the codec has, restores message and stack trace.
    const [decrypted] = await codec.decode([attributes as Payload]);
    const read = defaultFailureConverter.failureToError(
      { ...failure, encodedAttributes: decrypted },
      defaultPayloadConverter,
    );
    expect(read).toBeInstanceOf(ApplicationFailure);
    expect({ type: (read as ApplicationFailure).type, message: read.message }).toEqual({
      type: FailureType.ThingSpaceRejected,
      message: error.message,
    });
    expect(read.stack).toMatch(/^ApplicationFailure: ThingSpace rejected the request: customer Ada Lovelace-King/);
  });

  it('refuses a bad key with a ConfigError naming the variable, not the key', () => {
    const key = 'hunter2-is-not-a-key';
    let thrown: unknown;
    try {
      dataConverterFor(key);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toBe(
      'Invalid configuration: PAYLOAD_ENCRYPTION_KEY: the key is not the base64 of 32 bytes (generate one with: openssl rand -base64 32)',
    );
  });
});

describe('PAYLOAD_ENCRYPTION_KEY in the configuration', () => {
  const SHORT = Buffer.alloc(16, 7).toString('base64');
  const cases: [string, string, string][] = [
    ['a password instead of a key', 'correct horse battery staple', 'the key is not the base64 of 32 bytes'],
    ['a 16-byte key (AES-128)', SHORT, 'the key is not the base64 of 32 bytes'],
    ['a key one character short', KEY_A.slice(0, 42), 'the key is not the base64 of 32 bytes'],
    ['a bad second key', `${KEY_A},${SHORT}`, 'key 2 of 2 is not the base64 of 32 bytes'],
    ['an empty entry after a comma', `${KEY_A},`, 'key 2 of 2 is empty'],
    ['the same key twice', `${KEY_A},${KEY_B},${KEY_A}`, 'key 3 of 3 repeats key 1'],
  ];

  it.each(cases)('refuses %s, naming the variable and the position but never the key', (_case, value, problem) => {
    const hint = problem.endsWith('32 bytes') ? ' (generate one with: openssl rand -base64 32)' : '';
    for (const schema of [workerSchema, gatewaySchema, startSchema]) {
      let message = '';
      try {
        parseConfig(schema, { PAYLOAD_ENCRYPTION_KEY: value });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        message = (err as Error).message;
      }
      expect(message).toBe(`Invalid configuration: PAYLOAD_ENCRYPTION_KEY: ${problem}${hint}`);
      for (const part of value.split(',').filter((p) => p.length > 3)) expect(message).not.toContain(part);
    }
    expect(payloadKeyProblem(value)).toBe(`${problem}${hint}`);
  });

  it('accepts one key or a list, with spaces after the commas, and leaves it unset when empty', () => {
    expect(parseConfig(workerSchema, { PAYLOAD_ENCRYPTION_KEY: KEY_A }).PAYLOAD_ENCRYPTION_KEY).toBe(KEY_A);
    expect(parseConfig(gatewaySchema, { PAYLOAD_ENCRYPTION_KEY: `${KEY_B}, ${KEY_A}` }).PAYLOAD_ENCRYPTION_KEY).toBe(
      `${KEY_B}, ${KEY_A}`,
    );
    expect(parseConfig(workerSchema, { PAYLOAD_ENCRYPTION_KEY: '' }).PAYLOAD_ENCRYPTION_KEY).toBeUndefined();
  });

  it('reads CODEC_CORS_ORIGINS as a list of origins and refuses one with a path', () => {
    expect(
      parseConfig(gatewaySchema, { CODEC_CORS_ORIGINS: 'http://localhost:8080, https://ui.example.com' })
        .CODEC_CORS_ORIGINS,
    ).toEqual(['http://localhost:8080', 'https://ui.example.com']);
    expect(() => parseConfig(gatewaySchema, { CODEC_CORS_ORIGINS: 'http://localhost:8080/namespaces' })).toThrow(
      'Invalid configuration: CODEC_CORS_ORIGINS: must be comma-separated origins such as http://localhost:8233 (scheme, host and port, no path)',
    );
  });
});

const TOKEN = 'codec-ops-5b2d4e8f-a6c0-7f3a';
const UI_ORIGIN = 'http://127.0.0.1:8233';
const UNAUTHORIZED = { error: 'unauthorized', message: 'Send the operator token as Authorization: Bearer <token>' };

interface CodecCall {
  method?: string;
  token?: string | null;
  origin?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

async function call(
  url: string,
  { method = 'POST', token = TOKEN, origin, body, headers = {} }: CodecCall = {},
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const response = await fetch(url, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(origin === undefined ? {} : { origin }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

describe('codec endpoint on the gateway over real HTTP', () => {
  const codec = EncryptionCodec.fromSetting(KEY_A);
  let store: Store;
  let gateway: Listening;
  let logLines: string[];

  beforeEach(async () => {
    store = openSqliteStore(':memory:');
    logLines = [];
    const logStream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString());
        done();
      },
    });
    gateway = await listenGateway({
      store,
      credentials: CALLBACK_CREDENTIALS,
      operatorToken: TOKEN,
      payloadCodec: codec,
      logger: pino({ level: 'info' }, logStream),
    });
  });

  afterEach(async () => {
    await gateway.close();
    await store.close();
  });

  it('decodes what the worker encrypted, for the operator token holder, as protobuf JSON', async () => {
    const plain = [toPayload(REQUEST), toPayload('Lovelace-King')];
    const encrypted = await codec.encode(plain);

    const answer = await call(`${gateway.url}/codec/decode`, {
      body: { payloads: encrypted.map(payloadToJson) },
      headers: { 'x-namespace': 'default' },
    });

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ payloads: plain.map(payloadToJson) });
    const [first] = (answer.body as { payloads: JsonPayload[] }).payloads;
    expect(first?.metadata).toEqual({ encoding: Buffer.from('json/plain').toString('base64') });
    expect(JSON.parse(Buffer.from(first?.data ?? '', 'base64').toString('utf8'))).toEqual(REQUEST);
    expect(answer.headers.get('cache-control')).toBe('no-store');
  });

  it('encrypts what an operator sends from the UI, so the worker can read it', async () => {
    const answer = await call(`${gateway.url}/codec/encode`, {
      body: { payloads: [payloadToJson(toPayload(REQUEST))] },
    });

    expect(answer.status).toBe(200);
    const [encoded] = (answer.body as { payloads: JsonPayload[] }).payloads;
    expect(encoded?.metadata?.encoding).toBe(Buffer.from('binary/encrypted').toString('base64'));
    const [decoded] = await codec.decode([
      {
        metadata: Object.fromEntries(
          Object.entries(encoded?.metadata ?? {}).map(([name, value]) => [name, Buffer.from(value, 'base64')]),
        ),
        data: Buffer.from(encoded?.data ?? '', 'base64'),
      },
    ]);
    expect(defaultPayloadConverter.fromPayload(decoded as Payload)).toEqual(REQUEST);
  });

  it('passes payloads that were never encrypted through /decode unchanged', async () => {
    const payloads = [payloadToJson(toPayload({ phase: 'completed' }))];

    expect((await call(`${gateway.url}/codec/decode`, { body: { payloads } })).body).toEqual({ payloads });
  });

  it('without a token, with a wrong one, or under another scheme, answers 401 and decodes nothing', async () => {
    const body = { payloads: [payloadToJson(await sealed())] };
    const answers = [
      await call(`${gateway.url}/codec/decode`, { token: null, body }),
      await call(`${gateway.url}/codec/decode`, { token: `${TOKEN}x`, body }),
      await call(`${gateway.url}/codec/encode`, { token: 'codec-ops-0000000000-0000-0000', body }),
      await call(`${gateway.url}/codec/decode`, { token: null, body, headers: { authorization: `Basic ${TOKEN}` } }),
    ];

    expect(answers.map((a) => ({ status: a.status, body: a.body }))).toEqual(
      Array.from({ length: 4 }, () => ({ status: 401, body: UNAUTHORIZED })),
    );
    expect(answers[0]?.headers.get('www-authenticate')).toBe('Bearer');
    expect(logLines.join('')).not.toContain('Lovelace');
  });

  it('answers the UI’s CORS preflight without a token, allowing the headers the UI sends', async () => {
    const answer = await call(`${gateway.url}/codec/decode`, {
      method: 'OPTIONS',
      token: null,
      origin: UI_ORIGIN,
      headers: {
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type,x-namespace',
      },
    });

    expect(answer.status).toBe(204);
    expect(Object.fromEntries([...answer.headers].filter(([name]) => name.startsWith('access-control-')))).toEqual({
      'access-control-allow-origin': UI_ORIGIN,
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'POST, OPTIONS',
      'access-control-allow-headers': 'Authorization, Content-Type, X-Namespace',
      'access-control-max-age': '600',
    });
    expect(answer.headers.get('vary')).toBe('Origin');
  });

  it('lets the UI read its answers, refusals included, and keeps every other origin out', async () => {
    const body = { payloads: [payloadToJson(await sealed())] };
    const fromUi = await call(`${gateway.url}/codec/decode`, { origin: 'http://localhost:8233', body });
    const refusedFromUi = await call(`${gateway.url}/codec/decode`, { origin: UI_ORIGIN, token: null, body });
    const fromElsewhere = await call(`${gateway.url}/codec/decode`, { origin: 'https://evil.example', body });
    const preflightElsewhere = await call(`${gateway.url}/codec/decode`, {
      method: 'OPTIONS',
      token: null,
      origin: 'https://evil.example',
      headers: { 'access-control-request-method': 'POST' },
    });

    expect(fromUi.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
    expect(refusedFromUi).toMatchObject({ status: 401, body: UNAUTHORIZED });
    expect(refusedFromUi.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    // The server still answers a token holder; without the header the browser withholds the answer from the page.
    expect(fromElsewhere.headers.get('access-control-allow-origin')).toBeNull();
    expect(preflightElsewhere).toMatchObject({
      status: 403,
      body: {
        error: 'origin_not_allowed',
        message: 'This origin may not call the codec endpoint; add it to CODEC_CORS_ORIGINS on the gateway',
      },
    });
    expect(preflightElsewhere.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('logs who decoded how many payloads in which namespace, never what they hold', async () => {
    const body = { payloads: [payloadToJson(await sealed()), payloadToJson(await sealed('Lovelace-King'))] };
    await call(`${gateway.url}/codec/decode`, { body, headers: { 'x-namespace': 'euicc-prod' } });

    const entries = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries.filter((e) => e.msg === 'Payloads decoded for an operator')).toEqual([
      expect.objectContaining({ namespace: 'euicc-prod', payloads: 2 }),
    ]);
    expect(logLines.join('')).not.toMatch(/Lovelace|Elm Street|8914800000/);
  });

  it('answers a body that is not a list of protobuf JSON payloads with 400 and the field at fault', async () => {
    const url = `${gateway.url}/codec/decode`;
    const answers = [
      await call(url, { body: { payload: [] } }),
      await call(url, { body: { payloads: ['eyJ9'] } }),
      await call(url, { body: { payloads: [{ data: 'not base64!' }] } }),
      await call(url, { body: { payloads: [{ metadata: { encoding: 42 } }] } }),
      await call(url, { body: '{"payloads": [' }),
    ];

    expect(answers.map((a) => ({ status: a.status, body: a.body }))).toEqual([
      {
        status: 400,
        body: { error: 'invalid_body', message: 'The body must be a JSON object with a "payloads" array' },
      },
      { status: 400, body: { error: 'invalid_body', message: 'payloads[0] must be an object' } },
      { status: 400, body: { error: 'invalid_body', message: 'payloads[0].data must be a base64 string' } },
      {
        status: 400,
        body: { error: 'invalid_body', message: 'payloads[0].metadata.encoding must be a base64 string' },
      },
      { status: 400, body: { error: 'invalid_json', message: 'The body is not valid JSON' } },
    ]);
  });

  it('answers 422 with the reason when a payload cannot be decrypted, and 404 off its two endpoints', async () => {
    const fromB = await sealed(REQUEST, EncryptionCodec.fromSetting(KEY_B));

    expect(await call(`${gateway.url}/codec/decode`, { body: { payloads: [payloadToJson(fromB)] } })).toMatchObject({
      status: 422,
      body: {
        error: 'undecodable',
        message: `A payload was encrypted with key ${ID_B}, which is not in PAYLOAD_ENCRYPTION_KEY (its keys: ${ID_A}); add that key after the current one`,
      },
    });
    expect(await call(`${gateway.url}/codec/download`, { body: { payloads: [] } })).toMatchObject({
      status: 404,
      body: { error: 'not_found', message: 'The codec endpoint serves POST /encode and POST /decode' },
    });
  });
});

describe('mounting the codec endpoint', () => {
  let store: Store;
  let gateway: Listening | undefined;

  beforeEach(() => {
    store = openSqliteStore(':memory:');
  });

  afterEach(async () => {
    await gateway?.close();
    await store.close();
  });

  it.each([
    ['without an operator token', { payloadCodec: EncryptionCodec.fromSetting(KEY_A) }],
    ['without a payload codec', { operatorToken: TOKEN }],
  ])('serves no codec endpoint %s', async (_case, deps) => {
    gateway = await listenGateway({ store, credentials: CALLBACK_CREDENTIALS, ...deps });

    const answer = await fetch(`${gateway.url}/codec/decode`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ payloads: [] }),
    });

    expect(answer.status).toBe(404);
  });

  it('allows the origins it is given instead of the dev server’s UI', async () => {
    gateway = await listenGateway({
      store,
      credentials: CALLBACK_CREDENTIALS,
      operatorToken: TOKEN,
      payloadCodec: EncryptionCodec.fromSetting(KEY_A),
      codecOrigins: ['http://localhost:8080'],
    });
    const preflight = (origin: string) =>
      call(`${gateway?.url}/codec/decode`, {
        method: 'OPTIONS',
        token: null,
        origin,
        headers: { 'access-control-request-method': 'POST' },
      });

    expect((await preflight('http://localhost:8080')).status).toBe(204);
    expect((await preflight(UI_ORIGIN)).status).toBe(403);
  });
});
