/**
 * Simulator configuration: one zod schema, parsed once by `main.ts`, failing fast with every bad variable
 * named. The only simulator module that reads `process.env`. Defaults serve `npm start`.
 */
import { z } from 'zod';
import { parseConfig } from '../config/index.js';
import { bundledFixturePath, loadFixture } from './platform/devices/inventory.js';
import type { SimulatorOptions } from './platform/state.js';

const positiveMs = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);

export const simulatorConfigSchema = z.object({
  SIMULATOR_PORT: z.coerce.number().int().min(0).max(65535).default(3100).describe('Port the simulator listens on'),
  SIMULATOR_HOST: z.string().min(1).default('127.0.0.1').describe('Interface to bind; 0.0.0.0 in containers'),
  SIM_CLIENT_ID: z.string().min(1).default('sim-client-id').describe('OAuth client id the token endpoint accepts'),
  SIM_CLIENT_SECRET: z.string().min(1).default('sim-client-secret').describe('OAuth client secret'),
  SIM_USERNAME: z.string().min(1).default('sim-user').describe('M2M login username'),
  SIM_PASSWORD: z.string().min(1).default('sim-password').describe('M2M login password'),
  SIM_SEED: z.coerce
    .number()
    .int()
    .optional()
    .describe('Seed of request ids and fault rolls; unset: new seed per start, so request ids never repeat'),
  SIM_CALLBACK_DELAY_MS: positiveMs(500).describe('Delay before each callback of an operation'),
  SIM_CALLBACK_RETRY_MS: positiveMs(1500).describe('Wait before re-sending a refused callback (observed ~1.5 s)'),
  SIM_CALLBACK_RETRY: z
    .enum(['threshold', 'observed'])
    .default('threshold')
    .describe('threshold: up to 4 attempts; observed: one fast retry only'),
  SIM_CALLBACKS_PER_SECOND: z.coerce
    .number()
    .positive()
    .default(200)
    .describe('Profile callbacks sent per second, at most'),
  SIM_DEVICES_FILE: z
    .string()
    .min(1)
    .default(() => bundledFixturePath())
    .describe('JSON fixture {accounts, devices}; default the bundled one'),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});
export type SimulatorConfig = z.infer<typeof simulatorConfigSchema>;

/** Parses the environment; throws a ConfigError naming every bad variable (never its value). */
export function loadSimulatorConfig(env: Record<string, string | undefined>): SimulatorConfig {
  return parseConfig(simulatorConfigSchema, env);
}

/** Options for `createSimulator` from a parsed config (reads the devices file). */
export function simulatorOptions(config: SimulatorConfig): SimulatorOptions {
  return {
    clientId: config.SIM_CLIENT_ID,
    clientSecret: config.SIM_CLIENT_SECRET,
    username: config.SIM_USERNAME,
    password: config.SIM_PASSWORD,
    // ThingSpace never reuses a request id: a fixed default seed would repeat them after a restart, and
    // the gateway's inbox would take the new callbacks for re-deliveries of the old ones.
    seed: config.SIM_SEED ?? Date.now() % 2_147_483_647,
    callbackDelayMs: config.SIM_CALLBACK_DELAY_MS,
    retryIntervalMs: config.SIM_CALLBACK_RETRY_MS,
    callbackRetry: config.SIM_CALLBACK_RETRY,
    profileCallbacksPerSecond: config.SIM_CALLBACKS_PER_SECOND,
    fixture: loadFixture(config.SIM_DEVICES_FILE),
  };
}
