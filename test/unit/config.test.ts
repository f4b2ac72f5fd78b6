import { resolve } from 'node:path';
import {
  ConfigError,
  DEFAULT_CALLBACK_PASSWORD,
  gatewaySchema,
  isLoopback,
  isSimulatorUrl,
  parseConfig,
  registerCallbacksSchema,
  sqliteFile,
  startSchema,
  thingspaceClientSettings,
  workerSchema,
} from '../../config/index.js';

/** A well-formed payload key (32 bytes, base64), required outside a sandbox. */
const KEY = Buffer.alloc(32, 7).toString('base64');

/** What parseConfig threw, as a plain object so that the whole of it can be compared. */
function failure(run: () => unknown): { name: string; message: string } {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return { name: (err as Error).name, message: (err as Error).message };
  }
  throw new Error('parseConfig accepted the environment');
}

const GATEWAY_DEFAULTS = {
  TEMPORAL_ADDRESS: '127.0.0.1:7233',
  TEMPORAL_NAMESPACE: 'default',
  DATA_DIR: '.data',
  CALLBACK_USERNAME: 'euicc-callbacks',
  THINGSPACE_BASE_URL: 'http://127.0.0.1:3100/api',
  CALLBACK_PASSWORD: 'change-me-callback-secret',
  CALLBACK_PATH_TOKEN: 'sandbox-callback-path-token-not-secret',
  LOG_LEVEL: 'info',
  GATEWAY_PORT: 3000,
  GATEWAY_HOST: '127.0.0.1',
  OPERATOR_PORT: 3001,
  OPERATOR_HOST: '127.0.0.1',
  METRICS_MAX_AGE_MS: 5_000,
  CALLBACK_MAX_BODY: '64kb',
  CALLBACK_LEGACY_PATHS: false,
  GATEWAY_TRUST_PROXY: false,
  CALLBACK_RATE_LIMIT: 60_000,
  DISPATCH_INTERVAL_MS: 250,
  DISPATCH_MAX_ATTEMPTS: 10,
  SIGNAL_MAX_BYTES: 262_144,
  GATEWAY_METRICS: true,
  INBOX_COMMIT_WINDOW_MS: 2,
  INBOX_COMMIT_MAX_CALLBACKS: 256,
  PARK_TTL_MS: 86_400_000,
  PARK_SWEEP_INTERVAL_MS: 60_000,
};

describe('parseConfig with the gateway schema', () => {
  it('an empty environment gives the defaults that serve npm start on one machine', () => {
    expect(parseConfig(gatewaySchema, {})).toEqual(GATEWAY_DEFAULTS);
  });

  it('empty strings count as unset, so a blank line in .env falls back to the default', () => {
    expect(
      parseConfig(gatewaySchema, { GATEWAY_PORT: '', CALLBACK_PASSWORD: '', CALLBACK_PASSWORD_PREVIOUS: '' }),
    ).toEqual(GATEWAY_DEFAULTS);
  });

  it('reads the variables it knows, coerces numbers, and ignores the rest of process.env', () => {
    const env = {
      PATH: '/usr/bin',
      HOME: '/root',
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_NAMESPACE: 'euicc-prod',
      DATA_DIR: '/var/lib/euicc',
      CALLBACK_USERNAME: 'ts-callbacks',
      CALLBACK_PASSWORD: 'a-long-enough-callback-secret',
      CALLBACK_PASSWORD_PREVIOUS: 'the-old-long-callback-secret',
      CALLBACK_PATH_TOKEN: 'a-path-token-of-thirty-two-chars-x',
      LOG_LEVEL: 'warn',
      GATEWAY_PORT: '9001',
      GATEWAY_HOST: '0.0.0.0',
      CALLBACK_MAX_BODY: '256kb',
      DISPATCH_INTERVAL_MS: '100',
      GATEWAY_METRICS: 'false',
    };
    expect(parseConfig(gatewaySchema, env)).toEqual({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_NAMESPACE: 'euicc-prod',
      DATA_DIR: '/var/lib/euicc',
      CALLBACK_USERNAME: 'ts-callbacks',
      CALLBACK_PASSWORD: 'a-long-enough-callback-secret',
      CALLBACK_PASSWORD_PREVIOUS: 'the-old-long-callback-secret',
      CALLBACK_PATH_TOKEN: 'a-path-token-of-thirty-two-chars-x',
      THINGSPACE_BASE_URL: 'http://127.0.0.1:3100/api',
      LOG_LEVEL: 'warn',
      GATEWAY_PORT: 9001,
      GATEWAY_HOST: '0.0.0.0',
      OPERATOR_PORT: 3001,
      OPERATOR_HOST: '127.0.0.1',
      METRICS_MAX_AGE_MS: 5_000,
      CALLBACK_MAX_BODY: '256kb',
      CALLBACK_LEGACY_PATHS: false,
      GATEWAY_TRUST_PROXY: false,
      CALLBACK_RATE_LIMIT: 60_000,
      DISPATCH_INTERVAL_MS: 100,
      DISPATCH_MAX_ATTEMPTS: 10,
      SIGNAL_MAX_BYTES: 262_144,
      GATEWAY_METRICS: false,
      INBOX_COMMIT_WINDOW_MS: 2,
      INBOX_COMMIT_MAX_CALLBACKS: 256,
      PARK_TTL_MS: 86_400_000,
      PARK_SWEEP_INTERVAL_MS: 60_000,
    });
  });

  it.each([
    ['false', false],
    ['0', false],
    ['no', false],
    ['true', true],
    ['1', true],
    ['yes', true],
  ])("the boolean GATEWAY_METRICS=%p is read as %p, never as JavaScript's Boolean('false')", (value, expected) => {
    expect(parseConfig(gatewaySchema, { GATEWAY_METRICS: value }).GATEWAY_METRICS).toBe(expected);
  });

  it.each(['False', 'off', 'maybe'])('a boolean it cannot read (%p) stops the start naming the variable', (value) => {
    expect(failure(() => parseConfig(gatewaySchema, { GATEWAY_METRICS: value })).message).toMatch(
      /^Invalid configuration: GATEWAY_METRICS: /,
    );
  });

  it('a port that is not a number stops the start with an error naming GATEWAY_PORT', () => {
    expect(failure(() => parseConfig(gatewaySchema, { GATEWAY_PORT: 'http' }))).toEqual({
      name: 'ConfigError',
      message: 'Invalid configuration: GATEWAY_PORT: Expected number, received nan',
    });
  });

  it.each([
    ['70000', 'Number must be less than or equal to 65535'],
    ['-1', 'Number must be greater than or equal to 0'],
    ['80.5', 'Expected integer, received float'],
  ])('a port of %p is out of range: %s', (port, reason) => {
    expect(failure(() => parseConfig(gatewaySchema, { GATEWAY_PORT: port }))).toEqual({
      name: 'ConfigError',
      message: `Invalid configuration: GATEWAY_PORT: ${reason}`,
    });
  });

  it('every bad variable is named in one error, so an operator fixes them all at once', () => {
    expect(
      failure(() =>
        parseConfig(gatewaySchema, { CALLBACK_PASSWORD: 'abc', GATEWAY_PORT: '99999', DISPATCH_INTERVAL_MS: '0' }),
      ),
    ).toEqual({
      name: 'ConfigError',
      message:
        'Invalid configuration: CALLBACK_PASSWORD: String must contain at least 24 character(s); ' +
        'GATEWAY_PORT: Number must be less than or equal to 65535; DISPATCH_INTERVAL_MS: Number must be greater than 0',
    });
  });

  it('a callback password that breaks a rule is named, and its value never appears in the error', () => {
    const tooShort = 'Zq9-xY';
    const tooLong = `Zq9-secret-${'k'.repeat(40)}`;
    const short = failure(() => parseConfig(gatewaySchema, { CALLBACK_PASSWORD: tooShort }));
    const long = failure(() => parseConfig(gatewaySchema, { CALLBACK_PASSWORD: tooLong }));
    expect(short).toEqual({
      name: 'ConfigError',
      message: 'Invalid configuration: CALLBACK_PASSWORD: String must contain at least 24 character(s)',
    });
    expect(long).toEqual({
      name: 'ConfigError',
      message: 'Invalid configuration: CALLBACK_PASSWORD: String must contain at most 40 character(s)',
    });
    expect(`${short.message}${long.message}`).not.toContain('Zq9');
  });

  it('a three-character callback password is named without its value', () => {
    const { message } = failure(() => parseConfig(gatewaySchema, { CALLBACK_PASSWORD: 'Zq9' }));
    expect(message).toBe('Invalid configuration: CALLBACK_PASSWORD: String must contain at least 24 character(s)');
    expect(message).not.toContain('Zq9');
  });

  it('a PostgreSQL DATABASE_URL selects the PostgreSQL inbox', () => {
    const url = 'postgres://inbox:hunter2@db.internal:5432/inbox';
    expect(parseConfig(gatewaySchema, { DATABASE_URL: url })).toEqual({ ...GATEWAY_DEFAULTS, DATABASE_URL: url });
  });

  it('a DATABASE_URL that is not PostgreSQL is refused without repeating it', () => {
    const { message } = failure(() => parseConfig(gatewaySchema, { DATABASE_URL: 'mysql://inbox:hunter2@db/inbox' }));
    expect(message).toMatch(/^Invalid configuration: DATABASE_URL: /);
    expect(message).not.toContain('hunter2');
  });

  it('the previous callback password, kept while ThingSpace still sends it, follows the same 24-40 rule', () => {
    const tooShort = failure(() => parseConfig(gatewaySchema, { CALLBACK_PASSWORD_PREVIOUS: 'Zq9-old' }));
    const tooLong = failure(() => parseConfig(gatewaySchema, { CALLBACK_PASSWORD_PREVIOUS: `Zq9-${'o'.repeat(40)}` }));
    expect([tooShort, tooLong]).toEqual([
      {
        name: 'ConfigError',
        message: 'Invalid configuration: CALLBACK_PASSWORD_PREVIOUS: String must contain at least 24 character(s)',
      },
      {
        name: 'ConfigError',
        message: 'Invalid configuration: CALLBACK_PASSWORD_PREVIOUS: String must contain at most 40 character(s)',
      },
    ]);
    expect(`${tooShort.message}${tooLong.message}`).not.toContain('Zq9');
    expect(parseConfig(gatewaySchema, { CALLBACK_PASSWORD_PREVIOUS: 'the-old-long-callback-secret' })).toEqual({
      ...GATEWAY_DEFAULTS,
      CALLBACK_PASSWORD_PREVIOUS: 'the-old-long-callback-secret',
    });
  });

  it('the default callback password is the exported DEFAULT_CALLBACK_PASSWORD, so the gateway can refuse it off loopback', () => {
    expect(parseConfig(gatewaySchema, {}).CALLBACK_PASSWORD).toBe(DEFAULT_CALLBACK_PASSWORD);
    expect(DEFAULT_CALLBACK_PASSWORD).toBe('change-me-callback-secret');
  });

  it('a callback username over the 40 characters ThingSpace allows is refused', () => {
    expect(failure(() => parseConfig(gatewaySchema, { CALLBACK_USERNAME: 'u'.repeat(41) })).message).toBe(
      'Invalid configuration: CALLBACK_USERNAME: String must contain at most 40 character(s)',
    );
  });

  it('names a bad variable without repeating its value, as parseConfig promises', () => {
    const { message } = failure(() => parseConfig(gatewaySchema, { LOG_LEVEL: 'Zq9-loud', GATEWAY_METRICS: 'Zq9-on' }));
    expect(message).toMatch(/^Invalid configuration: LOG_LEVEL: .*; GATEWAY_METRICS: /);
    expect(message).not.toContain('Zq9');
  });
});

describe('parseConfig with the worker schema', () => {
  it('an empty environment gives the simulator defaults', () => {
    expect(parseConfig(workerSchema, {})).toEqual({
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      TEMPORAL_NAMESPACE: 'default',
      DATA_DIR: '.data',
      THINGSPACE_BASE_URL: 'http://127.0.0.1:3100/api',
      THINGSPACE_CLIENT_ID: 'sim-client-id',
      THINGSPACE_CLIENT_SECRET: 'sim-client-secret',
      THINGSPACE_USERNAME: 'sim-user',
      THINGSPACE_PASSWORD: 'sim-password',
      THINGSPACE_ACCOUNT_NAME: '0000123456-00001',
      THINGSPACE_TIMEOUT_MS: 30_000,
      LOG_LEVEL: 'info',
      WORKER_METRICS_PORT: 9464,
      WORKER_METRICS_HOST: '127.0.0.1',
      TEMPORAL_METRICS_PORT: 9465,
      RETENTION_DAYS: 30,
      WORKFLOW_SEMI_SPACE_MB: 4,
    });
  });

  it('WORKER_METRICS_PORT=0 turns the worker metrics off; OTEL_EXPORTER_OTLP_ENDPOINT must be a URL', () => {
    expect(parseConfig(workerSchema, { WORKER_METRICS_PORT: '0' }).WORKER_METRICS_PORT).toBe(0);
    expect(parseConfig(workerSchema, { WORKFLOW_SEMI_SPACE_MB: '0' }).WORKFLOW_SEMI_SPACE_MB).toBe(0);
    expect(() => parseConfig(workerSchema, { WORKFLOW_SEMI_SPACE_MB: '-1' })).toThrow(/WORKFLOW_SEMI_SPACE_MB/);
    expect(
      parseConfig(workerSchema, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).OTEL_EXPORTER_OTLP_ENDPOINT,
    ).toBe('http://collector:4318');
    expect(() => parseConfig(workerSchema, { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
  });

  it('real ThingSpace settings replace the simulator defaults', () => {
    const config = parseConfig(workerSchema, {
      THINGSPACE_BASE_URL: 'https://thingspace.verizon.com/api',
      THINGSPACE_CLIENT_ID: 'client-id',
      THINGSPACE_CLIENT_SECRET: 'client-secret',
      THINGSPACE_USERNAME: 'api-user',
      THINGSPACE_PASSWORD: 'api-password',
      THINGSPACE_ACCOUNT_NAME: '1223334444-01234',
      THINGSPACE_TIMEOUT_MS: '20000',
      PAYLOAD_ENCRYPTION_KEY: KEY,
    });
    expect(config).toEqual({
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      TEMPORAL_NAMESPACE: 'default',
      DATA_DIR: '.data',
      THINGSPACE_BASE_URL: 'https://thingspace.verizon.com/api',
      THINGSPACE_CLIENT_ID: 'client-id',
      THINGSPACE_CLIENT_SECRET: 'client-secret',
      THINGSPACE_USERNAME: 'api-user',
      THINGSPACE_PASSWORD: 'api-password',
      THINGSPACE_ACCOUNT_NAME: '1223334444-01234',
      THINGSPACE_TIMEOUT_MS: 20_000,
      PAYLOAD_ENCRYPTION_KEY: KEY,
      LOG_LEVEL: 'info',
      WORKER_METRICS_PORT: 9464,
      WORKER_METRICS_HOST: '127.0.0.1',
      TEMPORAL_METRICS_PORT: 9465,
      RETENTION_DAYS: 30,
      WORKFLOW_SEMI_SPACE_MB: 4,
    });
  });

  it('a bad base URL and timeout are named; the ThingSpace password given alongside is not repeated', () => {
    const { message } = failure(() =>
      parseConfig(workerSchema, {
        THINGSPACE_BASE_URL: 'thingspace.verizon.com/api',
        THINGSPACE_TIMEOUT_MS: 'soon',
        THINGSPACE_PASSWORD: 'Zq9-api-password',
        THINGSPACE_CLIENT_SECRET: 'Zq9-client-secret',
      }),
    );
    expect(message).toBe(
      'Invalid configuration: THINGSPACE_BASE_URL: Invalid url; THINGSPACE_TIMEOUT_MS: Expected number, received nan',
    );
  });
});

describe('isLoopback', () => {
  it.each(['127.0.0.1', '127.0.1.1', 'localhost', '::1'])('%p is reachable only from this machine', (host) => {
    expect(isLoopback(host)).toBe(true);
  });

  it.each(['0.0.0.0', '::', '192.168.1.20', '10.0.0.5', 'gateway.example.com', ''])(
    '%p may be reachable from other machines',
    (host) => {
      expect(isLoopback(host)).toBe(false);
    },
  );
});

describe('sqliteFile', () => {
  it('puts the inbox in DATA_DIR, resolved to an absolute path', () => {
    expect(sqliteFile({ DATA_DIR: '/var/lib/euicc' })).toBe('/var/lib/euicc/inbox.db');
    expect(sqliteFile({ DATA_DIR: '.data' })).toBe(resolve('.data', 'inbox.db'));
  });
});

describe('thingspaceClientSettings', () => {
  const env = {
    THINGSPACE_BASE_URL: 'https://thingspace.verizon.com/api',
    THINGSPACE_CLIENT_ID: 'id',
    THINGSPACE_CLIENT_SECRET: 'secret',
    THINGSPACE_USERNAME: 'user',
    THINGSPACE_PASSWORD: 'pass',
    THINGSPACE_TIMEOUT_MS: '12000',
    PAYLOAD_ENCRYPTION_KEY: KEY,
    CALLBACK_PASSWORD: 'a-long-enough-callback-secret',
    CALLBACK_PATH_TOKEN: 'a-path-token-of-thirty-two-chars-x',
  };

  it('gives the worker, npm start and register-callbacks the same client settings, timeout included', () => {
    const expected = {
      baseUrl: 'https://thingspace.verizon.com/api',
      clientId: 'id',
      clientSecret: 'secret',
      username: 'user',
      password: 'pass',
      timeoutMs: 12000,
    };
    expect(thingspaceClientSettings(parseConfig(workerSchema, env))).toEqual(expected);
    expect(thingspaceClientSettings(parseConfig(startSchema, env))).toEqual(expected);
    expect(thingspaceClientSettings(parseConfig(startSchema, env), 'http://127.0.0.1:3100/api')).toEqual({
      ...expected,
      baseUrl: 'http://127.0.0.1:3100/api',
    });
  });
});

describe('no default secrets outside a sandbox', () => {
  const REAL = 'https://thingspace.verizon.com/api';
  const OWN = {
    THINGSPACE_CLIENT_ID: 'client-id',
    THINGSPACE_CLIENT_SECRET: 'client-secret',
    THINGSPACE_USERNAME: 'api-user',
    THINGSPACE_PASSWORD: 'api-password',
    CALLBACK_PASSWORD: 'a-long-enough-callback-secret',
    CALLBACK_PATH_TOKEN: 'a-path-token-of-thirty-two-chars-x',
    PAYLOAD_ENCRYPTION_KEY: KEY,
  };
  const message = (schema: Parameters<typeof parseConfig>[0], env: Record<string, string>) =>
    failure(() => parseConfig(schema, env)).message;

  it.each([
    'http://127.0.0.1:3100/api',
    'http://localhost:41234/api',
    'http://[::1]:3100/api/',
    'http://simulator:3100/api',
  ])('%p is the simulator: a sandbox', (url) => {
    expect(isSimulatorUrl(url)).toBe(true);
  });

  it.each([
    'https://thingspace.verizon.com/api',
    'https://127.0.0.1:3100/api',
    'http://10.0.0.5:3100/api',
    'http://127.0.0.1:3100/api/m2m',
    'not a url',
  ])('%p is not the simulator', (url) => {
    expect(isSimulatorUrl(url)).toBe(false);
  });

  it.each(['THINGSPACE_CLIENT_ID', 'THINGSPACE_CLIENT_SECRET', 'THINGSPACE_USERNAME', 'THINGSPACE_PASSWORD'])(
    "the simulator's %s is refused when THINGSPACE_BASE_URL is real ThingSpace",
    (variable) => {
      const env: Record<string, string> = { ...OWN, THINGSPACE_BASE_URL: REAL };
      delete env[variable];
      for (const schema of [workerSchema, startSchema, registerCallbacksSchema]) {
        expect(message(schema, { ...env, CALLBACK_PUBLIC_URL: 'https://callbacks.example.com/callbacks' })).toBe(
          `Invalid configuration: ${variable}: the simulator's value is refused when THINGSPACE_BASE_URL is not the simulator; set your own`,
        );
      }
    },
  );

  it.each([
    ['CALLBACK_PASSWORD', 'CALLBACK_PASSWORD: the default is refused when THINGSPACE_BASE_URL is not the simulator'],
    [
      'CALLBACK_PATH_TOKEN',
      'CALLBACK_PATH_TOKEN: the default is refused when THINGSPACE_BASE_URL is not the simulator (openssl rand -hex 24)',
    ],
  ])('the default %s is refused by the gateway and npm start outside a sandbox', (variable, problem) => {
    const env: Record<string, string> = { ...OWN, THINGSPACE_BASE_URL: REAL };
    delete env[variable];
    expect(message(gatewaySchema, env)).toBe(`Invalid configuration: ${problem}`);
    expect(message(startSchema, env)).toBe(`Invalid configuration: ${problem}`);
  });

  it('the default callback password and path token are refused when the gateway listens beyond loopback', () => {
    expect(message(gatewaySchema, { GATEWAY_HOST: '0.0.0.0' })).toBe(
      'Invalid configuration: ' +
        'CALLBACK_PASSWORD: the default is refused when the gateway listens beyond loopback (GATEWAY_HOST); ' +
        'CALLBACK_PATH_TOKEN: the default is refused when the gateway listens beyond loopback (GATEWAY_HOST) ' +
        '(openssl rand -hex 24)',
    );
    expect(message(gatewaySchema, { GATEWAY_HOST: '0.0.0.0', CALLBACK_PATH_TOKEN: OWN.CALLBACK_PATH_TOKEN })).toMatch(
      /^Invalid configuration: CALLBACK_PASSWORD: the default is refused/,
    );
  });

  it('the default password is refused as CALLBACK_PASSWORD_PREVIOUS too', () => {
    expect(
      message(gatewaySchema, {
        ...OWN,
        THINGSPACE_BASE_URL: REAL,
        CALLBACK_PASSWORD_PREVIOUS: DEFAULT_CALLBACK_PASSWORD,
      }),
    ).toMatch(/^Invalid configuration: CALLBACK_PASSWORD_PREVIOUS: the default is refused/);
  });

  it.each([workerSchema, gatewaySchema, startSchema])(
    'PAYLOAD_ENCRYPTION_KEY is required when the simulator is not in use',
    (schema) => {
      const env: Record<string, string> = { ...OWN, THINGSPACE_BASE_URL: REAL };
      delete env.PAYLOAD_ENCRYPTION_KEY;
      expect(message(schema, env)).toBe(
        'Invalid configuration: PAYLOAD_ENCRYPTION_KEY: required when THINGSPACE_BASE_URL is not the simulator ' +
          '(openssl rand -base64 32)',
      );
      expect(() => parseConfig(schema, {})).not.toThrow();
    },
  );

  it.each([workerSchema, gatewaySchema, startSchema, registerCallbacksSchema])(
    "NODE_ENV=production refuses the simulator's URL",
    (schema) => {
      expect(
        message(schema, { NODE_ENV: 'production', CALLBACK_PUBLIC_URL: 'http://127.0.0.1:3000/callbacks' }),
      ).toMatch(/^Invalid configuration: THINGSPACE_BASE_URL: the simulator's URL is refused when NODE_ENV=production/);
    },
  );

  it('a non-loopback CALLBACK_PUBLIC_URL must be https outside a sandbox', () => {
    const env = { ...OWN, THINGSPACE_BASE_URL: REAL };
    expect(message(startSchema, { ...env, CALLBACK_PUBLIC_URL: 'http://callbacks.example.com/callbacks' })).toBe(
      'Invalid configuration: CALLBACK_PUBLIC_URL: must be https:// unless its host is loopback, ' +
        'when THINGSPACE_BASE_URL is not the simulator',
    );
    for (const url of ['https://callbacks.example.com/callbacks', 'http://127.0.0.1:3000/callbacks']) {
      expect(() => parseConfig(startSchema, { ...env, CALLBACK_PUBLIC_URL: url })).not.toThrow();
    }
  });

  it('a callback password shorter than 24 characters is refused, the value never repeated', () => {
    expect(message(gatewaySchema, { CALLBACK_PASSWORD: 'Zq9-twenty-three-chars!' })).toBe(
      'Invalid configuration: CALLBACK_PASSWORD: String must contain at least 24 character(s)',
    );
  });

  it('npm start on the embedded defaults is a sandbox and starts', () => {
    expect(() => parseConfig(startSchema, {})).not.toThrow();
    expect(() => parseConfig(workerSchema, {})).not.toThrow();
    expect(() => parseConfig(gatewaySchema, {})).not.toThrow();
  });
});

describe('callback source settings', () => {
  it('reads CIDR allowlists and explicit trust proxy settings', () => {
    const config = parseConfig(gatewaySchema, {
      CALLBACK_ALLOWED_SOURCES: '10.0.0.0/8, 2001:db8::/32,192.0.2.7',
      GATEWAY_TRUST_PROXY: 'loopback,10.1.0.0/16',
      CALLBACK_RATE_LIMIT: '0',
    });
    expect(config.CALLBACK_ALLOWED_SOURCES).toEqual(['10.0.0.0/8', '2001:db8::/32', '192.0.2.7']);
    expect(config.GATEWAY_TRUST_PROXY).toBe('loopback,10.1.0.0/16');
    expect(config.CALLBACK_RATE_LIMIT).toBe(0);
    expect(parseConfig(gatewaySchema, { GATEWAY_TRUST_PROXY: '2' }).GATEWAY_TRUST_PROXY).toBe(2);
  });

  it.each(['10.0.0.0/33', 'ten.0.0.0/8', '10.0.0.0/8/1'])('refuses the allowlist entry %p, naming it', (entry) => {
    expect(failure(() => parseConfig(gatewaySchema, { CALLBACK_ALLOWED_SOURCES: entry })).message).toMatch(
      /^Invalid configuration: CALLBACK_ALLOWED_SOURCES: /,
    );
  });

  it('refuses GATEWAY_TRUST_PROXY=true: any sender could pick its own source address', () => {
    expect(failure(() => parseConfig(gatewaySchema, { GATEWAY_TRUST_PROXY: 'true' })).message).toMatch(
      /^Invalid configuration: GATEWAY_TRUST_PROXY: must be false, a number of proxy hops/,
    );
  });

  it('refuses a CALLBACK_MAX_BODY express cannot read', () => {
    expect(failure(() => parseConfig(gatewaySchema, { CALLBACK_MAX_BODY: 'lots' })).message).toBe(
      'Invalid configuration: CALLBACK_MAX_BODY: must be a size such as 64kb or 1mb',
    );
  });
});
