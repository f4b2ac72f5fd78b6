/**
 * How the processes connect to Temporal: plain, TLS (server certificate checked against TEMPORAL_TLS_CA or
 * the system's roots), mutual TLS (TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY), and/or an API key (Temporal
 * Cloud). The same options suit `Connection` (client, gateway, scripts) and `NativeConnection` (worker).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export const temporalConnection = {
  TEMPORAL_TLS_CERT: z
    .string()
    .optional()
    .describe('PEM client certificate (a path) for mutual TLS to Temporal. Set TEMPORAL_TLS_KEY with it'),
  TEMPORAL_TLS_KEY: z
    .string()
    .optional()
    .describe('PEM private key (a path) of TEMPORAL_TLS_CERT. Keep it readable by the process only'),
  TEMPORAL_TLS_CA: z
    .string()
    .optional()
    .describe("PEM CA certificate (a path) of Temporal's server. Unset: the system's roots"),
  TEMPORAL_TLS_SERVER_NAME: z
    .string()
    .optional()
    .describe("Name expected in Temporal's server certificate. Unset: the host of TEMPORAL_ADDRESS"),
  TEMPORAL_TLS: z
    .enum(['true', 'false'])
    .optional()
    .describe('true: TLS to Temporal even without any other TLS setting'),
  TEMPORAL_API_KEY: z
    .string()
    .optional()
    .describe('API key sent to Temporal (Temporal Cloud); implies TLS. It is a secret: pass it as one'),
};

export type TemporalConnectionConfig = { TEMPORAL_ADDRESS: string } & {
  [K in keyof typeof temporalConnection]?: string | undefined;
};

export interface TemporalConnectionOptions {
  address: string;
  tls?: {
    serverNameOverride?: string;
    serverRootCACertificate?: Buffer;
    clientCertPair?: { crt: Buffer; key: Buffer };
  };
  apiKey?: string;
}

/** What is wrong with the TLS settings, each naming its variable; files are checked for readability. */
export function temporalConnectionProblems(config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const cert = config.TEMPORAL_TLS_CERT;
  const key = config.TEMPORAL_TLS_KEY;
  if ((cert === undefined) !== (key === undefined)) {
    problems.push(
      `${cert === undefined ? 'TEMPORAL_TLS_CERT' : 'TEMPORAL_TLS_KEY'}: set TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY together`,
    );
  }
  for (const name of ['TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY', 'TEMPORAL_TLS_CA']) {
    const path = config[name];
    if (typeof path !== 'string') continue;
    try {
      if (!readFileSync(path, 'utf8').includes('-----BEGIN ')) problems.push(`${name}: ${path} is not a PEM file`);
    } catch {
      problems.push(`${name}: cannot read ${path}`);
    }
  }
  return problems;
}

/** The connection options of a parsed configuration; TLS when any TLS setting or an API key is given. */
export function temporalConnectionOptions(config: TemporalConnectionConfig): TemporalConnectionOptions {
  const options: TemporalConnectionOptions = { address: config.TEMPORAL_ADDRESS };
  const tlsWanted =
    config.TEMPORAL_TLS === 'true' ||
    [config.TEMPORAL_TLS_CERT, config.TEMPORAL_TLS_CA, config.TEMPORAL_TLS_SERVER_NAME].some((v) => v !== undefined);
  if (tlsWanted || config.TEMPORAL_API_KEY !== undefined) {
    options.tls = {
      ...(config.TEMPORAL_TLS_SERVER_NAME !== undefined && { serverNameOverride: config.TEMPORAL_TLS_SERVER_NAME }),
      ...(config.TEMPORAL_TLS_CA !== undefined && { serverRootCACertificate: readFileSync(config.TEMPORAL_TLS_CA) }),
      ...(config.TEMPORAL_TLS_CERT !== undefined &&
        config.TEMPORAL_TLS_KEY !== undefined && {
          clientCertPair: { crt: readFileSync(config.TEMPORAL_TLS_CERT), key: readFileSync(config.TEMPORAL_TLS_KEY) },
        }),
    };
  }
  if (config.TEMPORAL_API_KEY !== undefined) options.apiKey = config.TEMPORAL_API_KEY;
  return options;
}
