/**
 * `POST /m2m/v1/devices/actions/eidDeviceSwap` (eid-device-swap.txt): validation with ThingSpace's error
 * codes, the `{requestId}` answer, and the three asynchronous outcomes — deactivation of the original
 * ICCID and the identifier change (CarrierService), GoToState of the new line (StateService) — each
 * changing the inventory when its callback is generated.
 */
import type { RequestHandler } from 'express';
import { SWAP_STEPS, type CallbackService, type DeviceId, type SwapStep } from '../../../contracts/types.js';
import type { ActedLedger } from '../../platform/acted.js';
import type { CallbackDispatcher, CallbackJob, DeliveryTiming } from '../../platform/delivery.js';
import { deviceIdProblem, hasLine, type Inventory, type SimDevice } from '../../platform/devices/inventory.js';
import { ErrorCode, respond, sendError } from '../../platform/errors.js';
import type { CallbackFaults, FaultState } from '../../platform/faults.js';
import {
  luhnCheckDigit,
  randomDigits,
  randomInt,
  seededUuid,
  shuffle,
  type SeededRandom,
} from '../../platform/random.js';

/** "The first two callbacks are returned by the Carrier Service and the third one by the State Service." */
export const STEP_SERVICE: Record<SwapStep, CallbackService> = {
  deactivation: 'CarrierService',
  identifierChange: 'CarrierService',
  goToState: 'StateService',
};

export type StepStatus = 'scheduled' | 'completed' | 'failed' | 'never';

/** One accepted swap: what was asked, what was decided, and how far it got. */
export interface SwapRecord {
  requestId: string;
  accountName: string;
  submittedAt: string;
  swapOut: { deviceNumber: number; eid: string; imei: string; iccid: string; mdn: string; servicePlan: string };
  swapIn: { deviceNumber: number; eid: string; imei: string; iccid: string; mdn?: string; hadLine: boolean };
  /** The line of service the swapped-out device gets. */
  newLine: { iccid: string; mdn: string };
  serviceName: string;
  stateName: string;
  servicePlan: string;
  smsrOid: string;
  mdnZipCode: string;
  carrierIpPoolName?: string;
  /** The swap page's examples carry three different request ids; only GoToState's is the one returned. */
  callbackRequestIds: Record<SwapStep, string>;
  steps: Record<SwapStep, StepStatus>;
}

export interface SwapDeps {
  inventory: Inventory;
  dispatcher: CallbackDispatcher;
  faults: FaultState;
  random: SeededRandom;
  operations: SwapRecord[];
  acted: ActedLedger;
  /** Stray callbacks for the swap's devices, delivered before it is answered (the `strayCallbacks` profile). */
  strayCallbacks(
    accountName: string,
    trigger: { operation: 'eidDeviceSwap'; out: SimDevice; into: SimDevice },
  ): Promise<void>;
  now(): number;
  callbackDelayMs(): number;
  deliveryTiming(): DeliveryTiming;
}

type Invalid = { ok: false; code: ErrorCode; message: string };

interface ValidSwap {
  accountName: string;
  out: SimDevice;
  into: SimDevice;
  mdnZipCode: string;
  serviceName: string;
  stateName: string;
  servicePlan: string;
  smsrOid: string;
  carrierIpPoolName?: string;
}

function invalid(code: ErrorCode, message: string): Invalid {
  return { ok: false, code, message };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type Side = 'deviceToSwapOut' | 'deviceToSwapIn';

/** Kinds the page requires per side: out "by the device's MDN, EID, IMEI, and ICCID", in "by EID and IMEI". */
const REQUIRED_KINDS: Record<Side, string[]> = {
  deviceToSwapOut: ['mdn', 'eid', 'imei', 'iccid'],
  deviceToSwapIn: ['eid', 'imei'],
};

const REQUIRED_FIELDS = ['mdnZipCode', 'serviceName', 'stateName', 'servicePlan', 'smsrOid'] as const;

function readIds(body: Record<string, unknown>, side: Side): DeviceId[] | Invalid {
  const value = body[side];
  if (!Array.isArray(value) || value.length === 0) {
    return invalid(ErrorCode.DeviceNotDefined, `${side} is required: a list of device identifiers.`);
  }
  const ids: DeviceId[] = [];
  for (const [i, item] of value.entries()) {
    const problem = deviceIdProblem(item, `${side}[${i}]`);
    if (problem) return invalid(problem.code, problem.message);
    const { kind, id } = item as DeviceId;
    if (ids.some((d) => d.kind === kind.toLowerCase())) {
      return invalid(ErrorCode.DeviceIdentifierInvalid, `${side} lists kind ${kind.toLowerCase()} more than once.`);
    }
    ids.push({ kind: kind.toLowerCase(), id });
  }
  for (const kind of REQUIRED_KINDS[side]) {
    if (!ids.some((d) => d.kind === kind)) {
      return invalid(ErrorCode.DeviceIdentifierMissing, `${side} must include the device's ${kind}.`);
    }
  }
  return ids;
}

/** The one inventory device all of `ids` name, in `accountName`. */
function resolveDevice(inventory: Inventory, accountName: string, side: string, ids: DeviceId[]): SimDevice | Invalid {
  let found: SimDevice | undefined;
  for (const { kind, id } of ids) {
    const device = inventory.find(kind, id);
    if (!device || device.accountName !== accountName) {
      return invalid(ErrorCode.DeviceNotFound, `Device ${kind} ${id} was not found in account ${accountName}.`);
    }
    if (found && found !== device) {
      return invalid(ErrorCode.DeviceIdentifierMismatch, `The identifiers of ${side} belong to different devices.`);
    }
    found = device;
  }
  return found as SimDevice;
}

interface SwapRequestFields {
  accountName: string;
  outIds: DeviceId[];
  inIds: DeviceId[];
  mdnZipCode: string;
  serviceName: string;
  stateName: string;
  servicePlan: string;
  smsrOid: string;
  carrierIpPoolName?: string;
}

/** The request's shape, before the account and devices are looked at. */
function readSwapRequest(body: unknown): { ok: true; value: SwapRequestFields } | Invalid {
  if (!isRecord(body)) return invalid(ErrorCode.RequestUndefined, 'The request body must be a JSON object.');
  const { accountName, carrierIpPoolName } = body;
  if (typeof accountName !== 'string' || accountName === '') {
    return invalid(ErrorCode.AccountNotDefined, 'accountName is required.');
  }
  const outIds = readIds(body, 'deviceToSwapOut');
  if (!Array.isArray(outIds)) return outIds;
  const inIds = readIds(body, 'deviceToSwapIn');
  if (!Array.isArray(inIds)) return inIds;
  const fields: Record<string, string> = {};
  for (const field of REQUIRED_FIELDS) {
    const value = body[field];
    if (typeof value !== 'string' || value.trim() === '') {
      return invalid(ErrorCode.ParameterNotDefined, `${field} is required.`);
    }
    fields[field] = value;
  }
  if (!/^\d{5}(-\d{4})?$/.test(fields.mdnZipCode ?? '')) {
    return invalid(ErrorCode.ParameterInvalid, 'mdnZipCode must be a US Zip code.');
  }
  if (carrierIpPoolName !== undefined && (typeof carrierIpPoolName !== 'string' || carrierIpPoolName === '')) {
    return invalid(ErrorCode.ParameterInvalid, 'carrierIpPoolName must be a non-empty string when given.');
  }
  return {
    ok: true,
    value: {
      accountName,
      outIds,
      inIds,
      mdnZipCode: fields.mdnZipCode as string,
      serviceName: fields.serviceName as string,
      stateName: fields.stateName as string,
      servicePlan: fields.servicePlan as string,
      smsrOid: fields.smsrOid as string,
      ...(typeof carrierIpPoolName === 'string' ? { carrierIpPoolName } : {}),
    },
  };
}

/** Checks a swap request the way ThingSpace does: shape first, then the account, then the devices. */
export function validateSwap(body: unknown, inventory: Inventory): { ok: true; value: ValidSwap } | Invalid {
  const read = readSwapRequest(body);
  if (!read.ok) return read;
  const { accountName, outIds, inIds, ...fields } = read.value;
  if (!inventory.accounts.has(accountName)) {
    return invalid(ErrorCode.AccountNotFound, `Account ${accountName} was not found.`);
  }
  const out = resolveDevice(inventory, accountName, 'deviceToSwapOut', outIds);
  if ('ok' in out) return out;
  const into = resolveDevice(inventory, accountName, 'deviceToSwapIn', inIds);
  if ('ok' in into) return into;
  if (out === into) return invalid(ErrorCode.SameDevice, 'deviceToSwapIn and deviceToSwapOut are the same device.');
  if (out.state !== 'active') {
    return invalid(ErrorCode.DeviceStateInvalid, `The device to swap out is ${out.state}; it must be active.`);
  }
  // "If you are installing a device that already has an active line of service, you must also specify
  // the device's ICCID."
  if (hasLine(into.state) && !inIds.some((d) => d.kind === 'iccid')) {
    return invalid(
      ErrorCode.DeviceIdentifierMissing,
      "deviceToSwapIn has a line of service: the device's iccid is required.",
    );
  }
  return { ok: true, value: { accountName, out, into, ...fields } };
}

/** True when every identifier in `ids` is the side's identifier of that kind. */
function sameSide(side: Record<string, unknown>, ids: DeviceId[]): boolean {
  return ids.every(({ kind, id }) => {
    const value = side[kind];
    return typeof value === 'string' && value.toLowerCase() === id.toLowerCase();
  });
}

/**
 * Under `acceptDuplicates`: an accepted swap of the same two devices whose callbacks are not all generated.
 * Its steps may already have moved the devices, so the repeat is judged by the devices as that swap saw them.
 */
function inFlightDuplicate(
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
    // North American numbers: the area code does not start with 0 or 1.
    const mdn = `${2 + randomInt(deps.random.ids, 8)}${randomDigits(deps.random.ids, 9)}`;
    if (!deps.inventory.isKnown('mdn', mdn) && !deps.operations.some((o) => o.newLine.mdn === mdn)) return mdn;
  }
}

function sidesOf(out: SimDevice, into: SimDevice): Pick<SwapRecord, 'swapOut' | 'swapIn'> {
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

function planSwap(
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

/** Top-level `deviceIds` of each callback, with the kind casing of the page's examples. */
function callbackDeviceIds(record: SwapRecord, step: SwapStep): DeviceId[] {
  const { swapOut, newLine } = record;
  switch (step) {
    case 'deactivation':
      return [
        { id: swapOut.imei, kind: 'imei' },
        { id: swapOut.iccid, kind: 'iccid' },
      ];
    case 'identifierChange':
      return [
        { id: swapOut.iccid, kind: 'Iccid' },
        { id: swapOut.imei, kind: 'Imei' },
        { id: swapOut.eid, kind: 'Eid' },
      ];
    case 'goToState':
      return [
        { id: newLine.iccid, kind: 'Iccid' },
        { id: swapOut.imei, kind: 'Imei' },
      ];
  }
}

function successContent(record: SwapRecord, step: SwapStep): Record<string, unknown> {
  const deviceIds = callbackDeviceIds(record, step);
  const requestId = record.callbackRequestIds[step];
  switch (step) {
    case 'deactivation':
      return { requestId, deviceIds, deviceResponse: { deactivateResponse: { deactivated: true } }, status: 'Success' };
    case 'identifierChange':
      return {
        requestId,
        deviceIds,
        deviceResponse: {
          changeIdentifierResponse: {
            deviceIds: [
              { id: record.swapIn.imei, kind: 'imei' },
              { id: record.swapIn.eid, kind: 'eid' },
              { id: record.swapIn.iccid, kind: 'iccid' },
            ],
            servicePlan: record.swapOut.servicePlan,
            smsrOid: record.smsrOid,
            profileStatus: '',
          },
        },
        status: 'Success',
      };
    case 'goToState':
      // The page's GoToState example has no `status` field.
      return {
        requestId,
        deviceIds,
        deviceResponse: {
          usageResponse: [],
          goToStateResponse: {
            deviceIds: deviceIds.map((d) => ({ ...d })),
            serviceName: record.serviceName,
            stateName: record.stateName,
          },
        },
      };
  }
}

function failureContent(
  record: SwapRecord,
  step: SwapStep,
  failure: { faultcode: string; faultstring: string },
): Record<string, unknown> {
  const service = STEP_SERVICE[step];
  const faultcode = failure.faultcode.startsWith(`${service}.`) ? failure.faultcode : `${service}.${failure.faultcode}`;
  return {
    requestId: record.callbackRequestIds[step],
    deviceIds: callbackDeviceIds(record, step),
    status: 'Failed',
    faultResponse: { faultcode, faultstring: failure.faultstring },
  };
}

/** One step's callback content, a success or the given failure; changes nothing (stray callbacks reuse it). */
export function swapStepContent(
  record: SwapRecord,
  step: SwapStep,
  failure?: { faultcode: string; faultstring: string },
): Record<string, unknown> {
  return failure ? failureContent(record, step, failure) : successContent(record, step);
}

/** What each completed step does to the inventory; a step whose device was replaced meanwhile does nothing. */
function applyStep(deps: SwapDeps, record: SwapRecord, step: SwapStep): void {
  const at = new Date(deps.now()).toISOString();
  const out = deps.inventory.byNumber(record.swapOut.deviceNumber);
  switch (step) {
    case 'deactivation': {
      // "ChangeDeviceState Deactivation when the original ICCID is deactivated."
      if (!out) return;
      deps.acted.record(out, record.requestId);
      if (out.iccid === record.swapOut.iccid) {
        out.state = 'deactive';
        out.connected = false;
      } else {
        const line = out.retiredLines.find((l) => l.iccid === record.swapOut.iccid);
        if (line) line.state = 'deactive';
      }
      return;
    }
    case 'identifierChange': {
      // "ChangeDeviceIdentifer when the original MDN is transferred to the newly installed device."
      const into = deps.inventory.byNumber(record.swapIn.deviceNumber);
      if (!into) return;
      deps.acted.record(into, record.requestId);
      if (hasLine(into.state)) {
        // "If the device has an active line of service, that line will be deactivated" first.
        into.retiredLines.push({
          iccid: into.iccid,
          ...(into.mdn ? { mdn: into.mdn } : {}),
          state: 'deactive',
          servicePlan: into.servicePlan,
          retiredAt: at,
        });
      }
      if (out && out.mdn === record.swapOut.mdn) delete out.mdn;
      into.mdn = record.swapOut.mdn;
      into.servicePlan = record.swapOut.servicePlan;
      into.smsrOid = record.smsrOid;
      into.state = 'active';
      into.connected = true;
      into.lastActivationDate = at;
      return;
    }
    case 'goToState': {
      // "GoToState when the new line of service is activated on the swapped-out device."
      if (!out) return;
      deps.acted.record(out, record.requestId);
      // The line being replaced is kept as a retired one, also when a repeated swap replaces a new line.
      if (!out.retiredLines.some((l) => l.iccid === out.iccid)) {
        out.retiredLines.push({
          iccid: out.iccid,
          ...(out.mdn ? { mdn: out.mdn } : {}),
          state: out.state,
          servicePlan: out.servicePlan,
          retiredAt: at,
        });
      }
      out.iccid = record.newLine.iccid;
      out.mdn = record.newLine.mdn;
      out.state = 'active';
      out.connected = true;
      out.servicePlan = record.servicePlan;
      out.serviceName = record.serviceName;
      out.stateName = record.stateName;
      out.lastActivationDate = at;
      return;
    }
  }
}

interface StepPlan {
  step: SwapStep;
  duplicate: boolean;
  drop: boolean;
}

/** Completes (or fails) one step and builds its callback. */
function generate(
  deps: SwapDeps,
  record: SwapRecord,
  plan: StepPlan,
  faults: CallbackFaults,
  timing: DeliveryTiming,
): CallbackJob {
  const failure = faults.fail[plan.step];
  let content: Record<string, unknown>;
  if (failure) {
    record.steps[plan.step] = 'failed';
    content = failureContent(record, plan.step, failure);
  } else {
    applyStep(deps, record, plan.step);
    record.steps[plan.step] = 'completed';
    content = successContent(record, plan.step);
  }
  return {
    accountName: record.accountName,
    service: STEP_SERVICE[plan.step],
    step: plan.step,
    requestId: record.callbackRequestIds[plan.step],
    content,
    duplicate: plan.duplicate,
    drop: plan.drop,
    timing,
  };
}

/** Rolls every fault die for a swap up front, in the documented order, so a seed fixes the outcome. */
function planSteps(deps: SwapDeps, faults: CallbackFaults): StepPlan[] {
  const plans = SWAP_STEPS.map((step) => ({
    step,
    duplicate: deps.random.faults() < faults.duplicate,
    drop: deps.random.faults() < faults.drop,
  }));
  if (faults.order === 'reverse') return plans.reverse();
  if (faults.order === 'random') return shuffle(deps.random.faults, plans);
  return plans;
}

/** `POST /m2m/v1/devices/actions/eidDeviceSwap` → 200 `{requestId}`; the outcomes follow as callbacks. */
export function eidDeviceSwapHandler(deps: SwapDeps): RequestHandler {
  return async (req, res) => {
    const duplicate = deps.faults.acceptDuplicates ? inFlightDuplicate(deps, req.body) : undefined;
    let record: SwapRecord;
    if (duplicate) {
      record = planSwap(deps, duplicate.fields, duplicate.first);
    } else {
      const result = validateSwap(req.body, deps.inventory);
      if (!result.ok) return sendError(res, result.code, result.message);
      record = planSwap(deps, result.value, sidesOf(result.value.out, result.value.into));
    }
    deps.operations.push(record);
    const out = deps.inventory.byNumber(record.swapOut.deviceNumber);
    const into = deps.inventory.byNumber(record.swapIn.deviceNumber);
    if (out && into) await deps.strayCallbacks(record.accountName, { operation: 'eidDeviceSwap', out, into });
    const faults = deps.faults.callbacks;
    const timing = deps.deliveryTiming();
    const delayMs = deps.callbackDelayMs();
    const plans = planSteps(deps, faults).filter((plan) => {
      if (!faults.never.includes(plan.step)) return true;
      record.steps[plan.step] = 'never';
      return false;
    });
    for (const plan of plans.filter((p) => faults.beforeResponse.includes(p.step))) {
      await deps.dispatcher.deliver(generate(deps, record, plan, faults, timing));
    }
    plans
      .filter((p) => !faults.beforeResponse.includes(p.step))
      .forEach((plan, i) => {
        deps.dispatcher.schedule(delayMs * (i + 1), () => generate(deps, record, plan, faults, timing));
      });
    respond(res, 200, { requestId: record.requestId });
  };
}
