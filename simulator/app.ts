/**
 * A ThingSpace stand-in for development and tests (DESIGN.md §2): the ThingSpace paths under `/api`, the
 * control API under `/__sim`. `createSimulator` builds the app without listening; `main.ts` listens.
 */
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import {
  loginHandler,
  logoutHandler,
  requireBearer,
  requireSession,
  revokeHandlers,
  tokenHandlers,
} from './platform/auth.js';
import { deleteCallbackHandler, listCallbacksHandler, registerCallbackHandler } from './platform/registrations.js';
import {
  changeDeviceIdentifierHandler,
  identifierChangesHandler,
} from './operations/change-device-identifier/index.js';
import { controlRouter } from './platform/control.js';
import { deviceListHandler } from './platform/devices/device-list.js';
import { ErrorCode, GatewayFault, PROFILE_OPERATIONS, respond, sendFormError } from './platform/errors.js';
import type { OperationName } from './platform/faults.js';
import { eidDeviceSwapHandler } from './operations/eid-device-swap/index.js';
import { profileHandler } from './operations/profiles/index.js';
import { SimulatorState, type SimulatorOptions } from './platform/state.js';

export type { SimulatorOptions } from './platform/state.js';
export { SimulatorState } from './platform/state.js';

export interface Simulator {
  app: express.Express;
  state: SimulatorState;
  /** Stops timers and pending callback deliveries. Does not close a server: whoever listened does. */
  close(): Promise<void>;
}

/** Tags the request with its operation (for faults and the request log), then applies a queued fault. */
function operation(state: SimulatorState, name: OperationName): RequestHandler[] {
  return [
    (_req, res, next) => {
      res.locals.operation = name;
      next();
    },
    state.faults.middleware(),
  ];
}

function requestLog(state: SimulatorState): RequestHandler {
  return (req, res, next) => {
    const path = req.originalUrl.split('?')[0] ?? req.originalUrl;
    res.on('finish', () => {
      state.logRequest({
        operation: String(res.locals.operation ?? 'unknown'),
        method: req.method,
        path,
        status: res.statusCode,
        at: new Date(state.now()).toISOString(),
      });
    });
    next();
  };
}

/** Some paths in ThingSpace's docs have a double slash (thingspace-api-notes.md); the gateway tolerates it. */
const collapseSlashes: RequestHandler = (req, _res, next) => {
  if (req.url.includes('//')) req.url = req.url.replace(/\/{2,}/g, '/');
  next();
};

/** Body parser failures answered in ThingSpace's error shape. */
function apiErrors(state: SimulatorState): ErrorRequestHandler {
  return (error: unknown, _req, res, _next) => {
    const type = (error as { type?: unknown } | undefined)?.type;
    const form = PROFILE_OPERATIONS.includes(String(res.locals.operation)) ? state.faults.profileErrorForm : 'unified';
    if (type === 'entity.too.large')
      return sendFormError(res, form, ErrorCode.RequestTooLarge, 'The request body is too large.', 413);
    if (type === 'entity.parse.failed' || type === 'encoding.unsupported' || type === 'charset.unsupported') {
      return sendFormError(res, form, ErrorCode.RequestUndefined, 'The request body is not valid JSON.');
    }
    state.options.logger.error({ err: error }, 'Simulator request failed');
    sendFormError(res, form, ErrorCode.UnexpectedError, 'Unexpected error occurred.', 500);
  };
}

function apiRouter(state: SimulatorState): express.Router {
  const router = express.Router();
  const { auth } = state;
  const json = express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] });
  // Bulk profile requests name up to 10,000 devices: about 1 MB, more with every identifier spelled out.
  const bulkJson = express.json({ limit: '8mb', type: ['application/json', 'application/*+json'] });
  const form = express.urlencoded({ extended: false, limit: '16kb' });
  const bearer = requireBearer(auth);
  const session = requireSession(auth);
  const profileSession = requireSession(auth, () => state.faults.profileErrorForm);
  const deps = { registry: state.registry, inventory: state.inventory, now: () => state.now() };

  router.use(requestLog(state), collapseSlashes);

  router.post('/ts/v1/oauth2/token', ...operation(state, 'token'), form, ...tokenHandlers(auth));
  router.post('/ts/v1/oauth2/revoke', ...operation(state, 'revoke'), form, ...revokeHandlers(auth));

  router.post('/m2m/v1/session/login', ...operation(state, 'login'), bearer, json, loginHandler(auth));
  router.post('/m2m/v1/session/logout', ...operation(state, 'logout'), bearer, session, logoutHandler(auth));

  router.post(
    '/m2m/v1/callbacks/:accountName',
    ...operation(state, 'registerCallback'),
    bearer,
    session,
    json,
    registerCallbackHandler(deps),
  );
  router.get(
    '/m2m/v1/callbacks/:accountName',
    ...operation(state, 'listCallbacks'),
    bearer,
    session,
    listCallbacksHandler(deps),
  );
  router.delete(
    '/m2m/v1/callbacks/:accountName/name/:serviceName',
    ...operation(state, 'deleteCallback'),
    bearer,
    session,
    deleteCallbackHandler(deps),
  );

  router.post(
    '/m2m/v1/devices/actions/list',
    ...operation(state, 'deviceList'),
    bearer,
    session,
    json,
    deviceListHandler({ inventory: state.inventory, pageSize: state.options.devicePageSize }),
  );
  router.post(
    '/m2m/v1/devices/actions/eidDeviceSwap',
    ...operation(state, 'eidDeviceSwap'),
    bearer,
    session,
    json,
    eidDeviceSwapHandler(state),
  );
  router.put(
    '/m2m/v1/devices/:serviceType/actions/deviceId',
    ...operation(state, 'changeDeviceIdentifier'),
    bearer,
    session,
    json,
    changeDeviceIdentifierHandler(state),
  );
  router.post(
    '/m2m/v1/devices/profile/actions/serviceplan',
    ...operation(state, 'changeProfileServicePlan'),
    bearer,
    profileSession,
    bulkJson,
    profileHandler('changeProfileServicePlan', state),
  );
  router.post(
    '/m2m/v1/devices/profile/actions/activate',
    ...operation(state, 'activateDeviceProfiles'),
    bearer,
    profileSession,
    bulkJson,
    profileHandler('activateDeviceProfiles', state),
  );

  // ThingSpace's gateway answers a path it does not know with fault 900906 and HTTP 400 ("Bad Context"
  // on ThingSpace's error page), before checking credentials.
  router.use(...operation(state, 'unknown'), (_req, res) => respond(res, 400, GatewayFault.noMatchingResource));
  router.use(apiErrors(state));
  return router;
}

const controlErrors: ErrorRequestHandler = (error: unknown, _req, res, _next) => {
  const status = (error as { status?: unknown } | undefined)?.status;
  res
    .status(typeof status === 'number' && status >= 400 && status < 500 ? status : 500)
    .json({ error: 'InvalidControlRequest', issues: [{ path: '', message: String((error as Error).message) }] });
};

/**
 * Builds a simulator: the express app (not listening) and its state. Every option has a default that
 * mirrors ThingSpace (thingspace-api-notes.md); tests shrink the delays and inject a clock.
 */
export function createSimulator(options: SimulatorOptions = {}): Simulator {
  const state = new SimulatorState(options);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/__sim/identifier-changes', identifierChangesHandler(state));
  app.use('/__sim', controlRouter(state), controlErrors);
  app.use('/api', apiRouter(state));
  app.use((_req, res) => {
    res
      .status(404)
      .json({ error: 'NotFound', message: 'ThingSpace paths are under /api, the control API under /__sim.' });
  });
  return { app, state, close: () => state.close() };
}
