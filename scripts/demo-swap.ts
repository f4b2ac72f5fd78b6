/**
 * `npm run demo:swap` (with `npm start` running): picks an active device and a pre-active eUICC
 * replacement from the simulator, starts an eidDeviceSwap saga and follows it to its end.
 */
import { startEidDeviceSwap } from '../client/index.js';
import { SWAP_STEPS, type DeviceId, type EidDeviceSwapResult, type EidDeviceSwapStatus } from '../contracts/index.js';
import { config, connect, follow, noDevicesLeft, say, sim, type SimDevice } from './lib/demo.js';

/** `-- --step-timeout 20s`: how long the saga waits for callbacks before it reads the device list. */
const flag = process.argv.indexOf('--step-timeout');
const stepTimeout = flag >= 0 ? (process.argv[flag + 1] ?? '') : '5 minutes';
if (!/^\d+\s*(ms|s|m|h|seconds?|minutes?|hours?)$/.test(stepTimeout)) {
  say(`--step-timeout takes a duration such as 20s or 5 minutes, not "${stepTimeout}"`);
  process.exit(2);
}

const devices = await sim<SimDevice[]>('GET', '/__sim/devices');
const mine = devices.filter((d) => d.accountName === config.THINGSPACE_ACCOUNT_NAME && d.eid);
const out = mine.find((d) => d.state === 'active' && d.mdn);
const into = mine.find((d) => d.state === 'pre-active');
if (!out || !into) noDevicesLeft('active device and pre-active replacement');
const ids = (d: SimDevice, kinds: (keyof SimDevice)[]): DeviceId[] =>
  kinds.flatMap((kind) => (d[kind] ? [{ kind, id: String(d[kind]) }] : []));

const client = await connect();
const handle = await startEidDeviceSwap(client, {
  accountName: config.THINGSPACE_ACCOUNT_NAME,
  deviceToSwapOut: ids(out, ['mdn', 'eid', 'imei', 'iccid']),
  deviceToSwapIn: ids(into, ['eid', 'imei']),
  mdnZipCode: '98802',
  serviceName: 'WiFi',
  stateName: 'WiFi Activate',
  servicePlan: out.servicePlan,
  smsrOid: '1.3.6.1.4.1.31746.1.500.200.101.5',
  options: { stepTimeout },
});
say(`Swapping MDN ${out.mdn} from EID ${out.eid} to EID ${into.eid}`);

await follow<EidDeviceSwapStatus, EidDeviceSwapResult>(
  client,
  handle,
  (s) => {
    const done = SWAP_STEPS.filter((step) => s.steps[step].state === 'confirmed').length;
    const steps = SWAP_STEPS.map((step) => `${step}: ${s.steps[step].state}`).join(', ');
    return `${SWAP_STEPS.map((step) => (s.steps[step].state === 'confirmed' ? '#' : '.')).join('')} ${done}/3  ${s.phase}  ${steps}`;
  },
  (result) => {
    say('Swap completed.');
    say(`  request id          ${result.requestId}`);
    say(`  swapped-in device   ${result.swappedInDevice.map((d) => `${d.kind}:${d.id}`).join(' ')}`);
    say(`  swapped-out device  ${result.swappedOutDevice.map((d) => `${d.kind}:${d.id}`).join(' ')}`);
  },
  (s) => s.awaitingDecision?.failure.message,
);
