/**
 * Process configuration: one zod schema per process, parsed once at start-up, failing fast with every
 * bad variable named. Defaults serve `npm start` on one machine against the simulator. This is the only
 * place that reads `process.env` (callers pass it in).
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { payloadKeyProblem } from './payload-keys.js';

/** Simulator's default credentials; real deployments set the THINGSPACE_* variables. */
const SIM = {
  clientId: 'sim-client-id',
  clientSecret: 'sim-client-secret',
  username: 'sim-user',
  password: 'sim-password',
};

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const temporal = {
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233').describe('Temporal frontend, host:port'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default').describe('Temporal namespace'),
};

const store = {
  DATA_DIR: z
    .string()
    .min(1)
    .default('.data')
    .describe('Folder of the SQLite inbox (inbox.db) and the Temporal dev server database'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional()
    .describe(
      'PostgreSQL URL of the inbox; unset: SQLite in DATA_DIR. ' +
        'It carries the password: pass it as a secret. Example: postgres://inbox:secret@db.example.com:5432/inbox',
    ),
};

const thingspace = {
  THINGSPACE_BASE_URL: z
    .string()
    .url()
    .default('http://127.0.0.1:3100/api')
    .describe(
      'ThingSpace API base URL; the default is the simulator. Another value makes npm start skip the simulator',
    ),
  THINGSPACE_CLIENT_ID: z
    .string()
    .min(1)
    .default(SIM.clientId)
    .describe("OAuth client id; the default is the simulator's"),
  THINGSPACE_CLIENT_SECRET: z
    .string()
    .min(1)
    .default(SIM.clientSecret)
    .describe("OAuth client secret; the default is the simulator's"),
  THINGSPACE_USERNAME: z
    .string()
    .min(1)
    .default(SIM.username)
    .describe("M2M session login user; the default is the simulator's"),
  THINGSPACE_PASSWORD: z
    .string()
    .min(1)
    .default(SIM.password)
    .describe("M2M session login password; the default is the simulator's"),
  THINGSPACE_ACCOUNT_NAME: z
    .string()
    .min(1)
    .default('0000123456-00001')
    .describe('Account whose callbacks npm start and register-callbacks register'),
  THINGSPACE_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(30_000)
    .describe(
      'Per-request HTTP timeout in ms. Keep it below 20 s if logins are slow, ' +
        "so token, login and request fit the activity's 1-minute timeout",
    ),
};

/** Fine on loopback; the gateway refuses to listen elsewhere with it. */
export const DEFAULT_CALLBACK_PASSWORD = 'change-me-callback-secret';

// ThingSpace limits callback credentials to 40 characters (thingspace-api-notes.md).
const callbackCredentials = {
  CALLBACK_USERNAME: z
    .string()
    .min(1)
    .max(40)
    .default('euicc-callbacks')
    .describe('User name ThingSpace puts in each callback (at most 40 characters)'),
  CALLBACK_PASSWORD: z
    .string()
    .min(8)
    .max(40)
    .default(DEFAULT_CALLBACK_PASSWORD)
    .describe(
      'Password ThingSpace puts in each callback (8-40 characters). ' +
        'The default is refused when GATEWAY_HOST is not loopback: set your own',
    ),
};

// Sent in an Authorization header, so printable ASCII without spaces; long enough not to be guessed.
const operatorToken = z
  .string()
  .min(16)
  .max(200)
  .regex(/^[\x21-\x7E]+$/, 'must be printable ASCII without spaces');

// Node runs a timer whose delay exceeds 2^31-1 ms after 1 ms instead, which would turn a sweep into a busy loop.
const timerInterval = (fallback: number) => z.coerce.number().int().positive().max(2_147_483_647).default(fallback);

/** AES-256 keys for Temporal payloads (payload-keys.ts); the problem named, never the key. */
export const payloadEncryptionKey = z
  .string()
  .superRefine((value, ctx) => {
    const problem = payloadKeyProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
  })
  .optional()
  .describe(
    'Comma-separated base64 AES-256 keys; the first encrypts Temporal payloads, all decrypt. ' +
      'Make a key with openssl rand -base64 32. ' +
      'Unset: payloads are stored in clear. Give the same value to the worker, the gateway and every client',
  );
const payloadEncryption = { PAYLOAD_ENCRYPTION_KEY: payloadEncryptionKey };

// An origin is scheme, host and port: no path, no trailing slash (browsers send it that way in `Origin`).
const ORIGIN = /^https?:\/\/[^/\s,]+$/;
const origins = z
  .string()
  .refine(
    (value) => value.split(',').every((origin) => ORIGIN.test(origin.trim())),
    'must be comma-separated origins such as http://localhost:8233 (scheme, host and port, no path)',
  )
  .transform((value) => value.split(',').map((origin) => origin.trim()));

const logging = {
  LOG_LEVEL: z
    .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
    .default('info')
    .describe('pino log level; passwords, tokens and headers are redacted'),
};

const deployment = {
  WORKER_DEPLOYMENT_NAME: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Worker Deployment Versioning: the deployment this worker belongs to (e.g. euicc-orchestrator); unset: unversioned',
    ),
  WORKER_BUILD_ID: z
    .string()
    .min(1)
    .optional()
    .describe("This worker's build id under versioning; default: the package version and the checkout's commit"),
};

const tracing = {
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .string()
    .url()
    .optional()
    .describe(
      'OTLP/HTTP collector URL traces are exported to (/v1/traces appended); unset: no tracing. ' +
        'Example: http://127.0.0.1:4318. The exporter also reads the other OTEL_EXPORTER_OTLP_* variables (headers)',
    ),
};

export const workerSchema = z.object({
  ...temporal,
  ...store,
  ...thingspace,
  ...payloadEncryption,
  ...logging,
  ...deployment,
  ...tracing,
  WORKER_METRICS_PORT: port(9464).describe(
    "Port of the worker's Prometheus /metrics (its own and the Temporal runtime's); 0: no metrics",
  ),
  WORKER_METRICS_HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe('Interface the worker serves /metrics on; 0.0.0.0 to be scraped from other machines'),
  TEMPORAL_METRICS_PORT: port(9465).describe(
    "Loopback port of the Temporal runtime's Prometheus exporter, read and served again on WORKER_METRICS_PORT",
  ),
});
export const gatewaySchema = z.object({
  ...temporal,
  ...store,
  ...callbackCredentials,
  ...payloadEncryption,
  ...logging,
  ...tracing,
  GATEWAY_PORT: port(3000).describe('Port the gateway listens on'),
  GATEWAY_HOST: z.string().default('127.0.0.1').describe('Interface the gateway listens on; 0.0.0.0 in containers'),
  CALLBACK_PASSWORD_PREVIOUS: z
    .string()
    .min(8)
    .max(40)
    .optional()
    .describe('Also accepted while ThingSpace still sends the old password after a change'),
  CALLBACK_MAX_BODY: z.string().default('1mb').describe('Largest callback body accepted'),
  DISPATCH_INTERVAL_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(250)
    .describe('How often the dispatcher looks for pending callbacks, in ms'),
  GATEWAY_METRICS: bool(true).describe('Serve Prometheus metrics (callbacks, latencies, inbox depth) on GET /metrics'),
  OPERATOR_TOKEN: operatorToken
    .optional()
    .describe(
      'Bearer token of the operator API (/operator) and the codec endpoint (/codec). ' +
        'It takes 16-200 printable ASCII characters, no spaces. Unset: neither is served',
    ),
  CODEC_CORS_ORIGINS: origins
    .optional()
    .describe(
      'Comma-separated Temporal UI origins whose pages may call the codec endpoint (/codec). ' +
        "Unset: the dev server's UI, http://127.0.0.1:8233,http://localhost:8233",
    ),
  PARK_TTL_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(24 * 60 * 60 * 1000)
    .describe('Parked callbacks older than this many ms (default 24 h) move to the dead-letter list'),
  PARK_SWEEP_INTERVAL_MS: timerInterval(60_000).describe(
    'How often, in ms, parked callbacks are checked against PARK_TTL_MS',
  ),
});
export const startSchema = z.object({
  ...temporal,
  ...store,
  ...thingspace,
  ...callbackCredentials,
  ...payloadEncryption,
  ...logging,
  GATEWAY_PORT: port(3000).describe('Port npm start gives the gateway'),
  SIMULATOR_PORT: port(3100).describe('Port npm start gives the simulator'),
  WORKER_METRICS_PORT: port(9464).describe("Port of the worker's /metrics that npm start prints; 0: none"),
  OPERATOR_TOKEN: operatorToken
    .optional()
    .describe('With PAYLOAD_ENCRYPTION_KEY also set, npm start points the Temporal UI at the codec endpoint (/codec)'),
  CALLBACK_PUBLIC_URL: z
    .string()
    .url()
    .optional()
    .describe(
      "The URL ThingSpace calls, /<service>/<account> appended; unset: the local gateway's /callbacks. " +
        'An HTTPS URL in front of the gateway, e.g. https://callbacks.example.com/callbacks; ' +
        'npm run register-callbacks requires it',
    ),
});

/**
 * The ops CLI (`npx euicc`) and the client's `doctor`: the operator API (GATEWAY_URL, OPERATOR_TOKEN), Temporal
 * (start, status, decide), and what `euicc doctor` checks (ThingSpace credentials, callback registrations,
 * the payload key).
 */
export const cliSchema = z.object({
  ...temporal,
  ...thingspace,
  THINGSPACE_ACCOUNT_NAME: thingspace.THINGSPACE_ACCOUNT_NAME.describe(
    'Account whose callback registrations euicc doctor checks',
  ),
  ...payloadEncryption,
  GATEWAY_URL: z
    .string()
    .url()
    .default('http://127.0.0.1:3000')
    .describe("The callback gateway's base URL (a path prefix in front of /operator and /readyz is kept)"),
  OPERATOR_TOKEN: operatorToken
    .optional()
    .describe("The gateway's OPERATOR_TOKEN; required by callbacks, callback, replay and counts"),
  CALLBACK_PUBLIC_URL: z
    .string()
    .url()
    .optional()
    .describe(
      'The URL euicc doctor expects in the callback registrations, /<service>/<account> appended; ' +
        'unset: GATEWAY_URL/callbacks, as npm start registers them',
    ),
});

/** Loopback addresses: a gateway bound only there is not reachable from other machines. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

export type WorkerConfig = z.infer<typeof workerSchema>;
export type GatewayConfig = z.infer<typeof gatewaySchema>;
export type StartConfig = z.infer<typeof startSchema>;
export type CliConfig = z.infer<typeof cliSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The settings of the ThingSpace client (`createThingSpaceClient` in thingspace/client.ts) from a parsed
 * configuration; `baseUrl` overrides THINGSPACE_BASE_URL (npm start's simulator).
 */
export function thingspaceClientSettings(
  config: Pick<WorkerConfig, Exclude<keyof typeof thingspace, 'THINGSPACE_ACCOUNT_NAME'>>,
  baseUrl: string = config.THINGSPACE_BASE_URL,
): { baseUrl: string; clientId: string; clientSecret: string; username: string; password: string; timeoutMs: number } {
  return {
    baseUrl,
    clientId: config.THINGSPACE_CLIENT_ID,
    clientSecret: config.THINGSPACE_CLIENT_SECRET,
    username: config.THINGSPACE_USERNAME,
    password: config.THINGSPACE_PASSWORD,
    timeoutMs: config.THINGSPACE_TIMEOUT_MS,
  };
}

/** Parses `env` with `schema`; throws one ConfigError naming every bad variable (never its value). */
export function parseConfig<S extends z.ZodTypeAny>(schema: S, env: Record<string, string | undefined>): z.infer<S> {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    // Zod's enum messages repeat the value given; name the allowed values instead.
    const problems = result.error.issues
      .map(
        (i) =>
          `${i.path.join('.')}: ${i.code === 'invalid_enum_value' ? `must be one of ${i.options.join(', ')}` : i.message}`,
      )
      .join('; ');
    throw new ConfigError(`Invalid configuration: ${problems}`);
  }
  return result.data;
}

/** The SQLite inbox file in DATA_DIR. */
export function sqliteFile(config: { DATA_DIR: string }): string {
  return resolve(config.DATA_DIR, 'inbox.db');
}
