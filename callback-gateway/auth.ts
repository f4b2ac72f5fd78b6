import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Constant-time comparison: hashing first makes the time independent of where (and whether) lengths differ. */
export function safeEqual(given: unknown, expected: string): boolean {
  return typeof given === 'string' && timingSafeEqual(digest(given), digest(expected));
}

/** SHA-256 of the callback's canonical content: re-deliveries of one callback share it. */
export function fingerprint(canonical: string): string {
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

const bearer = (header: string | undefined): string | undefined => /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1];

/**
 * Middleware of the operator-only endpoints (`/operator`, `/codec`): `Authorization: Bearer <token>`,
 * compared in constant time, else 401. Their answers hold device identifiers or customers' data, so no
 * proxy or browser cache may keep them.
 */
export function requireBearerToken(token: string, logger: Logger, what: string): RequestHandler {
  return (req, res, next) => {
    res.set('Cache-Control', 'no-store');
    if (!safeEqual(bearer(req.get('authorization')), token)) {
      logger.warn({ method: req.method, path: req.path }, `${what} request rejected: missing or wrong token`);
      res
        .status(401)
        .set('WWW-Authenticate', 'Bearer')
        .json({ error: 'unauthorized', message: 'Send the operator token as Authorization: Bearer <token>' });
      return;
    }
    next();
  };
}
