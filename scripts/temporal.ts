/**
 * `npm run temporal`: the local Temporal dev server with the project's search attributes, its data in
 * `.data/temporal.db`, the Web UI on :8233 (DESIGN.md §2, §3). Finds or builds the `temporal` CLI first.
 *
 *   npm run temporal                      run in the foreground until Ctrl-C
 *   npm run temporal -- --resolve-only    find or build the CLI, print its path, exit
 *   npm run temporal -- --port 7300 --ui-port 8300 --db-filename .data/other.db
 *
 * Environment: TEMPORAL_CLI_PATH (a `temporal` binary to use), XDG_CACHE_HOME (where a built CLI is kept).
 */
import { parseArgs } from 'node:util';

import { probeTemporal, startDevServer } from './lib/dev-server.js';
import { resolveTemporalCli } from './lib/temporal-cli.js';

interface Config {
  resolveOnly: boolean;
  port: number;
  uiPort: number;
  dbFile: string;
  /** Passed to the CLI resolver, which reads TEMPORAL_CLI_PATH, PATH, XDG_CACHE_HOME and HOME. */
  env: NodeJS.ProcessEnv;
}

function parseConfig(argv: string[], env: NodeJS.ProcessEnv): Config {
  const { values } = parseArgs({
    args: argv,
    options: {
      'resolve-only': { type: 'boolean', default: false },
      port: { type: 'string', default: '7233' },
      'ui-port': { type: 'string' },
      'db-filename': { type: 'string', default: '.data/temporal.db' },
    },
    strict: true,
  });
  const port = parsePort('--port', values.port);
  return {
    resolveOnly: values['resolve-only'],
    port,
    uiPort: values['ui-port'] === undefined ? port + 1000 : parsePort('--ui-port', values['ui-port']),
    dbFile: values['db-filename'],
    env,
  };
}

function parsePort(flag: string, value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`${flag} must be a port number, got ${value}`);
  return port;
}

/** Progress goes to stderr so `--resolve-only` prints nothing but the path on stdout. */
function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

async function main(config: Config): Promise<number> {
  const cliPath = await resolveTemporalCli({ env: config.env, log });
  if (config.resolveOnly) {
    process.stdout.write(`${cliPath}\n`);
    return 0;
  }

  const address = `127.0.0.1:${config.port}`;
  const existing = await probeTemporal(address);
  if (existing === 'temporal') {
    log(`A Temporal server is already running at ${address}; not starting a second one.`);
    return 0;
  }
  if (existing === 'other') {
    log(`Port ${config.port} is taken by something that is not a Temporal server; free it or pass --port.`);
    return 1;
  }

  const server = await startDevServer({
    cliPath,
    port: config.port,
    uiPort: config.uiPort,
    dbFile: config.dbFile,
    log,
  });
  process.stdout.write(
    [
      '',
      `Temporal server  ${server.address}`,
      `Temporal UI      ${server.uiUrl ?? '(headless)'}`,
      `Data             ${config.dbFile}`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log(`${signal}: stopping the Temporal server…`);
      server.stop().then(
        () => {
          log('Stopped.');
          resolve(0);
        },
        (error: unknown) => {
          log(`Could not stop the Temporal server cleanly: ${String(error)}`);
          resolve(1);
        },
      );
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
    server.process.once('exit', (code, signal) => {
      if (stopping) return;
      log(`The Temporal server stopped by itself (${signal ?? `exit code ${code}`}).`);
      resolve(code === 0 ? 0 : 1);
    });
  });
}

try {
  process.exitCode = await main(parseConfig(process.argv.slice(2), process.env));
} catch (error) {
  log(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
}
