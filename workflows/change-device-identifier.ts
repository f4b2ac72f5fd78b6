/**
 * changeDeviceIdentifier saga (change-device-identifier.txt): validate → claim the device and its new
 * hardware → submit the change → await the one CarrierService callback that reports it or its failure,
 * the device list at the step timeout → release. A failure follows `options.failurePolicy` like the
 * swap's. The kernel (saga/) does the rest.
 */
import { CancellationScope } from '@temporalio/workflow';
import {
  validateChangeDeviceIdentifier,
  WORKFLOW_TYPES,
  type ChangeDeviceIdentifierRequest,
  type ChangeDeviceIdentifierResult,
} from '../contracts/index.js';
import { identifierChangeRules } from './identifier-steps.js';
import { thingspaceActivities } from './saga/activities.js';
import { RequestSaga } from './saga/request-saga.js';

const thingspace = thingspaceActivities('1 minute');

/** The page's follow-up after a ChangeIMEIandEID. */
const LOCAL_PROFILE_DOWNLOAD =
  'ChangeIMEIandEID: the local profile has to be downloaded to the new device now that the change has finished';

export async function changeDeviceIdentifier(
  request: ChangeDeviceIdentifierRequest,
): Promise<ChangeDeviceIdentifierResult> {
  const saga: RequestSaga<'identifierChange'> = new RequestSaga({
    operation: WORKFLOW_TYPES.changeDeviceIdentifier,
    noun: 'Identifier change',
    options: request.options,
    rules: identifierChangeRules(request),
    stepLabel: () => 'The identifier change',
    defaultPolicy: () => 'hold',
    submit: (activities) => activities.submitChangeDeviceIdentifier(request),
    reconcile: async (steps) => {
      const found = await thingspace.reconcileChangeDeviceIdentifier(request);
      if (steps.states.identifierChange.state !== 'waiting' || !found.newDeviceIds) return;
      steps.confirm(
        'identifierChange',
        found.newDeviceIds,
        found.servicePlan ? { servicePlan: found.servicePlan } : {},
      );
    },
    // The page offers no way back: changing the identifier again would need the old hardware, which stays in
    // ThingSpace's database ("To reuse a deactivated device, you must first delete the device"). So the
    // device list is asked: a change it shows after all completes the saga; otherwise nothing changed.
    beforeCompensating: async (steps) => {
      const found = await CancellationScope.nonCancellable(() => thingspace.reconcileChangeDeviceIdentifier(request));
      if (!found.newDeviceIds) return 'compensate';
      steps.confirm(
        'identifierChange',
        found.newDeviceIds,
        found.servicePlan ? { servicePlan: found.servicePlan } : {},
      );
      return 'completed';
    },
    status: (steps) => ({ step: steps.states.identifierChange }),
  });

  saga.validate(validateChangeDeviceIdentifier(request));
  // Sagas that started before the account was passed along claimed without it.
  const account = typeof request.options?.accountName === 'string' ? request.options.accountName : undefined;
  const claimAccount = saga.needsEvidence ? account : undefined;
  // The device by the identifiers the request names, and the hardware it moves to: both in one operation.
  const devices = [...request.deviceIds, ...(request.deviceIdsTo ?? [])];
  saga.tag(devices, claimAccount);

  return saga.run(devices, claimAccount, async () => {
    // A failed change changes nothing: the compensation only says so, once the device list showed it.
    saga.compensateWith({
      name: 'confirmIdentifierUnchanged',
      run: async () => ({
        compensation: 'confirmIdentifierUnchanged',
        outcome: 'nothingToUndo',
        detail: 'the device list shows the device under its old identifiers',
      }),
    });
    await saga.submit();
    await saga.settle();

    const { states, results } = saga.steps;
    const step = states.identifierChange;
    const found = results.identifierChange;
    return {
      requestId: saga.requestId ?? step.requestId ?? 'unknown',
      deviceIds: request.deviceIds,
      newDeviceIds: found?.deviceIds ?? [],
      ...(found?.servicePlan ? { servicePlan: found.servicePlan } : {}),
      confirmedBy: step.confirmedBy ?? 'callback',
      submittedAt: saga.submittedAt,
      completedAt: new Date().toISOString(),
      ...(saga.previousRequestIds.length > 0 ? { previousRequestIds: saga.previousRequestIds } : {}),
      ...(request.change4gOption === 'ChangeIMEIandEID' ? { followUps: [LOCAL_PROFILE_DOWNLOAD] } : {}),
    };
  });
}
