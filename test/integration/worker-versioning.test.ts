/**
 * Worker Deployment Versioning (WORKER_DEPLOYMENT_NAME): a versioned worker takes sagas once its version is
 * the deployment's current one, and each saga runs with the behaviour workflows/index.ts gives it.
 */
import { randomUUID } from 'node:crypto';
import proto from '@temporalio/proto';
import { startEidDeviceSwap } from '../../client/index.js';
import { buildIdOf } from '../../workers/worker.js';
import { seedSwapPair, startSystem, swapRequest, waitFor, type TestSystem } from './harness.js';

const deployment = { name: `euicc-it-${randomUUID().slice(0, 8)}`, buildId: buildIdOf('0.1.0+test') };
let system: TestSystem;

beforeAll(async () => {
  system = await startSystem({ deployment });
});

afterAll(async () => {
  await system?.stop();
});

describe('worker deployment versioning', () => {
  it('derives a build id from the package version and the commit, unless one is given', () => {
    expect(buildIdOf('1.2.3+abc')).toBe('1.2.3+abc');
    expect(buildIdOf()).toMatch(/^\d+\.\d+\.\d+(\+[0-9a-f]{4,})?$/);
  });

  it('runs a swap on the current version, auto-upgrading (it can be held for days)', async () => {
    const service = system.client.workflowService;
    // The server learns the version from the worker's polls; an operator then makes it current.
    await waitFor(async () => {
      try {
        const { workerDeploymentInfo } = await service.describeWorkerDeployment({
          namespace: 'default',
          deploymentName: deployment.name,
        });
        return (workerDeploymentInfo?.versionSummaries ?? []).some(
          (v) => v.deploymentVersion?.buildId === deployment.buildId,
        );
      } catch {
        return false;
      }
    });
    await service.setWorkerDeploymentCurrentVersion({
      namespace: 'default',
      deploymentName: deployment.name,
      buildId: deployment.buildId,
      identity: 'worker-versioning.test',
    });

    const pair = await seedSwapPair(system);
    const handle = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    await handle.result();
    const { raw } = await handle.describe();
    const versioning = raw.workflowExecutionInfo?.versioningInfo;
    expect(versioning?.behavior).toBe(proto.temporal.api.enums.v1.VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE);
    expect(versioning?.deploymentVersion).toMatchObject({
      deploymentName: deployment.name,
      buildId: deployment.buildId,
    });
  });
});
