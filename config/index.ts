/**
 * Process configuration: one zod schema per process, parsed once at start-up, failing fast with every
 * bad variable named. Defaults serve `npm start` on one machine against the simulator. This is the only
 * place that reads `process.env` (callers pass it in).
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { cidrProblem } from './cidr.js';
import { payloadKeyProblem } from './payload-keys.js';
import { temporalConnection, temporalConnectionProblems } from './temporal-connection.js';

/** Simulator's default credentials; real deployments set the THINGSPACE_* variables. */
export const SIM = {
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
  ...temporalConnection,
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

/** The simulator's API on this machine, the default THINGSPACE_BASE_URL. */
export const DEFAULT_SIMULATOR_URL = 'http://127.0.0.1:3100/api';

/**
 * Whether a ThingSpace base URL is the simulator's: plain HTTP to a loopback address or to compose's
 * `simulator` service, path `/api`. A process whose THINGSPACE_BASE_URL is the simulator runs in a sandbox,
 * where the embedded default secrets are allowed; anywhere else they are refused (`sandboxProblems`).
 */
export function isSimulatorUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return (
    parsed.protocol === 'http:' && (isLoopback(host) || host === 'simulator') && /^\/api\/?$/.test(parsed.pathname)
  );
}

const thingspaceBaseUrl = z
  .string()
  .url()
  .default(DEFAULT_SIMULATOR_URL)
  .describe(
    'ThingSpace API base URL; the default is the simulator (a sandbox). ' +
      'Only with the simulator are the default secrets allowed. Another value makes npm start skip the simulator',
  );

/** Refuses the simulator outside development: NODE_ENV=production with the simulator's URL stops the start. */
const nodeEnv = {
  NODE_ENV: z
    .string()
    .optional()
    .describe("production refuses the simulator's THINGSPACE_BASE_URL and every default secret"),
};

const thingspace = {
  THINGSPACE_BASE_URL: thingspaceBaseUrl,
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

/** Fine in a sandbox on loopback; refused elsewhere (`sandboxProblems`). */
export const DEFAULT_CALLBACK_PASSWORD = 'change-me-callback-secret';

/** The sandbox's callback path token; refused like the default password. */
export const DEFAULT_CALLBACK_PATH_TOKEN = 'sandbox-callback-path-token-not-secret';

/** The shortest callback password accepted; ThingSpace takes at most 40 characters. */
export const MIN_CALLBACK_PASSWORD = 24;

/** The callback path token: a path segment, URL-safe, long enough not to be guessed. */
const callbackPathToken = z
  .string()
  .min(32)
  .max(128)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be URL-safe: letters, digits, - and _ (openssl rand -hex 24)');

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
    .min(MIN_CALLBACK_PASSWORD)
    .max(40)
    .default(DEFAULT_CALLBACK_PASSWORD)
    .describe(
      'Password ThingSpace puts in each callback (24-40 characters). ' +
        'The default is refused outside a sandbox on loopback: set your own (openssl rand -base64 30)',
    ),
  CALLBACK_PATH_TOKEN: callbackPathToken
    .default(DEFAULT_CALLBACK_PATH_TOKEN)
    .describe(
      'Secret path segment of the callback URLs, 32-128 URL-safe characters. ' +
        'They are registered as /callbacks/<token>/<service>/<account>. ' +
        'The default is refused outside a sandbox on loopback: set your own (openssl rand -hex 24)',
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
  RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(0)
    .default(30)
    .describe('Days delivered callbacks, tombstones and closed bulk operations are kept (daily purge); 0: keep'),
  WORKFLOW_SEMI_SPACE_MB: z.coerce
    .number()
    .int()
    .min(0)
    .max(64)
    .default(4)
    .describe("MiB of each of V8's young-generation halves in the workflow thread (V8 picks up to 16); 0: V8's own"),
  ...nodeEnv,
});
export const gatewaySchema = z.object({
  ...temporal,
  ...store,
  THINGSPACE_BASE_URL: thingspaceBaseUrl.describe(
    "Read only to tell a sandbox: the simulator's URL allows the default callback password and path token",
  ),
  ...callbackCredentials,
  ...nodeEnv,
  ...payloadEncryption,
  ...logging,
  ...tracing,
  GATEWAY_PORT: port(3000).describe('Public port of the gateway: only /callbacks, /healthz and /readyz'),
  GATEWAY_HOST: z.string().default('127.0.0.1').describe('Interface the gateway listens on; 0.0.0.0 in containers'),
  OPERATOR_PORT: port(3001).describe('Internal port of the gateway: /operator, /codec and /metrics'),
  OPERATOR_HOST: z
    .string()
    .default('127.0.0.1')
    .describe('Interface of the internal port; keep it on loopback or a private network (0.0.0.0 in containers)'),
  METRICS_MAX_AGE_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(5_000)
    .describe('How old the inbox counts on /metrics and /operator/counts may be, in ms: one count per period'),
  CALLBACK_PASSWORD_PREVIOUS: z
    .string()
    .min(MIN_CALLBACK_PASSWORD)
    .max(40)
    .optional()
    .describe('Also accepted while ThingSpace still sends the old password after a change'),
  CALLBACK_MAX_BODY: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i, 'must be a size such as 64kb or 1mb')
    .default('64kb')
    .describe("Largest callback body accepted (ThingSpace's are a few KB); larger ones get 413"),
  CALLBACK_LEGACY_PATHS: bool(false).describe(
    'Also accept the untokenised callback URLs of earlier releases. ' +
      'Those (/callbacks/<service>/<account>) are checked by the body credentials alone: ' +
      'for an upgrade, until register-callbacks has run',
  ),
  CALLBACK_ALLOWED_SOURCES: z
    .string()
    .superRefine((value, ctx) => {
      for (const entry of value.split(',')) {
        const problem = cidrProblem(entry.trim());
        if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
      }
    })
    .transform((value) => value.split(',').map((entry) => entry.trim()))
    .optional()
    .describe(
      "Comma-separated CIDRs or addresses allowed to post callbacks (ThingSpace's egress); others get 403. " +
        'Unset: any source. Behind a proxy, set GATEWAY_TRUST_PROXY too',
    ),
  GATEWAY_TRUST_PROXY: z
    .string()
    .default('false')
    .refine(
      (value) =>
        value === 'false' ||
        /^[1-9]\d?$/.test(value) ||
        value.split(',').every((entry) => {
          const e = entry.trim();
          return ['loopback', 'linklocal', 'uniquelocal'].includes(e) || cidrProblem(e) === undefined;
        }),
      'must be false, a number of proxy hops, or comma-separated proxy addresses/CIDRs (never true: anyone could ' +
        'pick their source)',
    )
    .transform((value): boolean | number | string =>
      value === 'false' ? false : /^\d+$/.test(value) ? Number(value) : value,
    )
    .describe(
      "Proxies whose X-Forwarded-For names a callback's source. " +
        'Default false: none; else a hop count, or their addresses/CIDRs (loopback, uniquelocal, 10.0.0.0/8)',
    ),
  CALLBACK_RATE_LIMIT: z.coerce
    .number()
    .int()
    .min(0)
    .default(60_000)
    .describe(
      'Callbacks a minute one source may post, in bursts of as many; more get 429 (ThingSpace sends them again). ' +
        'Above what a 10,000-device operation sends, so it only stops floods. 0: no limit',
    ),
  DISPATCH_INTERVAL_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(250)
    .describe('How often the dispatcher looks for pending callbacks, in ms'),
  DISPATCH_MAX_ATTEMPTS: z.coerce
    .number()
    .int()
    .min(1)
    .default(10)
    .describe(
      'Refused signals after which a callback moves to the dead-letter list. ' +
        'Temporal being unreachable does not count; rows batched with it are then sent on their own',
    ),
  SIGNAL_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(16 * 1024)
    .max(2 * 1024 * 1024)
    .default(256 * 1024)
    .describe('Most bytes of callback events in one signal (Temporal refuses payloads over 2 MB); default 256 KB'),
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
  INBOX_COMMIT_WINDOW_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(1_000)
    .default(2)
    .describe(
      'Callbacks arriving within this many ms share one inbox transaction (group commit). ' +
        'Each is acknowledged only after that transaction commits; 0: one transaction per callback',
    ),
  INBOX_COMMIT_MAX_CALLBACKS: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(256)
    .describe('Most callbacks in one group-commit transaction; a full batch is written at once'),
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
  ...nodeEnv,
  GATEWAY_PORT: port(3000).describe('Port npm start gives the gateway'),
  OPERATOR_PORT: port(3001).describe("Port of the gateway's internal endpoints (/operator, /codec, /metrics)"),
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
      "The URL ThingSpace calls, /<token>/<service>/<account> appended; unset: the local gateway's /callbacks. " +
        'HTTPS (unless on loopback or in a sandbox), in front of the gateway, e.g. https://callbacks.example.com/callbacks; ' +
        'npm run register-callbacks requires it',
    ),
});

/** `npm run register-callbacks`: ThingSpace and the callback credentials only; the public URL is required. */
export const registerCallbacksSchema = startSchema
  .omit({
    TEMPORAL_ADDRESS: true,
    TEMPORAL_NAMESPACE: true,
    TEMPORAL_TLS_CERT: true,
    TEMPORAL_TLS_KEY: true,
    TEMPORAL_TLS_CA: true,
    TEMPORAL_TLS_SERVER_NAME: true,
    TEMPORAL_TLS: true,
    TEMPORAL_API_KEY: true,
    DATA_DIR: true,
    DATABASE_URL: true,
    PAYLOAD_ENCRYPTION_KEY: true,
    GATEWAY_PORT: true,
    SIMULATOR_PORT: true,
    OPERATOR_TOKEN: true,
  })
  .extend({ CALLBACK_PUBLIC_URL: z.string().url().describe('URL ThingSpace calls') });

/**
 * The ops CLI (`npx euicc`) and the client's `doctor`: the operator API (GATEWAY_URL, OPERATOR_TOKEN), Temporal
 * (start, status, decide), and what `euicc doctor` checks (ThingSpace credentials, callback registrations,
 * the payload key).
 */
export const cliSchema = z.object({
  ...temporal,
  // The operation store of the worker: `euicc start --devices` stores devices there, `euicc results` reads them.
  ...store,
  ...thingspace,
  THINGSPACE_ACCOUNT_NAME: thingspace.THINGSPACE_ACCOUNT_NAME.describe(
    'Account whose callback registrations euicc doctor checks',
  ),
  ...payloadEncryption,
  GATEWAY_URL: z
    .string()
    .url()
    .default('http://127.0.0.1:3001')
    .describe("The callback gateway's internal port, OPERATOR_PORT (a path prefix in front of /operator is kept)"),
  GATEWAY_PUBLIC_URL: z
    .string()
    .url()
    .default('http://127.0.0.1:3000')
    .describe("The callback gateway's public port: euicc doctor asks its /readyz"),
  OPERATOR_TOKEN: operatorToken
    .optional()
    .describe("The gateway's OPERATOR_TOKEN; required by callbacks, callback, replay and counts"),
  CALLBACK_PUBLIC_URL: z
    .string()
    .url()
    .optional()
    .describe(
      'The URL euicc doctor expects in the callback registrations, /<token>/<service>/<account> appended; ' +
        'unset: GATEWAY_PUBLIC_URL/callbacks, as npm start registers them',
    ),
  CALLBACK_PATH_TOKEN: callbackCredentials.CALLBACK_PATH_TOKEN.describe(
    'The secret path segment euicc doctor expects in the callback registrations',
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

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Hosts of a URL that only this machine reaches. */
function isLoopbackUrl(url: URL): boolean {
  return isLoopback(url.hostname.replace(/^\[(.*)\]$/, '$1'));
}

/**
 * What a parsed configuration may not combine, each problem naming its variable: the embedded defaults are
 * for a sandbox (THINGSPACE_BASE_URL is the simulator) and are refused anywhere else, production refuses the
 * simulator, a callback URL ThingSpace reaches over a network is HTTPS, and outside a sandbox payloads are
 * encrypted. Rules apply to the variables a schema has, so each process checks what it reads.
 */
export function sandboxProblems(config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const has = (name: string) => name in config;
  const baseUrl = config.THINGSPACE_BASE_URL;
  const sandbox = typeof baseUrl === 'string' && isSimulatorUrl(baseUrl);
  const outside = 'when THINGSPACE_BASE_URL is not the simulator';
  if (sandbox && config.NODE_ENV === 'production') {
    problems.push("THINGSPACE_BASE_URL: the simulator's URL is refused when NODE_ENV=production; set ThingSpace's");
  }
  if (typeof baseUrl === 'string' && !sandbox) {
    const simDefaults: [string, string][] = [
      ['THINGSPACE_CLIENT_ID', SIM.clientId],
      ['THINGSPACE_CLIENT_SECRET', SIM.clientSecret],
      ['THINGSPACE_USERNAME', SIM.username],
      ['THINGSPACE_PASSWORD', SIM.password],
    ];
    for (const [name, value] of simDefaults) {
      if (config[name] === value) problems.push(`${name}: the simulator's value is refused ${outside}; set your own`);
    }
    // Every process that talks to Temporal: customers' names and addresses never reach it in clear.
    if (has('TEMPORAL_ADDRESS') && config.PAYLOAD_ENCRYPTION_KEY === undefined) {
      problems.push(`PAYLOAD_ENCRYPTION_KEY: required ${outside} (openssl rand -base64 32)`);
    }
  }
  // The gateway refuses the defaults beyond loopback too: anyone who reaches it could know them.
  const exposed = typeof config.GATEWAY_HOST === 'string' && !isLoopback(config.GATEWAY_HOST);
  if (!sandbox || exposed) {
    const where = !sandbox ? outside : 'when the gateway listens beyond loopback (GATEWAY_HOST)';
    for (const name of ['CALLBACK_PASSWORD', 'CALLBACK_PASSWORD_PREVIOUS']) {
      if (config[name] === DEFAULT_CALLBACK_PASSWORD) problems.push(`${name}: the default is refused ${where}`);
    }
    if (config.CALLBACK_PATH_TOKEN === DEFAULT_CALLBACK_PATH_TOKEN) {
      problems.push(`CALLBACK_PATH_TOKEN: the default is refused ${where} (openssl rand -hex 24)`);
    }
  }
  // ThingSpace sends the callback credentials in each body: over a network, only through TLS. The simulator
  // calls the gateway by its compose name over plain HTTP, with no real secret at stake.
  if (!sandbox && typeof config.CALLBACK_PUBLIC_URL === 'string') {
    const url = new URL(config.CALLBACK_PUBLIC_URL);
    if (url.protocol !== 'https:' && !isLoopbackUrl(url)) {
      problems.push(`CALLBACK_PUBLIC_URL: must be https:// unless its host is loopback, ${outside}`);
    }
  }
  return problems;
}

/**
 * Parses `env` with `schema`, then checks `sandboxProblems`; throws one ConfigError naming every bad
 * variable (never its value).
 */
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
  const refused = isRecord(result.data)
    ? [...sandboxProblems(result.data), ...temporalConnectionProblems(result.data)]
    : [];
  if (refused.length > 0) throw new ConfigError(`Invalid configuration: ${refused.join('; ')}`);
  return result.data;
}

/** The SQLite inbox file in DATA_DIR. */
export function sqliteFile(config: { DATA_DIR: string }): string {
  return resolve(config.DATA_DIR, 'inbox.db');
}

/** The SQLite file of bulk operations' devices in DATA_DIR, apart from the inbox (store/operations.ts). */
export function operationsFile(config: { DATA_DIR: string }): string {
  return resolve(config.DATA_DIR, 'operations.db');
}
