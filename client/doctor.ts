/**
 * `doctor`: checks a deployment before it is trusted, with read-only calls only, and never starts an
 * operation. Each check answers pass, fail or skip with one line of detail; `euicc doctor` prints them.
 *
 * ThingSpace is asked for one token and one session login at most (a wrong password costs one failed login
 * of the five that lock the account), and the callback registrations are read with the session opened.
 */
import { Connection, type ConnectionLike } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { EncryptionCodec, ENCRYPTED_ENCODING, KEY_ID_METADATA } from '../codec/index.js';
import type { CliConfig } from '../config/index.js';
import { thingspaceClientSettings } from '../config/index.js';
import { temporalConnectionOptions } from '../config/temporal-connection.js';
import { CALLBACK_SERVICES, callbackUrl, SEARCH_ATTRIBUTE_DEFINITIONS, TASK_QUEUE } from '../contracts/index.js';
import { createThingSpaceClient, ThingSpaceError, type ThingSpaceClient } from '../thingspace/index.js';

export type CheckStatus = 'pass' | 'fail' | 'skip';

/** One check: what was checked, how it went, and one line saying what was seen (or why it was skipped). */
export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
}

/** The settings `doctor` reads: the CLI's configuration (`cliSchema` in config/index.ts). */
export type DoctorConfig = Pick<
  CliConfig,
  | 'TEMPORAL_ADDRESS'
  | 'TEMPORAL_NAMESPACE'
  | 'GATEWAY_URL'
  | 'GATEWAY_PUBLIC_URL'
  | 'CALLBACK_PATH_TOKEN'
  | 'THINGSPACE_BASE_URL'
  | 'THINGSPACE_CLIENT_ID'
  | 'THINGSPACE_CLIENT_SECRET'
  | 'THINGSPACE_USERNAME'
  | 'THINGSPACE_PASSWORD'
  | 'THINGSPACE_ACCOUNT_NAME'
  | 'THINGSPACE_TIMEOUT_MS'
> &
  Partial<
    Pick<
      CliConfig,
      | 'CALLBACK_PUBLIC_URL'
      | 'PAYLOAD_ENCRYPTION_KEY'
      | 'TEMPORAL_TLS'
      | 'TEMPORAL_TLS_CA'
      | 'TEMPORAL_TLS_CERT'
      | 'TEMPORAL_TLS_KEY'
      | 'TEMPORAL_TLS_SERVER_NAME'
      | 'TEMPORAL_API_KEY'
    >
  >;

export interface DoctorOptions {
  /** A connection to reuse (a backend service's own); default one opened to TEMPORAL_ADDRESS and closed after. */
  connection?: ConnectionLike;
  /** The task queue whose pollers are checked; default `euicc-lifecycle`. */
  taskQueue?: string;
  /** A ThingSpace client to use instead of one made from the THINGSPACE_* settings (tests). */
  thingspace?: ThingSpaceClient;
  fetch?: typeof fetch;
  /** Per call, in ms; default 10 s. */
  timeoutMs?: number;
}

/** The check names, in the order `doctor` answers them. */
export const DOCTOR_CHECKS = [
  'temporal',
  'namespace',
  'search attributes',
  'worker',
  'gateway',
  'thingspace credentials',
  'callback registrations',
  'payload key',
] as const;

/**
 * A poller seen longer ago than this has stopped: an idle worker's long poll lasts a minute, then it polls again,
 * while Temporal lists a stopped worker's pollers for minutes more.
 */
const POLLER_LIVE_MS = 90_000;
/** The newest events of the newest saga whose payloads the key must decrypt. */
const HISTORY_EVENTS = 100;

const enums = proto.temporal.api.enums.v1;
const INDEXED_TYPES: Record<string, number> = {
  Keyword: enums.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  KeywordList: enums.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

const pass = (check: string, detail: string): CheckResult => ({ check, status: 'pass', detail });
const fail = (check: string, detail: string): CheckResult => ({ check, status: 'fail', detail });
const skip = (check: string, detail: string): CheckResult => ({ check, status: 'skip', detail });

function reason(err: unknown): string {
  const e = err as { details?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  if (typeof e.details === 'string' && e.details !== '') return e.details;
  const cause = e.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  return typeof e.message === 'string' ? e.message : String(err);
}

function thingspaceReason(err: ThingSpaceError): string {
  const status = err.status === 0 ? (err.networkCode ?? err.code) : `HTTP ${err.status} ${err.code}`;
  return err.message ? `${status}: ${err.message}` : status;
}

function millis(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!ts) return 0;
  const seconds = ts.seconds as number | { toNumber(): number } | null | undefined;
  const s = typeof seconds === 'number' ? seconds : seconds ? seconds.toNumber() : 0;
  return s * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}

/** Every Payload in a history event, wherever it sits (inputs, results, headers, encoded failures). */
function payloadsIn(value: unknown, found: Payload[] = []): Payload[] {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return found;
  if (Array.isArray(value)) {
    for (const item of value) payloadsIn(item, found);
    return found;
  }
  const record = value as Record<string, unknown>;
  const metadata = record.metadata as Record<string, unknown> | undefined;
  if (metadata && typeof metadata === 'object' && 'encoding' in metadata) {
    found.push(record as Payload);
    return found;
  }
  for (const child of Object.values(record)) payloadsIn(child, found);
  return found;
}

const text = (bytes: unknown): string | undefined =>
  bytes instanceof Uint8Array ? Buffer.from(bytes).toString('utf8') : undefined;

/** Runs every check; never throws for a failed check (only for a programming error). */
export async function doctor(config: DoctorConfig, options: DoctorOptions = {}): Promise<CheckResult[]> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const taskQueue = options.taskQueue ?? TASK_QUEUE;
  const namespace = config.TEMPORAL_NAMESPACE;
  const results: CheckResult[] = [];
  const deadline = () => Date.now() + timeoutMs;

  let connection: ConnectionLike | undefined;
  let owned: Connection | undefined;
  try {
    const reached =
      options.connection ??
      (owned = await Connection.connect({ ...temporalConnectionOptions(config), connectTimeout: timeoutMs }));
    const info = await reached.withDeadline(deadline(), () => reached.workflowService.getSystemInfo({}));
    connection = reached;
    results.push(
      pass('temporal', `${config.TEMPORAL_ADDRESS} answers (server ${info.serverVersion || 'version unknown'})`),
    );
  } catch (err) {
    results.push(fail('temporal', `cannot reach Temporal at ${config.TEMPORAL_ADDRESS}: ${reason(err)}`));
  }

  try {
    if (connection) {
      results.push(...(await temporalChecks(connection, namespace, taskQueue, deadline)));
    } else {
      for (const check of ['namespace', 'search attributes', 'worker'] as const) {
        results.push(skip(check, 'Temporal is not reachable'));
      }
    }
    results.push(await gatewayCheck(config, options.fetch ?? fetch, timeoutMs));
    results.push(...(await thingspaceChecks(config, options.thingspace)));
    results.push(await payloadKeyCheck(config, connection, namespace, taskQueue, deadline));
  } finally {
    await owned?.close();
  }
  return results;
}

async function temporalChecks(
  connection: ConnectionLike,
  namespace: string,
  taskQueue: string,
  deadline: () => number,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  try {
    await connection.withDeadline(deadline(), () => connection.workflowService.describeNamespace({ namespace }));
    results.push(pass('namespace', `${namespace} exists`));
  } catch (err) {
    results.push(fail('namespace', `${namespace}: ${reason(err)}`));
    results.push(skip('search attributes', `namespace ${namespace} is not usable`));
    results.push(skip('worker', `namespace ${namespace} is not usable`));
    return results;
  }

  try {
    const listed = await connection.withDeadline(deadline(), () =>
      connection.operatorService.listSearchAttributes({ namespace }),
    );
    const custom = listed.customAttributes ?? {};
    const problems = Object.entries(SEARCH_ATTRIBUTE_DEFINITIONS).flatMap(([name, type]) => {
      const found = custom[name];
      if (found === undefined) return [`${name} (${type}) missing`];
      return found === INDEXED_TYPES[type] ? [] : [`${name} is not ${type}`];
    });
    const names = Object.keys(SEARCH_ATTRIBUTE_DEFINITIONS).join(', ');
    results.push(
      problems.length === 0
        ? pass('search attributes', `${names} registered`)
        : fail(
            'search attributes',
            `${problems.join('; ')}: register them (temporal operator search-attribute create)`,
          ),
    );
  } catch (err) {
    results.push(fail('search attributes', `cannot list them: ${reason(err)}`));
  }

  try {
    const now = Date.now();
    const live = async (taskQueueType: number) => {
      const described = await connection.withDeadline(deadline(), () =>
        connection.workflowService.describeTaskQueue({
          namespace,
          taskQueue: { name: taskQueue, kind: enums.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
          taskQueueType,
        }),
      );
      return (described.pollers ?? []).filter((p) => now - millis(p.lastAccessTime) < POLLER_LIVE_MS);
    };
    const workflowPollers = await live(enums.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW);
    const activityPollers = await live(enums.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY);
    const identities = [...new Set([...workflowPollers, ...activityPollers].map((p) => p.identity ?? '?'))];
    if (workflowPollers.length > 0 && activityPollers.length > 0) {
      results.push(pass('worker', `${identities.length} worker(s) polling ${taskQueue}: ${identities.join(', ')}`));
    } else {
      const missing = workflowPollers.length === 0 ? 'workflow' : 'activity';
      results.push(
        fail('worker', `no worker polls ${taskQueue} for ${missing} tasks in the last 90 seconds: start one`),
      );
    }
  } catch (err) {
    results.push(fail('worker', `cannot describe task queue ${taskQueue}: ${reason(err)}`));
  }
  return results;
}

async function gatewayCheck(config: DoctorConfig, fetchImpl: typeof fetch, timeoutMs: number): Promise<CheckResult> {
  const publicUrl = config.GATEWAY_PUBLIC_URL;
  const base = publicUrl.endsWith('/') ? publicUrl : `${publicUrl}/`;
  const url = new URL('readyz', base);
  // Without any user:password the URL may carry.
  const where = `${url.origin}${url.pathname}`;
  try {
    const response = await fetchImpl(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await response.json().catch(() => undefined)) as { status?: string } | undefined;
    if (response.ok && body?.status === 'ready') return pass('gateway', `${where} ready`);
    return fail('gateway', `${where} answered HTTP ${response.status} ${body?.status ?? ''}`.trimEnd());
  } catch (err) {
    return fail('gateway', `cannot reach ${where}: ${reason(err)}`);
  }
}

async function thingspaceChecks(config: DoctorConfig, given?: ThingSpaceClient): Promise<CheckResult[]> {
  const thingspace = given ?? createThingSpaceClient(thingspaceClientSettings(config));
  const account = config.THINGSPACE_ACCOUNT_NAME;
  let verified;
  try {
    verified = await thingspace.verifyCredentials();
  } catch (err) {
    return [
      fail('thingspace credentials', `${config.THINGSPACE_BASE_URL}: ${reason(err)}`),
      skip('callback registrations', 'ThingSpace credentials could not be checked'),
    ];
  }
  if (!verified.ok) {
    const step = verified.failedStep === 'token' ? 'the OAuth token request' : 'the session login';
    const consequence = verified.error.retryable ? 'ThingSpace is unavailable' : 'check the THINGSPACE_* credentials';
    return [
      fail('thingspace credentials', `${step} failed (${thingspaceReason(verified.error)}): ${consequence}`),
      skip('callback registrations', 'no session: not logging in again, so the account is never locked'),
    ];
  }
  const results = [pass('thingspace credentials', `token and session login accepted by ${config.THINGSPACE_BASE_URL}`)];

  const base = config.CALLBACK_PUBLIC_URL ?? `${config.GATEWAY_PUBLIC_URL.replace(/\/$/, '')}/callbacks`;
  // The path token is a secret: never printed.
  // A path token is a secret, whichever it is (a stale or another environment's too): never printed.
  const shown = (url: string) =>
    url
      .split(config.CALLBACK_PATH_TOKEN)
      .join('<token>')
      .replace(/(\/callbacks\/)[^/]+/, '$1<token>');
  try {
    const registered = await thingspace.listCallbacks(account);
    const problems = CALLBACK_SERVICES.flatMap((service) => {
      const expected = callbackUrl(base, config.CALLBACK_PATH_TOKEN, service, account);
      const found = registered.find((r) => r.serviceName === service);
      if (!found) return [`${service} not registered`];
      return found.url === expected ? [] : [`${service} points at ${shown(found.url)}`];
    });
    results.push(
      problems.length === 0
        ? pass('callback registrations', `${CALLBACK_SERVICES.join(', ')} of ${account} point at ${base}`)
        : fail(
            'callback registrations',
            `${problems.join('; ')}; expected ${base}/<token>/<service>/${account}: run npm run register-callbacks`,
          ),
    );
  } catch (err) {
    const detail = err instanceof ThingSpaceError ? thingspaceReason(err) : reason(err);
    results.push(fail('callback registrations', `cannot list the callbacks of ${account}: ${detail}`));
  }
  return results;
}

async function payloadKeyCheck(
  config: DoctorConfig,
  connection: ConnectionLike | undefined,
  namespace: string,
  taskQueue: string,
  deadline: () => number,
): Promise<CheckResult> {
  const check = 'payload key';
  if (config.PAYLOAD_ENCRYPTION_KEY === undefined)
    return skip(check, 'PAYLOAD_ENCRYPTION_KEY is unset: payloads are in clear');
  if (!connection) return skip(check, 'Temporal is not reachable');
  const codec = EncryptionCodec.fromSetting(config.PAYLOAD_ENCRYPTION_KEY);
  const ours = codec.keyIds[0];
  try {
    const listed = await connection.withDeadline(deadline(), () =>
      connection.workflowService.listWorkflowExecutions({
        namespace,
        pageSize: 1,
        query: `TaskQueue = '${taskQueue}'`,
      }),
    );
    const newest = listed.executions?.[0]?.execution;
    if (!newest?.workflowId) return skip(check, `no saga on ${taskQueue} yet: nothing to compare the key with`);
    const history = await connection.withDeadline(deadline(), () =>
      connection.workflowService.getWorkflowExecutionHistoryReverse({
        namespace,
        execution: newest,
        maximumPageSize: HISTORY_EVENTS,
      }),
    );
    const payloads = payloadsIn(history.history?.events ?? []);
    const encrypted = payloads.filter((p) => text(p.metadata?.encoding) === ENCRYPTED_ENCODING);
    if (payloads.length === 0) return skip(check, `the newest saga, ${newest.workflowId}, has no payloads yet`);
    if (encrypted.length === 0) {
      return fail(
        check,
        `the newest saga, ${newest.workflowId}, is stored in clear: the worker that wrote it has no PAYLOAD_ENCRYPTION_KEY`,
      );
    }
    await codec.decode(encrypted);
    const writers = [...new Set(encrypted.map((p) => text(p.metadata?.[KEY_ID_METADATA]) ?? '?'))];
    if (!writers.includes(ours ?? '')) {
      return fail(
        check,
        `the newest saga, ${newest.workflowId}, was written with key ${writers.join(', ')}; this configuration ` +
          `encrypts with key ${ours}: give every process the same PAYLOAD_ENCRYPTION_KEY`,
      );
    }
    return pass(check, `key ${ours} wrote and decrypts the newest saga, ${newest.workflowId}`);
  } catch (err) {
    return fail(check, reason(err));
  }
}
