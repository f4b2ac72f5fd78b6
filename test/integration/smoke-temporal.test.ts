import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../../contracts/names.js';
import { connectTestClient, TEST_NAMESPACE, type TestClient } from './temporal-env.js';

/** Wire values of `temporal.api.enums.v1.IndexedValueType` for the types the project uses. */
const INDEXED_VALUE_TYPE = { Keyword: 2, KeywordList: 7 } as const;

describe('the shared Temporal dev server', () => {
  let temporal: TestClient;

  beforeAll(async () => {
    temporal = await connectTestClient();
  });

  afterAll(async () => {
    await temporal.connection.close();
  });

  test('answers gRPC calls', async () => {
    const info = await temporal.client.workflowService.getSystemInfo({});
    expect(info.serverVersion).toMatch(/^\d+\.\d+\.\d+/);
  });

  test('has the project search attributes registered with their types, so sagas can set them', async () => {
    const { customAttributes } = await temporal.connection.operatorService.listSearchAttributes({
      namespace: TEST_NAMESPACE,
    });
    const expected = Object.fromEntries(
      Object.entries(SEARCH_ATTRIBUTE_DEFINITIONS).map(([name, type]) => [name, INDEXED_VALUE_TYPE[type]]),
    );
    expect(customAttributes).toEqual(expect.objectContaining(expected));
  });
});
