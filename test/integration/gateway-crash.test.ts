/**
 * The gateway acknowledges a callback only after the transaction holding it has committed, group commit
 * included. The real gateway process (its own node, as in production, on the default SQLite inbox and the
 * default commit window) takes callbacks from many connections at once and is SIGKILLed mid-stream; every
 * callback answered 2xx must then be in the inbox, under the id its answer gave. A batcher answering before its
 * commit would lose the open batch's callbacks here. (SIGKILL leaves the OS's page cache, so this shows the order
 * of commit and answer; that a commit survives a power loss is SQLite's `synchronous = FULL`.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { callbackUrl } from '../../contracts/index.js';
import { findFreePort } from '../../scripts/lib/dev-server.js';
import { waitForHttp } from '../../scripts/lib/processes.js';
import { openStore } from '../../store/index.js';
import { deactivationCallback } from '../fixtures/swap-callbacks.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CREDENTIALS = { username: 'crash-callbacks', password: 'crash-callback-password-24' };
const PATH_TOKEN = 'crash-test-callback-path-token-0123456789';
const ACCOUNT = '0000123456-00001';
const CONNECTIONS = 48;
/** Answers to wait for before the kill: the gateway is then busy on every connection. */
const ACKNOWLEDGED_BEFORE_KILL = 400;

type Outcome = { requestId: string; status: number; id?: number } | { requestId: string; error: string };

/** POSTs one JSON body; resolves with the answer, or the error that cut the request off. */
function post(url: string, agent: Agent, requestId: string): Promise<Outcome> {
  const payload = JSON.stringify({ ...deactivationCallback(CREDENTIALS), requestId });
  return new Promise((resolve) => {
    const req = request(url, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        const body = (text ? JSON.parse(text) : {}) as { id?: number };
        resolve({ requestId, status: res.statusCode ?? 0, ...(body.id !== undefined && { id: body.id }) });
      });
      res.on('error', (err) => resolve({ requestId, error: (err as NodeJS.ErrnoException).code ?? err.message }));
    });
    req.on('error', (err) => resolve({ requestId, error: (err as NodeJS.ErrnoException).code ?? err.message }));
    req.end(payload);
  });
}

/** Starts the gateway process on `dir`'s inbox; resolves once it answers /healthz. */
async function startGateway(dir: string): Promise<{ process: ChildProcess; port: number; exited: Promise<void> }> {
  const port = await findFreePort();
  const gateway = spawn(process.execPath, ['--import', 'tsx', 'callback-gateway/main.ts'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      PATH: process.env.PATH,
      DATA_DIR: dir,
      GATEWAY_PORT: String(port),
      OPERATOR_PORT: String(await findFreePort()),
      // Nothing listens there: the dispatcher retries in the background, which is all it may do.
      TEMPORAL_ADDRESS: `127.0.0.1:${await findFreePort()}`,
      CALLBACK_USERNAME: CREDENTIALS.username,
      CALLBACK_PASSWORD: CREDENTIALS.password,
      CALLBACK_PATH_TOKEN: PATH_TOKEN,
      CALLBACK_RATE_LIMIT: '0',
      LOG_LEVEL: 'fatal',
    },
  });
  let stderr = '';
  gateway.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => gateway.once('exit', () => resolve()));
  await Promise.race([
    waitForHttp(`http://127.0.0.1:${port}/healthz`),
    exited.then(() => Promise.reject(new Error(`the gateway exited at start-up: ${stderr}`))),
  ]);
  return { process: gateway, port, exited };
}

/**
 * Posts callbacks named `<round>-<n>` over CONNECTIONS connections and SIGKILLs the gateway once
 * ACKNOWLEDGED_BEFORE_KILL are answered; each connection posts until its request is cut off (or refused, once
 * the gateway is gone). Resolves with every request's outcome once the gateway has exited.
 */
async function loadAndKill(gateway: Awaited<ReturnType<typeof startGateway>>, round: number): Promise<Outcome[]> {
  const url = callbackUrl(`http://127.0.0.1:${gateway.port}/callbacks`, PATH_TOKEN, 'CarrierService', ACCOUNT);
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const outcomes: Outcome[] = [];
  let next = 0;
  let answered = 0;
  const lane = async (): Promise<void> => {
    for (;;) {
      const outcome = await post(url, agent, `crash-${round}-${next++}`);
      outcomes.push(outcome);
      if ('error' in outcome) return;
      if (++answered === ACKNOWLEDGED_BEFORE_KILL) gateway.process.kill('SIGKILL');
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, lane));
  agent.destroy();
  await gateway.exited;
  return outcomes;
}

describe('a gateway killed while callbacks pour in', () => {
  let dir: string;
  let gateway: ChildProcess | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'euicc-gateway-crash-'));
  });

  afterEach(() => {
    if (gateway && gateway.exitCode === null && gateway.signalCode === null) gateway.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  // Three kills, each gateway started again on the inbox the last one left: a kill lands at a random point of
  // the commit cycle, so one kill alone could miss a batcher that answers a few ms early.
  it('every callback acknowledged 2xx before each SIGKILL is in the inbox under the id its answer gave', async () => {
    for (const round of [1, 2, 3]) {
      const started = await startGateway(dir);
      gateway = started.process;
      const outcomes = await loadAndKill(started, round);

      const acknowledged = outcomes.flatMap((o) => ('status' in o && o.status >= 200 && o.status < 300 ? [o] : []));
      const cutOff = outcomes.filter((o) => 'error' in o);
      expect(acknowledged.length).toBeGreaterThanOrEqual(ACKNOWLEDGED_BEFORE_KILL);
      expect(outcomes.filter((o) => 'status' in o && !acknowledged.includes(o))).toEqual([]);
      // Requests in flight at the kill were cut off (reset or hung up), not only refused afterwards.
      expect(cutOff.length).toBeGreaterThan(0);
      expect(cutOff.some((o) => 'error' in o && o.error !== 'ECONNREFUSED')).toBe(true);

      const store = await openStore({ DATA_DIR: dir });
      try {
        const stored = await Promise.all(acknowledged.map(async (o) => (await store.get(o.id ?? -1))?.body.requestId));
        expect({ round, stored }).toEqual({ round, stored: acknowledged.map((o) => o.requestId) });
      } finally {
        await store.close();
      }
    }
  });
});
