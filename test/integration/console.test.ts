/**
 * The operators' console against the whole system: `euicc start` and `euicc status --watch` as the separate
 * processes an operator runs, several times over (each must exit 0 once its saga completed), `euicc decide`
 * through the update, and `euicc doctor` on a healthy and on a broken deployment.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, runCli } from '../../client/cli.js';
import { DOCTOR_CHECKS, type CheckResult, type SagaView } from '../../client/index.js';
import { REPO_ROOT } from '../../scripts/lib/config-docs.js';
import {
  CALLBACK_PATH_TOKEN,
  requestLogLength,
  seedSwapPair,
  simRequests,
  startSystem,
  swapRequest,
  type TestSystem,
} from './harness.js';
import { testServerAddress } from './temporal-env.js';

const KEY = randomBytes(32).toString('base64');
const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const CLI = join(REPO_ROOT, 'client', 'cli.ts');

let system: TestSystem;
let env: Record<string, string>;
const dir = mkdtempSync(join(tmpdir(), 'euicc-console-'));

beforeAll(async () => {
  system = await startSystem({ payloadEncryptionKey: KEY });
  env = {
    TEMPORAL_ADDRESS: testServerAddress(),
    PAYLOAD_ENCRYPTION_KEY: KEY,
    // The test gateway serves its public and internal endpoints on one port.
    GATEWAY_URL: system.gatewayUrl,
    GATEWAY_PUBLIC_URL: system.gatewayUrl,
    CALLBACK_PATH_TOKEN,
    THINGSPACE_BASE_URL: `${system.simulatorUrl}/api`,
  };
});

afterAll(async () => {
  await system?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `euicc` as its own process, as `npm run euicc` runs it: the exit code is the process's. */
function euiccProcess(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      TSX,
      [CLI, ...args],
      { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** `euicc` in this process (quicker), with the same environment. */
async function euicc(args: string[], overrides: Record<string, string> = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    env: { ...env, ...overrides },
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

async function doctorChecks(args: string[], overrides: Record<string, string> = {}) {
  const run = await euicc(['doctor', '--json', ...args], overrides);
  const answer = JSON.parse(run.stdout) as { ok: boolean; checks: CheckResult[] };
  return { code: run.code, ok: answer.ok, checks: Object.fromEntries(answer.checks.map((c) => [c.check, c])) };
}

describe('euicc start and status --watch, as processes', () => {
  it('each start exits 0, and each watch exits 0 once the swap completed, every time', async () => {
    for (let i = 0; i < 3; i += 1) {
      const file = join(dir, `swap-${i}.json`);
      writeFileSync(file, JSON.stringify(swapRequest(await seedSwapPair(system))));

      const started = await euiccProcess([
        'start',
        'eidDeviceSwap',
        '-f',
        file,
        '--task-queue',
        system.taskQueue,
        '--json',
      ]);
      expect({ code: started.code, stderr: started.stderr }).toEqual({ code: EXIT.ok, stderr: '' });
      const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };

      const watched = await euiccProcess(['status', workflowId, '--watch', '--interval', '200']);
      expect({ run: i, code: watched.code, stderr: watched.stderr }).toEqual({ run: i, code: EXIT.ok, stderr: '' });
      expect(watched.stdout).toMatch(/^execution +COMPLETED/m);
      expect(watched.stdout).toMatch(
        /^steps +deactivation: confirmed, identifierChange: confirmed, goToState: confirmed$/m,
      );
    }
  });
});

describe('euicc doctor', () => {
  it('passes every check on a healthy system, the payload key included', async () => {
    const { code, ok, checks } = await doctorChecks(['--task-queue', system.taskQueue]);
    expect(Object.values(checks).filter((c) => c.status !== 'pass')).toEqual([]);
    expect({ code, ok, names: Object.keys(checks) }).toEqual({
      code: EXIT.ok,
      ok: true,
      names: [...DOCTOR_CHECKS],
    });
  });

  it('prints one line per check with ✓ or ✗', async () => {
    const { code, stdout } = await euicc(['doctor', '--task-queue', system.taskQueue]);
    expect(code).toBe(EXIT.ok);
    expect(
      stdout
        .trimEnd()
        .split('\n')
        .map((line) => line.slice(0, 2)),
    ).toEqual(Array(8).fill('✓ '));
  });

  it('reports a missing worker, a gateway that is down, callbacks registered elsewhere and another payload key', async () => {
    const { code, ok, checks } = await doctorChecks(['--task-queue', `${system.taskQueue}-nobody`], {
      GATEWAY_PUBLIC_URL: 'http://127.0.0.1:9',
      CALLBACK_PUBLIC_URL: 'https://callbacks.example.com/callbacks',
      PAYLOAD_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    });
    expect({ code, ok }).toEqual({ code: EXIT.failed, ok: false });
    expect(checks.worker).toEqual({
      check: 'worker',
      status: 'fail',
      detail: expect.stringContaining(`no worker polls ${system.taskQueue}-nobody`),
    });
    expect(checks.gateway?.status).toBe('fail');
    expect(checks['callback registrations']).toEqual({
      check: 'callback registrations',
      status: 'fail',
      // The path token is a secret: never printed.
      detail: expect.stringContaining(
        `CarrierService points at ${system.gatewayUrl}/callbacks/<token>/CarrierService/`,
      ),
    });
    expect(checks['payload key']?.status).toBe('skip'); // no saga on that task queue to compare with

    const wrongKey = await doctorChecks(['--task-queue', system.taskQueue], {
      PAYLOAD_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    });
    expect(wrongKey.checks['payload key']).toEqual({
      check: 'payload key',
      status: 'fail',
      detail: expect.stringContaining('which is not in PAYLOAD_ENCRYPTION_KEY'),
    });
  });

  it('reports wrong ThingSpace credentials after one login, and does not log in again for the callbacks', async () => {
    const since = await requestLogLength(system);
    const { code, checks } = await doctorChecks(['--task-queue', system.taskQueue], {
      THINGSPACE_PASSWORD: 'not-the-password',
    });
    expect(code).toBe(EXIT.failed);
    expect(checks['thingspace credentials']).toEqual({
      check: 'thingspace credentials',
      status: 'fail',
      detail: expect.stringMatching(/^the session login failed \(HTTP 4\d\d .*check the THINGSPACE_\* credentials$/),
    });
    expect(checks['callback registrations']?.status).toBe('skip');
    const calls = (await simRequests(system, undefined, since)).map((r) => r.operation);
    expect(calls.filter((op) => op === 'login')).toHaveLength(1);
    expect(calls.filter((op) => op === 'token')).toHaveLength(1);
    expect(calls.filter((op) => op === 'listCallbacks')).toHaveLength(0);
  });
});

describe('euicc decide and status on a held saga', () => {
  afterEach(async () => {
    await system.sim('POST', '/__sim/faults', { clear: true });
  });

  it('a refused decision exits 3 with the reason; the saga holds; abandon ends it, and status shows why', async () => {
    await system.sim('POST', '/__sim/faults', {
      callbacks: {
        fail: { identifierChange: { faultcode: 'REQUEST_FAILED.UnexpectedError', faultstring: 'No SM-SR.' } },
      },
    });
    const file = join(dir, 'held.json');
    const request = swapRequest(await seedSwapPair(system), { options: { stepTimeout: '3 seconds' } });
    writeFileSync(file, JSON.stringify(request));
    const started = await euicc(['start', 'eidDeviceSwap', '-f', file, '--task-queue', system.taskQueue, '--json']);
    const { workflowId } = JSON.parse(started.stdout) as { workflowId: string };

    expect(await euicc(['decide', workflowId, 'retry', '--operator', 'ops-alice'])).toEqual({
      code: EXIT.refused,
      stdout: '',
      stderr: 'euicc: the saga refused the decision: the saga is not waiting for a decision\n',
    });

    const watched = await euicc(['status', workflowId, '--watch', '--interval', '200']);
    expect({ code: watched.code, stderr: watched.stderr }).toEqual({
      code: EXIT.notCompleted,
      stderr: 'euicc: the saga holds for an operator decision\n',
    });
    expect(watched.stdout).toMatch(/^held +StepFailed: /m);
    expect(watched.stdout).toContain(`euicc decide '${workflowId}'`);

    const decided = await euicc([
      'decide',
      workflowId,
      'abandon',
      '--operator',
      'ops-alice',
      '--reason',
      'customer cancelled',
      '--json',
    ]);
    expect({ code: decided.code, answer: JSON.parse(decided.stdout) as unknown }).toEqual({
      code: EXIT.ok,
      answer: { acted: true, phase: 'abandoned' },
    });

    // The saga ends a moment after it took the decision: --watch follows it there, and exits 4 (not completed).
    const ended = await euicc(['status', workflowId, '--watch', '--interval', '100', '--json']);
    const view = JSON.parse(ended.stdout.trimEnd().split('\n').pop() ?? '') as SagaView;
    expect({
      code: ended.code,
      execution: view.execution,
      phase: view.status?.phase,
      failure: view.failure,
    }).toEqual({
      code: EXIT.notCompleted,
      execution: 'FAILED',
      phase: 'abandoned',
      failure: { type: 'Abandoned', message: expect.stringContaining('abandoned by ops-alice: customer cancelled') },
    });

    expect(await euicc(['decide', workflowId, 'retry', '--operator', 'ops-bob'])).toEqual({
      code: EXIT.refused,
      stdout: '',
      stderr: 'euicc: the saga has ended (FAILED); it takes no decision\n',
    });
  });

  it('an unknown saga is one line and exit 1', async () => {
    expect(await euicc(['status', 'eidDeviceSwap:no-such-saga'])).toEqual({
      code: EXIT.failed,
      stdout: '',
      stderr: 'euicc: no saga with workflow id eidDeviceSwap:no-such-saga in default\n',
    });
  });
});
