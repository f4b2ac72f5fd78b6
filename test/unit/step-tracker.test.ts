/**
 * Where each step of a saga stands (workflows/saga/steps.ts) under the operations' rules
 * (swap-steps.ts, identifier-steps.ts, reverse-swap.ts): pure, no Temporal needed.
 */
import type { CallbackEvent, ChangeDeviceIdentifierRequest } from '../../contracts/index.js';
import { identifierChangeRules } from '../../workflows/identifier-steps.js';
import { reverseSwapRequest, reverseSwapRules } from '../../workflows/reverse-swap.js';
import { OwnRequestIds } from '../../workflows/saga/callbacks.js';
import { StepTracker, type Judge } from '../../workflows/saga/steps.js';
import { swapStepRules } from '../../workflows/swap-steps.js';
import { pageExample, SWAP_IN_EID, SWAP_OUT_EID } from '../fixtures/swap-request.js';

const ORIGINAL_EID = SWAP_OUT_EID;
const REPLACEMENT_EID = SWAP_IN_EID;
const swap = pageExample();

let inbox = 0;
const event = (over: Partial<CallbackEvent>): CallbackEvent => ({
  fingerprint: `f${++inbox}`,
  inboxId: inbox,
  service: 'CarrierService',
  type: 'deactivation',
  status: 'success',
  deviceIds: [],
  receivedAt: '2026-12-03T10:00:00.000Z',
  ...over,
});

/** The callbacks of the swap, as the page's examples report them. */
const deactivated = (over: Partial<CallbackEvent> = {}) =>
  event({ type: 'deactivation', deviceIds: [{ kind: 'iccid', id: '42590078891480000008' }], ...over });
const identifierChanged = (over: Partial<CallbackEvent> = {}) =>
  event({
    type: 'identifierChange',
    deviceIds: [{ kind: 'mdn', id: '8586928930' }],
    resultDeviceIds: [
      { kind: 'eid', id: REPLACEMENT_EID },
      { kind: 'mdn', id: '8586928930' },
    ],
    profile: { profileStatus: 'ENABLED' } as CallbackEvent['profile'],
    ...over,
  });
const wentToState = (over: Partial<CallbackEvent> = {}) =>
  event({
    service: 'StateService',
    type: 'goToState',
    deviceIds: [{ kind: 'eid', id: ORIGINAL_EID }],
    resultDeviceIds: [{ kind: 'iccid', id: '89148000000000000999' }],
    ...over,
  });

/** The judge sagas that need evidence use: own request ids, or content that names the step. */
const evidenceJudge =
  (own: OwnRequestIds): Judge =>
  (_step, e, contentOk) =>
    own.judge(e, contentOk) === 'counts';

describe('StepTracker with the swap rules', () => {
  it('settles once the three outcomes came, in any order, with what each reported', () => {
    const steps = new StepTracker(swapStepRules(swap));
    expect(steps.apply(wentToState())).toBe('goToState');
    expect(steps.settled()).toBe(false);
    expect(steps.apply(identifierChanged())).toBe('identifierChange');
    expect(steps.apply(deactivated())).toBe('deactivation');
    expect(steps.settled()).toBe(true);
    expect(steps.failed()).toBeUndefined();
    expect(steps.results.identifierChange).toEqual({
      deviceIds: [
        { kind: 'eid', id: REPLACEMENT_EID },
        { kind: 'mdn', id: '8586928930' },
      ],
      profileStatus: 'ENABLED',
    });
    expect(steps.results.goToState?.deviceIds).toEqual([{ kind: 'iccid', id: '89148000000000000999' }]);
    expect(steps.states.deactivation).toMatchObject({ state: 'confirmed', confirmedBy: 'callback' });
  });

  it('ignores warnings and a second outcome for a step already decided', () => {
    const steps = new StepTracker(swapStepRules(swap));
    expect(steps.apply(deactivated({ status: 'warning' }))).toBeUndefined();
    expect(steps.states.deactivation.state).toBe('waiting');
    steps.apply(deactivated());
    expect(steps.apply(deactivated({ status: 'failed', fault: { code: 'X', message: 'late' } }))).toBeUndefined();
    expect(steps.states.deactivation.state).toBe('confirmed');
  });

  it('puts a failure without a deviceResponse on the waiting step its service reports', () => {
    const steps = new StepTracker(swapStepRules(swap));
    const fault = { code: 'SE01', message: 'carrier error' };
    // StateService reports only GoToState.
    expect(steps.apply(event({ service: 'StateService', type: 'unknown', status: 'failed', fault }))).toBe('goToState');
    // CarrierService naming the EID: the identifier change first; without it the deactivation first.
    const eid = [{ kind: 'eid', id: REPLACEMENT_EID }];
    expect(steps.apply(event({ type: 'unknown', status: 'failed', deviceIds: eid, fault }))).toBe('identifierChange');
    expect(steps.apply(event({ type: 'unknown', status: 'failed', fault }))).toBe('deactivation');
    expect(steps.failed()).toBe('deactivation');
    expect(steps.states.goToState.fault).toEqual(fault);
  });

  it('with evidence: a stray success that names another device decides nothing; own request ids do', () => {
    const own = new OwnRequestIds();
    const steps = new StepTracker(swapStepRules(swap), evidenceJudge(own));
    const otherReplacement = [{ kind: 'eid', id: '89049032000001000000999999999999' }];
    expect(steps.apply(identifierChanged({ requestId: 'stray', resultDeviceIds: otherReplacement }))).toBeUndefined();
    expect(steps.states.identifierChange.state).toBe('waiting');
    own.add('mine');
    expect(steps.apply(identifierChanged({ requestId: 'mine', resultDeviceIds: otherReplacement }))).toBe(
      'identifierChange',
    );
    // A failure of an unknown request id is not the judge's to count.
    expect(steps.apply(deactivated({ requestId: 'other', status: 'failed' }))).toBeUndefined();
    expect(steps.states.deactivation.state).toBe('waiting');
  });

  it('times out the waiting steps; a held saga still takes their late outcome', () => {
    const steps = new StepTracker(swapStepRules(swap));
    steps.apply(deactivated());
    expect(steps.timeOut()).toEqual(['identifierChange', 'goToState']);
    expect(steps.apply(wentToState())).toBeUndefined();
    expect(steps.apply(wentToState(), true)).toBe('goToState');
    expect(steps.states.identifierChange.state).toBe('timedOut');
  });

  it('reopens failed steps for a retry and puts them back when the resubmission is refused', () => {
    const steps = new StepTracker(swapStepRules(swap));
    steps.apply(deactivated());
    steps.apply(identifierChanged({ status: 'failed', fault: { code: 'E', message: 'no' } }));
    const failedBefore = steps.states.identifierChange;
    const restore = steps.reopen('failed');
    expect(steps.states.identifierChange).toEqual({ state: 'waiting' });
    expect(steps.states.deactivation.state).toBe('confirmed');
    restore();
    expect(steps.states.identifierChange).toBe(failedBefore);
  });

  it('fails a waiting step with its unverified failure when the device list does not show it', () => {
    const steps = new StepTracker(swapStepRules(swap));
    steps.apply(deactivated());
    expect(steps.nothingSeen()).toBe(false);
    const fault = { code: 'E', message: 'reported by an unknown request' };
    expect(steps.failUnverified([{ step: 'deactivation', fault }])).toBeUndefined();
    expect(steps.failUnverified([{ step: 'goToState', fault, requestId: 'r9' }])).toBe('goToState');
    expect(steps.states.goToState).toMatchObject({ state: 'failed', fault, requestId: 'r9' });
  });

  it('confirms a step from the device list with what the list reported', () => {
    const steps = new StepTracker(swapStepRules(swap));
    steps.confirm('identifierChange', [{ kind: 'mdn', id: '8586928930' }]);
    expect(steps.states.identifierChange).toMatchObject({ state: 'confirmed', confirmedBy: 'reconciliation' });
    expect(steps.results.identifierChange).toEqual({ deviceIds: [{ kind: 'mdn', id: '8586928930' }] });
  });
});

describe('StepTracker with the identifier-change rules', () => {
  const changeIccid = {
    change4gOption: 'ChangeICCID',
    deviceIds: [
      { kind: 'imei', id: '990013907835573' },
      { kind: 'iccid', id: '89148000000800000001' },
    ],
    deviceIdsTo: [{ kind: 'iccid', id: '89148000000800000002' }],
  } as ChangeDeviceIdentifierRequest;

  it('takes the CarrierService outcome or its bare failure, nothing else', () => {
    const steps = new StepTracker(identifierChangeRules(changeIccid));
    expect(steps.apply(deactivated())).toBeUndefined();
    expect(steps.apply(event({ service: 'StateService', type: 'goToState' }))).toBeUndefined();
    expect(steps.apply(event({ type: 'unknown', status: 'failed' }))).toBe('identifierChange');
    expect(steps.failed()).toBe('identifierChange');
  });

  it('with evidence: a success counts when it names the new identifiers; ChangeMSISDN by an identifier that stays', () => {
    const own = new OwnRequestIds();
    const steps = new StepTracker(identifierChangeRules(changeIccid), evidenceJudge(own));
    const newSim = [{ kind: 'iccid', id: '89148000000800000002' }];
    expect(steps.apply(event({ type: 'identifierChange', requestId: 's', resultDeviceIds: [] }))).toBeUndefined();
    expect(
      steps.apply(event({ type: 'identifierChange', requestId: 'r', resultDeviceIds: newSim, servicePlan: 'P' })),
    ).toBe('identifierChange');
    expect(steps.results.identifierChange).toEqual({ deviceIds: newSim, servicePlan: 'P' });

    const changeMsisdn = {
      change4gOption: 'ChangeMSISDN',
      deviceIds: [
        { kind: 'mdn', id: '8586920000' },
        { kind: 'imei', id: '990013907835573' },
      ],
    } as ChangeDeviceIdentifierRequest;
    const msisdn = new StepTracker(identifierChangeRules(changeMsisdn), evidenceJudge(new OwnRequestIds()));
    const sameNumber = event({
      type: 'identifierChange',
      requestId: 'x',
      deviceIds: [{ kind: 'mdn', id: '8586920000' }],
    });
    expect(msisdn.apply(sameNumber)).toBeUndefined();
    const byImei = event({
      type: 'identifierChange',
      requestId: 'y',
      deviceIds: [{ kind: 'imei', id: '990013907835573' }],
    });
    expect(msisdn.apply(byImei)).toBe('identifierChange');
  });
});

describe('the reverse swap', () => {
  it('sends the replacement out with the MDN, and the original in with its new line', () => {
    const reverse = reverseSwapRequest(swap, {
      swappedIn: [
        { kind: 'EID', id: REPLACEMENT_EID },
        { kind: 'mdn', id: '8586928930' },
        { kind: 'iccid', id: '89148000000000000777' },
      ],
      swappedOut: [{ kind: 'iccid', id: '89148000000000000999' }],
      originalLineDeactivated: true,
    });
    expect(reverse.deviceToSwapOut).toEqual([
      { kind: 'mdn', id: '8586928930' },
      { kind: 'eid', id: REPLACEMENT_EID },
      { kind: 'imei', id: '990013907884259' },
      { kind: 'iccid', id: '89148000000000000777' },
    ]);
    expect(reverse.deviceToSwapIn).toEqual([
      { kind: 'eid', id: ORIGINAL_EID },
      { kind: 'imei', id: '990013907835573' },
      { kind: 'iccid', id: '89148000000000000999' },
    ]);
    expect(reverse).toMatchObject({ accountName: swap.accountName, mdnZipCode: '98802', servicePlan: '4G 2GB' });
  });

  it('names the original ICCID only while its line was never deactivated', () => {
    const forward = { swappedIn: undefined, swappedOut: undefined };
    const active = reverseSwapRequest(swap, { ...forward, originalLineDeactivated: false });
    expect(active.deviceToSwapIn).toContainEqual({ kind: 'iccid', id: '42590078891480000008' });
    const gone = reverseSwapRequest(swap, { ...forward, originalLineDeactivated: true });
    expect(gone.deviceToSwapIn.map((d) => d.kind)).toEqual(['eid', 'imei']);
  });

  it('awaits only its identifier change: the MDN back on the original device, or a failure naming the replacement', () => {
    const back = new StepTracker(reverseSwapRules(swap));
    expect(back.apply(identifierChanged())).toBeUndefined();
    expect(back.apply(identifierChanged({ resultDeviceIds: [{ kind: 'eid', id: ORIGINAL_EID }] }))).toBe(
      'identifierChange',
    );
    const failed = new StepTracker(reverseSwapRules(swap));
    expect(failed.apply(event({ type: 'unknown', status: 'failed', deviceIds: [] }))).toBeUndefined();
    const namesReplacement = [{ kind: 'eid', id: REPLACEMENT_EID }];
    expect(failed.apply(event({ type: 'unknown', status: 'failed', deviceIds: namesReplacement }))).toBe(
      'identifierChange',
    );
  });
});
