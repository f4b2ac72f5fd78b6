/**
 * The README's five-minute tour, followed in a real browser (Debian's Chromium driven by playwright-core)
 * in the Temporal UI that the dev server serves: a swap completes; it is found by device id and shows its
 * summary and current details; a swap whose worker is stopped mid-way and whose callback is dropped
 * recovers by itself; a held saga is found by `SagaStep` and takes a decision from the Temporal CLI.
 * Screenshots go to test-output/tour/.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startEidDeviceSwap } from '../../client/index.js';
import { FailureType } from '../../contracts/index.js';
import { ensureChromium } from '../../scripts/lib/chromium.js';
import { findFreePort, startDevServer, type DevServer } from '../../scripts/lib/dev-server.js';
import { resolveTemporalCli } from '../../scripts/lib/temporal-cli.js';
import { failureOf, seedSwapPair, startSystem, swapRequest, waitFor, type TestSystem } from './harness.js';

const SHOTS = new URL('../../test-output/tour/', import.meta.url);
let cliPath: string;
let server: DevServer;
let system: TestSystem;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  const executablePath = ensureChromium((msg) => process.stderr.write(`${msg}\n`));
  mkdirSync(SHOTS, { recursive: true });
  cliPath = await resolveTemporalCli({ env: process.env, log: () => undefined });
  // A dev server of its own, with the Web UI the shared (headless) one does not serve.
  const port = await findFreePort();
  server = await startDevServer({ cliPath, port, dbFile: null, uiPort: await findFreePort(), log: () => undefined });
  system = await startSystem({ temporalAddress: server.address });
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await system?.stop();
  await server?.stop();
});

const shot = (name: string) => page.screenshot({ path: new URL(`${name}.png`, SHOTS).pathname, fullPage: true });

/** Step 3 of the tour: the UI's search box, with a query an operator types. */
async function search(query: string, workflowId: string): Promise<void> {
  await page.goto(`${server.uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(query)}`);
  await page.getByText(workflowId, { exact: true }).first().waitFor({ timeout: 30_000 });
}

/**
 * The saga's page, tab User Metadata: its summary, details and current details, as the UI renders them
 * (markdown, each in a frame of its own); the text of the page and of every frame.
 */
async function userMetadata(workflowId: string, expected: RegExp): Promise<string> {
  await page.goto(`${server.uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
  await page.getByTestId('user-metadata-tab').click();
  let text = '';
  await waitFor(async () => {
    const frames = await Promise.all(
      page.frames().map((f) =>
        f
          .locator('body')
          .innerText()
          .catch(() => ''),
      ),
    );
    text = frames.join('\n');
    return expected.test(text);
  }, 30_000);
  return text;
}

describe('the README tour, in the Temporal UI', () => {
  it('2–3: a swap completes, and the UI finds it by device id and shows its summary and its steps', async () => {
    const pair = await seedSwapPair(system);
    const handle = await startEidDeviceSwap(system.client, swapRequest(pair), { taskQueue: system.taskQueue });
    await handle.result();
    const imei = pair.swapOut.find((d) => d.kind === 'imei')?.id;
    await search(`DeviceIds = "imei:${imei}"`, handle.workflowId);
    await shot('1-found-by-device');

    const mdn = pair.swapOut.find((d) => d.kind === 'mdn')?.id ?? '';
    const shown = await userMetadata(handle.workflowId, /Swap: completed/);
    expect(shown).toContain(`Swap MDN …${mdn.slice(-4)}`);
    expect(shown).toMatch(/Swap: completed/);
    expect(shown).toMatch(/goToState\s+confirmed\s+callback/);
    expect(shown).not.toContain(mdn);
    await shot('2-summary-and-steps');
  });

  it('4: a worker stopped mid-swap and a dropped callback: the swap recovers by itself', async () => {
    await system.sim('POST', '/__sim/faults', { callbacks: { drop: 1 } });
    const pair = await seedSwapPair(system);
    const request = swapRequest(pair, { options: { stepTimeout: '3 seconds' } });
    const handle = await startEidDeviceSwap(system.client, request, { taskQueue: system.taskQueue });
    await waitFor(async () => (await handle.status()).phase === 'awaitingCallbacks');
    await system.restartWorker();
    const result = await handle.result();
    await system.sim('POST', '/__sim/faults', { clear: true });
    expect(result.steps.goToState).toMatchObject({ state: 'confirmed', confirmedBy: 'reconciliation' });

    const shown = await userMetadata(handle.workflowId, /goToState\s+confirmed\s+reconciliation/);
    expect(shown).toContain('read the swap in the device list');
    await shot('3-recovered-from-the-device-list');
  });

  it('5: a held saga is found by SagaStep and takes a decision from the Temporal CLI', async () => {
    await system.sim('POST', '/__sim/faults', {
      callbacks: {
        fail: {
          identifierChange: { faultcode: 'REQUEST_FAILED.UnexpectedError', faultstring: 'The SM-SR did not answer.' },
        },
      },
    });
    const pair = await seedSwapPair(system);
    const request = swapRequest(pair, { options: { failurePolicy: 'hold', stepTimeout: '3 seconds' } });
    const handle = await startEidDeviceSwap(system.client, request, { taskQueue: system.taskQueue });
    await waitFor(async () => (await handle.status()).phase === 'awaitingDecision');
    await search('SagaStep = "awaitingDecision"', handle.workflowId);
    await shot('4-held');

    // The command the README gives.
    const { stdout } = await promisify(execFile)(cliPath, [
      'workflow',
      'update',
      'execute',
      '--address',
      server.address,
      '--workflow-id',
      handle.workflowId,
      '--name',
      'decide',
      '--input',
      '{"decision":"abandon","operator":"tour","reason":"trying the tour"}',
    ]);
    expect(stdout).toMatch(/acted:true phase:abandoned/);
    expect((await failureOf(handle)).type).toBe(FailureType.Abandoned);
    await system.sim('POST', '/__sim/faults', { clear: true });

    const shown = await userMetadata(handle.workflowId, /Swap: abandoned/);
    expect(shown).toMatch(/identifierChange\s+failed/);
    await shot('5-abandoned');
  });
});
