/**
 * Fleet scale: a bulk operation above the old 15,000-device limit of a workflow input, its devices in the
 * operation store. Exact accounting against the simulator's truth, and bounded histories: the
 * coordinator continues as new, no run of it passes 2,000 events and no shard 10,240.
 */
import { randomUUID } from 'node:crypto';
import {
  WORKFLOW_TYPES,
  workflowIds,
  type BulkSummary,
  type ProfileDevice,
  type StoredBulkRequest,
  type ChangeProfileServicePlanRequest,
} from '../../contracts/index.js';
import { devicesDigest } from '../../activities/operations.js';
import type { DeviceResult } from '../../store/index.js';
import { ACCOUNT, requestLogLength, startSystem, type TestSystem } from './harness.js';

let system: TestSystem;

beforeAll(async () => {
  system = await startSystem();
});

afterAll(async () => {
  await system?.stop();
});

interface Generated {
  eid: string;
  iccid: string;
}

async function generate(count: number, prefix: string, state = 'active'): Promise<Generated[]> {
  const { devices } = await system.sim<{ devices: Generated[] }>('POST', '/__sim/devices/generate', {
    accountName: ACCOUNT,
    count,
    state,
    servicePlan: 'M2M_4G',
    withEid: true,
    prefix,
  });
  return devices;
}

/** Stores the devices under the operation id, as the client does for a file. */
async function storeDevices(operationId: string, devices: ProfileDevice[]): Promise<void> {
  await system.operations.createOperation({
    operationId,
    operation: 'changeProfileServicePlan',
    accountName: ACCOUNT,
    digest: 'fleet-test',
  });
  for (let from = 0; from < devices.length; from += 5_000) {
    await system.operations.appendDevices(
      operationId,
      devices.slice(from, from + 5_000).map((device, i) => ({ position: from + i, device })),
    );
  }
  await system.operations.sealOperation(operationId, devices.length, devicesDigest(devices));
}

async function allResults(operationId: string): Promise<DeviceResult[]> {
  const rows: DeviceResult[] = [];
  for (let after = -1; ;) {
    const page = await system.operations.readResults(operationId, { after, limit: 5_000 });
    if (page.length === 0) return rows;
    rows.push(...page);
    after = (page[page.length - 1] as DeviceResult).position;
  }
}

async function historyLength(workflowId: string, runId?: string): Promise<number> {
  const history = await system.client.workflow.getHandle(workflowId, runId).fetchHistory();
  return history.events?.length ?? 0;
}

describe('a bulk operation with its devices in the store', () => {
  it('changes 20,000 plans with exact per-device accounting and bounded histories', async () => {
    await system.sim('POST', '/__sim/faults', {
      clear: true,
      callbacks: { duplicate: 0.05, order: 'random' },
      profiles: { failRate: 0.01 },
    });
    const seeded = await generate(20_000, '9');
    const devices: ProfileDevice[] = seeded.map((d) => ({
      deviceIds: [
        { kind: 'eid', id: d.eid },
        { kind: 'iccid', id: d.iccid },
      ],
    }));
    const workflowId = workflowIds.bulk(WORKFLOW_TYPES.changeProfileServicePlan, ACCOUNT, randomUUID());
    await storeDevices(workflowId, devices);
    const request: StoredBulkRequest<ChangeProfileServicePlanRequest> = {
      accountName: ACCOUNT,
      servicePlan: 'M2M_5G_PLUS',
      deviceSet: { operationId: workflowId, count: devices.length },
      // 80 shards: more than one run of the coordinator.
      options: { failurePolicy: 'fail', stepTimeout: '2 minutes', shardSize: 250, shardConcurrency: 8 },
    };
    const handle = await system.client.workflow.start(WORKFLOW_TYPES.changeProfileServicePlan, {
      taskQueue: system.taskQueue,
      workflowId,
      args: [request],
    });
    const summary = (await handle.result()) as BulkSummary;

    // Exact accounting: every device once, in exactly one outcome, each as the simulator's truth says.
    const results = await allResults(workflowId);
    expect(results.map((r) => r.position)).toEqual(devices.map((_, i) => i));
    const listed = await system.sim<{ eid?: string; servicePlan: string }[]>('GET', '/__sim/devices');
    const planOf = new Map(listed.flatMap((d) => (d.eid ? [[d.eid, d.servicePlan] as const] : [])));
    const tally = { succeeded: 0, failed: 0, noAnswer: 0 };
    for (const row of results) {
      expect(['succeeded', 'failed', 'noAnswer']).toContain(row.state);
      tally[row.state as keyof typeof tally] += 1;
      const eid = (row.device.deviceIds[0] as { id: string }).id;
      expect(planOf.get(eid) === 'M2M_5G_PLUS').toBe(row.state === 'succeeded');
      if (row.state === 'failed') expect(row.code).toBeTruthy();
    }
    expect(tally.failed).toBeGreaterThan(0);
    expect(summary).toMatchObject({
      operation: 'changeProfileServicePlan',
      operationId: workflowId,
      counts: { total: 20_000, ...tally, pending: 0 },
      resubmissions: 0,
    });
    expect(summary.requests).toBeGreaterThanOrEqual(80);

    // Bounded histories: the coordinator continued as new; no run of it, and no shard, grows with the devices.
    const runs = [];
    for await (const run of system.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) runs.push(run);
    expect(runs.length).toBe(summary.runs);
    expect(summary.runs).toBeGreaterThanOrEqual(2);
    for (const run of runs) expect(await historyLength(workflowId, run.runId)).toBeLessThan(2_000);
    const shards = [];
    for await (const shard of system.client.workflow.list({ query: `WorkflowId STARTS_WITH "${workflowId}/"` })) {
      shards.push(shard);
    }
    expect(shards).toHaveLength(80);
    expect(new Set(shards.map((s) => s.workflowId)).size).toBe(80);
    let largest = 0;
    for (const shard of shards) largest = Math.max(largest, await historyLength(shard.workflowId));
    expect(largest).toBeLessThan(10_240);
  }, 900_000);
});

describe('a stored bulk request without its devices in the store', () => {
  it('fails as an invalid request, naming the operation', async () => {
    const workflowId = workflowIds.bulk(WORKFLOW_TYPES.changeProfileServicePlan, ACCOUNT, randomUUID());
    const handle = await system.client.workflow.start(WORKFLOW_TYPES.changeProfileServicePlan, {
      taskQueue: system.taskQueue,
      workflowId,
      args: [{ accountName: ACCOUNT, servicePlan: 'M2M_5G_PLUS', deviceSet: { operationId: workflowId, count: 3 } }],
    });
    const failure = await handle.result().then(
      () => undefined,
      (err: unknown) => (err as { cause?: { type?: string; message?: string } }).cause,
    );
    expect(failure).toMatchObject({
      type: 'InvalidRequest',
      message: expect.stringMatching(/not in the operation store/),
    });
    expect(await handle.query('status')).toMatchObject({ phase: 'failed' });
  });
});

describe('the account-wide activation rate limit', () => {
  it('spaces the activations of two concurrent operations on one account by 600 ms', async () => {
    await system.sim('POST', '/__sim/faults', { clear: true });
    const since = await requestLogLength(system);
    const start = async (prefix: string) => {
      const seeded = await generate(6, prefix, 'pre-active');
      const workflowId = workflowIds.bulk(WORKFLOW_TYPES.activateDeviceProfiles, ACCOUNT, randomUUID());
      return system.client.workflow.start(WORKFLOW_TYPES.activateDeviceProfiles, {
        taskQueue: system.taskQueue,
        workflowId,
        args: [
          {
            accountName: ACCOUNT,
            devices: seeded.map((d) => ({
              deviceIds: [
                { kind: 'eid', id: d.eid },
                { kind: 'iccid', id: d.iccid },
              ],
            })),
            servicePlan: 'M2M_4G',
            // One device per request, four requests at once in each operation: 12 requests racing.
            options: { failurePolicy: 'fail', stepTimeout: '1 minute', shardSize: 1, shardConcurrency: 4 },
          },
        ],
      });
    };
    const handles = await Promise.all([start('81'), start('82')]);
    await Promise.all(handles.map((h) => h.result()));

    const log = await system.sim<{ operation: string; status: number; at: string }[]>('GET', '/__sim/requests');
    const activations = log.slice(since).filter((r) => r.operation === 'activateDeviceProfiles');
    expect(activations).toHaveLength(12);
    expect(activations.filter((r) => r.status === 429)).toEqual([]);
    const times = activations.map((r) => Date.parse(r.at)).sort((a, b) => a - b);
    // Slots are 600 ms apart: any n + 1 requests span at least n slots. A request may leave later than its
    // slot on a loaded machine (up to a second allowed), never before. Unpaced, the 12 would leave in bursts of
    // four, which no slack of a second lets through.
    let tightest = Infinity;
    for (let i = 0; i < times.length; i += 1) {
      for (let j = i + 1; j < times.length; j += 1) {
        tightest = Math.min(tightest, (times[j] as number) - (times[i] as number) - (j - i) * 600);
      }
    }
    expect(tightest).toBeGreaterThanOrEqual(-1_000);
    expect((times[times.length - 1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(11 * 600 - 400);
  });
});
