// The process logger: pino, JSON lines on stdout, one child logger per reconcile.
//
// Guarantees: secrets never reach the log in the shapes they travel in here (AWS credentials
// objects, bearer tokens, HTTP authorization headers, kubeconfig user entries) up to three levels
// deep; the level comes from the caller, else LOG_LEVEL, else `info`. Never writes anywhere but
// the given destination (stdout by default).

import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

const secretFields = [
  'credentials',
  'Credentials',
  'token',
  'accessToken',
  'bearerToken',
  'authorization',
  'Authorization',
  'password',
  'SecretAccessKey',
  'secretAccessKey',
  'SessionToken',
  'sessionToken',
  'client-key-data',
  'keyData',
];

/** pino redaction paths for every secret field at the top level and up to three levels down. */
export const redactPaths: string[] = secretFields.flatMap((field) => {
  const key = /^[A-Za-z_$][\w$]*$/.test(field) ? field : `["${field}"]`;
  const dot = key.startsWith('[') ? '' : '.';
  return [key, `*${dot}${key}`, `*.*${dot}${key}`, `*.*.*${dot}${key}`];
});

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

export interface LoggerOptions {
  level?: string;
  /** Default: process.env. */
  env?: Record<string, string | undefined>;
  /** Default: stdout. */
  destination?: DestinationStream;
  /** Fields on every line, e.g. { pod }. */
  base?: Record<string, unknown>;
}

/**
 * The fields the operator's process logger puts on every line. The process is named by `name`;
 * a subsystem's child logger adds `component` (inventory, key-poll, events, ...), so each key
 * appears once on a line.
 */
export const processLogBase = { name: 'cmk-operator' } as const;

export function createLogger(options: LoggerOptions = {}): Logger {
  const env = options.env ?? process.env;
  const level = options.level ?? env['LOG_LEVEL'] ?? 'info';
  if (!(logLevels as readonly string[]).includes(level)) {
    throw new Error(`unknown log level "${level}" (one of ${logLevels.join(', ')})`);
  }
  return pino(
    {
      level,
      base: options.base ?? {},
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: redactPaths, censor: '[redacted]' },
    },
    // Synchronous stdout: the last lines before a crash are the ones that matter.
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that drops everything (tests, library defaults). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
