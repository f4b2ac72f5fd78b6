import { validateChangeDeviceIdentifier } from '../../contracts/validation.js';
import { WORKFLOW_TYPES, workflowIds } from '../../contracts/names.js';
import type { ChangeDeviceIdentifierRequest } from '../../contracts/types.js';

const SMSR_OID = '1.3.6.1.4.1.31746.1.500.200.101.5';
const EID = '89033023312150000000000256691984';
const DEVICE_IDS_REQUIRED = 'is required: a non-empty array of {kind, id}';
const OPTIONS_LIST = 'ChangeICCID, ChangeIMEI, ChangeIMEIandICCID, ChangeMSISDN, 3Gto4G, 4Gto3G, ChangeIMEIandEID';

/** A 4G SIM change as the page describes it: the device named by its IMEI, the new ICCID to move to. */
function simChange(): ChangeDeviceIdentifierRequest {
  return {
    serviceType: '4g',
    deviceIds: [{ kind: 'imei', id: '990013907835573' }],
    deviceIdsTo: [{ kind: 'iccid', id: '89148000004346060150' }],
    change4gOption: 'ChangeICCID',
  };
}

/** A 4G phone-number change: no new hardware, a number from an NPA NXX, a ZIP code as the fallback. */
function numberChange(): ChangeDeviceIdentifierRequest {
  return {
    serviceType: '4g',
    deviceIds: [{ kind: 'mdn', id: '8586928930' }],
    change4gOption: 'ChangeMSISDN',
    assignNonGeoMdn: false,
    npaNxx: '858692',
    zipCode: '92101',
  };
}

/** An eUICC replacement: the new device's EID and IMEI, and the SMSR the page requires. */
function euiccChange(): ChangeDeviceIdentifierRequest {
  return {
    serviceType: '4g',
    deviceIds: [{ kind: 'mdn', id: '8586928930' }],
    deviceIdsTo: [
      { kind: 'eid', id: EID },
      { kind: 'imei', id: '990013907884259' },
    ],
    change4gOption: 'ChangeIMEIandEID',
    smsrOid: SMSR_OID,
  };
}

describe('validateChangeDeviceIdentifier', () => {
  it('accepts a 4G SIM change named by the device IMEI and the new ICCID', () => {
    expect(validateChangeDeviceIdentifier(simChange())).toEqual([]);
  });

  it.each([
    ['ChangeICCID', simChange()],
    [
      'ChangeIMEI',
      { ...simChange(), change4gOption: 'ChangeIMEI', deviceIdsTo: [{ kind: 'imei', id: '990013907884259' }] },
    ],
    [
      'ChangeIMEIandICCID',
      {
        ...simChange(),
        change4gOption: 'ChangeIMEIandICCID',
        deviceIdsTo: [
          { kind: 'imei', id: '990013907884259' },
          { kind: 'iccid', id: '89148000004346060150' },
        ],
        servicePlan: 'M2M_4G',
      },
    ],
    ['ChangeMSISDN', numberChange()],
    ['3Gto4G', { ...simChange(), change4gOption: '3Gto4G', servicePlan: 'M2M_4G' }],
    ['4Gto3G', { ...simChange(), change4gOption: '4Gto3G', deviceIdsTo: [{ kind: 'esn', id: '22211315718' }] }],
    ['ChangeIMEIandEID', euiccChange()],
  ])('accepts %s, one of the seven change4gOptions the page lists, with the fields it needs', (_option, request) => {
    expect(validateChangeDeviceIdentifier(request)).toEqual([]);
  });

  it('accepts a 3G change without a change4gOption, which the page requires only for 4G', () => {
    const request = {
      serviceType: '3g',
      deviceIds: [{ kind: 'esn', id: '22211315718' }],
      deviceIdsTo: [{ kind: 'meid', id: 'A1000001999990' }],
    };
    expect(validateChangeDeviceIdentifier(request)).toEqual([]);
  });

  it('accepts a non-geographic number change without npaNxx, and every saga option', () => {
    const request = {
      serviceType: '4g',
      deviceIds: [{ kind: 'MDN', id: '8586928930' }],
      change4gOption: 'ChangeMSISDN',
      assignNonGeoMdn: true,
      options: { stepTimeout: '30 minutes', failurePolicy: 'compensate' },
    };
    expect(validateChangeDeviceIdentifier(request)).toEqual([]);
  });

  it('when the request is not an object, that is the only issue', () => {
    expect(validateChangeDeviceIdentifier([simChange()])).toEqual([
      { field: 'request', message: 'request must be a JSON object' },
    ]);
  });

  it('when the request is empty, serviceType, deviceIds and deviceIdsTo are named in page order', () => {
    expect(validateChangeDeviceIdentifier({})).toEqual([
      { field: 'serviceType', message: 'serviceType is required' },
      { field: 'deviceIds', message: `deviceIds ${DEVICE_IDS_REQUIRED}` },
      { field: 'deviceIdsTo', message: `deviceIdsTo ${DEVICE_IDS_REQUIRED}` },
    ]);
  });

  it('when serviceType is upper-case or a 5G, it is refused: the page allows only "3g" and "4g"', () => {
    expect(validateChangeDeviceIdentifier({ ...simChange(), serviceType: '4G' })).toEqual([
      { field: 'serviceType', message: `serviceType must be '3g' or '4g'` },
    ]);
    expect(validateChangeDeviceIdentifier({ ...simChange(), serviceType: '5g' })).toEqual([
      { field: 'serviceType', message: `serviceType must be '3g' or '4g'` },
    ]);
  });

  it('when a 4G change has no change4gOption, the issue says it is required for 4G', () => {
    const request: Partial<ChangeDeviceIdentifierRequest> = simChange();
    delete request.change4gOption;
    expect(validateChangeDeviceIdentifier(request)).toEqual([
      { field: 'change4gOption', message: 'change4gOption is required for 4G' },
    ]);
  });

  it('when the option is spelled change4GOption as in the page heading, the wire spelling is asked for', () => {
    const request: Record<string, unknown> = { ...simChange(), change4GOption: 'ChangeICCID' };
    delete request.change4gOption;
    expect(validateChangeDeviceIdentifier(request)).toEqual([
      { field: 'change4GOption', message: 'change4GOption must be spelled change4gOption' },
    ]);
  });

  it('when change4gOption differs from the page in case or is unknown, the seven values are listed', () => {
    for (const option of ['changeICCID', 'ChangeImei', '3gto4g', 'ChangeEID', 7]) {
      expect(validateChangeDeviceIdentifier({ ...simChange(), change4gOption: option })).toEqual([
        { field: 'change4gOption', message: `change4gOption must be one of ${OPTIONS_LIST}` },
      ]);
    }
  });

  it('when deviceIds and deviceIdsTo hold unknown kinds or malformed ids, each entry is named', () => {
    const request = {
      ...simChange(),
      deviceIds: [{ kind: 'serial', id: 'X1' }, { kind: 'imei', id: '99001390783557' }, { id: '8586928930' }],
      deviceIdsTo: [{ kind: 'iccid', id: '8914800000434606015G' }],
    };
    expect(validateChangeDeviceIdentifier(request)).toEqual([
      {
        field: 'deviceIds[0].kind',
        message: "deviceIds[0].kind 'serial' is not one of eid, iccid, imei, mdn, msisdn, meid, esn, imsi",
      },
      { field: 'deviceIds[1].id', message: 'deviceIds[1].id must be 15 digits (16 for an IMEISV) for kind imei' },
      { field: 'deviceIds[2].kind', message: 'deviceIds[2].kind is required' },
      {
        field: 'deviceIdsTo[0].id',
        message: 'deviceIdsTo[0].id must be 19 or 20 digits (the last may be a hex check digit) for kind iccid',
      },
    ]);
  });

  it.each(['ChangeICCID', 'ChangeIMEI', 'ChangeIMEIandICCID', '3Gto4G', '4Gto3G'])(
    'when %s has no deviceIdsTo, it is required: the page exempts only ChangeMSISDN',
    (option) => {
      const request: Partial<ChangeDeviceIdentifierRequest> = { ...simChange(), change4gOption: option as never };
      delete request.deviceIdsTo;
      expect(validateChangeDeviceIdentifier(request)).toEqual([
        { field: 'deviceIdsTo', message: `deviceIdsTo ${DEVICE_IDS_REQUIRED}` },
      ]);
    },
  );

  it('when ChangeMSISDN also names new hardware, deviceIdsTo is refused: hardware and MSISDN change in separate calls', () => {
    const request = { ...numberChange(), deviceIdsTo: [{ kind: 'imei', id: '990013907884259' }] };
    expect(validateChangeDeviceIdentifier(request)).toEqual([
      {
        field: 'deviceIdsTo',
        message: 'deviceIdsTo must be left out for ChangeMSISDN: hardware and MSISDN cannot change in one call',
      },
    ]);
  });

  it('when ChangeMSISDN does not say whether the number is non-geographic, assignNonGeoMdn is required', () => {
    const request: Partial<ChangeDeviceIdentifierRequest> = numberChange();
    delete request.assignNonGeoMdn;
    expect(validateChangeDeviceIdentifier(request)).toEqual([
      { field: 'assignNonGeoMdn', message: 'assignNonGeoMdn is required for ChangeMSISDN' },
    ]);
  });

  it('when assignNonGeoMdn is the string "false", it is refused rather than read as a boolean', () => {
    expect(validateChangeDeviceIdentifier({ ...numberChange(), assignNonGeoMdn: 'false' })).toEqual([
      { field: 'assignNonGeoMdn', message: 'assignNonGeoMdn must be true or false' },
    ]);
  });

  it('when ChangeMSISDN takes a geographic number with only a ZIP code, npaNxx is still required: the ZIP code is the fallback', () => {
    const request: Partial<ChangeDeviceIdentifierRequest> = numberChange();
    delete request.npaNxx;
    expect(validateChangeDeviceIdentifier(request)).toEqual([
      { field: 'npaNxx', message: 'npaNxx is required for ChangeMSISDN when assignNonGeoMdn is false' },
    ]);
  });

  it('when npaNxx and zipCode have the wrong number of digits, both are named in page order', () => {
    expect(validateChangeDeviceIdentifier({ ...numberChange(), npaNxx: '85869', zipCode: '9210' })).toEqual([
      { field: 'zipCode', message: 'zipCode must be 5 digits' },
      { field: 'npaNxx', message: 'npaNxx must be 6 digits (area code and prefix)' },
    ]);
  });

  it('when ChangeIMEIandEID has no smsrOid, it is required, as the page says', () => {
    const request: Partial<ChangeDeviceIdentifierRequest> = euiccChange();
    delete request.smsrOid;
    expect(validateChangeDeviceIdentifier(request)).toEqual([
      { field: 'smsrOid', message: 'smsrOid is required for ChangeIMEIandEID' },
    ]);
  });

  it('when smsrOid is not dot-separated numbers, it is refused', () => {
    expect(validateChangeDeviceIdentifier({ ...euiccChange(), smsrOid: 'smsr-1' })).toEqual([
      { field: 'smsrOid', message: 'smsrOid must be an object id of dot-separated numbers' },
    ]);
  });

  it('when servicePlan is empty or not a string, and options are wrong, each is named', () => {
    const request = { ...simChange(), servicePlan: '', options: { stepTimeout: '30', failurePolicy: 'retry' } };
    expect(validateChangeDeviceIdentifier(request)).toEqual([
      { field: 'servicePlan', message: 'servicePlan must be a non-empty string when given' },
      {
        field: 'options.stepTimeout',
        message: "options.stepTimeout must be a positive number of milliseconds or a duration like '30 minutes'",
      },
      { field: 'options.failurePolicy', message: "options.failurePolicy must be one of 'fail', 'hold', 'compensate'" },
    ]);
    expect(validateChangeDeviceIdentifier({ ...simChange(), servicePlan: 42 })).toEqual([
      { field: 'servicePlan', message: 'servicePlan must be a non-empty string when given' },
    ]);
  });
});

describe('changeDeviceIdentifier names', () => {
  it('is a workflow type of its own', () => {
    expect(WORKFLOW_TYPES.changeDeviceIdentifier).toBe('changeDeviceIdentifier');
  });

  it('a workflow id names the account, the service type, the changing device by its preferred identifier and the change', () => {
    const request = {
      ...euiccChange(),
      deviceIds: [
        { kind: 'MDN', id: '8586928930' },
        { kind: 'ICCID', id: '8914800000434606015F' },
      ],
    };
    expect(workflowIds.changeDeviceIdentifier('1223334444-01234', request, '0f3a9c2be41d7788')).toBe(
      'changeDeviceIdentifier:1223334444-01234:4g:iccid:8914800000434606015f:0f3a9c2be41d7788',
    );
  });
});
