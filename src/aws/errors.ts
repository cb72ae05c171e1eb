// Every AWS error is classified once, here, at the adapter edge, into the few causes the operator
// acts on. Nothing above src/aws looks at SDK error names. The SDK surfaces unmodelled codes
// (AccessDeniedException, ThrottlingException for most of these services) as the service's base
// exception with `name` set to the code, so classification reads `name`, never `instanceof`.

export type ErrorCause =
  /** Rate limited: retry with backoff, never count against the object. */
  | 'Throttled'
  /** Someone else changed the resource first, or it is busy: re-read and retry soon. */
  | 'Conflict'
  /** A 5xx, a timeout or a network failure: retry with backoff. */
  | 'Transient'
  /** The KMS key cannot be used (disabled, pending deletion, unavailable). */
  | 'KeyUnusable'
  /** IAM or a key policy refused the call. */
  | 'AccessDenied'
  /** The resource (or key) does not exist. */
  | 'NotFound'
  /** AWS rejected the request itself: only a spec change fixes it. */
  | 'InvalidSpec'
  /** An AWS quota that retrying will not free (grants per key, on-demand rotations). */
  | 'QuotaExceeded'
  /** Anything else. Treated like Transient, but reported as unexpected. */
  | 'Unknown';

/** Every cause, once (the record makes the compiler insist on all of them). */
const causeSet: Record<ErrorCause, true> = {
  Throttled: true,
  Conflict: true,
  Transient: true,
  KeyUnusable: true,
  AccessDenied: true,
  NotFound: true,
  InvalidSpec: true,
  QuotaExceeded: true,
  Unknown: true,
};
export const errorCauses = Object.keys(causeSet) as ErrorCause[];

export interface AwsFailure {
  cause: ErrorCause;
  /** The AWS error code (err.name), e.g. ConcurrentModificationException. */
  code: string;
  message: string;
  httpStatus?: number;
  requestId?: string;
}

const byCode: Record<string, ErrorCause> = {
  ThrottlingException: 'Throttled',
  Throttling: 'Throttled',
  TooManyRequestsException: 'Throttled',
  RequestLimitExceeded: 'Throttled',
  ProvisionedThroughputExceededException: 'Throttled',
  SlowDown: 'Throttled',

  ConcurrentModificationException: 'Conflict',
  ConflictException: 'Conflict',
  ResourceInUseException: 'Conflict',

  InternalFailure: 'Transient',
  InternalServerException: 'Transient',
  InternalServerError: 'Transient',
  ServiceUnavailableException: 'Transient',
  ServiceUnavailable: 'Transient',
  KMSInternalException: 'Transient',
  DependencyTimeoutException: 'Transient',
  RequestTimeout: 'Transient',
  TimeoutError: 'Transient',

  DisabledException: 'KeyUnusable',
  KMSInvalidStateException: 'KeyUnusable',
  KeyUnavailableException: 'KeyUnusable',

  AccessDeniedException: 'AccessDenied',
  AccessDenied: 'AccessDenied',
  UnauthorizedOperation: 'AccessDenied',
  UnrecognizedClientException: 'AccessDenied',
  InvalidClientTokenId: 'AccessDenied',
  ExpiredToken: 'AccessDenied',
  ExpiredTokenException: 'AccessDenied',
  // clients.ts: the tenancy rules refuse the namespace the role its object names.
  RoleNotAllowed: 'AccessDenied',

  NotFoundException: 'NotFound',
  ResourceNotFoundException: 'NotFound',
  NoSuchEntity: 'NotFound',

  ValidationException: 'InvalidSpec',
  InvalidArgumentException: 'InvalidSpec',
  InvalidRequestException: 'InvalidSpec',
  InvalidArnException: 'InvalidSpec',
  InvalidApplicationConfigurationException: 'InvalidSpec',
  UnsupportedOperationException: 'InvalidSpec',
  InvalidKeyUsageException: 'InvalidSpec',
  IncorrectKeyException: 'InvalidSpec',
  CodeValidationException: 'InvalidSpec',
  // KMS-019: the name is taken (an alias another key holds); retrying cannot free it, only a spec
  // change or a person can. Never transient: a retry after CreateKey would make another key.
  AlreadyExistsException: 'InvalidSpec',

  LimitExceededException: 'QuotaExceeded',
  ServiceQuotaExceededException: 'QuotaExceeded',
  TooManyTagsException: 'QuotaExceeded',
};

const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
]);

/** Classifies anything an SDK call can throw. Never throws itself. */
export function classifyAwsError(error: unknown): AwsFailure {
  if (error === null || typeof error !== 'object') {
    return { cause: 'Unknown', code: 'Unknown', message: String(error) };
  }
  const e = error as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    $metadata?: { httpStatusCode?: number; requestId?: string };
    $retryable?: unknown;
    cause?: { code?: unknown };
  };
  const code =
    typeof e.name === 'string' && e.name !== 'Error'
      ? e.name
      : typeof e.code === 'string'
        ? e.code
        : 'Unknown';
  const message = typeof e.message === 'string' && e.message ? e.message : code;
  const httpStatus = e.$metadata?.httpStatusCode;
  const requestId = e.$metadata?.requestId;
  const base = { code, message, ...(httpStatus ? { httpStatus } : {}), ...(requestId ? { requestId } : {}) };
  // Own keys only: an error code such as "constructor" or "toString" must not find Object.prototype.
  const known = Object.hasOwn(byCode, code) ? byCode[code] : undefined;
  if (known) return { cause: known, ...base };
  const sysCode =
    typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : undefined;
  if (sysCode && networkCodes.has(sysCode)) return { cause: 'Transient', ...base, code: sysCode };
  if (httpStatus === 429) return { cause: 'Throttled', ...base };
  if (httpStatus !== undefined && httpStatus >= 500) return { cause: 'Transient', ...base };
  if (httpStatus === 403) return { cause: 'AccessDenied', ...base };
  if (httpStatus === 404) return { cause: 'NotFound', ...base };
  return { cause: 'Unknown', ...base };
}

/** An Error carrying its classification, thrown by adapters. */
export class AwsCallError extends Error {
  readonly failure: AwsFailure;
  readonly operation: string;
  constructor(operation: string, failure: AwsFailure) {
    super(`${operation}: ${failure.code}: ${failure.message}`);
    this.name = 'AwsCallError';
    this.operation = operation;
    this.failure = failure;
  }
}

/**
 * The KMS calls the operator's IAM policy allows only on keys tagged `cmk.io/owner` = `<cluster>/...`
 * (IAM-001; src/keys/iam.ts, checked against it by test/unit/iam-policy.test.ts).
 */
export const ownerTagScopedKmsOperations: readonly string[] = [
  'CancelKeyDeletion',
  'CreateAlias',
  'DisableKeyRotation',
  'EnableKey',
  'EnableKeyRotation',
  'RotateKeyOnDemand',
  'ScheduleKeyDeletion',
];

/** An AccessDenied on a tag-scoped KMS call says what the operator's IAM policy needs of the key. */
function withOwnerTagHint(operation: string, failure: AwsFailure): AwsFailure {
  if (failure.cause !== 'AccessDenied' || !ownerTagScopedKmsOperations.includes(operation)) return failure;
  return {
    ...failure,
    message:
      `${failure.message} (the operator's IAM policy, docs/iam-policy.json, allows kms:${operation} only on keys ` +
      `tagged cmk.io/owner = <cluster-name>/...: a key adopted with spec.keyId needs the tag ` +
      `cmk.io/owner=<cluster-name>/<namespace>/<name> before the operator may change it, and its key policy must allow the call too)`,
  };
}

/** Runs one SDK call and rethrows any failure as a classified AwsCallError. */
export async function awsCall<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw new AwsCallError(operation, withOwnerTagHint(operation, classifyAwsError(e)));
  }
}
