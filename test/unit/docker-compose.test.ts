import { existsSync, readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { gatewaySchema, parseConfig, startSchema, workerSchema } from '../../config/index.js';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../../contracts/names.js';
import { simulatorConfigSchema } from '../../simulator/config.js';

interface Service {
  build?: string;
  image?: string;
  command?: string[] | string;
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string }> | string[];
  ports?: string[];
}

const compose = load(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as {
  services: Record<string, Service>;
};
const services = compose.services;

/** The environment as compose would pass it: `${X:-default}` → default, required ones set by the operator. */
function environmentOf(name: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(services[name]?.environment ?? {}).map(([k, v]) => [
      k,
      String(v)
        .replace(/\$\{\w+:-([^}]*)\}/g, '$1')
        // A required variable (`${X:?message}`): the operator sets it; use a plausible value.
        .replace(/\$\{\w+:\?[^}]*\}/g, 'operator-chosen-secret'),
    ]),
  );
}
const APP_SCHEMAS = {
  simulator: simulatorConfigSchema,
  gateway: gatewaySchema,
  worker: workerSchema,
  'register-callbacks': startSchema,
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

  it.each(Object.keys(APP_SCHEMAS))('starts %s from an entry file that exists', (name) => {
    const command = services[name]?.command;
    expect(Array.isArray(command)).toBe(true);
    const entry = (command as string[]).find((part) => part.endsWith('.ts'));
    expect(entry && existsSync(new URL(`../../${entry}`, import.meta.url))).toBe(true);
  });

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
