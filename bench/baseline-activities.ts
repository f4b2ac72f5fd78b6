/** The baselines' one activity: POST to the bare endpoint, through `got` as the product's activities call ThingSpace. */
import { Context } from '@temporalio/activity';
import { got } from 'got';

export const BASELINE_TASK_QUEUE = 'bench-baseline';

export interface BaselineActivities {
  bareSubmit(request: { callbacks: number }): Promise<void>;
}

export function createBaselineActivities(baseUrl: string): BaselineActivities {
  return {
    async bareSubmit({ callbacks }) {
      const { workflowId } = Context.current().info.workflowExecution ?? { workflowId: '?' };
      await got.post(`${baseUrl}/submit`, { json: { workflowId, callbacks }, retry: { limit: 0 } });
    },
  };
}
