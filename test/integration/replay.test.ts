/**
 * Recorded histories of real sagas must replay on the current workflow code: a change that would make
 * running sagas fail with a non-determinism error fails here first. Record a new one with
 * `temporal workflow show -w <id> [-r <run>] -o json > test/histories/<name>.json`; for a saga that
 * starts child workflows, also write its workflow id to `test/histories/<name>.workflow-id`.
 */
import { Resource } from '@opentelemetry/resources';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { makeWorkflowExporter } from '@temporalio/interceptors-opentelemetry';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { OTEL_WORKFLOW_INTERCEPTORS_PATH } from '../../telemetry/tracing.js';
import { workflowInterceptorModules, WORKFLOWS_PATH } from '../../workers/worker.js';

const dir = new URL('../histories/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
let bundle: Awaited<ReturnType<typeof bundleWorkflowCode>>;
/** The sinks those interceptors call (the saga metrics' is never called during replay). */
const sinks = {
  sagaMetrics: { ended: { fn: () => undefined, callDuringReplay: false } },
  exporter: makeWorkflowExporter(new InMemorySpanExporter(), new Resource({})),
};

beforeAll(async () => {
  // With every interceptor a worker may bundle (saga metrics, tracing): they must issue no commands of their own.
  bundle = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: new DefaultLogger('WARN'),
    workflowInterceptorModules: workflowInterceptorModules([OTEL_WORKFLOW_INTERCEPTORS_PATH]),
  });
});

describe('recorded saga histories', () => {
  it('include every saga: swaps (completed, failed step, unknown submit outcome, held), identifier changes and a bulk saga with its shard', () => {
    expect(files.sort()).toEqual(
      expect.arrayContaining([
        'change-device-identifier-completed.json',
        'change-device-identifier-hold-retry.json',
        'change-profile-service-plan-hold-retry.json',
        'profile-shard-with-failure.json',
        'eid-device-swap-completed.json',
        'eid-device-swap-hold-compensate.json',
        'eid-device-swap-hold-retry-abandon.json',
        'eid-device-swap-outcome-unknown.json',
        'eid-device-swap-step-failed.json',
        // Sagas that need evidence (patch callbacks-need-evidence).
        'eid-device-swap-evidence-stray-completed.json',
        'eid-device-swap-evidence-unknown-hold-retry.json',
        'change-device-identifier-evidence-completed.json',
        'change-profile-service-plan-evidence-split.json',
        'profile-shard-evidence-split.json',
        'eid-device-swap-evidence-compensate-reversed.json',
        'eid-device-swap-evidence-hold-compensate-nothing-to-undo.json',
        'eid-device-swap-evidence-hold-timeout-retry-reconciled.json',
        'eid-device-swap-evidence-hold-retry-resubmitted.json',
        'eid-device-swap-evidence-resubmit-refused-abandon.json',
        'eid-device-swap-evidence-fail-step-failed.json',
        'eid-device-swap-evidence-stray-failure-step-failed.json',
        'eid-device-swap-evidence-invalid-request.json',
        'eid-device-swap-evidence-cancelled.json',
        'change-device-identifier-evidence-compensate-nothing-to-undo.json',
        'change-device-identifier-evidence-hold-retry.json',
        'change-device-identifier-evidence-reconciled.json',
        'change-device-identifier-evidence-lost-answer.json',
        // Patch markers callbacks-need-evidence and request-ids-search-attribute, activity summaries, static
        // summary and details; decisions through the `decide` update (accepted and completed update events).
        'eid-device-swap-v3-completed.json',
        'eid-device-swap-v3-hold-update-retry-completed.json',
        'eid-device-swap-v3-hold-update-compensate-reverse-timed-out.json',
        'eid-device-swap-v3-device-busy.json',
        'eid-device-swap-v3-submit-503-429-completed.json',
        'change-device-identifier-v3-hold-update-abandon.json',
        'change-profile-service-plan-v3-hold-update-retry.json',
        'profile-shard-v3-change-plan-with-failures.json',
        'activate-device-profiles-v3-warnings-429.json',
        'profile-shard-v3-activate-429.json',
        'change-profile-service-plan-v3-cancelled.json',
        'profile-shard-v3-cancelled.json',
        // The light saga (patch light-saga): the store's calls as local activities, one upsert per phase.
        'eid-device-swap-light-completed.json',
        'eid-device-swap-light-hold-decide-retry.json',
        'eid-device-swap-light-compensated.json',
        'change-device-identifier-light-completed.json',
        // Bulk operations in the store (patch stored-devices): the coordinator, a run continued as new, a shard.
        'change-profile-service-plan-stored-inline-hold-retry.json',
        'change-profile-service-plan-stored-continued-first-run.json',
        'change-profile-service-plan-stored-continued-last-run.json',
        'profile-shard-stored-with-failure.json',
        'activate-device-profiles-stored-inline.json',
        'retention-purge.json',
      ]),
    );
  });

  it.each(files)('%s replays on the current workflow code without non-determinism', async (file) => {
    const history: unknown = JSON.parse(readFileSync(new URL(file, dir), 'utf8'));
    // A saga with child workflows derives their ids from its own: such a history comes with its workflow id.
    const idFile = new URL(file.replace(/\.json$/, '.workflow-id'), dir);
    const workflowId = existsSync(idFile) ? readFileSync(idFile, 'utf8').trim() : `replay-${file}`;
    await expect(
      Worker.runReplayHistory({ workflowBundle: bundle, replayName: file, sinks }, history, workflowId),
    ).resolves.toBeUndefined();
  });
});
