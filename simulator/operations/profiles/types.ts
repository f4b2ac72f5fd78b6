/** The profile operations' records and dependencies, shared by validation, planning, callbacks and the handler. */
import type { BulkOperation, DeviceId } from '../../../contracts/types.js';
import type { ActedLedger } from '../../platform/acted.js';
import type { DeliveryTiming } from '../../platform/delivery.js';
import type { Inventory, SimDevice } from '../../platform/devices/inventory.js';
import type { FaultState } from '../../platform/faults.js';
import type { SeededRandom } from '../../platform/random.js';
import type { SwapRecord } from '../eid-device-swap/types.js';
import type { ProfileState } from './state.js';

export type ProfileOperation = BulkOperation;

/** What one device's FAILED callback reports; `faultcode` without the `DeviceProfileService.` prefix. */
export interface DeviceFailure {
  faultcode: string;
  faultstring: string;
}

/** One device of a valid request: its identifiers as named, and what they resolved to. */
export interface RequestedDevice {
  ids: DeviceId[];
  device?: SimDevice;
  failure?: DeviceFailure;
}

export interface RequestFields {
  servicePlan?: string;
  carrierName?: string;
  smsrOid?: string;
  /** A primaryPlaceOfUse was given: the activation callback then reports the address update. */
  placeOfUse: boolean;
}

export interface ValidProfileRequest extends RequestFields {
  operation: ProfileOperation;
  accountName: string;
  devices: RequestedDevice[];
}

/** Where a device of an accepted request stands; `warning`: a WARNING was sent, the final callback not yet. */
export type DeviceOutcome = 'pending' | 'warning' | 'succeeded' | 'failed' | 'never';

/** One accepted profile request as the control API lists it. */
export interface ProfileRequestSummary {
  requestId: string;
  operation: ProfileOperation;
  accountName: string;
  submittedAt: string;
  servicePlan?: string;
  devices: number;
  /** Devices per outcome so far; they add up to `devices`. */
  outcomes: Record<DeviceOutcome, number>;
}

/** A request's summary with every device's outcome, in request order. */
export interface ProfileRequestDetail extends ProfileRequestSummary {
  results: { deviceIds: DeviceId[]; outcome: DeviceOutcome; fault?: DeviceFailure }[];
}

export interface CallFlags {
  duplicate: boolean;
  drop: boolean;
}

/** What was decided for one device when the request was accepted, and how far it got. */
export interface DevicePlan {
  ids: DeviceId[];
  deviceNumber?: number;
  /** Decided at request time (unknown device, injected failure); state problems are found when it runs. */
  failure?: DeviceFailure;
  warning: boolean;
  /** MDN set aside for a device activated without one, so the seed, not timing, decides who gets which. */
  mdn?: string;
  calls: { warning: CallFlags; final: CallFlags };
  /** Under `acceptDuplicates`: the device is in an earlier request still in flight, so it is acted on again. */
  repeat?: boolean;
  outcome: DeviceOutcome;
  fault?: DeviceFailure;
}

/** What the callback builders read of a request. */
export interface ContentSource {
  summary: Pick<ProfileRequestSummary, 'requestId' | 'operation'>;
  fields: RequestFields;
}

export interface ProfileRequest extends ContentSource {
  summary: ProfileRequestSummary;
  fields: RequestFields;
  plans: DevicePlan[];
  timing: DeliveryTiming;
  warningDelayMs: number;
}

export interface ProfileDeps {
  inventory: Inventory;
  faults: FaultState;
  random: SeededRandom;
  profiles: ProfileState;
  /** Swaps: their new lines' MDNs are taken although no device carries them yet. */
  operations: SwapRecord[];
  acted: ActedLedger;
  /** Stray callbacks for the request's devices, delivered before it is answered (the `strayCallbacks` profile). */
  strayCallbacks(accountName: string, trigger: { operation: ProfileOperation; devices: SimDevice[] }): Promise<void>;
  now(): number;
  callbackDelayMs(): number;
  deliveryTiming(): DeliveryTiming;
}
