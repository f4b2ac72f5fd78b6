import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../../codec/index.js';
import { bundleInThread } from '../../workers/bundle-thread.js';
import { WORKFLOWS_PATH, workflowInterceptorModules } from '../../workers/worker.js';

describe("the worker's workflow bundle, built in a thread", () => {
  it('holds the sagas, the interceptor modules and the failure converter it was asked for', async () => {
    const entries: LogEntry[] = [];
    const logger = new DefaultLogger('INFO', (entry) => entries.push(entry));
    const { code } = await bundleInThread(
      {
        workflowsPath: WORKFLOWS_PATH,
        workflowInterceptorModules: workflowInterceptorModules(),
        failureConverterPath: FAILURE_CONVERTER_PATH,
      },
      logger,
    );
    for (const name of [
      'eidDeviceSwap',
      'changeDeviceIdentifier',
      'changeProfileServicePlan',
      'activateDeviceProfiles',
    ])
      expect(code).toContain(`function ${name}(`);
    expect(code).toContain('saga-metrics-interceptor');
    expect(code).toContain('failure-converter.cjs');
    expect(entries.map((e) => e.message)).toContain('Workflow bundle created');
  }, 120_000);

  it("rejects with the bundler's error when the workflows cannot be bundled", async () => {
    const logger = new DefaultLogger('ERROR', () => undefined);
    await expect(
      bundleInThread({ workflowsPath: '/nonexistent/workflows.ts', workflowInterceptorModules: [] }, logger),
    ).rejects.toThrow(/The workflows could not be bundled: .*nonexistent/s);
  }, 120_000);
});
