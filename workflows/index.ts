/** Every workflow the worker registers. Only deterministic code may be imported from here. */
import type { VersioningBehavior } from '@temporalio/common';
import { setWorkflowOptions, workflowInfo } from '@temporalio/workflow';
import { activateDeviceProfiles, changeProfileServicePlan } from './bulk.js';
import { changeDeviceIdentifier } from './change-device-identifier.js';
import { eidDeviceSwap } from './eid-device-swap.js';
import { profileShard } from './profile-shard.js';
import { retentionPurge } from './retention.js';

export {
  activateDeviceProfiles,
  changeDeviceIdentifier,
  changeProfileServicePlan,
  eidDeviceSwap,
  profileShard,
  retentionPurge,
};

/**
 * How each saga moves across worker deployments when Worker Deployment Versioning is on
 * (WORKER_DEPLOYMENT_NAME; docs/operating.md, Upgrades). The sagas can be held for days waiting for a
 * person: they move to the new version at their next workflow task (AUTO_UPGRADE), which is safe because
 * every change to their commands goes behind `patched()`. A shard lives at most its step timeout and is
 * never held: it finishes on the version that started it (PINNED). An unversioned worker must not name
 * a behaviour (the server refuses the task), hence the getter.
 */
const behaviour = (versioningBehavior: VersioningBehavior) => () =>
  workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior } : {};
const sagas: ((request: never) => Promise<unknown>)[] = [
  eidDeviceSwap,
  changeDeviceIdentifier,
  changeProfileServicePlan,
  activateDeviceProfiles,
];
for (const saga of sagas) setWorkflowOptions(behaviour('AUTO_UPGRADE'), saga);
setWorkflowOptions(behaviour('PINNED'), profileShard);
setWorkflowOptions(behaviour('PINNED'), retentionPurge);
