/**
 * The control API under `/__sim` (DESIGN.md §7): seed devices, inject faults, expire credentials, and read
 * what the simulator saw and sent, so tests can assert on it and wait until it is quiet.
 */
import express, { type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { deviceInputSchema, InventoryConflictError } from './devices/inventory.js';
import { faultsRequestSchema } from './faults.js';
import { generateDevices, generateDevicesSchema } from './devices/generate.js';
import type { SimulatorState } from './state.js';
import { strayCallbackRequestSchema, strayRequestJob } from './stray.js';

const resetSchema = z.object({ seed: z.number().int().optional() }).strict();
const paceSchema = z.object({ perSecond: z.number().int().min(0).max(100_000).nullable() }).strict();
const devicesSchema = z.union([
  z.array(deviceInputSchema),
  z.object({ devices: z.array(deviceInputSchema) }).strict(),
  deviceInputSchema,
]);

function badRequest(res: Response, error: z.ZodError | Error): void {
  const issues =
    error instanceof z.ZodError
      ? error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))
      : [{ path: '', message: error.message }];
  res.status(400).json({ error: 'InvalidControlRequest', issues });
}

function parse<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, req: Request, res: Response): T | undefined {
  const result = schema.safeParse(req.body ?? {});
  if (result.success) return result.data;
  badRequest(res, result.error);
  return undefined;
}

export function controlRouter(state: SimulatorState): Router {
  const router = express.Router();
  router.use(express.json({ limit: '10mb' }));

  router.get('/health', (_req, res) => {
    res.json({ ok: true, seed: state.seed });
  });

  router.post('/reset', (req, res) => {
    const body = parse(resetSchema, req, res);
    if (!body) return;
    state.reset(body.seed);
    res.json({ seed: state.seed });
  });

  // Every device, or with `after` (a device number) and `limit` one page of them in device-number order.
  router.get('/devices', (req, res) => {
    const { after, limit } = req.query;
    if (after === undefined && limit === undefined) return res.json(state.inventory.all());
    const cursor = Number(after ?? 0);
    const size = Number(limit ?? 10_000);
    if (!Number.isSafeInteger(cursor) || cursor < 0 || !Number.isSafeInteger(size) || size < 1) {
      return badRequest(res, new Error('after must be a device number (0 or more) and limit a positive integer'));
    }
    const page: unknown[] = [];
    for (const device of state.inventory.after(cursor)) {
      if (page.length === size) break;
      page.push(device);
    }
    res.json(page);
  });

  router.post('/devices', (req, res) => {
    const body = parse(devicesSchema, req, res);
    if (!body) return;
    const inputs = Array.isArray(body) ? body : 'devices' in body ? body.devices : [body];
    try {
      res.json(state.inventory.upsert(inputs));
    } catch (error) {
      if (error instanceof InventoryConflictError) return badRequest(res, error);
      throw error;
    }
  });

  // Many devices with predictable identifiers, for bulk profile requests: {devices: [{eid, iccid, imei, mdn?}]}.
  router.post('/devices/generate', (req, res) => {
    const body = parse(generateDevicesSchema, req, res);
    if (!body) return;
    try {
      res.json({ devices: generateDevices(state.inventory, state.generatedSequences, body) });
    } catch (error) {
      if (error instanceof InventoryConflictError) return badRequest(res, error);
      throw error;
    }
  });

  router.get('/devices/:kind/:id', (req, res) => {
    const kind = String(req.params.kind);
    const id = String(req.params.id);
    const device = state.inventory.find(kind, id) ?? state.inventory.findRetired(kind, id)?.device;
    if (!device) return res.status(404).json({ error: 'DeviceNotFound', kind, id });
    res.json(device);
  });

  router.get('/faults', (_req, res) => {
    res.json(state.faults.snapshot());
  });

  router.post('/faults', (req, res) => {
    const body = parse(faultsRequestSchema, req, res);
    if (!body) return;
    state.faults.apply(body);
    res.json(state.faults.snapshot());
  });

  router.delete('/faults', (_req, res) => {
    state.faults.clear();
    res.json(state.faults.snapshot());
  });

  router.post('/sessions/expire', (_req, res) => {
    res.json({ expired: state.auth.expireSessions() });
  });

  router.post('/tokens/expire', (_req, res) => {
    res.json({ expired: state.auth.expireTokens() });
  });

  router.post('/logins/unlock', (_req, res) => {
    res.json({ unlocked: state.auth.unlock() });
  });

  router.get('/requests', (req, res) => {
    const operation = typeof req.query.operation === 'string' ? req.query.operation : undefined;
    res.json(operation ? state.requestLog.filter((r) => r.operation === operation) : state.requestLog);
  });

  router.get('/callbacks', (req, res) => {
    const requestId = typeof req.query.requestId === 'string' ? req.query.requestId : undefined;
    const log = state.dispatcher.log;
    res.json(requestId ? log.filter((e) => e.requestId === requestId) : log);
  });

  // One stray callback now: an operation the system never started, or a late re-send of an old one. Answers
  // once its first attempt is answered, with what was sent (without the listener's credentials).
  router.post('/callbacks/stray', async (req, res) => {
    const body = parse(strayCallbackRequestSchema, req, res);
    if (!body) return;
    const job = strayRequestJob(state, body);
    if (typeof job === 'string') return badRequest(res, new Error(job));
    await state.dispatcher.deliver(job);
    res.json({
      service: job.service,
      requestId: job.requestId,
      callbackCount: body.callbackCount,
      callback: job.content,
    });
  });

  // Load tests: hold the operations' callbacks (0) or let them out at most `perSecond` a second; null: no pacing.
  router.post('/callbacks/pace', (req, res) => {
    const body = parse(paceSchema, req, res);
    if (!body) return;
    state.dispatcher.pace(body.perSecond);
    res.json(body);
  });

  router.get('/callbacks/pending', (_req, res) => {
    // Profile callbacks still queued by the pacer count too.
    res.json({ pending: state.dispatcher.pending() + state.profiles.pending() });
  });

  // Per device key (`eid:…`, else `imei:…`), the accepted operations that acted on it; `actedTwice` lists the
  // devices more than one acted on.
  router.get('/acted', (_req, res) => {
    res.json(state.acted.report());
  });

  router.get('/operations', (_req, res) => {
    res.json(state.operations);
  });

  router.get('/profile-requests', (_req, res) => {
    res.json(state.profiles.summaries());
  });

  router.get('/profile-requests/:requestId', (req, res) => {
    const requestId = String(req.params.requestId);
    const detail = state.profiles.detail(requestId);
    if (!detail) return res.status(404).json({ error: 'ProfileRequestNotFound', requestId });
    res.json(detail);
  });

  router.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'NotFound' });
  });

  return router;
}
