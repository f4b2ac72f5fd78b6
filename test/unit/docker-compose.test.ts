import { existsSync, readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { gatewaySchema, parseConfig, registerCallbacksSchema, workerSchema } from '../../config/index.js';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../../contracts/names.js';
import { simulatorConfigSchema } from '../../simulator/config.js';

interface Service {
  build?: string;
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string; required?: boolean }> | string[];
  ports?: string[];
  profiles?: string[];
}

const compose = load(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as {
  services: Record<string, Service>;
};
const services = compose.services;

/** Compose's interpolation: `${X}`, `${X:-default}`, and `${X:?message}`, which stops compose when X is unset. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_match, name: string, op?: string, arg?: string) => {
    const set = vars[name];
    if (set !== undefined && set !== '') return set;
    if (op === '?') throw new Error(`compose refuses to start: ${name}: ${arg}`);
    return op === '-' ? (arg ?? '') : '';
  });
}

/** The environment compose would pass to a service, given the operator's .env. */
function environmentOf(name: string, vars: Record<string, string> = SANDBOX): Record<string, string> {
  return Object.fromEntries(
    Object.entries(services[name]?.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), vars)]),
  );
}

const KEY = Buffer.alloc(32, 9).toString('base64');
const SECRETS = {
  CALLBACK_PASSWORD: 'an-operator-chosen-callback-secret',
  CALLBACK_PATH_TOKEN: 'an-operator-chosen-path-token-0123456789',
};
/** The documented sandbox: the sim profile, the simulator's URL and NODE_ENV=development. */
const SANDBOX = {
  ...SECRETS,
  COMPOSE_PROFILES: 'sim',
  THINGSPACE_BASE_URL: 'http://simulator:3100/api',
  NODE_ENV: 'development',
};
/** Real ThingSpace: its credentials, a payload key and an HTTPS callback URL. */
const PRODUCTION = {
  ...SECRETS,
  THINGSPACE_BASE_URL: 'https://thingspace.verizon.com/api',
  THINGSPACE_CLIENT_ID: 'client-id-from-thingspace',
  THINGSPACE_CLIENT_SECRET: 'client-secret-from-thingspace',
  THINGSPACE_USERNAME: 'api-user',
  THINGSPACE_PASSWORD: 'api-password-from-thingspace',
  PAYLOAD_ENCRYPTION_KEY: KEY,
  CALLBACK_PUBLIC_URL: 'https://callbacks.example.com/callbacks',
};
const without = (vars: Record<string, string>, ...names: string[]) =>
  Object.fromEntries(Object.entries(vars).filter(([k]) => !names.includes(k)));

/** The services `docker compose --profile …` runs: those without a profile, and those of an active one. */
function activeServices(profiles: string[]): string[] {
  return Object.entries(services)
    .filter(([, service]) => !service.profiles || service.profiles.some((p) => profiles.includes(p)))
    .map(([name]) => name);
}

/** Every published port as `service host:port`, host `0.0.0.0` when compose binds every interface. */
function published(profiles: string[]): string[] {
  return activeServices(profiles).flatMap((name) =>
    (services[name]?.ports ?? []).map((spec) => {
      const parts = String(spec).split(':');
      const host = parts.length === 3 ? parts[0] : '0.0.0.0';
      return `${name} ${host}:${parts.length === 3 ? parts[1] : parts[0]}`;
    }),
  );
}

const APP_SCHEMAS = {
  simulator: simulatorConfigSchema,
  gateway: gatewaySchema,
  worker: workerSchema,
  'register-callbacks': registerCallbacksSchema,
};

describe('docker-compose.yml', () => {
  it('runs every part of the system and Temporal on PostgreSQL with its UI', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'gateway',
        'postgresql',
        'register-callbacks',
        'simulator',
        'temporal',
        'temporal-setup',
        'temporal-ui',
        'worker',
      ].sort(),
    );
    expect(services.temporal?.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql' });
  });

  it.each(Object.entries(APP_SCHEMAS))('gives %s only variables its configuration knows', (name, schema) => {
    const known = Object.keys(schema.shape);
    const environment = environmentOf(name);
    expect(Object.keys(environment).filter((variable) => !known.includes(variable))).toEqual([]);
    expect(() => parseConfig(schema, environment)).not.toThrow();
  });

  describe('safe by default', () => {
    const PARTS = { gateway: gatewaySchema, worker: workerSchema, 'register-callbacks': registerCallbacksSchema };
    const refusal = (name: keyof typeof PARTS, vars: Record<string, string>): string => {
      try {
        parseConfig(PARTS[name], environmentOf(name, vars));
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    };

    it('publishes nothing but the gateway public port on every interface; the UI and internal port on loopback', () => {
      expect(published([])).toEqual(['temporal-ui 127.0.0.1:8080', 'gateway 0.0.0.0:3000', 'gateway 127.0.0.1:3001']);
      expect(environmentOf('gateway')).toMatchObject({ GATEWAY_PORT: '3000', OPERATOR_PORT: '3001' });
      expect(services.temporal?.ports).toBeUndefined();
    });

    it('runs the simulator only under the sim profile, published on loopback', () => {
      expect(activeServices([])).not.toContain('simulator');
      expect(services.simulator?.profiles).toEqual(['sim']);
      expect(published(['sim'])).toEqual([
        'temporal-ui 127.0.0.1:8080',
        'simulator 127.0.0.1:3100',
        'gateway 0.0.0.0:3000',
        'gateway 127.0.0.1:3001',
      ]);
      // Without the profile, register-callbacks must not pull the simulator in.
      const dependsOn = services['register-callbacks']?.depends_on as Record<string, { required?: boolean }>;
      expect(dependsOn.simulator?.required).toBe(false);
      for (const [name, service] of Object.entries(services)) {
        if (name === 'register-callbacks') continue;
        const deps = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
        expect(deps).not.toContain('simulator');
      }
    });

    it.each(['CALLBACK_PASSWORD', 'CALLBACK_PATH_TOKEN', 'THINGSPACE_BASE_URL'])(
      'refuses to start without %s',
      (variable) => {
        expect(() => environmentOf('gateway', without(PRODUCTION, variable))).toThrow(
          new RegExp(`compose refuses to start: ${variable}: set ${variable}`),
        );
      },
    );

    it.each(Object.keys(PARTS) as (keyof typeof PARTS)[])(
      'starts %s against real ThingSpace when all is set',
      (name) => {
        expect(refusal(name, PRODUCTION)).toBe('accepted');
      },
    );

    it.each(['gateway', 'worker'] as const)(
      '%s refuses to start without PAYLOAD_ENCRYPTION_KEY when the simulator is not in use',
      (name) => {
        expect(refusal(name, without(PRODUCTION, 'PAYLOAD_ENCRYPTION_KEY'))).toMatch(
          /PAYLOAD_ENCRYPTION_KEY: required when THINGSPACE_BASE_URL is not the simulator/,
        );
        expect(refusal(name, without(SANDBOX, 'PAYLOAD_ENCRYPTION_KEY'))).toBe('accepted');
      },
    );

    it.each(['worker', 'register-callbacks'] as const)(
      "%s refuses the simulator's ThingSpace credentials against real ThingSpace",
      (name) => {
        const message = refusal(name, without(PRODUCTION, 'THINGSPACE_CLIENT_SECRET', 'THINGSPACE_PASSWORD'));
        expect(message).toMatch(/THINGSPACE_CLIENT_SECRET: the simulator's value is refused/);
        expect(message).toMatch(/THINGSPACE_PASSWORD: the simulator's value is refused/);
      },
    );

    it.each(Object.keys(PARTS) as (keyof typeof PARTS)[])(
      '%s refuses the simulator under the image default NODE_ENV=production',
      (name) => {
        expect(refusal(name, without(SANDBOX, 'NODE_ENV'))).toMatch(
          /THINGSPACE_BASE_URL: the simulator's URL is refused when NODE_ENV=production/,
        );
      },
    );

    it('register-callbacks refuses the default plain-HTTP callback URL unless it calls the simulator', () => {
      expect(refusal('register-callbacks', without(PRODUCTION, 'CALLBACK_PUBLIC_URL'))).toMatch(
        /CALLBACK_PUBLIC_URL: must be https:\/\//,
      );
      expect(refusal('register-callbacks', SANDBOX)).toBe('accepted');
    });
  });

  it.each(Object.keys(APP_SCHEMAS))(
    'starts %s with node from the compiled entry of a source file that exists',
    (name) => {
      const command = services[name]?.command;
      expect(Array.isArray(command)).toBe(true);
      expect((command as string[])[0]).toBe('node');
      const entry = (command as string[]).find((part) => part.startsWith('dist/') && part.endsWith('.js'));
      const source = entry?.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      expect(source && existsSync(new URL(`../../${source}`, import.meta.url))).toBe(true);
      // The production build compiles it (tsconfig.build.json).
      const build = JSON.parse(readFileSync(new URL('../../tsconfig.build.json', import.meta.url), 'utf8')) as {
        include: string[];
      };
      expect(build.include.some((root) => source === root || source?.startsWith(`${root}/`))).toBe(true);
    },
  );

  it('depends only on services it defines', () => {
    for (const service of Object.values(services)) {
      const deps = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
      for (const dep of deps) expect(Object.keys(services)).toContain(dep);
    }
  });

  it('registers exactly the search attributes the sagas use', () => {
    const command = String((services['temporal-setup']?.command as string[])[0]);
    const created = [...command.matchAll(/--name (\w+) --type (\w+)/g)].map(([, name, type]) => [name, type]);
    expect(Object.fromEntries(created)).toEqual(SEARCH_ATTRIBUTE_DEFINITIONS);
  });
});
