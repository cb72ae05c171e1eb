// The process logger: pino, JSON lines on stdout, one child logger per reconcile.
//
// Guarantees: secrets never reach the log in the shapes they travel in here (AWS credentials
// objects, bearer tokens, HTTP authorization headers, kubeconfig user entries) up to three levels
// deep; the level comes from the caller, else LOG_LEVEL, else `info`. Never writes anywhere but
// the given destination (stdout by default).

import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export const secretFields = [
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

const secretKeys: ReadonlySet<string> = new Set(secretFields);
const censor = '[redacted]';

/**
 * `value` with every secret field at the top level and up to three levels down replaced by
 * '[redacted]'. An object that holds none is returned as it is: the walk copies only the objects
 * on the way to a secret. Used as pino's log formatter and on child bindings, instead of pino's
 * `redact` option with wildcard paths, which clones and walks every value of every line and of
 * every child's bindings: ~200 us for one reconcile's child and audit line, ~10 with this walk
 * (scripts/log-cost.ts).
 */
export function redactSecrets<T>(value: T, depth = 0): T {
  if (depth > 3 || value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  let copy: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value)) {
    const next = secretKeys.has(k) ? censor : redactSecrets(v, depth + 1);
    if (next === v) continue;
    copy ??= copyOf(value);
    copy[k] = next;
  }
  return (copy ?? value) as T;
}

/** A shallow copy to redact in: arrays stay arrays, an Error keeps its type, message and stack. */
function copyOf(value: object): Record<string, unknown> {
  if (Array.isArray(value)) return [...value] as unknown as Record<string, unknown>;
  if (value instanceof Error)
    return Object.assign(Object.create(Object.getPrototypeOf(value)), value, {
      message: value.message,
      stack: value.stack,
    });
  return { ...value };
}

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
  const logger = pino(
    {
      level,
      base: redactSecrets(options.base ?? {}),
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: (o) => redactSecrets(o) },
    },
    // Synchronous stdout: the last lines before a crash are the ones that matter.
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
  // A child's bindings are serialized once, when it is made, and no formatter sees them: redacted
  // here. Every descendant inherits this method (pino makes a child with Object.create(parent)).
  const child = logger.child;
  logger.child = function (this: Logger, bindings, options) {
    return child.call(this, redactSecrets(bindings), options);
  } as Logger['child'];
  return logger;
}

/** A logger that drops everything (tests, library defaults). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
