/** `npm run start:simulator`: the ThingSpace simulator on SIMULATOR_PORT until SIGINT/SIGTERM. */
import { pino } from 'pino';
import { createSimulator } from './app.js';
import { loadSimulatorConfig, simulatorOptions } from './config.js';
import { listen } from './server.js';

const config = loadSimulatorConfig(process.env);
const logger = pino({ name: 'thingspace-simulator', level: config.LOG_LEVEL });
const simulator = createSimulator({ ...simulatorOptions(config), logger });
const running = await listen(simulator, config.SIMULATOR_PORT, config.SIMULATOR_HOST);
logger.info(
  { url: running.url, apiBaseUrl: `${running.url}/api`, controlUrl: `${running.url}/__sim` },
  'ThingSpace simulator listening',
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'ThingSpace simulator stopping');
  await running.stop();
  process.exit(0);
}
process.once('SIGINT', () => void shutdown('SIGINT'));
process.once('SIGTERM', () => void shutdown('SIGTERM'));
