// MSF request handlers: validate the input (InvalidArgumentException naming the member), apply the
// rules, change the store, and schedule the asynchronous half of each status walk on the timeline.

import { upperBound } from '../../core/collections.ts';
import { msfKeyVocabulary, requireKeyUsable } from '../../core/key-usable.ts';
import type { CallContext, JsonHandler, JsonObject } from '../../core/service.ts';
import { validator } from '../../core/validate.ts';
import type { World } from '../../core/world.ts';
import {
  appArn,
  applicationModes,
  cmkRuntimeProblem,
  concurrentModification,
  decodeToken,
  defaultPageSize,
  encodeToken,
  forceStoppable,
  inUse,
  invalidArgument,
  keysLeft,
  keyTypes,
  leavingKeyProblem,
  maxUserTags,
  msfKeyUse,
  namePattern,
  notFound,
  operationStatuses,
  restoreSource,
  restoreTypes,
  runtimes,
  statusProblem,
  storageProblem,
  tokenPattern,
  tooManyTags,
} from './rules.ts';
import {
  type Application,
  finishSnapshot,
  freshApplicationState,
  type KeyRef,
  type KeyType,
  type MsfStore,
  type OperationRecord,
  type SnapshotRecord,
  type Status,
} from './state.ts';
import {
  applicationDetail,
  applicationSummary,
  operationDetails,
  operationInfo,
  snapshotDetails,
} from './views.ts';

const v = validator('InvalidArgumentException');

/** Re-keys a nested structure so validation messages name the full member path. */
function nested(o: JsonObject, prefix: string): JsonObject {
  const out: JsonObject = {};
  for (const [k, value] of Object.entries(o)) out[`${prefix}.${k}`] = value;
  return out;
}

const applicationName = (input: JsonObject) =>
  v.str(input, 'ApplicationName', { min: 1, max: 128, pattern: namePattern });

function parseTags(input: JsonObject, member: string): Map<string, string> | undefined {
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
}

function parseRestore(run: JsonObject | undefined, path: string): Application['restore'] | undefined {
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
}

/**
 * An encryption configuration member (`KeyType`/`KeyId` on create, `KeyTypeUpdate`/`KeyIdUpdate` on
 * update): a CMK needs a key id, an AWS owned key must not have one.
 */
function parseKeyChoice(
  encryption: JsonObject,
  p: string,
  members: { type: string; id: string },
): { keyType: KeyType; keyId?: string } {
  const keyType = v.enumOf(nested(encryption, p), `${p}.${members.type}`, keyTypes);
  const keyId = v.optStr(nested(encryption, p), `${p}.${members.id}`, { min: 1, max: 2048 });
  if (keyType === 'CUSTOMER_MANAGED_KEY' && keyId === undefined) {
    throw invalidArgument(`${p}.${members.id} is required when ${members.type} is CUSTOMER_MANAGED_KEY.`);
  }
  if (keyType === 'AWS_OWNED_KEY' && keyId !== undefined) {
    throw invalidArgument(`${p}.${members.id} must not be set when ${members.type} is AWS_OWNED_KEY.`);
  }
  return keyId === undefined ? { keyType } : { keyType, keyId };
}

/**
 * The snapshot switch (`ApplicationSnapshotConfiguration.SnapshotsEnabled` on create,
 * `ApplicationSnapshotConfigurationUpdate.SnapshotsEnabledUpdate` on update); undefined when absent.
 */
function parseSnapshotsEnabled(
  configuration: JsonObject | undefined,
  p: string,
  member: string,
): boolean | undefined {
  if (!configuration) return undefined;
  const snapshot = v.optObject(nested(configuration, p.slice(0, p.indexOf('.'))), p);
  if (!snapshot) return undefined;
  const enabled = v.optBool(nested(snapshot, p), `${p}.${member}`);
  if (enabled === undefined)
    return v.fail(
      `1 validation error detected: Value null at '${p}.${member}' failed to satisfy constraint: Member must not be null`,
    );
  return enabled;
}

const pageLimit = (input: JsonObject) => v.optInt(input, 'Limit', { min: 1, max: 50 }) ?? defaultPageSize;
const nextToken = (input: JsonObject) => v.optStr(input, 'NextToken', { min: 1, max: 512 });

/** A stale version id or token is ConcurrentModificationException (MSF optimistic concurrency). */
function requireCurrent(app: Application, name: string, versionId?: number, token?: string): void {
  if (versionId !== undefined && versionId !== app.versionId) {
    throw concurrentModification(
      `The provided CurrentApplicationVersionId ${versionId} does not match the current version ${app.versionId} of application ${name}.`,
    );
  }
  if (token !== undefined && token !== app.token) {
    throw concurrentModification(`The provided ConditionalToken is stale for application ${name}.`);
  }
}

function requireStatus(app: Application, allowed: readonly Status[], operation: string): void {
  const problem = statusProblem(app, allowed, operation);
  if (problem) throw inUse(problem);
}

function requireSnapshot(app: Application, name: string, restore: Application['restore'] | undefined): void {
  if (restore?.type === 'RESTORE_FROM_CUSTOM_SNAPSHOT' && !app.snapshots.has(restore.snapshotName!)) {
    throw notFound(`Snapshot ${restore.snapshotName} of application ${name} is not found.`);
  }
}

export function msfOperations(world: World, store: MsfStore): Record<string, JsonHandler> {
  /**
   * The checks MSF runs when a workload is pointed at a CMK (create or update): the runtime (MSF-005),
   * then the shared key-usable chain worded MSF's way (MSF-004, MSF-007, MSF-010).
   */
  const resolveTargetKey = (
    ctx: CallContext,
    app: { arn: string; region: string; accountId: string; runtime: string },
    ref: string,
  ) => {
    const runtimeProblem = cmkRuntimeProblem(app.arn, app.runtime, 'uses');
    if (runtimeProblem) throw invalidArgument(runtimeProblem);
    return requireKeyUsable(world.kms, msfKeyVocabulary, msfKeyUse(app, ctx.caller, ref));
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

  /** Ends a status walk in RUNNING on freshly provisioned storage (MSF-012, MSF-013). */
  const runOnConfiguredKey = (app: Application, op: OperationRecord) => {
    store.setRunning(app, store.provision(app));
    app.status = 'RUNNING';
    store.endOperation(op, 'SUCCESSFUL');
  };

  /** Accepts a Start/Stop: new status and token, and the operation that reports it. */
  const beginTransition = (
    ctx: CallContext,
    app: Application,
    status: Status,
    operation: OperationRecord['operation'],
  ) => {
    app.status = status;
    app.token = store.newToken();
    app.updatedAt = ctx.now;
    return store.beginOperation(app, operation, ctx.now);
  };

  const snapshotName = (input: JsonObject) =>
    v.str(input, 'SnapshotName', { min: 1, max: 256, pattern: namePattern });
  const resourceArn = (input: JsonObject) =>
    v.str(input, 'ResourceARN', { min: 1, max: 2048, pattern: /^arn:.*$/ });

  return {
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
      const choice: { keyType: KeyType; keyId?: string } = encryption
        ? parseKeyChoice(encryption, p, { type: 'KeyType', id: 'KeyId' })
        : { keyType: 'AWS_OWNED_KEY' };
      const snapshotsEnabled = parseSnapshotsEnabled(
        configuration,
        'ApplicationConfiguration.ApplicationSnapshotConfiguration',
        'SnapshotsEnabled',
      );
      if (store.has(ctx.accountId, ctx.region, name)) {
        throw inUse(`Application ${name} already exists.`);
      }
      store.watchKeys();
      const arn = appArn(ctx.region, ctx.accountId, name);
      const configured: KeyRef =
        choice.keyType === 'CUSTOMER_MANAGED_KEY'
          ? {
              keyType: choice.keyType,
              keyArn: resolveTargetKey(
                ctx,
                { arn, region: ctx.region, accountId: ctx.accountId, runtime },
                choice.keyId!,
              ).arn,
            }
          : { keyType: choice.keyType };
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
        token: store.newToken(),
        createdAt: ctx.now,
        updatedAt: ctx.now,
        versionCreatedAt: ctx.now,
        encryptionDeclared: encryption !== undefined,
        configured,
        tags,
        ...freshApplicationState(),
        ...(snapshotsEnabled !== undefined ? { snapshotsEnabled } : {}),
      };
      store.add(app);
      return { ApplicationDetail: applicationDetail(app) };
    },

    DescribeApplication(ctx, input) {
      const name = applicationName(input);
      v.optBool(input, 'IncludeAdditionalDetails');
      return { ApplicationDetail: applicationDetail(store.lookup(ctx, name)) };
    },

    ListApplications(ctx, input) {
      const limit = pageLimit(input);
      const token = nextToken(input);
      const names = store.names(ctx.accountId, ctx.region);
      const start = token === undefined ? 0 : upperBound(names, decodeToken('apps', token));
      const page = names.slice(start, start + limit);
      return {
        ApplicationSummaries: page.map((n) => applicationSummary(store.get(ctx.accountId, ctx.region, n)!)),
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
      const target = encryption
        ? parseKeyChoice(encryption, p, { type: 'KeyTypeUpdate', id: 'KeyIdUpdate' })
        : undefined;
      const restore = parseRestore(runUpdate, 'RunConfigurationUpdate');
      const snapshotsUpdate = parseSnapshotsEnabled(
        configUpdate,
        'ApplicationConfigurationUpdate.ApplicationSnapshotConfigurationUpdate',
        'SnapshotsEnabledUpdate',
      );
      if (
        configUpdate === undefined &&
        roleUpdate === undefined &&
        runUpdate === undefined &&
        runtimeUpdate === undefined &&
        (loggingUpdate === undefined || loggingUpdate === null)
      ) {
        throw invalidArgument('UpdateApplication requires at least one update.');
      }

      const app = store.lookup(ctx, name);
      requireCurrent(app, name, versionId, token);
      requireStatus(app, ['READY', 'RUNNING'], 'UpdateApplication');
      requireSnapshot(app, name, restore);

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
      } else if (configured.keyType === 'CUSTOMER_MANAGED_KEY') {
        const runtimeProblem = cmkRuntimeProblem(app.arn, runtime, 'would use');
        if (runtimeProblem) throw invalidArgument(runtimeProblem);
      }
      for (const keyArn of keysLeft([app.configured, app.running], configured)) {
        const problem = leavingKeyProblem(world.kms, app, keyArn, ctx.caller);
        if (problem) throw invalidArgument(problem);
      }
      const wasRunning = app.status === 'RUNNING';
      // The restart keeps the running state only through a snapshot (MSF-026): none when they are off.
      const snapshotting = wasRunning && app.snapshotsEnabled;
      if (snapshotting && app.running) {
        // The restart snapshots the running state under the key it is written with (MSF-013).
        const problem = storageProblem(world.kms, app, app.running, undefined);
        if (problem) {
          throw invalidArgument(
            `Application ${name} cannot be updated while running: its state must be snapshotted under the running key and ${problem}`,
          );
        }
      }

      // Accepted: the configuration changes now, the running storage only when the restart ends.
      const from = app.versionId;
      const snapshot = snapshotting ? store.takeSnapshot(app, 'update', ctx.now) : undefined;
      app.versionUpdatedFrom = from;
      app.versionId = from + 1;
      app.token = store.newToken();
      app.updatedAt = ctx.now;
      app.versionCreatedAt = ctx.now;
      app.runtime = runtime;
      if (roleUpdate !== undefined) app.role = roleUpdate;
      if (restore) app.restore = restore;
      if (target) app.encryptionDeclared = true;
      if (snapshotsUpdate !== undefined) app.snapshotsEnabled = snapshotsUpdate;
      app.configured = configured;
      app.status = 'UPDATING';
      const op = store.beginOperation(app, 'UpdateApplication', ctx.now, { from, to: app.versionId });
      const caller = ctx.caller;
      schedule(app, 'UPDATING', { operation: op, ...(snapshot ? { snapshot } : {}) }, () => {
        if (!wasRunning) {
          app.status = 'READY';
          store.endOperation(op, 'SUCCESSFUL');
          return;
        }
        const oldKeyProblem = snapshot ? storageProblem(world.kms, app, snapshot.key, undefined) : undefined;
        if (snapshot) finishSnapshot(snapshot, oldKeyProblem);
        const problem = oldKeyProblem
          ? `The snapshot of the running application could not be taken: ${oldKeyProblem}`
          : storageProblem(world.kms, app, app.configured, caller);
        if (problem) {
          store.setRunning(app, undefined);
          app.status = 'READY';
          store.endOperation(
            op,
            'FAILED',
            `Application ${app.name} could not be restarted with the updated configuration: ${problem}`,
          );
          return;
        }
        runOnConfiguredKey(app, op);
      });
      return { ApplicationDetail: applicationDetail(app), OperationId: op.id };
    },

    StartApplication(ctx, input) {
      const name = applicationName(input);
      const run = v.optObject(input, 'RunConfiguration');
      const restore = parseRestore(run, 'RunConfiguration');
      const app = store.lookup(ctx, name);
      requireStatus(app, ['READY'], 'StartApplication');
      requireSnapshot(app, name, restore);
      if (restore) app.restore = restore;
      const op = beginTransition(ctx, app, 'STARTING', 'StartApplication');
      const caller = ctx.caller;
      schedule(app, 'STARTING', { operation: op }, () => {
        // Checked when the job comes up, not when the call is made: a key disabled in between fails the start.
        const source = restoreSource(app);
        let problem: string | undefined;
        if (app.restore.type === 'RESTORE_FROM_CUSTOM_SNAPSHOT' && source?.status !== 'READY') {
          problem = `Snapshot ${app.restore.snapshotName} is not available for restore.`;
        } else if (source) {
          const p = storageProblem(world.kms, app, source.key, caller);
          if (p) problem = `Snapshot ${source.name} cannot be restored: ${p}`;
        }
        problem ??= storageProblem(world.kms, app, app.configured, caller);
        if (problem) {
          app.status = 'READY';
          store.endOperation(op, 'FAILED', `Application ${app.name} failed to start: ${problem}`);
          return;
        }
        runOnConfiguredKey(app, op);
      });
      return { OperationId: op.id };
    },

    StopApplication(ctx, input) {
      const name = applicationName(input);
      const force = v.optBool(input, 'Force') ?? false;
      const app = store.lookup(ctx, name);
      if (!force && !app.snapshotsEnabled) {
        // Snapshots off (MSF-026): the stop takes none, so it needs no key, and the running state is lost.
        requireStatus(app, ['RUNNING'], 'StopApplication');
        const op = beginTransition(ctx, app, 'STOPPING', 'StopApplication');
        schedule(app, 'STOPPING', { operation: op }, () => {
          store.setRunning(app, undefined);
          app.status = 'READY';
          store.endOperation(op, 'SUCCESSFUL');
        });
        return { OperationId: op.id };
      }
      if (!force) {
        requireStatus(app, ['RUNNING'], 'StopApplication');
        const snapshot = store.takeSnapshot(app, 'stop', ctx.now);
        const op = beginTransition(ctx, app, 'STOPPING', 'StopApplication');
        schedule(app, 'STOPPING', { operation: op, snapshot }, () => {
          const problem = storageProblem(world.kms, app, snapshot.key, undefined);
          finishSnapshot(snapshot, problem);
          if (problem) {
            // A graceful stop cannot complete without its snapshot; the job keeps running.
            app.status = 'RUNNING';
            store.endOperation(
              op,
              'FAILED',
              `Application ${app.name} could not take its stop snapshot: ${problem}`,
            );
            return;
          }
          store.setRunning(app, undefined);
          app.status = 'READY';
          store.endOperation(op, 'SUCCESSFUL');
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
          store.endOperation(
            interrupted.operation,
            'CANCELLED',
            'Interrupted by StopApplication with Force.',
          );
        if (interrupted.snapshot)
          finishSnapshot(interrupted.snapshot, 'Interrupted by StopApplication with Force.');
        delete app.pending;
      }
      const op = beginTransition(ctx, app, 'FORCE_STOPPING', 'StopApplication');
      schedule(app, 'FORCE_STOPPING', { operation: op }, () => {
        store.setRunning(app, undefined);
        app.status = 'READY';
        store.endOperation(op, 'SUCCESSFUL');
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
      const app = store.lookup(ctx, name);
      if (Math.round((created as number) * 1000) !== app.createdAt) {
        throw invalidArgument(
          `CreateTimestamp ${created} does not match the creation time of application ${name}; use DescribeApplication to get it.`,
        );
      }
      requireStatus(app, ['READY', 'RUNNING'], 'DeleteApplication');
      app.status = 'DELETING';
      app.updatedAt = ctx.now;
      schedule(app, 'DELETING', {}, () => store.remove(app));
      return {};
    },

    DescribeApplicationOperation(ctx, input) {
      const name = applicationName(input);
      const id = v.str(input, 'OperationId', { min: 1, max: 64 });
      const app = store.lookup(ctx, name);
      const op = app.operationsById.get(id);
      if (!op) throw notFound(`Operation ${id} of application ${name} is not found.`);
      return { ApplicationOperationInfoDetails: operationDetails(op) };
    },

    ListApplicationOperations(ctx, input) {
      const name = applicationName(input);
      const limit = pageLimit(input);
      const token = nextToken(input);
      const operation = v.optStr(input, 'Operation', { min: 1, max: 64 });
      const status = v.optEnum(input, 'OperationStatus', operationStatuses);
      const app = store.lookup(ctx, name);
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
      const snapshotNameValue = snapshotName(input);
      const app = store.lookup(ctx, name);
      requireStatus(app, ['RUNNING'], 'CreateApplicationSnapshot');
      if (app.snapshots.has(snapshotNameValue)) {
        throw invalidArgument(`Snapshot ${snapshotNameValue} already exists for application ${name}.`);
      }
      const snapshot = store.takeSnapshot(app, 'manual', ctx.now, snapshotNameValue);
      const at = ctx.now + world.transitionMs('kinesisanalytics.SNAPSHOT');
      world.timeline.schedule(at, `kinesisanalytics.SNAPSHOT ${app.arn}/${snapshotNameValue}`, () => {
        if (app.gone || snapshot.status !== 'CREATING') return;
        const problem =
          app.status === 'RUNNING' || app.status === 'UPDATING' || app.status === 'STOPPING'
            ? storageProblem(world.kms, app, snapshot.key, undefined)
            : `Application ${app.name} stopped before the snapshot completed.`;
        finishSnapshot(snapshot, problem);
      });
      return {};
    },

    DescribeApplicationSnapshot(ctx, input) {
      const name = applicationName(input);
      const snapshotNameValue = snapshotName(input);
      const snapshot = store.lookup(ctx, name).snapshots.get(snapshotNameValue);
      if (!snapshot) throw notFound(`Snapshot ${snapshotNameValue} of application ${name} is not found.`);
      return { SnapshotDetails: snapshotDetails(snapshot) };
    },

    ListApplicationSnapshots(ctx, input) {
      const name = applicationName(input);
      const limit = pageLimit(input);
      const token = nextToken(input);
      const app = store.lookup(ctx, name);
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
      const snapshotNameValue = snapshotName(input);
      const created = input['SnapshotCreationTimestamp'];
      if (typeof created !== 'number') {
        v.fail(
          `1 validation error detected: Value ${JSON.stringify(created) ?? 'null'} at 'SnapshotCreationTimestamp' failed to satisfy constraint: Member must not be null`,
        );
      }
      const app = store.lookup(ctx, name);
      const snapshot = app.snapshots.get(snapshotNameValue);
      if (!snapshot) throw notFound(`Snapshot ${snapshotNameValue} of application ${name} is not found.`);
      if (Math.round((created as number) * 1000) !== snapshot.createdAt) {
        throw invalidArgument(`SnapshotCreationTimestamp does not match snapshot ${snapshotNameValue}.`);
      }
      if (snapshot.status === 'CREATING')
        throw inUse(`Snapshot ${snapshotNameValue} is still being created.`);
      app.snapshots.delete(snapshotNameValue);
      return {};
    },

    TagResource(ctx, input) {
      const arn = resourceArn(input);
      const tags = parseTags(input, 'Tags');
      if (!tags)
        return v.fail(
          `1 validation error detected: Value null at 'Tags' failed to satisfy constraint: Member must not be null`,
        );
      const app = store.lookupByArn(ctx, arn);
      const merged = new Map(app.tags);
      for (const [k, value] of tags) merged.set(k, value);
      if (merged.size > maxUserTags)
        throw tooManyTags(`Resource ${arn} cannot have more than ${maxUserTags} tags.`);
      app.tags = merged;
      return {};
    },

    UntagResource(ctx, input) {
      const arn = resourceArn(input);
      const keys = v.optStringList(input, 'TagKeys');
      if (!keys || keys.length < 1 || keys.length > 200) {
        return v.fail(
          `1 validation error detected: Value ${JSON.stringify(keys) ?? 'null'} at 'TagKeys' failed to satisfy constraint: Member must have length between 1 and 200`,
        );
      }
      const app = store.lookupByArn(ctx, arn);
      for (const k of keys) app.tags.delete(k);
      return {};
    },

    ListTagsForResource(ctx, input) {
      const arn = resourceArn(input);
      const app = store.lookupByArn(ctx, arn);
      return { Tags: [...app.tags].map(([Key, Value]) => ({ Key, Value })) };
    },
  };
}
