// MSF data model and store: applications per account and region with their two keys (configured and
// running storage, MSF-011..MSF-013), snapshots, operations, and the index of which applications run
// on which key (for the MSF-019 key alarm). Mutations here keep the indexes consistent; what is allowed
// is decided in rules.ts and operations.ts.

import type { ScheduledEvent } from '../../core/clock.ts';
import { indexAdd, indexRemove, insertSorted, removeSorted } from '../../core/collections.ts';
import { seededRandom } from '../../core/random.ts';
import type { CallContext } from '../../core/service.ts';
import type { World } from '../../core/world.ts';
import {
  appScopeKey,
  keyAlarmAfterChange,
  notFound,
  parseApplicationArn,
  provisionedStorage,
} from './rules.ts';

export type KeyType = 'AWS_OWNED_KEY' | 'CUSTOMER_MANAGED_KEY';
export type Status =
  | 'READY'
  | 'STARTING'
  | 'RUNNING'
  | 'UPDATING'
  | 'STOPPING'
  | 'FORCE_STOPPING'
  | 'DELETING'
  | 'AUTOSCALING';
export type OperationStatus = 'IN_PROGRESS' | 'SUCCESSFUL' | 'FAILED' | 'CANCELLED';
export type RestoreType =
  | 'SKIP_RESTORE_FROM_SNAPSHOT'
  | 'RESTORE_FROM_LATEST_SNAPSHOT'
  | 'RESTORE_FROM_CUSTOM_SNAPSHOT';

export interface KeyRef {
  keyType: KeyType;
  /** Resolved key ARN; only for CUSTOMER_MANAGED_KEY. */
  keyArn?: string;
}

export interface StorageKey extends KeyRef {
  /** The CMK's material when the storage was provisioned (MSF-017: it does not follow rotations). */
  keyMaterialId?: string;
}

export interface SnapshotRecord {
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

export interface OperationRecord {
  id: string;
  operation: 'UpdateApplication' | 'StartApplication' | 'StopApplication';
  status: OperationStatus;
  startTime: number;
  endTime?: number;
  versionChange?: { from: number; to: number };
  failure?: string;
}

export interface KeyAlarm {
  keyArn: string;
  state: string;
  at: number;
}

export interface Application {
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
  /** ApplicationSnapshotConfiguration.SnapshotsEnabled: without it stops and updates take no snapshot (MSF-026). */
  snapshotsEnabled: boolean;
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

/** The members every new application starts with, whether created or seeded. */
export function freshApplicationState(): Pick<
  Application,
  | 'versionId'
  | 'restore'
  | 'snapshotsEnabled'
  | 'snapshots'
  | 'snapshotSeq'
  | 'operations'
  | 'operationsById'
  | 'gone'
> {
  return {
    versionId: 1,
    snapshotsEnabled: true,
    restore: { type: 'RESTORE_FROM_LATEST_SNAPSHOT' },
    snapshots: new Map(),
    snapshotSeq: 0,
    operations: [],
    operationsById: new Map(),
    gone: false,
  };
}

export interface MsfStore {
  readonly apps: Map<string, Application>;
  has(accountId: string, region: string, name: string): boolean;
  /** Sorted application names of one account and region (ListApplications pages). */
  names(accountId: string, region: string): string[];
  get(accountId: string, region: string, name: string): Application | undefined;
  add(app: Application): void;
  remove(app: Application): void;
  /** The application named in the caller's account and region, or ResourceNotFoundException. */
  lookup(ctx: CallContext, name: string): Application;
  lookupByArn(ctx: CallContext, arn: string): Application;
  /** Sets (or clears) the running storage, keeping the key index and clearing any key alarm. */
  setRunning(app: Application, storage: StorageKey | undefined): void;
  /** Running storage provisioned now, on the configured key and its current material. */
  provision(app: Application): StorageKey;
  /** Registers the MSF-019 key-change listener (once, on the first application). */
  watchKeys(): void;
  randomId(length: number): string;
  newToken(): string;
  beginOperation(
    app: Application,
    operation: OperationRecord['operation'],
    now: number,
    versionChange?: { from: number; to: number },
  ): OperationRecord;
  endOperation(op: OperationRecord, status: OperationStatus, failure?: string): void;
  takeSnapshot(
    app: Application,
    origin: SnapshotRecord['origin'],
    now: number,
    name?: string,
  ): SnapshotRecord;
}

export function createMsfStore(world: World): MsfStore {
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

  const get = (accountId: string, region: string, name: string) =>
    apps.get(`${appScopeKey(accountId, region)}/${name}`);

  const store: MsfStore = {
    apps,
    has: (accountId, region, name) => apps.has(`${appScopeKey(accountId, region)}/${name}`),
    names: (accountId, region) => namesByScope.get(appScopeKey(accountId, region)) ?? [],
    get,

    add(app) {
      const scope = appScopeKey(app.accountId, app.region);
      apps.set(`${scope}/${app.name}`, app);
      let names = namesByScope.get(scope);
      if (!names) {
        names = [];
        namesByScope.set(scope, names);
      }
      insertSorted(names, app.name);
    },

    remove(app) {
      app.gone = true;
      store.setRunning(app, undefined);
      apps.delete(`${appScopeKey(app.accountId, app.region)}/${app.name}`);
      const names = namesByScope.get(appScopeKey(app.accountId, app.region));
      if (names) removeSorted(names, app.name);
    },

    lookup(ctx, name) {
      const app = get(ctx.accountId, ctx.region, name);
      if (!app)
        throw notFound(`Application ${name} is not found in account ${ctx.accountId}, region ${ctx.region}.`);
      return app;
    },

    lookupByArn(ctx, arn) {
      const parsed = parseApplicationArn(arn);
      const app =
        parsed.region === ctx.region && parsed.accountId === ctx.accountId
          ? get(ctx.accountId, ctx.region, parsed.name)
          : undefined;
      if (!app) throw notFound(`Resource ${arn} is not found.`);
      return app;
    },

    setRunning(app, storage) {
      if (app.running?.keyArn) indexRemove(runningByKey, app.running.keyArn, app);
      if (storage === undefined) delete app.running;
      else app.running = storage;
      delete app.keyAlarm;
      if (storage?.keyArn) indexAdd(runningByKey, storage.keyArn, app);
    },

    provision: (app) =>
      provisionedStorage(
        app.configured,
        app.configured.keyArn
          ? world.kms.findKey(app.configured.keyArn, app.region, app.accountId)
          : undefined,
      ),

    // KMS registers world.kms before this store exists, but the listener is registered with the first
    // application so that a world without a KMS service still serves the other services.
    watchKeys() {
      if (watchingKeys) return;
      world.kms.onKeyChange((key, deleted) => {
        const affected = runningByKey.get(key.arn);
        if (!affected) return;
        for (const app of affected) {
          const alarm = keyAlarmAfterChange(app.keyAlarm, key, deleted, world.clock.now());
          if (alarm) app.keyAlarm = alarm;
          else delete app.keyAlarm;
        }
      });
      watchingKeys = true;
    },

    randomId,
    newToken: () => randomId(32),

    beginOperation(app, operation, now, versionChange) {
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
    },

    endOperation(op, status, failure) {
      op.status = status;
      op.endTime = world.clock.now();
      if (failure) op.failure = failure;
    },

    takeSnapshot(app, origin, now, name) {
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
    },
  };
  return store;
}

/** A finished snapshot: READY, or FAILED with the reason (MSF-018: a snapshot needs a usable key). */
export function finishSnapshot(snapshot: SnapshotRecord, problem: string | undefined): void {
  if (problem) {
    snapshot.status = 'FAILED';
    snapshot.failure = problem;
  } else {
    snapshot.status = 'READY';
  }
}
