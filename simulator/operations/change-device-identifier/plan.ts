/**
 * What is decided when an identifier change is accepted: its request id, ChangeMSISDN's new number, and
 * the failures the carrier reports later in the callback.
 */
import { deviceIdsOf } from '../../platform/devices/identifiers.js';
import type { StepFailure } from '../../platform/faults.js';
import { randomDigits, randomInt, seededUuid } from '../../platform/random.js';
import { ChangeFaultCode, label, NON_GEO_NPA, planFits } from './rules.js';
import type { ChangeIdentifierDeps, ChangeIdentifierRecord, ValidChange } from './types.js';

/** NANP keeps NXX 555 for directory and fictional numbers: no number there is available. */
function exhausted(npaNxx: string): boolean {
  return npaNxx.slice(3) === '555';
}

/** The NPA-NXX numbers for a ZIP code come from: NPA and NXX lead with 2-9, the NXX ends in 0 (never 555). */
export function zipNpaNxx(zipCode: string): string {
  const digit = (i: number): number => Number(zipCode[i]);
  return `${2 + (digit(0) % 8)}${zipCode.slice(1, 3)}${2 + (digit(3) % 8)}${zipCode[4]}0`;
}

function mdnTaken(deps: ChangeIdentifierDeps, mdn: string): boolean {
  return (
    deps.inventory.isKnown('mdn', mdn) ||
    deps.operations.some((o) => o.newLine.mdn === mdn) ||
    deps.changeIdentifierRequests.some((r) => r.status === 'scheduled' && r.newMdn?.mdn === mdn)
  );
}

/** A free number starting with `npaNxx`, or undefined when none is available. */
function numberIn(deps: ChangeIdentifierDeps, npaNxx: string): string | undefined {
  if (exhausted(npaNxx)) return undefined;
  // Random draws rather than a scan keep numbers spread out; 1,000 misses mean the prefix is full.
  for (let attempt = 0; attempt < 1000; attempt++) {
    const mdn = `${npaNxx}${randomDigits(deps.random.ids, 4)}`;
    if (!mdnTaken(deps, mdn)) return mdn;
  }
  return undefined;
}

/** ChangeMSISDN's new number, by the page's rules: non-geographic, or from the NPA-NXX, else the ZIP code. */
function assignMdn(deps: ChangeIdentifierDeps, change: ValidChange): ChangeIdentifierRecord['newMdn'] {
  if (change.assignNonGeoMdn) {
    for (;;) {
      const mdn = numberIn(
        deps,
        `${NON_GEO_NPA}${2 + randomInt(deps.random.ids, 8)}${randomDigits(deps.random.ids, 2)}`,
      );
      if (mdn) return { mdn, source: 'nonGeo' };
    }
  }
  const fromNpaNxx = numberIn(deps, change.npaNxx as string);
  if (fromNpaNxx) return { mdn: fromNpaNxx, source: 'npaNxx' };
  const fromZip = change.zipCode === undefined ? undefined : numberIn(deps, zipNpaNxx(change.zipCode));
  return fromZip === undefined ? undefined : { mdn: fromZip, source: 'zipCode' };
}

/** Outcomes the carrier decides on after accepting the request, reported by a failure callback. */
function submitFailure(change: ValidChange, newMdn: ChangeIdentifierRecord['newMdn']): StepFailure | undefined {
  const { rule, device, option } = change;
  // "Replacing a 3G device with a 4G device, or replacing a 4G device with a 3G device, will most likely
  // require changing the service plan."
  if (rule.from !== rule.to && change.servicePlan === undefined && !planFits(device.servicePlan, rule.to)) {
    const to = label(rule.to);
    return {
      faultcode: ChangeFaultCode.ServicePlanNotCompatible,
      faultstring: `Service plan ${device.servicePlan} is not compatible with a ${to} device; a ${to}-compatible servicePlan is probably needed.`,
    };
  }
  if (option === 'ChangeMSISDN' && !newMdn) {
    return {
      faultcode: ChangeFaultCode.MdnNotAvailable,
      faultstring: `No number is available in NPA-NXX ${String(change.npaNxx)}, and no zipCode was given to assign one from.`,
    };
  }
  return undefined;
}

export function planChange(deps: ChangeIdentifierDeps, change: ValidChange): ChangeIdentifierRecord {
  const { device } = change;
  const newMdn = change.option === 'ChangeMSISDN' ? assignMdn(deps, change) : undefined;
  const failure = submitFailure(change, newMdn);
  const record: ChangeIdentifierRecord = {
    requestId: seededUuid(deps.random.ids),
    accountName: device.accountName,
    submittedAt: new Date(deps.now()).toISOString(),
    serviceType: change.serviceType,
    ...(change.option ? { change4gOption: change.option } : {}),
    deviceNumber: device.deviceNumber,
    deviceIds: change.deviceIds,
    before: deviceIdsOf(device),
    newDeviceIds: newMdn
      ? [
          { id: newMdn.mdn, kind: 'mdn' },
          { id: `1${newMdn.mdn}`, kind: 'msisdn' },
        ]
      : change.deviceIdsTo.map(({ id, kind }) => ({ id, kind })),
    servicePlan: change.servicePlan ?? device.servicePlan,
    ...(change.smsrOid ? { smsrOid: change.smsrOid } : {}),
    ...(newMdn ? { newMdn } : {}),
    replaced: [],
    ...(failure ? { failure } : {}),
    status: 'scheduled',
  };
  return record;
}
