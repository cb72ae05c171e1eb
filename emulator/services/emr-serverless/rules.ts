// EMR Serverless rules: constants, request validation and pure decisions, each citing the fact it
// implements. No store, no clock, no HTTP.

import { keyServesData } from '../../core/key-usable.ts';
import { AwsError } from '../../core/protocol.ts';
import type { JsonObject } from '../../core/service.ts';
import { validator } from '../../core/validate.ts';
import type { KeyView } from '../../core/world.ts';
import type { Application, AppState, DiskEncryption, JobState, SessionState } from './state.ts';

export const v = validator('ValidationException');
export const validation = (message: string) => new AwsError('ValidationException', message, 400);
export const conflict = (message: string) => new AwsError('ConflictException', message, 409);
export const notFound = (message: string) => new AwsError('ResourceNotFoundException', message, 404);

/** EMR-010: application states. */
export const appStates: readonly AppState[] = [
  'CREATING',
  'CREATED',
  'STARTING',
  'STARTED',
  'STOPPING',
  'STOPPED',
  'TERMINATED',
];
export const jobStates: readonly JobState[] = [
  'SUBMITTED',
  'PENDING',
  'SCHEDULED',
  'QUEUED',
  'RUNNING',
  'SUCCESS',
  'FAILED',
  'CANCELLING',
  'CANCELLED',
];
/** Jobs that keep an application from stopping (StopApplication contract). */
export const activeJobStates: ReadonlySet<JobState> = new Set([
  'SUBMITTED',
  'PENDING',
  'SCHEDULED',
  'QUEUED',
  'RUNNING',
  'CANCELLING',
]);
/** Jobs that still need their disk key. */
export const keyDependentStates: ReadonlySet<JobState> = new Set([
  'SUBMITTED',
  'PENDING',
  'SCHEDULED',
  'QUEUED',
  'RUNNING',
]);

export const roleArnPattern = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
export const releaseLabelPattern = /^emr-\d+\.\d+\.\d+(-[a-z0-9.-]+)?$/;
export const appNamePattern = /^[A-Za-z0-9._/#-]+$/;
export const resourceArnPattern =
  /^arn:aws[a-z-]*:emr-serverless:([a-z0-9-]+):(\d{12}):\/applications\/([0-9a-z]+)(?:\/(jobruns|sessions)\/([0-9a-z]+))?$/;
export const minute = 60_000;
export const maxTags = 200;

/** Members stored and echoed as given (no behaviour behind them in the emulator). */
export const passthroughMembers = [
  'initialCapacity',
  'maximumCapacity',
  'networkConfiguration',
  'architecture',
  'imageConfiguration',
  'workerTypeSpecifications',
  'runtimeConfiguration',
  'monitoringConfiguration',
  'interactiveConfiguration',
  'schedulerConfiguration',
  'identityCenterConfiguration',
  'jobLevelCostAllocationConfiguration',
] as const;

// ---- Pagination and query members ---------------------------------------------------------------

export function encodeToken(index: number): string {
  return Buffer.from(JSON.stringify({ i: index }), 'utf8').toString('base64url');
}

export function decodeToken(token: string | null): number | undefined {
  if (token === null || token === '') return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { i?: unknown };
    if (typeof parsed.i === 'number' && Number.isInteger(parsed.i) && parsed.i >= 0) return parsed.i;
  } catch {
    // fall through to the error below
  }
  throw validation('Invalid pagination token');
}

export function queryInt(query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw validation(
      `1 validation error detected: Value '${raw}' at '${name}' failed to satisfy constraint: Member must have value between ${min} and ${max}`,
    );
  return n;
}

export function queryStates<T extends string>(
  query: URLSearchParams,
  allowed: readonly T[],
): Set<T> | undefined {
  const states = query.getAll('states');
  if (states.length === 0) return undefined;
  for (const s of states) {
    if (!allowed.includes(s as T))
      throw validation(
        `1 validation error detected: Value '${s}' at 'states' failed to satisfy constraint: Member must satisfy enum value set: [${allowed.join(', ')}]`,
      );
  }
  return new Set(states as T[]);
}

export function queryTime(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  const asNumber = Number(raw);
  const ms = Number.isFinite(asNumber) ? asNumber * 1000 : Date.parse(raw);
  if (Number.isNaN(ms)) throw validation(`Invalid timestamp for ${name}: ${raw}`);
  return ms;
}

// ---- Request validation -------------------------------------------------------------------------

export function parseTags(body: JsonObject, member: string): Record<string, string> | undefined {
  const tags = v.optStringMap(body, member);
  if (!tags) return undefined;
  const entries = Object.entries(tags);
  if (entries.length > maxTags) throw validation(`A resource can have at most ${maxTags} tags`);
  for (const [k, val] of entries) {
    if (k.length < 1 || k.length > 128)
      throw validation(`Tag key ${JSON.stringify(k)} must be 1-128 characters`);
    if (val.length > 256) throw validation(`The value of tag ${k} must be at most 256 characters`);
  }
  return { ...tags };
}

export function validateReleaseLabel(releaseLabel: string): void {
  if (!releaseLabelPattern.test(releaseLabel))
    throw validation(
      `Release label ${releaseLabel} is not a valid EMR release label (for example emr-7.5.0)`,
    );
}

/**
 * EMR-004, EMR-008: `diskEncryptionConfiguration`. `undefined`: member absent (unchanged); `null`:
 * `{}` (clear, back to service-owned keys); otherwise the configuration to check. A context without a
 * key ARN is a ValidationException.
 */
export function parseDisk(
  body: JsonObject,
  member = 'diskEncryptionConfiguration',
): DiskEncryption | null | undefined {
  const raw = v.optObject(body, member);
  if (raw === undefined) return undefined;
  const encryptionKeyArn = v.optStr(raw, 'encryptionKeyArn', { min: 20, max: 2048 });
  const encryptionContext = v.optStringMap(raw, 'encryptionContext');
  if (encryptionKeyArn === undefined) {
    if (encryptionContext && Object.keys(encryptionContext).length > 0)
      throw validation(`${member}.encryptionContext requires ${member}.encryptionKeyArn`);
    return null;
  }
  return { encryptionKeyArn, ...(encryptionContext ? { encryptionContext: { ...encryptionContext } } : {}) };
}

export function parseAutoStop(raw: JsonObject, current: Application['autoStop']): Application['autoStop'] {
  return {
    enabled: v.optBool(raw, 'enabled') ?? true,
    idleTimeoutMinutes:
      v.optInt(raw, 'idleTimeoutMinutes', { min: 1, max: 10_080 }) ?? current.idleTimeoutMinutes,
  };
}

export function validateJobDriver(driver: JsonObject, appType: string): void {
  const members = ['sparkSubmit', 'hive'].filter((m) => driver[m] !== undefined && driver[m] !== null);
  if (members.length !== 1) throw validation('jobDriver must specify exactly one of sparkSubmit or hive');
  if (driver['sparkSubmit']) {
    v.str(v.object(driver, 'sparkSubmit'), 'entryPoint', { min: 1, max: 256 });
    if (appType !== 'SPARK')
      throw validation(`A sparkSubmit job driver needs a SPARK application, not ${appType}`);
  } else {
    v.str(v.object(driver, 'hive'), 'query', { min: 1, max: 10_280 });
    if (appType !== 'HIVE') throw validation(`A hive job driver needs a HIVE application, not ${appType}`);
  }
}

// ---- States and keys ----------------------------------------------------------------------------

/** EMR-010: why an operation is refused in the application's state, or undefined when allowed. */
export function stateProblem(
  app: Pick<Application, 'id' | 'state'>,
  allowed: readonly AppState[],
): string | undefined {
  return allowed.includes(app.state)
    ? undefined
    : `Application ${app.id} must be in one of the following statuses [${allowed.join(', ')}]. Current status: ${app.state}`;
}

/** EMR-009: the encryption context EMR Serverless sends: the application id merged with the custom context. */
export function diskEncryptionContext(appId: string, disk: DiskEncryption): Record<string, string> {
  return { applicationId: appId, ...(disk.encryptionContext ?? {}) };
}

/** EMR-003: a job-level key wins; without one (including `{}`) the job inherits the application's. */
export function effectiveDisk(
  override: DiskEncryption | null | undefined,
  app: DiskEncryption | undefined,
): DiskEncryption | undefined {
  return override ?? app;
}

/** The stateDetails of a job failed because its disk key is unusable. */
export const keyFailure = (arn: string, state: string) =>
  `Job failed: the KMS key ${arn} used for disk encryption is ${state} (KMS key not usable). Enable the key or choose another key and resubmit the job.`;

/** A job's disk key must still serve data when it starts running (KMS-004); why not, or undefined. */
export function jobKeyProblem(keyArn: string | undefined, key: KeyView | undefined): string | undefined {
  if (!keyArn) return undefined;
  if (keyServesData(key)) return undefined;
  return keyFailure(keyArn, key ? key.state : 'deleted');
}

// ---- Interactive sessions -----------------------------------------------------------------------

/** EMR-012: session states. */
export const sessionStates: readonly SessionState[] = [
  'SUBMITTED',
  'STARTING',
  'STARTED',
  'IDLE',
  'BUSY',
  'TERMINATING',
  'TERMINATED',
  'FAILED',
];
/** Sessions that have not ended: they keep their application started and still need their disk key. */
export const liveSessionStates: ReadonlySet<SessionState> = new Set([
  'SUBMITTED',
  'STARTING',
  'STARTED',
  'IDLE',
  'BUSY',
  'TERMINATING',
]);
/** EMR-012: the first release that runs interactive sessions through StartSession. */
export const firstSessionRelease = [7, 13, 0] as const;

/** EMR-008, EMR-013: the Spark properties that carry a session's disk key. */
export const sessionDiskProperties = {
  keyArn: 'spark.emr-serverless.disk.encryptionKeyArn',
  context: 'spark.emr-serverless.disk.encryptionContext',
} as const;

/** Whether `label` (emr-X.Y.Z) is at least `min`; false for a label this pattern cannot read. */
export function releaseAtLeast(label: string, min: readonly [number, number, number]): boolean {
  const m = /^emr-(\d+)\.(\d+)\.(\d+)/.exec(label);
  if (!m) return false;
  const parts = [Number(m[1]), Number(m[2]), Number(m[3])];
  for (let i = 0; i < 3; i++) if (parts[i] !== min[i]) return parts[i]! > min[i]!;
  return true;
}

/**
 * EMR-012: why an application cannot run a session, or undefined. Interactive sessions must be
 * switched on (interactiveConfiguration.sessionEnabled) and the release must be recent enough; the
 * application's state is checked as for job runs.
 */
export function sessionPrecondition(
  app: Pick<Application, 'id' | 'releaseLabel' | 'config'>,
): string | undefined {
  const interactive = app.config['interactiveConfiguration'] as JsonObject | undefined;
  if (interactive?.['sessionEnabled'] !== true)
    return `Interactive sessions are not enabled for application ${app.id}: set interactiveConfiguration.sessionEnabled to true with UpdateApplication`;
  if (!releaseAtLeast(app.releaseLabel, firstSessionRelease))
    return `Application ${app.id} runs ${app.releaseLabel}; interactive sessions need emr-${firstSessionRelease.join('.')} or later`;
  return undefined;
}

/** EMR-008: a Spark conf encryption context `k1:v1,k2:v2` as a map. */
export function parseSparkContext(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const i = pair.indexOf(':');
    if (i <= 0 || i === pair.length - 1)
      throw validation(
        `Invalid ${sessionDiskProperties.context} ${JSON.stringify(text)}: expected key1:value1,key2:value2`,
      );
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}

/**
 * EMR-013: the disk key a StartSession request names in its runtime configuration: the
 * `spark-defaults` classification's disk properties, or undefined when it names none. Only runtime
 * configuration overrides exist for sessions; a context without a key ARN is a ValidationException.
 */
export function sessionDisk(overrides: JsonObject | undefined): DiskEncryption | undefined {
  if (!overrides) return undefined;
  const runtime = overrides['runtimeConfiguration'];
  if (runtime === undefined || runtime === null) return undefined;
  if (!Array.isArray(runtime))
    throw validation('configurationOverrides.runtimeConfiguration must be a list of configurations');
  let disk: DiskEncryption | undefined;
  let context: Record<string, string> | undefined;
  for (const raw of runtime) {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      throw validation('Each runtimeConfiguration entry must be an object with a classification');
    const entry = raw as JsonObject;
    v.str(entry, 'classification', { min: 1, max: 1024 });
    if (entry['classification'] !== 'spark-defaults') continue;
    const properties = v.optStringMap(entry, 'properties') ?? {};
    const keyArn = properties[sessionDiskProperties.keyArn];
    const contextText = properties[sessionDiskProperties.context];
    if (keyArn !== undefined) disk = { encryptionKeyArn: keyArn };
    if (contextText !== undefined) context = parseSparkContext(contextText);
  }
  if (!disk) {
    if (context)
      throw validation(`${sessionDiskProperties.context} requires ${sessionDiskProperties.keyArn}`);
    return undefined;
  }
  return context ? { ...disk, encryptionContext: context } : disk;
}

/** The stateDetails of a session failed because its disk key is unusable. */
export const sessionKeyFailure = (arn: string, state: string) =>
  `Session failed: the KMS key ${arn} used for disk encryption is ${state} (KMS key not usable). Enable the key or start a new session with another key.`;

/** A session's disk key must still serve data when the session starts (KMS-004); why not, or undefined. */
export function sessionKeyProblem(keyArn: string | undefined, key: KeyView | undefined): string | undefined {
  if (!keyArn || keyServesData(key)) return undefined;
  return sessionKeyFailure(keyArn, key ? key.state : 'deleted');
}
