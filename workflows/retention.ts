/**
 * The retention purge, run daily by the Temporal Schedule `euicc-retention` (workers/retention.ts):
 * delivered callbacks and tombstones of the inbox, and the device outcomes of closed bulk operations,
 * older than the retention period. Workflow code: deterministic, no I/O.
 */
import { log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { RetentionPurge } from '../contracts/index.js';

const { purgeExpired } = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  retry: { initialInterval: '10 seconds', maximumInterval: '5 minutes', maximumAttempts: 10 },
});

export async function retentionPurge(input: { olderThanDays: number }): Promise<RetentionPurge> {
  const purged = await purgeExpired({ olderThanMs: input.olderThanDays * 24 * 3_600_000 });
  log.info('Retention purge done', { olderThanDays: input.olderThanDays, ...purged });
  return purged;
}
