/**
 * ThingSpace's two credentials (thingspace-api-notes.md, Authentication): the OAuth access token from
 * `/ts/v1/oauth2/token`, and the M2M session token from `/m2m/v1/session/login`, with their lifetimes
 * and the lockout after failed logins.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ErrorCode, GatewayFault, oauthError, respond, sendError, sendFormError, type ErrorForm } from './errors.js';
import { isRecord } from './util.js';

export interface Credentials {
  clientId: string;
  clientSecret: string;
  username: string;
  password: string;
}

export interface AuthOptions {
  credentials: Credentials;
  tokenLifetimeMs: number;
  sessionIdleMs: number;
  maxFailedLogins: number;
  now: () => number;
}

export type LoginOutcome = { ok: true; sessionToken: string } | { ok: false; reason: 'invalid' | 'locked' };

/** Scopes the token endpoint grants; clients only echo them. */
const SCOPE = 'ts.application.ro ts.transaction.ro ts.mec.fullaccess';

function equalSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** Tokens, sessions and failed-login counts. Tokens and session ids are random: never predictable. */
export class AuthState {
  private tokens = new Map<string, number>();
  private current: { token: string; expiresAt: number } | undefined;
  private sessions = new Map<string, { username: string; lastUsedAt: number }>();
  private failedLogins = new Map<string, number>();
  private locked = new Set<string>();

  constructor(readonly options: AuthOptions) {}

  clientMatches(clientId: string, clientSecret: string): boolean {
    const expected = this.options.credentials;
    return equalSecret(clientId, expected.clientId) && equalSecret(clientSecret, expected.clientSecret);
  }

  /** Within its lifetime the same token is handed out again (thingspace-api-notes.md). */
  issueToken(): { token: string; expiresAt: number } {
    const now = this.options.now();
    if (this.current && this.current.expiresAt > now && this.tokens.has(this.current.token)) return this.current;
    this.current = { token: randomUUID().replace(/-/g, ''), expiresAt: now + this.options.tokenLifetimeMs };
    this.tokens.set(this.current.token, this.current.expiresAt);
    return this.current;
  }

  tokenValid(token: string): boolean {
    const expiresAt = this.tokens.get(token);
    return expiresAt !== undefined && expiresAt > this.options.now();
  }

  revokeToken(token: string): void {
    this.tokens.delete(token);
    if (this.current?.token === token) this.current = undefined;
  }

  /** Every token stops working now; returns how many were live. */
  expireTokens(): number {
    const count = [...this.tokens.values()].filter((t) => t > this.options.now()).length;
    this.tokens.clear();
    this.current = undefined;
    return count;
  }

  /**
   * Consecutive failures per user lock the account at `maxFailedLogins`; a locked account refuses even
   * the right password (thingspace-api-notes.md: a client must never loop on login failures).
   */
  login(username: string, password: string): LoginOutcome {
    if (this.locked.has(username)) return { ok: false, reason: 'locked' };
    const expected = this.options.credentials;
    if (!(equalSecret(username, expected.username) && equalSecret(password, expected.password))) {
      const failures = (this.failedLogins.get(username) ?? 0) + 1;
      this.failedLogins.set(username, failures);
      if (failures >= this.options.maxFailedLogins) this.locked.add(username);
      return { ok: false, reason: 'invalid' };
    }
    this.failedLogins.delete(username);
    const sessionToken = randomUUID();
    this.sessions.set(sessionToken, { username, lastUsedAt: this.options.now() });
    return { ok: true, sessionToken };
  }

  /** Sessions expire after `sessionIdleMs` without use; every use slides the window. */
  touchSession(sessionToken: string): boolean {
    const session = this.sessions.get(sessionToken);
    const now = this.options.now();
    if (!session || now - session.lastUsedAt >= this.options.sessionIdleMs) {
      this.sessions.delete(sessionToken);
      return false;
    }
    session.lastUsedAt = now;
    return true;
  }

  logout(sessionToken: string): void {
    this.sessions.delete(sessionToken);
  }

  expireSessions(): number {
    const count = this.sessions.size;
    this.sessions.clear();
    return count;
  }

  lockedUsers(): string[] {
    return [...this.locked];
  }

  unlock(): string[] {
    const users = [...this.locked];
    this.locked.clear();
    this.failedLogins.clear();
    return users;
  }

  reset(): void {
    this.expireTokens();
    this.expireSessions();
    this.unlock();
  }
}

function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const match = header?.match(/^Basic\s+(\S+)$/i);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

const missingBasic = {
  fault: {
    ...GatewayFault.missingCredentials.fault,
    description:
      'Required OAuth credentials not provided. Make sure your API invocation call has a header: "Authorization: Basic ACCESS_TOKEN"',
  },
};

/** Client authentication of the OAuth endpoints: HTTP Basic with client id and secret. */
function requireClient(auth: AuthState): RequestHandler {
  return (req, res, next) => {
    if (!req.headers.authorization) return respond(res, 401, missingBasic);
    const client = basicCredentials(req.headers.authorization);
    if (!client || !auth.clientMatches(client.id, client.secret)) {
      return respond(res, 401, oauthError('invalid_client', 'Client Authentication failed.'));
    }
    next();
  };
}

function formField(body: unknown, name: string): string | undefined {
  if (!isRecord(body)) return undefined;
  const value = body[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** `POST /ts/v1/oauth2/token` (form `grant_type=client_credentials`). */
export function tokenHandlers(auth: AuthState): RequestHandler[] {
  return [
    requireClient(auth),
    (req, res) => {
      const grantType = formField(req.body, 'grant_type');
      if (!grantType) return respond(res, 400, oauthError('invalid_request', 'Missing grant_type parameter value'));
      if (grantType !== 'client_credentials') {
        return respond(res, 400, oauthError('unsupported_grant_type', 'Unsupported grant_type value'));
      }
      const { token, expiresAt } = auth.issueToken();
      respond(res, 200, {
        access_token: token,
        token_type: 'bearer',
        expires_in: Math.max(1, Math.floor((expiresAt - auth.options.now()) / 1000)),
        scope: SCOPE,
      });
    },
  ];
}

/** `POST /ts/v1/oauth2/revoke` (form `token=…`): 200 with an empty body, known token or not (RFC 7009). */
export function revokeHandlers(auth: AuthState): RequestHandler[] {
  return [
    requireClient(auth),
    (req, res) => {
      const token = formField(req.body, 'token');
      if (!token) return respond(res, 400, oauthError('invalid_request', 'Missing token parameter value'));
      auth.revokeToken(token);
      respond(res, 200);
    },
  ];
}

/** The API gateway's bearer check, in front of every M2M resource. */
export function requireBearer(auth: AuthState): RequestHandler {
  return (req, res, next) => {
    const match = req.headers.authorization?.match(/^Bearer\s+(\S+)$/i);
    if (!match?.[1]) return respond(res, 401, GatewayFault.missingCredentials);
    if (!auth.tokenValid(match[1])) return respond(res, 401, GatewayFault.invalidCredentials);
    next();
  };
}

/**
 * The M2M session check; a valid session is extended by the call (sliding idle timeout). `form` gives the
 * endpoint's error form: in the eSIM profile pages' 3-digit form a missing or expired session is a 401
 * `{"errorCode":"401",…}`, elsewhere ThingSpace's 400 `…SessionToken.Expired`.
 */
export function requireSession(auth: AuthState, form: () => ErrorForm = () => 'unified'): RequestHandler {
  return (req, res, next) => {
    const token = req.get('VZ-M2M-Token');
    const status = form() === 'threeDigit' ? 401 : 400;
    if (!token) {
      return sendFormError(res, form(), ErrorCode.SessionTokenInvalid, 'The VZ-M2M-Token header is missing.', status);
    }
    if (!auth.touchSession(token)) {
      return sendFormError(res, form(), ErrorCode.SessionExpired, 'The Session has expired.', status);
    }
    next();
  };
}

/** `POST /m2m/v1/session/login` → `{sessionToken}`. */
export function loginHandler(auth: AuthState): RequestHandler {
  return (req, res) => {
    const body: unknown = req.body;
    const username = formField(body, 'username');
    const password = formField(body, 'password');
    if (!username || !password) {
      return sendError(res, ErrorCode.ParameterNotDefined, 'username and password are required.');
    }
    const outcome = auth.login(username, password);
    if (outcome.ok) return respond(res, 200, { sessionToken: outcome.sessionToken });
    if (outcome.reason === 'locked') {
      return sendError(res, ErrorCode.AccountLocked, 'The account is locked after too many failed login attempts.');
    }
    sendError(res, ErrorCode.CredentialsInvalid, 'The username or password is not valid.');
  };
}

/** `POST /m2m/v1/session/logout` → `{sessionToken}` of the ended session. */
export function logoutHandler(auth: AuthState): RequestHandler {
  return (req, res) => {
    const token = req.get('VZ-M2M-Token') ?? '';
    auth.logout(token);
    respond(res, 200, { sessionToken: token });
  };
}
