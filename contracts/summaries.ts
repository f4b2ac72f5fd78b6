/**
 * What the Temporal UI shows of a saga: a one-line summary and a short markdown description of the
 * request, set at start, and the markdown of where its steps stand, kept up to date by the saga.
 * Identifiers are shortened to their last four characters; no name, address or credential ever appears.
 * Pure: shared by the client (static summary and details) and the workflows (current details).
 */
import type {
  ActivateDeviceProfilesInput,
  ChangeDeviceIdentifierRequest,
  ChangeProfileServicePlanInput,
  DeviceId,
  EidDeviceSwapRequest,
  StepState,
} from './types.js';

/** `…9234`: an identifier by its last four characters. */
export function shortId(id: string | undefined): string {
  return id === undefined ? '?' : `…${id.slice(-4)}`;
}

const idOf = (ids: DeviceId[] | undefined, kind: string) => ids?.find((d) => d.kind.toLowerCase() === kind)?.id;
const devicesLine = (ids: DeviceId[] | undefined) =>
  (ids ?? []).map((d) => `${d.kind.toLowerCase()} ${shortId(d.id)}`).join(', ') || 'none';
const count = (n: number) => n.toLocaleString('en-US');

/** A markdown table of `[field, value]` rows; values that are undefined are left out. */
function table(rows: [string, string | number | undefined][]): string {
  const kept = rows.filter(([, value]) => value !== undefined && value !== '');
  return ['| field | value |', '| --- | --- |', ...kept.map(([field, value]) => `| ${field} | ${value} |`)].join('\n');
}

export interface SagaSummary {
  /** One line, for the workflow list. */
  summary: string;
  /** Markdown: the request without personal data. */
  details: string;
}

export function swapSummary(request: EidDeviceSwapRequest): SagaSummary {
  const out = request.deviceToSwapOut;
  const summary =
    `Swap MDN ${shortId(idOf(out, 'mdn'))}: EID ${shortId(idOf(out, 'eid'))} → ` +
    `${shortId(idOf(request.deviceToSwapIn, 'eid'))} (account ${request.accountName})`;
  const details = table([
    ['operation', 'eidDeviceSwap'],
    ['account', request.accountName],
    ['device to swap out', devicesLine(out)],
    ['device to swap in', devicesLine(request.deviceToSwapIn)],
    ['service / state', `${request.serviceName} / ${request.stateName}`],
    ['service plan', request.servicePlan],
    ['failure policy', request.options?.failurePolicy ?? 'hold'],
    ['step timeout', request.options?.stepTimeout ?? '2 hours'],
  ]);
  return { summary, details };
}

export function identifierChangeSummary(request: ChangeDeviceIdentifierRequest, account?: string): SagaSummary {
  const from = devicesLine(request.deviceIds);
  const to = request.deviceIdsTo?.length ? ` → ${devicesLine(request.deviceIdsTo)}` : ' (new number)';
  const summary = `${request.change4gOption ?? 'Change identifier'} of ${from}${to}${account ? ` (account ${account})` : ''}`;
  const details = table([
    ['operation', 'changeDeviceIdentifier'],
    ['account', account],
    ['change', request.change4gOption],
    ['service type', request.serviceType],
    ['device', from],
    ['new identifiers', request.deviceIdsTo?.length ? devicesLine(request.deviceIdsTo) : undefined],
    ['service plan', request.servicePlan],
    ['failure policy', request.options?.failurePolicy ?? 'hold'],
    ['step timeout', request.options?.stepTimeout ?? '2 hours'],
  ]);
  return { summary, details };
}

/** Devices of a bulk request, inline or in the store. */
const deviceCount = (request: { devices?: unknown[] } | { deviceSet?: { count?: number } }): number =>
  ('devices' in request && Array.isArray(request.devices) ? request.devices.length : undefined) ??
  ('deviceSet' in request ? request.deviceSet?.count : undefined) ??
  0;

export function planChangeSummary(request: ChangeProfileServicePlanInput): SagaSummary {
  const devices = deviceCount(request);
  return {
    summary: `Plan change to ${request.servicePlan}: ${count(devices)} devices (account ${request.accountName})`,
    details: table([
      ['operation', 'changeProfileServicePlan'],
      ['account', request.accountName],
      ['service plan', request.servicePlan],
      ['devices', count(devices)],
      ['shard size', request.options?.shardSize],
      ['failure policy', request.options?.failurePolicy ?? 'hold'],
    ]),
  };
}

export function activationSummary(request: ActivateDeviceProfilesInput): SagaSummary {
  const devices = deviceCount(request);
  const plan = request.servicePlan ? ` on ${request.servicePlan}` : '';
  return {
    summary: `Activate ${count(devices)} eUICC profiles${plan} (account ${request.accountName})`,
    details: table([
      ['operation', 'activateDeviceProfiles'],
      ['account', request.accountName],
      ['service plan', request.servicePlan],
      ['devices', count(devices)],
      // The place of use is a name and an address: only whether one was given.
      ['primary place of use', request.primaryPlaceOfUse ? 'given (not shown)' : undefined],
      ['shard size', request.options?.shardSize],
      ['failure policy', request.options?.failurePolicy ?? 'hold'],
    ]),
  };
}

/** The current details of a saga over one request: its phase and a table of its steps. */
export function stepDetails(
  title: string,
  phase: string,
  steps: Record<string, StepState>,
  counts: { callbacks: number; duplicates: number; requestId?: string },
): string {
  const rows = Object.entries(steps).map(
    ([step, s]) =>
      `| ${step} | ${s.state} | ${s.confirmedBy ?? (s.fault ? `${s.fault.code}` : '')} | ${s.at?.slice(11, 19) ?? ''} |`,
  );
  return [
    `**${title}**: ${phase}${counts.requestId ? `, request ${counts.requestId}` : ''}`,
    '',
    '| step | state | by / fault | at (UTC) |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    `${counts.callbacks} callbacks received, ${counts.duplicates} duplicates ignored.`,
  ].join('\n');
}

/** The summary of a saga's start by its workflow type; undefined for a type that has none (a shard). */
export function sagaSummary(type: string, body: unknown): SagaSummary | undefined {
  const options = (body as { options?: { accountName?: unknown } }).options;
  switch (type) {
    case 'eidDeviceSwap':
      return swapSummary(body as EidDeviceSwapRequest);
    case 'changeDeviceIdentifier': {
      const account = typeof options?.accountName === 'string' ? options.accountName : undefined;
      return identifierChangeSummary(body as ChangeDeviceIdentifierRequest, account);
    }
    case 'changeProfileServicePlan':
      return planChangeSummary(body as ChangeProfileServicePlanInput);
    case 'activateDeviceProfiles':
      return activationSummary(body as ActivateDeviceProfilesInput);
    default:
      return undefined;
  }
}
