/**
 * What the demo commands share: their configuration, the Temporal client, the simulator's control API,
 * and following a saga to its end with a progress line.
 */
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { dataConverterFor } from '../../codec/index.js';
import { parseConfig, payloadEncryptionKey } from '../../config/index.js';
import { temporalConnection, temporalConnectionOptions } from '../../config/temporal-connection.js';

export const config = parseConfig(
  z.object({
    TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
    TEMPORAL_NAMESPACE: z.string().default('default'),
    SIMULATOR_PORT: z.coerce.number().int().default(3100),
    THINGSPACE_ACCOUNT_NAME: z.string().default('0000123456-00001'),
    TEMPORAL_UI_URL: z.string().url().default('http://127.0.0.1:8233'),
    PAYLOAD_ENCRYPTION_KEY: payloadEncryptionKey,
    ...temporalConnection,
  }),
  process.env,
);

export const say = (line: string) => process.stdout.write(`${line}\n`);

export const simulatorUrl = `http://127.0.0.1:${config.SIMULATOR_PORT}`;

/** A call to the simulator's control API; exits with a hint when the system is not running. */
export async function sim<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${simulatorUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    say(`No simulator at ${simulatorUrl}. Start the system first: npm start`);
    process.exit(1);
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`The simulator answered ${method} ${path} with ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A device as the simulator's control API lists it. */
export interface SimDevice {
  accountName: string;
  eid?: string;
  iccid: string;
  imei: string;
  mdn?: string;
  state: string;
  servicePlan: string;
}

/** The hint printed when the simulator has no suitable device left. */
export function noDevicesLeft(what: string): never {
  // A new seed: the same seed would repeat request ids that the gateway's inbox has already seen.
  say(`The simulator has no ${what} left. Reset it with a new seed:`);
  say(
    `  curl -X POST -H 'content-type: application/json' -d '{"seed": ${Date.now() % 2_147_483_647}}' ${simulatorUrl}/__sim/reset`,
  );
  process.exit(1);
}

export async function connect(): Promise<Client> {
  return new Client({
    connection: await Connection.connect(temporalConnectionOptions(config)),
    namespace: config.TEMPORAL_NAMESPACE,
    // Encrypts the requests it starts, as the worker does, and reads the sagas' encrypted results and status.
    dataConverter: dataConverterFor(config.PAYLOAD_ENCRYPTION_KEY),
  });
}

/** A text progress bar, `[#####.....]`. */
export function bar(done: number, total: number, width = 30): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

interface Followable<S> {
  workflowId: string;
  result(): Promise<unknown>;
  status(): Promise<S>;
}

/**
 * Prints where the saga can be watched, then a progress line whenever it changes, until the saga ends.
 * A saga held for an operator decision is explained (how to send one) and the demo exits 1.
 */
export async function follow<S extends { phase: string }, R>(
  client: Client,
  handle: Followable<S> & Pick<WorkflowHandle, 'workflowId'>,
  render: (status: S) => string,
  report: (result: R) => void,
  hold: (status: S) => string | undefined,
): Promise<void> {
  say(`Saga ${handle.workflowId}`);
  say(
    `  ${config.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows/${encodeURIComponent(handle.workflowId)}`,
  );
  let last = '';
  let settled = false;
  const outcome = (handle.result() as Promise<R>).then(
    (result) => ({ ok: true as const, result }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  void outcome.then(() => (settled = true));
  // One status read at a time, each awaited, and none after the saga ended: nothing is in flight when the
  // connection closes (a read cut off by the close used to fail the demo after the saga had succeeded).
  while (!settled) {
    const s = await handle.status().catch(() => undefined);
    if (s !== undefined) {
      const now = render(s);
      if (now !== last) say(now);
      last = now;
      if (s.phase === 'awaitingDecision') {
        say(`The saga holds for an operator decision: ${hold(s) ?? ''}`);
        say(`  npx euicc decide '${handle.workflowId}' retry --operator you   # or abandon (compensate where offered)`);
        process.exit(1);
      }
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([outcome, new Promise((resolve) => (timer = setTimeout(resolve, 300)))]);
    clearTimeout(timer);
  }
  const ended = await outcome;
  if (ended.ok) {
    const final = render(await handle.status());
    if (final !== last) say(final);
    report(ended.result);
  } else {
    const cause = ended.err instanceof WorkflowFailedError ? ended.err.cause : ended.err;
    say(`The saga failed: ${(cause as Error).message}`);
    process.exitCode = 1;
  }
  await client.connection.close();
}
