/**
 * Injected faults: the next answers of an operation (outages, throttling, a request carried out but
 * answered with an error), and how callbacks misbehave (late, reordered, duplicated, dropped, failed,
 * never sent). Everything random is rolled from the seeded fault stream, so a seed replays a run.
 */
import type { RequestHandler } from 'express';
import { z } from 'zod';
import { SWAP_STEPS } from '../../contracts/types.js';
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

/** What a stray callback reports: a swap's steps, an identifier change, or one eSIM profile's outcome. */
export const STRAY_OUTCOMES = [...SWAP_STEPS, 'changeDeviceIdentifier', 'deviceProfile'] as const;
export type StrayOutcome = (typeof STRAY_OUTCOMES)[number];
export const STRAY_STATUSES = ['success', 'failed', 'warning'] as const;
export type StrayStatus = (typeof STRAY_STATUSES)[number];

/** Operations whose acceptance can be preceded by stray callbacks. */
export const STRAY_TRIGGERS = [
  'eidDeviceSwap',
  'changeDeviceIdentifier',
  'changeProfileServicePlan',
  'activateDeviceProfiles',
] as const;

const strayTemplateSchema = z
  .object({
    /** Default: the outcome the accepted operation itself reports first (deactivation, changeDeviceIdentifier, deviceProfile). */
    outcome: z.enum(STRAY_OUTCOMES).optional(),
    status: z.enum(STRAY_STATUSES).default('failed'),
    /** More than 1: a late re-send of a callback of an earlier request. */
    callbackCount: z.number().int().min(1).max(4).default(1),
    /** What a failed stray reports; the service prefix is added when missing. */
    failure: stepFailureSchema.optional(),
  })
  .strict();
export type StrayTemplate = z.infer<typeof strayTemplateSchema>;

/**
 * Callbacks of operations the system never started (portal-started ones, late re-sends of old ones) for the
 * devices of each accepted request, delivered before the request is answered, so before its own callbacks.
 * Not promised away by any page (thingspace-api-notes.md, What no page promises).
 */
export const strayCallbacksSchema = z
  .object({
    callbacks: z
      .array(strayTemplateSchema)
      .min(1)
      .default([{ status: 'failed' }, { status: 'success', callbackCount: 2 }]),
    /** The operations whose acceptance sends them. */
    on: z.array(z.enum(STRAY_TRIGGERS)).default([...STRAY_TRIGGERS]),
    /** Profile requests: stray callbacks for at most this many of the request's devices, the first ones. */
    maxDevices: z.number().int().positive().default(10),
  })
  .strict();
export type StrayCallbacks = z.infer<typeof strayCallbacksSchema>;

/** `threeDigit`: `{"errorCode":"400","errorMessage":…}` as both eSIM profile pages state; `unified`: `UnifiedWebService.…`. */
export const PROFILE_ERROR_FORMS = ['threeDigit', 'unified'] as const;
export type ProfileErrorForm = (typeof PROFILE_ERROR_FORMS)[number];

/** "Bulk operations have a limit of 10,000 requests" (change-profile-service-plan.txt). */
export const MAX_PROFILE_DEVICES = 10_000;

export const faultsRequestSchema = z
  .object({
    /** Drop every fault first, then apply the rest of this request. */
    clear: z.boolean().optional(),
    responses: z.array(responseFaultSchema).optional(),
    callbacks: callbackFaultsSchema.optional(),
    profiles: profileFaultsSchema.optional(),
    /**
     * Accept a repeated swap, identifier change or profile request while the first is in flight for the same
     * devices, and act twice. Default false: no such request is refused for being a repeat.
     */
    acceptDuplicates: z.boolean().optional(),
    /** Stray callbacks before each accepted request's own; `null` turns them off. */
    strayCallbacks: strayCallbacksSchema.nullable().optional(),
    /** The most devices one profile request may name; Verizon's SDK models 100. Default 10,000. */
    maxProfileRequestDevices: z.number().int().min(1).max(MAX_PROFILE_DEVICES).optional(),
    /** Form of the profile endpoints' synchronous errors. Default `threeDigit`, as the pages state. */
    profileErrorForm: z.enum(PROFILE_ERROR_FORMS).optional(),
  })
  .strict();
export type FaultsRequest = z.input<typeof faultsRequestSchema>;

export interface FaultSnapshot {
  responses: ResponseFault[];
  callbacks: CallbackFaults;
  profiles?: ProfileFaults;
  acceptDuplicates?: boolean;
  strayCallbacks?: StrayCallbacks;
  maxProfileRequestDevices?: number;
  profileErrorForm?: ProfileErrorForm;
}

export class FaultState {
  responses: ResponseFault[] = [];
  callbacks: CallbackFaults = callbackFaultsSchema.parse({});
  /** Unset until a `profiles` object is applied, so snapshots without one look as they always did. */
  profiles: ProfileFaults | undefined;
  acceptDuplicates = false;
  strayCallbacks: StrayCallbacks | undefined;
  maxProfileRequestDevices = MAX_PROFILE_DEVICES;
  profileErrorForm: ProfileErrorForm = 'threeDigit';
  private timers = new Set<NodeJS.Timeout>();

  /** Response faults queue up behind earlier ones; a `callbacks` or `profiles` object replaces the previous one. */
  apply(request: z.infer<typeof faultsRequestSchema>): void {
    if (request.clear) this.clear();
    if (request.responses) this.responses.push(...request.responses);
    if (request.callbacks) this.callbacks = request.callbacks;
    if (request.profiles) this.profiles = request.profiles;
    if (request.acceptDuplicates !== undefined) this.acceptDuplicates = request.acceptDuplicates;
    if (request.strayCallbacks !== undefined) this.strayCallbacks = request.strayCallbacks ?? undefined;
    if (request.maxProfileRequestDevices !== undefined)
      this.maxProfileRequestDevices = request.maxProfileRequestDevices;
    if (request.profileErrorForm !== undefined) this.profileErrorForm = request.profileErrorForm;
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

  /** The pessimistic profiles appear only when they differ from their defaults, so default snapshots stay as they were. */
  snapshot(): FaultSnapshot {
    return {
      responses: this.responses.map((f) => ({ ...f })),
      callbacks: this.callbacks,
      ...(this.profiles ? { profiles: this.profiles } : {}),
      ...(this.acceptDuplicates ? { acceptDuplicates: true } : {}),
      ...(this.strayCallbacks ? { strayCallbacks: this.strayCallbacks } : {}),
      ...(this.maxProfileRequestDevices !== MAX_PROFILE_DEVICES
        ? { maxProfileRequestDevices: this.maxProfileRequestDevices }
        : {}),
      ...(this.profileErrorForm !== 'threeDigit' ? { profileErrorForm: this.profileErrorForm } : {}),
    };
  }

  /** Drops every fault; answers already being held by `delayMs` still go out. */
  clear(): void {
    this.responses = [];
    this.callbacks = callbackFaultsSchema.parse({});
    this.profiles = undefined;
    this.acceptDuplicates = false;
    this.strayCallbacks = undefined;
    this.maxProfileRequestDevices = MAX_PROFILE_DEVICES;
    this.profileErrorForm = 'threeDigit';
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
          body:
            fault.body === undefined ? defaultFaultBody(operation, fault.status, this.profileErrorForm) : fault.body,
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
