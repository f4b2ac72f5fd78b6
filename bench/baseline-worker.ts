/** The bench's baseline worker: the bare workflows of bench/baseline-workflows.ts on task queue `bench-baseline`. */
import { NativeConnection, Runtime, DefaultLogger, Worker } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import { BASELINE_TASK_QUEUE, createBaselineActivities } from './baseline-activities.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
const worker = await Worker.create({
  connection,
  taskQueue: BASELINE_TASK_QUEUE,
  workflowsPath: fileURLToPath(new URL('./baseline-workflows.ts', import.meta.url)),
  activities: createBaselineActivities(process.env.BASELINE_URL ?? 'http://127.0.0.1:3300'),
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => worker.shutdown());
await worker.run();
await connection.close();
