/**
 * `npm run demo:changeDeviceIdentifier [-- <change4gOption>]` (with `npm start` running): picks an active
 * device with an MDN from the simulator and changes its SIM (`ChangeICCID`, the default) or its number
 * (`ChangeMSISDN`), following the saga to its end.
 */
import { startChangeDeviceIdentifier } from '../client/index.js';
import type { ChangeDeviceIdentifierResult, ChangeDeviceIdentifierStatus } from '../contracts/index.js';
import { config, connect, follow, noDevicesLeft, say, sim, type SimDevice } from './lib/demo.js';

const option = process.argv[2] ?? 'ChangeICCID';
if (option !== 'ChangeICCID' && option !== 'ChangeMSISDN') {
  say(`This demo shows ChangeICCID (default) or ChangeMSISDN, not ${option}.`);
  process.exit(2);
}

/** A new SIM's ICCID: 19 digits and a Luhn check digit, unknown to the platform. */
function newIccid(): string {
  const body = `8914800009${String(Date.now()).slice(-9)}`;
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let digit = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) digit = digit * 2 > 9 ? digit * 2 - 9 : digit * 2;
    sum += digit;
  }
  return body + String((10 - (sum % 10)) % 10);
}

const devices = await sim<SimDevice[]>('GET', '/__sim/devices');
const device = devices.find((d) => d.accountName === config.THINGSPACE_ACCOUNT_NAME && d.state === 'active' && d.mdn);
if (!device) noDevicesLeft('active device with an MDN');

const client = await connect();
const handle = await startChangeDeviceIdentifier(
  client,
  config.THINGSPACE_ACCOUNT_NAME,
  option === 'ChangeICCID'
    ? {
        serviceType: '4g',
        deviceIds: [{ kind: 'imei', id: device.imei }],
        deviceIdsTo: [{ kind: 'iccid', id: newIccid() }],
        change4gOption: 'ChangeICCID',
      }
    : {
        serviceType: '4g',
        deviceIds: [{ kind: 'mdn', id: device.mdn as string }],
        change4gOption: 'ChangeMSISDN',
        assignNonGeoMdn: false,
        npaNxx: (device.mdn as string).slice(0, 6),
        zipCode: '98802',
      },
  { stepTimeout: '5 minutes' },
);
say(`${option} for the device with IMEI ${device.imei} (MDN ${device.mdn}, ICCID ${device.iccid})`);

await follow<ChangeDeviceIdentifierStatus, ChangeDeviceIdentifierResult>(
  client,
  handle,
  (s) => `${s.step.state === 'confirmed' ? '#' : '.'} ${s.phase}  identifierChange: ${s.step.state}`,
  (result) => {
    say('Identifier changed.');
    say(`  request id       ${result.requestId}`);
    say(`  new identifiers  ${result.newDeviceIds.map((d) => `${d.kind}:${d.id}`).join(' ')}`);
    if (result.servicePlan) say(`  service plan     ${result.servicePlan}`);
  },
  (s) => s.awaitingDecision?.failure.message,
);
