import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, runCli } from '../../client/cli.js';
import { openSqliteStore, type SagaRef, type Store } from '../../store/index.js';
import { listenGateway, type Listening } from '../fixtures/http.js';
import { CALLBACK_CREDENTIALS, recordCallback } from '../fixtures/swap-callbacks.js';

const TOKEN = 'ops-7f3a9c1e-5b2d-4e8f-a6c0';
const SAGA: SagaRef = { workflowId: 'eidDeviceSwap:0000123456-00001:imei:990003420535573', runId: 'run-1' };
const CREDENTIALS = CALLBACK_CREDENTIALS;

/** The page's "Device deactivated" callback as stored (credentials stripped). */
const DEACTIVATION = {
  requestId: 'eb3406b0-15fc-4473-8e84-b92cfb67f22d',
  deviceIds: [
    { id: '990003420535573', kind: 'imei' },
    { id: '89148000000800784259', kind: 'iccid' },
    { id: '89033023312150000000000263619234', kind: 'eid' },
  ],
  deviceResponse: { deactivateResponse: { deactivated: true } },
  status: 'Success',
};

/** The page's GoToState callback (StateService). */
const GO_TO_STATE = {
  requestId: '595f5c44-c31c-4552-8670-020a1545a84d',
  deviceResponse: {
    goToStateResponse: {
      deviceIds: [{ id: '990013907835573', kind: 'Imei' }],
      serviceName: 'WiFi',
      stateName: 'WiFi Activate',
    },
  },
};

const CHANGE_IDENTIFIER = {
  deviceIds: [{ id: '89033023312150000000000256691984', kind: 'eid' }],
  deviceResponse: { changeIdentifierResponse: { changed: true } },
  status: 'Success',
};

/** Runs the CLI as a shell would, capturing what it prints. */
async function euicc(
  argv: string[],
  env: Record<string, string | undefined>,
  fetchImpl?: typeof fetch,
  connectTimeoutMs = 500,
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    env,
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    ...(fetchImpl && { fetch: fetchImpl }),
    connectTimeoutMs,
  });
  return { code, stdout, stderr };
}

describe('the euicc ops CLI against a gateway on loopback', () => {
  let store: Store;
  let gateway: Listening;
  let env: Record<string, string>;
  let ids: { deactivation: number; goToState: number; changeIdentifier: number };

  beforeEach(async () => {
    store = openSqliteStore(':memory:');
    gateway = await listenGateway({
      store,
      credentials: CREDENTIALS,
      operatorToken: TOKEN,
    });
    env = { GATEWAY_URL: gateway.url, OPERATOR_TOKEN: TOKEN };
    ids = {
      deactivation: await recordCallback(store, 'CarrierService', DEACTIVATION, '2025-03-01T10:00:00.000Z'),
      goToState: await recordCallback(store, 'StateService', GO_TO_STATE, '2025-03-01T10:00:05.000Z'),
      changeIdentifier: await recordCallback(store, 'CarrierService', CHANGE_IDENTIFIER, '2025-03-01T10:00:09.000Z'),
    };
    await store.parkUnmatched([ids.deactivation, ids.goToState], 'no open saga matches its request id or devices');
  });

  afterEach(async () => {
    await gateway.close();
    await store.close();
  });

  it('`euicc callbacks` prints the parked callbacks as a table, newest first, devices abbreviated past two', async () => {
    expect(await euicc(['callbacks'], env)).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'ID  STATE   SERVICE         RECEIVED                  DELIVERIES  REQUEST ID                            DEVICES                                                   SAGA  REASON',
        '2   parked  StateService    2025-03-01T10:00:05.000Z  1           595f5c44-c31c-4552-8670-020a1545a84d  imei:990013907835573                                      -     no open saga matches its request id or devices',
        '1   parked  CarrierService  2025-03-01T10:00:00.000Z  1           eb3406b0-15fc-4473-8e84-b92cfb67f22d  imei:990003420535573, iccid:89148000000800784259 +1 more  -     no open saga matches its request id or devices',
        '',
      ].join('\n'),
    });
  });

  it('`euicc callbacks --state orphaned` shows the saga each orphaned callback was meant for', async () => {
    await store.markOrphaned([ids.changeIdentifier], SAGA, 'saga no longer running');

    const { code, stdout } = await euicc(['callbacks', '--state', 'orphaned'], env);

    expect({ code, rows: stdout.trimEnd().split('\n').slice(1) }).toEqual({
      code: 0,
      rows: [
        `3   orphaned  CarrierService  2025-03-01T10:00:09.000Z  1           -           eid:89033023312150000000000256691984  ${SAGA.workflowId}  saga no longer running`,
      ],
    });
  });

  it('an empty list says so instead of printing a bare header', async () => {
    expect(await euicc(['callbacks', '--state', 'deadLetter', '--limit', '5'], env)).toEqual({
      code: 0,
      stdout: 'No deadLetter callbacks.\n',
      stderr: '',
    });
  });

  it('`euicc callback <id>` prints the whole record as JSON', async () => {
    const { code, stdout, stderr } = await euicc(['callback', String(ids.deactivation)], env);

    expect({ code, record: JSON.parse(stdout) as unknown, stderr }).toEqual({
      code: 0,
      record: await store.get(ids.deactivation),
      stderr: '',
    });
  });

  it('`euicc replay <id>` puts a parked callback back to pending and says so', async () => {
    expect(await euicc(['replay', String(ids.deactivation)], env)).toEqual({
      code: 0,
      stdout: `Callback ${ids.deactivation} is pending again; the gateway will correlate and signal it.\n`,
      stderr: '',
    });
    expect((await store.get(ids.deactivation))?.state).toBe('pending');
  });

  it('replaying a delivered callback fails with the gateway reason on one line and exit status 1', async () => {
    await store.markDelivered([ids.changeIdentifier], SAGA);

    expect(await euicc(['replay', String(ids.changeIdentifier)], env)).toEqual({
      code: 1,
      stdout: '',
      stderr: `euicc: Callback ${ids.changeIdentifier} is delivered; only parked, deadLetter, orphaned callbacks can be replayed (HTTP 409)\n`,
    });
  });

  it('`euicc counts` prints the inbox counters', async () => {
    expect(await euicc(['counts'], env)).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'COUNTER     VALUE',
        'received    3',
        'duplicates  0',
        'pending     1',
        'delivered   0',
        'parked      2',
        'orphaned    0',
        'deadLetter  0',
        '',
      ].join('\n'),
    });
  });

  it('a wrong token exits 1 with one line saying the gateway refused it, and never prints the token', async () => {
    const wrong = 'ops-wrong-token-00000000';
    const result = await euicc(['callbacks'], { ...env, OPERATOR_TOKEN: wrong });

    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'euicc: the gateway refused the operator token (HTTP 401); check OPERATOR_TOKEN\n',
    });
    expect(result.stderr).not.toContain(wrong);
  });

  it('a bad --limit is passed on and the gateway names it', async () => {
    expect(await euicc(['callbacks', '--limit', '5000'], env)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'euicc: limit must be an integer from 1 to 1000 (HTTP 400)\n',
    });
  });

  it('an unknown id is one line on stderr and exit status 1', async () => {
    expect(await euicc(['callback', '4242'], env)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'euicc: No callback with id 4242 (HTTP 404)\n',
    });
  });

  it('without OPERATOR_TOKEN it stops before calling the gateway, naming the variable', async () => {
    expect(await euicc(['counts'], { GATEWAY_URL: gateway.url })).toEqual({
      code: 1,
      stdout: '',
      stderr: 'euicc: Invalid configuration: OPERATOR_TOKEN: Required\n',
    });
  });

  it('a gateway without OPERATOR_TOKEN serves no operator API, and the CLI says what to check', async () => {
    const plain = await listenGateway({ store, credentials: CREDENTIALS });
    try {
      expect(await euicc(['counts'], { ...env, GATEWAY_URL: plain.url })).toEqual({
        code: 1,
        stdout: '',
        stderr: `euicc: the gateway at ${plain.url} serves no operator API (HTTP 404); is OPERATOR_TOKEN set on the gateway?\n`,
      });
    } finally {
      await plain.close();
    }
  });
});

describe('the euicc ops CLI, usage and reaching the gateway', () => {
  const env = { OPERATOR_TOKEN: TOKEN };

  it('an unknown command is a usage error: exit 2, the problem on stderr, and where to find the commands', async () => {
    const { code, stdout, stderr } = await euicc(['frobnicate'], env);
    expect({ code, stdout, stderr }).toEqual({
      code: EXIT.usage,
      stdout: '',
      stderr:
        "euicc: unknown command 'frobnicate'\nRun 'euicc --help' for the commands, 'euicc <command> --help' for one.\n",
    });
  });

  it('no command at all prints the commands on stderr and exits 2', async () => {
    const { code, stderr } = await euicc([], env);
    expect({ code, firstLine: stderr.split('\n')[0] }).toEqual({
      code: EXIT.usage,
      firstLine: 'euicc: no command given',
    });
    expect(stderr).toContain('doctor');
  });

  it.each([
    [['replay'], "missing required argument 'id'"],
    [['counts', 'now'], 'too many arguments'],
    [['replay', '7', '--state', 'parked'], "unknown option '--state'"],
    [['callbacks', '--stat', 'parked'], "unknown option '--stat'"],
    [['start', 'swap'], "value 'swap' is invalid for argument 'operation'. Allowed choices are eidDeviceSwap"],
    [['decide', 'wf-1', 'retry'], "required option '--operator <name>' not specified"],
    [
      ['decide', 'wf-1', 'undo', '--operator', 'ada'],
      "value 'undo' is invalid for argument 'decision'. Allowed choices are retry",
    ],
    [['status', 'wf-1', '--watch', '--interval', '5'], '--interval takes milliseconds, at least 100'],
  ])('%p is a usage error: exit 2 naming the problem', async (argv, problem) => {
    const { code, stdout, stderr } = await euicc(argv, env);
    expect({ code, stdout, firstLine: stderr.split('\n')[0] }).toEqual({
      code: EXIT.usage,
      stdout: '',
      firstLine: expect.stringContaining(problem),
    });
  });

  it('with --json a usage error is one JSON object on stderr', async () => {
    expect(await euicc(['decide', 'wf-1', 'retry', '--json'], env)).toEqual({
      code: EXIT.usage,
      stdout: '',
      stderr: `${JSON.stringify({ error: "required option '--operator <name>' not specified", exitCode: EXIT.usage })}\n`,
    });
  });

  it('--help prints the commands and the exit statuses on stdout, even without any configuration', async () => {
    const { code, stdout, stderr } = await euicc(['--help'], {});
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    for (const command of ['start', 'status', 'decide', 'doctor', 'callbacks', 'callback', 'replay', 'counts']) {
      expect(stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
    expect(stdout).toContain('Exit status: 0 done');
  });

  it('a gateway that is not listening is one line naming where it looked, exit status 1', async () => {
    // A port that was free a moment ago: listen on port 0, note it, close.
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const url = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
    await new Promise((resolve) => probe.close(resolve));

    expect(await euicc(['counts'], { ...env, GATEWAY_URL: url })).toEqual({
      code: 1,
      stdout: '',
      stderr: `euicc: cannot reach the gateway at ${url}: ECONNREFUSED\n`,
    });
  });

  it('a gateway behind a path prefix keeps the prefix, and the token goes only in the Authorization header', async () => {
    const seen: { url: string; authorization: string | null }[] = [];
    const fakeFetch = (async (url: URL, init?: RequestInit) => {
      seen.push({ url: url.href, authorization: new Headers(init?.headers).get('authorization') });
      return Response.json({ state: 'parked', callbacks: [] });
    }) as typeof fetch;

    const result = await euicc(
      ['callbacks', '--limit', '10'],
      { ...env, GATEWAY_URL: 'https://ops.example.com/euicc-gateway' },
      fakeFetch,
    );

    expect({ result, seen }).toEqual({
      result: { code: 0, stdout: 'No parked callbacks.\n', stderr: '' },
      seen: [
        {
          url: 'https://ops.example.com/euicc-gateway/operator/callbacks?limit=10',
          authorization: `Bearer ${TOKEN}`,
        },
      ],
    });
  });
});

describe('euicc start: the request is checked before anything starts', () => {
  // No Temporal listens here: a request that got past validation would fail to connect, with exit 1.
  const env = { TEMPORAL_ADDRESS: '127.0.0.1:9' };
  const dir = mkdtempSync(join(tmpdir(), 'euicc-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  it('an invalid request names every bad field, exits 2 and starts nothing', async () => {
    const { code, stdout, stderr } = await euicc(
      ['start', 'eidDeviceSwap', '--account', '0000123456-00001', '--out', 'eid:123', '--in', 'imei:990013907835573'],
      env,
    );
    expect({ code, stdout }).toEqual({ code: EXIT.usage, stdout: '' });
    const lines = stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('euicc: invalid eidDeviceSwap request, nothing started:');
    expect(lines.slice(1).map((line) => line.trim().split(':')[0])).toEqual(
      expect.arrayContaining([
        'deviceToSwapOut[0].id',
        'mdnZipCode',
        'serviceName',
        'stateName',
        'servicePlan',
        'smsrOid',
      ]),
    );
  });

  it('with --json the issues come as JSON on stderr', async () => {
    const { code, stderr } = await euicc(
      ['start', 'changeProfileServicePlan', '--device', 'eid:89049032007008882600085727534551', '--json'],
      env,
    );
    const answer = JSON.parse(stderr) as { error: string; exitCode: number; issues: { field: string }[] };
    expect({ code, error: answer.error, exitCode: answer.exitCode }).toEqual({
      code: EXIT.usage,
      error: 'invalid changeProfileServicePlan request, nothing started:',
      exitCode: EXIT.usage,
    });
    expect(answer.issues.map((i) => i.field)).toEqual(expect.arrayContaining(['accountName', 'servicePlan']));
  });

  it('changeDeviceIdentifier needs the account, which its body does not carry', async () => {
    const { code, stderr } = await euicc(
      [
        'start',
        'changeDeviceIdentifier',
        '--service-type',
        '4g',
        '--device',
        'imei:990013907835573',
        '--to',
        'iccid:89148000004346060638',
        '--change-option',
        'ChangeICCID',
      ],
      env,
    );
    expect({ code, second: stderr.split('\n')[1]?.trim() }).toEqual({
      code: EXIT.usage,
      second: 'accountName: accountName (--account) is required: the account of the device',
    });
  });

  it.each([
    [['start', 'eidDeviceSwap', '--device', 'eid:1'], '--device does not apply to eidDeviceSwap'],
    [['start', 'eidDeviceSwap', '--out', '8586928930'], '--out takes kind:id[,kind:id…]'],
    [['start', 'changeDeviceIdentifier', '--assign-non-geo-mdn', 'yes'], '--assign-non-geo-mdn takes true or false'],
    [['start', 'eidDeviceSwap', '--file', '/nonexistent/req.json'], 'cannot read /nonexistent/req.json: ENOENT'],
  ])('%p is bad input: exit 2 naming it', async (argv, problem) => {
    const { code, stderr } = await euicc(argv, env);
    expect({ code, stderr }).toEqual({
      code: EXIT.usage,
      stderr: `euicc: ${problem}${stderr.slice(7 + problem.length)}`,
    });
    expect(stderr.startsWith(`euicc: ${problem}`)).toBe(true);
  });

  it('a file that is not JSON is bad input', async () => {
    const path = file('broken.json', '{ "accountName": ');
    const { code, stderr } = await euicc(['start', 'eidDeviceSwap', '-f', path], env);
    expect({ code, firstLine: stderr.split('\n')[0] }).toEqual({
      code: EXIT.usage,
      firstLine: expect.stringContaining(`euicc: ${path} is not JSON`),
    });
  });

  it('a valid request from a file, completed by flags, goes on to Temporal (unreachable here: exit 1)', async () => {
    const path = file(
      'swap.json',
      JSON.stringify({
        accountName: '0000123456-00001',
        deviceToSwapOut: [
          { kind: 'mdn', id: '8586928930' },
          { kind: 'eid', id: '89033023312150000000000263619234' },
          { kind: 'imei', id: '990013907835573' },
          { kind: 'iccid', id: '89148000004346060638' },
        ],
        deviceToSwapIn: [
          { kind: 'eid', id: '89033023312150000000000256691984' },
          { kind: 'imei', id: '352971090107661' },
        ],
        mdnZipCode: '98802',
        serviceName: 'WiFi',
        stateName: 'WiFi Activate',
        smsrOid: '1.3.6.1.4.1.31746.1.500.200.101.5',
      }),
    );
    const { code, stderr } = await euicc(['start', 'eidDeviceSwap', '-f', path, '--service-plan', '4G 2GB'], env);
    expect({ code, stderr }).toEqual({
      code: EXIT.failed,
      stderr: expect.stringMatching(/^euicc: cannot reach Temporal at 127\.0\.0\.1:9: /),
    });
  });
});
