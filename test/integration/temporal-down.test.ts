/**
 * While Temporal is unreachable the gateway keeps acknowledging (persist, then 2xx) and the dispatcher
 * delivers once Temporal is back. "Unreachable" is real: the gateway's Temporal connection goes through
 * a TCP proxy that the test closes and re-opens.
 */
import { Client, Connection } from '@temporalio/client';
import { createServer, Socket, type Server } from 'node:net';
import { pino } from 'pino';
import { createApp } from '../../callback-gateway/app.js';
import { createDispatcher } from '../../callback-gateway/dispatcher.js';
import { temporalSignaler } from '../../callback-gateway/signal.js';
import { startEidDeviceSwap } from '../../client/index.js';
import {
  ACCOUNT,
  CALLBACK_CREDENTIALS,
  seedSwapPair,
  startSystem,
  swapRequest,
  waitFor,
  type TestSystem,
} from './harness.js';

/** A TCP proxy to `target` that can refuse connections and cut the open ones. */
function proxy(target: { host: string; port: number }) {
  let up = true;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (!up) return client.destroy();
    const upstream = new Socket();
    upstream.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  return {
    listen: () =>
      new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port))),
    down() {
      up = false;
      for (const s of sockets) s.destroy();
    },
    up() {
      up = true;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let system: TestSystem;
beforeAll(async () => {
  system = await startSystem();
});
afterAll(async () => {
  await system?.stop();
});

it('keeps acknowledging callbacks while Temporal is unreachable and delivers them when it is back', async () => {
  // The system's own gateway is paused; a second gateway on the same inbox talks to Temporal through the proxy.
  await system.dispatcher.stop();
  const [host, port] = (process.env.TEMPORAL_TEST_ADDRESS ?? '').split(':');
  const tcp = proxy({ host: host ?? '127.0.0.1', port: Number(port) });
  const proxyPort = await tcp.listen();
  const connection = await Connection.connect({ address: `127.0.0.1:${proxyPort}` });
  const logger = pino({ level: 'silent' });
  const dispatcher = createDispatcher({
    store: system.store,
    signal: temporalSignaler(new Client({ connection })),
    logger,
    intervalMs: 100,
  });
  dispatcher.start();
  const app = createApp({
    store: system.store,
    logger,
    credentials: CALLBACK_CREDENTIALS,
    onStored: () => dispatcher.kick(),
  });
  const gateway = app.listen(0, '127.0.0.1');
  await new Promise((r) => gateway.once('listening', r));
  const gatewayUrl = `http://127.0.0.1:${(gateway.address() as { port: number }).port}`;

  try {
    await system.sim('POST', '/__sim/faults', {
      clear: true,
      callbacks: { never: ['deactivation', 'identifierChange', 'goToState'] },
    });
    const pair = await seedSwapPair(system);
    const handle = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    await waitFor(async () => (await handle.status()).phase === 'awaitingCallbacks');
    const { requestId } = await handle.status();

    tcp.down();
    const imei = pair.swapOut.find((d) => d.kind === 'imei')!;
    const iccid = pair.swapOut.find((d) => d.kind === 'iccid')!;
    const eid = pair.swapIn.find((d) => d.kind === 'eid')!;
    const callbacks = [
      { deviceIds: [imei, iccid], deviceResponse: { deactivateResponse: { deactivated: true } }, status: 'Success' },
      {
        deviceIds: [imei, iccid],
        deviceResponse: { changeIdentifierResponse: { deviceIds: [eid], servicePlan: '4G 2GB' } },
        status: 'Success',
      },
      { requestId, deviceIds: [imei], deviceResponse: { goToStateResponse: { deviceIds: [imei], stateName: 'x' } } },
    ];
    for (const [i, body] of callbacks.entries()) {
      const res = await fetch(`${gatewayUrl}/callbacks/${i === 2 ? 'StateService' : 'CarrierService'}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          ...CALLBACK_CREDENTIALS,
          requestId: `other-${i}`,
          ...body,
          callbackCount: 1,
          maxCallbackThreshold: 4,
        }),
      });
      expect(res.status).toBe(200);
    }
    // Stored and acknowledged, but not delivered while Temporal cannot be reached.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await handle.status()).callbacksReceived).toBe(0);
    expect((await system.store.counts()).pending).toBeGreaterThanOrEqual(3);

    tcp.up();
    const result = await handle.result();
    expect(result.steps).toEqual({
      deactivation: expect.objectContaining({ state: 'confirmed', confirmedBy: 'callback' }),
      identifierChange: expect.objectContaining({ state: 'confirmed', confirmedBy: 'callback' }),
      goToState: expect.objectContaining({ state: 'confirmed', confirmedBy: 'callback' }),
    });
    expect(result.accountName).toBe(ACCOUNT);
  } finally {
    await dispatcher.stop();
    gateway.closeAllConnections();
    await new Promise((r) => gateway.close(r));
    // Let the client's last gRPC retries settle before its channel goes away.
    await new Promise((r) => setTimeout(r, 1000));
    await connection.close();
    await tcp.close();
    system.dispatcher.start();
  }
});
