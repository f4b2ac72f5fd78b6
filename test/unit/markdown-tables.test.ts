import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { MAX_TABLE_ROW, REPO_ROOT } from '../../scripts/lib/config-docs.js';

/** The repository's own documents: *.md at the root, and everywhere under docs/ and simulator/. */
function documents(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : walk(path);
      return entry.name.endsWith('.md') ? [path] : [];
    });
  const root = readdirSync(REPO_ROOT, { withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.md'))
    .map((entry) => join(REPO_ROOT, entry.name));
  const under = (dir: string) => {
    try {
      return walk(join(REPO_ROOT, dir));
    } catch {
      return [];
    }
  };
  return [...root, ...under('docs'), ...under('simulator')];
}

/** Table rows (outside fenced code) longer than the limit, as `file:line (length)`. */
function longTableRows(file: string): string[] {
  let fenced = false;
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line, i) => {
      if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
      if (fenced || !line.trimStart().startsWith('|') || line.length <= MAX_TABLE_ROW) return [];
      return [`${relative(REPO_ROOT, file)}:${i + 1} (${line.length})`];
    });
}

it(`no Markdown table row in README.md, docs/ or simulator/ is longer than ${MAX_TABLE_ROW} characters`, () => {
  const files = documents();
  expect(files.map((f) => relative(REPO_ROOT, f))).toEqual(expect.arrayContaining(['README.md']));
  expect(files.flatMap(longTableRows)).toEqual([]);
});
