/**
 * `npm run docs:config`: writes docs/configuration.md and .env.example from the configuration schemas.
 * `npm run docs:config -- --check` writes nothing and exits 1 when either file is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, renderConfigurationDoc, renderEnvExample } from './lib/config-docs.js';

const files: [string, string][] = [
  ['docs/configuration.md', await renderConfigurationDoc()],
  ['.env.example', renderEnvExample()],
];
const check = process.argv.includes('--check');
let stale = 0;
for (const [file, text] of files) {
  const path = join(REPO_ROOT, file);
  let current: string | undefined;
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === text) continue;
  if (check) {
    stale += 1;
    process.stderr.write(`${file} is out of date: run npm run docs:config\n`);
  } else {
    writeFileSync(path, text);
    process.stdout.write(`wrote ${file}\n`);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
