/**
 * `npm run demo:changeProfileServicePlan [-- <devices>]` and `npm run demo:activateDeviceProfiles [--
 * <devices>]` (with `npm start` running): seeds that many eSIM devices in the simulator (default 2,500:
 * three shards), starts the bulk saga and shows its per-device progress to the end.
 */
import { startActivateDeviceProfiles, startChangeProfileServicePlan, type BulkHandle } from '../client/index.js';
import { WORKFLOW_TYPES, type BulkResult, type BulkStatus, type ProfileDevice } from '../contracts/index.js';
import { bar, config, connect, follow, say, sim } from './lib/demo.js';

const operation = process.argv[2];
const count = Number(process.argv[3] ?? 2_500);
if (operation !== WORKFLOW_TYPES.changeProfileServicePlan && operation !== WORKFLOW_TYPES.activateDeviceProfiles) {
  say('Usage: tsx scripts/demo-bulk.ts changeProfileServicePlan|activateDeviceProfiles [devices]');
  process.exit(2);
}
if (!Number.isInteger(count) || count < 1 || count > 15_000) {
  say(`The number of devices must be a whole number from 1 to 15,000, not ${process.argv[3]}.`);
  process.exit(2);
}

const activation = operation === WORKFLOW_TYPES.activateDeviceProfiles;
say(`Seeding ${count} ${activation ? 'pre-active' : 'active'} eSIM devices in the simulator…`);
const { devices: seeded } = await sim<{ devices: { eid: string; iccid: string }[] }>(
  'POST',
  '/__sim/devices/generate',
  {
    accountName: config.THINGSPACE_ACCOUNT_NAME,
    count,
    state: activation ? 'pre-active' : 'active',
    servicePlan: 'M2M_4G',
    withEid: true,
  },
);
const devices: ProfileDevice[] = seeded.map((d) => ({
  deviceIds: [
    { kind: 'eid', id: d.eid },
    { kind: 'iccid', id: d.iccid },
  ],
}));

const client = await connect();
const handle: BulkHandle<unknown> = activation
  ? await startActivateDeviceProfiles(client, {
      accountName: config.THINGSPACE_ACCOUNT_NAME,
      devices,
      carrierName: 'Verizon Wireless',
      servicePlan: 'M2M_4G',
      mdnZipCode: '98802',
      primaryPlaceOfUse: {
        customerName: { title: 'Ms', firstName: 'Alex', lastName: 'Rivera' },
        address: { addressLine1: '1 Main Street', city: 'Wenatchee', state: 'WA', zip: '98801', country: 'USA' },
      },
      options: { stepTimeout: '10 minutes' },
    })
  : await startChangeProfileServicePlan(client, {
      accountName: config.THINGSPACE_ACCOUNT_NAME,
      devices,
      servicePlan: 'M2M_5G_PLUS',
      options: { stepTimeout: '10 minutes' },
    });
say(`${operation} for ${count} devices`);

await follow<BulkStatus, BulkResult>(
  client,
  handle,
  (s) => {
    const answered = s.counts.succeeded + s.counts.failed + s.counts.noAnswer;
    return (
      `${bar(answered, s.counts.total)} ${answered}/${s.counts.total}  ${s.phase}  ` +
      `succeeded ${s.counts.succeeded}, failed ${s.counts.failed}, no answer ${s.counts.noAnswer}, ` +
      `warnings ${s.counts.warnings}; shards ${s.shards.completed}/${s.shards.total} (${s.shards.running} running)`
    );
  },
  (result) => {
    say(
      `${operation} completed: ${result.counts.succeeded} succeeded, ${result.counts.failed} failed, ${result.counts.noAnswer} no answer.`,
    );
    say(`  ThingSpace requests  ${result.requestIds.length}`);
    for (const failed of result.devices.filter((d) => d.outcome === 'failed').slice(0, 5)) {
      const fault = failed.faultId === undefined ? undefined : result.faults[failed.faultId];
      say(`  failed ${failed.device}: ${fault?.code}: ${fault?.message}`);
    }
  },
  (s) => `${s.awaitingDecision?.failed ?? 0} devices failed and ${s.awaitingDecision?.noAnswer ?? 0} got no answer`,
);
