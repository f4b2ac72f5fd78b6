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
  const outcome = handle.result() as Promise<R>;
  /** The status call in flight: awaited before the connection closes, so none is cut off by the close. */
  let inFlight: Promise<void> = Promise.resolve();
  const poll = setInterval(() => {
    inFlight = handle
      .status()
      .then((s) => {
        const now = render(s);
        if (now !== last) say(now);
        last = now;
        if (s.phase === 'awaitingDecision') {
          clearInterval(poll);
          say(`The saga holds for an operator decision: ${hold(s) ?? ''}`);
          say(`  temporal workflow signal --workflow-id '${handle.workflowId}' --name operatorDecision \\`);
          say(`    --input '{"decision":"retry"}'   # or "abandon" (and "compensate" where the operation has one)`);
          process.exit(1);
        }
      })
      .catch(() => undefined);
  }, 300);
  try {
    const result = await outcome;
    clearInterval(poll);
    const final = render(await handle.status());
    if (final !== last) say(final);
    report(result);
  } catch (err) {
    clearInterval(poll);
    const cause = err instanceof WorkflowFailedError ? err.cause : err;
    say(`The saga failed: ${(cause as Error).message}`);
    process.exitCode = 1;
  }
  await inFlight;
  await client.connection.close();
}
