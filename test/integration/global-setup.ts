/**
 * One Temporal dev server for the whole integration run (DESIGN.md §3): real server, in memory, on free ports,
 * with the project's search attributes. Test files reach it through `temporal-env.ts`.
 *
 * Set TEMPORAL_TEST_ADDRESS to run the integration tests against a server that is already running instead.
 */
import type * as DevServerModule from '../../scripts/lib/dev-server.js';
import type { DevServer } from '../../scripts/lib/dev-server.js';
import type * as TemporalCliModule from '../../scripts/lib/temporal-cli.js';

declare global {
  /** The server this setup started, for the global teardown (both run in jest's parent process). */
  var euiccTemporalTestServer: DevServer | undefined;
}

/** Read by `temporal-env.ts` in the test files. */
const ADDRESS_VARIABLE = 'TEMPORAL_TEST_ADDRESS';

export default async function globalSetup(): Promise<void> {
  if (process.env[ADDRESS_VARIABLE]) {
    log(`Using the Temporal server at ${process.env[ADDRESS_VARIABLE]} (${ADDRESS_VARIABLE})`);
    return;
  }

  // Jest loads this file outside its module system, where `.js` specifiers do not resolve to the `.ts`
  // sources (so this file has no relative runtime imports); tsx compiles them, scoped to these two imports.
  const { tsImport } = await import('tsx/esm/api');
  const { resolveTemporalCli } = (await tsImport(
    '../../scripts/lib/temporal-cli.ts',
    import.meta.url,
  )) as typeof TemporalCliModule;
  const { findFreePort, startDevServer } = (await tsImport(
    '../../scripts/lib/dev-server.ts',
    import.meta.url,
  )) as typeof DevServerModule;

  const cliPath = await resolveTemporalCli({ env: process.env, log });
  const server = await startDevServer({
    cliPath,
    port: await findFreePort(),
    dbFile: null,
    headless: true,
    // The server's own warnings (a dial error while it starts, poll errors while it stops) are noise in a
    // test run; a failed start still reports the server's last output.
    log: (msg) => {
      if (!msg.startsWith('[temporal]')) log(msg);
    },
  });
  // Workers inherit the parent's environment, and --runInBand runs the tests in this process.
  process.env[ADDRESS_VARIABLE] = server.address;
  globalThis.euiccTemporalTestServer = server;
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}
