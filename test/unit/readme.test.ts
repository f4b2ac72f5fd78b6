import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../scripts/lib/config-docs.js';
import { commandNames } from '../../client/cli.js';

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const scripts = Object.keys(
  (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts,
);

describe('the README as a front page', () => {
  it('names every npm script on a line of its own list', () => {
    const named = (script: string) =>
      script === 'start' || script === 'test'
        ? readme.includes(`\`npm ${script}\``)
        : readme.includes(`npm run ${script}`);
    expect(scripts.filter((script) => !named(script))).toEqual([]);
  });

  it('names every command of the euicc CLI', () => {
    const commands = commandNames();
    expect(commands).toEqual([
      'start',
      'status',
      'results',
      'decide',
      'doctor',
      'callbacks',
      'callback',
      'replay',
      'counts',
    ]);
    expect(commands.filter((command) => !readme.includes(`npx euicc ${command}`))).toEqual([]);
  });

  it('links only to documents that exist', () => {
    const links = [...readme.matchAll(/\]\(((?:docs|simulator)\/[^)#]*)/g)].map((m) => m[1] ?? '');
    const missing = links.filter((link) => {
      try {
        readFileSync(join(REPO_ROOT, link.endsWith('/') ? `${link}chaos.md` : link));
        return false;
      } catch {
        return true;
      }
    });
    expect(missing).toEqual([]);
  });

  it('stays a front page of at most 270 lines', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(270);
  });
});
