import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `import-x/no-cycle` (eslint.config.js) finds cycles between files; this finds them between the product's
 * folders, where a cycle goes through different files on each side (config → codec → config once did).
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const NOT_PRODUCT = new Set(['node_modules', 'test', 'docs', 'dist', 'coverage', 'bin']);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.(ts|cjs|js)$/.test(entry.name) ? [path] : [];
  });
}

const folders = readdirSync(root, { withFileTypes: true })
  .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !NOT_PRODUCT.has(e.name))
  .map((e) => e.name);

/** Folder → the other product folders its files import at run time (`import type` erases and is left out). */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>(folders.map((f) => [f, new Set<string>()]));
  const specifier =
    /^\s*(?:import|export)(?!\s+type\s)[^'";]*?from\s+'(\.{1,2}\/[^']+)'|require\('(\.{1,2}\/[^']+)'\)/gm;
  for (const folder of folders) {
    for (const file of sources(join(root, folder))) {
      for (const match of readFileSync(file, 'utf8').matchAll(specifier)) {
        const target = relative(root, normalize(join(dirname(file), match[1] ?? match[2] ?? '')));
        const top = target.split(/[\\/]/)[0] ?? '';
        if (top !== folder && graph.has(top)) graph.get(folder)?.add(top);
      }
    }
  }
  return graph;
}

function cycles(graph: Map<string, Set<string>>): string[] {
  const found: string[] = [];
  const visit = (node: string, path: string[]) => {
    for (const next of graph.get(node) ?? []) {
      const at = path.indexOf(next);
      if (at !== -1) found.push([...path.slice(at), next].join(' → '));
      else visit(next, [...path, next]);
    }
  };
  for (const start of graph.keys()) visit(start, [start]);
  return found;
}

describe('the product folders', () => {
  it('import each other without cycles', () => {
    expect(cycles(folderGraph())).toEqual([]);
  });

  it('the check sees a cycle when there is one', () => {
    const graph = new Map([
      ['config', new Set(['codec'])],
      ['codec', new Set(['config'])],
    ]);
    expect(cycles(graph)).toContain('config → codec → config');
  });

  it('the graph holds the imports the product really makes', () => {
    expect([...(folderGraph().get('callback-gateway') ?? [])]).toEqual(expect.arrayContaining(['codec', 'config']));
  });
});
