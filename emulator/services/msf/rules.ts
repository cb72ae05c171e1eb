// MSF rules: pure functions and constants, each citing the fact it implements. No store, no clock, no
// HTTP; the KMS directory is passed in where a rule needs KMS's view of a key.

import type { Principal } from '../../core/identity.ts';
import type { KeyDirectory, KeyUseRequest } from '../../core/key-usable.ts';
import { AwsError } from '../../core/protocol.ts';
import type { JsonObject } from '../../core/service.ts';
import type { KeyView } from '../../core/world.ts';
import type {
  Application,
  KeyAlarm,
  KeyRef,
  KeyType,
  OperationStatus,
  RestoreType,
  SnapshotRecord,
  Status,
} from './state.ts';

export const keyTypes: readonly KeyType[] = ['AWS_OWNED_KEY', 'CUSTOMER_MANAGED_KEY'];
export const runtimes = [
  'FLINK-1_6',
  'FLINK-1_8',
  'FLINK-1_11',
  'FLINK-1_13',
  'FLINK-1_15',
  'FLINK-1_18',
  'FLINK-1_19',
  'FLINK-1_20',
  'FLINK-2_2',
  'FLINK-2_3',
  'SQL-1_0',
  'ZEPPELIN-FLINK-1_0',
  'ZEPPELIN-FLINK-2_0',
  'ZEPPELIN-FLINK-3_0',
] as const;
/** MSF-005: customer managed keys need Flink 1.20 or later. */
export const cmkRuntimes: ReadonlySet<string> = new Set(['FLINK-1_20', 'FLINK-2_2', 'FLINK-2_3']);
export const applicationModes = ['STREAMING', 'INTERACTIVE'] as const;
export const restoreTypes: readonly RestoreType[] = [
  'SKIP_RESTORE_FROM_SNAPSHOT',
  'RESTORE_FROM_LATEST_SNAPSHOT',
  'RESTORE_FROM_CUSTOM_SNAPSHOT',
];
export const operationStatuses: readonly OperationStatus[] = [
  'IN_PROGRESS',
  'CANCELLED',
  'SUCCESSFUL',
  'FAILED',
];
/** StopApplication with Force is accepted from these (SDK StopApplicationRequest). */
export const forceStoppable: ReadonlySet<Status> = new Set([
  'STARTING',
  'UPDATING',
  'STOPPING',
  'AUTOSCALING',
  'RUNNING',
]);

export const namePattern = /^[a-zA-Z0-9_.-]+$/;
export const tokenPattern = /^[a-zA-Z0-9-_+/=]+$/;
export const maxUserTags = 50;
export const defaultPageSize = 50;
/** MSF-008: the encryption context of every MSF KMS call. */
export const encryptionContextKey = 'aws:kinesisanalytics:arn';

export const invalidArgument = (message: string) => new AwsError('InvalidArgumentException', message, 400);
export const notFound = (message: string) => new AwsError('ResourceNotFoundException', message, 400);
export const inUse = (message: string) => new AwsError('ResourceInUseException', message, 400);
export const concurrentModification = (message: string) =>
  new AwsError('ConcurrentModificationException', message, 409);
export const tooManyTags = (message: string) => new AwsError('TooManyTagsException', message, 400);

// ---- Names, ARNs and tokens ---------------------------------------------------------------------

function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

export function appArn(region: string, accountId: string, name: string): string {
  return `arn:${partitionOf(region)}:kinesisanalytics:${region}:${accountId}:application/${name}`;
}

export function appScopeKey(accountId: string, region: string): string {
  return `${accountId}/${region}`;
}

/** An application ARN's parts; InvalidArgumentException when it is not one. */
export function parseApplicationArn(arn: string): { region: string; accountId: string; name: string } {
  const m = /^arn:[^:]+:kinesisanalytics:([^:]+):(\d{12}):application\/([a-zA-Z0-9_.-]{1,128})$/.exec(arn);
  if (!m) throw invalidArgument(`${arn} is not a valid application ARN.`);
  return { region: m[1]!, accountId: m[2]!, name: m[3]! };
}

export function encodeToken(kind: string, value: string | number): string {
  return Buffer.from(`${kind}:${value}`, 'utf8').toString('base64url');
}

export function decodeToken(kind: string, token: string): string {
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text.startsWith(`${kind}:`)) throw invalidArgument(`Invalid NextToken: ${token}`);
  return text.slice(kind.length + 1);
}

// ---- Status -------------------------------------------------------------------------------------

/** Why `operation` is refused in the application's status, or undefined when it is allowed. */
export function statusProblem(
  app: Pick<Application, 'name' | 'status'>,
  allowed: readonly Status[],
  operation: string,
): string | undefined {
  return allowed.includes(app.status)
    ? undefined
    : `Application ${app.name} is in ${app.status} status; ${operation} is only allowed in ${allowed.join(' or ')}.`;
}

// ---- Keys ---------------------------------------------------------------------------------------

/** MSF-008: the response member describing a key (CMK: type and key ARN; AWS owned: type only). */
export function encryptionDescription(key: KeyRef): JsonObject {
  return key.keyType === 'CUSTOMER_MANAGED_KEY'
    ? { KeyType: key.keyType, KeyId: key.keyArn }
    : { KeyType: 'AWS_OWNED_KEY' };
}

/** MSF-005: a CMK needs runtime FLINK-1_20 or later; `verb` is "uses" or "would use". */
export function cmkRuntimeProblem(appArnText: string, runtime: string, verb: string): string | undefined {
  return cmkRuntimes.has(runtime)
    ? undefined
    : `Customer managed keys require runtime FLINK-1_20 or later; application ${appArnText} ${verb} ${runtime}.`;
}

type AppScope = Pick<Application, 'arn' | 'region' | 'accountId'>;

/**
 * MSF-007, MSF-008, MSF-010: how MSF's own KMS use of a key is judged: on behalf of the caller, with
 * the application ARN as source ARN and as the `aws:kinesisanalytics:arn` encryption context.
 */
export function msfKeyUse(app: AppScope, caller: Principal, ref: string): KeyUseRequest {
  return {
    service: 'kinesisanalytics',
    ref,
    region: app.region,
    accountId: app.accountId,
    caller,
    sourceArn: app.arn,
    encryptionContext: { [encryptionContextKey]: app.arn },
  };
}

/** KMS's reason for refusing MSF the key on the caller's behalf, or undefined when allowed. */
export function msfServiceUseDenied(
  kms: KeyDirectory,
  key: KeyView,
  app: AppScope,
  caller: Principal,
): string | undefined {
  const { ref: _ref, ...request } = msfKeyUse(app, caller, key.arn);
  return kms.serviceUseDenied({ key, ...request });
}

/** MSF-015: the CMKs an update leaves (configured or running) that the new configuration does not keep. */
export function keysLeft(current: readonly (KeyRef | undefined)[], next: KeyRef): Set<string> {
  const leaving = new Set<string>();
  for (const k of current) {
    if (k?.keyArn && !(next.keyArn === k.keyArn)) leaving.add(k.keyArn);
  }
  return leaving;
}

/**
 * MSF-015: leaving a CMK needs the same permissions on it as adopting it. A key that no longer exists
 * cannot be evaluated and is not checked.
 */
export function leavingKeyProblem(
  kms: KeyDirectory,
  app: AppScope & Pick<Application, 'name'>,
  keyArn: string,
  caller: Principal,
): string | undefined {
  const key = kms.findKey(keyArn, app.region, app.accountId);
  if (!key) return undefined;
  const denied = msfServiceUseDenied(kms, key, app, caller);
  return denied
    ? `Switching application ${app.name} away from KMS key ${key.arn} requires permission on that key: ${denied}`
    : undefined;
}

/**
 * MSF-013, MSF-014, MSF-018: why storage under `key` cannot be read or written now (the key is gone, not
 * Enabled, or, when a caller is given, MSF may not use it for them), or undefined when it can.
 * AWS owned keys always can.
 */
export function storageProblem(
  kms: KeyDirectory,
  app: AppScope,
  key: KeyRef,
  caller: Principal | undefined,
): string | undefined {
  if (key.keyType !== 'CUSTOMER_MANAGED_KEY' || !key.keyArn) return undefined;
  const view = kms.findKey(key.keyArn, app.region, app.accountId);
  if (!view) return `KMS key ${key.keyArn} does not exist.`;
  if (view.state !== 'Enabled') return `KMS key ${key.keyArn} is ${view.state}.`;
  if (caller) {
    const denied = msfServiceUseDenied(kms, view, app, caller);
    if (denied) return `Access to KMS key ${key.keyArn} is denied: ${denied}`;
  }
  return undefined;
}

/** MSF-012, MSF-013: running storage provisioned now takes the configured key and its current material. */
export function provisionedStorage(
  configured: KeyRef,
  key: KeyView | undefined,
): KeyRef & { keyMaterialId?: string } {
  const storage: KeyRef & { keyMaterialId?: string } = { ...configured };
  if (configured.keyArn && key) storage.keyMaterialId = key.currentKeyMaterialId;
  return storage;
}

/**
 * MSF-019: a running application does not change status when its key changes; a key that is deleted
 * or not Enabled raises an alarm (the next Start/Update/snapshot fails), and the key coming back clears
 * the alarm it raised.
 */
export function keyAlarmAfterChange(
  current: KeyAlarm | undefined,
  key: Pick<KeyView, 'arn' | 'state'>,
  deleted: boolean,
  now: number,
): KeyAlarm | undefined {
  if (deleted || key.state !== 'Enabled')
    return { keyArn: key.arn, state: deleted ? 'Deleted' : key.state, at: now };
  return current?.keyArn === key.arn ? undefined : current;
}

// ---- Snapshots ----------------------------------------------------------------------------------

/** MSF-014: the snapshot a start restores from under the application's restore configuration. */
export function restoreSource(app: Pick<Application, 'restore' | 'snapshots'>): SnapshotRecord | undefined {
  if (app.restore.type === 'SKIP_RESTORE_FROM_SNAPSHOT') return undefined;
  if (app.restore.type === 'RESTORE_FROM_CUSTOM_SNAPSHOT') {
    return app.restore.snapshotName ? app.snapshots.get(app.restore.snapshotName) : undefined;
  }
  let latest: SnapshotRecord | undefined;
  for (const s of app.snapshots.values()) if (s.status === 'READY') latest = s;
  return latest;
}
