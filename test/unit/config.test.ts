import { resolve } from 'node:path';
import {
  ConfigError,
  DEFAULT_CALLBACK_PASSWORD,
  gatewaySchema,
  isLoopback,
  parseConfig,
  sqliteFile,
  startSchema,
  thingspaceClientSettings,
  workerSchema,
} from '../../config/index.js';

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
  CALLBACK_PASSWORD: 'change-me-callback-secret',
  LOG_LEVEL: 'info',
  GATEWAY_PORT: 3000,
  GATEWAY_HOST: '127.0.0.1',
  CALLBACK_MAX_BODY: '1mb',
  DISPATCH_INTERVAL_MS: 250,
  GATEWAY_METRICS: true,
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
      CALLBACK_PASSWORD: 'a-long-callback-secret',
      CALLBACK_PASSWORD_PREVIOUS: 'the-old-callback-secret',
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
      CALLBACK_PASSWORD: 'a-long-callback-secret',
      CALLBACK_PASSWORD_PREVIOUS: 'the-old-callback-secret',
      LOG_LEVEL: 'warn',
      GATEWAY_PORT: 9001,
      GATEWAY_HOST: '0.0.0.0',
      CALLBACK_MAX_BODY: '256kb',
      DISPATCH_INTERVAL_MS: 100,
      GATEWAY_METRICS: false,
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
        'Invalid configuration: CALLBACK_PASSWORD: String must contain at least 8 character(s); ' +
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
      message: 'Invalid configuration: CALLBACK_PASSWORD: String must contain at least 8 character(s)',
    });
    expect(long).toEqual({
      name: 'ConfigError',
      message: 'Invalid configuration: CALLBACK_PASSWORD: String must contain at most 40 character(s)',
    });
    expect(`${short.message}${long.message}`).not.toContain('Zq9');
  });

  it('a three-character callback password is named without its value', () => {
    const { message } = failure(() => parseConfig(gatewaySchema, { CALLBACK_PASSWORD: 'Zq9' }));
    expect(message).toBe('Invalid configuration: CALLBACK_PASSWORD: String must contain at least 8 character(s)');
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

  it('the previous callback password, kept while ThingSpace still sends it, follows the same 8-40 rule', () => {
    const tooShort = failure(() => parseConfig(gatewaySchema, { CALLBACK_PASSWORD_PREVIOUS: 'Zq9-old' }));
    const tooLong = failure(() => parseConfig(gatewaySchema, { CALLBACK_PASSWORD_PREVIOUS: `Zq9-${'o'.repeat(40)}` }));
    expect([tooShort, tooLong]).toEqual([
      {
        name: 'ConfigError',
        message: 'Invalid configuration: CALLBACK_PASSWORD_PREVIOUS: String must contain at least 8 character(s)',
      },
      {
        name: 'ConfigError',
        message: 'Invalid configuration: CALLBACK_PASSWORD_PREVIOUS: String must contain at most 40 character(s)',
      },
    ]);
    expect(`${tooShort.message}${tooLong.message}`).not.toContain('Zq9');
    expect(parseConfig(gatewaySchema, { CALLBACK_PASSWORD_PREVIOUS: 'the-old-callback-secret' })).toEqual({
      ...GATEWAY_DEFAULTS,
      CALLBACK_PASSWORD_PREVIOUS: 'the-old-callback-secret',
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
    });
  });

  it('WORKER_METRICS_PORT=0 turns the worker metrics off; OTEL_EXPORTER_OTLP_ENDPOINT must be a URL', () => {
    expect(parseConfig(workerSchema, { WORKER_METRICS_PORT: '0' }).WORKER_METRICS_PORT).toBe(0);
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
      LOG_LEVEL: 'info',
      WORKER_METRICS_PORT: 9464,
      WORKER_METRICS_HOST: '127.0.0.1',
      TEMPORAL_METRICS_PORT: 9465,
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
