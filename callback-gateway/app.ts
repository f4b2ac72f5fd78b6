/**
 * The callback gateway's HTTP app: authenticate → validate → persist → acknowledge. Correlation and
 * signalling happen after the answer, in the dispatcher, because ThingSpace re-sends a callback whose
 * answer takes longer than ~4 s (thingspace-api-notes.md).
 */
import type { PayloadCodec } from '@temporalio/common';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { codecRouter } from './codec-endpoints.js';
import {
  CALLBACK_SERVICES,
  callbackDeviceIds,
  canonicalCallbackContent,
  deviceKey,
  scopedKey,
  type CallbackService,
} from '../contracts/index.js';
import { isRecord } from '../contracts/json.js';
import type { Store } from '../store/index.js';
import { fingerprint, safeEqual } from './auth.js';
import { type CallbackOutcome, createGatewayMetrics, type GatewayMetrics } from './metrics.js';
import { operatorRouter } from './operator.js';
import { traceCallbackPost } from './tracing.js';

export interface GatewayDeps {
  store: Store;
  /** `previousPassword` is accepted too: ThingSpace keeps sending the old one for minutes after a change. */
  credentials: { username: string; password: string; previousPassword?: string };
  logger: Logger;
  /** Largest accepted body, in express's notation ('1mb'). */
  maxBody?: string;
  /** Called after a new callback is stored, so the dispatcher can run at once. */
  onStored?: () => void;
  /** Serve the Prometheus metrics on GET /metrics (default true). */
  metrics?: boolean;
  /** The registry the callbacks are counted in (shared with the dispatcher); default a new one. */
  gatewayMetrics?: GatewayMetrics;
  /** Extra readiness check (e.g. the dispatcher is running). */
  ready?: () => boolean;
  /** Serves the operator endpoints under /operator to holders of this bearer token; unset: not served. */
  operatorToken?: string;
  /** Called after an operator replayed a callback, so the dispatcher can run at once. */
  onReplayed?: () => void;
  /**
   * The payload codec, served to holders of the operator token as the Temporal UI's codec endpoint under
   * /codec; not served unless `operatorToken` is set too.
   */
  payloadCodec?: PayloadCodec;
  /** Origins of the Temporal UI allowed to call /codec from a browser; default the dev server's UI. */
  codecOrigins?: readonly string[];
}

function matchService(name: string): CallbackService | undefined {
  return CALLBACK_SERVICES.find((s) => s.toLowerCase() === name.toLowerCase());
}

/** For `POST /callbacks`: the service a callback comes from, by what its deviceResponse reports. */
export function inferService(body: Record<string, unknown>): CallbackService | undefined {
  const response = isRecord(body.deviceResponse) ? body.deviceResponse : {};
  if ('goToStateResponse' in response) return 'StateService';
  if ('deviceProfileResponse' in response) return 'DeviceProfileService';
  if ('deactivateResponse' in response || 'changeIdentifierResponse' in response) return 'CarrierService';
  const fault = isRecord(body.faultResponse) ? String(body.faultResponse.faultcode ?? '') : '';
  return matchService(fault.split('.')[0] ?? '');
}

/**
 * Correlation keys of a callback: its request id and every identifier it names. With the account of the
 * URL it came to, each key scoped by the account, then each unscoped: the scoped keys reach sagas that
 * claimed for the account, the unscoped ones only sagas that claimed without one (started before the
 * account was recorded; store/types.ts `claimDevices`).
 */
export function callbackKeys(body: Record<string, unknown>, account?: string): string[] {
  const keys = callbackDeviceIds(body).map(deviceKey);
  if (typeof body.requestId === 'string' && body.requestId !== '') keys.unshift(`requestid:${body.requestId}`);
  return account === undefined ? keys : [...keys.map((key) => scopedKey(account, key)), ...keys];
}

/** Longest account name accepted in a callback URL; ThingSpace's are like `0000123456-00001`. */
const MAX_ACCOUNT_LENGTH = 200;

export function createApp(deps: GatewayDeps): express.Express {
  const { store, credentials, logger } = deps;
  const gatewayMetrics = deps.gatewayMetrics ?? createGatewayMetrics();
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    try {
      await store.ping();
      if (deps.ready && !deps.ready()) throw new Error('dispatcher not running');
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'unavailable' });
    }
  });

  if (deps.metrics ?? true) {
    app.get('/metrics', async (_req, res) => {
      res.type(gatewayMetrics.contentType).send(await gatewayMetrics.text(() => store.counts()));
    });
  }

  if (deps.operatorToken !== undefined) {
    app.use('/operator', operatorRouter({ store, token: deps.operatorToken, logger, onReplayed: deps.onReplayed }));
  }

  if (deps.payloadCodec !== undefined && deps.operatorToken !== undefined) {
    app.use(
      '/codec',
      codecRouter({
        codec: deps.payloadCodec,
        token: deps.operatorToken,
        logger,
        ...(deps.codecOrigins && { allowedOrigins: deps.codecOrigins }),
      }),
    );
  }

  const json = express.json({ limit: deps.maxBody ?? '1mb', type: () => true });

  const receive = async (req: Request, res: Response, serviceParam?: string, account?: string) => {
    // Credentials first: nothing from an unauthenticated sender is stored or echoed.
    const body: unknown = req.body;
    if (!isRecord(body)) {
      res.status(400).json({ error: 'invalid_body', message: 'The callback body must be a JSON object' });
      return;
    }
    const okUser = safeEqual(body.username, credentials.username);
    const okPassword =
      safeEqual(body.password, credentials.password) ||
      (credentials.previousPassword !== undefined && safeEqual(body.password, credentials.previousPassword));
    if (!okUser || !okPassword) {
      logger.warn({ service: serviceParam, account }, 'Callback rejected: wrong credentials');
      res.status(401).json({ error: 'unauthorized', message: 'Callback credentials do not match' });
      return;
    }
    const service = serviceParam !== undefined ? matchService(serviceParam) : inferService(body);
    res.locals.service = service;
    if (!service) {
      const message =
        serviceParam !== undefined
          ? `Unknown callback service; expected one of ${CALLBACK_SERVICES.join(', ')}`
          : 'Cannot tell which ThingSpace service sent this callback; post it to /callbacks/:service';
      res.status(400).json({ error: 'unknown_service', message });
      return;
    }
    if (account !== undefined && (account === '' || account.length > MAX_ACCOUNT_LENGTH)) {
      res.status(400).json({ error: 'invalid_account', message: 'The account name in the callback URL is not valid' });
      return;
    }
    const keys = callbackKeys(body, account);
    if (keys.length === 0) {
      res
        .status(400)
        .json({ error: 'invalid_body', message: 'The callback carries neither a requestId nor deviceIds' });
      return;
    }
    const { username: _u, password: _p, ...stored } = body;
    let result: { id: number; duplicate: boolean };
    try {
      result = await store.recordCallback({
        service,
        fingerprint: fingerprint(canonicalCallbackContent(service, body)),
        body: stored,
        receivedAt: new Date().toISOString(),
        ...(account !== undefined && { account }),
        keys,
      });
    } catch (err) {
      // Not stored: a non-2xx makes ThingSpace deliver it again.
      logger.error({ err, service }, 'Callback could not be stored');
      res.status(503).json({ error: 'unavailable', message: 'The callback could not be stored; send it again' });
      return;
    }
    res.locals.outcome = result.duplicate ? 'duplicate' : 'accepted';
    res.locals.inboxId = result.id;
    res.status(200).json({ status: res.locals.outcome as string, id: result.id });
    logger.info(
      { service, account, inboxId: result.id, duplicate: result.duplicate, requestId: stored.requestId },
      'Callback stored',
    );
    if (!result.duplicate) deps.onStored?.();
  };

  const requireJson = (req: Request, res: Response, next: NextFunction) => {
    if (!req.is('application/json') && !req.is('application/*+json')) {
      res.status(415).json({ error: 'unsupported_media_type', message: 'Callbacks must be sent as application/json' });
      return;
    }
    next();
  };

  // Every answer to a callback POST is counted by service and outcome, and timed.
  app.use('/callbacks', (req, res, next) => {
    if (req.method !== 'POST') return next();
    traceCallbackPost(req, res);
    const startedAt = performance.now();
    res.on('finish', () => {
      const outcome = (res.locals.outcome as CallbackOutcome | undefined) ?? 'refused';
      gatewayMetrics.callback((res.locals.service as string | undefined) ?? 'unknown', outcome);
      gatewayMetrics.acknowledged((performance.now() - startedAt) / 1000, res.statusCode);
    });
    next();
  });
  app.post('/callbacks', requireJson, json, (req, res) => receive(req, res));
  app.post('/callbacks/:service', requireJson, json, (req, res) => receive(req, res, String(req.params.service)));
  // The URL registered per account (scripts/lib/register-callbacks.ts): ThingSpace's callbacks name no
  // account, so the URL tells whose they are. `/callbacks/:service` stays for registrations made before.
  app.post('/callbacks/:service/:account', requireJson, json, (req, res) =>
    receive(req, res, String(req.params.service), String(req.params.account)),
  );

  // Body-parser errors (too large, malformed JSON) become deliberate JSON answers.
  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const status = isRecord(err) && typeof err.status === 'number' ? err.status : 500;
    if (res.headersSent) return next(err);
    if (status === 413) res.status(413).json({ error: 'too_large', message: 'The callback body is too large' });
    else if (status === 400)
      res.status(400).json({ error: 'invalid_json', message: 'The callback body is not valid JSON' });
    else if (status === 415) {
      res
        .status(415)
        .json({ error: 'unsupported_media_type', message: 'Send callbacks as UTF-8 JSON without content encoding' });
    } else {
      logger.error({ err }, 'Unexpected gateway error');
      res.status(500).json({ error: 'internal', message: 'Unexpected error' });
    }
  });
  return app;
}
