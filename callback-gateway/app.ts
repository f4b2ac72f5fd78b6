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
import type { InboxCounts, Store } from '../store/index.js';
import { fingerprint, safeEqual } from './auth.js';
import { type CallbackOutcome, createGatewayMetrics, type GatewayMetrics } from './metrics.js';
import { operatorRouter } from './operator.js';
import { traceCallbackPost } from './tracing.js';
import { rateLimiter, sourceAllowlist } from './sources.js';

export interface GatewayDeps {
  store: Store;
  /** `previousPassword` is accepted too: ThingSpace keeps sending the old one for minutes after a change. */
  credentials: { username: string; password: string; previousPassword?: string };
  logger: Logger;
  /** Largest accepted body, in express's notation (default '64kb'). */
  maxBody?: string;
  /**
   * The secret first path segment of the callback URLs (`/callbacks/<token>/<service>[/<account>]`), compared
   * in constant time: a second factor besides the credentials in the body.
   */
  pathToken?: string;
  /**
   * Also serve the untokenised paths of earlier releases (`/callbacks`, `/callbacks/<service>`,
   * `/callbacks/<service>/<account>`), authenticated by the body's credentials alone. Default: only when no
   * `pathToken` is given.
   */
  legacyPaths?: boolean;
  /** Sources (CIDRs or addresses) allowed to post callbacks; unset or empty: any. */
  allowedSources?: readonly string[];
  /** express's `trust proxy`: which proxies' X-Forwarded-For names the source (default false: none). */
  trustProxy?: boolean | number | string;
  /** Callbacks a minute one source may post (token bucket); unset or 0: no limit. */
  rateLimitPerMinute?: number;
  /** Refusal counters, shared by the public app (which counts) and the operator app (which shows them). */
  refusals?: Refusals;
  /** How old the inbox counts on /metrics and /operator/counts may be, in ms (default 0: read each time). */
  countsMaxAgeMs?: number;
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
  const code = isRecord(body.faultResponse) ? body.faultResponse.faultcode : undefined;
  // Only a string names a service; String() of an arbitrary JSON value can throw.
  const fault = typeof code === 'string' ? code : '';
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

/** Callbacks refused before their body was read, by reason; served on /metrics. */
export interface Refusals {
  source: number;
  rate_limited: number;
  token: number;
}

export const newRefusals = (): Refusals => ({ source: 0, rate_limited: 0, token: 0 });

/**
 * The public and the operator app on one express app (tests, and embedding the gateway on one port). The
 * gateway process serves them on two ports (`createPublicApp` on GATEWAY_PORT, `createOperatorApp` on
 * OPERATOR_PORT, loopback by default).
 */
export function createApp(deps: GatewayDeps): express.Express {
  const shared = {
    ...deps,
    refusals: deps.refusals ?? newRefusals(),
    gatewayMetrics: deps.gatewayMetrics ?? createGatewayMetrics(),
  };
  const app = express();
  app.disable('x-powered-by');
  app.use(createOperatorApp(shared));
  app.use(createPublicApp(shared));
  return app;
}

/**
 * The internal app: inbox counters on /metrics, the operator API on /operator and the codec endpoint on
 * /codec (the last two only with an operator token). Served on OPERATOR_PORT, bound to loopback by default.
 */
export function createOperatorApp(deps: GatewayDeps): express.Express {
  const { store, logger } = deps;
  const refusals = deps.refusals ?? newRefusals();
  const app = express();
  app.disable('x-powered-by');
  const counts = cachedCounts(store, deps.countsMaxAgeMs ?? 0);
  // The public app counts into the same registry (createApp, and the gateway process, share it).
  const gatewayMetrics = deps.gatewayMetrics ?? createGatewayMetrics();
  if (deps.metrics ?? true) {
    app.get('/metrics', async (_req, res) => {
      const refused = Object.entries(refusals).map(
        ([reason, value]) => `euicc_gateway_callbacks_refused{reason="${reason}"} ${value}`,
      );
      const text = [
        '# HELP euicc_gateway_callbacks_refused Callbacks refused before their body was read, by reason',
        '# TYPE euicc_gateway_callbacks_refused counter',
        ...refused,
      ].join('\n');
      res.type(gatewayMetrics.contentType).send(`${await gatewayMetrics.text(counts)}${text}\n`);
    });
  }

  if (deps.operatorToken !== undefined) {
    app.use(
      '/operator',
      operatorRouter({ store, token: deps.operatorToken, logger, onReplayed: deps.onReplayed, counts }),
    );
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

  return app;
}

/**
 * The store's counts, read at most once per `maxAgeMs` however many requests ask (one read in flight at a
 * time): /metrics and /operator/counts cost no table scan per request. 0: read each time.
 */
export function cachedCounts(store: Pick<Store, 'counts'>, maxAgeMs: number): () => Promise<InboxCounts> {
  let last: { at: number; value: Promise<InboxCounts> } | undefined;
  return () => {
    const now = Date.now();
    if (!last || now - last.at >= maxAgeMs) {
      const value = store.counts();
      last = { at: now, value };
      // A failed read is not kept.
      value.catch(() => {
        if (last?.value === value) last = undefined;
      });
    }
    return last.value;
  };
}

/** The public app: only /callbacks, /healthz and /readyz, on GATEWAY_PORT. */
export function createPublicApp(deps: GatewayDeps): express.Express {
  const { store, credentials, logger } = deps;
  const gatewayMetrics = deps.gatewayMetrics ?? createGatewayMetrics();
  const app = express();
  app.disable('x-powered-by');
  // Explicit: without it express ignores X-Forwarded-For, so a sender cannot pick its own address.
  app.set('trust proxy', deps.trustProxy ?? false);
  const refusals = deps.refusals ?? newRefusals();
  const legacyPaths = deps.legacyPaths ?? deps.pathToken === undefined;

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

  const json = express.json({ limit: deps.maxBody ?? '64kb', type: () => true });

  // Before the body is read: the source's network, its rate, then the URL's token.
  const allowed = sourceAllowlist(deps.allowedSources);
  const limiter = deps.rateLimitPerMinute ? rateLimiter(deps.rateLimitPerMinute) : undefined;
  const screen = (req: Request, res: Response, next: NextFunction) => {
    if (!allowed(req.ip)) {
      refusals.source += 1;
      logger.warn({ source: req.ip }, 'Callback refused: source not in CALLBACK_ALLOWED_SOURCES');
      res.status(403).json({ error: 'forbidden', message: 'This source may not post callbacks' });
      return;
    }
    if (limiter && !limiter.take(req.ip ?? '')) {
      refusals.rate_limited += 1;
      res
        .status(429)
        .set('Retry-After', '1')
        .json({ error: 'rate_limited', message: 'Too many callbacks from this source; send it again later' });
      return;
    }
    next();
  };
  const tokenMatches = (given: string) => deps.pathToken !== undefined && safeEqual(given, deps.pathToken);
  const wrongToken = (res: Response) => {
    refusals.token += 1;
    logger.warn('Callback refused: wrong or missing path token');
    res.status(401).json({
      error: 'unauthorized',
      message: "The callback URL's token does not match; register the callbacks again (npm run register-callbacks)",
    });
  };

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
  // `/callbacks/<token>/<service>/<account>`: what register-callbacks registers.
  app.post('/callbacks/:token/:service/:account', screen, (req, res, next) => {
    if (!tokenMatches(String(req.params.token))) return wrongToken(res);
    next();
  });
  app.post('/callbacks/:token/:service/:account', requireJson, json, (req, res) =>
    receive(req, res, String(req.params.service), String(req.params.account)),
  );
  // `/callbacks/<token>/<service>`, or (legacy) `/callbacks/<service>/<account>`: a service name is never a
  // token (tokens are 32 characters or more).
  app.post('/callbacks/:first/:second', screen, (req, res, next) => {
    const first = String(req.params.first);
    res.locals.legacy = legacyPaths && (deps.pathToken === undefined || matchService(first) !== undefined);
    if (!res.locals.legacy && !tokenMatches(first)) return wrongToken(res);
    next();
  });
  app.post('/callbacks/:first/:second', requireJson, json, (req, res) =>
    res.locals.legacy
      ? receive(req, res, String(req.params.first), String(req.params.second))
      : receive(req, res, String(req.params.second)),
  );
  if (legacyPaths) {
    // The paths of earlier releases: the body's credentials alone (docs/security.md, "Callback URLs").
    app.post('/callbacks', screen, requireJson, json, (req, res) => receive(req, res));
    app.post('/callbacks/:service', screen, requireJson, json, (req, res) =>
      receive(req, res, String(req.params.service)),
    );
  } else {
    app.post(['/callbacks', '/callbacks/:token'], screen, (_req, res) => wrongToken(res));
  }

  // Any other path under /callbacks (an empty segment, too many): a JSON answer like the others.
  app.use('/callbacks', (_req: Request, res: Response) => {
    res.status(404).json({ error: 'not_found', message: 'No callback endpoint at this path' });
  });

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
