/**
 * `npx euicc <command>`: the ops CLI over the callback gateway's operator API (GATEWAY_URL, OPERATOR_TOKEN).
 * It lists parked, dead-letter and orphaned callbacks, shows one, replays one, and prints the inbox counters.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cliSchema, ConfigError, parseConfig } from '../config/index.js';

export const USAGE = `Usage: euicc <command> [options]

Commands:
  callbacks [--state <state>] [--limit <n>]   list callbacks in the gateway's inbox (default: parked, 100)
                                              state: parked, deadLetter, orphaned, pending, delivered
  callback <id>                               one callback with its body, as JSON
  replay <id>                                 put a parked, dead-letter or orphaned callback back to pending,
                                              so the gateway correlates and signals it again
  counts                                      the inbox counters

Environment:
  GATEWAY_URL      the gateway's internal port (default http://127.0.0.1:3001)
  OPERATOR_TOKEN   the gateway's OPERATOR_TOKEN (required by every command)

Exit status: 0 done, 1 the gateway refused or could not be reached, 2 usage error.
`;

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  fetch?: typeof fetch;
}

interface CallbackSummary {
  id: number;
  service: string;
  state: string;
  receivedAt: string;
  deliveries: number;
  workflowId?: string;
  reason?: string;
  requestId?: string;
  deviceIds: { kind: string; id: string }[];
}

// Longer than any inbox query takes; a hung connection must not hang a shell script.
const TIMEOUT_MS = 15_000;
const DEVICES_SHOWN = 2;

/** A refusal or failure to print as one line on stderr. */
class CliFailure extends Error {
  override name = 'CliFailure';
}

class UsageError extends Error {
  override name = 'UsageError';
}

type Command =
  | { name: 'help' }
  | { name: 'callbacks'; state?: string; limit?: string }
  | { name: 'callback' | 'replay'; id: string }
  | { name: 'counts' };

const COMMANDS = ['callbacks', 'callback', 'replay', 'counts'] as const;

function parseCommand(argv: string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { state: { type: 'string' }, limit: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const [name, ...rest] = positionals;
  if (values.help || name === 'help') return { name: 'help' };
  if (name === undefined) throw new UsageError('No command given');
  const arity = (count: number) => {
    if (rest.length !== count) throw new UsageError(`${name} takes ${count === 0 ? 'no arguments' : 'one <id>'}`);
  };
  if (!COMMANDS.some((command) => command === name)) throw new UsageError(`Unknown command: ${name}`);
  if (name !== 'callbacks' && (values.state !== undefined || values.limit !== undefined)) {
    throw new UsageError('--state and --limit belong to the callbacks command');
  }
  switch (name) {
    case 'callbacks':
      arity(0);
      return { name, state: values.state, limit: values.limit };
    case 'callback':
    case 'replay':
      arity(1);
      return { name, id: rest[0] as string };
    case 'counts':
      arity(0);
      return { name };
    default:
      throw new UsageError(`Unknown command: ${name}`);
  }
}

/** A fixed-width text table; the last column is not padded. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

function devices(deviceIds: CallbackSummary['deviceIds']): string {
  const shown = deviceIds.slice(0, DEVICES_SHOWN).map((d) => `${d.kind}:${d.id}`);
  const more = deviceIds.length - shown.length;
  return more > 0 ? `${shown.join(', ')} +${more} more` : shown.join(', ');
}

function callbacksTable(state: string, callbacks: CallbackSummary[]): string {
  if (callbacks.length === 0) return `No ${state} callbacks.\n`;
  return table(
    ['ID', 'STATE', 'SERVICE', 'RECEIVED', 'DELIVERIES', 'REQUEST ID', 'DEVICES', 'SAGA', 'REASON'],
    callbacks.map((c) => [
      String(c.id),
      c.state,
      c.service,
      c.receivedAt,
      String(c.deliveries),
      c.requestId ?? '-',
      devices(c.deviceIds) || '-',
      c.workflowId ?? '-',
      c.reason ?? '',
    ]),
  );
}

/** Calls the operator API; answers other than 2xx become a CliFailure with the gateway's own reason. */
async function operatorApi(
  io: CliIo,
  config: { GATEWAY_URL: string; OPERATOR_TOKEN: string },
  method: 'GET' | 'POST',
  path: string,
  query: Record<string, string> = {},
): Promise<unknown> {
  // Relative to the base with a trailing slash, so a gateway behind a path prefix keeps its prefix.
  const base = config.GATEWAY_URL.endsWith('/') ? config.GATEWAY_URL : `${config.GATEWAY_URL}/`;
  const url = new URL(`operator/${path}`, base);
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
  let response: Response;
  let text: string;
  try {
    response = await (io.fetch ?? fetch)(url, {
      method,
      headers: { authorization: `Bearer ${config.OPERATOR_TOKEN}`, accept: 'application/json' },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    text = await response.text();
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new CliFailure(`cannot reach the gateway at ${url.origin}: ${reason}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.ok && body !== undefined) return body;
  const message =
    typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string'
      ? (body as { message: string }).message
      : undefined;
  if (response.status === 401) {
    throw new CliFailure('the gateway refused the operator token (HTTP 401); check OPERATOR_TOKEN');
  }
  if (response.status === 404 && message === undefined) {
    throw new CliFailure(
      `the gateway at ${url.origin} serves no operator API (HTTP 404); is OPERATOR_TOKEN set on the gateway?`,
    );
  }
  throw new CliFailure(`${message ?? 'unexpected answer from the gateway'} (HTTP ${response.status})`);
}

/** Runs one CLI command; resolves with the process exit status. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let command: Command;
  try {
    command = parseCommand(argv);
  } catch (err) {
    io.stderr.write(`euicc: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (command.name === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  try {
    const config = parseConfig(cliSchema, io.env);
    const call = (method: 'GET' | 'POST', path: string, query?: Record<string, string>) =>
      operatorApi(io, config, method, path, query);
    switch (command.name) {
      case 'callbacks': {
        const query: Record<string, string> = {};
        if (command.state !== undefined) query.state = command.state;
        if (command.limit !== undefined) query.limit = command.limit;
        const listing = (await call('GET', 'callbacks', query)) as { state: string; callbacks: CallbackSummary[] };
        io.stdout.write(callbacksTable(listing.state, listing.callbacks));
        break;
      }
      case 'callback':
        io.stdout.write(
          `${JSON.stringify(await call('GET', `callbacks/${encodeURIComponent(command.id)}`), null, 2)}\n`,
        );
        break;
      case 'replay': {
        const replayed = (await call('POST', `callbacks/${encodeURIComponent(command.id)}/replay`)) as { id: number };
        io.stdout.write(`Callback ${replayed.id} is pending again; the gateway will correlate and signal it.\n`);
        break;
      }
      case 'counts': {
        const counts = Object.entries((await call('GET', 'counts')) as Record<string, number>);
        io.stdout.write(
          table(
            ['COUNTER', 'VALUE'],
            counts.map(([name, value]) => [name, String(value)]),
          ),
        );
        break;
      }
    }
    return 0;
  } catch (err) {
    if (err instanceof CliFailure || err instanceof ConfigError) {
      io.stderr.write(`euicc: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

// `npm run euicc` runs this file directly; bin/euicc.js imports it and calls runCli itself.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await runCli(process.argv.slice(2), {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
  });
}
