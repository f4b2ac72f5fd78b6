import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, resultCsvRow, runCli } from '../../client/cli.js';
import { MemoryOperationStore } from '../fixtures/operation-store.js';

const eid = (n: number) => `8904903200700888260008${String(n).padStart(10, '0')}`;
const iccid = (n: number) => `891480000${String(n).padStart(11, '0')}`;

/** Runs the CLI as a shell would, with the operation store in memory; says whether the store was opened. */
async function euicc(argv: string[], store = new MemoryOperationStore()) {
  let stdout = '';
  let stderr = '';
  let opened = 0;
  const code = await runCli(argv, {
    // No Temporal listens here: a start that got past its checks fails to connect, with exit 1.
    env: { TEMPORAL_ADDRESS: '127.0.0.1:9' },
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    connectTimeoutMs: 500,
    openOperations: async () => {
      opened++;
      return store;
    },
  });
  return { code, stdout, stderr, opened };
}

const dir = mkdtempSync(join(tmpdir(), 'euicc-cli-devices-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};
const PLAN = ['--account', '0000123456-00001', '--service-plan', 'M2M_5G_PLUS'];

describe('euicc start --devices: every row is checked before anything is stored or started', () => {
  it('invalid rows are printed by line, the first 20 and how many more, with exit 2 and nothing opened', async () => {
    const rows = Array.from({ length: 25 }, (_, n) => `${n},${iccid(n)}`);
    const path = file('bad.csv', `eid,iccid\n${eid(100)},${iccid(100)}\n${rows.join('\n')}\n`);

    const { code, stdout, stderr, opened } = await euicc([
      'start',
      'changeProfileServicePlan',
      ...PLAN,
      '--devices',
      path,
    ]);

    const lines = stderr.trimEnd().split('\n');
    expect({ code, stdout, opened, count: lines.length }).toEqual({
      code: EXIT.usage,
      stdout: '',
      opened: 0,
      count: 22,
    });
    expect([lines[0], lines[1], lines[20], lines[21]]).toEqual([
      'euicc: 25 invalid or repeated changeProfileServicePlan devices, nothing started (--skip-invalid stores them as skipped):',
      '  line 3: eid 0 must be 32 digits',
      '  line 22: eid 19 must be 32 digits',
      '  … and 5 more',
    ]);
  });

  it('a repeated device names both lines; with --json the rows come as issues', async () => {
    const path = file('repeat.csv', `eid,iccid\n${eid(1)},${iccid(1)}\n${eid(2)},${iccid(2)}\n${eid(1)},${iccid(3)}\n`);
    const { code, stderr } = await euicc(['start', 'changeProfileServicePlan', ...PLAN, '--devices', path, '--json']);
    expect({ code, answer: JSON.parse(stderr) as unknown }).toEqual({
      code: EXIT.usage,
      answer: {
        error:
          '1 invalid or repeated changeProfileServicePlan devices, nothing started (--skip-invalid stores them as skipped):',
        exitCode: EXIT.usage,
        issues: [{ field: 'line 4', message: `repeats eid ${eid(1)} of line 2` }],
      },
    });
  });

  it('with --skip-invalid the same file goes on to Temporal (unreachable here: exit 1)', async () => {
    const path = file('skip.csv', `eid,iccid\n${eid(1)},${iccid(1)}\n${eid(1)},${iccid(1)}\n`);
    const { code, stderr } = await euicc([
      'start',
      'changeProfileServicePlan',
      ...PLAN,
      '--devices',
      path,
      '--skip-invalid',
    ]);
    expect({ code, stderr }).toEqual({
      code: EXIT.failed,
      stderr: expect.stringMatching(/^euicc: cannot reach Temporal at 127\.0\.0\.1:9: /),
    });
  });

  it('the request is checked too: a plan change without its plan names the field', async () => {
    const path = file('ok.csv', `eid,iccid\n${eid(1)},${iccid(1)}\n`);
    const { code, stderr } = await euicc(['start', 'changeProfileServicePlan', '--account', 'a', '--devices', path]);
    expect({ code, stderr }).toEqual({
      code: EXIT.usage,
      stderr:
        'euicc: invalid changeProfileServicePlan request, nothing started:\n  servicePlan: servicePlan is required\n',
    });
  });

  it.each([
    [['start', 'eidDeviceSwap', '--devices', 'f.csv'], '--devices does not apply to eidDeviceSwap'],
    [
      ['start', 'activateDeviceProfiles', '--account', 'a', '--skip-invalid'],
      '--skip-invalid applies to the devices of --devices <file>',
    ],
    [
      ['start', 'activateDeviceProfiles', '--account', 'a', '--device', 'imei:990013907835573', '--devices', 'f.csv'],
      "--devices replaces the request's devices: leave out --device and the devices of --file",
    ],
    [
      ['start', 'activateDeviceProfiles', '--account', 'a', '--devices', '/nonexistent/f.csv'],
      'cannot read /nonexistent/f.csv: ENOENT',
    ],
    [
      ['start', 'changeProfileServicePlan', ...PLAN, '--devices', 'HEADER'],
      "line 1: column 1 'imei' is not an identifier kind of this operation: use eid, iccid",
    ],
  ])('%p is bad input: exit 2 naming it', async (argv, problem) => {
    const args = argv.map((arg) => (arg === 'HEADER' ? file('imei.csv', 'imei\n990013907835573\n') : arg));
    const { code, stderr, opened } = await euicc(args);
    expect({ code, opened, names: stderr.includes(problem) }).toEqual({ code: EXIT.usage, opened: 0, names: true });
  });
});

describe('euicc results streams the outcomes of a stored operation', () => {
  const ID = 'changeProfileServicePlan:0000123456-00001:fleet';

  async function stored(): Promise<MemoryOperationStore> {
    const store = new MemoryOperationStore();
    await store.createOperation({
      operationId: ID,
      operation: 'changeProfileServicePlan',
      accountName: '0000123456-00001',
      digest: 'd',
    });
    const device = (n: number) => ({
      deviceIds: [
        { kind: 'eid', id: eid(n) },
        { kind: 'iccid', id: iccid(n) },
      ],
    });
    await store.appendDevices(ID, [
      { position: 0, device: device(0) },
      { position: 1, device: device(1) },
      {
        position: 2,
        device: device(2),
        skipped: { code: 'RepeatedDevice', message: `repeats eid ${eid(2)} of line 2` },
      },
      { position: 3, device: device(3) },
    ]);
    await store.recordOutcomes(ID, 0, [
      { position: 0, state: 'succeeded', requestId: 'req-1' },
      {
        position: 1,
        state: 'failed',
        code: 'SPM-1001',
        message: 'Profile not found, "EID" unknown',
        requestId: 'req-1',
      },
      { position: 3, state: 'succeeded', requestId: 'req-2', confirmedBy: 'reconciliation' },
    ]);
    return store;
  }

  it('as CSV by default: a header, then one row a device, identifiers as kind:id joined by ;', async () => {
    const store = await stored();
    const { code, stdout, stderr } = await euicc(['results', ID], store);
    expect({ code, stderr, lines: stdout.trimEnd().split('\n'), closed: store.closed }).toEqual({
      code: EXIT.ok,
      stderr: '',
      closed: true,
      lines: [
        'position,device,state,code,message,requestId,confirmedBy',
        `0,eid:${eid(0)};iccid:${iccid(0)},succeeded,,,req-1,`,
        `1,eid:${eid(1)};iccid:${iccid(1)},failed,SPM-1001,"Profile not found, ""EID"" unknown",req-1,`,
        `2,eid:${eid(2)};iccid:${iccid(2)},skipped,RepeatedDevice,repeats eid ${eid(2)} of line 2,,`,
        `3,eid:${eid(3)};iccid:${iccid(3)},succeeded,,,req-2,reconciliation`,
      ],
    });
  });

  it('--state failed --format jsonl gives the failed devices as JSON lines; --json does the same', async () => {
    for (const argv of [
      ['results', ID, '--state', 'failed', '--format', 'jsonl'],
      ['results', ID, '--state', 'failed', '--json'],
    ]) {
      const { code, stdout } = await euicc(argv, await stored());
      expect({
        code,
        rows: stdout
          .trimEnd()
          .split('\n')
          .map((line) => JSON.parse(line) as unknown),
      }).toEqual({
        code: EXIT.ok,
        rows: [expect.objectContaining({ position: 1, state: 'failed', code: 'SPM-1001', requestId: 'req-1' })],
      });
    }
  });

  it('an unknown operation is one line and exit 1; an unknown state is a usage error', async () => {
    expect(await euicc(['results', 'nope'], await stored())).toEqual({
      code: EXIT.failed,
      stdout: '',
      stderr: 'euicc: no operation nope in the operation store (DATA_DIR .data)\n',
      opened: 1,
    });
    const { code, opened } = await euicc(['results', ID, '--state', 'lost']);
    expect({ code, opened }).toEqual({ code: EXIT.usage, opened: 0 });
  });

  it('a CSV row leaves out what the device does not have', () => {
    expect(
      resultCsvRow({
        position: 7,
        device: { deviceIds: [{ kind: 'imei', id: '990013907835573' }] },
        state: 'pending',
        round: 0,
        updatedAt: '2026-01-01T00:00:00.000Z',
      }),
    ).toBe('7,imei:990013907835573,pending,,,,\n');
  });
});
