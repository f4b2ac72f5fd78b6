/**
 * Stray callbacks: callbacks of operations this system never started — started in the portal or by another
 * system on the same account, or late re-sends (`callbackCount` > 1) of old ones — for devices a saga holds.
 * No page promises they cannot happen (thingspace-api-notes.md, What no page promises). Their content comes
 * from the same builders as the simulator's own callbacks; they never change the inventory, since the
 * operations they report are not modelled, and the delivery log marks them `stray`.
 */
import { z } from 'zod';
import { CALLBACK_SERVICES, type CallbackService, type DeviceId, type SwapStep } from '../../contracts/types.js';
import { changeIdentifierContent } from '../operations/change-device-identifier/callbacks.js';
import type { ChangeIdentifierRecord } from '../operations/change-device-identifier/types.js';
import type { CallbackDispatcher, CallbackJob, DeliveryTiming } from './delivery.js';
import { deviceIdsOf, lowerKinds } from './devices/identifiers.js';
import type { Inventory, SimDevice } from './devices/inventory.js';
import {
  STRAY_OUTCOMES,
  STRAY_STATUSES,
  type FaultState,
  type StepFailure,
  type StrayOutcome,
  type StrayStatus,
} from './faults.js';
import { swapStepContent } from '../operations/eid-device-swap/callbacks.js';
import { sidesOf } from '../operations/eid-device-swap/plan.js';
import { STEP_SERVICE, type SwapRecord } from '../operations/eid-device-swap/types.js';
import { deviceProfileContent } from '../operations/profiles/callbacks.js';
import type { ProfileOperation } from '../operations/profiles/types.js';
import { seededUuid, type SeededRandom } from './random.js';

const deviceIdSchema = z.object({ kind: z.string().min(1), id: z.string().min(1) }).strict();

/** `POST /__sim/callbacks/stray`: one stray callback, delivered now to the account's listener for its service. */
export const strayCallbackRequestSchema = z
  .object({
    accountName: z.string().min(1),
    /** Default: the service that sends `outcome`; when given it must be that service. */
    service: z.enum(CALLBACK_SERVICES).optional(),
    outcome: z.enum(STRAY_OUTCOMES),
    status: z.enum(STRAY_STATUSES).default('success'),
    /** The device the callback names; missing kinds are filled from the inventory device they name. */
    deviceIds: z.array(deviceIdSchema).min(1),
    /** identifierChange: the device that got the MDN; goToState: the new line (iccid, mdn). Default: deviceIds. */
    resultDeviceIds: z.array(deviceIdSchema).min(1).optional(),
    /** Default: a fresh one. */
    requestId: z.string().min(1).optional(),
    /** More than 1: a late re-send of an old callback. */
    callbackCount: z.number().int().min(1).max(4).default(1),
    failure: z
      .object({ faultcode: z.string().min(1), faultstring: z.string() })
      .strict()
      .optional(),
    /** deviceProfile: which profile operation's shape. */
    operation: z.enum(['changeProfileServicePlan', 'activateDeviceProfiles']).default('activateDeviceProfiles'),
  })
  .strict();
export type StrayCallbackRequest = z.infer<typeof strayCallbackRequestSchema>;

export const OUTCOME_SERVICE: Record<StrayOutcome, CallbackService> = {
  ...STEP_SERVICE,
  changeDeviceIdentifier: 'CarrierService',
  deviceProfile: 'DeviceProfileService',
};

const DEFAULT_FAILURE: StepFailure = {
  faultcode: 'REQUEST_FAILED.UnexpectedError',
  faultstring: 'The request could not be completed.',
};

export interface StrayDeps {
  inventory: Inventory;
  dispatcher: CallbackDispatcher;
  faults: FaultState;
  random: SeededRandom;
  now(): number;
  deliveryTiming(): DeliveryTiming;
}

/** What one stray callback reports, about `device` (and `result`, the other side of a change). */
export interface StraySpec {
  accountName: string;
  outcome: StrayOutcome;
  status: StrayStatus;
  requestId: string;
  callbackCount: number;
  device: SimDevice;
  result?: SimDevice;
  failure?: StepFailure;
  operation: ProfileOperation;
  /** deviceProfile of a device ThingSpace does not know: the identifiers as named. */
  unknownIds?: DeviceId[];
  /** changeDeviceIdentifier: the identifiers the callback names the device by, and the new ones. */
  namedIds?: DeviceId[];
  resultIds?: DeviceId[];
}

/** A copy of the device `ids` name (current or retired), with the named identifiers put over its own. */
function snapshot(inventory: Inventory, accountName: string, ids: DeviceId[]): { device: SimDevice; known: boolean } {
  let found: SimDevice | undefined;
  for (const { kind, id } of ids) {
    found = inventory.find(kind.toLowerCase(), id) ?? inventory.findRetired(kind.toLowerCase(), id)?.device;
    if (found) break;
  }
  const device: SimDevice = found
    ? structuredClone(found)
    : {
        deviceNumber: -1,
        accountName,
        iccid: '',
        imei: '',
        state: 'active',
        servicePlan: '',
        createdAt: '',
        connected: false,
        retiredLines: [],
      };
  for (const { kind, id } of ids) {
    const k = kind.toLowerCase();
    if (k === 'eid' || k === 'iccid' || k === 'imei' || k === 'meid' || k === 'mdn') device[k] = id;
  }
  return { device, known: found !== undefined };
}

function swapRecord(spec: StraySpec): SwapRecord {
  const out = spec.device;
  const result = spec.result ?? out;
  return {
    requestId: spec.requestId,
    accountName: spec.accountName,
    submittedAt: new Date(0).toISOString(),
    // The swapped-in side's MDN and line are never in a callback's content.
    ...sidesOf(out, result),
    newLine: { iccid: result.iccid, mdn: result.mdn ?? '' },
    serviceName: out.serviceName ?? '',
    stateName: out.stateName ?? '',
    servicePlan: out.servicePlan,
    smsrOid: out.smsrOid ?? '',
    mdnZipCode: '',
    callbackRequestIds: { deactivation: spec.requestId, identifierChange: spec.requestId, goToState: spec.requestId },
    steps: { deactivation: 'completed', identifierChange: 'completed', goToState: 'completed' },
  };
}

function changeRecord(spec: StraySpec): ChangeIdentifierRecord {
  const { device } = spec;
  const result = spec.result ?? device;
  return {
    requestId: spec.requestId,
    accountName: spec.accountName,
    submittedAt: new Date(0).toISOString(),
    serviceType: '4g',
    deviceNumber: device.deviceNumber,
    deviceIds: spec.namedIds ?? deviceIdsOf(device).filter((d) => d.kind !== 'msisdn'),
    before: deviceIdsOf(device),
    newDeviceIds: spec.resultIds ?? deviceIdsOf(result).filter((d) => d.kind !== 'msisdn'),
    servicePlan: result.servicePlan,
    replaced: [],
    status: 'completed',
  };
}

/** The stray callback as a delivery job; reads the inventory's copies only. */
export function strayJob(spec: StraySpec, timing: DeliveryTiming): CallbackJob {
  const failure = spec.status === 'failed' ? (spec.failure ?? DEFAULT_FAILURE) : undefined;
  let content: Record<string, unknown>;
  if (spec.outcome === 'deviceProfile') {
    content = deviceProfileContent({
      operation: spec.operation,
      requestId: spec.requestId,
      ids: spec.unknownIds ?? deviceIdsOf(spec.device),
      ...(spec.unknownIds ? {} : { device: spec.device }),
      status: spec.status,
      ...(failure ? { failure } : {}),
    });
  } else if (spec.outcome === 'changeDeviceIdentifier') {
    content = changeIdentifierContent(changeRecord(spec), failure);
  } else {
    content = swapStepContent(swapRecord(spec), spec.outcome as SwapStep, failure);
  }
  return {
    accountName: spec.accountName,
    service: OUTCOME_SERVICE[spec.outcome],
    step: spec.outcome,
    requestId: spec.requestId,
    content,
    duplicate: false,
    drop: false,
    timing,
    callbackCount: spec.callbackCount,
    stray: true,
  };
}

/** Why a control request cannot be sent, or undefined. */
function problem(request: StrayCallbackRequest): string | undefined {
  const service = OUTCOME_SERVICE[request.outcome];
  if (request.service && request.service !== service) {
    return `${request.outcome} callbacks come from ${service}, not ${request.service}.`;
  }
  if (request.status === 'warning' && request.outcome !== 'deviceProfile') {
    return 'Only eSIM profile operations (outcome deviceProfile) send warnings.';
  }
  return undefined;
}

/** Builds the job of a `POST /__sim/callbacks/stray` request, or says why it cannot. */
export function strayRequestJob(deps: StrayDeps, request: StrayCallbackRequest): CallbackJob | string {
  const reason = problem(request);
  if (reason) return reason;
  const { device, known } = snapshot(deps.inventory, request.accountName, request.deviceIds);
  const result = request.resultDeviceIds
    ? snapshot(deps.inventory, request.accountName, request.resultDeviceIds).device
    : undefined;
  return strayJob(
    {
      accountName: request.accountName,
      outcome: request.outcome,
      status: request.status,
      requestId: request.requestId ?? seededUuid(deps.random.faults),
      callbackCount: request.callbackCount,
      device,
      ...(result ? { result } : {}),
      ...(request.failure ? { failure: request.failure } : {}),
      operation: request.operation,
      ...(known ? {} : { unknownIds: request.deviceIds.map(({ kind, id }) => ({ kind, id })) }),
      namedIds: lowerKinds(request.deviceIds),
      ...(request.resultDeviceIds ? { resultIds: lowerKinds(request.resultDeviceIds) } : {}),
    },
    deps.deliveryTiming(),
  );
}

/** The operations that can be preceded by stray callbacks, and what each names. */
export type StrayTrigger =
  | { operation: 'eidDeviceSwap'; out: SimDevice; into: SimDevice }
  | { operation: 'changeDeviceIdentifier'; device: SimDevice }
  | { operation: ProfileOperation; devices: SimDevice[] };

const DEFAULT_OUTCOME: Record<StrayTrigger['operation'], StrayOutcome> = {
  eidDeviceSwap: 'deactivation',
  changeDeviceIdentifier: 'changeDeviceIdentifier',
  changeProfileServicePlan: 'deviceProfile',
  activateDeviceProfiles: 'deviceProfile',
};

/**
 * Under the `strayCallbacks` profile: delivers its stray callbacks for the devices of an accepted request and
 * waits for their first attempts, so they reach the listener before the request's own callbacks. A swap's name
 * its swapped-out device (an identifierChange's result: the device swapped in); a profile request's the first
 * `maxDevices` of its devices. Warnings are sent only by profile outcomes; other outcomes skip them.
 */
export async function sendStrayCallbacks(deps: StrayDeps, accountName: string, trigger: StrayTrigger): Promise<void> {
  const profile = deps.faults.strayCallbacks;
  if (!profile || !profile.on.includes(trigger.operation)) return;
  const targets: { device: SimDevice; result?: SimDevice }[] =
    trigger.operation === 'eidDeviceSwap'
      ? [{ device: trigger.out, result: trigger.into }]
      : trigger.operation === 'changeDeviceIdentifier'
        ? [{ device: trigger.device }]
        : trigger.devices.slice(0, profile.maxDevices).map((device) => ({ device }));
  const operation: ProfileOperation =
    trigger.operation === 'changeProfileServicePlan' ? 'changeProfileServicePlan' : 'activateDeviceProfiles';
  const timing = deps.deliveryTiming();
  const jobs: CallbackJob[] = [];
  for (const { device, result } of targets) {
    for (const template of profile.callbacks) {
      const outcome = template.outcome ?? DEFAULT_OUTCOME[trigger.operation];
      if (template.status === 'warning' && outcome !== 'deviceProfile') continue;
      jobs.push(
        strayJob(
          {
            accountName,
            outcome,
            status: template.status,
            requestId: seededUuid(deps.random.faults),
            callbackCount: template.callbackCount,
            device: structuredClone(device),
            ...(result && outcome === 'identifierChange' ? { result: structuredClone(result) } : {}),
            ...(template.failure ? { failure: template.failure } : {}),
            operation,
          },
          timing,
        ),
      );
    }
  }
  await Promise.all(jobs.map((job) => deps.dispatcher.deliver(job)));
}
