/**
 * `npm run demo:swap` (with `npm start` running): picks an active device and a pre-active eUICC
 * replacement from the simulator, starts an eidDeviceSwap saga and follows it to its end.
 */
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { z } from 'zod';
import { startEidDeviceSwap } from '../client/index.js';
import { SWAP_STEPS, type DeviceId, type EidDeviceSwapStatus } from '../contracts/index.js';
import { parseConfig } from '../config/index.js';

const config = parseConfig(
  z.object({
    TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
    TEMPORAL_NAMESPACE: z.string().default('default'),
    SIMULATOR_PORT: z.coerce.number().int().default(3100),
    THINGSPACE_ACCOUNT_NAME: z.string().default('0000123456-00001'),
    TEMPORAL_UI_URL: z.string().url().default('http://127.0.0.1:8233'),
  }),
  process.env,
);
const say = (line: string) => process.stdout.write(`${line}\n`);

interface SimDevice {
  accountName: string;
  eid?: string;
  iccid: string;
  imei: string;
  mdn?: string;
  state: string;
  servicePlan: string;
}

const simulator = `http://127.0.0.1:${config.SIMULATOR_PORT}`;
let devices: SimDevice[];
try {
  devices = (await (await fetch(`${simulator}/__sim/devices`)).json()) as SimDevice[];
} catch {
  say(`No simulator at ${simulator}. Start the system first: npm start`);
  process.exit(1);
}
const mine = devices.filter((d) => d.accountName === config.THINGSPACE_ACCOUNT_NAME && d.eid);
const out = mine.find((d) => d.state === 'active' && d.mdn);
const into = mine.find((d) => d.state === 'pre-active');
if (!out || !into) {
  // A new seed: the same seed would repeat request ids that the gateway's inbox has already seen.
  say('The simulator has no active device and pre-active replacement left. Reset it with a new seed:');
  say(
    `  curl -X POST -H 'content-type: application/json' -d '{"seed": ${Date.now() % 2_147_483_647}}' ${simulator}/__sim/reset`,
  );
  process.exit(1);
}
const ids = (d: SimDevice, kinds: (keyof SimDevice)[]): DeviceId[] =>
  kinds.flatMap((kind) => (d[kind] ? [{ kind, id: String(d[kind]) }] : []));

const client = new Client({
  connection: await Connection.connect({ address: config.TEMPORAL_ADDRESS }),
  namespace: config.TEMPORAL_NAMESPACE,
});
const handle = await startEidDeviceSwap(client, {
  accountName: config.THINGSPACE_ACCOUNT_NAME,
  deviceToSwapOut: ids(out, ['mdn', 'eid', 'imei', 'iccid']),
  deviceToSwapIn: ids(into, ['eid', 'imei']),
  mdnZipCode: '98802',
  serviceName: 'WiFi',
  stateName: 'WiFi Activate',
  servicePlan: out.servicePlan,
  smsrOid: '1.3.6.1.4.1.31746.1.500.200.101.5',
  options: { stepTimeout: '5 minutes' },
});
say(`Swapping MDN ${out.mdn} from EID ${out.eid} to EID ${into.eid}`);
say(`Saga ${handle.workflowId}`);
say(
  `  ${config.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows/${encodeURIComponent(handle.workflowId)}`,
);

const line = (s: EidDeviceSwapStatus) => {
  const done = SWAP_STEPS.filter((step) => s.steps[step].state === 'confirmed').length;
  const bar = SWAP_STEPS.map((step) => (s.steps[step].state === 'confirmed' ? '#' : '.')).join('');
  const steps = SWAP_STEPS.map((step) => `${step}: ${s.steps[step].state}`).join(', ');
  return `[${bar}] ${done}/3  ${s.phase}  ${steps}`;
};
let last = '';
const outcome = handle.result();
const poll = setInterval(() => {
  handle
    .status()
    .then((s) => {
      const now = line(s);
      if (now !== last) say(now);
      last = now;
      if (s.phase === 'awaitingDecision') {
        clearInterval(poll);
        say(`The saga holds for an operator decision: ${s.awaitingDecision?.failure.message ?? ''}`);
        say(`  temporal workflow signal --workflow-id '${handle.workflowId}' --name operatorDecision \\`);
        say(`    --input '{"decision":"retry"}'   # or "compensate", "abandon"`);
        process.exit(1);
      }
    })
    .catch(() => undefined);
}, 300);
try {
  const result = await outcome;
  clearInterval(poll);
  say(line(await handle.status()));
  say('Swap completed.');
  say(`  request id          ${result.requestId}`);
  say(`  swapped-in device   ${result.swappedInDevice.map((d) => `${d.kind}:${d.id}`).join(' ')}`);
  say(`  swapped-out device  ${result.swappedOutDevice.map((d) => `${d.kind}:${d.id}`).join(' ')}`);
} catch (err) {
  clearInterval(poll);
  const cause = err instanceof WorkflowFailedError ? err.cause : err;
  say(`Swap failed: ${(cause as Error).message}`);
  process.exitCode = 1;
}
await client.connection.close();
