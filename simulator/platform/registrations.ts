/**
 * Callback listener registrations (`/m2m/v1/callbacks/{accountName}`, thingspace-api-notes.md, Callbacks):
 * one URL per service per account, optional credentials that ThingSpace echoes in every callback body.
 */
import type { RequestHandler } from 'express';
import { CALLBACK_SERVICES } from '../../contracts/types.js';
import type { Inventory } from './devices/inventory.js';
import { ErrorCode, respond, sendError } from './errors.js';
import { isRecord } from './util.js';

/** Services an account can register a listener for; the ones this project uses come first. */
export const REGISTRABLE_SERVICES: readonly string[] = [
  ...CALLBACK_SERVICES,
  'DeviceUsage',
  'DeviceSMSMessage',
  'SMSDeliveryConfirmation',
  'EnhancedConnectivityService',
  'ExternalProvisioningChanges',
  'DevicePRLInformation',
];

/** ThingSpace limits callback credentials to 40 characters (thingspace-api-notes.md). */
const MAX_CREDENTIAL_LENGTH = 40;

export interface Registration {
  accountName: string;
  name: string;
  url: string;
  username?: string;
  password?: string;
  registeredAt: number;
  /** Credentials of the registration this one replaced, for the observed lag after a password change. */
  previous?: { username?: string; password?: string };
}

export class CallbackRegistry {
  private byAccount = new Map<string, Map<string, Registration>>();

  /** Registering a service again replaces its URL and credentials. */
  register(registration: Omit<Registration, 'previous'>): Registration {
    const services = this.byAccount.get(registration.accountName) ?? new Map<string, Registration>();
    const old = services.get(registration.name);
    const stored: Registration = { ...registration };
    if (old) stored.previous = { username: old.username, password: old.password };
    services.set(registration.name, stored);
    this.byAccount.set(registration.accountName, services);
    return stored;
  }

  get(accountName: string, service: string): Registration | undefined {
    return this.byAccount.get(accountName)?.get(service);
  }

  list(accountName: string): Registration[] {
    return [...(this.byAccount.get(accountName)?.values() ?? [])];
  }

  remove(accountName: string, service: string): boolean {
    return this.byAccount.get(accountName)?.delete(service) ?? false;
  }

  clear(): void {
    this.byAccount.clear();
  }

  /**
   * The credentials a callback carries at `now`. Observed: after a callback password change the old one
   * kept arriving for minutes (thingspace-api-notes.md), so within `lagMs` of a re-registration the
   * previous credentials are sent.
   */
  credentialsAt(registration: Registration, now: number, lagMs: number): { username: string; password: string } {
    const source =
      registration.previous && lagMs > 0 && now - registration.registeredAt < lagMs
        ? registration.previous
        : registration;
    return { username: source.username ?? '', password: source.password ?? '' };
  }
}

interface RegistrationDeps {
  registry: CallbackRegistry;
  inventory: Inventory;
  now: () => number;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

function accountName(params: Record<string, string | string[] | undefined>): string {
  const value = params.accountName;
  return typeof value === 'string' ? value : '';
}

/** `POST /m2m/v1/callbacks/{accountName}` `{name, url, username?, password?}` → `{accountName, serviceName}`. */
export function registerCallbackHandler(deps: RegistrationDeps): RequestHandler {
  return (req, res) => {
    const account = accountName(req.params);
    const body: unknown = req.body;
    if (!isRecord(body)) return sendError(res, ErrorCode.RequestUndefined, 'The request body must be a JSON object.');
    const { name, url, username, password } = body;
    if (!deps.inventory.accounts.has(account)) {
      return sendError(res, ErrorCode.AccountNotFound, `Account ${account} was not found.`);
    }
    if (typeof name !== 'string' || !REGISTRABLE_SERVICES.includes(name)) {
      return sendError(
        res,
        ErrorCode.CallbackServiceInvalid,
        `name must be one of ${REGISTRABLE_SERVICES.join(', ')}.`,
      );
    }
    if (typeof url !== 'string' || !isHttpUrl(url)) {
      return sendError(res, ErrorCode.CallbackUrlInvalid, 'url must be an http or https URL.');
    }
    for (const [field, value] of Object.entries({ username, password })) {
      if (value !== undefined && (typeof value !== 'string' || value.length > MAX_CREDENTIAL_LENGTH)) {
        return sendError(
          res,
          ErrorCode.CallbackCredentialsInvalid,
          `${field} must be a string of at most ${MAX_CREDENTIAL_LENGTH} characters.`,
        );
      }
    }
    deps.registry.register({
      accountName: account,
      name,
      url,
      ...(typeof username === 'string' ? { username } : {}),
      ...(typeof password === 'string' ? { password } : {}),
      registeredAt: deps.now(),
    });
    respond(res, 200, { accountName: account, serviceName: name });
  };
}

/** `GET /m2m/v1/callbacks/{accountName}`: an account without registrations gets an empty body, not `[]`. */
export function listCallbacksHandler(deps: RegistrationDeps): RequestHandler {
  return (req, res) => {
    const account = accountName(req.params);
    if (!deps.inventory.accounts.has(account)) {
      return sendError(res, ErrorCode.AccountNotFound, `Account ${account} was not found.`);
    }
    const registrations = deps.registry.list(account);
    if (registrations.length === 0) return respond(res, 200);
    respond(
      res,
      200,
      registrations.map((r) => ({ accountName: r.accountName, name: r.name, url: r.url })),
    );
  };
}

/** `DELETE /m2m/v1/callbacks/{accountName}/name/{serviceName}` → `{accountName, serviceName}`. */
export function deleteCallbackHandler(deps: RegistrationDeps): RequestHandler {
  return (req, res) => {
    const account = accountName(req.params);
    const serviceName = typeof req.params.serviceName === 'string' ? req.params.serviceName : '';
    if (!deps.inventory.accounts.has(account)) {
      return sendError(res, ErrorCode.AccountNotFound, `Account ${account} was not found.`);
    }
    deps.registry.remove(account, serviceName);
    respond(res, 200, { accountName: account, serviceName });
  };
}
