/**
 * The system of the chaos suite, every part its own process as in production: a Temporal dev server on a
 * SQLite file, the ThingSpace simulator, the callback gateway and the worker. Parts are supervised (one
 * that exits by itself is recorded and started again) and can be SIGKILLed with their whole process tree;
 * Temporal restarts on the same file and port.
 */
import { Client, Connection } from '@temporalio/client';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findFreePort, startDevServer, type DevServer } from '../../scripts/lib/dev-server.js';
import { startPart, waitForHttp, type Part } from '../../scripts/lib/processes.js';
import { registerCallbacks } from '../../scripts/lib/register-callbacks.js';
import { resolveTemporalCli } from '../../scripts/lib/temporal-cli.js';
import { createThingSpaceClient } from '../../thingspace/index.js';
import { ACCOUNT } from '../integration/harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CALLBACKS = { username: 'chaos-callbacks', password: 'chaos-callback-password-24' };
export const CALLBACK_PATH_TOKEN = 'chaos-callback-path-token-0123456789';
const SIM = {
  clientId: 'sim-client-id',
  clientSecret: 'sim-client-secret',
  username: 'sim-user',
  password: 'sim-password',
};

export type PartName = 'simulator' | 'gateway' | 'worker';

const ENTRIES: Record<PartName, string> = {
  simulator: 'simulator/main.ts',
  gateway: 'callback-gateway/main.ts',
  worker: 'workers/main.ts',
};

export interface ChaosFigures {
  kills: Record<PartName | 'temporal', number>;
  restarts: Record<PartName | 'temporal', number>;
  /** Exits nobody asked for (a part that died on its own and was restarted by the supervisor). */
  unexpectedExits: string[];
}

export const say = (line: string): void => void process.stdout.write(`${line}\n`);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Process ids below `pid` (tsx runs the entry in a child node process, which SIGKILL of tsx would orphan). */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.flatMap((c) => [c, ...descendants(c)]);
}

/** SIGKILLs `pid`'s descendants, deepest first, then asks `kill` to end the process itself. */
function killTree(pid: number | undefined, kill: () => void): void {
  for (const child of pid === undefined ? [] : descendants(pid).reverse()) {
    try {
      process.kill(child, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  kill();
}

/** Polls `check` until it returns a value, or throws after `timeoutMs`. */
export async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`${what} did not happen within ${timeoutMs / 1000} s${why}`);
    }
    await sleep(1_000);
  }
}

export interface ChaosSystemOptions {
  /** Extra environment of the simulator (delays, seed). */
  simulatorEnv?: NodeJS.ProcessEnv;
  /** Extra environment of the gateway. */
  gatewayEnv?: NodeJS.ProcessEnv;
  /** Extra environment of the worker. */
  workerEnv?: NodeJS.ProcessEnv;
}

export class ChaosSystem {
  readonly figures: ChaosFigures = {
    kills: { simulator: 0, gateway: 0, worker: 0, temporal: 0 },
    restarts: { simulator: 0, gateway: 0, worker: 0, temporal: 0 },
    unexpectedExits: [],
  };
  /** The Temporal client of the test; it reconnects by itself after a Temporal restart. */
  client!: Client;
  simulatorUrl = '';
  gatewayUrl = '';
  /** The gateway's internal app: /metrics (and /operator, /codec with a token). */
  operatorUrl = '';
  private temporal: DevServer | undefined;
  /** The Temporal dev server's process id, while it runs. */
  get temporalPid(): number | undefined {
    return this.temporal?.process.pid;
  }
  private connection: Connection | undefined;
  private readonly parts = new Map<PartName, Part>();
  private readonly killing = new Set<Part>();
  private stopping = false;
  private partEnv!: Record<PartName, NodeJS.ProcessEnv>;
  private cliPath = '';
  private temporalPort = 0;

  /** DATA_DIR of every part: the gateway's SQLite inbox is here. */
  readonly dir = mkdtempSync(join(tmpdir(), 'euicc-chaos-'));
  private readonly dbFile = join(this.dir, 'temporal.db');

  /** Starts Temporal, the simulator, the gateway and the worker, and registers the gateway's callbacks. */
  static async start(options: ChaosSystemOptions = {}): Promise<ChaosSystem> {
    const system = new ChaosSystem();
    try {
      await system.boot(options);
    } catch (err) {
      await system.stop();
      throw err;
    }
    return system;
  }

  private async boot(options: ChaosSystemOptions): Promise<void> {
    this.cliPath = await resolveTemporalCli({ env: process.env, log: (msg) => say(`[chaos] ${msg}`) });
    this.temporalPort = await findFreePort();
    await this.startTemporal();
    const address = `127.0.0.1:${this.temporalPort}`;

    const simulatorPort = await findFreePort();
    const gatewayPort = await findFreePort();
    const operatorPort = await findFreePort();
    this.operatorUrl = `http://127.0.0.1:${operatorPort}`;
    this.simulatorUrl = `http://127.0.0.1:${simulatorPort}`;
    this.gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const base: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', LOG_LEVEL: 'warn', DATA_DIR: this.dir };
    delete base.DATABASE_URL;
    delete base.TEMPORAL_NAMESPACE;
    this.partEnv = {
      simulator: {
        ...base,
        SIMULATOR_PORT: String(simulatorPort),
        SIMULATOR_HOST: '127.0.0.1',
        ...options.simulatorEnv,
      },
      gateway: {
        ...base,
        TEMPORAL_ADDRESS: address,
        GATEWAY_PORT: String(gatewayPort),
        OPERATOR_PORT: String(operatorPort),
        GATEWAY_HOST: '127.0.0.1',
        CALLBACK_USERNAME: CALLBACKS.username,
        CALLBACK_PASSWORD: CALLBACKS.password,
        CALLBACK_PATH_TOKEN,
        ...options.gatewayEnv,
      },
      worker: {
        ...base,
        TEMPORAL_ADDRESS: address,
        THINGSPACE_BASE_URL: `${this.simulatorUrl}/api`,
        RUST_LOG: 'error',
        // No metrics ports: chaos runs sharing a machine would collide on the default ones.
        WORKER_METRICS_PORT: '0',
        ...options.workerEnv,
      },
    };

    this.launch('simulator');
    await waitForHttp(`${this.simulatorUrl}/__sim/health`);
    this.launch('gateway');
    await waitForHttp(`${this.gatewayUrl}/healthz`);
    this.launch('worker');

    const thingspace = createThingSpaceClient({ baseUrl: `${this.simulatorUrl}/api`, ...SIM });
    await registerCallbacks(thingspace, {
      accountName: ACCOUNT,
      baseUrl: `${this.gatewayUrl}/callbacks`,
      pathToken: CALLBACK_PATH_TOKEN,
      ...CALLBACKS,
    });

    this.connection = await Connection.connect({ address });
    this.client = new Client({ connection: this.connection });
  }

  /** Temporal's frontend address (host:port). */
  get temporalAddress(): string {
    return `127.0.0.1:${this.temporalPort}`;
  }

  /** The part running under `name` now (a restart replaces it). */
  part(name: PartName): Part | undefined {
    return this.parts.get(name);
  }

  alive(part: Part | undefined): boolean {
    return !!part && part.child.exitCode === null && part.child.signalCode === null;
  }

  /** Starts a part and supervises it: an exit nobody asked for is recorded and the part is started again. */
  launch(name: PartName): Part {
    const part = startPart(name, join(ROOT, ENTRIES[name]), this.partEnv[name]);
    this.parts.set(name, part);
    part.child.once('exit', (code, signal) => {
      if (this.stopping || this.killing.has(part)) return;
      const how = signal ?? `code ${code}`;
      this.figures.unexpectedExits.push(`${name} exited by itself (${how}) at ${new Date().toISOString()}`);
      say(`[chaos] ${name} exited by itself (${how}); restarting it`);
      this.figures.restarts[name] += 1;
      this.launch(name);
    });
    return part;
  }

  /** SIGKILL the whole process tree of a part, the real node process included, and wait for its exit. */
  async kill(name: PartName): Promise<void> {
    const part = this.parts.get(name);
    if (!part || !this.alive(part)) return;
    this.killing.add(part);
    const exited = new Promise<void>((r) => part.child.once('exit', () => r()));
    killTree(part.child.pid, () => part.child.kill('SIGKILL'));
    await Promise.race([exited, sleep(10_000)]);
    this.figures.kills[name] += 1;
  }

  /** SIGKILL, then start the part again at once, as a supervisor would. */
  async restart(name: PartName): Promise<void> {
    await this.kill(name);
    this.figures.restarts[name] += 1;
    this.launch(name);
  }

  async startTemporal(): Promise<void> {
    this.temporal = await startDevServer({
      cliPath: this.cliPath,
      ip: '127.0.0.1',
      port: this.temporalPort,
      dbFile: this.dbFile,
      headless: true,
      startTimeoutMs: 90_000,
      log: (msg) => {
        if (!msg.startsWith('[temporal]')) say(`[chaos] ${msg}`);
      },
    });
  }

  async killTemporal(): Promise<void> {
    const server = this.temporal;
    if (!server) return;
    const exited = new Promise<void>((r) => {
      if (server.process.exitCode !== null || server.process.signalCode !== null) r();
      server.process.once('exit', () => r());
    });
    killTree(server.process.pid, () => server.process.kill('SIGKILL'));
    await Promise.race([exited, sleep(10_000)]);
    server.process.stdout?.destroy();
    server.process.stderr?.destroy();
    this.figures.kills.temporal += 1;
  }

  /** Restarts a killed Temporal on the same file and port. */
  async restartTemporal(): Promise<void> {
    await this.startTemporal();
    this.figures.restarts.temporal += 1;
  }

  /** JSON call to the simulator's control API. */
  async sim<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.simulatorUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`simulator ${method} ${path} answered ${res.status}: ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Stops every part, leaves no process of ours behind and removes the data directory. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.parts.values()].map((p) => p.stop().catch(() => undefined)));
    // tsx's node child outlives a tsx that was killed: make sure nothing of ours is left.
    for (const part of this.parts.values()) killTree(part.child.pid, () => undefined);
    await this.connection?.close().catch(() => undefined);
    await this.temporal?.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
