/**
 * Finds the `temporal` CLI (which embeds the dev server and Web UI), building it with Go when a machine has
 * none — DESIGN.md §3. Order: `$TEMPORAL_CLI_PATH`, `temporal` on `PATH`, a cached build outside the clone,
 * a fresh `go install` into that cache.
 */
import { execFile, spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../../contracts/names.js';

/** Newest CLI release whose go.mod allows `go install` (no `replace` directives); embeds server 1.29 and the UI. */
export const TEMPORAL_CLI_VERSION = '1.5.1';
const TEMPORAL_CLI_PACKAGE = 'github.com/temporalio/cli/cmd/temporal';
/** Without this the built binary reports version 0.0.0-DEV, which hides which build is in use. */
const VERSION_LDFLAGS = `-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION}`;
/** Where the Go toolchain is installed on the project's machines when it is not on PATH. */
const DEFAULT_GO_FALLBACKS = ['/usr/local/go/bin/go'];

const VERSION_TIMEOUT_MS = 15_000;
/** A build holding the lock longer than this is presumed dead even if its pid got reused. */
const STALE_LOCK_MS = 60 * 60_000;
const LOCK_POLL_MS = 1_000;
/** `go install` is silent while compiling (minutes); a heartbeat shows the process is not stuck. */
const HEARTBEAT_MS = 30_000;
const STAGING_PREFIX = '.build-';

export interface ResolveTemporalCliOptions {
  /** Environment to read `TEMPORAL_CLI_PATH`, `PATH`, `XDG_CACHE_HOME` and `HOME` from; defaults to the process's. */
  env?: NodeJS.ProcessEnv;
  /** Progress messages (which binary is used, build progress). */
  log?: (msg: string) => void;
  /** Places to look for `go` when it is not on PATH. */
  goFallbacks?: readonly string[];
}

/**
 * Returns the absolute path of a working `temporal` CLI, verified with `--version`.
 *
 * A build (first run on a machine without the CLI) takes minutes; concurrent callers share one build
 * through a lock in the cache directory, and the binary is moved into place only when complete.
 *
 * @throws Error listing the ways to install the CLI when none is found and Go is unavailable or fails.
 */
export async function resolveTemporalCli(opts: ResolveTemporalCliOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => {});

  const explicit = env.TEMPORAL_CLI_PATH;
  if (explicit) {
    const bin = path.resolve(explicit);
    const version = await temporalVersion(bin);
    if (!version) {
      throw new Error(`TEMPORAL_CLI_PATH=${explicit} is not a working Temporal CLI (\`--version\` failed).`);
    }
    log(`Using ${version} from TEMPORAL_CLI_PATH (${bin})`);
    return bin;
  }

  const onPath = await findOnPath('temporal', env.PATH);
  if (onPath) {
    const version = await temporalVersion(onPath);
    if (version) {
      log(`Using ${version} from PATH (${onPath})`);
      return onPath;
    }
    log(`Ignoring ${onPath}: it does not answer \`--version\` like the Temporal CLI`);
  }

  const dir = temporalCliCacheDir(env);
  const cached = path.join(dir, 'temporal');
  const cachedVersion = await temporalVersion(cached);
  if (cachedVersion) {
    log(`Using ${cachedVersion} from the cache (${cached})`);
    return cached;
  }

  const go = await findGo(env, opts.goFallbacks ?? DEFAULT_GO_FALLBACKS);
  if (!go) throw new Error(installHelp('Go is not installed either, so it cannot be built here.'));

  await buildWithLock({ go, dir, bin: cached, env, log });
  const builtVersion = await temporalVersion(cached);
  if (!builtVersion) throw new Error(installHelp(`The Go build produced ${cached}, but it does not run.`));
  log(`Using ${builtVersion} (${cached})`);
  return cached;
}

/** `${XDG_CACHE_HOME:-~/.cache}/euicc-orchestrator/temporal-cli-<version>`: outside the clone so clones share it. */
export function temporalCliCacheDir(env: NodeJS.ProcessEnv): string {
  const cacheHome = env.XDG_CACHE_HOME || path.join(env.HOME || homedir(), '.cache');
  return path.join(cacheHome, 'euicc-orchestrator', `temporal-cli-${TEMPORAL_CLI_VERSION}`);
}

/** The first line of `<bin> --version` if it looks like the Temporal CLI's, else undefined. */
async function temporalVersion(bin: string): Promise<string | undefined> {
  if (!(await isExecutableFile(bin))) return undefined;
  return new Promise((resolve) => {
    execFile(bin, ['--version'], { timeout: VERSION_TIMEOUT_MS }, (error, stdout) => {
      const line = String(stdout).trim().split('\n')[0] ?? '';
      resolve(!error && /^temporal version /i.test(line) ? line : undefined);
    });
  });
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    await access(file, fsConstants.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

async function findOnPath(name: string, searchPath: string | undefined): Promise<string | undefined> {
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    // An empty PATH entry means the current directory; never pick a binary up from there implicitly.
    if (!dir) continue;
    const candidate = path.resolve(dir, name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

async function findGo(env: NodeJS.ProcessEnv, fallbacks: readonly string[]): Promise<string | undefined> {
  const onPath = await findOnPath('go', env.PATH);
  if (onPath) return onPath;
  for (const candidate of fallbacks) {
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

interface BuildContext {
  go: string;
  dir: string;
  bin: string;
  env: NodeJS.ProcessEnv;
  log: (msg: string) => void;
}

/**
 * One build per cache directory at a time: `mkdir` is atomic, so the lock directory is held by exactly one
 * process; the others wait and then find the finished binary.
 */
async function buildWithLock(ctx: BuildContext): Promise<void> {
  await mkdir(ctx.dir, { recursive: true });
  const lock = path.join(ctx.dir, '.build.lock');
  let waitingSaid = false;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await isStaleLock(lock)) {
      ctx.log(`Removing a stale build lock left by a crashed build (${lock})`);
      await rm(lock, { recursive: true, force: true });
      continue;
    }
    if (!waitingSaid) {
      ctx.log('Another process is building the Temporal CLI; waiting for it to finish…');
      waitingSaid = true;
    }
    await sleep(LOCK_POLL_MS);
  }

  try {
    await writeFile(path.join(lock, 'owner'), `${process.pid}\n`);
    // The process that held the lock before us may have finished the build.
    if (await temporalVersion(ctx.bin)) return;
    await removeAbandonedStaging(ctx.dir);
    await build(ctx);
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

async function isStaleLock(lock: string): Promise<boolean> {
  let info;
  try {
    info = await stat(lock);
  } catch {
    return false; // released meanwhile; the next mkdir decides
  }
  if (Date.now() - info.mtimeMs > STALE_LOCK_MS) return true;
  let pid: number;
  try {
    pid = Number.parseInt(await readFile(path.join(lock, 'owner'), 'utf8'), 10);
  } catch {
    // The owner creates the directory and then writes its pid; give it a moment before judging.
    return Date.now() - info.mtimeMs > 30_000;
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Staging directories of builds that crashed can hold a partial binary of a few hundred MB. */
async function removeAbandonedStaging(dir: string): Promise<void> {
  for (const entry of await readdir(dir)) {
    if (entry.startsWith(STAGING_PREFIX)) await rm(path.join(dir, entry), { recursive: true, force: true });
  }
}

/** Builds into a private directory and renames the result into place, so a crash never leaves half a binary. */
async function build({ go, dir, bin, env, log }: BuildContext): Promise<void> {
  const staging = path.join(dir, `${STAGING_PREFIX}${process.pid}-${Date.now()}`);
  await mkdir(staging, { recursive: true });
  log(`Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with Go (first run only, a few minutes)…`);
  const started = Date.now();
  try {
    const args = ['install', '-ldflags', VERSION_LDFLAGS, `${TEMPORAL_CLI_PACKAGE}@v${TEMPORAL_CLI_VERSION}`];
    const tail: string[] = [];
    const child = spawn(go, args, { env: { ...env, GOBIN: staging }, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        log(`  ${line}`);
      });
    }
    const heartbeat = setInterval(() => {
      log(`  still building the Temporal CLI (${Math.round((Date.now() - started) / 1000)} s)…`);
    }, HEARTBEAT_MS);
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ code, signal }));
    }).finally(() => clearInterval(heartbeat));

    const built = path.join(staging, 'temporal');
    if (exit.code !== 0 || !(await isExecutableFile(built))) {
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
      throw new Error(installHelp(`\`${go} ${args.join(' ')}\` ${how}:\n${tail.join('\n')}`));
    }
    await rename(built, bin);
    log(`Built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)} s: ${bin}`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

function installHelp(reason: string): string {
  return [
    `The Temporal CLI (\`temporal\`) was not found. ${reason}`,
    'Install it in one of these ways, then run again:',
    '  - Homebrew: brew install temporal',
    '  - Download a release from https://temporal.download/cli (see https://docs.temporal.io/cli)',
    `  - Docker (then \`npm run temporal\` finds it on port 7233): ${dockerCommand()}`,
    `  - Install Go (https://go.dev/dl) and run again: the CLI ${TEMPORAL_CLI_VERSION} is then built automatically`,
    '  - Or point TEMPORAL_CLI_PATH at an existing `temporal` binary',
  ].join('\n');
}

/** The Docker image runs the same dev server; it needs the project's search attributes too (DESIGN.md §7). */
function dockerCommand(): string {
  const attributes = Object.entries(SEARCH_ATTRIBUTE_DEFINITIONS).map(
    ([name, type]) => `--search-attribute ${name}=${type}`,
  );
  return [
    'docker run --rm -p 7233:7233 -p 8233:8233 temporalio/temporal server start-dev --ip 0.0.0.0',
    ...attributes,
  ].join(' ');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
