/**
 * Runs `temporal server start-dev` as a child process with the project's settings (DESIGN.md §3) and waits
 * until it serves requests, so callers never race a half-started server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';

import { Connection } from '@temporalio/client';

import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../../contracts/names.js';

export interface DevServerOptions {
  /** Path of the `temporal` CLI, from `resolveTemporalCli`. */
  cliPath: string;
  /** gRPC port; 7233 by default. */
  port?: number;
  /** Web UI port; the gRPC port + 1000 by default. Ignored when `headless`. */
  uiPort?: number;
  /** Remote codec endpoint the Web UI decodes payloads with (`--ui-codec-endpoint`). Ignored when `headless`. */
  uiCodecEndpoint?: string;
  /**
   * SQLite file that keeps workflows across restarts (its directory is created); `.data/temporal.db` by
   * default, relative to the working directory. `null` keeps everything in memory, for tests.
   */
  dbFile?: string | null;
  /** A namespace to create besides `default` (which always exists). */
  namespace?: string;
  /** Address to bind; loopback by default so a developer's server is not reachable from the network. */
  ip?: string;
  /** Progress messages, and the server's own warnings and errors. */
  log?: (msg: string) => void;
  /** No Web UI: saves a port and start-up time in tests. */
  headless?: boolean;
  /** How long to wait for the server to answer before giving up; 60 s by default. */
  startTimeoutMs?: number;
}

export interface DevServer {
  /** `host:port` for `Connection.connect({ address })`. */
  address: string;
  /** Web UI, unless headless. */
  uiUrl?: string;
  process: ChildProcess;
  /** SIGTERM, then SIGKILL if the server has not exited in time. Idempotent. */
  stop(): Promise<void>;
}

const DEFAULT_PORT = 7233;
const DEFAULT_DB_FILE = '.data/temporal.db';
const DEFAULT_START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;
const PROBE_INTERVAL_MS = 250;
const OUTPUT_TAIL_LINES = 30;

/**
 * Starts a dev server and resolves once it answers gRPC calls and has the project's namespace and search
 * attributes registered. Rejects (and kills the server) if it exits or does not answer within the timeout.
 */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const log = opts.log ?? (() => {});
  const ip = opts.ip ?? '127.0.0.1';
  const port = opts.port ?? DEFAULT_PORT;
  const uiPort = opts.uiPort ?? port + 1000;
  const dbFile = opts.dbFile === undefined ? DEFAULT_DB_FILE : opts.dbFile;
  const namespace = opts.namespace ?? 'default';
  const address = `${hostForUrl(ip)}:${port}`;

  // Another server on the port would answer our readiness probe while ours fails to bind and exits.
  for (const [what, taken] of [
    ['gRPC', port],
    ['UI', opts.headless ? undefined : uiPort],
  ] as const) {
    if (taken !== undefined && (await acceptsTcp(ip, taken, 1_000))) {
      throw new Error(`Cannot start the Temporal dev server: the ${what} port ${ip}:${taken} is already in use`);
    }
  }

  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port), '--log-level', 'warn'];
  if (opts.headless) {
    args.push('--headless');
  } else {
    args.push('--ui-port', String(uiPort));
    if (opts.uiCodecEndpoint !== undefined) args.push('--ui-codec-endpoint', opts.uiCodecEndpoint);
  }
  if (dbFile !== null) {
    await mkdir(path.dirname(path.resolve(dbFile)), { recursive: true });
    // The server's services share one SQLite file; in WAL mode readers (visibility queries, the UI) do not
    // wait for writers, so the server does not stall on the file lock (DESIGN.md §3).
    args.push('--db-filename', dbFile, '--sqlite-pragma', 'journal_mode=WAL');
  }
  if (namespace !== 'default') args.push('--namespace', namespace);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTE_DEFINITIONS)) {
    args.push('--search-attribute', `${name}=${type}`);
  }

  log(`Starting the Temporal dev server: ${opts.cliPath} ${args.join(' ')}`);
  const child = spawn(opts.cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stopping: Promise<void> | undefined;
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      tail.push(line);
      if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
      // stdout only repeats the addresses printed by our callers; stderr carries warnings and errors, except
      // while stopping, when the server's workers warn about every poll it cuts off.
      if (stream === child.stderr && !stopping) log(`[temporal] ${line}`);
    });
  }

  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => resolve(`could not be started: ${error.message}`));
    child.once('exit', (code, signal) => resolve(signal ? `was killed by ${signal}` : `exited with code ${code}`));
  });
  // The output can still be draining at 'exit'; 'close' follows once it is read, unless a grandchild holds the
  // pipes open.
  const outputRead = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stop = (): Promise<void> => (stopping ??= stopChild(child, exited));

  const gaveUp = new AbortController();
  const exitedEarly = exited.then(async (how) => {
    await Promise.race([outputRead, sleep(1_000)]);
    throw new Error(`The Temporal dev server ${how} before it was ready:\n${tail.join('\n')}`);
  });
  // Observed through the race below; an exit after start-up is the caller's business (process, stop()).
  exitedEarly.catch(() => {});
  try {
    await Promise.race([
      waitUntilServing({
        address,
        port,
        ip,
        namespace,
        timeoutMs: opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
        signal: gaveUp.signal,
      }),
      exitedEarly,
    ]);
  } catch (error) {
    gaveUp.abort();
    await stop();
    throw error;
  }

  const uiUrl = opts.headless ? undefined : `http://${hostForUrl(ip)}:${uiPort}`;
  log(`Temporal dev server ready at ${address}${uiUrl ? `, UI ${uiUrl}` : ''}`);
  return { address, ...(uiUrl ? { uiUrl } : {}), process: child, stop };
}

/** A port the OS reports free right now (another process can still take it before it is used). */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Whether a Temporal server answers at `address` (`host:port`). Distinguishes "nothing listening" from
 * "something else listening" so a caller can explain a port conflict.
 */
export async function probeTemporal(address: string, timeoutMs = 3_000): Promise<'temporal' | 'other' | 'closed'> {
  const { host, port } = splitAddress(address);
  if (!(await acceptsTcp(host, port, timeoutMs))) return 'closed';
  let connection: Connection | undefined;
  try {
    const c = (connection = await Connection.connect({ address, connectTimeout: timeoutMs }));
    await c.withDeadline(Date.now() + timeoutMs, () => c.workflowService.getSystemInfo({}));
    return 'temporal';
  } catch {
    return 'other';
  } finally {
    await connection?.close();
  }
}

interface WaitOptions {
  address: string;
  ip: string;
  port: number;
  namespace: string;
  timeoutMs: number;
  signal: AbortSignal;
}

/**
 * The port opens before the frontend is fully wired, and the CLI registers namespaces and search attributes
 * after the server starts: only when all of those are visible can workers and tests rely on the server.
 */
async function waitUntilServing({ address, ip, port, namespace, timeoutMs, signal }: WaitOptions): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const expected = Object.keys(SEARCH_ATTRIBUTE_DEFINITIONS);
  let lastError: unknown;
  while (Date.now() < deadline && !signal.aborted) {
    if (await acceptsTcp(ip, port, 1_000)) {
      let connection: Connection | undefined;
      try {
        connection = await Connection.connect({ address, connectTimeout: 2_000 });
        const c = connection;
        await c.withDeadline(Date.now() + 2_000, async () => {
          await c.workflowService.getSystemInfo({});
          await c.workflowService.describeNamespace({ namespace });
          const { customAttributes } = await c.operatorService.listSearchAttributes({ namespace });
          const missing = expected.filter((name) => !customAttributes?.[name]);
          if (missing.length > 0) throw new Error(`search attributes not registered yet: ${missing.join(', ')}`);
        });
        return;
      } catch (error) {
        lastError = error;
      } finally {
        await connection?.close();
      }
    }
    await sleep(PROBE_INTERVAL_MS);
  }
  const reason = lastError instanceof Error ? `: ${lastError.message}` : ' (the port never opened)';
  throw new Error(`The Temporal dev server did not answer at ${address} within ${timeoutMs / 1000} s${reason}`);
}

async function stopChild(child: ChildProcess, exited: Promise<string>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const graceful = await Promise.race([
    exited.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), STOP_GRACE_MS))),
  ]);
  clearTimeout(timer);
  if (!graceful) {
    child.kill('SIGKILL');
    await exited;
  }
  // Anything the server left running would keep the pipes, and with them this process, alive.
  child.stdout?.destroy();
  child.stderr?.destroy();
}

function acceptsTcp(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function splitAddress(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (!match?.[1] || !match[2]) throw new Error(`Expected host:port, got ${address}`);
  return { host: match[1], port: Number(match[2]) };
}

function hostForUrl(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
