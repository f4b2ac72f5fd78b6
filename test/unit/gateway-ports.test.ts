import { jest } from '@jest/globals';
import { pino } from 'pino';
import { cachedCounts, createOperatorApp, createPublicApp, newRefusals } from '../../callback-gateway/app.js';
import { openSqliteStore } from '../../store/sqlite.js';
import type { InboxCounts, Store } from '../../store/types.js';
import { listen, postJson, type Listening } from '../fixtures/http.js';
import { CALLBACK_CREDENTIALS, deactivationCallback } from '../fixtures/swap-callbacks.js';

const TOKEN = 'a-path-token-of-thirty-two-chars-x';
const OPERATOR_TOKEN = 'operator-token-0123456789';

describe('the public port and the internal port', () => {
  let store: Store;
  let publicPort: Listening;
  let internalPort: Listening;

  beforeEach(async () => {
    store = openSqliteStore(':memory:');
    const deps = {
      store,
      logger: pino({ level: 'silent' }),
      credentials: CALLBACK_CREDENTIALS,
      pathToken: TOKEN,
      operatorToken: OPERATOR_TOKEN,
      refusals: newRefusals(),
    };
    publicPort = await listen(createPublicApp(deps));
    internalPort = await listen(createOperatorApp(deps));
  });
  afterEach(async () => {
    await publicPort.close();
    await internalPort.close();
    await store.close();
  });

  it('the public port serves /callbacks, /healthz and /readyz only', async () => {
    expect((await fetch(`${publicPort.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${publicPort.url}/readyz`)).status).toBe(200);
    const callback = await postJson(
      `${publicPort.url}/callbacks/${TOKEN}/CarrierService`,
      deactivationCallback(CALLBACK_CREDENTIALS),
    );
    expect(callback.status).toBe(200);
    const auth = { authorization: `Bearer ${OPERATOR_TOKEN}` };
    for (const path of ['/metrics', '/operator/counts', '/operator/callbacks']) {
      expect([path, (await fetch(`${publicPort.url}${path}`, { headers: auth })).status]).toEqual([path, 404]);
    }
    const codec = await postJson(`${publicPort.url}/codec/decode`, { payloads: [] }, auth);
    expect(codec.status).toBe(404);
  });

  it('the internal port serves /metrics and /operator, and no callbacks', async () => {
    const metrics = await fetch(`${internalPort.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('euicc_gateway_inbox_received 0');
    const counts = await fetch(`${internalPort.url}/operator/counts`, {
      headers: { authorization: `Bearer ${OPERATOR_TOKEN}` },
    });
    expect(counts.status).toBe(200);
    const callback = await postJson(
      `${internalPort.url}/callbacks/${TOKEN}/CarrierService`,
      deactivationCallback(CALLBACK_CREDENTIALS),
    );
    expect(callback.status).toBe(404);
  });

  it('refusals counted on the public port show on the internal port', async () => {
    await postJson(
      `${publicPort.url}/callbacks/${'w'.repeat(40)}/CarrierService`,
      deactivationCallback(CALLBACK_CREDENTIALS),
    );
    expect(await (await fetch(`${internalPort.url}/metrics`)).text()).toContain(
      'euicc_gateway_callbacks_refused{reason="token"} 1',
    );
  });
});

describe('cachedCounts', () => {
  const zero: InboxCounts = {
    received: 0,
    duplicates: 0,
    pending: 0,
    delivered: 0,
    parked: 0,
    orphaned: 0,
    deadLetter: 0,
  };

  it('reads the store at most once per period, however many ask', async () => {
    const counts = jest.fn(async () => zero);
    const read = cachedCounts({ counts }, 60_000);
    await Promise.all(Array.from({ length: 100 }, () => read()));
    await read();
    expect(counts).toHaveBeenCalledTimes(1);
  });

  it('with 0, reads each time; a failed read is not kept', async () => {
    let fail = true;
    const counts = jest.fn(async () => {
      if (fail) throw new Error('down');
      return zero;
    });
    const read = cachedCounts({ counts }, 60_000);
    await expect(read()).rejects.toThrow('down');
    fail = false;
    await expect(read()).resolves.toEqual(zero);
    const each = cachedCounts({ counts }, 0);
    await each();
    await each();
    expect(counts).toHaveBeenCalledTimes(4);
  });
});
