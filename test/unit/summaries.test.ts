/** What the Temporal UI shows of a saga (contracts/summaries.ts): short, and without personal data. */
import type { ActivateDeviceProfilesRequest, ChangeDeviceIdentifierRequest } from '../../contracts/index.js';
import { sagaSummary, shortId, stepDetails } from '../../contracts/summaries.js';
import { pageExample, SWAP_IN_EID, SWAP_OUT_EID } from '../fixtures/swap-request.js';

describe('saga summaries', () => {
  it('names a swap by the last four characters of its MDN and EIDs', () => {
    const shown = sagaSummary('eidDeviceSwap', pageExample());
    expect(shown?.summary).toBe(
      `Swap MDN …8930: EID ${shortId(SWAP_OUT_EID)} → ${shortId(SWAP_IN_EID)} (account 1223334444-01234)`,
    );
    expect(shown?.details).toContain('| service plan | 4G 2GB |');
    for (const device of [...pageExample().deviceToSwapOut, ...pageExample().deviceToSwapIn]) {
      expect(shown?.details).not.toContain(device.id);
    }
  });

  it('counts the devices of a bulk operation, and never shows the place of use', () => {
    const devices = Array.from({ length: 250_000 }, () => ({ deviceIds: [] }));
    expect(sagaSummary('changeProfileServicePlan', { accountName: 'A', devices, servicePlan: '4G 2GB' })?.summary).toBe(
      'Plan change to 4G 2GB: 250,000 devices (account A)',
    );
    const activation = {
      accountName: 'A',
      devices: devices.slice(0, 3),
      primaryPlaceOfUse: {
        customerName: { firstName: 'Jane', lastName: 'Roe' },
        address: { addressLine1: '1 Main St', city: 'Springfield', state: 'IL', zip: '62701', country: 'USA' },
      },
    } as unknown as ActivateDeviceProfilesRequest;
    const shown = sagaSummary('activateDeviceProfiles', activation);
    expect(shown?.summary).toBe('Activate 3 eUICC profiles (account A)');
    for (const personal of ['Jane', 'Roe', 'Main St', 'Springfield', '62701']) {
      expect(`${shown?.summary}${shown?.details}`).not.toContain(personal);
    }
  });

  it('describes an identifier change by its option and shortened identifiers; a shard has none', () => {
    const change = {
      serviceType: '4G',
      change4gOption: 'ChangeICCID',
      deviceIds: [{ kind: 'iccid', id: '89148000000800000001' }],
      deviceIdsTo: [{ kind: 'iccid', id: '89148000000800000002' }],
      options: { accountName: 'A' },
    } as unknown as ChangeDeviceIdentifierRequest;
    expect(sagaSummary('changeDeviceIdentifier', change)?.summary).toBe(
      'ChangeICCID of iccid …0001 → iccid …0002 (account A)',
    );
    expect(sagaSummary('profileShard', {})).toBeUndefined();
  });

  it('tabulates the steps for the current details', () => {
    const details = stepDetails(
      'Swap',
      'awaitingCallbacks',
      {
        deactivation: { state: 'confirmed', confirmedBy: 'callback', at: '2026-12-03T10:00:01.250Z' },
        goToState: { state: 'waiting' },
      },
      { callbacks: 2, duplicates: 1, requestId: 'r1' },
    );
    expect(details.split('\n')).toEqual([
      '**Swap**: awaitingCallbacks, request r1',
      '',
      '| step | state | by / fault | at (UTC) |',
      '| --- | --- | --- | --- |',
      '| deactivation | confirmed | callback | 10:00:01 |',
      '| goToState | waiting |  |  |',
      '',
      '2 callbacks received, 1 duplicates ignored.',
    ]);
  });
});
