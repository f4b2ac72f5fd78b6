/**
 * Everything a simulator instance holds, with its options and their defaults. One instance per
 * `createSimulator`: no module-level state, so tests can run several side by side.
 */
import { pino, type Logger } from 'pino';
import { ActedLedger } from './acted.js';
import { AuthState, type Credentials } from './auth.js';
import { CallbackRegistry } from './registrations.js';
import type { ChangeIdentifierRecord } from '../operations/change-device-identifier/types.js';
import { CallbackDispatcher, type DeliveryTiming, type RetryMode } from './delivery.js';
import { Inventory, loadFixture, type SimulatorFixture } from './devices/inventory.js';
import { FaultState } from './faults.js';
import type { SwapRecord } from '../operations/eid-device-swap/types.js';
import { ProfileState } from '../operations/profiles/state.js';
import { SeededRandom } from './random.js';
import { sendStrayCallbacks, type StrayTrigger } from './stray.js';

/** Every option has a default; tests shrink the delays and inject a clock. */
export interface SimulatorOptions extends Partial<Credentials> {
  /** Seed of request ids, new ICCIDs/MDNs and fault rolls. Default 1. */
  seed?: number;
  /** Accounts and devices; default the bundled fixtures/devices.json. */
  fixture?: SimulatorFixture;
  /** Session idle timeout; default 20 minutes (thingspace-api-notes.md). */
  sessionIdleMs?: number;
  /** OAuth token lifetime; default 1 hour. */
  tokenLifetimeMs?: number;
  /** Consecutive failed logins that lock an account; default 5. */
  maxFailedLogins?: number;
  /** Delay before the first callback of an operation and between its callbacks; default 500 ms. */
  callbackDelayMs?: number;
  /** Wait before re-sending a refused callback; default 1500 ms (observed). */
  retryIntervalMs?: number;
  /** Unanswered time after which the next attempt is sent; default 4000 ms (observed). */
  attemptTimeoutMs?: number;
  /** `threshold` (default): up to 4 attempts; `observed`: one fast retry only. */
  callbackRetry?: RetryMode;
  /** Wait between an acknowledged callback and an injected duplicate; default 0. */
  duplicateDelayMs?: number;
  /** Largest page of the device list; default 500. */
  devicePageSize?: number;
  /** Activation requests (`/devices/profile/actions/activate`) per account per minute; default 100. */
  activationRateLimitPerMinute?: number;
  /** Profile callbacks handed to the dispatcher per second, at most; default 200 (`Infinity`: no limit). */
  profileCallbacksPerSecond?: number;
  /** Profile callbacks whose first attempt may be unanswered at once; default 100. */
  profileCallbacksInFlight?: number;
  /** Clock for token and session lifetimes and timestamps; default Date.now. */
  now?: () => number;
  logger?: Logger;
}

export interface ResolvedOptions extends Credentials {
  seed: number;
  fixture: SimulatorFixture;
  sessionIdleMs: number;
  tokenLifetimeMs: number;
  maxFailedLogins: number;
  callbackDelayMs: number;
  retryIntervalMs: number;
  attemptTimeoutMs: number;
  callbackRetry: RetryMode;
  duplicateDelayMs: number;
  devicePageSize: number;
  activationRateLimitPerMinute: number;
  profileCallbacksPerSecond: number;
  profileCallbacksInFlight: number;
  now: () => number;
  logger: Logger;
}

export const DEFAULT_CREDENTIALS: Credentials = {
  clientId: 'sim-client-id',
  clientSecret: 'sim-client-secret',
  username: 'sim-user',
  password: 'sim-password',
};

export function resolveOptions(options: SimulatorOptions): ResolvedOptions {
  return {
    clientId: options.clientId ?? DEFAULT_CREDENTIALS.clientId,
    clientSecret: options.clientSecret ?? DEFAULT_CREDENTIALS.clientSecret,
    username: options.username ?? DEFAULT_CREDENTIALS.username,
    password: options.password ?? DEFAULT_CREDENTIALS.password,
    seed: options.seed ?? 1,
    fixture: options.fixture ?? loadFixture(),
    sessionIdleMs: options.sessionIdleMs ?? 20 * 60_000,
    tokenLifetimeMs: options.tokenLifetimeMs ?? 60 * 60_000,
    maxFailedLogins: options.maxFailedLogins ?? 5,
    callbackDelayMs: options.callbackDelayMs ?? 500,
    retryIntervalMs: options.retryIntervalMs ?? 1500,
    attemptTimeoutMs: options.attemptTimeoutMs ?? 4000,
    callbackRetry: options.callbackRetry ?? 'threshold',
    duplicateDelayMs: options.duplicateDelayMs ?? 0,
    devicePageSize: options.devicePageSize ?? 500,
    activationRateLimitPerMinute: options.activationRateLimitPerMinute ?? 100,
    profileCallbacksPerSecond: options.profileCallbacksPerSecond ?? 200,
    profileCallbacksInFlight: options.profileCallbacksInFlight ?? 100,
    now: options.now ?? Date.now,
    logger: options.logger ?? pino({ level: 'silent' }),
  };
}

/** One API request as the control API reports it: no headers, no bodies, so no secrets. */
export interface RequestLogEntry {
  operation: string;
  method: string;
  path: string;
  status: number;
  at: string;
}

const LOG_LIMIT = 10_000;
/** The oldest entries go a thousand at a time: dropping one per entry would move the whole log each time. */
const LOG_SLACK = 1_000;

export class SimulatorState {
  readonly options: ResolvedOptions;
  readonly auth: AuthState;
  readonly registry = new CallbackRegistry();
  readonly dispatcher: CallbackDispatcher;
  readonly faults = new FaultState();
  readonly inventory: Inventory;
  readonly random: SeededRandom;
  readonly operations: SwapRecord[] = [];
  /** Accepted `PUT /devices/{serviceType}/actions/deviceId` requests. */
  readonly changeIdentifierRequests: ChangeIdentifierRecord[] = [];
  readonly requestLog: RequestLogEntry[] = [];
  /** Which devices accepted operations acted on (`GET /__sim/acted`). */
  readonly acted = new ActedLedger();
  /** Bulk eSIM profile requests, their rate limit and their paced callbacks. */
  readonly profiles: ProfileState;
  /** Last sequence number used per prefix by `POST /__sim/devices/generate`. */
  readonly generatedSequences = new Map<string, number>();
  seed: number;

  constructor(options: SimulatorOptions) {
    this.options = resolveOptions(options);
    const now = this.options.now;
    this.seed = this.options.seed;
    this.random = new SeededRandom(this.seed);
    this.auth = new AuthState({
      credentials: this.options,
      tokenLifetimeMs: this.options.tokenLifetimeMs,
      sessionIdleMs: this.options.sessionIdleMs,
      maxFailedLogins: this.options.maxFailedLogins,
      now,
    });
    this.inventory = new Inventory(this.options.fixture, now);
    this.dispatcher = new CallbackDispatcher({ registry: this.registry, now, logger: this.options.logger });
    this.profiles = new ProfileState({
      dispatcher: this.dispatcher,
      logger: this.options.logger,
      activationRateLimitPerMinute: this.options.activationRateLimitPerMinute,
      callbacksPerSecond: this.options.profileCallbacksPerSecond,
      callbacksInFlight: this.options.profileCallbacksInFlight,
    });
  }

  now(): number {
    return this.options.now();
  }

  /** Callback delay: the `callbacks.delayMs` fault if set, else the option. */
  callbackDelayMs(): number {
    return this.faults.callbacks.delayMs ?? this.options.callbackDelayMs;
  }

  /** Delivery timing: the options, overridden by whatever the `callbacks` fault sets. */
  deliveryTiming(): DeliveryTiming {
    const f = this.faults.callbacks;
    return {
      retry: f.retry ?? this.options.callbackRetry,
      retryIntervalMs: f.retryIntervalMs ?? this.options.retryIntervalMs,
      attemptTimeoutMs: f.attemptTimeoutMs ?? this.options.attemptTimeoutMs,
      duplicateDelayMs: f.duplicateDelayMs ?? this.options.duplicateDelayMs,
      credentialLagMs: f.credentialLagMs ?? 0,
    };
  }

  /** Stray callbacks for the devices of an accepted request, under the `strayCallbacks` profile. */
  strayCallbacks(accountName: string, trigger: StrayTrigger): Promise<void> {
    return sendStrayCallbacks(this, accountName, trigger);
  }

  logRequest(entry: RequestLogEntry): void {
    this.requestLog.push(entry);
    if (this.requestLog.length > LOG_LIMIT + LOG_SLACK) this.requestLog.splice(0, this.requestLog.length - LOG_LIMIT);
  }

  /** Back to the fixture: devices, tokens, sessions, lockouts, registrations, faults, logs, pending callbacks. */
  reset(seed: number = this.options.seed): void {
    this.profiles.reset();
    this.generatedSequences.clear();
    this.dispatcher.cancelAll();
    this.dispatcher.clearLog();
    this.faults.clear();
    this.auth.reset();
    this.registry.clear();
    this.inventory.reset(this.options.fixture);
    this.operations.length = 0;
    this.changeIdentifierRequests.length = 0;
    this.requestLog.length = 0;
    this.acted.clear();
    this.seed = seed;
    this.random.reseed(seed);
  }

  async close(): Promise<void> {
    this.faults.cancelTimers();
    this.profiles.pacer.cancelAll();
    await this.dispatcher.close();
  }
}
