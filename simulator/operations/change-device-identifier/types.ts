/** The identifier change's records and dependencies, shared by its validation, planning, callbacks and handler. */
import type { Change4gOption, DeviceId, ServiceType } from '../../../contracts/types.js';
import type { ActedLedger } from '../../platform/acted.js';
import type { CallbackDispatcher, DeliveryTiming } from '../../platform/delivery.js';
import type { Inventory, SimDevice } from '../../platform/devices/inventory.js';
import type { FaultState, StepFailure } from '../../platform/faults.js';
import type { SeededRandom } from '../../platform/random.js';
import type { ChangeRule } from './rules.js';

/** The delivery-log step and fault key of the one callback this operation sends. */
export const CHANGE_IDENTIFIER_STEP = 'changeDeviceIdentifier';

export type ChangeStatus = 'scheduled' | 'completed' | 'failed' | 'never';

/** One accepted identifier change: what was asked, what was decided, and how it ended. */
export interface ChangeIdentifierRecord {
  requestId: string;
  /** The account the device lives in (the request body names none). */
  accountName: string;
  submittedAt: string;
  serviceType: ServiceType;
  change4gOption?: Change4gOption;
  deviceNumber: number;
  /** The device as the request named it; the callback names it so. */
  deviceIds: DeviceId[];
  /** The device's identifiers when the request was accepted. */
  before: DeviceId[];
  /** What the callback reports as changed: `deviceIdsTo`, or the new MDN and MSISDN. */
  newDeviceIds: DeviceId[];
  /** The device's plan after the change. */
  servicePlan: string;
  smsrOid?: string;
  /** ChangeMSISDN: the number assigned, and where it came from. */
  newMdn?: { mdn: string; source: 'nonGeo' | 'npaNxx' | 'zipCode' };
  /** Identifiers of replaced hardware, set when the change is applied. */
  replaced: DeviceId[];
  /** Why the callback reports a failure: decided at submit, injected, or found when it was generated. */
  failure?: StepFailure;
  status: ChangeStatus;
}

export interface ChangeIdentifierDeps {
  inventory: Inventory;
  dispatcher: CallbackDispatcher;
  faults: FaultState;
  random: SeededRandom;
  /** Swaps, whose new lines hold their MDNs until they are applied. */
  operations: readonly { newLine: { mdn: string } }[];
  changeIdentifierRequests: ChangeIdentifierRecord[];
  acted: ActedLedger;
  /** Stray callbacks for the device, delivered before the request is answered (the `strayCallbacks` profile). */
  strayCallbacks(
    accountName: string,
    trigger: { operation: 'changeDeviceIdentifier'; device: SimDevice },
  ): Promise<void>;
  now(): number;
  callbackDelayMs(): number;
  deliveryTiming(): DeliveryTiming;
}

export interface ValidChange {
  serviceType: ServiceType;
  option?: Change4gOption;
  rule: ChangeRule;
  device: SimDevice;
  deviceIds: DeviceId[];
  deviceIdsTo: DeviceId[];
  servicePlan?: string;
  assignNonGeoMdn?: boolean;
  npaNxx?: string;
  zipCode?: string;
  smsrOid?: string;
}

export interface DeliveryPlan {
  duplicate: boolean;
  drop: boolean;
  timing: DeliveryTiming;
}
