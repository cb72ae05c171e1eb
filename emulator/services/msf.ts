// Amazon Managed Service for Apache Flink (API kinesisanalyticsv2, awsJson1_1, target prefix
// KinesisAnalytics_20180523). The contract is spec §3: applications with a version id and a
// conditional token, an asynchronous status walk reported through operations, snapshots that keep
// the key they were written under, and the customer-managed-key (CMK) rules MSF-004..MSF-019.
//
// Two keys per application, because AWS distinguishes them (MSF-011..MSF-013, §10 D1):
//   - the configured key: what DescribeApplication reports, changed by UpdateApplication at once;
//   - the running storage: the key AND key material captured when the application last (re)started.
//     A READY application has none; a key change or a rotation reaches it only through a restart.
// Both are visible in snapshot() (`configuredKey`, `runningStorage`, `keyMaterialCurrent`) so tests
// can tell "configured" from "in use".
//
// Choices where the sources are silent (UNCONFIRMED, stricter behaviour picked; also in emulator/README.md):
//   - Every key-validation failure is InvalidArgumentException (400) naming the key and what is missing.
//   - A key ARN or alias ARN from another region or account is rejected (cross-account is undocumented).
//   - CMKs need FLINK-1_20 or later; SQL and Zeppelin runtimes are rejected with a CMK too.
//   - KeyIdUpdate/KeyId with AWS_OWNED_KEY is rejected; CUSTOMER_MANAGED_KEY without a key id is rejected.
//   - Leaving a CMK (to another CMK or to AWS_OWNED_KEY) runs the same policy evaluation on the old key
//     (MSF-015); a key that no longer exists cannot be evaluated and is not checked.
//   - UpdateApplication on a RUNNING application whose running key is not Enabled is rejected at once: the
//     restart needs a snapshot under that key. A key that breaks during UPDATING fails the operation and the
//     application ends READY (no system rollback is modelled).
//   - StartApplication checks the configured CMK and the CMK of the snapshot it restores from (MSF-014/018)
//     when STARTING ends; a failure ends the operation FAILED and the application READY with ErrorString.
//   - StopApplication without Force needs the running key for its snapshot: if the key is not Enabled the
//     stop operation FAILS and the application stays RUNNING (only Force stops it).
//   - A CMK disabled or scheduled for deletion while RUNNING does not change the status (MSF-019); it is
//     recorded as `keyAlarm` in snapshot() and makes the next Start/Update/snapshot fail.
//   - ConditionalToken changes on every accepted UpdateApplication, StartApplication and StopApplication.
//   - UpdateApplication must carry exactly one of CurrentApplicationVersionId and ConditionalToken, and at
//     least one update member.
//   - ApplicationEncryptionConfigurationDescription is omitted for applications that never declared an
//     encryption configuration (the legacy AWS-owned default); snapshots always carry it.
//   - A DeleteApplication CreateTimestamp that does not match is InvalidArgumentException.
//   - ListApplicationOperations lists newest first; ListApplicationSnapshots oldest first.
//   - Snapshots are always enabled; RollbackApplication and the SQL/VPC/logging members are not modelled
//     (accepted and ignored where they are members of Create/UpdateApplication).
//
// Transition kinds (world.transitionMs): kinesisanalytics.STARTING, .UPDATING, .STOPPING,
// .FORCE_STOPPING, .DELETING, .SNAPSHOT.
//
// Seed section `kinesisanalytics`:
//   applications:
//     - name: orders            # required
//       runtime: FLINK-1_20     # default FLINK-1_20
//       status: RUNNING         # READY (default) | RUNNING
//       keyType: CUSTOMER_MANAGED_KEY   # default: CUSTOMER_MANAGED_KEY when keyId is set, else AWS_OWNED_KEY
//       keyId: alias/flink      # id, ARN, alias name or alias ARN; resolved through KMS (stored as key ARN)
//       region: us-east-1       # default config.defaultRegion
//       accountId: '111122223333'  # default config.accountId
//       serviceExecutionRole: arn:aws:iam::111122223333:role/flink   # default <account>:role/<name>-role
//       tags: { team: data }
// Seeded applications skip the policy evaluation (no caller); a RUNNING one runs on the key's current material.

import type { ScheduledEvent } from '../core/clock.ts';
import type { Principal } from '../core/identity.ts';
import { AwsError, epochSeconds } from '../core/protocol.ts';
import { seededRandom } from '../core/random.ts';
import type { CallContext, JsonObject, ServiceRuntime } from '../core/service.ts';
import { validator } from '../core/validate.ts';
import type { KeyView, World } from '../core/world.ts';

type KeyType = 'AWS_OWNED_KEY' | 'CUSTOMER_MANAGED_KEY';
type Status =
  | 'READY'
  | 'STARTING'
  | 'RUNNING'
  | 'UPDATING'
  | 'STOPPING'
  | 'FORCE_STOPPING'
  | 'DELETING'
  | 'AUTOSCALING';
type OperationStatus = 'IN_PROGRESS' | 'SUCCESSFUL' | 'FAILED' | 'CANCELLED';
type RestoreType =
  | 'SKIP_RESTORE_FROM_SNAPSHOT'
  | 'RESTORE_FROM_LATEST_SNAPSHOT'
  | 'RESTORE_FROM_CUSTOM_SNAPSHOT';

const keyTypes: readonly KeyType[] = ['AWS_OWNED_KEY', 'CUSTOMER_MANAGED_KEY'];
const runtimes = [
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
const cmkRuntimes: ReadonlySet<string> = new Set(['FLINK-1_20', 'FLINK-2_2', 'FLINK-2_3']);
const applicationModes = ['STREAMING', 'INTERACTIVE'] as const;
const restoreTypes: readonly RestoreType[] = [
  'SKIP_RESTORE_FROM_SNAPSHOT',
  'RESTORE_FROM_LATEST_SNAPSHOT',
  'RESTORE_FROM_CUSTOM_SNAPSHOT',
];
const operationStatuses: readonly OperationStatus[] = ['IN_PROGRESS', 'CANCELLED', 'SUCCESSFUL', 'FAILED'];
/** StopApplication with Force is accepted from these (SDK StopApplicationRequest). */
const forceStoppable: ReadonlySet<Status> = new Set([
  'STARTING',
  'UPDATING',
  'STOPPING',
  'AUTOSCALING',
  'RUNNING',
]);

const namePattern = /^[a-zA-Z0-9_.-]+$/;
const tokenPattern = /^[a-zA-Z0-9-_+/=]+$/;
const maxUserTags = 50;
const defaultPageSize = 50;
const encryptionContextKey = 'aws:kinesisanalytics:arn';

interface KeyRef {
  keyType: KeyType;
  /** Resolved key ARN; only for CUSTOMER_MANAGED_KEY. */
  keyArn?: string;
}

interface StorageKey extends KeyRef {
  /** The CMK's material when the storage was provisioned (D1: it does not follow rotations). */
  keyMaterialId?: string;
}

interface SnapshotRecord {
  name: string;
  seq: number;
  status: 'CREATING' | 'READY' | 'FAILED';
  versionId: number;
  createdAt: number;
  runtime: string;
  key: StorageKey;
  origin: 'manual' | 'stop' | 'update';
  failure?: string;
}

interface OperationRecord {
  id: string;
  operation: 'UpdateApplication' | 'StartApplication' | 'StopApplication';
  status: OperationStatus;
  startTime: number;
  endTime?: number;
  versionChange?: { from: number; to: number };
  failure?: string;
}

interface KeyAlarm {
  keyArn: string;
  state: string;
  at: number;
}

interface Application {
  accountId: string;
  region: string;
  name: string;
  arn: string;
  description?: string;
  runtime: string;
  role: string;
  mode: string;
  status: Status;
  versionId: number;
  token: string;
  createdAt: number;
  updatedAt: number;
  versionCreatedAt: number;
  versionUpdatedFrom?: number;
  /** Whether an encryption configuration was ever declared (legacy apps report none). */
  encryptionDeclared: boolean;
  configured: KeyRef;
  running?: StorageKey;
  restore: { type: RestoreType; snapshotName?: string };
  tags: Map<string, string>;
  snapshots: Map<string, SnapshotRecord>;
  snapshotSeq: number;
  operations: OperationRecord[];
  operationsById: Map<string, OperationRecord>;
  pending?: { event: ScheduledEvent; operation?: OperationRecord; snapshot?: SnapshotRecord };
  keyAlarm?: KeyAlarm;
  gone: boolean;
}

const v = validator('InvalidArgumentException');

const invalidArgument = (message: string) => new AwsError('InvalidArgumentException', message, 400);
const notFound = (message: string) => new AwsError('ResourceNotFoundException', message, 400);
const inUse = (message: string) => new AwsError('ResourceInUseException', message, 400);
const concurrentModification = (message: string) =>
  new AwsError('ConcurrentModificationException', message, 409);
const tooManyTags = (message: string) => new AwsError('TooManyTagsException', message, 400);

/** Re-keys a nested structure so validation messages name the full member path. */
function nested(o: JsonObject, prefix: string): JsonObject {
  const out: JsonObject = {};
  for (const [k, value] of Object.entries(o)) out[`${prefix}.${k}`] = value;
  return out;
}

function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

function appArn(region: string, accountId: string, name: string): string {
  return `arn:${partitionOf(region)}:kinesisanalytics:${region}:${accountId}:application/${name}`;
}

function scopeKey(accountId: string, region: string): string {
  return `${accountId}/${region}`;
}

function encodeToken(kind: string, value: string | number): string {
  return Buffer.from(`${kind}:${value}`, 'utf8').toString('base64url');
}

function decodeToken(kind: string, token: string): string {
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text.startsWith(`${kind}:`)) throw invalidArgument(`Invalid NextToken: ${token}`);
  return text.slice(kind.length + 1);
}

/** First index whose value is greater than `name` (names sorted ascending). */
function upperBound(names: string[], name: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (names[mid]! <= name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function lowerBound(names: string[], name: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (names[mid]! < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function encryptionDescription(key: KeyRef): JsonObject {
  return key.keyType === 'CUSTOMER_MANAGED_KEY'
    ? { KeyType: key.keyType, KeyId: key.keyArn }
    : { KeyType: 'AWS_OWNED_KEY' };
}

export function createMsfService(world: World): ServiceRuntime {
  const apps = new Map<string, Application>();
  /** Sorted application names per account/region, for O(log n) ListApplications pages. */
  const namesByScope = new Map<string, string[]>();
  /** Applications whose running storage uses a key, by key ARN (for onKeyChange). */
  const runningByKey = new Map<string, Set<Application>>();
  const ids = seededRandom(world.config.seed ^ 0x4d5346);
  let watchingKeys = false;

  const randomId = (length: number): string => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[Math.floor(ids.next() * alphabet.length)];
    return out;
  };
  const newToken = () => randomId(32);

  // KMS registers world.kms before this factory runs, but registration is deferred to the first
  // application so that a world without a KMS service still serves the other services.
  const watchKeys = () => {
    if (watchingKeys) return;
    world.kms.onKeyChange((key, deleted) => {
      const affected = runningByKey.get(key.arn);
      if (!affected) return;
      for (const app of affected) {
        // MSF-019: no status change; remember what was seen so the next Start/Update/snapshot fails.
        if (deleted || key.state !== 'Enabled') {
          app.keyAlarm = { keyArn: key.arn, state: deleted ? 'Deleted' : key.state, at: world.clock.now() };
        } else if (app.keyAlarm?.keyArn === key.arn) {
          delete app.keyAlarm;
        }
      }
    });
    watchingKeys = true;
  };

  const setRunning = (app: Application, storage: StorageKey | undefined) => {
    if (app.running?.keyArn) runningByKey.get(app.running.keyArn)?.delete(app);
    if (storage === undefined) delete app.running;
    else app.running = storage;
    delete app.keyAlarm;
    if (storage?.keyArn) {
      let set = runningByKey.get(storage.keyArn);
      if (!set) {
        set = new Set();
        runningByKey.set(storage.keyArn, set);
      }
      set.add(app);
    }
  };

  const addApp = (app: Application) => {
    apps.set(`${scopeKey(app.accountId, app.region)}/${app.name}`, app);
    const scope = scopeKey(app.accountId, app.region);
    let names = namesByScope.get(scope);
    if (!names) {
      names = [];
      namesByScope.set(scope, names);
    }
    names.splice(lowerBound(names, app.name), 0, app.name);
  };

  const removeApp = (app: Application) => {
    app.gone = true;
    setRunning(app, undefined);
    apps.delete(`${scopeKey(app.accountId, app.region)}/${app.name}`);
    const names = namesByScope.get(scopeKey(app.accountId, app.region));
    if (names) {
      const i = lowerBound(names, app.name);
      if (names[i] === app.name) names.splice(i, 1);
    }
  };

  const lookup = (ctx: CallContext, name: string): Application => {
    const app = apps.get(`${scopeKey(ctx.accountId, ctx.region)}/${name}`);
    if (!app)
      throw notFound(`Application ${name} is not found in account ${ctx.accountId}, region ${ctx.region}.`);
    return app;
  };

  const lookupByArn = (ctx: CallContext, arn: string): Application => {
    const m = /^arn:[^:]+:kinesisanalytics:([^:]+):(\d{12}):application\/([a-zA-Z0-9_.-]{1,128})$/.exec(arn);
    if (!m) throw invalidArgument(`${arn} is not a valid application ARN.`);
    const app =
      m[1] === ctx.region && m[2] === ctx.accountId
        ? apps.get(`${scopeKey(ctx.accountId, ctx.region)}/${m[3]}`)
        : undefined;
    if (!app) throw notFound(`Resource ${arn} is not found.`);
    return app;
  };

  const requireStatus = (app: Application, allowed: readonly Status[], operation: string) => {
    if (!allowed.includes(app.status)) {
      throw inUse(
        `Application ${app.name} is in ${app.status} status; ${operation} is only allowed in ${allowed.join(' or ')}.`,
      );
    }
  };

  // ---- Keys -------------------------------------------------------------------------------------

  const serviceUse = (
    key: KeyView,
    app: { arn: string; region: string; accountId: string },
    caller: Principal,
  ) =>
    world.kms.serviceUseDenied({
      key,
      service: 'kinesisanalytics',
      caller,
      region: app.region,
      accountId: app.accountId,
      sourceArn: app.arn,
      encryptionContext: { [encryptionContextKey]: app.arn },
    });

  /**
   * The checks MSF runs when a workload is pointed at a CMK (create or update): the key exists in the
   * application's account and region, is a customer managed symmetric encryption key, is Enabled, and
   * the key policy lets both MSF service principals and the caller use it (MSF-004, MSF-007, MSF-010).
   */
  const resolveTargetKey = (
    ctx: CallContext,
    app: { arn: string; region: string; accountId: string; runtime: string },
    ref: string,
  ): KeyView => {
    if (!cmkRuntimes.has(app.runtime)) {
      throw invalidArgument(
        `Customer managed keys require runtime FLINK-1_20 or later; application ${app.arn} uses ${app.runtime}.`,
      );
    }
    if (ref.startsWith('arn:')) {
      const parts = ref.split(':');
      if (parts.length < 6 || parts[2] !== 'kms')
        throw invalidArgument(`${ref} is not a KMS key or alias ARN.`);
      if (parts[3] !== app.region) {
        throw invalidArgument(
          `KMS key ${ref} is in region ${parts[3]}; the key must be in the application's region ${app.region}.`,
        );
      }
      if (parts[4] !== app.accountId) {
        throw invalidArgument(
          `KMS key ${ref} belongs to account ${parts[4]}; the key must be in the application's account ${app.accountId}.`,
        );
      }
    }
    const key = world.kms.findKey(ref, app.region, app.accountId);
    if (!key)
      throw invalidArgument(`KMS key ${ref} does not exist or is not accessible in region ${app.region}.`);
    if (key.region !== app.region || key.accountId !== app.accountId) {
      throw invalidArgument(
        `KMS key ${key.arn} must be in the application's account ${app.accountId} and region ${app.region}.`,
      );
    }
    if (key.keyManager !== 'CUSTOMER') {
      throw invalidArgument(
        `KMS key ${key.arn} is an AWS managed key; only customer managed keys can be used.`,
      );
    }
    if (key.keySpec !== 'SYMMETRIC_DEFAULT' || key.keyUsage !== 'ENCRYPT_DECRYPT') {
      throw invalidArgument(
        `KMS key ${key.arn} has KeySpec ${key.keySpec} and KeyUsage ${key.keyUsage}; only symmetric encryption keys (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT) are supported.`,
      );
    }
    if (key.state !== 'Enabled')
      throw invalidArgument(`KMS key ${key.arn} is ${key.state}; the key must be Enabled.`);
    const denied = serviceUse(key, app, ctx.caller);
    if (denied)
      throw invalidArgument(`Managed Service for Apache Flink cannot use KMS key ${key.arn}: ${denied}`);
    return key;
  };

  /** MSF-015: leaving a CMK needs the same permissions on it as adopting it. */
  const checkLeavingKey = (ctx: CallContext, app: Application, keyArn: string) => {
    const key = world.kms.findKey(keyArn, app.region, app.accountId);
    if (!key) return;
    const denied = serviceUse(key, app, ctx.caller);
    if (denied) {
      throw invalidArgument(
        `Switching application ${app.name} away from KMS key ${key.arn} requires permission on that key: ${denied}`,
      );
    }
  };

  /** Why storage under `key` cannot be read or written now, or undefined when it can. */
  const storageProblem = (
    app: Application,
    key: KeyRef,
    caller: Principal | undefined,
  ): string | undefined => {
    if (key.keyType !== 'CUSTOMER_MANAGED_KEY' || !key.keyArn) return undefined;
    const view = world.kms.findKey(key.keyArn, app.region, app.accountId);
    if (!view) return `KMS key ${key.keyArn} does not exist.`;
    if (view.state !== 'Enabled') return `KMS key ${key.keyArn} is ${view.state}.`;
    if (caller) {
      const denied = serviceUse(view, app, caller);
      if (denied) return `Access to KMS key ${key.keyArn} is denied: ${denied}`;
    }
    return undefined;
  };

  const provision = (app: Application): StorageKey => {
    const storage: StorageKey = { ...app.configured };
    if (app.configured.keyArn) {
      const view = world.kms.findKey(app.configured.keyArn, app.region, app.accountId);
      if (view) storage.keyMaterialId = view.currentKeyMaterialId;
    }
    return storage;
  };

  // ---- Operations and snapshots -----------------------------------------------------------------

  const beginOperation = (
    app: Application,
    operation: OperationRecord['operation'],
    now: number,
    versionChange?: { from: number; to: number },
  ): OperationRecord => {
    const op: OperationRecord = {
      id: randomId(16),
      operation,
      status: 'IN_PROGRESS',
      startTime: now,
      ...(versionChange ? { versionChange } : {}),
    };
    app.operations.push(op);
    app.operationsById.set(op.id, op);
    return op;
  };

  const endOperation = (op: OperationRecord, status: OperationStatus, failure?: string) => {
    op.status = status;
    op.endTime = world.clock.now();
    if (failure) op.failure = failure;
  };

  const takeSnapshot = (
    app: Application,
    origin: SnapshotRecord['origin'],
    now: number,
    name?: string,
  ): SnapshotRecord => {
    const seq = app.snapshotSeq++;
    const snapshot: SnapshotRecord = {
      name: name ?? `${origin}-snapshot-v${app.versionId}-${seq}`,
      seq,
      status: 'CREATING',
      versionId: app.versionId,
      createdAt: now,
      runtime: app.runtime,
      key: { ...(app.running ?? app.configured) },
      origin,
    };
    app.snapshots.set(snapshot.name, snapshot);
    return snapshot;
  };

  const finishSnapshot = (snapshot: SnapshotRecord, problem: string | undefined) => {
    if (problem) {
      snapshot.status = 'FAILED';
      snapshot.failure = problem;
    } else {
      snapshot.status = 'READY';
    }
  };

  const schedule = (
    app: Application,
    kind: string,
    pending: { operation?: OperationRecord; snapshot?: SnapshotRecord },
    run: () => void,
  ) => {
    const at = world.clock.now() + world.transitionMs(`kinesisanalytics.${kind}`);
    const event = world.timeline.schedule(at, `kinesisanalytics.${kind} ${app.arn}`, () => {
      if (app.gone) return;
      delete app.pending;
      run();
    });
    app.pending = { event, ...pending };
  };

  const restoreSource = (app: Application): SnapshotRecord | undefined => {
    if (app.restore.type === 'SKIP_RESTORE_FROM_SNAPSHOT') return undefined;
    if (app.restore.type === 'RESTORE_FROM_CUSTOM_SNAPSHOT') {
      return app.restore.snapshotName ? app.snapshots.get(app.restore.snapshotName) : undefined;
    }
    let latest: SnapshotRecord | undefined;
    for (const s of app.snapshots.values()) if (s.status === 'READY') latest = s;
    return latest;
  };

  // ---- Views ------------------------------------------------------------------------------------

  const detail = (app: Application): JsonObject => {
    const configuration: JsonObject = {
      ApplicationSnapshotConfigurationDescription: { SnapshotsEnabled: true },
      RunConfigurationDescription: {
        ApplicationRestoreConfigurationDescription: {
          ApplicationRestoreType: app.restore.type,
          ...(app.restore.snapshotName ? { SnapshotName: app.restore.snapshotName } : {}),
        },
      },
      ...(app.encryptionDeclared
        ? { ApplicationEncryptionConfigurationDescription: encryptionDescription(app.configured) }
        : {}),
    };
    return {
      ApplicationARN: app.arn,
      ApplicationName: app.name,
      ...(app.description !== undefined ? { ApplicationDescription: app.description } : {}),
      RuntimeEnvironment: app.runtime,
      ServiceExecutionRole: app.role,
      ApplicationStatus: app.status,
      ApplicationVersionId: app.versionId,
      CreateTimestamp: epochSeconds(app.createdAt),
      LastUpdateTimestamp: epochSeconds(app.updatedAt),
      ApplicationVersionCreateTimestamp: epochSeconds(app.versionCreatedAt),
      ...(app.versionUpdatedFrom !== undefined
        ? { ApplicationVersionUpdatedFrom: app.versionUpdatedFrom }
        : {}),
      ConditionalToken: app.token,
      ApplicationMode: app.mode,
      ApplicationConfigurationDescription: configuration,
    };
  };

  const summary = (app: Application): JsonObject => ({
    ApplicationName: app.name,
    ApplicationARN: app.arn,
    ApplicationStatus: app.status,
    ApplicationVersionId: app.versionId,
    RuntimeEnvironment: app.runtime,
    ApplicationMode: app.mode,
  });

  const snapshotDetails = (s: SnapshotRecord): JsonObject => ({
    SnapshotName: s.name,
    SnapshotStatus: s.status,
    ApplicationVersionId: s.versionId,
    SnapshotCreationTimestamp: epochSeconds(s.createdAt),
    RuntimeEnvironment: s.runtime,
    ApplicationEncryptionConfigurationDescription: encryptionDescription(s.key),
  });

  const operationInfo = (op: OperationRecord): JsonObject => ({
    Operation: op.operation,
    OperationId: op.id,
    StartTime: epochSeconds(op.startTime),
    ...(op.endTime !== undefined ? { EndTime: epochSeconds(op.endTime) } : {}),
    OperationStatus: op.status,
  });

  // ---- Input parsing ----------------------------------------------------------------------------

  const applicationName = (input: JsonObject) =>
    v.str(input, 'ApplicationName', { min: 1, max: 128, pattern: namePattern });

  const parseTags = (input: JsonObject, member: string): Map<string, string> | undefined => {
    const raw = input[member];
    if (raw === undefined || raw === null) return undefined;
    if (!Array.isArray(raw))
      return v.fail(
        `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must be a list`,
      );
    if (raw.length < 1 || raw.length > 200) {
      v.fail(
        `1 validation error detected: Value at '${member}' failed to satisfy constraint: Member must have length between 1 and 200`,
      );
    }
    const tags = new Map<string, string>();
    raw.forEach((t: unknown, i) => {
      if (t === null || typeof t !== 'object' || Array.isArray(t)) {
        v.fail(
          `1 validation error detected: Value at '${member}.${i + 1}' failed to satisfy constraint: Member must be a structure`,
        );
      }
      const tag = nested(t as JsonObject, `${member}.${i + 1}.member`);
      const key = v.str(tag, `${member}.${i + 1}.member.Key`, { min: 1, max: 128 });
      const value = v.optStr(tag, `${member}.${i + 1}.member.Value`, { max: 256 }) ?? '';
      if (key.toLowerCase().startsWith('aws:'))
        throw invalidArgument(`Tag keys starting with 'aws:' are reserved: ${key}`);
      if (tags.has(key)) throw invalidArgument(`Duplicate tag key ${key}.`);
      tags.set(key, value);
    });
    return tags;
  };

  const parseRestore = (run: JsonObject | undefined, path: string): Application['restore'] | undefined => {
    if (!run) return undefined;
    const restore = v.optObject(nested(run, path), `${path}.ApplicationRestoreConfiguration`);
    if (!restore) return undefined;
    const p = `${path}.ApplicationRestoreConfiguration`;
    const type = v.enumOf(nested(restore, p), `${p}.ApplicationRestoreType`, restoreTypes);
    const snapshotName = v.optStr(nested(restore, p), `${p}.SnapshotName`, {
      min: 1,
      max: 256,
      pattern: namePattern,
    });
    if (type === 'RESTORE_FROM_CUSTOM_SNAPSHOT' && !snapshotName) {
      throw invalidArgument(`${p}.SnapshotName is required with RESTORE_FROM_CUSTOM_SNAPSHOT.`);
    }
    return type === 'RESTORE_FROM_CUSTOM_SNAPSHOT' ? { type, snapshotName: snapshotName! } : { type };
  };

  const pageLimit = (input: JsonObject) => v.optInt(input, 'Limit', { min: 1, max: 50 }) ?? defaultPageSize;
  const nextToken = (input: JsonObject) => v.optStr(input, 'NextToken', { min: 1, max: 512 });

  // ---- Handlers ---------------------------------------------------------------------------------

  const operations: Record<string, (ctx: CallContext, input: JsonObject) => unknown> = {
    CreateApplication(ctx, input) {
      const name = applicationName(input);
      const description = v.optStr(input, 'ApplicationDescription', { max: 1024 });
      const runtime = v.enumOf(input, 'RuntimeEnvironment', runtimes);
      const role = v.str(input, 'ServiceExecutionRole', { min: 1, max: 2048, pattern: /^arn:.*$/ });
      const mode = v.optEnum(input, 'ApplicationMode', applicationModes) ?? 'STREAMING';
      const configuration = v.optObject(input, 'ApplicationConfiguration');
      const tags = parseTags(input, 'Tags') ?? new Map<string, string>();
      if (tags.size > maxUserTags)
        throw tooManyTags(`Application ${name} cannot have more than ${maxUserTags} tags.`);
      const p = 'ApplicationConfiguration.ApplicationEncryptionConfiguration';
      const encryption = configuration
        ? v.optObject(nested(configuration, 'ApplicationConfiguration'), p)
        : undefined;
      let keyType: KeyType = 'AWS_OWNED_KEY';
      let keyId: string | undefined;
      if (encryption) {
        keyType = v.enumOf(nested(encryption, p), `${p}.KeyType`, keyTypes);
        keyId = v.optStr(nested(encryption, p), `${p}.KeyId`, { min: 1, max: 2048 });
        if (keyType === 'CUSTOMER_MANAGED_KEY' && keyId === undefined) {
          throw invalidArgument(`${p}.KeyId is required when KeyType is CUSTOMER_MANAGED_KEY.`);
        }
        if (keyType === 'AWS_OWNED_KEY' && keyId !== undefined) {
          throw invalidArgument(`${p}.KeyId must not be set when KeyType is AWS_OWNED_KEY.`);
        }
      }
      if (apps.has(`${scopeKey(ctx.accountId, ctx.region)}/${name}`)) {
        throw inUse(`Application ${name} already exists.`);
      }
      watchKeys();
      const arn = appArn(ctx.region, ctx.accountId, name);
      const configured: KeyRef =
        keyType === 'CUSTOMER_MANAGED_KEY'
          ? {
              keyType,
              keyArn: resolveTargetKey(
                ctx,
                { arn, region: ctx.region, accountId: ctx.accountId, runtime },
                keyId!,
              ).arn,
            }
          : { keyType };
      const app: Application = {
        accountId: ctx.accountId,
        region: ctx.region,
        name,
        arn,
        ...(description !== undefined ? { description } : {}),
        runtime,
        role,
        mode,
        status: 'READY',
        versionId: 1,
        token: newToken(),
        createdAt: ctx.now,
        updatedAt: ctx.now,
        versionCreatedAt: ctx.now,
        encryptionDeclared: encryption !== undefined,
        configured,
        restore: { type: 'RESTORE_FROM_LATEST_SNAPSHOT' },
        tags,
        snapshots: new Map(),
        snapshotSeq: 0,
        operations: [],
        operationsById: new Map(),
        gone: false,
      };
      addApp(app);
      return { ApplicationDetail: detail(app) };
    },

    DescribeApplication(ctx, input) {
      const name = applicationName(input);
      v.optBool(input, 'IncludeAdditionalDetails');
      return { ApplicationDetail: detail(lookup(ctx, name)) };
    },

    ListApplications(ctx, input) {
      const limit = pageLimit(input);
      const token = nextToken(input);
      const names = namesByScope.get(scopeKey(ctx.accountId, ctx.region)) ?? [];
      const start = token === undefined ? 0 : upperBound(names, decodeToken('apps', token));
      const page = names.slice(start, start + limit);
      const scope = scopeKey(ctx.accountId, ctx.region);
      return {
        ApplicationSummaries: page.map((n) => summary(apps.get(`${scope}/${n}`)!)),
        ...(start + limit < names.length ? { NextToken: encodeToken('apps', page[page.length - 1]!) } : {}),
      };
    },

    UpdateApplication(ctx, input) {
      const name = applicationName(input);
      const versionId = v.optInt(input, 'CurrentApplicationVersionId', { min: 1, max: 999_999_999 });
      const token = v.optStr(input, 'ConditionalToken', { min: 1, max: 512, pattern: tokenPattern });
      const configUpdate = v.optObject(input, 'ApplicationConfigurationUpdate');
      const roleUpdate = v.optStr(input, 'ServiceExecutionRoleUpdate', {
        min: 1,
        max: 2048,
        pattern: /^arn:.*$/,
      });
      const runUpdate = v.optObject(input, 'RunConfigurationUpdate');
      const runtimeUpdate = v.optEnum(input, 'RuntimeEnvironmentUpdate', runtimes);
      const loggingUpdate = input['CloudWatchLoggingOptionUpdates'];
      if ((versionId === undefined) === (token === undefined)) {
        throw invalidArgument(
          'Exactly one of CurrentApplicationVersionId and ConditionalToken must be provided.',
        );
      }
      const p = 'ApplicationConfigurationUpdate.ApplicationEncryptionConfigurationUpdate';
      const encryption = configUpdate
        ? v.optObject(nested(configUpdate, 'ApplicationConfigurationUpdate'), p)
        : undefined;
      let target: { keyType: KeyType; keyId?: string } | undefined;
      if (encryption) {
        const keyType = v.enumOf(nested(encryption, p), `${p}.KeyTypeUpdate`, keyTypes);
        const keyId = v.optStr(nested(encryption, p), `${p}.KeyIdUpdate`, { min: 1, max: 2048 });
        if (keyType === 'CUSTOMER_MANAGED_KEY' && keyId === undefined) {
          throw invalidArgument(`${p}.KeyIdUpdate is required when KeyTypeUpdate is CUSTOMER_MANAGED_KEY.`);
        }
        if (keyType === 'AWS_OWNED_KEY' && keyId !== undefined) {
          throw invalidArgument(`${p}.KeyIdUpdate must not be set when KeyTypeUpdate is AWS_OWNED_KEY.`);
        }
        target = keyId === undefined ? { keyType } : { keyType, keyId };
      }
      const restore = parseRestore(runUpdate, 'RunConfigurationUpdate');
      if (
        configUpdate === undefined &&
        roleUpdate === undefined &&
        runUpdate === undefined &&
        runtimeUpdate === undefined &&
        (loggingUpdate === undefined || loggingUpdate === null)
      ) {
        throw invalidArgument('UpdateApplication requires at least one update.');
      }

      const app = lookup(ctx, name);
      if (versionId !== undefined && versionId !== app.versionId) {
        throw concurrentModification(
          `The provided CurrentApplicationVersionId ${versionId} does not match the current version ${app.versionId} of application ${name}.`,
        );
      }
      if (token !== undefined && token !== app.token) {
        throw concurrentModification(`The provided ConditionalToken is stale for application ${name}.`);
      }
      requireStatus(app, ['READY', 'RUNNING'], 'UpdateApplication');
      if (restore?.type === 'RESTORE_FROM_CUSTOM_SNAPSHOT' && !app.snapshots.has(restore.snapshotName!)) {
        throw notFound(`Snapshot ${restore.snapshotName} of application ${name} is not found.`);
      }

      const runtime = runtimeUpdate ?? app.runtime;
      let configured: KeyRef = app.configured;
      if (target) {
        configured =
          target.keyType === 'CUSTOMER_MANAGED_KEY'
            ? {
                keyType: 'CUSTOMER_MANAGED_KEY',
                keyArn: resolveTargetKey(
                  ctx,
                  { arn: app.arn, region: app.region, accountId: app.accountId, runtime },
                  target.keyId!,
                ).arn,
              }
            : { keyType: 'AWS_OWNED_KEY' };
      } else if (configured.keyType === 'CUSTOMER_MANAGED_KEY' && !cmkRuntimes.has(runtime)) {
        throw invalidArgument(
          `Customer managed keys require runtime FLINK-1_20 or later; application ${app.arn} would use ${runtime}.`,
        );
      }
      const leaving = new Set<string>();
      for (const k of [app.configured, app.running]) {
        if (k?.keyArn && !(configured.keyArn === k.keyArn)) leaving.add(k.keyArn);
      }
      for (const keyArn of leaving) checkLeavingKey(ctx, app, keyArn);
      const wasRunning = app.status === 'RUNNING';
      if (wasRunning && app.running) {
        // The restart snapshots the running state under the key it is written with (MSF-013).
        const problem = storageProblem(app, app.running, undefined);
        if (problem) {
          throw invalidArgument(
            `Application ${name} cannot be updated while running: its state must be snapshotted under the running key and ${problem}`,
          );
        }
      }

      // Accepted: the configuration changes now, the running storage only when the restart ends.
      const from = app.versionId;
      const snapshot = wasRunning ? takeSnapshot(app, 'update', ctx.now) : undefined;
      app.versionUpdatedFrom = from;
      app.versionId = from + 1;
      app.token = newToken();
      app.updatedAt = ctx.now;
      app.versionCreatedAt = ctx.now;
      app.runtime = runtime;
      if (roleUpdate !== undefined) app.role = roleUpdate;
      if (restore) app.restore = restore;
      if (target) app.encryptionDeclared = true;
      app.configured = configured;
      app.status = 'UPDATING';
      const op = beginOperation(app, 'UpdateApplication', ctx.now, { from, to: app.versionId });
      const caller = ctx.caller;
      schedule(app, 'UPDATING', { operation: op, ...(snapshot ? { snapshot } : {}) }, () => {
        if (!wasRunning) {
          app.status = 'READY';
          endOperation(op, 'SUCCESSFUL');
          return;
        }
        const oldKeyProblem = snapshot ? storageProblem(app, snapshot.key, undefined) : undefined;
        if (snapshot) finishSnapshot(snapshot, oldKeyProblem);
        const problem = oldKeyProblem
          ? `The snapshot of the running application could not be taken: ${oldKeyProblem}`
          : storageProblem(app, app.configured, caller);
        if (problem) {
          setRunning(app, undefined);
          app.status = 'READY';
          endOperation(
            op,
            'FAILED',
            `Application ${app.name} could not be restarted with the updated configuration: ${problem}`,
          );
          return;
        }
        setRunning(app, provision(app));
        app.status = 'RUNNING';
        endOperation(op, 'SUCCESSFUL');
      });
      return { ApplicationDetail: detail(app), OperationId: op.id };
    },

    StartApplication(ctx, input) {
      const name = applicationName(input);
      const run = v.optObject(input, 'RunConfiguration');
      const restore = parseRestore(run, 'RunConfiguration');
      const app = lookup(ctx, name);
      requireStatus(app, ['READY'], 'StartApplication');
      if (restore?.type === 'RESTORE_FROM_CUSTOM_SNAPSHOT' && !app.snapshots.has(restore.snapshotName!)) {
        throw notFound(`Snapshot ${restore.snapshotName} of application ${name} is not found.`);
      }
      if (restore) app.restore = restore;
      app.status = 'STARTING';
      app.token = newToken();
      app.updatedAt = ctx.now;
      const op = beginOperation(app, 'StartApplication', ctx.now);
      const caller = ctx.caller;
      schedule(app, 'STARTING', { operation: op }, () => {
        // Checked when the job comes up, not when the call is made: a key disabled in between fails the start.
        const source = restoreSource(app);
        let problem: string | undefined;
        if (app.restore.type === 'RESTORE_FROM_CUSTOM_SNAPSHOT' && source?.status !== 'READY') {
          problem = `Snapshot ${app.restore.snapshotName} is not available for restore.`;
        } else if (source) {
          const p = storageProblem(app, source.key, caller);
          if (p) problem = `Snapshot ${source.name} cannot be restored: ${p}`;
        }
        problem ??= storageProblem(app, app.configured, caller);
        if (problem) {
          app.status = 'READY';
          endOperation(op, 'FAILED', `Application ${app.name} failed to start: ${problem}`);
          return;
        }
        setRunning(app, provision(app));
        app.status = 'RUNNING';
        endOperation(op, 'SUCCESSFUL');
      });
      return { OperationId: op.id };
    },

    StopApplication(ctx, input) {
      const name = applicationName(input);
      const force = v.optBool(input, 'Force') ?? false;
      const app = lookup(ctx, name);
      if (!force) {
        requireStatus(app, ['RUNNING'], 'StopApplication');
        const snapshot = takeSnapshot(app, 'stop', ctx.now);
        app.status = 'STOPPING';
        app.token = newToken();
        app.updatedAt = ctx.now;
        const op = beginOperation(app, 'StopApplication', ctx.now);
        schedule(app, 'STOPPING', { operation: op, snapshot }, () => {
          const problem = storageProblem(app, snapshot.key, undefined);
          finishSnapshot(snapshot, problem);
          if (problem) {
            // A graceful stop cannot complete without its snapshot; the job keeps running.
            app.status = 'RUNNING';
            endOperation(
              op,
              'FAILED',
              `Application ${app.name} could not take its stop snapshot: ${problem}`,
            );
            return;
          }
          setRunning(app, undefined);
          app.status = 'READY';
          endOperation(op, 'SUCCESSFUL');
        });
        return { OperationId: op.id };
      }
      if (!forceStoppable.has(app.status)) {
        throw inUse(`Application ${name} is in ${app.status} status; it cannot be force-stopped.`);
      }
      const interrupted = app.pending;
      if (interrupted) {
        interrupted.event.cancel();
        if (interrupted.operation)
          endOperation(interrupted.operation, 'CANCELLED', 'Interrupted by StopApplication with Force.');
        if (interrupted.snapshot)
          finishSnapshot(interrupted.snapshot, 'Interrupted by StopApplication with Force.');
        delete app.pending;
      }
      app.status = 'FORCE_STOPPING';
      app.token = newToken();
      app.updatedAt = ctx.now;
      const op = beginOperation(app, 'StopApplication', ctx.now);
      schedule(app, 'FORCE_STOPPING', { operation: op }, () => {
        setRunning(app, undefined);
        app.status = 'READY';
        endOperation(op, 'SUCCESSFUL');
      });
      return { OperationId: op.id };
    },

    DeleteApplication(ctx, input) {
      const name = applicationName(input);
      const created = input['CreateTimestamp'];
      if (created === undefined || created === null) {
        v.fail(
          `1 validation error detected: Value null at 'CreateTimestamp' failed to satisfy constraint: Member must not be null`,
        );
      }
      if (typeof created !== 'number' || !Number.isFinite(created)) {
        v.fail(
          `1 validation error detected: Value ${JSON.stringify(created)} at 'CreateTimestamp' failed to satisfy constraint: Member must be a timestamp`,
        );
      }
      const app = lookup(ctx, name);
      if (Math.round((created as number) * 1000) !== app.createdAt) {
        throw invalidArgument(
          `CreateTimestamp ${created} does not match the creation time of application ${name}; use DescribeApplication to get it.`,
        );
      }
      requireStatus(app, ['READY', 'RUNNING'], 'DeleteApplication');
      app.status = 'DELETING';
      app.updatedAt = ctx.now;
      schedule(app, 'DELETING', {}, () => removeApp(app));
      return {};
    },

    DescribeApplicationOperation(ctx, input) {
      const name = applicationName(input);
      const id = v.str(input, 'OperationId', { min: 1, max: 64 });
      const app = lookup(ctx, name);
      const op = app.operationsById.get(id);
      if (!op) throw notFound(`Operation ${id} of application ${name} is not found.`);
      return {
        ApplicationOperationInfoDetails: {
          Operation: op.operation,
          StartTime: epochSeconds(op.startTime),
          ...(op.endTime !== undefined ? { EndTime: epochSeconds(op.endTime) } : {}),
          OperationStatus: op.status,
          ...(op.versionChange
            ? {
                ApplicationVersionChangeDetails: {
                  ApplicationVersionUpdatedFrom: op.versionChange.from,
                  ApplicationVersionUpdatedTo: op.versionChange.to,
                },
              }
            : {}),
          ...(op.failure ? { OperationFailureDetails: { ErrorInfo: { ErrorString: op.failure } } } : {}),
        },
      };
    },

    ListApplicationOperations(ctx, input) {
      const name = applicationName(input);
      const limit = pageLimit(input);
      const token = nextToken(input);
      const operation = v.optStr(input, 'Operation', { min: 1, max: 64 });
      const status = v.optEnum(input, 'OperationStatus', operationStatuses);
      const app = lookup(ctx, name);
      let i = app.operations.length - 1;
      if (token !== undefined) {
        i = Number(decodeToken('ops', token));
        if (!Number.isInteger(i) || i < -1 || i >= app.operations.length)
          throw invalidArgument(`Invalid NextToken: ${token}`);
      }
      const page: JsonObject[] = [];
      for (; i >= 0 && page.length < limit; i--) {
        const op = app.operations[i]!;
        if (operation !== undefined && op.operation !== operation) continue;
        if (status !== undefined && op.status !== status) continue;
        page.push(operationInfo(op));
      }
      return { ApplicationOperationInfoList: page, ...(i >= 0 ? { NextToken: encodeToken('ops', i) } : {}) };
    },

    CreateApplicationSnapshot(ctx, input) {
      const name = applicationName(input);
      const snapshotName = v.str(input, 'SnapshotName', { min: 1, max: 256, pattern: namePattern });
      const app = lookup(ctx, name);
      requireStatus(app, ['RUNNING'], 'CreateApplicationSnapshot');
      if (app.snapshots.has(snapshotName)) {
        throw invalidArgument(`Snapshot ${snapshotName} already exists for application ${name}.`);
      }
      const snapshot = takeSnapshot(app, 'manual', ctx.now, snapshotName);
      const at = ctx.now + world.transitionMs('kinesisanalytics.SNAPSHOT');
      world.timeline.schedule(at, `kinesisanalytics.SNAPSHOT ${app.arn}/${snapshotName}`, () => {
        if (app.gone || snapshot.status !== 'CREATING') return;
        const problem =
          app.status === 'RUNNING' || app.status === 'UPDATING' || app.status === 'STOPPING'
            ? storageProblem(app, snapshot.key, undefined)
            : `Application ${app.name} stopped before the snapshot completed.`;
        finishSnapshot(snapshot, problem);
      });
      return {};
    },

    DescribeApplicationSnapshot(ctx, input) {
      const name = applicationName(input);
      const snapshotName = v.str(input, 'SnapshotName', { min: 1, max: 256, pattern: namePattern });
      const snapshot = lookup(ctx, name).snapshots.get(snapshotName);
      if (!snapshot) throw notFound(`Snapshot ${snapshotName} of application ${name} is not found.`);
      return { SnapshotDetails: snapshotDetails(snapshot) };
    },

    ListApplicationSnapshots(ctx, input) {
      const name = applicationName(input);
      const limit = pageLimit(input);
      const token = nextToken(input);
      const app = lookup(ctx, name);
      const from = token === undefined ? 0 : Number(decodeToken('snapshots', token));
      if (!Number.isInteger(from)) throw invalidArgument(`Invalid NextToken: ${token}`);
      const page: JsonObject[] = [];
      let next: number | undefined;
      for (const s of app.snapshots.values()) {
        if (s.seq < from) continue;
        if (page.length === limit) {
          next = s.seq;
          break;
        }
        page.push(snapshotDetails(s));
      }
      return {
        SnapshotSummaries: page,
        ...(next !== undefined ? { NextToken: encodeToken('snapshots', next) } : {}),
      };
    },

    DeleteApplicationSnapshot(ctx, input) {
      const name = applicationName(input);
      const snapshotName = v.str(input, 'SnapshotName', { min: 1, max: 256, pattern: namePattern });
      const created = input['SnapshotCreationTimestamp'];
      if (typeof created !== 'number') {
        v.fail(
          `1 validation error detected: Value ${JSON.stringify(created) ?? 'null'} at 'SnapshotCreationTimestamp' failed to satisfy constraint: Member must not be null`,
        );
      }
      const app = lookup(ctx, name);
      const snapshot = app.snapshots.get(snapshotName);
      if (!snapshot) throw notFound(`Snapshot ${snapshotName} of application ${name} is not found.`);
      if (Math.round((created as number) * 1000) !== snapshot.createdAt) {
        throw invalidArgument(`SnapshotCreationTimestamp does not match snapshot ${snapshotName}.`);
      }
      if (snapshot.status === 'CREATING') throw inUse(`Snapshot ${snapshotName} is still being created.`);
      app.snapshots.delete(snapshotName);
      return {};
    },

    TagResource(ctx, input) {
      const arn = v.str(input, 'ResourceARN', { min: 1, max: 2048, pattern: /^arn:.*$/ });
      const tags = parseTags(input, 'Tags');
      if (!tags)
        return v.fail(
          `1 validation error detected: Value null at 'Tags' failed to satisfy constraint: Member must not be null`,
        );
      const app = lookupByArn(ctx, arn);
      const merged = new Map(app.tags);
      for (const [k, value] of tags) merged.set(k, value);
      if (merged.size > maxUserTags)
        throw tooManyTags(`Resource ${arn} cannot have more than ${maxUserTags} tags.`);
      app.tags = merged;
      return {};
    },

    UntagResource(ctx, input) {
      const arn = v.str(input, 'ResourceARN', { min: 1, max: 2048, pattern: /^arn:.*$/ });
      const keys = v.optStringList(input, 'TagKeys');
      if (!keys || keys.length < 1 || keys.length > 200) {
        return v.fail(
          `1 validation error detected: Value ${JSON.stringify(keys) ?? 'null'} at 'TagKeys' failed to satisfy constraint: Member must have length between 1 and 200`,
        );
      }
      const app = lookupByArn(ctx, arn);
      for (const k of keys) app.tags.delete(k);
      return {};
    },

    ListTagsForResource(ctx, input) {
      const arn = v.str(input, 'ResourceARN', { min: 1, max: 2048, pattern: /^arn:.*$/ });
      const app = lookupByArn(ctx, arn);
      return { Tags: [...app.tags].map(([Key, Value]) => ({ Key, Value })) };
    },
  };

  // ---- Seed and state ---------------------------------------------------------------------------

  const seed = (section: unknown) => {
    if (section === null || typeof section !== 'object' || Array.isArray(section)) {
      throw new Error('seed: kinesisanalytics must be a mapping with `applications`');
    }
    const list = (section as Record<string, unknown>)['applications'] ?? [];
    if (!Array.isArray(list)) throw new Error('seed: kinesisanalytics.applications must be a list');
    for (const raw of list as Array<Record<string, unknown>>) {
      const name = String(raw['name'] ?? '');
      if (!namePattern.test(name) || name.length > 128) {
        throw new Error(
          `seed: kinesisanalytics application name ${JSON.stringify(raw['name'])} is not valid`,
        );
      }
      const region = String(raw['region'] ?? world.config.defaultRegion);
      const accountId = String(raw['accountId'] ?? world.config.accountId);
      const runtime = String(raw['runtime'] ?? 'FLINK-1_20');
      if (!(runtimes as readonly string[]).includes(runtime)) {
        throw new Error(`seed: kinesisanalytics application ${name}: unknown runtime ${runtime}`);
      }
      const status = String(raw['status'] ?? 'READY');
      if (status !== 'READY' && status !== 'RUNNING') {
        throw new Error(`seed: kinesisanalytics application ${name}: status must be READY or RUNNING`);
      }
      const keyId = raw['keyId'] === undefined ? undefined : String(raw['keyId']);
      const keyType = String(raw['keyType'] ?? (keyId ? 'CUSTOMER_MANAGED_KEY' : 'AWS_OWNED_KEY')) as KeyType;
      if (!keyTypes.includes(keyType))
        throw new Error(`seed: kinesisanalytics application ${name}: bad keyType`);
      if (apps.has(`${scopeKey(accountId, region)}/${name}`)) {
        throw new Error(`seed: kinesisanalytics application ${name} is defined twice in ${region}`);
      }
      let configured: KeyRef = { keyType: 'AWS_OWNED_KEY' };
      if (keyType === 'CUSTOMER_MANAGED_KEY') {
        if (!keyId)
          throw new Error(`seed: kinesisanalytics application ${name}: CUSTOMER_MANAGED_KEY needs keyId`);
        if (!cmkRuntimes.has(runtime)) {
          throw new Error(`seed: kinesisanalytics application ${name}: a CMK needs FLINK-1_20 or later`);
        }
        const key = world.kms.findKey(keyId, region, accountId);
        // A key ARN that KMS does not know is kept as is, so seeds can model an application left on a
        // deleted key; anything else unresolvable is a mistake in the seed.
        if (!key && !/^arn:[^:]+:kms:[^:]+:\d{12}:key\//.test(keyId)) {
          throw new Error(`seed: kinesisanalytics application ${name}: KMS key ${keyId} not found`);
        }
        configured = { keyType, keyArn: key?.arn ?? keyId };
      }
      const tags = new Map<string, string>();
      const rawTags = raw['tags'];
      if (rawTags && typeof rawTags === 'object' && !Array.isArray(rawTags)) {
        for (const [k, value] of Object.entries(rawTags)) tags.set(k, String(value));
      }
      watchKeys();
      const now = world.clock.now();
      const app: Application = {
        accountId,
        region,
        name,
        arn: appArn(region, accountId, name),
        runtime,
        role: String(raw['serviceExecutionRole'] ?? `arn:aws:iam::${accountId}:role/${name}-role`),
        mode: 'STREAMING',
        status: status as Status,
        versionId: 1,
        token: newToken(),
        createdAt: now,
        updatedAt: now,
        versionCreatedAt: now,
        encryptionDeclared: raw['keyType'] !== undefined || keyId !== undefined,
        configured,
        restore: { type: 'RESTORE_FROM_LATEST_SNAPSHOT' },
        tags,
        snapshots: new Map(),
        snapshotSeq: 0,
        operations: [],
        operationsById: new Map(),
        gone: false,
      };
      addApp(app);
      if (status === 'RUNNING') setRunning(app, provision(app));
    }
  };

  const snapshot = () => ({
    applications: [...apps.values()].map((app) => {
      const runningKey = app.running?.keyArn
        ? world.kms.findKey(app.running.keyArn, app.region, app.accountId)
        : undefined;
      return {
        name: app.name,
        arn: app.arn,
        accountId: app.accountId,
        region: app.region,
        status: app.status,
        versionId: app.versionId,
        runtime: app.runtime,
        configuredKey: { ...app.configured },
        runningStorage: app.running ? { ...app.running } : null,
        // False once the running key has been rotated since this application (re)started (§10 D1).
        keyMaterialCurrent: app.running?.keyArn
          ? runningKey?.currentKeyMaterialId === app.running.keyMaterialId
          : null,
        keyAlarm: app.keyAlarm ?? null,
        pendingOperation: app.pending?.operation?.id ?? null,
        snapshots: [...app.snapshots.values()].map((s) => ({
          name: s.name,
          status: s.status,
          versionId: s.versionId,
          origin: s.origin,
          key: { ...s.key },
          ...(s.failure ? { failure: s.failure } : {}),
        })),
        tags: Object.fromEntries(app.tags),
      };
    }),
  });

  return {
    name: 'kinesisanalytics',
    protocol: 'awsJson1_1',
    targetPrefix: 'KinesisAnalytics_20180523',
    operations,
    routes: [],
    seed,
    snapshot,
  };
}
