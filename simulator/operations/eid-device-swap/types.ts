/** The eidDeviceSwap's records and dependencies, shared by its validation, planning, callbacks and handler. */
import type { CallbackService, DeviceId, SwapStep } from '../../../contracts/types.js';
import type { ActedLedger } from '../../platform/acted.js';
import type { CallbackDispatcher, DeliveryTiming } from '../../platform/delivery.js';
import type { Inventory, SimDevice } from '../../platform/devices/inventory.js';
import type { FaultState } from '../../platform/faults.js';
import type { SeededRandom } from '../../platform/random.js';

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

/** A swap request's fields as read from its body, before the account and devices are looked at. */
export interface SwapRequestFields {
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

/** A valid swap: the request's fields with the two devices its identifiers name. */
export interface ValidSwap extends Omit<SwapRequestFields, 'outIds' | 'inIds'> {
  out: SimDevice;
  into: SimDevice;
}

/** The fault dice rolled for one step when the swap was accepted. */
export interface StepPlan {
  step: SwapStep;
  duplicate: boolean;
  drop: boolean;
}
