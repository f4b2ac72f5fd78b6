import { WORKFLOW_TYPES } from '../../contracts/index.js';
import * as workflows from '../../workflows/index.js';

/** The worker registers what `workflows/index.ts` (WORKFLOWS_PATH) exports, each under its export name. */
describe('the workflow types table', () => {
  it('names every workflow the bundle exports, and the bundle exports every workflow it names', () => {
    expect(Object.keys(workflows).sort()).toEqual(Object.values(WORKFLOW_TYPES).sort());
  });

  it('names each workflow as its key, so a client starting WORKFLOW_TYPES.x runs the function x', () => {
    expect(Object.entries(WORKFLOW_TYPES).filter(([key, type]) => key !== type)).toEqual([]);
  });

  it('names child workflows by their function, as executeChild does', () => {
    expect(workflows.profileShard.name).toBe(WORKFLOW_TYPES.profileShard);
  });
});
