/**
 * The daily retention purge as a Temporal Schedule (`euicc-retention`), created or updated by each worker
 * at start, so RETENTION_DAYS takes effect with the next deploy. RETENTION_DAYS=0 deletes the schedule.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { WORKFLOW_TYPES } from '../contracts/index.js';

export const RETENTION_SCHEDULE_ID = 'euicc-retention';

export async function ensureRetentionSchedule(
  client: Client,
  { taskQueue, days, logger }: { taskQueue: string; days: number; logger: Logger },
): Promise<void> {
  const handle = client.schedule.getHandle(RETENTION_SCHEDULE_ID);
  if (days === 0) {
    await handle.delete().catch((err: unknown) => {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    });
    logger.info('Retention purge off (RETENTION_DAYS=0)');
    return;
  }
  const action = {
    type: 'startWorkflow' as const,
    workflowType: WORKFLOW_TYPES.retentionPurge,
    workflowId: 'euicc-retention-purge',
    taskQueue,
    args: [{ olderThanDays: days }],
  };
  try {
    await client.schedule.create({
      scheduleId: RETENTION_SCHEDULE_ID,
      spec: { intervals: [{ every: '1 day' }] },
      action,
      policies: { overlap: 'SKIP' },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await handle.update((previous) => ({ ...previous, action }));
  }
  logger.info({ days }, 'Retention purge scheduled daily');
}
