/**
 * The remote codec endpoints the Temporal UI and CLI call to show encrypted payloads in clear (`POST
 * {endpoint}/decode`) and to encrypt what an operator sends from them (`POST {endpoint}/encode`). Both take and
 * answer `{"payloads": [...]}` in protobuf JSON: each payload's `data` and every metadata value in base64.
 *
 * Decoded payloads hold customers' names and addresses, so every request needs the operator token
 * (`Authorization: Bearer <token>`), and browsers may read the answers only from the Temporal UI's origins.
 */
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { Logger } from 'pino';
import { PayloadDecryptionError } from '../codec/index.js';
import { isRecord } from '../contracts/json.js';
import { requireBearerToken } from './auth.js';

/** Where `temporal server start-dev` serves its UI (npm start), by either name a developer types. */
export const DEFAULT_UI_ORIGINS: readonly string[] = ['http://127.0.0.1:8233', 'http://localhost:8233'];

/** Temporal refuses payloads above 2 MB; their base64 in JSON is a third larger. */
export const CODEC_BODY_LIMIT = '4mb';

/** The request headers the Temporal UI sends to a codec endpoint. */
const ALLOWED_HEADERS = 'Authorization, Content-Type, X-Namespace';

/** How long a browser may reuse a preflight answer, in seconds. */
const PREFLIGHT_MAX_AGE = '600';

export interface CodecRouterDeps {
  codec: PayloadCodec;
  /** Expected in `Authorization: Bearer <token>`. */
  token: string;
  logger: Logger;
  /** Origins whose pages may read the answers (the Temporal UI); default DEFAULT_UI_ORIGINS. */
  allowedOrigins?: readonly string[];
}

/** A payload in protobuf JSON, as the codec protocol carries it. */
export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

const isBase64 = (value: unknown): value is string => typeof value === 'string' && BASE64.test(value);

class InvalidPayloads extends Error {
  override name = 'InvalidPayloads';
}

/** The payloads of a codec request; InvalidPayloads names the first field that is not protobuf JSON. */
export function payloadsFromJson(body: unknown): Payload[] {
  if (!isRecord(body) || !Array.isArray(body.payloads)) {
    throw new InvalidPayloads('The body must be a JSON object with a "payloads" array');
  }
  return body.payloads.map((item: unknown, i): Payload => {
    if (!isRecord(item)) throw new InvalidPayloads(`payloads[${i}] must be an object`);
    const { metadata, data } = item;
    const payload: Payload = {};
    // Protobuf JSON may write an absent field as null.
    if (metadata !== undefined && metadata !== null) {
      if (!isRecord(metadata)) throw new InvalidPayloads(`payloads[${i}].metadata must be an object`);
      payload.metadata = Object.fromEntries(
        Object.entries(metadata).map(([name, value]) => {
          if (!isBase64(value)) throw new InvalidPayloads(`payloads[${i}].metadata.${name} must be a base64 string`);
          return [name, Buffer.from(value, 'base64')];
        }),
      );
    }
    if (data !== undefined && data !== null) {
      if (!isBase64(data)) throw new InvalidPayloads(`payloads[${i}].data must be a base64 string`);
      payload.data = Buffer.from(data, 'base64');
    }
    return payload;
  });
}

export function payloadToJson(payload: Payload): JsonPayload {
  const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  return {
    ...(payload.metadata && {
      metadata: Object.fromEntries(
        Object.entries(payload.metadata).flatMap(([name, value]) => (value ? [[name, base64(value)]] : [])),
      ),
    }),
    ...(payload.data && { data: base64(payload.data) }),
  };
}

export function codecRouter(deps: CodecRouterDeps): Router {
  const { codec, token, logger } = deps;
  const allowedOrigins = new Set(deps.allowedOrigins ?? DEFAULT_UI_ORIGINS);
  const router = Router();

  // CORS answers go on every response, 401s included, so the UI can tell a refusal from a network failure.
  router.use((req, res, next) => {
    res.vary('Origin');
    const origin = req.get('origin');
    const allowed = origin !== undefined && allowedOrigins.has(origin);
    if (allowed) {
      res.set('Access-Control-Allow-Origin', origin);
      // The UI's "include cross-origin credentials" setting makes the browser demand this; it lets an
      // authenticating proxy in front of the gateway use its cookie.
      res.set('Access-Control-Allow-Credentials', 'true');
    }
    if (req.method !== 'OPTIONS') return next();
    // A preflight carries no credentials: it is answered before authentication.
    if (!allowed) {
      res.status(403).json({
        error: 'origin_not_allowed',
        message: 'This origin may not call the codec endpoint; add it to CODEC_CORS_ORIGINS on the gateway',
      });
      return;
    }
    res
      .status(204)
      .set({
        'Access-Control-Allow-Methods': 'POST, OPTIONS',
        'Access-Control-Allow-Headers': ALLOWED_HEADERS,
        'Access-Control-Max-Age': PREFLIGHT_MAX_AGE,
      })
      .end();
  });

  router.use(requireBearerToken(token, logger, 'Codec'));

  const json = express.json({ limit: CODEC_BODY_LIMIT });

  const convert = (direction: 'encode' | 'decode') => async (req: Request, res: Response) => {
    let payloads: Payload[];
    try {
      payloads = payloadsFromJson(req.body);
    } catch (err) {
      if (!(err instanceof InvalidPayloads)) throw err;
      res.status(400).json({ error: 'invalid_body', message: err.message });
      return;
    }
    let converted: Payload[];
    try {
      converted = direction === 'decode' ? await codec.decode(payloads) : await codec.encode(payloads);
    } catch (err) {
      if (!(err instanceof PayloadDecryptionError)) throw err;
      res.status(422).json({ error: 'undecodable', message: err.message });
      return;
    }
    // Who read personal data, and how much of it: the namespace and the count, never the content.
    logger.info(
      { namespace: req.get('x-namespace'), payloads: payloads.length },
      direction === 'decode' ? 'Payloads decoded for an operator' : 'Payloads encoded for an operator',
    );
    res.json({ payloads: converted.map(payloadToJson) });
  };

  router.post('/decode', json, convert('decode'));
  router.post('/encode', json, convert('encode'));

  router.use((_req, res) => {
    res.status(404).json({ error: 'not_found', message: 'The codec endpoint serves POST /encode and POST /decode' });
  });

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const status = isRecord(err) && typeof err.status === 'number' ? err.status : 500;
    if (status === 413) {
      res.status(413).json({ error: 'too_large', message: `The body is larger than ${CODEC_BODY_LIMIT}` });
    } else if (status === 400) {
      res.status(400).json({ error: 'invalid_json', message: 'The body is not valid JSON' });
    } else {
      logger.error({ err }, 'Codec request failed');
      res.status(500).json({ error: 'internal', message: 'Unexpected error' });
    }
  });

  return router;
}
