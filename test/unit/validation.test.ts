import { describeIssues, validateEidDeviceSwap, type ValidationIssue } from '../../contracts/validation.js';
import { deviceKey, workflowIds } from '../../contracts/names.js';
import type { DeviceId, EidDeviceSwapRequest } from '../../contracts/types.js';
import { pageExample, SWAP_IN_EID, SWAP_OUT_EID } from '../fixtures/swap-request.js';

/** The example with one identifier of the swapped-out device replaced. */
function withSwapOutId(kind: string, id: string): EidDeviceSwapRequest {
  const request = pageExample();
  request.deviceToSwapOut = request.deviceToSwapOut.map((d) => (d.kind === kind ? { kind, id } : d));
  return request;
}

describe('validateEidDeviceSwap', () => {
  it('accepts the example request of the eid-device-swap page once its JSON is repaired', () => {
    expect(validateEidDeviceSwap(pageExample())).toEqual([]);
  });

  it('accepts the example with an optional IP pool, upper-case kinds and every saga option', () => {
    const request = {
      ...pageExample(),
      carrierIpPoolName: 'IPPool',
      deviceToSwapIn: [
        { kind: 'EID', id: SWAP_IN_EID },
        { kind: 'Imei', id: '990013907884259' },
        { kind: 'ICCID', id: '8914800000434606015F' },
      ],
      options: { stepTimeout: '30 minutes', failurePolicy: 'fail' },
    };
    expect(validateEidDeviceSwap(request)).toEqual([]);
  });

  it('when the request is empty, every required field is named in page order', () => {
    expect(validateEidDeviceSwap({})).toEqual([
      { field: 'accountName', message: 'accountName is required' },
      { field: 'deviceToSwapOut', message: 'deviceToSwapOut is required: a non-empty array of {kind, id}' },
      { field: 'deviceToSwapIn', message: 'deviceToSwapIn is required: a non-empty array of {kind, id}' },
      { field: 'mdnZipCode', message: 'mdnZipCode is required' },
      { field: 'serviceName', message: 'serviceName is required' },
      { field: 'stateName', message: 'stateName is required' },
      { field: 'servicePlan', message: 'servicePlan is required' },
      { field: 'smsrOid', message: 'smsrOid is required' },
    ]);
  });

  it.each(['accountName', 'mdnZipCode', 'serviceName', 'stateName', 'servicePlan', 'smsrOid'])(
    'when only %s is missing, exactly that field is reported',
    (field) => {
      const request: Record<string, unknown> = { ...pageExample() };
      delete request[field];
      expect(validateEidDeviceSwap(request)).toEqual([{ field, message: `${field} is required` }]);
    },
  );

  it('an empty string counts as missing, and blank or non-string values are called out as such', () => {
    const request = { ...pageExample(), accountName: '', serviceName: '   ', stateName: 42, servicePlan: null };
    expect(validateEidDeviceSwap(request)).toEqual([
      { field: 'accountName', message: 'accountName is required' },
      { field: 'serviceName', message: 'serviceName must be a non-empty string' },
      { field: 'stateName', message: 'stateName must be a non-empty string' },
      { field: 'servicePlan', message: 'servicePlan is required' },
    ]);
  });

  it('an empty optional IP pool name is rejected rather than sent to ThingSpace', () => {
    expect(validateEidDeviceSwap({ ...pageExample(), carrierIpPoolName: '' })).toEqual([
      { field: 'carrierIpPoolName', message: 'carrierIpPoolName must be a non-empty string when given' },
    ]);
  });

  it.each([null, [], 'swap', 42])('when the request is %p rather than an object, that is the only issue', (input) => {
    expect(validateEidDeviceSwap(input)).toEqual([{ field: 'request', message: 'request must be a JSON object' }]);
  });

  it('device lists that are not non-empty arrays are reported, with no follow-on kind complaints', () => {
    const request = { ...pageExample(), deviceToSwapOut: [], deviceToSwapIn: { kind: 'eid', id: SWAP_IN_EID } };
    expect(validateEidDeviceSwap(request)).toEqual([
      { field: 'deviceToSwapOut', message: 'deviceToSwapOut is required: a non-empty array of {kind, id}' },
      { field: 'deviceToSwapIn', message: 'deviceToSwapIn is required: a non-empty array of {kind, id}' },
    ]);
  });

  it('a device entry that is not an object, or lacks kind and id, is named by its index', () => {
    const request = {
      ...pageExample(),
      deviceToSwapIn: ['eid', { kind: 'eid' }, { id: '990013907884259' }],
    };
    expect(validateEidDeviceSwap(request)).toEqual([
      { field: 'deviceToSwapIn[0]', message: 'deviceToSwapIn[0] must be a JSON object' },
      { field: 'deviceToSwapIn[1].id', message: 'deviceToSwapIn[1].id is required' },
      { field: 'deviceToSwapIn[2].kind', message: 'deviceToSwapIn[2].kind is required' },
      {
        field: 'deviceToSwapIn',
        message: "deviceToSwapIn must include the device's eid: the page requires EID and IMEI",
      },
      {
        field: 'deviceToSwapIn',
        message: "deviceToSwapIn must include the device's imei: the page requires EID and IMEI",
      },
    ]);
  });

  it('an identifier kind ThingSpace does not know is rejected with the list of known kinds', () => {
    const request = pageExample();
    request.deviceToSwapOut.push({ kind: 'serial', id: 'SN-1' });
    expect(validateEidDeviceSwap(request)).toEqual([
      {
        field: 'deviceToSwapOut[4].kind',
        message: "deviceToSwapOut[4].kind 'serial' is not one of eid, iccid, imei, mdn, msisdn, meid, esn, imsi",
      },
    ]);
  });

  it('the same kind twice on one device is rejected, whatever its casing', () => {
    const request = pageExample();
    request.deviceToSwapOut.push({ kind: 'IMEI', id: '990013907835581' });
    expect(validateEidDeviceSwap(request)).toEqual([
      { field: 'deviceToSwapOut[4].kind', message: "deviceToSwapOut[4].kind 'imei' appears more than once" },
    ]);
  });

  describe('identifier formats of thingspace-api-notes.md', () => {
    const cases: [kind: string, id: string, valid: boolean][] = [
      ['eid', SWAP_OUT_EID, true],
      ['eid', '666456789123456789123456784008', false],
      ['eid', `${SWAP_OUT_EID}0`, false],
      ['eid', '8903302331215000000000026361923A', false],
      ['iccid', '8914800000080078425', true],
      ['iccid', '89148000000800784259', true],
      ['iccid', '8914800000080078425F', true],
      ['iccid', '8914800000080078425f', true],
      ['iccid', '891480000008007842', false],
      ['iccid', '891480000008007842590', false],
      ['iccid', '89148000000A00784259', false],
      ['imei', '990013907835573', true],
      ['imei', '9900139078355730', true],
      ['imei', '99001390783557', false],
      ['imei', '99001390783557300', false],
      ['mdn', '8586928930', true],
      ['mdn', '858692893', false],
      ['mdn', '858-692-8930', false],
    ];
    const rules: Record<string, string> = {
      eid: '32 digits',
      iccid: '19 or 20 digits (the last may be a hex check digit)',
      imei: '15 digits (16 for an IMEISV)',
      mdn: '10 digits',
    };
    const index: Record<string, number> = { mdn: 0, eid: 1, imei: 2, iccid: 3 };

    it.each(cases)('a swapped-out %s of %s is valid: %p', (kind, id, valid) => {
      const expected: ValidationIssue[] = valid
        ? []
        : [
            {
              field: `deviceToSwapOut[${index[kind]}].id`,
              message: `deviceToSwapOut[${index[kind]}].id must be ${rules[kind]} for kind ${kind}`,
            },
          ];
      expect(validateEidDeviceSwap(withSwapOutId(kind, id))).toEqual(expected);
    });

    it('the swapped-in device is held to the same formats', () => {
      const request = pageExample();
      request.deviceToSwapIn = [
        { kind: 'eid', id: '678912789123453456784008666456' },
        { kind: 'imei', id: '99001390788425' },
      ];
      expect(validateEidDeviceSwap(request)).toEqual([
        { field: 'deviceToSwapIn[0].id', message: 'deviceToSwapIn[0].id must be 32 digits for kind eid' },
        {
          field: 'deviceToSwapIn[1].id',
          message: 'deviceToSwapIn[1].id must be 15 digits (16 for an IMEISV) for kind imei',
        },
      ]);
    });

    it('kinds without a documented format only need a non-empty id; a MEID must be hex', () => {
      const request = pageExample();
      request.deviceToSwapOut.push(
        { kind: 'msisdn', id: '+1 858 692 8930' },
        { kind: 'meid', id: 'A0000012345678' },
        { kind: 'esn', id: '' },
      );
      request.deviceToSwapIn.push({ kind: 'meid', id: 'not-hex-at-all' });
      expect(validateEidDeviceSwap(request)).toEqual([
        { field: 'deviceToSwapOut[6].id', message: 'deviceToSwapOut[6].id is required' },
        {
          field: 'deviceToSwapIn[2].id',
          message: 'deviceToSwapIn[2].id must be 14 to 18 hex digits for kind meid',
        },
      ]);
    });
  });

  it.each(['mdn', 'eid', 'imei', 'iccid'])('a swapped-out device without its %s is rejected', (kind) => {
    const request = pageExample();
    request.deviceToSwapOut = request.deviceToSwapOut.filter((d) => d.kind !== kind);
    expect(validateEidDeviceSwap(request)).toEqual([
      {
        field: 'deviceToSwapOut',
        message: `deviceToSwapOut must include the device's ${kind}: the page requires MDN, EID, IMEI and ICCID`,
      },
    ]);
  });

  it('a swapped-out device given only by its MDN is told every other identifier it lacks', () => {
    const request = { ...pageExample(), deviceToSwapOut: [{ kind: 'mdn', id: '8586928930' }] };
    expect(validateEidDeviceSwap(request).map((i) => i.message)).toEqual([
      "deviceToSwapOut must include the device's eid: the page requires MDN, EID, IMEI and ICCID",
      "deviceToSwapOut must include the device's imei: the page requires MDN, EID, IMEI and ICCID",
      "deviceToSwapOut must include the device's iccid: the page requires MDN, EID, IMEI and ICCID",
    ]);
  });

  it.each(['eid', 'imei'])('a replacement device without its %s is rejected', (kind) => {
    const request = pageExample();
    request.deviceToSwapIn = request.deviceToSwapIn.filter((d) => d.kind !== kind);
    expect(validateEidDeviceSwap(request)).toEqual([
      {
        field: 'deviceToSwapIn',
        message: `deviceToSwapIn must include the device's ${kind}: the page requires EID and IMEI`,
      },
    ]);
  });

  it('swapping a device for itself is rejected, naming the shared identifier', () => {
    const request = pageExample();
    request.deviceToSwapIn = [
      { kind: 'eid', id: SWAP_IN_EID },
      { kind: 'imei', id: '990013907835573' },
    ];
    expect(validateEidDeviceSwap(request)).toEqual([
      { field: 'deviceToSwapIn', message: 'deviceToSwapIn shares imei 990013907835573 with deviceToSwapOut' },
    ]);
  });

  it('a swapped-in device sharing an identifier whose kind is written in capitals is still caught', () => {
    const request = pageExample();
    request.deviceToSwapIn = [
      { kind: 'EID', id: SWAP_OUT_EID },
      { kind: 'imei', id: '990013907884259' },
    ];
    expect(validateEidDeviceSwap(request)).toEqual([
      { field: 'deviceToSwapIn', message: `deviceToSwapIn shares eid ${SWAP_OUT_EID} with deviceToSwapOut` },
    ]);
  });

  it.each(['9880', '988021', '98802-1234', 'ABCDE'])('a ZIP code of %p is rejected: five digits only', (zip) => {
    expect(validateEidDeviceSwap({ ...pageExample(), mdnZipCode: zip })).toEqual([
      { field: 'mdnZipCode', message: 'mdnZipCode must be 5 digits' },
    ]);
  });

  it.each([
    ['1.3.6.1.4.1.31746.1.500.200.101.15', true],
    ['1.3', true],
    ['1', false],
    ['1.3.6.', false],
    ['.1.3', false],
    ['1.3.x.1', false],
    ['oid:1.3.6', false],
  ])('an SM-SR object id of %p is valid: %p', (smsrOid, valid) => {
    expect(validateEidDeviceSwap({ ...pageExample(), smsrOid })).toEqual(
      valid ? [] : [{ field: 'smsrOid', message: 'smsrOid must be an object id of dot-separated numbers' }],
    );
  });

  describe('options', () => {
    const stepTimeoutIssue = {
      field: 'options.stepTimeout',
      message: "options.stepTimeout must be a positive number of milliseconds or a duration like '30 minutes'",
    };

    it.each([60_000, 0.5, '30 minutes', '2h', '1.5 hours', '45s', '500ms', '1 day', '10 m'])(
      'a step timeout of %p is accepted',
      (stepTimeout) => {
        expect(validateEidDeviceSwap({ ...pageExample(), options: { stepTimeout } })).toEqual([]);
      },
    );

    it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, 'soon', '30', '', 'minutes', '-5 minutes', true, {}])(
      'a step timeout of %p is rejected',
      (stepTimeout) => {
        expect(validateEidDeviceSwap({ ...pageExample(), options: { stepTimeout } })).toEqual([stepTimeoutIssue]);
      },
    );

    it.each(['0 ms', '0s', '0 minutes'])(
      'a zero-length duration string %p is rejected like the number 0, since a step cannot wait no time at all',
      (stepTimeout) => {
        expect(validateEidDeviceSwap({ ...pageExample(), options: { stepTimeout } })).toEqual([stepTimeoutIssue]);
      },
    );

    it.each([' 10 m ', '10\tm', '30 minutes\n'])(
      'a duration %j that Temporal cannot parse is rejected, because the saga hands the string to condition() as is',
      (stepTimeout) => {
        expect(validateEidDeviceSwap({ ...pageExample(), options: { stepTimeout } })).toEqual([stepTimeoutIssue]);
      },
    );

    it('an unknown failure policy is rejected', () => {
      expect(validateEidDeviceSwap({ ...pageExample(), options: { failurePolicy: 'sometimes' } })).toEqual([
        {
          field: 'options.failurePolicy',
          message: "options.failurePolicy must be one of 'fail', 'hold', 'compensate'",
        },
      ]);
    });

    it.each(['fail', 'hold', 'compensate'])('the failure policy %s is accepted', (failurePolicy) => {
      expect(validateEidDeviceSwap({ ...pageExample(), options: { failurePolicy } })).toEqual([]);
    });

    it.each([null, 'fast', [1]])('options of %p are rejected as not an object', (options) => {
      expect(validateEidDeviceSwap({ ...pageExample(), options })).toEqual([
        { field: 'options', message: 'options must be a JSON object' },
      ]);
    });
  });

  it('reports every issue of a badly broken request at once, in field order', () => {
    const request = {
      accountName: '1223334444-01234',
      deviceToSwapOut: [
        { kind: 'mdn', id: '858692893' },
        { kind: 'eid', id: SWAP_OUT_EID },
      ],
      deviceToSwapIn: [{ kind: 'eid', id: SWAP_OUT_EID }],
      mdnZipCode: '988',
      serviceName: 'WiFi',
      stateName: 'WiFi Activate',
      servicePlan: '4G 2GB',
      smsrOid: 'sm-sr',
      options: { stepTimeout: 'later' },
    };
    expect(validateEidDeviceSwap(request)).toEqual([
      { field: 'deviceToSwapOut[0].id', message: 'deviceToSwapOut[0].id must be 10 digits for kind mdn' },
      {
        field: 'deviceToSwapOut',
        message: "deviceToSwapOut must include the device's imei: the page requires MDN, EID, IMEI and ICCID",
      },
      {
        field: 'deviceToSwapOut',
        message: "deviceToSwapOut must include the device's iccid: the page requires MDN, EID, IMEI and ICCID",
      },
      {
        field: 'deviceToSwapIn',
        message: "deviceToSwapIn must include the device's imei: the page requires EID and IMEI",
      },
      { field: 'deviceToSwapIn', message: `deviceToSwapIn shares eid ${SWAP_OUT_EID} with deviceToSwapOut` },
      { field: 'mdnZipCode', message: 'mdnZipCode must be 5 digits' },
      { field: 'smsrOid', message: 'smsrOid must be an object id of dot-separated numbers' },
      {
        field: 'options.stepTimeout',
        message: "options.stepTimeout must be a positive number of milliseconds or a duration like '30 minutes'",
      },
    ]);
  });
});

describe('describeIssues', () => {
  it('joins every issue into one sentence for the InvalidRequest failure', () => {
    const request: Record<string, unknown> = { ...pageExample(), mdnZipCode: '9880' };
    delete request.accountName;
    expect(describeIssues(validateEidDeviceSwap(request))).toBe(
      'Invalid request: accountName is required; mdnZipCode must be 5 digits',
    );
  });

  it('spells out the first 20 issues and counts the rest, so a bulk request with thousands of bad devices stays readable', () => {
    const issues = Array.from({ length: 23 }, (_, i) => ({ field: `devices[${i}]`, message: `issue ${i}` }));
    const text = describeIssues(issues);
    expect(text).toContain('issue 19; and 3 more issues');
    expect(text).not.toContain('issue 20');
  });

  it('names a single issue without a trailing separator', () => {
    expect(describeIssues([{ field: 'request', message: 'request must be a JSON object' }])).toBe(
      'Invalid request: request must be a JSON object',
    );
  });
});

describe('deviceKey', () => {
  it('lower-cases the kind and the id, so a hex ICCID check digit matches whatever casing a callback uses', () => {
    expect(deviceKey({ kind: 'ICCID', id: '8914800000080078425F' })).toBe('iccid:8914800000080078425f');
    expect(deviceKey({ kind: 'Imei', id: '990013907835573' })).toBe('imei:990013907835573');
  });
});

describe('workflowIds.eidDeviceSwap', () => {
  it('names the saga after the account and the EIDs of both devices', () => {
    expect(workflowIds.eidDeviceSwap(pageExample())).toBe(
      `eidDeviceSwap:1223334444-01234:eid:${SWAP_OUT_EID}>eid:${SWAP_IN_EID}`,
    );
  });

  it('a retried start of the same swap gets the same id, whatever the order and casing of the identifiers', () => {
    const reordered = pageExample();
    reordered.deviceToSwapOut = [...reordered.deviceToSwapOut]
      .reverse()
      .map((d) => ({ ...d, kind: d.kind.toUpperCase() }));
    expect(workflowIds.eidDeviceSwap(reordered)).toBe(workflowIds.eidDeviceSwap(pageExample()));
  });

  it('falls back to the next identifier kind in preference order, then to the first, then to none', () => {
    const onlyIccid: DeviceId[] = [
      { kind: 'mdn', id: '8586928930' },
      { kind: 'iccid', id: '8914800000080078425F' },
    ];
    const unusual: DeviceId[] = [{ kind: 'serial', id: 'SN-1' }];
    expect(
      workflowIds.eidDeviceSwap({ accountName: 'acct', deviceToSwapOut: onlyIccid, deviceToSwapIn: unusual }),
    ).toBe('eidDeviceSwap:acct:iccid:8914800000080078425f>serial:sn-1');
    expect(workflowIds.eidDeviceSwap({ accountName: 'acct', deviceToSwapOut: [], deviceToSwapIn: [] })).toBe(
      'eidDeviceSwap:acct:none>none',
    );
  });

  it('two different swaps of the same account get different ids', () => {
    const other = pageExample();
    other.deviceToSwapIn = [
      { kind: 'eid', id: '89033023312150000000000200000001' },
      { kind: 'imei', id: '990013907884267' },
    ];
    expect(workflowIds.eidDeviceSwap(other)).not.toBe(workflowIds.eidDeviceSwap(pageExample()));
  });
});
