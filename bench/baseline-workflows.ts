/**
 * The benchmark's baselines: bare workflows of the sagas' shape, with none of their logic. Bundled on their
 * own for the bench's baseline worker (task queue `bench-baseline`); the product's worker never loads them.
 */
import {
  condition,
  defineQuery,
  defineSignal,
  executeChild,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { BaselineActivities } from './baseline-activities.js';

const { bareSubmit } = proxyActivities<BaselineActivities>({ startToCloseTimeout: '30 seconds' });

/** A callback applied: when it was posted (by the bare endpoint's sender) and when the workflow applied it. */
export interface AppliedSignal {
  postedAt: number;
  appliedAt: number;
}

export const stepSignal = defineSignal<[{ postedAt: number }]>('step');
export const appliedQuery = defineQuery<AppliedSignal[]>('applied');

/** Waits for `count` step signals, recording each one's post and apply times (workflow time). */
async function awaitSteps(count: number): Promise<AppliedSignal[]> {
  const applied: AppliedSignal[] = [];
  setHandler(stepSignal, ({ postedAt }) => void applied.push({ postedAt, appliedAt: Date.now() }));
  setHandler(appliedQuery, () => applied);
  await condition(() => applied.length >= count);
  return applied;
}

/** The swap's shape: one activity POSTing a request, then three callbacks as signals. */
export async function baselineSwap(): Promise<AppliedSignal[]> {
  const steps = awaitSteps(3);
  await bareSubmit({ callbacks: 3 });
  return steps;
}

/** A bulk shard's shape: one POST for its devices, then one callback (signal) per device. */
export async function baselineShard(devices: number): Promise<number> {
  const steps = awaitSteps(devices);
  await bareSubmit({ callbacks: devices });
  return (await steps).length;
}

/** The bulk operation's shape: its devices in shards, `concurrency` shards at a time as child workflows. */
export async function baselineBulk(devices: number, shardSize: number, concurrency: number): Promise<number> {
  const shards: number[] = [];
  for (let left = devices; left > 0; left -= shardSize) shards.push(Math.min(shardSize, left));
  let next = 0;
  let done = 0;
  const lane = async (): Promise<void> => {
    while (next < shards.length) {
      const n = next++;
      done += await executeChild(baselineShard, {
        args: [shards[n] ?? 0],
        workflowId: `${workflowInfo().workflowId}/s${n}`,
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, shards.length) }, lane));
  return done;
}
