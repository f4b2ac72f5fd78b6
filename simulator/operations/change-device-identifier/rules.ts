/**
 * The rules of change-device-identifier.txt as the simulator models them (see `index.ts` for where the page
 * leaves the model open): which kinds each change takes, and which technology devices and plans are.
 */
import type { Change4gOption } from '../../../contracts/types.js';
import type { SimDevice } from '../../platform/devices/inventory.js';

export type Technology = '3g' | '4g';
export type HardwareKind = 'iccid' | 'imei' | 'eid' | 'meid';

/** A `change4gOption`, or `3G` for a 3G hardware change (serviceType `3g` without an option). */
export type ChangeKind = Change4gOption | '3G';

export interface ChangeRule {
  /** The technology of the device before the change, and after it. */
  from: Technology;
  to: Technology;
  /** Kinds `deviceIdsTo` must name; `optional` ones it may name too; any other kind is refused. */
  required: HardwareKind[];
  optional: HardwareKind[];
  /** What becomes of the device's EID. */
  eid: 'keep' | 'replace' | 'drop';
}

/** The table of change-device-identifier.txt, with the kinds each change needs (see `index.ts`). */
export const CHANGE_RULES: Record<ChangeKind, ChangeRule> = {
  ChangeICCID: { from: '4g', to: '4g', required: ['iccid'], optional: [], eid: 'keep' },
  ChangeIMEI: { from: '4g', to: '4g', required: ['imei'], optional: [], eid: 'keep' },
  ChangeIMEIandICCID: { from: '4g', to: '4g', required: ['imei', 'iccid'], optional: [], eid: 'drop' },
  ChangeMSISDN: { from: '4g', to: '4g', required: [], optional: [], eid: 'keep' },
  '3Gto4G': { from: '3g', to: '4g', required: ['imei'], optional: ['iccid'], eid: 'drop' },
  '4Gto3G': { from: '4g', to: '3g', required: ['meid', 'imei'], optional: ['iccid'], eid: 'drop' },
  ChangeIMEIandEID: { from: '4g', to: '4g', required: ['imei', 'eid'], optional: [], eid: 'replace' },
  '3G': { from: '3g', to: '3g', required: ['meid', 'imei'], optional: ['iccid'], eid: 'drop' },
};

/** Fault codes of failure callbacks, without the `CarrierService.` prefix the callback adds. */
export const ChangeFaultCode = {
  ServicePlanNotCompatible: 'REQUEST_FAILED.ServicePlanNotCompatible',
  MdnNotAvailable: 'REQUEST_FAILED.MdnNotAvailable',
} as const;

/** The non-geographic NANP area code new non-geo MDNs come from. */
export const NON_GEO_NPA = '544';

/** The technology a plan code is for, or undefined when it works on both. */
export function planTechnology(plan: string): Technology | undefined {
  const is3g = /3G(?!B)/i.test(plan);
  const is4g = /4G(?!B)/i.test(plan);
  if (is3g === is4g) return undefined;
  return is3g ? '3g' : '4g';
}

export function planFits(plan: string, technology: Technology): boolean {
  const planFor = planTechnology(plan);
  return planFor === undefined || planFor === technology;
}

export function technologyOf(device: SimDevice): Technology {
  return device.meid ? '3g' : '4g';
}

export const label = (tech: Technology): string => tech.toUpperCase();

export function changeName(kind: ChangeKind): string {
  return kind === '3G' ? 'a 3G change (serviceType 3g without change4gOption)' : kind;
}
