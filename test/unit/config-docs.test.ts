import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { cliSchema, gatewaySchema, startSchema, workerSchema } from '../../config/index.js';
import {
  OTHER_VARIABLES,
  REPO_ROOT,
  collectVariables,
  renderConfigurationDoc,
  renderEnvExample,
} from '../../scripts/lib/config-docs.js';

const read = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');

describe('configuration documents generated from the schemas', () => {
  it('docs/configuration.md is what the schemas render (run npm run docs:config after changing a variable)', async () => {
    expect(read('docs/configuration.md')).toBe(await renderConfigurationDoc());
  });

  it('.env.example is what the schemas render (run npm run docs:config after changing a variable)', () => {
    expect(read('.env.example')).toBe(renderEnvExample());
  });

  it('every variable of the schemas in config/ carries a description', () => {
    const undescribed = Object.entries({ workerSchema, gatewaySchema, startSchema, cliSchema }).flatMap(
      ([schemaName, schema]) =>
        Object.entries(schema.shape as Record<string, z.ZodTypeAny>)
          .filter(([, field]) => !field.description)
          .map(([name]) => `${schemaName}.${name}`),
    );
    expect(undescribed).toEqual([]);
  });

  it('every variable docker compose passes on is documented', () => {
    const documented = new Set([...collectVariables().map((v) => v.name), ...OTHER_VARIABLES.map((v) => v.name)]);
    const composed = [...read('docker-compose.yml').matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1] ?? '');
    expect([...new Set(composed)].filter((name) => !documented.has(name))).toEqual([]);
  });
});
