import {
  US_STATE_CODES,
  isPoBox,
  validateActivateDeviceProfiles,
  validateChangeProfileServicePlan,
} from '../../contracts/bulk-validation.js';
import type { ValidationIssue } from '../../contracts/validation.js';
import type {
  ActivateDeviceProfilesRequest,
  ChangeProfileServicePlanRequest,
  ProfileDevice,
} from '../../contracts/types.js';

const ACCOUNT = '0000123456-00001';
const DEVICES_REQUIRED = 'devices is required: a non-empty array of {deviceIds: [{kind, id}, …]}';
const STEP_TIMEOUT_RULE = "must be a positive number of milliseconds or a duration like '30 minutes'";
const NAME_CHARACTERS_RULE = "may only contain letters, digits, spaces, dashes, '!' and '#'";
const STATE_RULE = 'must be the two-letter code of a US state, DC or US territory (ISO 3166-2:US, e.g. TX)';
const BOTH_VALUES = 'the page says both values, eid and iccid, must be present';
const NAME = 'primaryPlaceOfUse.customerName';
const ADDRESS = 'primaryPlaceOfUse.address';

/** A 32-digit EID and a 20-digit ICCID that differ for every `n`. */
const eid = (n: number): string => `8903302331215${String(n).padStart(19, '0')}`;
const iccid = (n: number): string => `891480000${String(n).padStart(11, '0')}`;

/** The n-th eSIM device, by its EID and ICCID as both pages' examples name it. */
function device(n: number): ProfileDevice {
  return {
    deviceIds: [
      { kind: 'eid', id: eid(n) },
      { kind: 'iccid', id: iccid(n) },
    ],
  };
}

function devices(count: number): ProfileDevice[] {
  return Array.from({ length: count }, (_, n) => device(n));
}

/** The example request of change-profile-service-plan.txt with real identifiers. */
function planChange(): ChangeProfileServicePlanRequest {
  return { devices: devices(3), accountName: ACCOUNT, servicePlan: 'M2M_4G' };
}

/** The example request of activate-euicc-profile.txt with real values, its empty IP pool name kept. */
function activation(): ActivateDeviceProfilesRequest {
  return {
    devices: devices(2),
    carrierName: 'Verizon Wireless',
    accountName: ACCOUNT,
    servicePlan: 'HybridESim',
    mdnZipCode: '92101',
    carrierIpPoolName: '',
    primaryPlaceOfUse: {
      customerName: { title: 'Mr', firstName: 'Jane', lastName: 'Doe' },
      address: { addressLine1: '600 B Street', city: 'San Diego', state: 'CA', zip: '92101', country: 'US' },
    },
  };
}

/** The activation example with fields of `customerName` replaced (`undefined` removes one). */
function withName(patch: Record<string, unknown>): Record<string, unknown> {
  const request = activation();
  const customerName: Record<string, unknown> = { ...request.primaryPlaceOfUse?.customerName, ...patch };
  for (const key of Object.keys(patch)) if (patch[key] === undefined) delete customerName[key];
  return { ...request, primaryPlaceOfUse: { ...request.primaryPlaceOfUse, customerName } };
}

/** The activation example with fields of `address` replaced (`undefined` removes one). */
function withAddress(patch: Record<string, unknown>): Record<string, unknown> {
  const request = activation();
  const address: Record<string, unknown> = { ...request.primaryPlaceOfUse?.address, ...patch };
  for (const key of Object.keys(patch)) if (patch[key] === undefined) delete address[key];
  return { ...request, primaryPlaceOfUse: { ...request.primaryPlaceOfUse, address } };
}

const issue = (field: string, message: string): ValidationIssue => ({ field, message });

describe('validateChangeProfileServicePlan', () => {
  it('accepts the example request of the change-profile-service-plan page with real identifiers', () => {
    expect(validateChangeProfileServicePlan(planChange())).toEqual([]);
  });

  it('accepts kinds in any casing, an ICCID ending in a hex check digit, and every bulk option', () => {
    const request = {
      ...planChange(),
      devices: [
        {
          deviceIds: [
            { kind: 'ICCID', id: '8914800000434606015F' },
            { kind: 'Eid', id: eid(9) },
          ],
        },
      ],
      options: { stepTimeout: '4 hours', failurePolicy: 'fail', shardSize: 500, shardConcurrency: 8 },
    };
    expect(validateChangeProfileServicePlan(request)).toEqual([]);
  });

  it('when the request is empty, the account, the devices and the plan are named', () => {
    expect(validateChangeProfileServicePlan({})).toEqual([
      issue('accountName', 'accountName is required'),
      issue('devices', DEVICES_REQUIRED),
      issue('servicePlan', 'servicePlan is required'),
    ]);
  });

  it.each(['accountName', 'servicePlan'])('when only %s is missing, exactly that field is reported', (field) => {
    const request: Record<string, unknown> = { ...planChange() };
    delete request[field];
    expect(validateChangeProfileServicePlan(request)).toEqual([issue(field, `${field} is required`)]);
  });

  it('a blank or non-string plan is called out as such: changing to no plan changes nothing', () => {
    expect(validateChangeProfileServicePlan({ ...planChange(), servicePlan: '  ' })).toEqual([
      issue('servicePlan', 'servicePlan must be a non-empty string'),
    ]);
    expect(validateChangeProfileServicePlan({ ...planChange(), servicePlan: 4 })).toEqual([
      issue('servicePlan', 'servicePlan must be a non-empty string'),
    ]);
  });

  it.each([null, [], 'plan', 7])('when the request is %p rather than an object, that is the only issue', (input) => {
    expect(validateChangeProfileServicePlan(input)).toEqual([issue('request', 'request must be a JSON object')]);
  });

  it.each([[[]], [{ deviceIds: device(0).deviceIds }], ['eid'], [null]])(
    'devices of %p are not a non-empty array and are rejected as a whole',
    (value) => {
      expect(validateChangeProfileServicePlan({ ...planChange(), devices: value })).toEqual([
        issue('devices', DEVICES_REQUIRED),
      ]);
    },
  );

  it('a device entry that is not an object, or has no deviceIds, is named by its position', () => {
    const request = { ...planChange(), devices: [device(0), 'eid', { ids: device(1).deviceIds }, { deviceIds: [] }] };
    expect(validateChangeProfileServicePlan(request)).toEqual([
      issue('devices[1]', 'devices[1] must be a JSON object'),
      issue('devices[2].deviceIds', 'devices[2].deviceIds is required: a non-empty array of {kind, id}'),
      issue('devices[3].deviceIds', 'devices[3].deviceIds is required: a non-empty array of {kind, id}'),
    ]);
  });

  it.each(['eid', 'iccid'])('a device without its %s is rejected: both values must be present', (kind) => {
    const request = planChange();
    request.devices[1] = { deviceIds: device(1).deviceIds.filter((d) => d.kind !== kind) };
    expect(validateChangeProfileServicePlan(request)).toEqual([
      issue('devices[1].deviceIds', `devices[1].deviceIds must include the device's ${kind}: ${BOTH_VALUES}`),
    ]);
  });

  it.each(['imei', 'mdn', 'msisdn', 'serial'])('an identifier of kind %s is rejected: only eid and iccid', (kind) => {
    const request = planChange();
    request.devices[0]?.deviceIds.push({ kind, id: '990013907835573' });
    expect(validateChangeProfileServicePlan(request)).toEqual([
      issue('devices[0].deviceIds[2].kind', `devices[0].deviceIds[2].kind '${kind}' is not one of eid, iccid`),
    ]);
  });

  it('a device given only by its IMEI is told the kind is unsupported and both required values are missing', () => {
    const request = { ...planChange(), devices: [{ deviceIds: [{ kind: 'imei', id: '990013907835573' }] }] };
    expect(validateChangeProfileServicePlan(request)).toEqual([
      issue('devices[0].deviceIds[0].kind', "devices[0].deviceIds[0].kind 'imei' is not one of eid, iccid"),
      issue('devices[0].deviceIds', `devices[0].deviceIds must include the device's eid: ${BOTH_VALUES}`),
      issue('devices[0].deviceIds', `devices[0].deviceIds must include the device's iccid: ${BOTH_VALUES}`),
    ]);
  });

  it('identifiers are held to the formats of thingspace-api-notes.md', () => {
    const request = {
      ...planChange(),
      devices: [
        {
          deviceIds: [
            { kind: 'eid', id: eid(0).slice(1) },
            { kind: 'iccid', id: '89148000000A00784259' },
          ],
        },
      ],
    };
    expect(validateChangeProfileServicePlan(request)).toEqual([
      issue('devices[0].deviceIds[0].id', 'devices[0].deviceIds[0].id must be 32 digits for kind eid'),
      issue(
        'devices[0].deviceIds[1].id',
        'devices[0].deviceIds[1].id must be 19 or 20 digits (the last may be a hex check digit) for kind iccid',
      ),
    ]);
  });

  it('the same kind twice on one device is reported once, as a kind repeated rather than a device repeated', () => {
    const request = planChange();
    request.devices[0]?.deviceIds.push({ kind: 'EID', id: eid(0) });
    expect(validateChangeProfileServicePlan(request)).toEqual([
      issue('devices[0].deviceIds[2].kind', "devices[0].deviceIds[2].kind 'eid' appears more than once"),
    ]);
  });

  describe('the same device twice in one request', () => {
    it('a device whose EID an earlier device already has is reported with both positions', () => {
      const request = planChange();
      request.devices.push({
        deviceIds: [
          { kind: 'eid', id: eid(1) },
          { kind: 'iccid', id: iccid(7) },
        ],
      });
      expect(validateChangeProfileServicePlan(request)).toEqual([
        issue(
          'devices[3].deviceIds',
          `devices[3].deviceIds repeats eid ${eid(1)} of devices[1]: a device may appear only once`,
        ),
      ]);
    });

    it('an ICCID repeated with its hex check digit in the other case is the same device', () => {
      const first = { kind: 'iccid', id: '8914800000434606015f' };
      const request = {
        ...planChange(),
        devices: [
          { deviceIds: [{ kind: 'eid', id: eid(0) }, first] },
          {
            deviceIds: [
              { kind: 'eid', id: eid(1) },
              { kind: 'ICCID', id: '8914800000434606015F' },
            ],
          },
        ],
      };
      expect(validateChangeProfileServicePlan(request)).toEqual([
        issue(
          'devices[1].deviceIds',
          'devices[1].deviceIds repeats iccid 8914800000434606015F of devices[0]: a device may appear only once',
        ),
      ]);
    });

    it('a device listed twice in full is reported once, not once per identifier', () => {
      const request = { ...planChange(), devices: [device(0), device(1), device(0)] };
      expect(validateChangeProfileServicePlan(request)).toEqual([
        issue(
          'devices[2].deviceIds',
          `devices[2].deviceIds repeats eid ${eid(0)} of devices[0]: a device may appear only once`,
        ),
      ]);
    });

    it('a device sharing one identifier with each of two earlier devices is reported against both', () => {
      const request = {
        ...planChange(),
        devices: [
          device(0),
          device(1),
          {
            deviceIds: [
              { kind: 'eid', id: eid(1) },
              { kind: 'iccid', id: iccid(0) },
            ],
          },
        ],
      };
      expect(validateChangeProfileServicePlan(request)).toEqual([
        issue(
          'devices[2].deviceIds',
          `devices[2].deviceIds repeats eid ${eid(1)} of devices[1]: a device may appear only once`,
        ),
        issue(
          'devices[2].deviceIds',
          `devices[2].deviceIds repeats iccid ${iccid(0)} of devices[0]: a device may appear only once`,
        ),
      ]);
    });

    it('a third copy is reported against the first, where the device was first named', () => {
      const request = { ...planChange(), devices: [device(5), device(5), device(5)] };
      expect(validateChangeProfileServicePlan(request).map((i) => i.message)).toEqual([
        `devices[1].deviceIds repeats eid ${eid(5)} of devices[0]: a device may appear only once`,
        `devices[2].deviceIds repeats eid ${eid(5)} of devices[0]: a device may appear only once`,
      ]);
    });
  });

  it('has no upper bound on the number of devices: 20,000 distinct devices are valid', () => {
    expect(validateChangeProfileServicePlan({ ...planChange(), devices: devices(20_000) })).toEqual([]);
  });

  it('among 20,000 devices, the one repeated at the end is found and named against the first', () => {
    const request = { ...planChange(), devices: [...devices(20_000), device(0)] };
    expect(validateChangeProfileServicePlan(request)).toEqual([
      issue(
        'devices[20000].deviceIds',
        `devices[20000].deviceIds repeats eid ${eid(0)} of devices[0]: a device may appear only once`,
      ),
    ]);
  });

  describe('bulk options', () => {
    const withOptions = (options: unknown) => ({ ...planChange(), options });

    it.each([
      { stepTimeout: 60_000 },
      { stepTimeout: '2h', failurePolicy: 'hold' },
      { failurePolicy: 'fail' },
      { shardSize: 1, shardConcurrency: 1 },
      { shardSize: 10_000, shardConcurrency: 50 },
      {},
    ])('accepts %p', (options) => {
      expect(validateChangeProfileServicePlan(withOptions(options))).toEqual([]);
    });

    it.each([0, -1, '30', 'soon', '', true])('a step timeout of %p is rejected', (stepTimeout) => {
      expect(validateChangeProfileServicePlan(withOptions({ stepTimeout }))).toEqual([
        issue('options.stepTimeout', `options.stepTimeout ${STEP_TIMEOUT_RULE}`),
      ]);
    });

    it('the compensate policy is refused with the reason: the pages document no undo for a profile operation', () => {
      expect(validateChangeProfileServicePlan(withOptions({ failurePolicy: 'compensate' }))).toEqual([
        issue(
          'options.failurePolicy',
          "options.failurePolicy 'compensate' is not offered: the pages document no undo for a profile operation, so bulk sagas offer 'hold' or 'fail'",
        ),
      ]);
    });

    it.each(['sometimes', 'HOLD', '', null, 1])('a failure policy of %p is rejected', (failurePolicy) => {
      expect(validateChangeProfileServicePlan(withOptions({ failurePolicy }))).toEqual([
        issue('options.failurePolicy', "options.failurePolicy must be 'hold' or 'fail'"),
      ]);
    });

    it.each([0, 10_001, 1.5, -1, '100', Number.NaN, Number.POSITIVE_INFINITY, null])(
      'a shard size of %p is rejected: ThingSpace takes 1 to 10,000 devices per request',
      (shardSize) => {
        expect(validateChangeProfileServicePlan(withOptions({ shardSize }))).toEqual([
          issue('options.shardSize', 'options.shardSize must be a whole number from 1 to 10,000'),
        ]);
      },
    );

    it.each([0, 51, 2.5, '4', null])('a shard concurrency of %p is rejected', (shardConcurrency) => {
      expect(validateChangeProfileServicePlan(withOptions({ shardConcurrency }))).toEqual([
        issue('options.shardConcurrency', 'options.shardConcurrency must be a whole number from 1 to 50'),
      ]);
    });

    it('unknown option keys are named one by one, with the options there are', () => {
      const known = 'use stepTimeout, failurePolicy, shardSize, shardConcurrency';
      expect(validateChangeProfileServicePlan(withOptions({ shardsize: 100, retries: 3, shardSize: 100 }))).toEqual([
        issue('options.shardsize', `options.shardsize is not an option: ${known}`),
        issue('options.retries', `options.retries is not an option: ${known}`),
      ]);
    });

    it.each([null, 'fast', [1]])('options of %p are rejected as not an object', (options) => {
      expect(validateChangeProfileServicePlan(withOptions(options))).toEqual([
        issue('options', 'options must be a JSON object'),
      ]);
    });

    it('reports every broken option at once, in the order of BulkOptions', () => {
      const options = { extra: 1, shardConcurrency: 0, shardSize: 0, failurePolicy: 'never', stepTimeout: 'later' };
      expect(validateChangeProfileServicePlan(withOptions(options)).map((i) => i.field)).toEqual([
        'options.stepTimeout',
        'options.failurePolicy',
        'options.shardSize',
        'options.shardConcurrency',
        'options.extra',
      ]);
    });
  });
});

describe('validateActivateDeviceProfiles', () => {
  it('accepts the example request of the activate-euicc-profile page, with its empty IP pool name', () => {
    expect(validateActivateDeviceProfiles(activation())).toEqual([]);
  });

  it('accepts an account and devices alone: every other field of the page is optional', () => {
    expect(validateActivateDeviceProfiles({ accountName: ACCOUNT, devices: devices(1) })).toEqual([]);
  });

  it('accepts a device named by any of the kinds the page lists, and by any one of them alone', () => {
    const request = {
      ...activation(),
      devices: [
        {
          deviceIds: [
            { kind: 'imei', id: '990013907835573' },
            { kind: 'iccid', id: iccid(0) },
            { kind: 'MDN', id: '8586928930' },
            { kind: 'eid', id: eid(0) },
          ],
        },
        { deviceIds: [{ kind: 'imei', id: '990013907884259' }] },
        { deviceIds: [{ kind: 'mdn', id: '8586928931' }] },
      ],
    };
    expect(validateActivateDeviceProfiles(request)).toEqual([]);
  });

  it('accepts every optional string of the page as an empty string, and every option of a bulk saga', () => {
    const request = {
      ...activation(),
      smsrOid: '',
      carrierName: '',
      servicePlan: '',
      carrierIpPoolName: '',
      options: { stepTimeout: '30 minutes', failurePolicy: 'hold', shardSize: 10_000, shardConcurrency: 50 },
    };
    expect(validateActivateDeviceProfiles(request)).toEqual([]);
  });

  it('accepts the optional strings with values, and null as left out', () => {
    const request = {
      ...activation(),
      smsrOid: '1.3.6.1.4.1.31746.1.500.200.101.5',
      carrierIpPoolName: 'IPPool',
      mdnZipCode: null,
      primaryPlaceOfUse: null,
    };
    expect(validateActivateDeviceProfiles(request)).toEqual([]);
  });

  it('when the request is empty, the account and the devices are named', () => {
    expect(validateActivateDeviceProfiles({})).toEqual([
      issue('accountName', 'accountName is required'),
      issue('devices', DEVICES_REQUIRED),
    ]);
  });

  it.each([null, [], 'activate'])('when the request is %p rather than an object, that is the only issue', (input) => {
    expect(validateActivateDeviceProfiles(input)).toEqual([issue('request', 'request must be a JSON object')]);
  });

  it.each(['msisdn', 'meid', 'imsi'])(
    'an identifier of kind %s is rejected: the page lists imei, iccid, mdn, eid',
    (kind) => {
      const request = { ...activation(), devices: [{ deviceIds: [{ kind, id: '12345678901234' }] }] };
      expect(validateActivateDeviceProfiles(request)).toEqual([
        issue(
          'devices[0].deviceIds[0].kind',
          `devices[0].deviceIds[0].kind '${kind}' is not one of imei, iccid, mdn, eid`,
        ),
      ]);
    },
  );

  it('identifiers are held to their formats: an MDN is 10 digits, an IMEI 15', () => {
    const request = {
      ...activation(),
      devices: [
        {
          deviceIds: [
            { kind: 'mdn', id: '858-692-8930' },
            { kind: 'imei', id: '99001390783557' },
          ],
        },
      ],
    };
    expect(validateActivateDeviceProfiles(request)).toEqual([
      issue('devices[0].deviceIds[0].id', 'devices[0].deviceIds[0].id must be 10 digits for kind mdn'),
      issue(
        'devices[0].deviceIds[1].id',
        'devices[0].deviceIds[1].id must be 15 digits (16 for an IMEISV) for kind imei',
      ),
    ]);
  });

  it('a device named twice by different identifiers sharing its MDN is reported with both positions', () => {
    const request = {
      ...activation(),
      devices: [
        { deviceIds: [{ kind: 'mdn', id: '8586928930' }] },
        device(1),
        {
          deviceIds: [
            { kind: 'imei', id: '990013907835573' },
            { kind: 'mdn', id: '8586928930' },
          ],
        },
      ],
    };
    expect(validateActivateDeviceProfiles(request)).toEqual([
      issue(
        'devices[2].deviceIds',
        'devices[2].deviceIds repeats mdn 8586928930 of devices[0]: a device may appear only once',
      ),
    ]);
  });

  it('validates 20,000 devices with no upper bound', () => {
    expect(validateActivateDeviceProfiles({ ...activation(), devices: devices(20_000) })).toEqual([]);
  });

  it.each(['smsrOid', 'carrierName', 'servicePlan', 'carrierIpPoolName'])(
    'a %s that is not a string is rejected',
    (field) => {
      expect(validateActivateDeviceProfiles({ ...activation(), [field]: 42 })).toEqual([
        issue(field, `${field} must be a string when given`),
      ]);
    },
  );

  it.each(['9210', '921011', '92101-1234', 'ABCDE', '', 92101])(
    'an mdnZipCode of %p is rejected: exactly 5 digits',
    (mdnZipCode) => {
      expect(validateActivateDeviceProfiles({ ...activation(), mdnZipCode })).toEqual([
        issue('mdnZipCode', 'mdnZipCode must be 5 digits when given'),
      ]);
    },
  );

  it('the bulk options apply too: compensate is refused for an activation', () => {
    expect(validateActivateDeviceProfiles({ ...activation(), options: { failurePolicy: 'compensate' } })).toEqual([
      issue(
        'options.failurePolicy',
        "options.failurePolicy 'compensate' is not offered: the pages document no undo for a profile operation, so bulk sagas offer 'hold' or 'fail'",
      ),
    ]);
  });

  describe('primaryPlaceOfUse', () => {
    it.each(['Dr. Who', 42, []])('a primaryPlaceOfUse of %p is rejected as not an object', (primaryPlaceOfUse) => {
      expect(validateActivateDeviceProfiles({ ...activation(), primaryPlaceOfUse })).toEqual([
        issue('primaryPlaceOfUse', 'primaryPlaceOfUse must be a JSON object'),
      ]);
    });

    it('an empty primaryPlaceOfUse is told it needs a customer name and an address', () => {
      expect(validateActivateDeviceProfiles({ ...activation(), primaryPlaceOfUse: {} })).toEqual([
        issue(NAME, `${NAME} is required`),
        issue(ADDRESS, `${ADDRESS} is required`),
      ]);
    });

    it('a customer name and address that are not objects are named as such', () => {
      const primaryPlaceOfUse = { customerName: 'Jane Doe', address: ['600 B Street'] };
      expect(validateActivateDeviceProfiles({ ...activation(), primaryPlaceOfUse })).toEqual([
        issue(NAME, `${NAME} must be a JSON object`),
        issue(ADDRESS, `${ADDRESS} must be a JSON object`),
      ]);
    });

    describe('customerName', () => {
      it('an empty customer name is told both names it needs', () => {
        expect(
          validateActivateDeviceProfiles({
            ...activation(),
            primaryPlaceOfUse: { ...activation().primaryPlaceOfUse, customerName: {} },
          }),
        ).toEqual([
          issue(`${NAME}.firstName`, `${NAME}.firstName is required`),
          issue(`${NAME}.lastName`, `${NAME}.lastName is required`),
        ]);
      });

      it.each(['firstName', 'lastName'])('when only %s is missing, exactly that field is reported', (field) => {
        expect(validateActivateDeviceProfiles(withName({ [field]: undefined }))).toEqual([
          issue(`${NAME}.${field}`, `${NAME}.${field} is required`),
        ]);
      });

      it.each([
        ['firstName', 'A'.repeat(20)],
        ['lastName', 'B'.repeat(25)],
        ['firstName', 'Mary-Jo #2!'],
        ['lastName', 'Van Der Berg-Smith 3rd'],
        ['firstName', '!#- 09azAZ'],
      ])('a %s of %p is accepted', (field, value) => {
        expect(validateActivateDeviceProfiles(withName({ [field]: value }))).toEqual([]);
      });

      it('a first name of 21 characters is one too many', () => {
        expect(validateActivateDeviceProfiles(withName({ firstName: 'A'.repeat(21) }))).toEqual([
          issue(`${NAME}.firstName`, `${NAME}.firstName must be at most 20 characters`),
        ]);
      });

      it('a last name of 26 characters is one too many', () => {
        expect(validateActivateDeviceProfiles(withName({ lastName: 'B'.repeat(26) }))).toEqual([
          issue(`${NAME}.lastName`, `${NAME}.lastName must be at most 25 characters`),
        ]);
      });

      it.each([
        ['firstName', "O'Neil"],
        ['firstName', 'José'],
        ['firstName', 'Jean_Luc'],
        ['lastName', 'Smith.'],
        ['lastName', 'Doe, Jr'],
        ['lastName', 'Doe\tSmith'],
      ])('a %s of %p has a character the page does not allow', (field, value) => {
        expect(validateActivateDeviceProfiles(withName({ [field]: value }))).toEqual([
          issue(`${NAME}.${field}`, `${NAME}.${field} ${NAME_CHARACTERS_RULE}`),
        ]);
      });

      it('a name both too long and with a forbidden character gets both issues', () => {
        expect(validateActivateDeviceProfiles(withName({ lastName: `${'B'.repeat(25)}.` }))).toEqual([
          issue(`${NAME}.lastName`, `${NAME}.lastName must be at most 25 characters`),
          issue(`${NAME}.lastName`, `${NAME}.lastName ${NAME_CHARACTERS_RULE}`),
        ]);
      });

      it('blank or non-string names are called out as such', () => {
        expect(validateActivateDeviceProfiles(withName({ firstName: '   ', lastName: 7 }))).toEqual([
          issue(`${NAME}.firstName`, `${NAME}.firstName must be a non-empty string`),
          issue(`${NAME}.lastName`, `${NAME}.lastName must be a non-empty string`),
        ]);
      });

      it('title, middle name and suffix are optional strings, empty ones included', () => {
        expect(
          validateActivateDeviceProfiles(withName({ title: 'Dr.', middleName: "Anne-Marie O'Hara", suffix: 'III' })),
        ).toEqual([]);
        expect(validateActivateDeviceProfiles(withName({ title: '', middleName: '', suffix: '' }))).toEqual([]);
        expect(validateActivateDeviceProfiles(withName({ title: undefined }))).toEqual([]);
      });

      it('a title, middle name or suffix that is not a string is rejected', () => {
        expect(validateActivateDeviceProfiles(withName({ title: 1, middleName: ['A'], suffix: true }))).toEqual([
          issue(`${NAME}.title`, `${NAME}.title must be a string when given`),
          issue(`${NAME}.middleName`, `${NAME}.middleName must be a string when given`),
          issue(`${NAME}.suffix`, `${NAME}.suffix must be a string when given`),
        ]);
      });
    });

    describe('address', () => {
      it('an empty address is told every field it needs, in the page order', () => {
        expect(
          validateActivateDeviceProfiles({
            ...activation(),
            primaryPlaceOfUse: { ...activation().primaryPlaceOfUse, address: {} },
          }),
        ).toEqual([
          issue(`${ADDRESS}.addressLine1`, `${ADDRESS}.addressLine1 is required`),
          issue(`${ADDRESS}.city`, `${ADDRESS}.city is required`),
          issue(`${ADDRESS}.state`, `${ADDRESS}.state is required`),
          issue(`${ADDRESS}.zip`, `${ADDRESS}.zip is required`),
          issue(`${ADDRESS}.country`, `${ADDRESS}.country is required`),
        ]);
      });

      it.each(['addressLine1', 'city', 'state', 'zip', 'country'])(
        'when only %s is missing, exactly that field is reported',
        (field) => {
          expect(validateActivateDeviceProfiles(withAddress({ [field]: undefined }))).toEqual([
            issue(`${ADDRESS}.${field}`, `${ADDRESS}.${field} is required`),
          ]);
        },
      );

      it("accepts the page table's spelling addresLine1 for addressLine1", () => {
        expect(
          validateActivateDeviceProfiles(withAddress({ addressLine1: undefined, addresLine1: '600 B Street' })),
        ).toEqual([]);
      });

      it('holds addresLine1 to the same rules, naming it as the request spelled it', () => {
        expect(validateActivateDeviceProfiles(withAddress({ addressLine1: undefined, addresLine1: '' }))).toEqual([
          issue(`${ADDRESS}.addresLine1`, `${ADDRESS}.addresLine1 is required`),
        ]);
        expect(
          validateActivateDeviceProfiles(withAddress({ addressLine1: undefined, addresLine1: 'PO Box 12' })),
        ).toEqual([
          issue(
            `${ADDRESS}.addresLine1`,
            `${ADDRESS}.addresLine1 must be a physical address for taxation, not a P.O. box`,
          ),
        ]);
      });

      it('both spellings at once are ambiguous and rejected', () => {
        expect(validateActivateDeviceProfiles(withAddress({ addresLine1: '600 B Street' }))).toEqual([
          issue(
            `${ADDRESS}.addresLine1`,
            `${ADDRESS}.addresLine1 is another spelling of addressLine1: give one of them, not both`,
          ),
        ]);
      });

      it.each([
        'PO Box 12',
        'P.O. Box 12',
        'P O Box 12',
        'P. O. Box 12',
        'p.o. box 12',
        'PO BOX 12',
        'P.O.Box 12',
        'POBox 12',
        'PO Box12',
        'pobox #12',
        'Post Office Box 12',
        'post office box 7',
        'POB 12',
        'pob12',
        '600 B Street, PO Box 4',
      ])('%p is a P.O. box, which the page forbids as the place of use', (addressLine1) => {
        expect(isPoBox(addressLine1)).toBe(true);
        expect(validateActivateDeviceProfiles(withAddress({ addressLine1 }))).toEqual([
          issue(
            `${ADDRESS}.addressLine1`,
            `${ADDRESS}.addressLine1 must be a physical address for taxation, not a P.O. box`,
          ),
        ]);
      });

      it.each([
        '12 Pobox Road',
        '400 Boxwood Lane',
        '12 Post Office Road',
        '8 Po Valley Road',
        '3 Pob Street',
        '15 Apollo Drive',
        '1 Depot Box Court',
        '77 Pobst Avenue',
      ])('%p is a street address, not a P.O. box', (addressLine1) => {
        expect(isPoBox(addressLine1)).toBe(false);
        expect(validateActivateDeviceProfiles(withAddress({ addressLine1 }))).toEqual([]);
      });

      it('addressLine2 is an optional string, left to the customer: the page restricts only the first line', () => {
        expect(validateActivateDeviceProfiles(withAddress({ addressLine2: 'Suite 100' }))).toEqual([]);
        expect(validateActivateDeviceProfiles(withAddress({ addressLine2: '' }))).toEqual([]);
        expect(validateActivateDeviceProfiles(withAddress({ addressLine2: 'PO Box 9' }))).toEqual([]);
        expect(validateActivateDeviceProfiles(withAddress({ addressLine2: 100 }))).toEqual([
          issue(`${ADDRESS}.addressLine2`, `${ADDRESS}.addressLine2 must be a string when given`),
        ]);
      });

      it('knows the 50 states, DC and the six territories of ISO 3166-2:US', () => {
        expect(US_STATE_CODES.size).toBe(57);
      });

      it.each([...US_STATE_CODES])('accepts the state %s', (state) => {
        expect(validateActivateDeviceProfiles(withAddress({ state }))).toEqual([]);
      });

      it.each(['tx', 'Tx', 'dc', 'pr'])('a state code %p in lower case is told to use capitals', (state) => {
        expect(validateActivateDeviceProfiles(withAddress({ state }))).toEqual([
          issue(`${ADDRESS}.state`, `${ADDRESS}.state must be written in capitals, as ISO 3166-2:US writes the code`),
        ]);
      });

      it.each(['Texas', 'T', 'TXX', 'XX', 'ON', 'AE', 'US'])(
        'a state of %p is not a US state or territory code',
        (state) => {
          expect(validateActivateDeviceProfiles(withAddress({ state }))).toEqual([
            issue(`${ADDRESS}.state`, `${ADDRESS}.state ${STATE_RULE}`),
          ]);
        },
      );

      it.each(['9210', '921011', '92101-1234', 'ABCDE', ' 92101'])('a zip of %p is rejected: 5 digits', (zip) => {
        expect(validateActivateDeviceProfiles(withAddress({ zip }))).toEqual([
          issue(`${ADDRESS}.zip`, `${ADDRESS}.zip must be 5 digits (the ZIP+4 extension goes in zip4)`),
        ]);
      });

      it('a zip given as a number is called out as not a string', () => {
        expect(validateActivateDeviceProfiles(withAddress({ zip: 92101 }))).toEqual([
          issue(`${ADDRESS}.zip`, `${ADDRESS}.zip must be a non-empty string`),
        ]);
      });

      it('accepts a ZIP+4 extension of 4 digits', () => {
        expect(validateActivateDeviceProfiles(withAddress({ zip4: '1234' }))).toEqual([]);
        expect(validateActivateDeviceProfiles(withAddress({ zip4: '0000' }))).toEqual([]);
      });

      it.each(['123', '12345', 'abcd', '', '12-4', 1234])('a zip4 of %p is rejected: 4 digits', (zip4) => {
        expect(validateActivateDeviceProfiles(withAddress({ zip4 }))).toEqual([
          issue(`${ADDRESS}.zip4`, `${ADDRESS}.zip4 must be 4 digits when given`),
        ]);
      });

      it.each(['US', 'USA'])('accepts the country %s', (country) => {
        expect(validateActivateDeviceProfiles(withAddress({ country }))).toEqual([]);
      });

      it.each(['us', 'usa', 'U.S.', 'United States', 'CA', 'USA '])('a country of %p is rejected', (country) => {
        expect(validateActivateDeviceProfiles(withAddress({ country }))).toEqual([
          issue(`${ADDRESS}.country`, `${ADDRESS}.country must be 'US' or 'USA'`),
        ]);
      });

      it('a blank or non-string city is called out as such', () => {
        expect(validateActivateDeviceProfiles(withAddress({ city: ' ' }))).toEqual([
          issue(`${ADDRESS}.city`, `${ADDRESS}.city must be a non-empty string`),
        ]);
      });
    });

    it("messages never repeat the customer's name or address, which are personal data", () => {
      const request = {
        ...activation(),
        primaryPlaceOfUse: {
          customerName: { firstName: 'Zebulon_Quixote', lastName: 'Xylophonist.Tremaine' },
          address: {
            addressLine1: 'PO Box 98765',
            city: 'Springfield',
            state: 'Zq',
            zip: '12',
            zip4: 'x',
            country: 'Narnia',
          },
        },
      };
      const messages = validateActivateDeviceProfiles(request).map((i) => i.message);
      expect(messages).toHaveLength(7);
      for (const value of ['Zebulon', 'Xylophonist', '98765', 'Zq', "'12'", 'Narnia']) {
        expect(messages.join(' ')).not.toContain(value);
      }
    });
  });

  it('reports every issue of a badly broken request at once: account, devices, then the page order, options', () => {
    const request = {
      devices: [{ deviceIds: [{ kind: 'eid', id: '123' }] }],
      smsrOid: 1,
      mdnZipCode: '1',
      primaryPlaceOfUse: {
        customerName: { firstName: 'Jane' },
        address: { ...activation().primaryPlaceOfUse?.address, country: 'MX' },
      },
      options: { failurePolicy: 'compensate' },
    };
    expect(validateActivateDeviceProfiles(request).map((i) => i.field)).toEqual([
      'accountName',
      'devices[0].deviceIds[0].id',
      'smsrOid',
      'mdnZipCode',
      `${NAME}.lastName`,
      `${ADDRESS}.country`,
      'options.failurePolicy',
    ]);
  });
});

describe('shard count', () => {
  it('refuses a shardSize that would make more than 1,000 shards, saying which size works', () => {
    const devices = Array.from({ length: 2_001 }, (_, i) => ({
      deviceIds: [
        { kind: 'eid', id: `89${String(i).padStart(30, '0')}` },
        { kind: 'iccid', id: `8914800000${String(i).padStart(10, '0')}` },
      ],
    }));
    const request = { accountName: '0000123456-00001', devices, servicePlan: 'M2M_5G', options: { shardSize: 2 } };
    expect(validateChangeProfileServicePlan(request)).toEqual([
      {
        field: 'options.shardSize',
        message:
          "options.shardSize 2 makes 1001 shards of 2001 devices; at most 1000 keep the saga's history small: use a shardSize of at least 3",
      },
    ]);
    expect(validateChangeProfileServicePlan({ ...request, options: { shardSize: 3 } })).toEqual([]);
  });
});
