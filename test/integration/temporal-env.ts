/**
 * How integration tests reach the shared Temporal dev server started by `global-setup.ts`.
 *
 * Each test file connects once (`beforeAll`) and closes in `afterAll`; tests use unique workflow ids and
 * task queues, since every file shares the one server.
 */
import { Client, Connection } from '@temporalio/client';

/** Carries the server's `host:port` from the global setup to the test files. */
const ADDRESS_VARIABLE = 'TEMPORAL_TEST_ADDRESS';
export const TEST_NAMESPACE = 'default';

/** `host:port` of the shared test server. */
export function testServerAddress(): string {
  const address = process.env[ADDRESS_VARIABLE];
  if (!address) {
    throw new Error(
      `${ADDRESS_VARIABLE} is not set: run integration tests through jest's integration project ` +
        '(npm run test:integration), whose global setup starts the Temporal server.',
    );
  }
  return address;
}

export interface TestClient {
  connection: Connection;
  client: Client;
}

/** A connection and client to the shared test server; close `connection` when the file is done. */
export async function connectTestClient(): Promise<TestClient> {
  const connection = await Connection.connect({ address: testServerAddress() });
  return { connection, client: new Client({ connection, namespace: TEST_NAMESPACE }) };
}
