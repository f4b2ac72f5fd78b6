import { openSqliteStore } from '../../store/sqlite.js';
import type { Store } from '../../store/types.js';
import { rateLimiter, sourceAllowlist } from '../../callback-gateway/sources.js';
import { listenGateway, postJson, type Listening } from '../fixtures/http.js';
import { CALLBACK_CREDENTIALS, deactivationCallback } from '../fixtures/swap-callbacks.js';

const TOKEN = 'a-path-token-of-thirty-two-chars-x';
const deactivation = () => deactivationCallback(CALLBACK_CREDENTIALS);

describe('the callback path token (a second factor)', () => {
  let store: Store;
  let gateway: Listening;
  const start = async (extra: Record<string, unknown> = {}) => {
    gateway = await listenGateway({ store, credentials: CALLBACK_CREDENTIALS, pathToken: TOKEN, ...extra });
  };
  beforeEach(() => {
    store = openSqliteStore(':memory:');
  });
  afterEach(async () => {
    await gateway.close();
    await store.close();
  });

  it('accepts /callbacks/<token>/<service>/<account> and /callbacks/<token>/<service>', async () => {
    await start();
    const scoped = await postJson(`${gateway.url}/callbacks/${TOKEN}/CarrierService/0000123456-00001`, deactivation());
    const plain = await postJson(`${gateway.url}/callbacks/${TOKEN}/StateService`, {
      ...deactivation(),
      requestId: 'another-request',
    });
    expect([scoped.status, plain.status]).toEqual([200, 200]);
    const stored = (await store.list('pending', 10)).sort((a, b) => a.id - b.id);
    expect(stored.map((r) => [r.service, r.account])).toEqual([
      ['CarrierService', '0000123456-00001'],
      ['StateService', undefined],
    ]);
    expect(JSON.stringify(stored)).not.toContain(TOKEN);
  });

  it.each([
    ['a wrong token', `/callbacks/${'x'.repeat(34)}/CarrierService/0000123456-00001`],
    ['a token one character short', `/callbacks/${TOKEN.slice(0, -1)}/CarrierService`],
    ['the legacy account path', '/callbacks/CarrierService/0000123456-00001'],
    ['the legacy service path', '/callbacks/CarrierService'],
    ['the legacy bare path', '/callbacks'],
  ])('refuses %s with 401 and stores nothing, even with the right credentials', async (_what, path) => {
    await start();
    const response = await postJson(`${gateway.url}${path}`, deactivation());
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({
      error: 'unauthorized',
      message: "The callback URL's token does not match; register the callbacks again (npm run register-callbacks)",
    });
    expect(await store.list('pending', 10)).toEqual([]);
  });

  it('a right token with wrong body credentials is still refused: both factors are needed', async () => {
    await start();
    const response = await postJson(`${gateway.url}/callbacks/${TOKEN}/CarrierService`, {
      ...deactivation(),
      password: 'not-the-callback-password',
    });
    expect(response.status).toBe(401);
    expect(await store.list('pending', 10)).toEqual([]);
  });

  it('with legacyPaths (CALLBACK_LEGACY_PATHS=true) the untokenised paths work too, for an upgrade', async () => {
    await start({ legacyPaths: true });
    const legacy = await postJson(`${gateway.url}/callbacks/CarrierService/0000123456-00001`, deactivation());
    const tokenised = await postJson(`${gateway.url}/callbacks/${TOKEN}/StateService/0000123456-00001`, {
      ...deactivation(),
      requestId: 'r2',
    });
    expect([legacy.status, tokenised.status]).toEqual([200, 200]);
    const stored = (await store.list('pending', 10)).sort((a, b) => a.id - b.id);
    expect(stored.map((r) => r.service)).toEqual(['CarrierService', 'StateService']);
  });

  it('counts refused tokens on /metrics', async () => {
    await start();
    await postJson(`${gateway.url}/callbacks/CarrierService`, deactivation());
    expect(await (await fetch(`${gateway.url}/metrics`)).text()).toContain(
      'euicc_gateway_callbacks_refused{reason="token"} 1',
    );
  });
});

describe('source allowlist and trust proxy', () => {
  let store: Store;
  let gateway: Listening;
  beforeEach(() => {
    store = openSqliteStore(':memory:');
  });
  afterEach(async () => {
    await gateway.close();
    await store.close();
  });
  const post = (headers: Record<string, string> = {}) =>
    postJson(`${gateway.url}/callbacks/${TOKEN}/CarrierService`, deactivation(), headers);

  it('refuses a source outside CALLBACK_ALLOWED_SOURCES with 403, before reading its body', async () => {
    gateway = await listenGateway({
      store,
      credentials: CALLBACK_CREDENTIALS,
      pathToken: TOKEN,
      allowedSources: ['10.0.0.0/8'],
    });
    const response = await post();
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ error: 'forbidden', message: 'This source may not post callbacks' });
    expect(await store.list('pending', 10)).toEqual([]);
    expect(await (await fetch(`${gateway.url}/metrics`)).text()).toContain(
      'euicc_gateway_callbacks_refused{reason="source"} 1',
    );
  });

  it('accepts a source inside the list (loopback here)', async () => {
    gateway = await listenGateway({
      store,
      credentials: CALLBACK_CREDENTIALS,
      pathToken: TOKEN,
      allowedSources: ['10.0.0.0/8', '127.0.0.0/8'],
    });
    expect((await post()).status).toBe(200);
  });

  it('ignores X-Forwarded-For unless trust proxy names the proxy: a sender cannot pick its own address', async () => {
    gateway = await listenGateway({
      store,
      credentials: CALLBACK_CREDENTIALS,
      pathToken: TOKEN,
      allowedSources: ['203.0.113.0/24'],
    });
    expect((await post({ 'X-Forwarded-For': '203.0.113.9' })).status).toBe(403);
  });

  it('with trust proxy set to the proxy (loopback), the forwarded address is the source', async () => {
    gateway = await listenGateway({
      store,
      credentials: CALLBACK_CREDENTIALS,
      pathToken: TOKEN,
      allowedSources: ['203.0.113.0/24'],
      trustProxy: 'loopback',
    });
    expect((await post({ 'X-Forwarded-For': '203.0.113.9' })).status).toBe(200);
    expect((await post({ 'X-Forwarded-For': '198.51.100.7' })).status).toBe(403);
  });
});

describe('per-source rate limit', () => {
  let store: Store;
  let gateway: Listening;
  afterEach(async () => {
    await gateway.close();
    await store.close();
  });

  it('answers 429 past the limit, stores nothing more, and counts it on /metrics', async () => {
    store = openSqliteStore(':memory:');
    gateway = await listenGateway({
      store,
      credentials: CALLBACK_CREDENTIALS,
      pathToken: TOKEN,
      rateLimitPerMinute: 3,
    });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await postJson(`${gateway.url}/callbacks/${TOKEN}/CarrierService`, {
        ...deactivation(),
        requestId: `r${i}`,
      });
      statuses.push(response.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(await store.list('pending', 10)).toHaveLength(3);
    expect(await (await fetch(`${gateway.url}/metrics`)).text()).toContain(
      'euicc_gateway_callbacks_refused{reason="rate_limited"} 2',
    );
  });

  it('refills over time, per source', () => {
    const limiter = rateLimiter(60);
    for (let i = 0; i < 60; i++) expect(limiter.take('a', 0)).toBe(true);
    expect(limiter.take('a', 0)).toBe(false);
    expect(limiter.take('b', 0)).toBe(true);
    expect(limiter.take('a', 1_000)).toBe(true);
    expect(limiter.take('a', 1_000)).toBe(false);
  });

  it('keeps at most maxSources buckets', () => {
    const limiter = rateLimiter(1, 2);
    expect(limiter.take('a', 0)).toBe(true);
    expect(limiter.take('b', 0)).toBe(true);
    expect(limiter.take('c', 0)).toBe(true);
    // 'a' was evicted: a fresh bucket.
    expect(limiter.take('a', 0)).toBe(true);
  });
});

describe('sourceAllowlist', () => {
  it('matches IPv4, IPv6 and IPv4-mapped IPv6 addresses', () => {
    const allowed = sourceAllowlist(['10.0.0.0/8', '2001:db8::/32', '192.0.2.7']);
    expect(['10.1.2.3', '::ffff:10.1.2.3', '2001:db8::1', '192.0.2.7'].map(allowed)).toEqual([true, true, true, true]);
    expect(['11.0.0.1', '192.0.2.8', '2001:db9::1', undefined].map(allowed)).toEqual([false, false, false, false]);
  });

  it('allows every source when the list is empty or unset', () => {
    expect(sourceAllowlist(undefined)('198.51.100.1')).toBe(true);
    expect(sourceAllowlist([])('198.51.100.1')).toBe(true);
  });
});
