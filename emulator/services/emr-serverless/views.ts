// EMR Serverless response shapes built from the store's records.

import { epochSeconds } from '../../core/protocol.ts';
import type { JsonObject } from '../../core/service.ts';
import type { Application, JobRun, Session } from './state.ts';

/** Members every application view carries, in the order AWS lists them. */
function applicationHeader(app: Application): JsonObject {
  return {
    arn: app.arn,
    ...(app.name !== undefined ? { name: app.name } : {}),
    releaseLabel: app.releaseLabel,
    type: app.type,
    state: app.state,
    ...(app.stateDetails ? { stateDetails: app.stateDetails } : {}),
    createdAt: epochSeconds(app.createdAt),
    updatedAt: epochSeconds(app.updatedAt),
  };
}

export function describeApp(app: Application): JsonObject {
  return {
    applicationId: app.id,
    ...applicationHeader(app),
    tags: { ...app.tags },
    autoStartConfiguration: { enabled: app.autoStart },
    autoStopConfiguration: { ...app.autoStop },
    architecture: 'X86_64',
    ...structuredClone(app.config),
    ...(app.disk ? { diskEncryptionConfiguration: structuredClone(app.disk) } : {}),
  };
}

export function summarizeApp(app: Application): JsonObject {
  return {
    id: app.id,
    ...applicationHeader(app),
    architecture: (app.config['architecture'] as string | undefined) ?? 'X86_64',
  };
}

/** Members every job view carries. */
function jobHeader(job: JobRun): JsonObject {
  return {
    arn: job.arn,
    ...(job.name !== undefined ? { name: job.name } : {}),
    createdBy: job.createdBy,
    createdAt: epochSeconds(job.createdAt),
    updatedAt: epochSeconds(job.updatedAt),
    executionRole: job.executionRole,
    state: job.state,
    stateDetails: job.stateDetails,
    releaseLabel: job.releaseLabel,
  };
}

const attempt = (job: JobRun): JsonObject => ({
  attempt: 1,
  attemptCreatedAt: epochSeconds(job.createdAt),
  attemptUpdatedAt: epochSeconds(job.updatedAt),
});

export function describeJob(job: JobRun, now: number): JsonObject {
  const duration =
    job.startedAt === undefined ? 0 : Math.floor(((job.endedAt ?? now) - job.startedAt) / 1000);
  return {
    applicationId: job.app.id,
    jobRunId: job.id,
    ...jobHeader(job),
    jobDriver: structuredClone(job.jobDriver),
    ...(job.configurationOverrides
      ? { configurationOverrides: structuredClone(job.configurationOverrides) }
      : {}),
    tags: { ...job.tags },
    executionTimeoutMinutes: job.executionTimeoutMinutes,
    mode: job.mode,
    ...attempt(job),
    totalExecutionDurationSeconds: duration,
    ...(job.startedAt !== undefined ? { startedAt: epochSeconds(job.startedAt) } : {}),
    ...(job.endedAt !== undefined ? { endedAt: epochSeconds(job.endedAt) } : {}),
    ...structuredClone(job.extras),
  };
}

export function summarizeJob(job: JobRun): JsonObject {
  return {
    applicationId: job.app.id,
    id: job.id,
    ...jobHeader(job),
    type: job.app.type,
    mode: job.mode,
    ...attempt(job),
  };
}

/** Members every session view carries (EMR-012). */
function sessionHeader(session: Session): JsonObject {
  return {
    applicationId: session.app.id,
    sessionId: session.id,
    arn: session.arn,
    ...(session.name !== undefined ? { name: session.name } : {}),
    state: session.state,
    stateDetails: session.stateDetails,
    releaseLabel: session.releaseLabel,
    executionRoleArn: session.executionRoleArn,
    createdBy: session.createdBy,
    createdAt: epochSeconds(session.createdAt),
    updatedAt: epochSeconds(session.updatedAt),
  };
}

/** GetSession: the summary's members plus the overrides as submitted, times and the idle timeout. */
export function describeSession(session: Session, now: number): JsonObject {
  const duration =
    session.startedAt === undefined ? 0 : Math.floor(((session.endedAt ?? now) - session.startedAt) / 1000);
  return {
    ...sessionHeader(session),
    ...(session.startedAt !== undefined ? { startedAt: epochSeconds(session.startedAt) } : {}),
    ...(session.endedAt !== undefined ? { endedAt: epochSeconds(session.endedAt) } : {}),
    ...(session.idleSince !== undefined ? { idleSince: epochSeconds(session.idleSince) } : {}),
    ...(session.configurationOverrides
      ? { configurationOverrides: structuredClone(session.configurationOverrides) }
      : {}),
    idleTimeoutMinutes: session.idleTimeoutMinutes,
    tags: { ...session.tags },
    totalExecutionDurationSeconds: duration,
  };
}

/** ListSessions: no configurationOverrides, so a key audit reads GetSession per session (EMR-012). */
export function summarizeSession(session: Session): JsonObject {
  return sessionHeader(session);
}
