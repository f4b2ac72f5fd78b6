/** What an identifier change does to the inventory when its callback is generated, if it still can. */
import type { DeviceId } from '../../../contracts/types.js';
import type { SimDevice } from '../../platform/devices/inventory.js';
import { ErrorCode } from '../../platform/errors.js';
import type { StepFailure } from '../../platform/faults.js';
import { CHANGE_RULES, type ChangeRule } from './rules.js';
import type { ChangeIdentifierDeps, ChangeIdentifierRecord } from './types.js';

const ruleOf = (record: ChangeIdentifierRecord): ChangeRule => CHANGE_RULES[record.change4gOption ?? '3G'];

/** Whether the change can still be applied when its callback is generated: the world may have moved on. */
export function applyProblem(deps: ChangeIdentifierDeps, record: ChangeIdentifierRecord): StepFailure | undefined {
  const device = deps.inventory.byNumber(record.deviceNumber);
  if (!device) {
    return { faultcode: ErrorCode.DeviceNotFound, faultstring: 'The device is no longer in the account.' };
  }
  if (device.state !== 'active' || !device.mdn) {
    return {
      faultcode: ErrorCode.DeviceStateInvalid,
      faultstring: 'The device is no longer in the Active state with an MDN/MSISDN assigned.',
    };
  }
  const taken = record.newDeviceIds.find(({ kind, id }) => {
    const holder = deps.inventory.find(kind, id);
    return holder !== undefined && holder !== device;
  });
  if (taken) {
    return {
      faultcode: ErrorCode.DeviceAlreadyExists,
      faultstring: `${taken.kind} ${taken.id} was given to another device before the change completed.`,
    };
  }
  return undefined;
}

/** Moves the line of service to the new hardware (or number), keeping what reconciliation needs. */
export function applyChange(deps: ChangeIdentifierDeps, record: ChangeIdentifierRecord): void {
  const device = deps.inventory.byNumber(record.deviceNumber) as SimDevice;
  deps.acted.record(device, record.requestId);
  const rule = ruleOf(record);
  const at = new Date(deps.now()).toISOString();
  const to = new Map(record.newDeviceIds.map((d) => [d.kind, d.id]));
  const replaced: DeviceId[] = [];
  const iccid = to.get('iccid');
  if (iccid !== undefined) {
    // The old SIM stays listed, deactivated, so a lookup by its ICCID still finds what became of it.
    device.retiredLines.push({
      iccid: device.iccid,
      state: 'deactive',
      servicePlan: device.servicePlan,
      retiredAt: at,
    });
    replaced.push({ id: device.iccid, kind: 'iccid' });
    device.iccid = iccid;
  }
  const imei = to.get('imei');
  if (imei !== undefined) {
    replaced.push({ id: device.imei, kind: 'imei' });
    device.imei = imei;
  }
  if (device.meid && (rule.to === '4g' || to.has('meid'))) replaced.push({ id: device.meid, kind: 'meid' });
  if (rule.to === '4g') delete device.meid;
  else if (to.has('meid')) device.meid = to.get('meid');
  if (device.eid && rule.eid !== 'keep') replaced.push({ id: device.eid, kind: 'eid' });
  if (rule.eid === 'replace') device.eid = to.get('eid');
  if (rule.eid === 'drop') {
    delete device.eid;
    delete device.smsrOid;
  }
  if (rule.eid === 'replace' && record.smsrOid) device.smsrOid = record.smsrOid;
  if (record.newMdn) device.mdn = record.newMdn.mdn;
  device.servicePlan = record.servicePlan;
  record.replaced = replaced;
}
