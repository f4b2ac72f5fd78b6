/**
 * What is decided when a swap is accepted: its request ids, the new line (ICCID and MDN) the swapped-out
 * device gets, and every fault die, rolled up front so a seed fixes the outcome.
 */
import { SWAP_STEPS, type DeviceId } from '../../../contracts/types.js';
import { sameId } from '../../platform/devices/identifiers.js';
import { hasLine, type SimDevice } from '../../platform/devices/inventory.js';
import type { CallbackFaults } from '../../platform/faults.js';
import { luhnCheckDigit, randomDigits, randomNanpMdn, seededUuid, shuffle } from '../../platform/random.js';
import { readSwapRequest } from './validate.js';
import type { StepPlan, SwapDeps, SwapRecord, SwapRequestFields, ValidSwap } from './types.js';

/** True when every identifier in `ids` is the side's identifier of that kind. */
function sameSide(side: Record<string, unknown>, ids: DeviceId[]): boolean {
  return ids.every(({ kind, id }) => {
    const value = side[kind];
    return typeof value === 'string' && sameId(value, id);
  });
}

/**
 * Under `acceptDuplicates`: an accepted swap of the same two devices whose callbacks are not all generated.
 * Its steps may already have moved the devices, so the repeat is judged by the devices as that swap saw them.
 */
export function inFlightDuplicate(
  deps: SwapDeps,
  body: unknown,
): { first: SwapRecord; fields: SwapRequestFields } | undefined {
  const read = readSwapRequest(body);
  if (!read.ok) return undefined;
  const fields = read.value;
  const first = deps.operations.find(
    (o) =>
      o.accountName === fields.accountName &&
      SWAP_STEPS.some((step) => o.steps[step] === 'scheduled') &&
      sameSide(o.swapOut, fields.outIds) &&
      sameSide(o.swapIn, fields.inIds),
  );
  return first ? { first, fields } : undefined;
}

function newIccid(deps: SwapDeps): string {
  for (;;) {
    const body = `8914800000${randomDigits(deps.random.ids, 9)}`;
    const iccid = body + luhnCheckDigit(body);
    if (!deps.inventory.isKnown('iccid', iccid) && !deps.operations.some((o) => o.newLine.iccid === iccid))
      return iccid;
  }
}

function newMdn(deps: SwapDeps): string {
  for (;;) {
    const mdn = randomNanpMdn(deps.random.ids);
    if (!deps.inventory.isKnown('mdn', mdn) && !deps.operations.some((o) => o.newLine.mdn === mdn)) return mdn;
  }
}

export function sidesOf(out: SimDevice, into: SimDevice): Pick<SwapRecord, 'swapOut' | 'swapIn'> {
  return {
    swapOut: {
      deviceNumber: out.deviceNumber,
      eid: out.eid ?? '',
      imei: out.imei,
      iccid: out.iccid,
      mdn: out.mdn ?? '',
      servicePlan: out.servicePlan,
    },
    swapIn: {
      deviceNumber: into.deviceNumber,
      eid: into.eid ?? '',
      imei: into.imei,
      iccid: into.iccid,
      ...(into.mdn ? { mdn: into.mdn } : {}),
      hadLine: hasLine(into.state),
    },
  };
}

export function planSwap(
  deps: SwapDeps,
  swap: Omit<ValidSwap, 'out' | 'into'>,
  sides: Pick<SwapRecord, 'swapOut' | 'swapIn'>,
): SwapRecord {
  const requestId = seededUuid(deps.random.ids);
  const record: SwapRecord = {
    requestId,
    accountName: swap.accountName,
    submittedAt: new Date(deps.now()).toISOString(),
    swapOut: { ...sides.swapOut },
    swapIn: { ...sides.swapIn },
    newLine: { iccid: '', mdn: '' },
    serviceName: swap.serviceName,
    stateName: swap.stateName,
    servicePlan: swap.servicePlan,
    smsrOid: swap.smsrOid,
    mdnZipCode: swap.mdnZipCode,
    ...(swap.carrierIpPoolName ? { carrierIpPoolName: swap.carrierIpPoolName } : {}),
    callbackRequestIds: {
      deactivation: seededUuid(deps.random.ids),
      identifierChange: seededUuid(deps.random.ids),
      goToState: requestId,
    },
    steps: { deactivation: 'scheduled', identifierChange: 'scheduled', goToState: 'scheduled' },
  };
  record.newLine = { iccid: newIccid(deps), mdn: newMdn(deps) };
  return record;
}

/** Rolls every fault die for a swap up front, in the documented order, so a seed fixes the outcome. */
export function planSteps(deps: SwapDeps, faults: CallbackFaults): StepPlan[] {
  const plans = SWAP_STEPS.map((step) => ({
    step,
    duplicate: deps.random.faults() < faults.duplicate,
    drop: deps.random.faults() < faults.drop,
  }));
  if (faults.order === 'reverse') return plans.reverse();
  if (faults.order === 'random') return shuffle(deps.random.faults, plans);
  return plans;
}
