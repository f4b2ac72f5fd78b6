/**
 * Writes the figures a chaos suite prints to docs/figures/<name>.md, with the machine, the date and the
 * commit, so that the documents link to the last passing run instead of quoting figures by hand.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

const FIGURES_DIR = fileURLToPath(new URL('../../docs/figures/', import.meta.url));

function commit(): string {
  try {
    const hash = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: 'pipe' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      encoding: 'utf8',
      stdio: 'pipe',
    }).trim();
    return dirty ? `${hash} (with uncommitted changes)` : hash;
  } catch {
    return 'unknown (no git)';
  }
}

function machine(): string {
  const cores = cpus();
  const model = cores[0]?.model.trim() ?? 'unknown CPU';
  const memory = (totalmem() / 2 ** 30).toFixed(1);
  return `${cores.length} cores (${model}), ${memory} GiB, ${platform()} ${release()}, Node ${process.version}`;
}

/**
 * Replaces docs/figures/<name>.md with the printed figure blocks of this run.
 * @param source the suite's file, named in the document
 */
export function writeFigures(name: string, title: string, source: string, blocks: readonly string[]): void {
  const text = [
    `# ${title}`,
    '',
    `<!-- Written by \`npm run test:chaos\` (${source}) after a passing run; the next passing run replaces it. -->`,
    '',
    `- machine: ${machine()}`,
    `- date: ${new Date().toISOString()}`,
    `- commit: ${commit()}`,
    ...blocks.flatMap((block) => ['', '```text', block.replace(/^\n+|\n+$/g, ''), '```']),
    '',
  ].join('\n');
  mkdirSync(FIGURES_DIR, { recursive: true });
  writeFileSync(`${FIGURES_DIR}${name}.md`, text);
}
