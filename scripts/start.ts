/**
 * `npm start`: the whole system on one machine — Temporal dev server (UI on :8233, data in .data/),
 * ThingSpace simulator, callback gateway and worker — with the gateway's callback URLs registered.
 * With real ThingSpace credentials and THINGSPACE_BASE_URL set, it talks to ThingSpace instead and
 * does not start the simulator.
 */
import { resolve } from 'node:path';
import { CALLBACK_SERVICES } from '../contracts/index.js';
import { DEFAULT_SIMULATOR_URL, parseConfig, startSchema, thingspaceClientSettings } from '../config/index.js';
import { createThingSpaceClient } from '../thingspace/index.js';
import { probeTemporal, startDevServer, type DevServer } from './lib/dev-server.js';
import { startPart, waitForHttp, type Part } from './lib/processes.js';
import { registerCallbacks } from './lib/register-callbacks.js';
import { resolveTemporalCli } from './lib/temporal-cli.js';

const config = parseConfig(startSchema, process.env);
const say = (line: string) => process.stdout.write(`${line}\n`);
const parts: Part[] = [];
let temporal: DevServer | undefined;
let stopping = false;

async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say('Stopping…');
    await Promise.all(parts.map((p) => p.stop()));
    await temporal?.stop();
  }
  process.exit(code);
}
// A terminal's Ctrl-C reaches every process of the group, and tsx forwards it again: stop once.
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

const simulatorUrl = `http://127.0.0.1:${config.SIMULATOR_PORT}/api`;
const useSimulator =
  config.THINGSPACE_BASE_URL === DEFAULT_SIMULATOR_URL || config.THINGSPACE_BASE_URL === simulatorUrl;
const thingspaceBaseUrl = useSimulator ? simulatorUrl : config.THINGSPACE_BASE_URL;
const gatewayUrl = `http://127.0.0.1:${config.GATEWAY_PORT}`;
const operatorUrl = `http://127.0.0.1:${config.OPERATOR_PORT}`;
const callbackBase = config.CALLBACK_PUBLIC_URL ?? `${gatewayUrl}/callbacks`;
// The gateway serves the codec endpoint only to holders of the operator token (callback-gateway/codec-endpoints.ts).
const codecEndpoint =
  config.PAYLOAD_ENCRYPTION_KEY !== undefined && config.OPERATOR_TOKEN !== undefined
    ? `${operatorUrl}/codec`
    : undefined;

try {
  const [host, port] = config.TEMPORAL_ADDRESS.split(':');
  const probe = await probeTemporal(config.TEMPORAL_ADDRESS);
  if (probe === 'temporal') {
    say(`Using the Temporal server already running at ${config.TEMPORAL_ADDRESS}`);
  } else {
    const cliPath = await resolveTemporalCli({ log: say });
    temporal = await startDevServer({
      cliPath,
      ip: host ?? '127.0.0.1',
      port: Number(port ?? 7233),
      dbFile: resolve(config.DATA_DIR, 'temporal.db'),
      ...(codecEndpoint && { uiCodecEndpoint: codecEndpoint }),
      log: (line) => say(`[temporal] ${line}`),
    });
  }

  const env = { ...process.env, THINGSPACE_BASE_URL: thingspaceBaseUrl, FORCE_COLOR: '0' };
  if (useSimulator) {
    parts.push(startPart('simulator', 'simulator/main.ts', { ...env, SIMULATOR_PORT: String(config.SIMULATOR_PORT) }));
    await waitForHttp(`http://127.0.0.1:${config.SIMULATOR_PORT}/__sim/health`);
  }
  parts.push(startPart('gateway', 'callback-gateway/main.ts', env));
  await waitForHttp(`${gatewayUrl}/healthz`);
  parts.push(startPart('worker', 'workers/main.ts', env));
  for (const part of parts) {
    part.child.once('exit', (code) => {
      if (!stopping) {
        say(`${part.name} exited (${code ?? 'signal'}); stopping everything`);
        void stopAll(1);
      }
    });
  }

  const thingspace = createThingSpaceClient(thingspaceClientSettings(config, thingspaceBaseUrl));
  await registerCallbacks(thingspace, {
    accountName: config.THINGSPACE_ACCOUNT_NAME,
    baseUrl: callbackBase,
    pathToken: config.CALLBACK_PATH_TOKEN,
    username: config.CALLBACK_USERNAME,
    password: config.CALLBACK_PASSWORD,
  });

  say('');
  say('euicc-orchestrator is running:');
  say(`  Temporal UI        ${temporal?.uiUrl ?? 'http://127.0.0.1:8233'}`);
  say(`  Temporal           ${config.TEMPORAL_ADDRESS} (task queue euicc-lifecycle)`);
  say(
    `  Callback gateway   ${gatewayUrl} (callbacks of ${config.THINGSPACE_ACCOUNT_NAME} registered for ${CALLBACK_SERVICES.join(', ')})`,
  );
  say(`  Gateway internal   ${operatorUrl} (/metrics; /operator and /codec with OPERATOR_TOKEN)`);
  say(`  ThingSpace         ${useSimulator ? `${thingspaceBaseUrl} (simulator)` : thingspaceBaseUrl}`);
  if (config.WORKER_METRICS_PORT !== 0) {
    say(
      `  Worker metrics     http://127.0.0.1:${config.WORKER_METRICS_PORT}/metrics (gateway: ${operatorUrl}/metrics)`,
    );
  }
  if (config.PAYLOAD_ENCRYPTION_KEY !== undefined) {
    say(
      codecEndpoint
        ? `  Payloads           encrypted; codec endpoint ${codecEndpoint} (Bearer OPERATOR_TOKEN)`
        : '  Payloads           encrypted; set OPERATOR_TOKEN to serve the codec endpoint for the UI and CLI',
    );
  }
  say('');
  say('Next, in another terminal:  npm run demo:swap   (or demo:changeDeviceIdentifier,');
  say('                             demo:changeProfileServicePlan, demo:activateDeviceProfiles)');
  say('Ctrl-C stops everything.');
} catch (err) {
  say(`Start-up failed: ${(err as Error).message}`);
  await stopAll(1);
}
