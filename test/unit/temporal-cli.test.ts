import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { resolveTemporalCli, temporalCliCacheDir, TEMPORAL_CLI_VERSION } from '../../scripts/lib/temporal-cli.js';

/**
 * Every binary here is a script in a temp dir: the resolver is exercised end to end (PATH search, `--version`,
 * the Go build and its lock) without a real Temporal CLI or Go toolchain.
 */
let root: string;
let logs: string[];
const log = (msg: string): void => {
  logs.push(msg);
};

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'temporal-cli-test-'));
  logs = [];
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function dir(name: string): string {
  const d = path.join(root, name);
  mkdirSync(d, { recursive: true });
  return d;
}

function executable(file: string, content: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  chmodSync(file, 0o755);
  return file;
}

/** A stand-in for the Temporal CLI that answers `--version` like the real one. */
function fakeTemporal(file: string, label: string): string {
  return executable(file, `#!/bin/sh\necho "temporal version ${TEMPORAL_CLI_VERSION} (${label})"\n`);
}

/**
 * A stand-in for `go install` that records its arguments and GOBIN, then writes a fake CLI into GOBIN — or
 * fails, as a broken toolchain or network would.
 */
function fakeGo(binDir: string, opts: { delayMs?: number; fail?: boolean } = {}): { calls: () => unknown[] } {
  const record = path.join(root, 'go-calls.jsonl');
  const script = `#!${process.execPath}
const fs = require('node:fs');
const path = require('node:path');
fs.appendFileSync(${JSON.stringify(record)}, JSON.stringify({ args: process.argv.slice(2), gobin: process.env.GOBIN }) + '\\n');
console.error('go: downloading github.com/temporalio/cli v${TEMPORAL_CLI_VERSION}');
setTimeout(() => {
  if (${Boolean(opts.fail)}) {
    console.error('go: network unreachable');
    process.exit(1);
  }
  const bin = path.join(process.env.GOBIN, 'temporal');
  fs.writeFileSync(bin, '#!/bin/sh\\necho "temporal version ${TEMPORAL_CLI_VERSION} (built)"\\n');
  fs.chmodSync(bin, 0o755);
}, ${opts.delayMs ?? 0});
`;
  executable(path.join(binDir, 'go'), script);
  return {
    calls: () =>
      existsSync(record)
        ? readFileSync(record, 'utf8')
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line) as unknown)
        : [],
  };
}

function env(vars: { PATH: string; TEMPORAL_CLI_PATH?: string }): NodeJS.ProcessEnv {
  return { HOME: root, XDG_CACHE_HOME: path.join(root, 'cache'), ...vars };
}

function cachedBinary(): string {
  return path.join(temporalCliCacheDir(env({ PATH: '' })), 'temporal');
}

describe('resolveTemporalCli', () => {
  test('TEMPORAL_CLI_PATH wins over a CLI on PATH and a cached build', async () => {
    const explicit = fakeTemporal(path.join(root, 'explicit', 'temporal'), 'explicit');
    const pathDir = dir('path');
    fakeTemporal(path.join(pathDir, 'temporal'), 'path');
    fakeTemporal(cachedBinary(), 'cached');

    await expect(resolveTemporalCli({ env: env({ PATH: pathDir, TEMPORAL_CLI_PATH: explicit }), log })).resolves.toBe(
      explicit,
    );
    expect(logs).toEqual([
      `Using temporal version ${TEMPORAL_CLI_VERSION} (explicit) from TEMPORAL_CLI_PATH (${explicit})`,
    ]);
  });

  test('a TEMPORAL_CLI_PATH that does not run is an error, not a silent fallback', async () => {
    const pathDir = dir('path');
    fakeTemporal(path.join(pathDir, 'temporal'), 'path');
    const missing = path.join(root, 'nowhere', 'temporal');

    await expect(resolveTemporalCli({ env: env({ PATH: pathDir, TEMPORAL_CLI_PATH: missing }), log })).rejects.toThrow(
      `TEMPORAL_CLI_PATH=${missing} is not a working Temporal CLI`,
    );
  });

  test('a CLI on PATH wins over a cached build', async () => {
    const emptyDir = dir('empty');
    const pathDir = dir('path');
    const onPath = fakeTemporal(path.join(pathDir, 'temporal'), 'path');
    fakeTemporal(cachedBinary(), 'cached');

    await expect(
      resolveTemporalCli({ env: env({ PATH: `${emptyDir}${path.delimiter}${pathDir}` }), log }),
    ).resolves.toBe(onPath);
  });

  test('a `temporal` on PATH that is some other program is skipped for the cached build', async () => {
    const pathDir = dir('path');
    executable(path.join(pathDir, 'temporal'), '#!/bin/sh\necho "temporal: a different tool 0.1"\n');
    fakeTemporal(cachedBinary(), 'cached');

    await expect(resolveTemporalCli({ env: env({ PATH: pathDir }), log, goFallbacks: [] })).resolves.toBe(
      cachedBinary(),
    );
    expect(logs[1]).toBe(`Using temporal version ${TEMPORAL_CLI_VERSION} (cached) from the cache (${cachedBinary()})`);
  });

  test('without any CLI, Go builds one into the cache through a staging directory, reporting progress', async () => {
    const pathDir = dir('path');
    const go = fakeGo(pathDir);

    await expect(resolveTemporalCli({ env: env({ PATH: pathDir }), log })).resolves.toBe(cachedBinary());

    const cacheDir = path.dirname(cachedBinary());
    expect(go.calls()).toEqual([
      {
        args: [
          'install',
          '-ldflags',
          `-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION}`,
          `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`,
        ],
        gobin: expect.stringMatching(new RegExp(`^${escapeRegExp(cacheDir)}/\\.build-`)),
      },
    ]);
    expect(readdirSync(cacheDir)).toEqual(['temporal']);
    expect(logs).toEqual([
      `Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with Go (first run only, a few minutes)…`,
      `  go: downloading github.com/temporalio/cli v${TEMPORAL_CLI_VERSION}`,
      expect.stringMatching(/^Built the Temporal CLI in \d+ s: /),
      `Using temporal version ${TEMPORAL_CLI_VERSION} (built) (${cachedBinary()})`,
    ]);
  });

  test('a cached binary that does not run is rebuilt', async () => {
    const pathDir = dir('path');
    const go = fakeGo(pathDir);
    executable(cachedBinary(), '#!/bin/sh\nexit 1\n');

    await expect(resolveTemporalCli({ env: env({ PATH: pathDir }), log })).resolves.toBe(cachedBinary());
    expect(go.calls()).toHaveLength(1);
    expect(spawnSync(cachedBinary(), ['--version'], { encoding: 'utf8' }).stdout).toContain('(built)');
  });

  test('Go is found at /usr/local/go/bin-style fallbacks when it is not on PATH', async () => {
    const goHome = dir('go-home');
    const go = fakeGo(goHome);

    await expect(
      resolveTemporalCli({ env: env({ PATH: dir('path') }), log, goFallbacks: [path.join(goHome, 'go')] }),
    ).resolves.toBe(cachedBinary());
    expect(go.calls()).toHaveLength(1);
  });

  test('two resolutions at once share one build through the lock: the second waits for the first', async () => {
    const pathDir = dir('path');
    const go = fakeGo(pathDir, { delayMs: 1_500 });
    const logsOf: string[][] = [[], []];

    const results = await Promise.all(
      logsOf.map((lines) => resolveTemporalCli({ env: env({ PATH: pathDir }), log: (m) => lines.push(m) })),
    );

    expect(results).toEqual([cachedBinary(), cachedBinary()]);
    expect(go.calls()).toHaveLength(1);
    expect(logsOf.map((lines) => lines[0]).sort()).toEqual([
      'Another process is building the Temporal CLI; waiting for it to finish…',
      `Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with Go (first run only, a few minutes)…`,
    ]);
  });

  test('a lock left by a build that crashed is taken over', async () => {
    const pathDir = dir('path');
    const go = fakeGo(pathDir);
    const lock = path.join(path.dirname(cachedBinary()), '.build.lock');
    mkdirSync(lock, { recursive: true });
    writeFileSync(path.join(lock, 'owner'), `${deadPid()}\n`);

    await expect(resolveTemporalCli({ env: env({ PATH: pathDir }), log })).resolves.toBe(cachedBinary());
    expect(go.calls()).toHaveLength(1);
    expect(logs[0]).toBe(`Removing a stale build lock left by a crashed build (${lock})`);
  });

  test('a failed Go build leaves no binary or lock behind and says how to install the CLI instead', async () => {
    const pathDir = dir('path');
    fakeGo(pathDir, { fail: true });

    const error = await resolveTemporalCli({ env: env({ PATH: pathDir }), log }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain('exited with code 1:');
    expect((error as Error).message).toContain('go: network unreachable');
    expect((error as Error).message).toContain('brew install temporal');
    expect(readdirSync(path.dirname(cachedBinary()))).toEqual([]);
  });

  test('with neither a CLI nor Go, the error lists every way to get one', async () => {
    const error = await resolveTemporalCli({ env: env({ PATH: dir('path') }), log, goFallbacks: [] }).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain('Go is not installed either');
    expect(message).toContain('brew install temporal');
    expect(message).toContain('https://temporal.download/cli');
    expect(message).toContain('docs.temporal.io/cli');
    expect(message).toContain('temporalio/temporal server start-dev');
    expect(message).toContain('--search-attribute DeviceIds=KeywordList');
    expect(message).toContain('Install Go');
    expect(message).toContain('TEMPORAL_CLI_PATH');
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The pid of a process that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(child.stdout.trim());
}
