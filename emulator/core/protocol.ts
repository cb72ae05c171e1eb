// Wire-level facts shared by every emulated service: which protocol a service speaks, how an error
// travels back to the SDK, and how timestamps are encoded. Services throw `AwsError`; only the
// server turns it into bytes, so every service gets AWS-shaped errors for free.

export type ServiceName = 'kms' | 'kinesisanalytics' | 'cassandra' | 'emr-serverless' | 'sts' | 'sqs';

export type Protocol = 'awsJson1_1' | 'awsJson1_0' | 'restJson1' | 'awsQuery';

/** An error the way AWS reports it: a code (the SDK's `err.name`), a message and an HTTP status. */
export class AwsError extends Error {
  readonly code: string;
  readonly status: number;
  /** Extra members serialised beside the message (for example Keyspaces' `resourceArn`). */
  readonly extra: Record<string, unknown>;

  constructor(code: string, message: string, status = 400, extra: Record<string, unknown> = {}) {
    super(message);
    this.code = code;
    this.status = status;
    this.extra = extra;
  }
}

export function isAwsError(e: unknown): e is AwsError {
  return e instanceof AwsError;
}

/** Errors no service models but every service can send (AccessDenied, Throttling, Validation...). */
export const commonErrors = {
  accessDenied: (message: string) => new AwsError('AccessDeniedException', message, 400),
  throttling: (message = 'Rate exceeded') => new AwsError('ThrottlingException', message, 400),
  validation: (message: string) => new AwsError('ValidationException', message, 400),
  internal: (message = 'An internal error occurred. Try again.') =>
    new AwsError('InternalFailure', message, 500),
  unavailable: (message = 'Service unavailable. Try again later.') =>
    new AwsError('ServiceUnavailableException', message, 503),
} as const;

export interface EncodedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const contentTypes: Record<Protocol, string> = {
  awsJson1_1: 'application/x-amz-json-1.1',
  awsJson1_0: 'application/x-amz-json-1.0',
  restJson1: 'application/json',
  awsQuery: 'text/xml',
};

export function contentTypeFor(protocol: Protocol): string {
  return contentTypes[protocol];
}

/** MSF (kinesisanalyticsv2) names its message member `Message`; the others use `message`. */
function messageMember(service: ServiceName): string {
  return service === 'kinesisanalytics' ? 'Message' : 'message';
}

export function encodeError(
  service: ServiceName,
  protocol: Protocol,
  error: AwsError,
  requestId: string,
): EncodedResponse {
  const headers: Record<string, string> = {
    'content-type': contentTypes[protocol],
    'x-amzn-requestid': requestId,
    'x-amzn-errortype': error.code,
  };
  if (protocol === 'awsQuery') {
    const body =
      `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>${error.status >= 500 ? 'Receiver' : 'Sender'}</Type>` +
      `<Code>${xmlEscape(error.code)}</Code><Message>${xmlEscape(error.message)}</Message></Error>` +
      `<RequestId>${requestId}</RequestId></ErrorResponse>`;
    return { status: error.status, headers, body };
  }
  const payload: Record<string, unknown> = { ...error.extra, [messageMember(service)]: error.message };
  if (protocol !== 'restJson1') payload['__type'] = error.code;
  return { status: error.status, headers, body: JSON.stringify(payload) };
}

export function encodeJson(
  protocol: Protocol,
  value: unknown,
  requestId: string,
  status = 200,
): EncodedResponse {
  return {
    status,
    headers: { 'content-type': contentTypes[protocol], 'x-amzn-requestid': requestId },
    body: value === undefined ? '{}' : JSON.stringify(value),
  };
}

/** AWS JSON protocols carry timestamps as epoch seconds (fractional allowed). */
export function epochSeconds(ms: number): number {
  return Math.round(ms) / 1000;
}

export function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
