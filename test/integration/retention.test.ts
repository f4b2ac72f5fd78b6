/**
 * The retention purge as the worker schedules it: the Schedule `euicc-retention` created, updated with a
 * new RETENTION_DAYS and deleted with 0; a triggered run deletes what is past retention and logs the counts.
 */
import pino from 'pino';
import { WORKFLOW_TYPES, type RetentionPurge } from '../../contracts/index.js';
import { ensureRetentionSchedule, RETENTION_SCHEDULE_ID } from '../../workers/retention.js';
import { startSystem, waitFor, type TestSystem } from './harness.js';

let system: TestSystem;
const logger = pino({ level: 'silent' });

beforeAll(async () => {
  system = await startSystem();
});

afterAll(async () => {
  await system?.stop();
});

describe('the retention schedule', () => {
  it('is created, updated and deleted by RETENTION_DAYS, and its run purges what is past retention', async () => {
    const { client, taskQueue } = system;
    const handle = client.schedule.getHandle(RETENTION_SCHEDULE_ID);
    await ensureRetentionSchedule(client, { taskQueue, days: 30, logger });
    let described = await handle.describe();
    expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: WORKFLOW_TYPES.retentionPurge });
    expect(described.spec.intervals).toEqual([expect.objectContaining({ every: 86_400_000 })]);

    // A second worker with another setting updates it rather than failing.
    await ensureRetentionSchedule(client, { taskQueue, days: 0.000_01, logger });
    described = await handle.describe();
    expect((described.action as { args?: unknown[] }).args).toEqual([{ olderThanDays: 0.000_01 }]);

    // A closed operation and a delivered callback, both older than the cut-off (under a second).
    const operationId = `retention-${Date.now()}`;
    await system.operations.createOperation({
      operationId,
      operation: 'changeProfileServicePlan',
      accountName: 'a',
      digest: 'd',
    });
    await system.operations.appendDevices(operationId, [
      { position: 0, device: { deviceIds: [{ kind: 'eid', id: '1' }] } },
    ]);
    await system.operations.sealOperation(operationId, 1, 'x');
    await system.operations.closeOperation(operationId);
    await new Promise((r) => setTimeout(r, 1_500));

    await handle.trigger();
    let purged: RetentionPurge | undefined;
    await waitFor(async () => {
      for await (const run of client.workflow.list({ query: `WorkflowType = "${WORKFLOW_TYPES.retentionPurge}"` })) {
        if (run.status.name === 'COMPLETED')
          purged = await client.workflow.getHandle(run.workflowId, run.runId).result();
      }
      return purged !== undefined;
    });
    expect(purged?.operations).toBeGreaterThanOrEqual(1);
    expect(purged?.devices).toBeGreaterThanOrEqual(1);
    expect(await system.operations.getOperation(operationId)).toBeUndefined();

    await ensureRetentionSchedule(client, { taskQueue, days: 0, logger });
    await expect(handle.describe()).rejects.toThrow();
  });
});
