/**
 * The fleet-scale benchmark: one changeProfileServicePlan per size, its devices in the operation store,
 * each on a fresh system (every part its own process, as in run.ts) so that each size's peak memory is its
 * own. For each: time, devices per second, peak RSS of worker, gateway and simulator, the largest history
 * (events and bytes), the store's size on disk, and exact accounting against the simulator's truth. The
 * first size is the baseline of the others: growth is linear when devices per second hold.
 *
 *   npm run bench -- --devices 10000,100000[,1000000]
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { startBulkOperation } from '../client/index.js';
import type { BulkSummary, ProfileDevice } from '../contracts/index.js';
import { openSqliteOperationStore, type DeviceResult } from '../store/index.js';
import { operationsFile } from '../config/index.js';
import { ACCOUNT } from '../test/integration/harness.js';
import { ChaosSystem } from '../test/chaos/system.js';
import { peakRssMiB } from './measure.js';

const say = (line: string): void => void process.stdout.write(`${line}\n`);
/** The simulator's profile callbacks per second during the fleet bench. */
export const CALLBACKS_PER_SECOND = 2_000;
/** The simulator generates at most this many devices per call. */
const GENERATE_BATCH = 20_000;

export interface FleetRun {
  devices: number;
  seconds: number;
  devicesPerSecond: number;
  peakRssMiB: { worker: number; gateway: number; simulator: number };
  largestHistory: { events: number; bytes: number; workflowId: string };
  coordinatorRuns: number;
  shards: number;
  storeMiB: number;
  accounting: { exact: boolean; succeeded: number; failed: number; noAnswer: number; mismatches: number };
}

/** Devices generated under one prefix (the simulator numbers them with six digits). */
const PER_PREFIX = 500_000;

async function seed(system: ChaosSystem, count: number, firstPrefix: number): Promise<ProfileDevice[]> {
  const devices: ProfileDevice[] = [];
  while (devices.length < count) {
    const batch = Math.min(GENERATE_BATCH, count - devices.length);
    const prefix = String(firstPrefix + Math.floor(devices.length / PER_PREFIX));
    const { devices: made } = await system.sim<{ devices: { eid: string; iccid: string }[] }>(
      'POST',
      '/__sim/devices/generate',
      { accountName: ACCOUNT, count: batch, state: 'active', servicePlan: 'M2M_4G', withEid: true, prefix },
    );
    for (const d of made) {
      devices.push({
        deviceIds: [
          { kind: 'eid', id: d.eid },
          { kind: 'iccid', id: d.iccid },
        ],
      });
    }
  }
  return devices;
}

async function historyShape(client: Client, workflowId: string, runId?: string) {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  return { events: history.events?.length ?? 0, bytes: JSON.stringify(history).length, workflowId };
}

function sizeOnDiskMiB(dir: string, prefix: string): number {
  let bytes = 0;
  for (const name of readdirSync(dir)) if (name.startsWith(prefix)) bytes += statSync(join(dir, name)).size;
  return bytes / 2 ** 20;
}

async function runSize(count: number, index: number): Promise<FleetRun> {
  say(`\n== fleet: changeProfileServicePlan of ${count.toLocaleString('en-US')} devices`);
  // The simulator sends at most 200 profile callbacks a second by default (ThingSpace sends them over time):
  // raised here so that the product, not the simulator's pacing, sets the rate.
  const system = await ChaosSystem.start({
    simulatorEnv: { SIM_CALLBACK_DELAY_MS: '50', SIM_CALLBACKS_PER_SECOND: String(CALLBACKS_PER_SECOND) },
  });
  const operations = openSqliteOperationStore(operationsFile({ DATA_DIR: system.dir }));
  try {
    const devices = await seed(system, count, 900 + 10 * index);
    const began = performance.now();
    const handle = await startBulkOperation(
      system.client,
      operations,
      'changeProfileServicePlan',
      { accountName: ACCOUNT, servicePlan: 'M2M_5G_PLUS' },
      devices,
      { operationId: `fleet-${count}-${Date.now()}`, failurePolicy: 'fail', stepTimeout: '30 minutes' },
    );
    let last = 0;
    const progress = setInterval(() => {
      void operations.counts(handle.workflowId).then((c) => {
        const done = c.total - c.pending;
        if (done !== last)
          say(`  ${done.toLocaleString('en-US')} of ${c.total.toLocaleString('en-US')} devices answered`);
        last = done;
      });
    }, 15_000);
    const summary = (await handle.result().finally(() => clearInterval(progress))) as BulkSummary;
    const seconds = (performance.now() - began) / 1000;

    // Exact accounting: every device in exactly one outcome, as the simulator's truth says.
    const planOf = new Map<string, string>();
    for (let after = 0; ;) {
      const page = await system.sim<{ deviceNumber: number; eid?: string; servicePlan: string }[]>(
        'GET',
        `/__sim/devices?after=${after}&limit=20000`,
      );
      if (page.length === 0) break;
      for (const d of page) if (d.eid) planOf.set(d.eid, d.servicePlan);
      after = (page[page.length - 1] as { deviceNumber: number }).deviceNumber;
    }
    const tally = { succeeded: 0, failed: 0, noAnswer: 0 };
    let mismatches = 0;
    let expected = 0;
    for (let after = -1; ;) {
      const page: DeviceResult[] = await operations.readResults(handle.workflowId, { after, limit: 10_000 });
      if (page.length === 0) break;
      for (const row of page) {
        if (row.position !== expected++) mismatches += 1;
        if (row.state in tally) tally[row.state as keyof typeof tally] += 1;
        else mismatches += 1;
        const eid = row.device.deviceIds[0]?.id ?? '';
        if ((planOf.get(eid) === 'M2M_5G_PLUS') !== (row.state === 'succeeded')) mismatches += 1;
      }
      after = (page[page.length - 1] as DeviceResult).position;
    }
    const countsAgree =
      summary.counts.succeeded === tally.succeeded &&
      summary.counts.failed === tally.failed &&
      summary.counts.noAnswer === tally.noAnswer;

    const shapes = [];
    for await (const run of system.client.workflow.list({ query: `WorkflowId = "${handle.workflowId}"` })) {
      shapes.push(await historyShape(system.client, run.workflowId, run.runId));
    }
    const coordinatorRuns = shapes.length;
    for await (const shard of system.client.workflow.list({
      query: `WorkflowId STARTS_WITH "${handle.workflowId}/"`,
    })) {
      shapes.push(await historyShape(system.client, shard.workflowId));
    }
    const largest = shapes.reduce((a, b) => (b.events > a.events ? b : a));
    const rss = (name: 'worker' | 'gateway' | 'simulator') => peakRssMiB(system.part(name)?.child.pid);
    const run: FleetRun = {
      devices: count,
      seconds,
      devicesPerSecond: count / seconds,
      peakRssMiB: { worker: rss('worker'), gateway: rss('gateway'), simulator: rss('simulator') },
      largestHistory: largest,
      coordinatorRuns,
      shards: shapes.length - coordinatorRuns,
      storeMiB: sizeOnDiskMiB(system.dir, 'operations.db') + sizeOnDiskMiB(system.dir, 'inbox.db'),
      accounting: { exact: mismatches === 0 && expected === count && countsAgree, ...tally, mismatches },
    };
    say(`  ${JSON.stringify(run)}`);
    return run;
  } finally {
    await operations.close();
    await system.stop();
  }
}

/** Runs every size in turn; the first is the baseline of the others. */
export async function fleetBench(sizes: number[]): Promise<{ runs: FleetRun[]; table: string }> {
  const runs: FleetRun[] = [];
  for (const [i, size] of sizes.entries()) runs.push(await runSize(size, i));
  const base = runs[0] as FleetRun;
  const rows = runs.map(
    (r) =>
      `| ${r.devices.toLocaleString('en-US')} | ${r.seconds.toFixed(1)} s | ${r.devicesPerSecond.toFixed(0)}/s ` +
      `(×${(r.devicesPerSecond / base.devicesPerSecond).toFixed(2)}) | ${r.peakRssMiB.worker.toFixed(0)} / ` +
      `${r.peakRssMiB.gateway.toFixed(0)} / ${r.peakRssMiB.simulator.toFixed(0)} MiB | ` +
      `${r.largestHistory.events} events, ${(r.largestHistory.bytes / 1024).toFixed(0)} KiB | ` +
      `${r.coordinatorRuns} runs, ${r.shards} shards | ${r.storeMiB.toFixed(1)} MiB | ` +
      `${r.accounting.exact ? 'exact' : `${r.accounting.mismatches} mismatches`} |`,
  );
  const table = [
    '| devices | time | devices/s (× first size) | peak RSS worker / gateway / simulator | largest history | coordinator | store | accounting |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  return { runs, table };
}
