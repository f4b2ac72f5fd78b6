import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../scripts/lib/config-docs.js';

const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));
/** Instructions, continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));
const stages = instructions.reduce<string[][]>((all, line) => {
  if (/^FROM /i.test(line)) all.push([line]);
  else all.at(-1)?.push(line);
  return all;
}, []);
const runtime = stages.at(-1) ?? [];

describe('the production image', () => {
  it('is multi-stage: a build stage compiles with tsc, the final stage runs the compiled JavaScript', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0]?.some((line) => /^RUN npm run build:prod/.test(line))).toBe(true);
    const cmd = runtime.find((line) => line.startsWith('CMD '));
    expect(cmd).toBe('CMD ["node", "dist/workers/main.js"]');
    expect(runtime.join('\n')).not.toMatch(/tsx|npx|npm ci|npm install/);
  });

  it('holds production dependencies only, pruned in the build stage', () => {
    expect(stages[0]).toContain('RUN npm prune --omit=dev && npm cache clean --force');
    const copies = runtime.filter((line) => line.startsWith('COPY'));
    expect(copies.every((line) => line.includes('--from=build'))).toBe(true);
    expect(copies.map((line) => line.split(' ').slice(-1)[0])).toEqual(['./', './node_modules', './dist']);
  });

  it('runs as a non-root user', () => {
    const users = runtime.filter((line) => line.startsWith('USER '));
    expect(users.at(-1)).toBe('USER node');
    expect(runtime.indexOf(users.at(-1) ?? '')).toBeLessThan(runtime.findIndex((line) => line.startsWith('CMD ')));
  });

  it('pins its base image to an exact Node release, never a floating tag', () => {
    const arg = instructions.find((line) => line.startsWith('ARG NODE_IMAGE='));
    expect(arg).toMatch(/^ARG NODE_IMAGE=node:\d+\.\d+\.\d+-[a-z]+-slim(@sha256:[0-9a-f]{64})?$/);
    for (const stage of stages) expect(stage[0]).toMatch(/^FROM \$\{NODE_IMAGE\}/);
  });

  it('.dockerignore keeps secrets, local data, git history and the tests out of the build context', () => {
    expect(ignored).toEqual(expect.arrayContaining(['.env', '.env.*', '.data', '.git', 'test', 'node_modules']));
  });
});
