/**
 * `npx euicc <command>`: the operators' console. It starts an operation, shows or follows where a saga
 * stands, sends an operator's decision (Temporal, through the typed client), checks a deployment
 * (`doctor`), and lists, shows and replays callbacks in the gateway's inbox (the operator API at GATEWAY_URL).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { Presets, SingleBar } from 'cli-progress';
import { Argument, Command, CommanderError, Option } from 'commander';
import { cliSchema, ConfigError, parseConfig, type CliConfig } from '../config/index.js';
import { temporalConnectionOptions } from '../config/temporal-connection.js';
import { DEVICE_STATES, type DeviceResult, type DeviceState, type OperationStore } from '../store/operations.js';
import { openOperationStore } from '../store/open.js';
import {
  checkDevices,
  dataConverterFor,
  decide,
  DecisionRefusedError,
  describeProblem,
  DeviceSourceError,
  doctor,
  FAILURE_POLICIES,
  InvalidDevicesError,
  InvalidRequestError,
  OperationConflictError,
  results,
  sagaSettled,
  startBulkOperation,
  startActivateDeviceProfiles,
  startChangeDeviceIdentifier,
  startChangeProfileServicePlan,
  startEidDeviceSwap,
  statusOf,
  SWAP_STEPS,
  TASK_QUEUE,
  validateActivateDeviceProfiles,
  validateBulkBody,
  validateChangeDeviceIdentifier,
  validateChangeProfileServicePlan,
  validateEidDeviceSwap,
  watchSaga,
  WORKFLOW_TYPES,
  type ActivateDeviceProfilesRequest,
  type BulkBody,
  type BulkOperation,
  type BulkStatus,
  type ChangeDeviceIdentifierRequest,
  type ChangeProfileServicePlanRequest,
  type CheckedDevices,
  type CheckResult,
  type DeviceId,
  type EidDeviceSwapRequest,
  type Operation,
  type SagaView,
  type ValidationIssue,
} from './index.js';

/** Exit statuses, the same for every command (README and docs/operating.md list them). */
export const EXIT = {
  ok: 0,
  /** A service refused or could not be reached, an unknown saga or callback, or a doctor check failed. */
  failed: 1,
  /** A usage error or an invalid request: nothing was done. */
  usage: 2,
  /** The saga refused the decision, or has ended and takes none (`decide`). */
  refused: 3,
  /** `status --watch`: the saga ended without completing, or it holds for an operator decision. */
  notCompleted: 4,
} as const;

export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  fetch?: typeof fetch;
  /** How long to try to reach Temporal, in ms; default 10 s. */
  connectTimeoutMs?: number;
  /** Opens the operation store (`start --devices`, `results`); default: the store the worker uses. */
  openOperations?: (config: CliConfig) => Promise<OperationStore>;
}

interface CallbackSummary {
  id: number;
  service: string;
  state: string;
  receivedAt: string;
  deliveries: number;
  workflowId?: string;
  reason?: string;
  requestId?: string;
  deviceIds: { kind: string; id: string }[];
}

// Longer than any inbox query takes; a hung connection must not hang a shell script.
const TIMEOUT_MS = 15_000;
const DEVICES_SHOWN = 2;
const OPERATIONS = Object.keys(WORKFLOW_TYPES).filter(
  (name) => name !== 'profileShard' && name !== 'retentionPurge',
) as Operation[];
const DECISIONS = ['retry', 'compensate', 'abandon'] as const;

/** A refusal or failure, printed as one line on stderr, with the exit status it ends the command with. */
class CliFailure extends Error {
  override name = 'CliFailure';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
    readonly issues?: ValidationIssue[],
  ) {
    super(message);
  }
}

const usage = (message: string) => new CliFailure(message, EXIT.usage);

/** A fixed-width text table; the last column is not padded. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

function devices(deviceIds: CallbackSummary['deviceIds']): string {
  const shown = deviceIds.slice(0, DEVICES_SHOWN).map((d) => `${d.kind}:${d.id}`);
  const more = deviceIds.length - shown.length;
  return more > 0 ? `${shown.join(', ')} +${more} more` : shown.join(', ');
}

function callbacksTable(state: string, callbacks: CallbackSummary[]): string {
  if (callbacks.length === 0) return `No ${state} callbacks.\n`;
  return table(
    ['ID', 'STATE', 'SERVICE', 'RECEIVED', 'DELIVERIES', 'REQUEST ID', 'DEVICES', 'SAGA', 'REASON'],
    callbacks.map((c) => [
      String(c.id),
      c.state,
      c.service,
      c.receivedAt,
      String(c.deliveries),
      c.requestId ?? '-',
      devices(c.deviceIds) || '-',
      c.workflowId ?? '-',
      c.reason ?? '',
    ]),
  );
}

/** Calls the operator API; answers other than 2xx become a CliFailure with the gateway's own reason. */
async function operatorApi(
  io: CliIo,
  config: CliConfig,
  method: 'GET' | 'POST',
  path: string,
  query: Record<string, string> = {},
): Promise<unknown> {
  if (config.OPERATOR_TOKEN === undefined) throw new ConfigError('Invalid configuration: OPERATOR_TOKEN: Required');
  // Relative to the base with a trailing slash, so a gateway behind a path prefix keeps its prefix.
  const base = config.GATEWAY_URL.endsWith('/') ? config.GATEWAY_URL : `${config.GATEWAY_URL}/`;
  const url = new URL(`operator/${path}`, base);
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
  let response: Response;
  let text: string;
  try {
    response = await (io.fetch ?? fetch)(url, {
      method,
      headers: { authorization: `Bearer ${config.OPERATOR_TOKEN}`, accept: 'application/json' },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    text = await response.text();
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new CliFailure(`cannot reach the gateway at ${url.origin}: ${reason}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.ok && body !== undefined) return body;
  const message =
    typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string'
      ? (body as { message: string }).message
      : undefined;
  if (response.status === 401) {
    throw new CliFailure('the gateway refused the operator token (HTTP 401); check OPERATOR_TOKEN');
  }
  if (response.status === 404 && message === undefined) {
    throw new CliFailure(
      `the gateway at ${url.origin} serves no operator API (HTTP 404); is OPERATOR_TOKEN set on the gateway?`,
    );
  }
  throw new CliFailure(`${message ?? 'unexpected answer from the gateway'} (HTTP ${response.status})`);
}

/** A Temporal client for one command; `close` is called once the command is done (nothing is left in flight). */
async function withTemporal<T>(io: CliIo, config: CliConfig, use: (client: Client) => Promise<T>): Promise<T> {
  let connection: Connection;
  try {
    connection = await Connection.connect({
      ...temporalConnectionOptions(config),
      connectTimeout: io.connectTimeoutMs ?? 10_000,
    });
  } catch (err) {
    const cause = (err as { cause?: { details?: string } }).cause;
    throw new CliFailure(
      `cannot reach Temporal at ${config.TEMPORAL_ADDRESS}: ${cause?.details ?? (err as Error).message}`,
    );
  }
  try {
    const client = new Client({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      dataConverter: dataConverterFor(config.PAYLOAD_ENCRYPTION_KEY),
    });
    return await use(client);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new CliFailure(`no saga with workflow id ${err.workflowId ?? ''} in ${config.TEMPORAL_NAMESPACE}`);
    }
    throw err;
  } finally {
    await connection.close();
  }
}

/** The operation store the worker uses (DATA_DIR or DATABASE_URL), for one command; closed after it. */
async function withOperations<T>(io: CliIo, config: CliConfig, use: (store: OperationStore) => Promise<T>): Promise<T> {
  const open = io.openOperations ?? openConfiguredOperations;
  const store = await open(config);
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

async function openConfiguredOperations(config: CliConfig): Promise<OperationStore> {
  return openOperationStore({
    DATA_DIR: config.DATA_DIR,
    ...(config.DATABASE_URL !== undefined && { DATABASE_URL: config.DATABASE_URL }),
  });
}

// ---------- start ----------

/** `kind:id[,kind:id…]`: the identifiers of one device. */
function deviceIds(flag: string, value: string): DeviceId[] {
  return value.split(',').map((part) => {
    const at = part.indexOf(':');
    const kind = part.slice(0, at).trim();
    const id = part.slice(at + 1).trim();
    if (at <= 0 || id === '')
      throw usage(`${flag} takes kind:id[,kind:id…], e.g. eid:8904…,iccid:8914…; got '${part}'`);
    return { kind: kind.toLowerCase(), id };
  });
}

interface StartFlags {
  file?: string;
  account?: string;
  out?: string;
  in?: string;
  device?: string[];
  to?: string;
  serviceType?: string;
  changeOption?: string;
  servicePlan?: string;
  serviceName?: string;
  stateName?: string;
  mdnZipCode?: string;
  zipCode?: string;
  npaNxx?: string;
  assignNonGeoMdn?: string;
  smsrOid?: string;
  carrierName?: string;
  carrierIpPoolName?: string;
  stepTimeout?: string;
  failurePolicy?: string;
  operationId?: string;
  devices?: string;
  skipInvalid?: boolean;
  taskQueue: string;
  json?: boolean;
}

/** Flag → request field, and the operations the field belongs to. */
const FIELD_FLAGS: { flag: keyof StartFlags; option: string; field: string; operations: readonly Operation[] }[] = [
  {
    flag: 'account',
    option: '--account',
    field: 'accountName',
    operations: ['eidDeviceSwap', 'changeDeviceIdentifier', 'changeProfileServicePlan', 'activateDeviceProfiles'],
  },
  { flag: 'out', option: '--out', field: 'deviceToSwapOut', operations: ['eidDeviceSwap'] },
  { flag: 'in', option: '--in', field: 'deviceToSwapIn', operations: ['eidDeviceSwap'] },
  {
    flag: 'device',
    option: '--device',
    field: 'devices',
    operations: ['changeDeviceIdentifier', 'changeProfileServicePlan', 'activateDeviceProfiles'],
  },
  { flag: 'to', option: '--to', field: 'deviceIdsTo', operations: ['changeDeviceIdentifier'] },
  { flag: 'serviceType', option: '--service-type', field: 'serviceType', operations: ['changeDeviceIdentifier'] },
  { flag: 'changeOption', option: '--change-option', field: 'change4gOption', operations: ['changeDeviceIdentifier'] },
  {
    flag: 'servicePlan',
    option: '--service-plan',
    field: 'servicePlan',
    operations: ['eidDeviceSwap', 'changeDeviceIdentifier', 'changeProfileServicePlan', 'activateDeviceProfiles'],
  },
  { flag: 'serviceName', option: '--service-name', field: 'serviceName', operations: ['eidDeviceSwap'] },
  { flag: 'stateName', option: '--state-name', field: 'stateName', operations: ['eidDeviceSwap'] },
  {
    flag: 'mdnZipCode',
    option: '--mdn-zip-code',
    field: 'mdnZipCode',
    operations: ['eidDeviceSwap', 'activateDeviceProfiles'],
  },
  { flag: 'zipCode', option: '--zip-code', field: 'zipCode', operations: ['changeDeviceIdentifier'] },
  { flag: 'npaNxx', option: '--npa-nxx', field: 'npaNxx', operations: ['changeDeviceIdentifier'] },
  {
    flag: 'assignNonGeoMdn',
    option: '--assign-non-geo-mdn',
    field: 'assignNonGeoMdn',
    operations: ['changeDeviceIdentifier'],
  },
  {
    flag: 'smsrOid',
    option: '--smsr-oid',
    field: 'smsrOid',
    operations: ['eidDeviceSwap', 'changeDeviceIdentifier', 'activateDeviceProfiles'],
  },
  { flag: 'carrierName', option: '--carrier-name', field: 'carrierName', operations: ['activateDeviceProfiles'] },
  {
    flag: 'carrierIpPoolName',
    option: '--carrier-ip-pool-name',
    field: 'carrierIpPoolName',
    operations: ['eidDeviceSwap', 'activateDeviceProfiles'],
  },
  {
    flag: 'devices',
    option: '--devices',
    field: '',
    operations: ['changeProfileServicePlan', 'activateDeviceProfiles'],
  },
  {
    flag: 'skipInvalid',
    option: '--skip-invalid',
    field: '',
    operations: ['changeProfileServicePlan', 'activateDeviceProfiles'],
  },
  {
    flag: 'operationId',
    option: '--operation-id',
    field: '',
    operations: ['changeDeviceIdentifier', 'changeProfileServicePlan', 'activateDeviceProfiles'],
  },
];

function readRequestFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usage(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw usage(`${path} is not JSON: ${(err as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw usage(`${path} must hold one JSON object, the request`);
  }
  return body as Record<string, unknown>;
}

/** The request from `--file` and the flags (flags win), with the account of changeDeviceIdentifier apart. */
function buildRequest(operation: Operation, flags: StartFlags): { body: Record<string, unknown>; account?: string } {
  const body: Record<string, unknown> = flags.file ? readRequestFile(flags.file) : {};
  for (const { flag, option, field, operations } of FIELD_FLAGS) {
    const value = flags[flag];
    if (value === undefined) continue;
    if (!operations.includes(operation)) throw usage(`${option} does not apply to ${operation}`);
    if (field === '') continue;
    if (flag === 'out' || flag === 'in' || flag === 'to') body[field] = deviceIds(option, value as string);
    else if (flag === 'device') {
      const given = (value as string[]).map((v) => deviceIds(option, v));
      if (operation === 'changeDeviceIdentifier') {
        if (given.length > 1) throw usage('--device names one device for changeDeviceIdentifier');
        body.deviceIds = given[0];
      } else body.devices = given.map((ids) => ({ deviceIds: ids }));
    } else if (flag === 'assignNonGeoMdn') {
      if (value !== 'true' && value !== 'false') throw usage('--assign-non-geo-mdn takes true or false');
      body[field] = value === 'true';
    } else body[field] = value;
  }
  const options: Record<string, unknown> = {};
  if (flags.stepTimeout !== undefined) options.stepTimeout = flags.stepTimeout;
  if (flags.failurePolicy !== undefined) options.failurePolicy = flags.failurePolicy;
  if (Object.keys(options).length > 0) {
    body.options = { ...(body.options as Record<string, unknown> | undefined), ...options };
  }
  if (operation !== 'changeDeviceIdentifier') return { body };
  const { accountName, ...rest } = body;
  return { body: rest, ...(typeof accountName === 'string' && { account: accountName }) };
}

const VALIDATORS: Record<Operation, (input: unknown) => ValidationIssue[]> = {
  eidDeviceSwap: validateEidDeviceSwap,
  changeDeviceIdentifier: validateChangeDeviceIdentifier,
  changeProfileServicePlan: validateChangeProfileServicePlan,
  activateDeviceProfiles: validateActivateDeviceProfiles,
};

function invalid(operation: Operation, issues: ValidationIssue[]): CliFailure {
  const lines = issues.map((issue) => `  ${issue.field}: ${issue.message}`).join('\n');
  return new CliFailure(`invalid ${operation} request, nothing started:\n${lines}`, EXIT.usage, issues);
}

/** Invalid rows of a device file: the first ones by line, and how many there are. */
const PROBLEMS_SHOWN = 20;

function invalidDevices(operation: Operation, checked: CheckedDevices): CliFailure {
  const shown = checked.problems.slice(0, PROBLEMS_SHOWN).map((p) => `  ${describeProblem(p, checked.unit)}`);
  const more = checked.problemCount - shown.length;
  if (more > 0) shown.push(`  … and ${more} more`);
  return new CliFailure(
    `${checked.problemCount} invalid or repeated ${operation} devices, nothing started (--skip-invalid stores them as skipped):\n${shown.join('\n')}`,
    EXIT.usage,
    checked.problems.slice(0, PROBLEMS_SHOWN).map((p) => ({ field: `${checked.unit} ${p.line}`, message: p.message })),
  );
}

/** A progress bar on stderr while devices are stored, when stderr is a terminal. */
function uploadBar(io: CliIo, quiet: boolean) {
  let bar: SingleBar | undefined;
  return {
    onProgress: (progress: { phase: string; done: number; total?: number }) => {
      if (quiet || !io.stderr.isTTY || progress.phase !== 'uploading' || progress.total === undefined) return;
      if (!bar) {
        bar = new SingleBar(
          {
            format: 'storing devices {bar} {value}/{total}',
            stream: io.stderr as NodeJS.WritableStream,
            hideCursor: true,
          },
          Presets.shades_classic,
        );
        bar.start(progress.total, progress.done);
      } else bar.update(progress.done);
    },
    stop: () => bar?.stop(),
  };
}

/** `start <bulk operation> --devices <file>`: check every row, then store the devices and start the saga. */
async function startFromDevices(
  io: CliIo,
  config: CliConfig,
  operation: BulkOperation,
  body: Record<string, unknown>,
  flags: StartFlags & { devices: string },
): Promise<number> {
  if (body.devices !== undefined) {
    throw usage("--devices replaces the request's devices: leave out --device and the devices of --file");
  }
  const issues = validateBulkBody(operation, body);
  if (issues.length > 0) throw invalid(operation, issues);
  let checked: CheckedDevices;
  try {
    checked = await checkDevices(operation, { file: flags.devices }, { skipInvalid: flags.skipInvalid ?? false });
  } catch (err) {
    if (err instanceof DeviceSourceError) throw usage(err.message);
    throw err;
  }
  if (checked.problemCount > 0 && !flags.skipInvalid) throw invalidDevices(operation, checked);

  const bar = uploadBar(io, flags.json ?? false);
  const started = await withTemporal(io, config, (client) =>
    withOperations(io, config, async (store) => {
      try {
        return await startBulkOperation(
          client,
          store,
          operation,
          body as unknown as BulkBody<typeof operation>,
          checked,
          {
            taskQueue: flags.taskQueue,
            ...(flags.operationId !== undefined && { operationId: flags.operationId }),
            onProgress: bar.onProgress,
          },
        );
      } catch (err) {
        if (err instanceof InvalidRequestError) throw invalid(operation, err.issues);
        if (err instanceof InvalidDevicesError) throw invalidDevices(operation, err.checked);
        if (err instanceof OperationConflictError || err instanceof DeviceSourceError) throw usage(err.message);
        throw err;
      } finally {
        bar.stop();
      }
    }),
  );
  const { total, skipped, uploaded } = started.devices;
  const runId = (started as { firstExecutionRunId?: string }).firstExecutionRunId;
  if (flags.json) {
    io.stdout.write(
      `${JSON.stringify({ operation, workflowId: started.workflowId, operationId: started.operationId, devices: total, skipped, uploaded, ...(runId && { runId }) })}\n`,
    );
  } else {
    const id = started.workflowId;
    io.stdout.write(
      `${operation} saga ${id} started (or found: the same devices and request always map to this saga).\n` +
        `Devices: ${total} ${uploaded ? 'stored' : 'already stored'}${skipped > 0 ? `, ${skipped} of them skipped (euicc results '${id}' --state skipped)` : ''}.\n` +
        `Follow it: euicc status '${id}' --watch\n` +
        `Each device's outcome: euicc results '${id}'\n`,
    );
  }
  return EXIT.ok;
}

async function startOperation(io: CliIo, config: CliConfig, operation: Operation, flags: StartFlags): Promise<number> {
  const { body, account } = buildRequest(operation, flags);
  if (flags.devices !== undefined) {
    return startFromDevices(io, config, operation as BulkOperation, body, { ...flags, devices: flags.devices });
  }
  if (flags.skipInvalid) throw usage('--skip-invalid applies to the devices of --devices <file>');
  const issues = VALIDATORS[operation](body);
  if (operation === 'changeDeviceIdentifier' && !account) {
    issues.unshift({ field: 'accountName', message: 'accountName (--account) is required: the account of the device' });
  }
  if (issues.length > 0) throw invalid(operation, issues);

  const started = await withTemporal(io, config, async (client) => {
    const queue = { taskQueue: flags.taskQueue };
    const id = flags.operationId !== undefined ? { operationId: flags.operationId } : {};
    try {
      switch (operation) {
        case 'eidDeviceSwap':
          return await startEidDeviceSwap(client, body as unknown as EidDeviceSwapRequest, queue);
        case 'changeDeviceIdentifier':
          return await startChangeDeviceIdentifier(
            client,
            account as string,
            body as unknown as ChangeDeviceIdentifierRequest,
            { ...queue, ...id },
          );
        case 'changeProfileServicePlan':
          return await startChangeProfileServicePlan(client, body as unknown as ChangeProfileServicePlanRequest, {
            ...queue,
            ...id,
          });
        case 'activateDeviceProfiles':
          return await startActivateDeviceProfiles(client, body as unknown as ActivateDeviceProfilesRequest, {
            ...queue,
            ...id,
          });
      }
    } catch (err) {
      if (err instanceof InvalidRequestError) throw invalid(operation, err.issues);
      throw err;
    }
  });
  // A start that found the saga already running has no first run id to give.
  const runId = (started as { firstExecutionRunId?: string }).firstExecutionRunId;
  if (flags.json) {
    io.stdout.write(`${JSON.stringify({ operation, workflowId: started.workflowId, ...(runId && { runId }) })}\n`);
  } else {
    io.stdout.write(
      `${operation} saga ${started.workflowId} started (or found: the same request always maps to this saga).\n` +
        `Follow it: euicc status '${started.workflowId}' --watch\n`,
    );
  }
  return EXIT.ok;
}

// ---------- status ----------

function isBulk(view: SagaView): view is SagaView & { status: BulkStatus } {
  return view.status !== undefined && 'counts' in view.status;
}

/** One line: where the saga is now (what `--watch` prints on each change). */
function summaryLine(view: SagaView): string {
  const status = view.status;
  if (!status) return `${view.execution}  (status not available: ${view.statusError ?? 'unknown'})`;
  if (isBulk(view)) {
    const c = view.status.counts;
    const done = c.succeeded + c.failed + c.noAnswer;
    return `${status.phase}  ${done}/${c.total} devices done (succeeded ${c.succeeded}, failed ${c.failed}, no answer ${c.noAnswer})`;
  }
  if ('steps' in status) {
    return `${status.phase}  ${SWAP_STEPS.map((step) => `${step}: ${status.steps[step].state}`).join(', ')}`;
  }
  if ('step' in status) return `${status.phase}  identifier change: ${status.step.state}`;
  return (status as { phase: string }).phase;
}

function statusText(view: SagaView): string {
  const rows: [string, string][] = [
    ['saga', `${view.workflowId} (${view.type}, run ${view.runId})`],
    ['execution', `${view.execution}, started ${view.startTime}${view.closeTime ? `, closed ${view.closeTime}` : ''}`],
  ];
  const status = view.status;
  if (status) {
    rows.push(['phase', status.phase]);
    if ('requestId' in status && status.requestId) rows.push(['request id', status.requestId]);
    if (isBulk(view)) {
      const c = view.status.counts;
      rows.push([
        'devices',
        `${c.total}: succeeded ${c.succeeded}, failed ${c.failed}, no answer ${c.noAnswer}, pending ${c.pending}`,
      ]);
      const s = view.status.shards;
      rows.push(['shards', `${s.completed}/${s.total} completed, ${s.running} running, round ${s.round}`]);
      if (view.status.awaitingDecision) {
        const held = view.status.awaitingDecision;
        rows.push(['held', `${held.failed} failed, ${held.noAnswer} without answer, since ${held.since}`]);
      }
    } else if ('steps' in status) {
      rows.push(['steps', SWAP_STEPS.map((step) => `${step}: ${status.steps[step].state}`).join(', ')]);
    } else if ('step' in status) {
      rows.push(['step', `identifier change: ${status.step.state}`]);
    }
    if ('awaitingDecision' in status && status.awaitingDecision && 'failure' in status.awaitingDecision) {
      const held = status.awaitingDecision;
      rows.push(['held', `${held.failure.type}: ${held.failure.message} (since ${held.since})`]);
    }
  } else {
    rows.push(['status', `not available: ${view.statusError ?? 'unknown'}`]);
  }
  if (view.failure) rows.push(['failure', `${view.failure.type ?? 'Error'}: ${view.failure.message}`]);
  if (status?.phase === 'awaitingDecision') {
    rows.push(['next', `euicc decide '${view.workflowId}' retry|abandon|compensate --operator <you> --reason <why>`]);
  }
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n') + '\n';
}

async function showStatus(
  io: CliIo,
  config: CliConfig,
  workflowId: string,
  flags: { watch?: boolean; interval: string; json?: boolean },
): Promise<number> {
  const intervalMs = Number(flags.interval);
  if (!Number.isInteger(intervalMs) || intervalMs < 100) throw usage('--interval takes milliseconds, at least 100');
  return withTemporal(io, config, async (client) => {
    if (!flags.watch) {
      const view = await statusOf(client, workflowId);
      io.stdout.write(flags.json ? `${JSON.stringify(view)}\n` : statusText(view));
      return EXIT.ok;
    }
    let last = '';
    let bar: SingleBar | undefined;
    const final = await watchSaga(
      client,
      workflowId,
      (view) => {
        if (flags.json) {
          const line = JSON.stringify(view);
          if (line !== last) io.stdout.write(`${line}\n`);
          last = line;
          return;
        }
        if (isBulk(view) && io.stdout.isTTY) {
          const c = view.status.counts;
          const done = c.succeeded + c.failed + c.noAnswer;
          if (!bar) {
            bar = new SingleBar(
              {
                format: '{bar} {value}/{total} devices | {phase} | failed {failed}, no answer {noAnswer}',
                stream: io.stdout as NodeJS.WritableStream,
                hideCursor: true,
              },
              Presets.shades_classic,
            );
            bar.start(c.total, done, { phase: view.status.phase, failed: c.failed, noAnswer: c.noAnswer });
          } else {
            bar.setTotal(c.total);
            bar.update(done, { phase: view.status.phase, failed: c.failed, noAnswer: c.noAnswer });
          }
          return;
        }
        const line = summaryLine(view);
        if (line !== last) io.stdout.write(`${line}\n`);
        last = line;
      },
      { intervalMs },
    );
    (bar as SingleBar | undefined)?.stop();
    if (!flags.json) io.stdout.write(statusText(final));
    if (final.execution === 'COMPLETED') return EXIT.ok;
    if (!flags.json) {
      io.stderr.write(
        sagaSettled(final) && final.execution === 'RUNNING'
          ? 'euicc: the saga holds for an operator decision\n'
          : `euicc: the saga ended ${final.execution}\n`,
      );
    }
    return EXIT.notCompleted;
  });
}

// ---------- results ----------

const RESULT_COLUMNS = ['position', 'device', 'state', 'code', 'message', 'requestId', 'confirmedBy'] as const;

/** A CSV cell, quoted when it holds a comma, a quote or a line break (RFC 4180). */
function csvCell(value: string | number | undefined): string {
  const text = value === undefined ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One device's row of `euicc results --format csv`: its identifiers as `kind:id`, joined by `;`. */
export function resultCsvRow(result: DeviceResult): string {
  const device = result.device.deviceIds.map(({ kind, id }) => `${kind}:${id}`).join(';');
  return (
    [result.position, device, result.state, result.code, result.message, result.requestId, result.confirmedBy]
      .map(csvCell)
      .join(',') + '\n'
  );
}

/** Writes and, when the stream says it is full, waits for it to drain: a million rows never pile up in memory. */
async function write(stream: CliIo['stdout'], text: string): Promise<void> {
  const drains = stream as { once?: (event: 'drain', listener: () => void) => unknown };
  if (stream.write(text) === false && typeof drains.once === 'function') {
    await new Promise<void>((resolve) => drains.once?.('drain', resolve));
  }
}

async function showResults(
  io: CliIo,
  config: CliConfig,
  operationId: string,
  flags: { state?: DeviceState; format: 'csv' | 'jsonl'; json?: boolean },
): Promise<number> {
  const format = flags.json ? 'jsonl' : flags.format;
  return withOperations(io, config, async (store) => {
    if ((await store.getOperation(operationId)) === undefined) {
      throw new CliFailure(
        `no operation ${operationId} in the operation store (${config.DATABASE_URL ? 'DATABASE_URL' : `DATA_DIR ${config.DATA_DIR}`})`,
      );
    }
    let page = format === 'csv' ? `${RESULT_COLUMNS.join(',')}\n` : '';
    let rows = 0;
    for await (const result of results(store, operationId, flags.state ? { state: flags.state } : {})) {
      page += format === 'csv' ? resultCsvRow(result) : `${JSON.stringify(result)}\n`;
      if (++rows % 1_000 === 0) {
        await write(io.stdout, page);
        page = '';
      }
    }
    if (page !== '') await write(io.stdout, page);
    return EXIT.ok;
  });
}

// ---------- doctor ----------

function doctorText(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.check.length));
  const mark = { pass: '✓', fail: '✗', skip: '-' } as const;
  return results.map((r) => `${mark[r.status]} ${r.check.padEnd(width)}  ${r.detail}`).join('\n') + '\n';
}

// ---------- the program ----------

/** The commands, as `euicc --help` lists them (the README names each). */
export function buildProgram(
  io: CliIo,
  run: (task: (config: CliConfig) => Promise<number>) => Promise<void>,
  asJson = false,
): Command {
  const program = new Command('euicc')
    .description("The operators' console: start, follow and decide sagas, check a deployment, operate the inbox.")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => {
        const message = text.replace(/^error: /, '').trimEnd();
        write(asJson ? `${JSON.stringify({ error: message, exitCode: EXIT.usage })}\n` : `euicc: ${message}\n`);
      },
    })
    .showHelpAfterError(asJson ? false : "Run 'euicc --help' for the commands, 'euicc <command> --help' for one.")
    .addHelpText(
      'after',
      `
Environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, PAYLOAD_ENCRYPTION_KEY (start, status, decide, doctor);
DATA_DIR or DATABASE_URL, the worker's operation store (start --devices, results);
GATEWAY_URL and OPERATOR_TOKEN (callbacks, callback, replay, counts; doctor reads GATEWAY_URL/readyz);
THINGSPACE_* and CALLBACK_PUBLIC_URL (doctor). See docs/configuration.md.

Exit status: 0 done; 1 a service refused or could not be reached, or a doctor check failed;
2 usage error or invalid request (nothing done); 3 the decision was refused (or the saga has ended);
4 status --watch: the saga ended without completing, or holds for a decision.
`,
    );
  const json = (command: Command) => command.option('--json', 'print JSON, for scripts');

  json(
    program
      .command('start')
      .description('start an operation from a JSON request (--file) and/or flags; validated first')
      .addArgument(new Argument('<operation>', 'the operation').choices(OPERATIONS))
      .option('-f, --file <path>', 'the request as JSON, field names as on its ThingSpace page')
      .option('--account <name>', 'accountName')
      .option('--out <kind:id,…>', 'eidDeviceSwap: deviceToSwapOut')
      .option('--in <kind:id,…>', 'eidDeviceSwap: deviceToSwapIn')
      .option(
        '--device <kind:id,…>',
        'a device (repeat for bulk operations; changeDeviceIdentifier: deviceIds)',
        (value: string, previous: string[] = []) => [...previous, value],
      )
      .option('--to <kind:id,…>', 'changeDeviceIdentifier: deviceIdsTo')
      .option('--service-type <3g|4g>', 'changeDeviceIdentifier: serviceType')
      .option('--change-option <option>', 'changeDeviceIdentifier: change4gOption')
      .option('--service-plan <plan>', 'servicePlan')
      .option('--service-name <name>', 'eidDeviceSwap: serviceName')
      .option('--state-name <name>', 'eidDeviceSwap: stateName')
      .option('--mdn-zip-code <zip>', 'mdnZipCode')
      .option('--zip-code <zip>', 'changeDeviceIdentifier: zipCode')
      .option('--npa-nxx <digits>', 'changeDeviceIdentifier: npaNxx')
      .option('--assign-non-geo-mdn <true|false>', 'changeDeviceIdentifier: assignNonGeoMdn')
      .option('--smsr-oid <oid>', 'smsrOid')
      .option('--carrier-name <name>', 'activateDeviceProfiles: carrierName')
      .option('--carrier-ip-pool-name <name>', 'carrierIpPoolName')
      .option('--step-timeout <duration>', "options.stepTimeout, e.g. '4 hours'")
      .addOption(new Option('--failure-policy <policy>', 'options.failurePolicy').choices(FAILURE_POLICIES))
      .option('--operation-id <id>', 'your id for the operation (default: a digest of the request)')
      .option('--devices <file>', 'bulk operations: the devices, .csv (header of kinds) or .jsonl, kept in the store')
      .option('--skip-invalid', 'with --devices: store invalid and repeated rows as skipped instead of refusing')
      .option('--task-queue <name>', 'the task queue the workers poll', TASK_QUEUE),
  ).action((operation: Operation, flags: StartFlags) => run((config) => startOperation(io, config, operation, flags)));

  json(
    program
      .command('status')
      .description('where a saga stands; --watch follows it to its end (a progress bar for bulk operations)')
      .argument('<workflowId>', 'the saga')
      .option('-w, --watch', 'follow it until it ends or holds for a decision')
      .option('--interval <ms>', 'between two reads while watching', '500'),
  ).action((workflowId: string, flags: { watch?: boolean; interval: string; json?: boolean }) =>
    run((config) => showStatus(io, config, workflowId, flags)),
  );

  json(
    program
      .command('results')
      .description("each device's outcome of a bulk operation started with --devices, streamed (CSV or JSON lines)")
      .argument('<operationId>', 'the operation: its workflow id, as start printed it')
      .addOption(new Option('--state <state>', 'only devices in this state').choices(DEVICE_STATES))
      .addOption(
        new Option('--format <format>', 'csv or jsonl (--json: jsonl)').choices(['csv', 'jsonl']).default('csv'),
      ),
  ).action((operationId: string, flags: { state?: DeviceState; format: 'csv' | 'jsonl'; json?: boolean }) =>
    run((config) => showResults(io, config, operationId, flags)),
  );

  json(
    program
      .command('decide')
      .description('decide for a held saga (the decide update); a refusal is printed with its reason')
      .argument('<workflowId>', 'the saga')
      .addArgument(new Argument('<decision>', 'the decision').choices(DECISIONS))
      .requiredOption('--operator <name>', 'who decides')
      .option('--reason <text>', 'why'),
  ).action(
    (
      workflowId: string,
      decision: (typeof DECISIONS)[number],
      flags: { operator: string; reason?: string; json?: boolean },
    ) =>
      run((config) =>
        withTemporal(io, config, async (client) => {
          try {
            const outcome = await decide(client, workflowId, {
              decision,
              operator: flags.operator,
              ...(flags.reason !== undefined && { reason: flags.reason }),
            });
            io.stdout.write(
              flags.json
                ? `${JSON.stringify(outcome)}\n`
                : `${workflowId} took ${decision} from ${flags.operator}; it is now ${outcome.phase}.\n`,
            );
            return EXIT.ok;
          } catch (err) {
            if (err instanceof DecisionRefusedError) {
              throw new CliFailure(`the saga refused the decision: ${err.reason}`, EXIT.refused);
            }
            // Temporal answers an update to a closed saga as if there were no saga: say which it is.
            if (err instanceof WorkflowNotFoundError) {
              const closed = await client.workflow
                .getHandle(workflowId)
                .describe()
                .then((described) => described.status.name)
                .catch(() => undefined);
              if (closed !== undefined && closed !== 'RUNNING') {
                throw new CliFailure(`the saga has ended (${closed}); it takes no decision`, EXIT.refused);
              }
            }
            throw err;
          }
        }),
      ),
  );

  json(
    program
      .command('doctor')
      .description('check a deployment with read-only calls: Temporal, worker, gateway, ThingSpace, payload key')
      .option('--task-queue <name>', 'the task queue whose workers are checked', TASK_QUEUE),
  ).action((flags: { taskQueue: string; json?: boolean }) =>
    run(async (config) => {
      const results = await doctor(config, { taskQueue: flags.taskQueue, ...(io.fetch && { fetch: io.fetch }) });
      const ok = results.every((r) => r.status !== 'fail');
      io.stdout.write(flags.json ? `${JSON.stringify({ ok, checks: results })}\n` : doctorText(results));
      return ok ? EXIT.ok : EXIT.failed;
    }),
  );

  json(
    program
      .command('callbacks')
      .description("list callbacks in the gateway's inbox (default: parked, 100)")
      .option('--state <state>', 'parked, deadLetter, orphaned, pending or delivered')
      .option('--limit <n>', '1 to 1000'),
  ).action((flags: { state?: string; limit?: string; json?: boolean }) =>
    run(async (config) => {
      const query: Record<string, string> = {};
      if (flags.state !== undefined) query.state = flags.state;
      if (flags.limit !== undefined) query.limit = flags.limit;
      const listing = (await operatorApi(io, config, 'GET', 'callbacks', query)) as {
        state: string;
        callbacks: CallbackSummary[];
      };
      io.stdout.write(flags.json ? `${JSON.stringify(listing)}\n` : callbacksTable(listing.state, listing.callbacks));
      return EXIT.ok;
    }),
  );

  json(
    program.command('callback').description('one callback with its body, as JSON').argument('<id>', 'its inbox id'),
  ).action((id: string, flags: { json?: boolean }) =>
    run(async (config) => {
      const record = await operatorApi(io, config, 'GET', `callbacks/${encodeURIComponent(id)}`);
      io.stdout.write(flags.json ? `${JSON.stringify(record)}\n` : `${JSON.stringify(record, null, 2)}\n`);
      return EXIT.ok;
    }),
  );

  json(
    program
      .command('replay')
      .description('put a parked, dead-letter or orphaned callback back to pending, to be correlated again')
      .argument('<id>', 'its inbox id'),
  ).action((id: string, flags: { json?: boolean }) =>
    run(async (config) => {
      const replayed = (await operatorApi(io, config, 'POST', `callbacks/${encodeURIComponent(id)}/replay`)) as {
        id: number;
      };
      io.stdout.write(
        flags.json
          ? `${JSON.stringify(replayed)}\n`
          : `Callback ${replayed.id} is pending again; the gateway will correlate and signal it.\n`,
      );
      return EXIT.ok;
    }),
  );

  json(program.command('counts').description('the inbox counters')).action((flags: { json?: boolean }) =>
    run(async (config) => {
      const counts = (await operatorApi(io, config, 'GET', 'counts')) as Record<string, number>;
      io.stdout.write(
        flags.json
          ? `${JSON.stringify(counts)}\n`
          : table(
              ['COUNTER', 'VALUE'],
              Object.entries(counts).map(([name, value]) => [name, String(value)]),
            ),
      );
      return EXIT.ok;
    }),
  );
  return program;
}

/** The command names, in the order `euicc --help` lists them. */
export function commandNames(): string[] {
  const io: CliIo = { env: {}, stdout: { write: () => undefined }, stderr: { write: () => undefined } };
  return buildProgram(io, async () => undefined).commands.map((command) => command.name());
}

/** Runs one CLI command; resolves with the process exit status (EXIT). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const asJson = argv.includes('--json');
  let code: number = EXIT.ok;
  const report = (err: CliFailure | ConfigError) => {
    const exitCode = err instanceof CliFailure ? err.exitCode : EXIT.failed;
    if (asJson) {
      const issues = err instanceof CliFailure && err.issues ? { issues: err.issues } : {};
      io.stderr.write(`${JSON.stringify({ error: err.message.split('\n')[0], exitCode, ...issues })}\n`);
    } else {
      io.stderr.write(`euicc: ${err.message}\n`);
    }
    return exitCode;
  };
  const program = buildProgram(
    io,
    async (task) => {
      // The configuration is read when a command runs, so --help and usage errors need none.
      code = await task(parseConfig(cliSchema, io.env));
    },
    asJson,
  );
  if (argv.length === 0) {
    io.stderr.write(`euicc: no command given\n\n${program.helpInformation()}`);
    return EXIT.usage;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof CliFailure || err instanceof ConfigError) return report(err);
    // Anything else (a Temporal error, say) is still one line, not a stack trace.
    return report(new CliFailure((err as Error).message ?? String(err)));
  }
}

// `npm run euicc` runs this file directly; bin/euicc.js imports it and calls runCli itself.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await runCli(process.argv.slice(2), {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
  });
}
