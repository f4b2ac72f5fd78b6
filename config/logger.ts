import { pino, type Logger } from 'pino';

/** Field paths that may hold secrets or personal data; pino replaces their values before writing. */
const REDACT = [
  'password',
  '*.password',
  'username',
  '*.username',
  'token',
  '*.token',
  'sessionToken',
  '*.sessionToken',
  'access_token',
  'authorization',
  '*.authorization',
  'headers',
  '*.headers',
  'primaryPlaceOfUse',
  '*.primaryPlaceOfUse',
];

/** The one structured logger of a process, named after its role. */
export function createLogger(name: string, level = 'info'): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } });
}
