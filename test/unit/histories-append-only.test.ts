/**
 * The recorded histories in test/histories are the proof that running sagas survive an upgrade: they are
 * only ever added, never rewritten or removed. SHA256SUMS lists every one with its digest; a new history is
 * added to it (`sha256sum *.json *.workflow-id > SHA256SUMS` in that folder only adds lines when nothing
 * else changed).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const dir = new URL('../histories/', import.meta.url);
const listed = readFileSync(new URL('SHA256SUMS', dir), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => {
    const [digest, name] = line.split(/\s+\*?/) as [string, string];
    return { digest, name };
  });

describe('recorded histories are append-only', () => {
  it.each(listed)('$name is unchanged', ({ name, digest }) => {
    const file = new URL(name, dir);
    expect(existsSync(file)).toBe(true);
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(digest);
  });

  it('every history in the folder is listed', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.json') || f.endsWith('.workflow-id'));
    expect(files.sort()).toEqual(listed.map((l) => l.name).sort());
  });
});
