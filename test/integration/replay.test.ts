/**
 * Recorded histories of real sagas must replay on the current workflow code: a change that would make
 * running sagas fail with a non-determinism error fails here first. Record a new one with
 * `temporal workflow show -w <id> [-r <run>] -o json > test/histories/<name>.json`.
 */
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import { WORKFLOWS_PATH } from '../../workers/worker.js';

const dir = new URL('../histories/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
let bundle: Awaited<ReturnType<typeof bundleWorkflowCode>>;

beforeAll(async () => {
  bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
});

describe('recorded saga histories', () => {
  it('include a completed swap, a failed step, an unknown submit outcome and held sagas', () => {
    expect(files.sort()).toEqual(
      expect.arrayContaining([
        'eid-device-swap-completed.json',
        'eid-device-swap-hold-compensate.json',
        'eid-device-swap-hold-retry-abandon.json',
        'eid-device-swap-outcome-unknown.json',
        'eid-device-swap-step-failed.json',
      ]),
    );
  });

  it.each(files)('%s replays on the current workflow code without non-determinism', async (file) => {
    const history: unknown = JSON.parse(readFileSync(new URL(file, dir), 'utf8'));
    await expect(
      Worker.runReplayHistory({ workflowBundle: bundle, replayName: file }, history, `replay-${file}`),
    ).resolves.toBeUndefined();
  });
});
