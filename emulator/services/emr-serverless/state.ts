// EMR Serverless data model and store: applications per account and Region in creation order (list
// tokens are indexes), their job runs and interactive sessions, client-token idempotency records, and
// the indexes of which active jobs and live sessions use which key.

import type { ScheduledEvent } from '../../core/clock.ts';
import { indexAdd, indexRemove } from '../../core/collections.ts';
import { seededRandom } from '../../core/random.ts';
import type { CallContext, JsonObject } from '../../core/service.ts';
import type { World } from '../../core/world.ts';
import { notFound, resourceArnPattern, validation } from './rules.ts';

export type AppState =
  | 'CREATING'
  | 'CREATED'
  | 'STARTING'
  | 'STARTED'
  | 'STOPPING'
  | 'STOPPED'
  | 'TERMINATED';
export type JobState =
  | 'SUBMITTED'
  | 'PENDING'
  | 'SCHEDULED'
  | 'QUEUED'
  | 'RUNNING'
  | 'SUCCESS'
  | 'FAILED'
  | 'CANCELLING'
  | 'CANCELLED';
/** EMR-012: the states of an interactive session. */
export type SessionState =
  | 'SUBMITTED'
  | 'STARTING'
  | 'STARTED'
  | 'IDLE'
  | 'BUSY'
  | 'TERMINATING'
  | 'TERMINATED'
  | 'FAILED';

export interface DiskEncryption {
  encryptionKeyArn: string;
  encryptionContext?: Record<string, string>;
}

export interface Scope {
  accountId: string;
  region: string;
  /** Creation order; append-only, so list tokens can be indexes. */
  apps: Application[];
  clientTokens: Map<string, { fingerprint: string; app: Application }>;
}

export interface Application {
  scope: Scope;
  id: string;
  arn: string;
  name?: string;
  releaseLabel: string;
  type: string;
  state: AppState;
  stateDetails?: string;
  createdAt: number;
  updatedAt: number;
  autoStart: boolean;
  autoStop: { enabled: boolean; idleTimeoutMinutes: number };
  tags: Record<string, string>;
  disk?: DiskEncryption;
  /** Members the emulator stores and echoes without giving them behaviour. */
  config: JsonObject;
  jobs: Map<string, JobRun>;
  jobOrder: JobRun[];
  jobTokens: Map<string, { fingerprint: string; job: JobRun }>;
  activeJobs: number;
  /** SCHEDULED jobs waiting for the application to reach STARTED. */
  waiting: Set<JobRun>;
  sessions: Map<string, Session>;
  sessionOrder: Session[];
  sessionTokens: Map<string, { fingerprint: string; session: Session }>;
  /** Sessions not yet TERMINATED or FAILED: they keep the application started, as jobs do. */
  liveSessions: number;
  /** STARTING sessions waiting for the application to reach STARTED. */
  waitingSessions: Set<Session>;
  transition?: ScheduledEvent;
  idle?: ScheduledEvent;
}

export interface JobRun {
  app: Application;
  id: string;
  arn: string;
  name?: string;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
  executionRole: string;
  state: JobState;
  stateDetails: string;
  releaseLabel: string;
  jobDriver: JsonObject;
  configurationOverrides?: JsonObject;
  tags: Record<string, string>;
  executionTimeoutMinutes: number;
  mode: 'BATCH' | 'STREAMING';
  extras: JsonObject;
  /** The effective CMK (override or application), if any. */
  keyArn?: string;
  startedAt?: number;
  endedAt?: number;
  event?: ScheduledEvent;
}

export interface Session {
  app: Application;
  id: string;
  arn: string;
  name?: string;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
  executionRoleArn: string;
  state: SessionState;
  stateDetails: string;
  releaseLabel: string;
  configurationOverrides?: JsonObject;
  idleTimeoutMinutes: number;
  tags: Record<string, string>;
  /** The effective CMK (the spark-defaults disk key, else the application's), if any (EMR-013). */
  keyArn?: string;
  startedAt?: number;
  endedAt?: number;
  idleSince?: number;
  event?: ScheduledEvent;
}

export const applicationArn = (region: string, accountId: string, id: string) =>
  `arn:aws:emr-serverless:${region}:${accountId}:/applications/${id}`;

export interface EmrStore {
  readonly apps: Map<string, Application>;
  /** AWS ids are 16 lowercase alphanumerics starting `00f`. */
  newId(): string;
  scopeOf(accountId: string, region: string): Scope;
  has(accountId: string, region: string, id: string): boolean;
  appFor(ctx: CallContext, id: string): Application;
  jobFor(ctx: CallContext, params: Record<string, string>): JobRun;
  sessionFor(ctx: CallContext, params: Record<string, string>): Session;
  /** The application or job run an ARN names (for tagging), or the AWS error. */
  resourceFor(ctx: CallContext, arn: string): { tags: Record<string, string> };
  newApplication(
    scope: Scope,
    at: number,
    fields: Partial<Application> & Pick<Application, 'releaseLabel' | 'type'>,
  ): Application;
  /** Active jobs on a key ARN. */
  jobsOn(keyArn: string): Set<JobRun> | undefined;
  indexJobKey(job: JobRun): void;
  unindexJobKey(job: JobRun): void;
  /** Live sessions on a key ARN. */
  sessionsOn(keyArn: string): Set<Session> | undefined;
  indexSessionKey(session: Session): void;
  unindexSessionKey(session: Session): void;
}

export function createEmrStore(world: World): EmrStore {
  const ids = seededRandom(world.config.seed ^ 0xe3e5);
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  const scopes = new Map<string, Scope>();
  const apps = new Map<string, Application>();
  const jobsByKey = new Map<string, Set<JobRun>>();
  const sessionsByKey = new Map<string, Set<Session>>();

  const store: EmrStore = {
    apps,
    newId: () => `00f${Array.from({ length: 13 }, () => alphabet[ids.int(0, 35)]).join('')}`,

    scopeOf(accountId, region) {
      const id = `${accountId}/${region}`;
      let s = scopes.get(id);
      if (!s) {
        s = { accountId, region, apps: [], clientTokens: new Map() };
        scopes.set(id, s);
      }
      return s;
    },

    has: (accountId, region, id) => apps.has(`${accountId}/${region}/${id}`),

    appFor(ctx, id) {
      const app = apps.get(`${ctx.accountId}/${ctx.region}/${id}`);
      if (!app) throw notFound(`Application ${id} does not exist`);
      return app;
    },

    jobFor(ctx, params) {
      const app = store.appFor(ctx, params['applicationId']!);
      const job = app.jobs.get(params['jobRunId']!);
      if (!job) throw notFound(`Job run ${params['jobRunId']} does not exist in application ${app.id}`);
      return job;
    },

    sessionFor(ctx, params) {
      const app = store.appFor(ctx, params['applicationId']!);
      const session = app.sessions.get(params['sessionId']!);
      if (!session) throw notFound(`Session ${params['sessionId']} does not exist in application ${app.id}`);
      return session;
    },

    resourceFor(ctx, arn) {
      const m = resourceArnPattern.exec(arn);
      if (!m) throw validation(`Invalid resourceArn ${arn}`);
      const [, region, account, appId, childKind, childId] = m;
      const app = apps.get(`${account}/${region}/${appId}`);
      const missing = () => notFound(`Resource ${arn} does not exist`);
      if (!app || account !== ctx.accountId || app.state === 'TERMINATED') throw missing();
      if (childId === undefined) return app;
      const child = childKind === 'sessions' ? app.sessions.get(childId) : app.jobs.get(childId);
      if (!child) throw missing();
      return child;
    },

    newApplication(scope, at, fields) {
      const id = fields.id ?? store.newId();
      const app: Application = {
        scope,
        id,
        arn: applicationArn(scope.region, scope.accountId, id),
        state: 'CREATING',
        createdAt: at,
        updatedAt: at,
        autoStart: true,
        autoStop: { enabled: true, idleTimeoutMinutes: 15 },
        tags: {},
        config: {},
        jobs: new Map(),
        jobOrder: [],
        jobTokens: new Map(),
        activeJobs: 0,
        waiting: new Set(),
        sessions: new Map(),
        sessionOrder: [],
        sessionTokens: new Map(),
        liveSessions: 0,
        waitingSessions: new Set(),
        ...fields,
      };
      scope.apps.push(app);
      apps.set(`${scope.accountId}/${scope.region}/${id}`, app);
      return app;
    },

    jobsOn: (keyArn) => jobsByKey.get(keyArn),
    indexJobKey(job) {
      if (job.keyArn) indexAdd(jobsByKey, job.keyArn, job);
    },
    unindexJobKey(job) {
      if (job.keyArn) indexRemove(jobsByKey, job.keyArn, job);
    },
    sessionsOn: (keyArn) => sessionsByKey.get(keyArn),
    indexSessionKey(session) {
      if (session.keyArn) indexAdd(sessionsByKey, session.keyArn, session);
    },
    unindexSessionKey(session) {
      if (session.keyArn) indexRemove(sessionsByKey, session.keyArn, session);
    },
  };
  return store;
}
