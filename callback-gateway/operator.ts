/**
 * Operator endpoints over the inbox: list callbacks by state, read one, replay a parked, dead-letter or
 * orphaned one, read the counters. Mounted under /operator only when an operator token is configured,
 * because the stored bodies name customers' devices (DESIGN.md §5, point 6).
 */
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { callbackDeviceIds, type DeviceId } from '../contracts/index.js';
import type { InboxCounts, InboxRecord, InboxState, Store } from '../store/index.js';
import { requireBearerToken } from './auth.js';

export interface OperatorDeps {
  store: Store;
  /** Expected in `Authorization: Bearer <token>`. */
  token: string;
  logger: Logger;
  /** Called after a replay put a callback back to pending, so the dispatcher can run at once. */
  onReplayed?: () => void;
  /** Where /counts reads the inbox counts (default the store, each time). */
  counts?: () => Promise<InboxCounts>;
}

/** The states `GET /operator/callbacks?state=` accepts. */
export const LISTABLE_STATES = [
  'parked',
  'deadLetter',
  'orphaned',
  'pending',
  'delivered',
] as const satisfies readonly InboxState[];
const REPLAYABLE_STATES: readonly InboxState[] = ['parked', 'deadLetter', 'orphaned'];
export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;

/** One row of a listing: what an operator needs to recognise a callback, without its body. */
export interface CallbackSummary {
  id: number;
  service: InboxRecord['service'];
  state: InboxState;
  receivedAt: string;
  deliveries: number;
  workflowId?: string;
  runId?: string;
  reason?: string;
  requestId?: string;
  deviceIds: DeviceId[];
}

function summarize(record: InboxRecord): CallbackSummary {
  const { id, service, state, receivedAt, deliveries, workflowId, runId, reason, body } = record;
  return {
    id,
    service,
    state,
    receivedAt,
    deliveries,
    ...(workflowId !== undefined && { workflowId }),
    ...(runId !== undefined && { runId }),
    ...(reason !== undefined && { reason }),
    ...(typeof body.requestId === 'string' && body.requestId !== '' && { requestId: body.requestId }),
    deviceIds: callbackDeviceIds(body),
  };
}

function badParameter(res: Response, parameter: string, message: string): void {
  res.status(400).json({ error: 'invalid_parameter', parameter, message });
}

function isListableState(value: unknown): value is (typeof LISTABLE_STATES)[number] {
  return LISTABLE_STATES.some((state) => state === value);
}

/** A decimal integer in range, or undefined; `Number('1e3')` and `Number(' 7')` are not accepted. */
function parseInteger(value: unknown, min: number, max: number): number | undefined {
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) return undefined;
  const n = Number(value);
  return n >= min && n <= max ? n : undefined;
}

export function operatorRouter(deps: OperatorDeps): Router {
  const { store, token, logger } = deps;
  const router = Router();

  router.use(requireBearerToken(token, logger, 'Operator'));

  router.get('/callbacks', async (req, res) => {
    const state = req.query.state ?? 'parked';
    if (!isListableState(state)) {
      badParameter(res, 'state', `state must be one of ${LISTABLE_STATES.join(', ')}`);
      return;
    }
    const limit = req.query.limit === undefined ? DEFAULT_LIST_LIMIT : parseInteger(req.query.limit, 1, MAX_LIST_LIMIT);
    if (limit === undefined) {
      badParameter(res, 'limit', `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
      return;
    }
    const records = await store.list(state, limit);
    res.json({ state, callbacks: records.map(summarize) });
  });

  /** The inbox id from the path, or undefined after answering 400. */
  const inboxId = (req: Request, res: Response): number | undefined => {
    const id = parseInteger(req.params.id, 1, Number.MAX_SAFE_INTEGER);
    if (id === undefined) badParameter(res, 'id', 'id must be a positive integer (the inbox id)');
    return id;
  };

  router.get('/callbacks/:id', async (req, res) => {
    const id = inboxId(req, res);
    if (id === undefined) return;
    const record = await store.get(id);
    if (!record) {
      res.status(404).json({ error: 'not_found', message: `No callback with id ${id}` });
      return;
    }
    res.json(record);
  });

  router.post('/callbacks/:id/replay', async (req, res) => {
    const id = inboxId(req, res);
    if (id === undefined) return;
    if (!(await store.replay(id))) {
      // replay() changes nothing unless the state allows it, so reading afterwards only explains the refusal.
      const record = await store.get(id);
      if (!record) {
        res.status(404).json({ error: 'not_found', message: `No callback with id ${id}` });
      } else {
        res.status(409).json({
          error: 'not_replayable',
          state: record.state,
          message: `Callback ${id} is ${record.state}; only ${REPLAYABLE_STATES.join(', ')} callbacks can be replayed`,
        });
      }
      return;
    }
    logger.info({ inboxId: id }, 'Callback replayed by an operator');
    res.json({ id, state: 'pending' });
    deps.onReplayed?.();
  });

  router.get('/counts', async (_req, res) => {
    res.json(await (deps.counts ?? (() => store.counts()))());
  });

  router.use((_req, res) => {
    res.status(404).json({ error: 'not_found', message: 'No such operator endpoint' });
  });

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    logger.error({ err }, 'Operator request failed');
    res.status(503).json({ error: 'unavailable', message: 'The inbox could not be read or written; try again' });
  });

  return router;
}
