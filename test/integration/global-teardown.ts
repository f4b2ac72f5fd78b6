/** Stops the dev server that `global-setup.ts` started (none when TEMPORAL_TEST_ADDRESS named an external one). */
export default async function globalTeardown(): Promise<void> {
  const server = globalThis.euiccTemporalTestServer;
  globalThis.euiccTemporalTestServer = undefined;
  await server?.stop();
}
