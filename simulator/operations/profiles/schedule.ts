/**
 * Generating each device's callbacks at the pacer's pace: the operation carried out (or failed) when its
 * final callback is generated, a WARNING first for a device not reachable yet.
 */
import type { CallbackJob } from '../../platform/delivery.js';
import type { SimDevice } from '../../platform/devices/inventory.js';
import { ErrorCode } from '../../platform/errors.js';
import { shuffle } from '../../platform/random.js';
import { failureContent, SERVICE, successContent, warningContent } from './callbacks.js';
import { applyEffect, stateFailure } from './effects.js';
import type { CallFlags, DeviceFailure, DeviceOutcome, DevicePlan, ProfileDeps, ProfileRequest } from './types.js';

function setOutcome(request: ProfileRequest, plan: DevicePlan, outcome: DeviceOutcome): void {
  request.summary.outcomes[plan.outcome]--;
  request.summary.outcomes[outcome]++;
  plan.outcome = outcome;
}

function job(request: ProfileRequest, step: string, content: Record<string, unknown>, flags: CallFlags): CallbackJob {
  return {
    accountName: request.summary.accountName,
    service: SERVICE,
    step,
    requestId: request.summary.requestId,
    content,
    duplicate: flags.duplicate,
    drop: flags.drop,
    timing: request.timing,
  };
}

function deviceOf(deps: ProfileDeps, plan: DevicePlan): SimDevice | undefined {
  return plan.deviceNumber === undefined ? undefined : deps.inventory.byNumber(plan.deviceNumber);
}

/** The device's final callback: the operation carried out (or failed) now, its effect applied. */
function finish(deps: ProfileDeps, request: ProfileRequest, plan: DevicePlan): CallbackJob {
  const { operation } = request.summary;
  const device = deviceOf(deps, plan);
  const failure =
    plan.failure ??
    (device
      ? plan.repeat
        ? undefined
        : stateFailure(operation, device)
      : { faultcode: ErrorCode.DeviceNotFound, faultstring: 'The device was not found.' });
  let content: Record<string, unknown>;
  if (failure || !device) {
    plan.fault = failure;
    setOutcome(request, plan, 'failed');
    content = failureContent(request, plan, device, failure as DeviceFailure);
  } else {
    applyEffect(deps, request, plan, device);
    setOutcome(request, plan, 'succeeded');
    content = successContent(request, device);
  }
  if (plan.mdn) deps.profiles.reservedMdns.delete(plan.mdn);
  return job(request, operation, content, plan.calls.final);
}

/** eUICC: the device is not reachable yet; its final callback follows after the warning delay. */
function warn(deps: ProfileDeps, request: ProfileRequest, plan: DevicePlan): CallbackJob {
  const device = deviceOf(deps, plan);
  if (!device) return finish(deps, request, plan);
  setOutcome(request, plan, 'warning');
  deps.profiles.pacer.enqueue(request.warningDelayMs, [() => finish(deps, request, plan)]);
  return job(request, `${request.summary.operation}:warning`, warningContent(request, device), plan.calls.warning);
}

/** Queues every device's first callback in the order the `callbacks.order` fault asks for. */
export function scheduleRequest(deps: ProfileDeps, request: ProfileRequest): void {
  const { order } = deps.faults.callbacks;
  const live = request.plans.filter((p) => p.outcome !== 'never');
  const ordered =
    order === 'reverse' ? [...live].reverse() : order === 'random' ? shuffle(deps.random.faults, live) : live;
  deps.profiles.pacer.enqueue(
    deps.callbackDelayMs(),
    ordered.map((plan) => () => (plan.warning ? warn(deps, request, plan) : finish(deps, request, plan))),
  );
}
