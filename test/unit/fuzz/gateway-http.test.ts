import fc from 'fast-check';
import { Agent, request } from 'node:http';
import { pino } from 'pino';
import { createPublicApp } from '../../../callback-gateway/app.js';
import { boundEvent, normalizableBody } from '../../../callback-gateway/bounds.js';
import { normalizeCallback } from '../../../contracts/index.js';
import { openSqliteStore } from '../../../store/sqlite.js';
import type { Store } from '../../../store/types.js';
import {
  caseCounter,
  fuzzParameters,
  hostileJson,
  HOSTILE_KEYS,
  oddString,
  prototypeClean,
} from '../../fixtures/fuzz.js';
import { listen, type Listening } from '../../fixtures/http.js';
import { CALLBACK_CREDENTIALS, deactivationCallback } from '../../fixtures/swap-callbacks.js';

const TOKEN = 'fuzz-callback-path-token-0123456789ab';
const MAX_BODY = 64 * 1024;
const cases = caseCounter();
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** One POST over a kept-alive connection (fetch costs several times more per request). */
function post(url: string, type: string | undefined, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: type === undefined ? {} : { 'content-type': type } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A path segment of any string; lone surrogates (which no URL can carry) become U+FFFD. */
const segment = (s: string) =>
  encodeURIComponent(
    s.replace(/[\ud800-\udfff]/g, (c, i: number, all: string) => {
      const code = c.charCodeAt(0);
      const pair = code < 0xdc00 ? all.charCodeAt(i + 1) : all.charCodeAt(i - 1);
      const paired = code < 0xdc00 ? pair >= 0xdc00 && pair <= 0xdfff : pair >= 0xd800 && pair < 0xdc00;
      return paired ? c : '\ufffd';
    }),
  );

/** Every field of a callback, each replaced in turn by a hostile value. */
const FIELDS = [
  'username',
  'password',
  'requestId',
  'deviceIds',
  'ids',
  'deviceResponse',
  'status',
  'faultResponse',
  'callbackCount',
  'maxCallbackThreshold',
];

const valid = () => deactivationCallback(CALLBACK_CREDENTIALS);

/** A request body as bytes on the wire: valid, mutated, malformed, huge, deeply nested or hostile JSON. */
const bodyText = (): fc.Arbitrary<string> =>
  fc.oneof(
    // A real callback, one or more fields replaced or removed.
    fc
      .record({ fields: fc.subarray(FIELDS, { minLength: 1 }), value: fc.oneof(hostileJson(), fc.constant(undefined)) })
      .map(({ fields, value }) => {
        const body: Record<string, unknown> = valid();
        for (const field of fields) body[field] = value;
        return JSON.stringify(body);
      }),
    // A real callback with extra hostile keys, at the top and inside.
    fc.record({ key: fc.constantFrom(...HOSTILE_KEYS), value: hostileJson() }).map(({ key, value }) => {
      const text = JSON.stringify({ ...valid(), deviceResponse: { deactivateResponse: { x: 1 } } });
      const extra = `${JSON.stringify(key)}:${JSON.stringify(value) ?? 'null'}`;
      return text.replace(/^\{/, `{${extra},`).replace('{"x":1}', `{${extra},"x":1}`);
    }),
    // Any JSON at all.
    hostileJson().map((value) => JSON.stringify(value) ?? 'null'),
    // Not JSON.
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.constantFrom('', '{', '{"a":', '[1,]', '{"a":1}}', 'nul', '\u0000', '{"requestId":"\\ud800"}', '\ufeff{}'),
    // Deep nesting, arrays and objects.
    fc.integer({ min: 1, max: 2_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
    fc.integer({ min: 1, max: 2_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`),
    // Around and over the body limit.
    fc
      .integer({ min: MAX_BODY - 512, max: MAX_BODY + 4_096 })
      .map((n) => JSON.stringify({ ...valid(), pad: 'a'.repeat(n) })),
    // Odd unicode in every string field.
    oddString().map((s) => JSON.stringify({ ...valid(), requestId: s, status: s, deviceIds: [{ kind: s, id: s }] })),
  );

const SERVICES = ['CarrierService', 'StateService', 'DeviceProfileService', 'carrierservice'];
const path = (): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...SERVICES).map((s) => `/callbacks/${TOKEN}/${s}/0000123456-00001`) },
    fc.constantFrom(...SERVICES).map((s) => `/callbacks/${TOKEN}/${s}`),
    fc.tuple(oddString(), oddString()).map(([s, a]) => `/callbacks/${TOKEN}/${segment(s)}/${segment(a)}`),
    fc.string({ maxLength: 60 }).map((t) => `/callbacks/${segment(t)}/CarrierService`),
    fc.constantFrom('/callbacks', '/callbacks/CarrierService', '/callbacks/CarrierService/acct', `/callbacks/${TOKEN}`),
  );
const contentType = (): fc.Arbitrary<string | undefined> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constant('application/json') },
    fc.constantFrom(
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'application/vnd.x+json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data',
      undefined,
    ),
  );

describe('fuzz: the callback gateway over HTTP', () => {
  let store: Store;
  let gateway: Listening;
  let stored = 0;

  beforeAll(async () => {
    store = openSqliteStore(':memory:');
    gateway = await listen(
      createPublicApp({
        store,
        logger: pino({ level: 'silent' }),
        credentials: CALLBACK_CREDENTIALS,
        pathToken: TOKEN,
        maxBody: '64kb',
        onStored: () => {
          stored += 1;
        },
      }),
    );
  });
  afterAll(async () => {
    cases.report();
    agent.destroy();
    await gateway.close();
    await store.close();
  });

  it('answers every request below 500 with a JSON reason; a refused callback stores and signals nothing', async () => {
    await fc.assert(
      fc.asyncProperty(path(), contentType(), bodyText(), async (where, type, text) => {
        cases.count('gateway over HTTP');
        const before = (await store.counts()).received;
        const storedBefore = stored;
        const response = await post(`${gateway.url}${where}`, type, text);
        const answer = JSON.parse(response.text) as Record<string, unknown>;
        expect(response.status).toBeLessThan(500);
        const after = (await store.counts()).received;
        if (response.status !== 200) {
          expect(typeof answer.error).toBe('string');
          expect(typeof answer.message).toBe('string');
          expect(String(answer.message).length).toBeGreaterThan(10);
          expect(after).toBe(before);
          expect(stored).toBe(storedBefore);
        } else {
          expect(['accepted', 'duplicate']).toContain(answer.status);
          const record = await store.get(Number(answer.id));
          expect(record).toBeDefined();
          // Credentials never stored; what the dispatcher will make of it never throws.
          expect(record?.body).not.toHaveProperty('password');
          expect(record?.body).not.toHaveProperty('username');
          if (record)
            boundEvent(
              normalizeCallback(record.service, normalizableBody(record.body), {
                fingerprint: 'f',
                inboxId: record.id,
                receivedAt: record.receivedAt,
              }),
            );
        }
        expect(prototypeClean()).toBe(true);
      }),
      fuzzParameters(),
    );
  });

  it.each([
    ['arrays', `${'['.repeat(100_000)}${']'.repeat(100_000)}`],
    ['objects', `${'{"a":'.repeat(12_000)}1${'}'.repeat(12_000)}`],
  ])('refuses deeply nested %s without a 5xx', async (_what, text) => {
    const response = await post(`${gateway.url}/callbacks/${TOKEN}/CarrierService`, 'application/json', text);
    expect([400, 401, 413]).toContain(response.status);
  });

  it('names the missing field of an authenticated callback that carries no key', async () => {
    const body = { ...valid(), requestId: 42, deviceIds: 'not a list' };
    const response = await fetch(`${gateway.url}/callbacks/${TOKEN}/CarrierService`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toMatch(/requestId.*deviceIds/);
  });
});
