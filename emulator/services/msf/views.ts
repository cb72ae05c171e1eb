// MSF response shapes (kinesisanalyticsv2 members) built from the store's records.

import { epochSeconds } from '../../core/protocol.ts';
import type { JsonObject } from '../../core/service.ts';
import { encryptionDescription } from './rules.ts';
import type { Application, OperationRecord, SnapshotRecord } from './state.ts';

export function applicationDetail(app: Application): JsonObject {
  const configuration: JsonObject = {
    ApplicationSnapshotConfigurationDescription: { SnapshotsEnabled: app.snapshotsEnabled },
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
}

export function applicationSummary(app: Application): JsonObject {
  return {
    ApplicationName: app.name,
    ApplicationARN: app.arn,
    ApplicationStatus: app.status,
    ApplicationVersionId: app.versionId,
    RuntimeEnvironment: app.runtime,
    ApplicationMode: app.mode,
  };
}

export function snapshotDetails(s: SnapshotRecord): JsonObject {
  return {
    SnapshotName: s.name,
    SnapshotStatus: s.status,
    ApplicationVersionId: s.versionId,
    SnapshotCreationTimestamp: epochSeconds(s.createdAt),
    RuntimeEnvironment: s.runtime,
    ApplicationEncryptionConfigurationDescription: encryptionDescription(s.key),
  };
}

export function operationInfo(op: OperationRecord): JsonObject {
  return {
    Operation: op.operation,
    OperationId: op.id,
    StartTime: epochSeconds(op.startTime),
    ...(op.endTime !== undefined ? { EndTime: epochSeconds(op.endTime) } : {}),
    OperationStatus: op.status,
  };
}

export function operationDetails(op: OperationRecord): JsonObject {
  return {
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
  };
}

/** The `GET /_emulator/state` entry: configured key vs running storage, so tests can tell them apart. */
export function applicationState(app: Application, runningKeyMaterialId: string | undefined): JsonObject {
  return {
    name: app.name,
    arn: app.arn,
    accountId: app.accountId,
    region: app.region,
    status: app.status,
    versionId: app.versionId,
    runtime: app.runtime,
    snapshotsEnabled: app.snapshotsEnabled,
    configuredKey: { ...app.configured },
    runningStorage: app.running ? { ...app.running } : null,
    // False once the running key has been rotated since this application (re)started (MSF-017).
    keyMaterialCurrent: app.running?.keyArn ? runningKeyMaterialId === app.running.keyMaterialId : null,
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
}
