// The EMR Serverless emulator (restJson1, SigV4 name `emr-serverless`, routes as in the SDK's
// schemas). Contract: applications scoped by account+region walk CREATING -> CREATED -> STARTING ->
// STARTED -> STOPPING -> STOPPED -> TERMINATED on the emulator timeline (auto-start on job
// submission, auto-stop after the idle timeout); UpdateApplication only in CREATED/STOPPED; job runs
// walk SUBMITTED -> SCHEDULED -> RUNNING -> SUCCESS, CANCELLING -> CANCELLED, or FAILED when their
// disk-encryption key stops being usable. Key policy decisions belong to KMS
// (world.kms.serviceUseDenied).
//
// Choices where AWS is UNCONFIRMED (spec §5, §10), always the stricter reading:
// - encryptionKeyArn must be a key ARN (no alias ARN, no bare id) in the caller's account and
//   region, a symmetric ENCRYPT_DECRYPT customer managed key, Enabled, and KMS must allow
//   emr-serverless to use it for the caller. Checked at CreateApplication, UpdateApplication and
//   StartJobRun (for the effective key); any failure is a ValidationException naming the key (EMR-006).
// - The encryption context EMR sends is {applicationId: <id>} merged with the custom context.
// - UpdateApplication: diskEncryptionConfiguration absent = unchanged; `{}` (no key ARN, no context)
//   = back to service-owned keys; a context without a key ARN is a ValidationException.
// - StartJobRun: an override with encryptionKeyArn wins over the application's configuration; an
//   override without one (including `{}`) inherits the application's key, so a job is never
//   silently downgraded to service-owned keys. GetJobRun returns configurationOverrides exactly as
//   submitted, never the inherited application configuration.
// - A job whose effective key becomes unusable (disabled, pending deletion, deleted) while it is
//   SUBMITTED/SCHEDULED/RUNNING ends FAILED at once with stateDetails naming the key. Applications
//   themselves do not react to key changes (their disks exist only while jobs run).
// - StartJobRun is refused (ValidationException) while the application is CREATING, STOPPING or
//   TERMINATED, and when it is CREATED/STOPPED with auto-start disabled.
// - StartApplication on STARTING/STARTED and StopApplication on CREATED/STOPPING/STOPPED succeed
//   without effect; other states are a ValidationException.
// - TERMINATED applications stay readable with GetApplication but are listed only when the states
//   filter asks for TERMINATED.

import type { ScheduledEvent } from '../core/clock.ts';
import { AwsError, epochSeconds } from '../core/protocol.ts';
import { seededRandom } from '../core/random.ts';
import type { CallContext, JsonObject, RestRequest, RestRoute, ServiceRuntime } from '../core/service.ts';
import { validator } from '../core/validate.ts';
import type { KeyView, World } from '../core/world.ts';

type AppState = 'CREATING' | 'CREATED' | 'STARTING' | 'STARTED' | 'STOPPING' | 'STOPPED' | 'TERMINATED';
type JobState =
  | 'SUBMITTED'
  | 'PENDING'
  | 'SCHEDULED'
  | 'QUEUED'
  | 'RUNNING'
  | 'SUCCESS'
  | 'FAILED'
  | 'CANCELLING'
  | 'CANCELLED';

const appStates: readonly AppState[] = [
  'CREATING',
  'CREATED',
  'STARTING',
  'STARTED',
  'STOPPING',
  'STOPPED',
  'TERMINATED',
];
const jobStates: readonly JobState[] = [
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
const activeJobStates: ReadonlySet<JobState> = new Set([
  'SUBMITTED',
  'PENDING',
  'SCHEDULED',
  'QUEUED',
  'RUNNING',
  'CANCELLING',
]);
/** Jobs that still need their disk key. */
const keyDependentStates: ReadonlySet<JobState> = new Set([
  'SUBMITTED',
  'PENDING',
  'SCHEDULED',
  'QUEUED',
  'RUNNING',
]);

interface DiskEncryption {
  encryptionKeyArn: string;
  encryptionContext?: Record<string, string>;
}

interface Scope {
  accountId: string;
  region: string;
  /** Creation order; append-only, so list tokens can be indexes. */
  apps: Application[];
  clientTokens: Map<string, { fingerprint: string; app: Application }>;
}

interface Application {
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
  transition?: ScheduledEvent;
  idle?: ScheduledEvent;
}

interface JobRun {
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

const v = validator('ValidationException');
const validation = (message: string) => new AwsError('ValidationException', message, 400);
const conflict = (message: string) => new AwsError('ConflictException', message, 409);
const notFound = (message: string) => new AwsError('ResourceNotFoundException', message, 404);

const keyArnPattern = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key\/([A-Za-z0-9-]+)$/;
const roleArnPattern = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
const releaseLabelPattern = /^emr-\d+\.\d+\.\d+(-[a-z0-9.-]+)?$/;
const appNamePattern = /^[A-Za-z0-9._/#-]+$/;
const resourceArnPattern =
  /^arn:aws[a-z-]*:emr-serverless:([a-z0-9-]+):(\d{12}):\/applications\/([0-9a-z]+)(?:\/jobruns\/([0-9a-z]+))?$/;
const minute = 60_000;
const maxTags = 200;

/** Members stored and echoed as given (no behaviour behind them in the emulator). */
const passthroughMembers = [
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

function encodeToken(index: number): string {
  return Buffer.from(JSON.stringify({ i: index }), 'utf8').toString('base64url');
}

function decodeToken(token: string | null): number | undefined {
  if (token === null || token === '') return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { i?: unknown };
    if (typeof parsed.i === 'number' && Number.isInteger(parsed.i) && parsed.i >= 0) return parsed.i;
  } catch {
    // fall through to the error below
  }
  throw validation('Invalid pagination token');
}

function queryInt(query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw validation(
      `1 validation error detected: Value '${raw}' at '${name}' failed to satisfy constraint: Member must have value between ${min} and ${max}`,
    );
  return n;
}

function queryStates<T extends string>(query: URLSearchParams, allowed: readonly T[]): Set<T> | undefined {
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

function queryTime(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  const asNumber = Number(raw);
  const ms = Number.isFinite(asNumber) ? asNumber * 1000 : Date.parse(raw);
  if (Number.isNaN(ms)) throw validation(`Invalid timestamp for ${name}: ${raw}`);
  return ms;
}

function parseTags(body: JsonObject, member: string): Record<string, string> | undefined {
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

/** `undefined`: member absent; `null`: `{}` (clear); otherwise the configuration to check. */
function parseDisk(
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

function parseAutoStop(raw: JsonObject, current: Application['autoStop']): Application['autoStop'] {
  return {
    enabled: v.optBool(raw, 'enabled') ?? true,
    idleTimeoutMinutes:
      v.optInt(raw, 'idleTimeoutMinutes', { min: 1, max: 10_080 }) ?? current.idleTimeoutMinutes,
  };
}

function validateJobDriver(driver: JsonObject, appType: string): void {
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

export function createEmrServerlessService(world: World): ServiceRuntime {
  const ids = seededRandom(world.config.seed ^ 0xe3e5);
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  /** AWS ids are 16 lowercase alphanumerics starting `00f`. */
  const newId = () => `00f${Array.from({ length: 13 }, () => alphabet[ids.int(0, 35)]).join('')}`;

  const scopes = new Map<string, Scope>();
  const apps = new Map<string, Application>();
  const jobsByKey = new Map<string, Set<JobRun>>();

  function scopeOf(accountId: string, region: string): Scope {
    const id = `${accountId}/${region}`;
    let s = scopes.get(id);
    if (!s) {
      s = { accountId, region, apps: [], clientTokens: new Map() };
      scopes.set(id, s);
    }
    return s;
  }

  function appFor(ctx: CallContext, id: string): Application {
    const app = apps.get(`${ctx.accountId}/${ctx.region}/${id}`);
    if (!app) throw notFound(`Application ${id} does not exist`);
    return app;
  }

  function requireState(app: Application, allowed: readonly AppState[]): void {
    if (!allowed.includes(app.state))
      throw validation(
        `Application ${app.id} must be in one of the following statuses [${allowed.join(', ')}]. Current status: ${app.state}`,
      );
  }

  /** DescribeKey-style checks plus KMS's verdict on emr-serverless using the key for this caller. */
  function usableKey(ctx: CallContext, app: { id: string; arn: string }, disk: DiskEncryption): KeyView {
    const arn = disk.encryptionKeyArn;
    const m = keyArnPattern.exec(arn);
    if (!m)
      throw validation(
        `Invalid encryptionKeyArn ${arn}: specify the ARN of a KMS key (arn:aws:kms:<region>:<account>:key/<key-id>); aliases are not accepted`,
      );
    const [, region, account] = m;
    if (region !== ctx.region)
      throw validation(
        `The KMS key ${arn} is in ${region}; EMR Serverless in ${ctx.region} needs a key in ${ctx.region}`,
      );
    if (account !== ctx.accountId)
      throw validation(
        `The KMS key ${arn} belongs to account ${account}; use a KMS key in account ${ctx.accountId}`,
      );
    const key = world.kms.findKey(arn, ctx.region, ctx.accountId);
    if (!key) throw validation(`The KMS key ${arn} does not exist`);
    if (key.keyManager !== 'CUSTOMER')
      throw validation(`The KMS key ${arn} is an AWS managed key; specify a customer managed key`);
    if (key.keySpec !== 'SYMMETRIC_DEFAULT' || key.keyUsage !== 'ENCRYPT_DECRYPT')
      throw validation(
        `The KMS key ${arn} is not a symmetric encryption key (KeySpec ${key.keySpec}, KeyUsage ${key.keyUsage}); EMR Serverless supports only symmetric encryption KMS keys`,
      );
    if (key.state !== 'Enabled')
      throw validation(`The KMS key ${arn} is ${key.state}; EMR Serverless can only use an Enabled KMS key`);
    const denied = world.kms.serviceUseDenied({
      key,
      service: 'emr-serverless',
      caller: ctx.caller,
      region: ctx.region,
      accountId: ctx.accountId,
      sourceArn: app.arn,
      encryptionContext: { applicationId: app.id, ...(disk.encryptionContext ?? {}) },
    });
    if (denied !== undefined)
      throw validation(
        `EMR Serverless could not use the KMS key ${arn} on behalf of ${ctx.caller.arn}: ${denied}`,
      );
    return key;
  }

  // --- application lifecycle -------------------------------------------------------------------

  function setAppState(app: Application, state: AppState, at: number, details?: string): void {
    app.state = state;
    app.updatedAt = at;
    app.stateDetails = details;
  }

  function startApp(app: Application, at: number): void {
    app.idle?.cancel();
    app.transition?.cancel();
    setAppState(app, 'STARTING', at);
    const done = at + world.transitionMs('emr-serverless.STARTING');
    app.transition = world.timeline.schedule(done, `emr-serverless ${app.id} STARTED`, () => {
      app.transition = undefined;
      if (app.state !== 'STARTING') return;
      setAppState(app, 'STARTED', done);
      for (const job of [...app.waiting]) runJob(job, done);
      armIdle(app, done);
    });
  }

  function stopApp(app: Application, at: number, details?: string): void {
    app.idle?.cancel();
    app.transition?.cancel();
    setAppState(app, 'STOPPING', at, details);
    const done = at + world.transitionMs('emr-serverless.STOPPING');
    app.transition = world.timeline.schedule(done, `emr-serverless ${app.id} STOPPED`, () => {
      app.transition = undefined;
      if (app.state === 'STOPPING') setAppState(app, 'STOPPED', done, details);
    });
  }

  /** Auto-stop: a STARTED application with no jobs stops after its idle timeout. */
  function armIdle(app: Application, at: number): void {
    app.idle?.cancel();
    app.idle = undefined;
    if (!app.autoStop.enabled || app.state !== 'STARTED' || app.activeJobs > 0) return;
    const due = at + app.autoStop.idleTimeoutMinutes * minute;
    app.idle = world.timeline.schedule(due, `emr-serverless ${app.id} idle auto-stop`, () => {
      app.idle = undefined;
      if (app.state === 'STARTED' && app.activeJobs === 0)
        stopApp(app, due, `Application auto-stopped after ${app.autoStop.idleTimeoutMinutes} idle minutes`);
    });
  }

  // --- job lifecycle ---------------------------------------------------------------------------

  function indexJobKey(job: JobRun): void {
    if (!job.keyArn) return;
    let set = jobsByKey.get(job.keyArn);
    if (!set) {
      set = new Set();
      jobsByKey.set(job.keyArn, set);
    }
    set.add(job);
  }

  function unindexJobKey(job: JobRun): void {
    if (!job.keyArn) return;
    const set = jobsByKey.get(job.keyArn);
    if (!set) return;
    set.delete(job);
    if (set.size === 0) jobsByKey.delete(job.keyArn);
  }

  function setJobState(job: JobRun, state: JobState, at: number, details = ''): void {
    job.state = state;
    job.stateDetails = details;
    job.updatedAt = at;
  }

  function finishJob(job: JobRun, state: 'SUCCESS' | 'FAILED' | 'CANCELLED', at: number, details = ''): void {
    if (!activeJobStates.has(job.state)) return;
    job.event?.cancel();
    job.event = undefined;
    setJobState(job, state, at, details);
    job.endedAt = at;
    unindexJobKey(job);
    job.app.waiting.delete(job);
    job.app.activeJobs--;
    armIdle(job.app, at);
  }

  function keyProblem(job: JobRun): string | undefined {
    if (!job.keyArn) return undefined;
    const key = world.kms.findKey(job.keyArn, job.app.scope.region, job.app.scope.accountId);
    if (key && key.state === 'Enabled') return undefined;
    return keyFailure(job.keyArn, key ? key.state : 'deleted');
  }

  const keyFailure = (arn: string, state: string) =>
    `Job failed: the KMS key ${arn} used for disk encryption is ${state} (KMS key not usable). Enable the key or choose another key and resubmit the job.`;

  function submitJob(job: JobRun, at: number): void {
    const scheduledAt = at + world.transitionMs('emr-serverless.JOB_SUBMITTED');
    job.event = world.timeline.schedule(scheduledAt, `emr-serverless job ${job.id} SCHEDULED`, () => {
      job.event = undefined;
      if (job.state !== 'SUBMITTED') return;
      setJobState(job, 'SCHEDULED', scheduledAt);
      const runAt = scheduledAt + world.transitionMs('emr-serverless.JOB_SCHEDULED');
      job.event = world.timeline.schedule(runAt, `emr-serverless job ${job.id} ready to run`, () => {
        job.event = undefined;
        if (job.state !== 'SCHEDULED') return;
        if (job.app.state === 'STARTED') runJob(job, runAt);
        else job.app.waiting.add(job);
      });
    });
  }

  function runJob(job: JobRun, at: number): void {
    job.app.waiting.delete(job);
    if (job.state !== 'SCHEDULED') return;
    const problem = keyProblem(job);
    if (problem) {
      finishJob(job, 'FAILED', at, problem);
      return;
    }
    setJobState(job, 'RUNNING', at);
    job.startedAt = at;
    if (job.mode === 'STREAMING') return; // runs until cancelled
    const runMs = world.transitionMs('emr-serverless.JOB_RUNNING');
    const timeoutMs = job.executionTimeoutMinutes * minute;
    if (timeoutMs > 0 && timeoutMs < runMs) {
      job.event = world.timeline.schedule(at + timeoutMs, `emr-serverless job ${job.id} timed out`, () =>
        finishJob(
          job,
          'FAILED',
          at + timeoutMs,
          `Job run timed out after ${job.executionTimeoutMinutes} minutes (executionTimeoutMinutes)`,
        ),
      );
      return;
    }
    job.event = world.timeline.schedule(at + runMs, `emr-serverless job ${job.id} SUCCESS`, () =>
      finishJob(job, 'SUCCESS', at + runMs),
    );
  }

  function cancelJob(job: JobRun, at: number): void {
    job.event?.cancel();
    job.event = undefined;
    job.app.waiting.delete(job);
    unindexJobKey(job);
    setJobState(job, 'CANCELLING', at);
    const done = at + world.transitionMs('emr-serverless.JOB_CANCELLING');
    job.event = world.timeline.schedule(done, `emr-serverless job ${job.id} CANCELLED`, () => {
      job.event = undefined;
      finishJob(job, 'CANCELLED', done, 'Job run cancelled by user');
    });
  }

  world.kms.onKeyChange((key, deleted) => {
    if (!deleted && key.state === 'Enabled') return;
    const jobs = jobsByKey.get(key.arn);
    if (!jobs) return;
    const now = world.clock.now();
    for (const job of [...jobs]) {
      if (keyDependentStates.has(job.state))
        finishJob(job, 'FAILED', now, keyFailure(key.arn, deleted ? 'deleted' : key.state));
    }
  });

  // --- views -----------------------------------------------------------------------------------

  function describeApp(app: Application): JsonObject {
    return {
      applicationId: app.id,
      arn: app.arn,
      ...(app.name !== undefined ? { name: app.name } : {}),
      releaseLabel: app.releaseLabel,
      type: app.type,
      state: app.state,
      ...(app.stateDetails ? { stateDetails: app.stateDetails } : {}),
      createdAt: epochSeconds(app.createdAt),
      updatedAt: epochSeconds(app.updatedAt),
      tags: { ...app.tags },
      autoStartConfiguration: { enabled: app.autoStart },
      autoStopConfiguration: { ...app.autoStop },
      architecture: 'X86_64',
      ...structuredClone(app.config),
      ...(app.disk ? { diskEncryptionConfiguration: structuredClone(app.disk) } : {}),
    };
  }

  function summarizeApp(app: Application): JsonObject {
    return {
      id: app.id,
      arn: app.arn,
      ...(app.name !== undefined ? { name: app.name } : {}),
      releaseLabel: app.releaseLabel,
      type: app.type,
      state: app.state,
      ...(app.stateDetails ? { stateDetails: app.stateDetails } : {}),
      createdAt: epochSeconds(app.createdAt),
      updatedAt: epochSeconds(app.updatedAt),
      architecture: (app.config['architecture'] as string | undefined) ?? 'X86_64',
    };
  }

  function describeJob(job: JobRun, now: number): JsonObject {
    const duration =
      job.startedAt === undefined ? 0 : Math.floor(((job.endedAt ?? now) - job.startedAt) / 1000);
    return {
      applicationId: job.app.id,
      jobRunId: job.id,
      arn: job.arn,
      ...(job.name !== undefined ? { name: job.name } : {}),
      createdBy: job.createdBy,
      createdAt: epochSeconds(job.createdAt),
      updatedAt: epochSeconds(job.updatedAt),
      executionRole: job.executionRole,
      state: job.state,
      stateDetails: job.stateDetails,
      releaseLabel: job.releaseLabel,
      jobDriver: structuredClone(job.jobDriver),
      ...(job.configurationOverrides
        ? { configurationOverrides: structuredClone(job.configurationOverrides) }
        : {}),
      tags: { ...job.tags },
      executionTimeoutMinutes: job.executionTimeoutMinutes,
      mode: job.mode,
      attempt: 1,
      attemptCreatedAt: epochSeconds(job.createdAt),
      attemptUpdatedAt: epochSeconds(job.updatedAt),
      totalExecutionDurationSeconds: duration,
      ...(job.startedAt !== undefined ? { startedAt: epochSeconds(job.startedAt) } : {}),
      ...(job.endedAt !== undefined ? { endedAt: epochSeconds(job.endedAt) } : {}),
      ...structuredClone(job.extras),
    };
  }

  function summarizeJob(job: JobRun): JsonObject {
    return {
      applicationId: job.app.id,
      id: job.id,
      arn: job.arn,
      ...(job.name !== undefined ? { name: job.name } : {}),
      createdBy: job.createdBy,
      createdAt: epochSeconds(job.createdAt),
      updatedAt: epochSeconds(job.updatedAt),
      executionRole: job.executionRole,
      state: job.state,
      stateDetails: job.stateDetails,
      releaseLabel: job.releaseLabel,
      type: job.app.type,
      mode: job.mode,
      attempt: 1,
      attemptCreatedAt: epochSeconds(job.createdAt),
      attemptUpdatedAt: epochSeconds(job.updatedAt),
    };
  }

  function newApplication(
    scope: Scope,
    at: number,
    fields: Partial<Application> & Pick<Application, 'releaseLabel' | 'type'>,
  ): Application {
    const id = fields.id ?? newId();
    const app: Application = {
      scope,
      id,
      arn: `arn:aws:emr-serverless:${scope.region}:${scope.accountId}:/applications/${id}`,
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
      ...fields,
    };
    scope.apps.push(app);
    apps.set(`${scope.accountId}/${scope.region}/${id}`, app);
    return app;
  }

  function resourceFor(ctx: CallContext, arn: string): { tags: Record<string, string> } {
    const m = resourceArnPattern.exec(arn);
    if (!m) throw validation(`Invalid resourceArn ${arn}`);
    const [, region, account, appId, jobId] = m;
    const app = apps.get(`${account}/${region}/${appId}`);
    const missing = () => notFound(`Resource ${arn} does not exist`);
    if (!app || account !== ctx.accountId || app.state === 'TERMINATED') throw missing();
    if (jobId === undefined) return app;
    const job = app.jobs.get(jobId);
    if (!job) throw missing();
    return job;
  }

  // --- operations ------------------------------------------------------------------------------

  function createApplication(ctx: CallContext, { body }: RestRequest) {
    const releaseLabel = v.str(body, 'releaseLabel', { min: 1, max: 64 });
    if (!releaseLabelPattern.test(releaseLabel))
      throw validation(
        `Release label ${releaseLabel} is not a valid EMR release label (for example emr-7.5.0)`,
      );
    const typeRaw = v.str(body, 'type', { min: 1, max: 64 });
    const type = typeRaw.toUpperCase();
    if (type !== 'SPARK' && type !== 'HIVE')
      throw validation(`Application type ${typeRaw} is not supported; use SPARK or HIVE`);
    const name = v.optStr(body, 'name', { min: 1, max: 64, pattern: appNamePattern });
    const clientToken = v.optStr(body, 'clientToken', { min: 1, max: 64 });
    const disk = parseDisk(body);
    const autoStartRaw = v.optObject(body, 'autoStartConfiguration');
    const autoStopRaw = v.optObject(body, 'autoStopConfiguration');
    const tags = parseTags(body, 'tags') ?? {};
    const architecture = v.optEnum(body, 'architecture', ['ARM64', 'X86_64'] as const);

    const scope = scopeOf(ctx.accountId, ctx.region);
    const { clientToken: _ignored, ...rest } = body;
    const fingerprint = JSON.stringify(rest);
    if (clientToken !== undefined) {
      const previous = scope.clientTokens.get(clientToken);
      if (previous) {
        if (previous.fingerprint !== fingerprint)
          throw conflict(`clientToken ${clientToken} was already used with different parameters`);
        return { applicationId: previous.app.id, name: previous.app.name, arn: previous.app.arn };
      }
    }

    const id = newId();
    const arn = `arn:aws:emr-serverless:${ctx.region}:${ctx.accountId}:/applications/${id}`;
    if (disk) usableKey(ctx, { id, arn }, disk);
    const config: JsonObject = {};
    for (const m of passthroughMembers) if (body[m] !== undefined && body[m] !== null) config[m] = body[m];
    if (architecture) config['architecture'] = architecture;
    const app = newApplication(scope, ctx.now, {
      id,
      ...(name !== undefined ? { name } : {}),
      releaseLabel,
      type,
      autoStart: autoStartRaw ? (v.optBool(autoStartRaw, 'enabled') ?? true) : true,
      autoStop: autoStopRaw
        ? parseAutoStop(autoStopRaw, { enabled: true, idleTimeoutMinutes: 15 })
        : { enabled: true, idleTimeoutMinutes: 15 },
      tags,
      ...(disk ? { disk } : {}),
      config,
    });
    if (clientToken !== undefined) scope.clientTokens.set(clientToken, { fingerprint, app });
    const done = ctx.now + world.transitionMs('emr-serverless.CREATING');
    app.transition = world.timeline.schedule(done, `emr-serverless ${app.id} CREATED`, () => {
      app.transition = undefined;
      if (app.state === 'CREATING') setAppState(app, 'CREATED', done);
    });
    return { applicationId: app.id, ...(app.name !== undefined ? { name: app.name } : {}), arn: app.arn };
  }

  function updateApplication(ctx: CallContext, { params, body }: RestRequest) {
    const app = appFor(ctx, params['applicationId']!);
    requireState(app, ['CREATED', 'STOPPED']);
    const releaseLabel = v.optStr(body, 'releaseLabel', { min: 1, max: 64 });
    if (releaseLabel !== undefined && !releaseLabelPattern.test(releaseLabel))
      throw validation(
        `Release label ${releaseLabel} is not a valid EMR release label (for example emr-7.5.0)`,
      );
    const disk = parseDisk(body);
    const autoStartRaw = v.optObject(body, 'autoStartConfiguration');
    const autoStopRaw = v.optObject(body, 'autoStopConfiguration');
    const architecture = v.optEnum(body, 'architecture', ['ARM64', 'X86_64'] as const);
    if (disk) usableKey(ctx, app, disk);

    // PATCH semantics: absent members stay as they are.
    if (disk === null) app.disk = undefined;
    else if (disk) app.disk = disk;
    if (releaseLabel !== undefined) app.releaseLabel = releaseLabel;
    if (autoStartRaw) app.autoStart = v.optBool(autoStartRaw, 'enabled') ?? true;
    if (autoStopRaw) app.autoStop = parseAutoStop(autoStopRaw, app.autoStop);
    for (const m of passthroughMembers)
      if (body[m] !== undefined && body[m] !== null) app.config[m] = body[m];
    if (architecture) app.config['architecture'] = architecture;
    app.updatedAt = ctx.now;
    return { application: describeApp(app) };
  }

  function listApplications(ctx: CallContext, { query }: RestRequest) {
    const max = queryInt(query, 'maxResults', 1, 50) ?? 50;
    const start = decodeToken(query.get('nextToken')) ?? 0;
    const states = queryStates(query, appStates);
    const matches = (a: Application) => (states ? states.has(a.state) : a.state !== 'TERMINATED');
    const list = scopeOf(ctx.accountId, ctx.region).apps;
    const out: JsonObject[] = [];
    let i = start;
    for (; i < list.length && out.length < max; i++) if (matches(list[i]!)) out.push(summarizeApp(list[i]!));
    while (i < list.length && !matches(list[i]!)) i++;
    return { applications: out, ...(i < list.length ? { nextToken: encodeToken(i) } : {}) };
  }

  function deleteApplication(ctx: CallContext, { params }: RestRequest) {
    const app = appFor(ctx, params['applicationId']!);
    requireState(app, ['CREATED', 'STOPPED']);
    app.idle?.cancel();
    app.transition?.cancel();
    setAppState(app, 'TERMINATED', ctx.now);
    return {};
  }

  function startApplication(ctx: CallContext, { params }: RestRequest) {
    const app = appFor(ctx, params['applicationId']!);
    if (app.state === 'STARTING' || app.state === 'STARTED') return {};
    requireState(app, ['CREATED', 'STOPPED']);
    startApp(app, ctx.now);
    return {};
  }

  function stopApplication(ctx: CallContext, { params }: RestRequest) {
    const app = appFor(ctx, params['applicationId']!);
    if (app.state === 'CREATED' || app.state === 'STOPPING' || app.state === 'STOPPED') return {};
    requireState(app, ['STARTED']);
    if (app.activeJobs > 0) {
      const busy = app.jobOrder
        .filter((j) => activeJobStates.has(j.state))
        .map((j) => `${j.id} (${j.state})`);
      throw validation(
        `Application ${app.id} cannot be stopped while job runs are active: ${busy.join(', ')}. Wait for them to finish or cancel them first`,
      );
    }
    stopApp(app, ctx.now);
    return {};
  }

  function startJobRun(ctx: CallContext, { params, body }: RestRequest) {
    const app = appFor(ctx, params['applicationId']!);
    const executionRoleArn = v.str(body, 'executionRoleArn', { min: 20, max: 2048 });
    if (!roleArnPattern.test(executionRoleArn))
      throw validation(`Invalid executionRoleArn ${executionRoleArn}: expected an IAM role ARN`);
    const jobDriver = v.object(body, 'jobDriver');
    validateJobDriver(jobDriver, app.type);
    const clientToken = v.optStr(body, 'clientToken', { min: 1, max: 64 });
    const name = v.optStr(body, 'name', { min: 1, max: 256 });
    const overrides = v.optObject(body, 'configurationOverrides');
    const overrideDisk = overrides ? parseDisk(overrides) : undefined;
    const tags = parseTags(body, 'tags') ?? {};
    const executionTimeoutMinutes =
      v.optInt(body, 'executionTimeoutMinutes', { min: 0, max: 1_000_000 }) ?? 720;
    const mode = v.optEnum(body, 'mode', ['BATCH', 'STREAMING'] as const) ?? 'BATCH';

    const { clientToken: _ignored, ...rest } = body;
    const fingerprint = JSON.stringify(rest);
    if (clientToken !== undefined) {
      const previous = app.jobTokens.get(clientToken);
      if (previous) {
        if (previous.fingerprint !== fingerprint)
          throw conflict(`clientToken ${clientToken} was already used with different parameters`);
        return { applicationId: app.id, jobRunId: previous.job.id, arn: previous.job.arn };
      }
    }

    if (app.state === 'TERMINATED' || app.state === 'CREATING' || app.state === 'STOPPING')
      throw validation(`Application ${app.id} is ${app.state} and cannot accept job runs`);
    const needsStart = app.state === 'CREATED' || app.state === 'STOPPED';
    if (needsStart && !app.autoStart)
      throw validation(
        `Application ${app.id} is ${app.state} and auto-start is disabled; start the application before submitting job runs`,
      );
    // EMR-003: a job-level key wins; without one the job inherits the application's.
    const effective = overrideDisk ?? app.disk;
    if (effective) usableKey(ctx, app, effective);

    const id = newId();
    const job: JobRun = {
      app,
      id,
      arn: `${app.arn}/jobruns/${id}`,
      ...(name !== undefined ? { name } : {}),
      createdBy: ctx.caller.arn,
      createdAt: ctx.now,
      updatedAt: ctx.now,
      executionRole: executionRoleArn,
      state: 'SUBMITTED',
      stateDetails: '',
      releaseLabel: app.releaseLabel,
      jobDriver: structuredClone(jobDriver),
      ...(overrides ? { configurationOverrides: structuredClone(overrides) } : {}),
      tags,
      executionTimeoutMinutes,
      mode,
      extras: Object.fromEntries(
        ['retryPolicy', 'executionIamPolicy'].filter((m) => body[m] !== undefined).map((m) => [m, body[m]]),
      ),
      ...(effective ? { keyArn: effective.encryptionKeyArn } : {}),
    };
    app.jobs.set(id, job);
    app.jobOrder.push(job);
    if (clientToken !== undefined) app.jobTokens.set(clientToken, { fingerprint, job });
    app.activeJobs++;
    app.idle?.cancel();
    app.idle = undefined;
    indexJobKey(job);
    if (needsStart) startApp(app, ctx.now);
    submitJob(job, ctx.now);
    return { applicationId: app.id, jobRunId: id, arn: job.arn };
  }

  function jobFor(ctx: CallContext, params: Record<string, string>): JobRun {
    const app = appFor(ctx, params['applicationId']!);
    const job = app.jobs.get(params['jobRunId']!);
    if (!job) throw notFound(`Job run ${params['jobRunId']} does not exist in application ${app.id}`);
    return job;
  }

  function getJobRun(ctx: CallContext, { params, query }: RestRequest) {
    const job = jobFor(ctx, params);
    const attempt = queryInt(query, 'attempt', 1, 1_000_000);
    if (attempt !== undefined && attempt !== 1)
      throw notFound(`Attempt ${attempt} of job run ${job.id} does not exist`);
    return { jobRun: describeJob(job, ctx.now) };
  }

  function listJobRuns(ctx: CallContext, { params, query }: RestRequest) {
    const app = appFor(ctx, params['applicationId']!);
    const max = queryInt(query, 'maxResults', 1, 50) ?? 50;
    const token = decodeToken(query.get('nextToken'));
    const states = queryStates(query, jobStates);
    const after = queryTime(query, 'createdAtAfter');
    const before = queryTime(query, 'createdAtBefore');
    const modeRaw = query.get('mode');
    if (modeRaw !== null && modeRaw !== 'BATCH' && modeRaw !== 'STREAMING')
      throw validation(`Invalid mode ${modeRaw}; use BATCH or STREAMING`);
    const matches = (j: JobRun) =>
      (!states || states.has(j.state)) &&
      (after === undefined || j.createdAt >= after) &&
      (before === undefined || j.createdAt <= before) &&
      (modeRaw === null || j.mode === modeRaw);
    // Newest first; the token is the index (in creation order) to continue from.
    const list = app.jobOrder;
    const out: JsonObject[] = [];
    let i = token ?? list.length - 1;
    for (; i >= 0 && out.length < max; i--) if (matches(list[i]!)) out.push(summarizeJob(list[i]!));
    while (i >= 0 && !matches(list[i]!)) i--;
    return { jobRuns: out, ...(i >= 0 ? { nextToken: encodeToken(i) } : {}) };
  }

  function cancelJobRun(ctx: CallContext, { params, query }: RestRequest) {
    const job = jobFor(ctx, params);
    queryInt(query, 'shutdownGracePeriodInSeconds', 0, 1_000_000);
    if (job.state === 'CANCELLING') return { applicationId: job.app.id, jobRunId: job.id };
    if (!activeJobStates.has(job.state))
      throw validation(`Job run ${job.id} is already in a terminal state: ${job.state}`);
    cancelJob(job, ctx.now);
    return { applicationId: job.app.id, jobRunId: job.id };
  }

  function tagResource(ctx: CallContext, { params, body }: RestRequest) {
    const tags = parseTags(body, 'tags');
    if (!tags)
      v.fail(
        "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null",
      );
    const r = resourceFor(ctx, params['resourceArn']!);
    const merged = { ...r.tags, ...tags };
    if (Object.keys(merged).length > maxTags) throw validation(`A resource can have at most ${maxTags} tags`);
    r.tags = merged;
    return {};
  }

  function untagResource(ctx: CallContext, { params, query }: RestRequest) {
    const keys = query.getAll('tagKeys');
    if (keys.length === 0)
      v.fail(
        "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null",
      );
    const r = resourceFor(ctx, params['resourceArn']!);
    const next = { ...r.tags };
    for (const k of keys) delete next[k];
    r.tags = next;
    return {};
  }

  function listTagsForResource(ctx: CallContext, { params }: RestRequest) {
    return { tags: { ...resourceFor(ctx, params['resourceArn']!).tags } };
  }

  const routes: RestRoute[] = [
    { method: 'POST', path: '/applications', operation: 'CreateApplication', handler: createApplication },
    { method: 'GET', path: '/applications', operation: 'ListApplications', handler: listApplications },
    {
      method: 'GET',
      path: '/applications/{applicationId}',
      operation: 'GetApplication',
      handler: (ctx, { params }) => ({ application: describeApp(appFor(ctx, params['applicationId']!)) }),
    },
    {
      method: 'PATCH',
      path: '/applications/{applicationId}',
      operation: 'UpdateApplication',
      handler: updateApplication,
    },
    {
      method: 'DELETE',
      path: '/applications/{applicationId}',
      operation: 'DeleteApplication',
      handler: deleteApplication,
    },
    {
      method: 'POST',
      path: '/applications/{applicationId}/start',
      operation: 'StartApplication',
      handler: startApplication,
    },
    {
      method: 'POST',
      path: '/applications/{applicationId}/stop',
      operation: 'StopApplication',
      handler: stopApplication,
    },
    {
      method: 'POST',
      path: '/applications/{applicationId}/jobruns',
      operation: 'StartJobRun',
      handler: startJobRun,
    },
    {
      method: 'GET',
      path: '/applications/{applicationId}/jobruns',
      operation: 'ListJobRuns',
      handler: listJobRuns,
    },
    {
      method: 'GET',
      path: '/applications/{applicationId}/jobruns/{jobRunId}',
      operation: 'GetJobRun',
      handler: getJobRun,
    },
    {
      method: 'DELETE',
      path: '/applications/{applicationId}/jobruns/{jobRunId}',
      operation: 'CancelJobRun',
      handler: cancelJobRun,
    },
    { method: 'POST', path: '/tags/{resourceArn}', operation: 'TagResource', handler: tagResource },
    { method: 'DELETE', path: '/tags/{resourceArn}', operation: 'UntagResource', handler: untagResource },
    {
      method: 'GET',
      path: '/tags/{resourceArn}',
      operation: 'ListTagsForResource',
      handler: listTagsForResource,
    },
  ];

  // Seed section `emr-serverless`: { applications: [{ name, id?, state?, diskEncryption?, region?,
  // tags?, releaseLabel?, type?, autoStart?, accountId? }] }. Seeds are trusted: keys are not checked.
  function applySeed(section: unknown): void {
    if (section === null || typeof section !== 'object' || Array.isArray(section))
      throw new Error('seed: emr-serverless must be a mapping with an applications list');
    const list = (section as JsonObject)['applications'];
    if (list === undefined) return;
    if (!Array.isArray(list)) throw new Error('seed: emr-serverless.applications must be a list');
    const now = world.clock.now();
    for (const raw of list as JsonObject[]) {
      const region = typeof raw['region'] === 'string' ? raw['region'] : world.config.defaultRegion;
      const accountId = typeof raw['accountId'] === 'string' ? raw['accountId'] : world.config.accountId;
      const id = raw['id'] === undefined ? undefined : String(raw['id']);
      if (id !== undefined && !/^[0-9a-z]{1,64}$/.test(id))
        throw new Error(
          `seed: emr-serverless application id ${JSON.stringify(id)} must be lowercase alphanumeric`,
        );
      if (id !== undefined && apps.has(`${accountId}/${region}/${id}`))
        throw new Error(`seed: emr-serverless application ${id} is listed twice`);
      const state = (raw['state'] as AppState | undefined) ?? 'CREATED';
      if (!['CREATED', 'STARTED', 'STOPPED'].includes(state))
        throw new Error(
          `seed: emr-serverless application state ${state} must be CREATED, STARTED or STOPPED`,
        );
      const diskRaw = (raw['diskEncryption'] ?? raw['diskEncryptionConfiguration']) as JsonObject | undefined;
      let disk: DiskEncryption | undefined;
      if (diskRaw && typeof diskRaw['encryptionKeyArn'] === 'string') {
        disk = {
          encryptionKeyArn: diskRaw['encryptionKeyArn'],
          ...(diskRaw['encryptionContext']
            ? { encryptionContext: { ...(diskRaw['encryptionContext'] as Record<string, string>) } }
            : {}),
        };
      }
      const app = newApplication(scopeOf(accountId, region), now, {
        ...(id !== undefined ? { id } : {}),
        ...(raw['name'] !== undefined ? { name: String(raw['name']) } : {}),
        releaseLabel: typeof raw['releaseLabel'] === 'string' ? raw['releaseLabel'] : 'emr-7.5.0',
        type: typeof raw['type'] === 'string' ? raw['type'].toUpperCase() : 'SPARK',
        state,
        autoStart: raw['autoStart'] !== false,
        tags: { ...((raw['tags'] as Record<string, string> | undefined) ?? {}) },
        ...(disk ? { disk } : {}),
      });
      armIdle(app, now);
    }
  }

  return {
    name: 'emr-serverless',
    protocol: 'restJson1',
    routes,
    seed(section) {
      applySeed(section);
    },
    snapshot() {
      const byState: Record<string, number> = {};
      let jobs = 0;
      for (const app of apps.values()) {
        byState[app.state] = (byState[app.state] ?? 0) + 1;
        jobs += app.jobOrder.length;
      }
      return { applications: apps.size, byState, jobRuns: jobs };
    },
  };
}
