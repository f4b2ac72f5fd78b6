/**
 * Injected faults: the next answers of an operation (outages, throttling, a request carried out but
 * answered with an error), and how callbacks misbehave (late, reordered, duplicated, dropped, failed,
 * never sent). Everything random is rolled from the seeded fault stream, so a seed replays a run.
 */
import type { RequestHandler } from 'express';
import { z } from 'zod';
import { SWAP_STEPS } from '../contracts/types.js';
import { defaultFaultBody, respond, type AnswerOverride } from './errors.js';

/** Operation names used by response faults and the request log. */
export const OPERATIONS = [
  'token',
  'revoke',
  'login',
  'logout',
  'registerCallback',
  'listCallbacks',
  'deleteCallback',
  'deviceList',
  'eidDeviceSwap',
  'changeDeviceIdentifier',
  'changeProfileServicePlan',
  'activateDeviceProfiles',
  'unknown',
] as const;
export type OperationName = (typeof OPERATIONS)[number];

export const responseFaultSchema = z
  .object({
    operation: z.enum(OPERATIONS),
    /** Answer status; omit it (with `delayMs`) to only slow the real answer down. */
    status: z.number().int().min(200).max(599).optional(),
    /** Answer body; default: the body ThingSpace sends with that status. */
    body: z.unknown().optional(),
    /** How many of the next requests of `operation` get this fault. */
    times: z.number().int().positive().default(1),
    retryAfterSeconds: z.number().int().nonnegative().optional(),
    /** Hold the answer this long (to trip client timeouts). */
    delayMs: z.number().int().nonnegative().optional(),
    /**
     * Carry the request out anyway and only replace its answer: the request happened upstream although
     * the client saw an error (STYLE.md §5).
     */
    processed: z.boolean().default(false),
  })
  .strict()
  .refine((f) => f.status !== undefined || f.delayMs !== undefined, { message: 'give a status, a delayMs or both' });
export type ResponseFault = z.infer<typeof responseFaultSchema>;

const stepFailureSchema = z
  .object({
    /** `<code>` or `<Service>.<code>`; the service prefix is added when missing. */
    faultcode: z.string().min(1).default('REQUEST_FAILED.UnexpectedError'),
    faultstring: z.string().default('The request could not be completed.'),
  })
  .strict();
export type StepFailure = z.infer<typeof stepFailureSchema>;

/** What `beforeResponse` and `never` can name: a swap's steps, or the one outcome of an identifier change. */
const callbackStep = z.enum([...SWAP_STEPS, 'changeDeviceIdentifier']);

export const callbackFaultsSchema = z
  .object({
    /** Delay before the first callback, and between callbacks; default the simulator's callbackDelayMs. */
    delayMs: z.number().int().nonnegative().optional(),
    order: z.enum(['documented', 'reverse', 'random']).default('documented'),
    /** Share of callbacks delivered a second time (with callbackCount + 1) after being acknowledged. */
    duplicate: z.number().min(0).max(1).default(0),
    /** Share of callbacks never sent although their step happened (reconciliation still sees it). */
    drop: z.number().min(0).max(1).default(0),
    /** Steps that fail: their callback reports the fault and the inventory is left unchanged. */
    fail: z
      .object({
        deactivation: stepFailureSchema.optional(),
        identifierChange: stepFailureSchema.optional(),
        goToState: stepFailureSchema.optional(),
        /** The CarrierService outcome of `PUT /devices/{serviceType}/actions/deviceId`. */
        changeDeviceIdentifier: stepFailureSchema.optional(),
      })
      .strict()
      .default({}),
    /** Steps completed and delivered (delivery awaited) before the HTTP answer to the request is sent. */
    beforeResponse: z.array(callbackStep).default([]),
    /** Steps ThingSpace never completes: no effect on the inventory and no callback. */
    never: z.array(callbackStep).default([]),
    retry: z.enum(['threshold', 'observed']).optional(),
    retryIntervalMs: z.number().int().nonnegative().optional(),
    attemptTimeoutMs: z.number().int().positive().optional(),
    duplicateDelayMs: z.number().int().nonnegative().optional(),
    credentialLagMs: z.number().int().nonnegative().optional(),
  })
  .strict();
export type CallbackFaults = z.infer<typeof callbackFaultsSchema>;

/**
 * Per-device outcomes of the bulk eSIM profile operations (serviceplan, activate). Devices are named by
 * any of their identifiers; the rates are rolled per device from the seeded fault stream. The `callbacks`
 * faults (delay, order, duplicate, drop, retry timing) apply to these callbacks too.
 */
export const profileFaultsSchema = z
  .object({
    /** Share of devices whose profile operation fails: a FAILED callback, no effect on the inventory. */
    failRate: z.number().min(0).max(1).default(0),
    /** Devices that fail, by any of their identifiers. */
    failDevices: z.array(z.string().min(1)).default([]),
    /** What a failed device's callback reports; `DeviceProfileService.` is added when missing. */
    failure: stepFailureSchema.default({}),
    /** Activation only: share of devices that first get a WARNING callback (device not reachable yet). */
    warningRate: z.number().min(0).max(1).default(0),
    /** Wait between a WARNING and the device's final callback; default the callback delay. */
    warningDelayMs: z.number().int().nonnegative().optional(),
    /** Share of devices ThingSpace never finishes: no callback and no effect. */
    neverRate: z.number().min(0).max(1).default(0),
    /** Devices ThingSpace never finishes, by any of their identifiers. */
    never: z.array(z.string().min(1)).default([]),
  })
  .strict();
export type ProfileFaults = z.infer<typeof profileFaultsSchema>;

export const faultsRequestSchema = z
  .object({
    /** Drop every fault first, then apply the rest of this request. */
    clear: z.boolean().optional(),
    responses: z.array(responseFaultSchema).optional(),
    callbacks: callbackFaultsSchema.optional(),
    profiles: profileFaultsSchema.optional(),
  })
  .strict();
export type FaultsRequest = z.input<typeof faultsRequestSchema>;

export class FaultState {
  responses: ResponseFault[] = [];
  callbacks: CallbackFaults = callbackFaultsSchema.parse({});
  /** Unset until a `profiles` object is applied, so snapshots without one look as they always did. */
  profiles: ProfileFaults | undefined;
  private timers = new Set<NodeJS.Timeout>();

  /** Response faults queue up behind earlier ones; a `callbacks` or `profiles` object replaces the previous one. */
  apply(request: z.infer<typeof faultsRequestSchema>): void {
    if (request.clear) this.clear();
    if (request.responses) this.responses.push(...request.responses);
    if (request.callbacks) this.callbacks = request.callbacks;
    if (request.profiles) this.profiles = request.profiles;
  }

  /** The profile faults in force: the applied ones, or none. */
  profileFaults(): ProfileFaults {
    return this.profiles ?? profileFaultsSchema.parse({});
  }

  /** The fault for the next request of `operation`, used up by taking it. */
  take(operation: string): ResponseFault | undefined {
    const index = this.responses.findIndex((f) => f.operation === operation);
    const fault = this.responses[index];
    if (!fault) return undefined;
    if (fault.times <= 1) this.responses.splice(index, 1);
    else this.responses[index] = { ...fault, times: fault.times - 1 };
    return fault;
  }

  snapshot(): { responses: ResponseFault[]; callbacks: CallbackFaults; profiles?: ProfileFaults } {
    return {
      responses: this.responses.map((f) => ({ ...f })),
      callbacks: this.callbacks,
      ...(this.profiles ? { profiles: this.profiles } : {}),
    };
  }

  /** Drops every fault; answers already being held by `delayMs` still go out. */
  clear(): void {
    this.responses = [];
    this.callbacks = callbackFaultsSchema.parse({});
    this.profiles = undefined;
  }

  /** Stops held answers (on close). */
  cancelTimers(): void {
    this.timers.forEach((t) => clearTimeout(t));
    this.timers.clear();
  }

  /** Middleware: answers with the next fault of the request's operation, if one is queued. */
  middleware(): RequestHandler {
    return (_req, res, next) => {
      const operation = String(res.locals.operation ?? 'unknown');
      const fault = this.take(operation);
      if (!fault) return next();
      const headers: Record<string, string> =
        fault.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(fault.retryAfterSeconds) };
      res.set(headers);
      const answer = (): void => {
        if (fault.status === undefined) return next();
        const override: AnswerOverride = {
          status: fault.status,
          body: fault.body === undefined ? defaultFaultBody(operation, fault.status) : fault.body,
          headers,
        };
        res.locals.answerOverride = override;
        if (fault.processed) return next();
        respond(res, override.status);
      };
      if (!fault.delayMs) return answer();
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        answer();
      }, fault.delayMs);
      this.timers.add(timer);
    };
  }
}
