// The EMR Serverless adapter (the AWS facts: EMR-001..014). It reads an application's disk-encryption configuration,
// state, tags and count of active job runs; changes the key with UpdateApplication; stops and starts
// the application; and builds the job-level encryption overrides (StartJobRun configurationOverrides
// and the Livy Spark conf keys) for the job-run controller and the published ConfigMap; and starts,
// reads, lists and terminates interactive sessions (EMR-012) for the session controller.
//
// Guarantees and choices:
// - UpdateApplication is accepted only while CREATED or STOPPED (EMR-010, TRAP-11), so observe reports the
//   blocker ApplicationRunning (with the ids of the job runs not yet finished) while STARTED,
//   Transitioning while CREATING/STARTING/STOPPING (or an unknown state) and Terminated for
//   TERMINATED. The core decides whether to stop() (StopAndUpdate) or wait; stopping while jobs run is
//   refused by AWS and arrives as a classified AwsCallError (ValidationException -> InvalidSpec). This
//   adapter never cancels jobs.
// - changeKey sends diskEncryptionConfiguration only when asked to change it: {encryptionKeyArn,
//   encryptionContext?} for a CMK, and an explicit empty object `{}` for the AWS-owned key, which
//   is what clears it (EMR-004). No other code path sends the member (TRAP-12). The update is
//   synchronous: the operation is Succeeded at once, or Failed when the returned configuration is
//   not the one asked for. It has no AWS id; operation() is not implemented.
// - Unknown application states are reported as AWS sent them with settled=false; missing members
//   never throw, only a GetApplication without `application`/`arn` does (AwsCallError, cause Unknown).
//   TERMINATED applications are still readable; their tags and jobs are not read (AWS hides them).
// - A periodic light look at a workload whose status says it is settled (`shareListing`) may answer
//   from its Region's listing (ListApplications, 50 applications a call, src/aws/region-listing.ts)
//   when the listing shows the application last updated when, and in the state, a full read
//   remembered in the observe memo saw (EMR-014): that read's configuration stands, dated when the
//   listing was read. Anything else reads the application; a look for acting always does.
// - encryptionContext(): {applicationId} merged with the custom context. Which pairs EMR sends is
//   UNCONFIRMED (EMR-009, TRAP-14); the emulator sends exactly this merge. Pass the state with
//   `encryption` (the observed state, or {resourceArn, encryption: desired} before a change) to get
//   the custom pairs; with only resourceArn the result is {applicationId}.
// - Sessions: StartSession takes only a runtime configuration, so a session's key travels as the
//   spark-defaults properties of EMR-008 (EMR-013, unconfirmed for StartSession); the AWS-owned setting
//   sends none. GetSession's runtime configuration is read back for the key the session asked for.
// - Job overrides: a job-level key wins over the application's (EMR-003, TRAP-13). For the AWS-owned
//   setting no override is produced: a job cannot opt out of an application CMK (an override without a
//   key ARN inherits the application's, UNCONFIRMED), so the application itself must be AWS-owned.

import {
  type Application,
  type ApplicationSummary,
  type ConfigurationOverrides,
  type DiskEncryptionConfiguration,
  type EMRServerlessClient,
  GetApplicationCommand,
  GetJobRunCommand,
  GetSessionCommand,
  type JobDriver,
  type JobRunState,
  ListApplicationsCommand,
  ListJobRunsCommand,
  ListSessionsCommand,
  ListTagsForResourceCommand,
  type SessionState,
  StartApplicationCommand,
  StartJobRunCommand,
  StartSessionCommand,
  StopApplicationCommand,
  TagResourceCommand,
  TerminateSessionCommand,
  UntagResourceCommand,
  UpdateApplicationCommand,
} from '@aws-sdk/client-emr-serverless';
import { emrServerlessCapabilities } from './capabilities.ts';
import type { AwsClients, AwsTarget } from './clients.ts';
import { AwsCallError, awsCall } from './errors.ts';
import { iso, items, malformed, stringMap, text } from './guards.ts';
import { forgetReads, type ListingKind, listedRead, rememberRead } from './region-listing.ts';
import {
  type ChangeBlocker,
  type ChangeResult,
  type EncryptionSetting,
  memoized,
  tagsMemoName,
  type WorkloadAdapter,
  type WorkloadId,
  type WorkloadState,
} from './workload.ts';

/** States at rest; CREATING, STARTING, STOPPING and unknown values are unsettled. */
const atRest: ReadonlySet<string> = new Set(['CREATED', 'STARTED', 'STOPPED', 'TERMINATED']);
/** Job runs that keep the application from stopping (StopApplication contract). */
const activeJobStates: JobRunState[] = [
  'SUBMITTED',
  'PENDING',
  'SCHEDULED',
  'QUEUED',
  'RUNNING',
  'CANCELLING',
];
const finishedJobStates: ReadonlySet<string> = new Set(['SUCCESS', 'FAILED', 'CANCELLED']);
const maxPages = 20;

export const sparkConfKeys = {
  keyArn: 'spark.emr-serverless.disk.encryptionKeyArn',
  context: 'spark.emr-serverless.disk.encryptionContext',
} as const;

function applicationIdOf(id: WorkloadId): string {
  if (id.service !== 'EmrServerless')
    throw new Error(`emrServerlessAdapter was given a ${id.service} workload`);
  return id.applicationId;
}

const nonEmpty = (c: Record<string, string> | undefined): c is Record<string, string> =>
  c !== undefined && Object.keys(c).length > 0;

/** The disk key as AWS describes it: a key ARN means CMK, its absence the service-owned key (EMR-008). */
export function emrEncryption(d: DiskEncryptionConfiguration | undefined): EncryptionSetting {
  const keyArn = text(d?.encryptionKeyArn);
  if (!keyArn) return { type: 'AwsOwned' };
  const context = stringMap(d?.encryptionContext);
  return { type: 'CustomerManaged', keyArn, ...(nonEmpty(context) ? { encryptionContext: context } : {}) };
}

/** The member UpdateApplication/StartJobRun take; `{}` for AWS-owned is deliberate (it clears). */
function diskEncryption(setting: EncryptionSetting): DiskEncryptionConfiguration {
  if (setting.type === 'AwsOwned') return {};
  return {
    encryptionKeyArn: setting.keyArn,
    ...(nonEmpty(setting.encryptionContext) ? { encryptionContext: { ...setting.encryptionContext } } : {}),
  };
}

const sortedEntries = (c: Record<string, string> | undefined) =>
  Object.entries(c ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

const sameSetting = (a: EncryptionSetting, b: EncryptionSetting) =>
  a.type === 'AwsOwned'
    ? b.type === 'AwsOwned'
    : b.type === 'CustomerManaged' &&
      a.keyArn === b.keyArn &&
      JSON.stringify(sortedEntries(a.encryptionContext)) ===
        JSON.stringify(sortedEntries(b.encryptionContext));

/** Why UpdateApplication may not be called in `state` (EMR-010); undefined in CREATED and STOPPED. */
function emrBlocker(state: string, activeJobRunIds: string[]): ChangeBlocker | undefined {
  if (state === 'CREATED' || state === 'STOPPED') return undefined;
  if (state === 'STARTED') return { kind: 'ApplicationRunning', activeJobRunIds };
  if (state === 'TERMINATED') return { kind: 'Terminated' };
  return { kind: 'Transitioning' };
}

/** Pure: WorkloadState from GetApplication, the tags and the ids of the active job runs. */
export function emrState(
  app: Application,
  tags: Record<string, string>,
  activeJobRunIds: string[],
): WorkloadState {
  const state: string = text(app.state) ?? 'Unknown';
  const blocker = emrBlocker(state, activeJobRunIds);
  const releaseLabel = text(app.releaseLabel);
  const stateDetails = text(app.stateDetails);
  const updatedAt = iso(app.updatedAt);
  return {
    resourceArn: text(app.arn) ?? '',
    awsState: state,
    settled: atRest.has(state),
    encryption: emrEncryption(app.diskEncryptionConfiguration),
    ...(blocker ? { blocker } : {}),
    running: state === 'STARTED',
    tags,
    facts: {
      service: 'EmrServerless',
      activeJobs: activeJobRunIds.length,
      ...(releaseLabel ? { releaseLabel } : {}),
      ...(stateDetails ? { stateDetails } : {}),
      ...(updatedAt ? { updatedAt } : {}),
    },
  };
}

async function getApplication(
  client: EMRServerlessClient,
  applicationId: string,
): Promise<Application | undefined> {
  try {
    const out = await awsCall('GetApplication', () =>
      client.send(new GetApplicationCommand({ applicationId })),
    );
    if (!text(out.application?.arn))
      throw malformed('GetApplication', `no application/arn for ${applicationId}`);
    return out.application!;
  } catch (e) {
    if (e instanceof AwsCallError && e.failure.cause === 'NotFound') return undefined;
    throw e;
  }
}

/**
 * The version a listing or a read shows (EMR-014): when the application was last updated, and its
 * state. A remembered read serves a listing with the same.
 */
const versionOf = (updatedAt: Date | undefined, state: unknown) =>
  `${iso(updatedAt) ?? ''}/${String(state ?? '')}`;

/** The Region's listing of applications (ListApplications, 50 a call), for light looks (EMR-014). */
function emrListing(client: EMRServerlessClient): ListingKind<ApplicationSummary> {
  return {
    name: 'emr-listing',
    async page(token) {
      const out = await awsCall('ListApplications', () =>
        client.send(new ListApplicationsCommand({ maxResults: 50, ...(token ? { nextToken: token } : {}) })),
      );
      const next = text(out.nextToken);
      return { entries: items(out.applications), ...(next ? { next } : {}) };
    },
    entry(summary) {
      const id = text(summary.id);
      const arn = text(summary.arn);
      if (!id || !arn || !iso(summary.updatedAt) || !text(summary.state)) return undefined;
      return [id, { arn, version: versionOf(summary.updatedAt, summary.state) }];
    },
  };
}

/** The fields of a read that emrState and the listing use: what a light look keeps of it. */
function kept(app: Application): Application {
  return {
    arn: app.arn,
    state: app.state,
    updatedAt: app.updatedAt,
    ...(app.stateDetails !== undefined ? { stateDetails: app.stateDetails } : {}),
    ...(app.releaseLabel !== undefined ? { releaseLabel: app.releaseLabel } : {}),
    ...(app.diskEncryptionConfiguration !== undefined
      ? { diskEncryptionConfiguration: app.diskEncryptionConfiguration }
      : {}),
    ...(app.tags !== undefined ? { tags: app.tags } : {}),
  } as Application;
}

async function listTags(client: EMRServerlessClient, resourceArn: string): Promise<Record<string, string>> {
  const out = await awsCall('ListTagsForResource', () =>
    client.send(new ListTagsForResourceCommand({ resourceArn })),
  );
  return stringMap(out.tags);
}

/** IDs of the application's job runs that are not finished (for StopAndUpdate's wait or cancel). */
async function activeJobRunIds(client: EMRServerlessClient, applicationId: string): Promise<string[]> {
  const ids: string[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const out = await awsCall('ListJobRuns', () =>
      client.send(
        new ListJobRunsCommand({
          applicationId,
          states: activeJobStates,
          maxResults: 50,
          ...(nextToken ? { nextToken } : {}),
        }),
      ),
    );
    for (const run of items(out.jobRuns)) {
      const id = text(run.id);
      if (id) ids.push(id);
    }
    nextToken = text(out.nextToken);
    if (!nextToken) break;
  }
  return ids;
}

function lifecycle(action: string, requestId: string | undefined): ChangeResult {
  // Asynchronous and without an AWS id: the core follows the state through observe().
  return { operation: { action, status: 'InProgress' }, ...(requestId ? { requestId } : {}) };
}

export const emrServerlessAdapter: WorkloadAdapter = {
  service: 'EmrServerless',
  capabilities: emrServerlessCapabilities,

  async observe(clients, target, id, options) {
    const client = clients.emrServerless(target);
    const applicationId = applicationIdOf(id);
    const light = options?.memo !== undefined && !options.forActing;
    const listed =
      light && options?.shareListing && options.memo
        ? await listedRead<Application>(emrListing(client), target, applicationId, {
            ...options,
            memo: options.memo,
          })
        : undefined;
    let app: Application;
    if (listed) app = listed.read;
    else {
      const read = await getApplication(client, applicationId);
      if (!read) {
        forgetReads(options?.memo, target, `/applications/${applicationId}`);
        return undefined;
      }
      app = read;
      if (options?.memo && iso(app.updatedAt))
        rememberRead(options.memo, app.arn!, versionOf(app.updatedAt, app.state), kept(app));
    }
    const readAt = listed ? { readAt: listed.at } : {};
    if (app.state === 'TERMINATED') return { ...emrState(app, {}, []), ...readAt };
    const arn = app.arn!;
    // GetApplication carries the tags; ListTagsForResource only when it left them out.
    const tags =
      app.tags !== null && typeof app.tags === 'object'
        ? Promise.resolve(stringMap(app.tags))
        : memoized(options, tagsMemoName(arn), () => listTags(client, arn));
    // Active job runs matter only for stopping the application to change its key: a light
    // observation leaves them out (an application that is not started has none).
    const activeJobs =
      light || app.state === 'CREATED' || app.state === 'STOPPED'
        ? Promise.resolve<string[]>([])
        : activeJobRunIds(client, applicationId);
    // Both awaited together: `await tags` throwing first would leave a failing activeJobs promise
    // unhandled, and an unhandled rejection ends the Node process.
    const [tagMap, jobIds] = await Promise.all([tags, activeJobs]);
    return { ...emrState(app, tagMap, jobIds), ...readAt };
  },

  async changeKey(clients, target, id, desired) {
    const applicationId = applicationIdOf(id);
    const out = await awsCall('UpdateApplication', () =>
      clients.emrServerless(target).send(
        new UpdateApplicationCommand({
          applicationId,
          diskEncryptionConfiguration: diskEncryption(desired),
        }),
      ),
    );
    const requestId = out.$metadata.requestId;
    const applied = out.application ? emrEncryption(out.application.diskEncryptionConfiguration) : undefined;
    const operation =
      applied && !sameSetting(applied, desired)
        ? {
            action: 'UpdateApplication',
            status: 'Failed' as const,
            message: `AWS reports ${applied.type === 'CustomerManaged' ? applied.keyArn : 'the AWS owned key'} after the update.`,
          }
        : { action: 'UpdateApplication', status: 'Succeeded' as const };
    return { operation, ...(requestId ? { requestId } : {}) };
  },

  async stop(clients, target, id) {
    const applicationId = applicationIdOf(id);
    const out = await awsCall('StopApplication', () =>
      clients.emrServerless(target).send(new StopApplicationCommand({ applicationId })),
    );
    return lifecycle('StopApplication', out.$metadata.requestId);
  },

  async start(clients, target, id) {
    const applicationId = applicationIdOf(id);
    const out = await awsCall('StartApplication', () =>
      clients.emrServerless(target).send(new StartApplicationCommand({ applicationId })),
    );
    return lifecycle('StartApplication', out.$metadata.requestId);
  },

  async tag(clients, target, resourceArn, tags) {
    if (Object.keys(tags).length === 0) return;
    await awsCall('TagResource', () =>
      clients.emrServerless(target).send(new TagResourceCommand({ resourceArn, tags: { ...tags } })),
    );
  },

  async untag(clients, target, resourceArn, keys) {
    if (keys.length === 0) return;
    await awsCall('UntagResource', () =>
      clients.emrServerless(target).send(new UntagResourceCommand({ resourceArn, tagKeys: keys })),
    );
  },

  encryptionContext(id, state: Pick<WorkloadState, 'resourceArn'> & { encryption?: EncryptionSetting }) {
    const custom =
      state.encryption?.type === 'CustomerManaged' ? state.encryption.encryptionContext : undefined;
    return { applicationId: applicationIdOf(id), ...(custom ?? {}) };
  },
};

// ---- Job runs -------------------------------------------------------------------------------------

export interface JobOverrides {
  /** StartJobRun `configurationOverrides`; empty for the AWS-owned setting (see the module comment). */
  configurationOverrides: ConfigurationOverrides;
  /** Livy / Spark conf keys (EMR-008); empty for the AWS-owned setting. */
  sparkConf: Record<string, string>;
}

/**
 * The job-level encryption for `setting`. Pure. Throws an AwsCallError with cause InvalidSpec when the
 * encryption context cannot be written as Spark conf `k1:v1,k2:v2` (a key or value holding `,` or
 * `:`): there is no escaping, and a silently altered context would make KMS deny the job.
 */
export function jobOverrides(setting: EncryptionSetting): JobOverrides {
  if (setting.type === 'AwsOwned') return { configurationOverrides: {}, sparkConf: {} };
  const sparkConf: Record<string, string> = { [sparkConfKeys.keyArn]: setting.keyArn };
  const context = sortedEntries(setting.encryptionContext);
  if (context.length > 0) {
    const bad = context.find(([k, v]) => /[,:]/.test(k) || /[,:]/.test(v));
    if (bad) {
      throw new AwsCallError('jobOverrides', {
        cause: 'InvalidSpec',
        code: 'UnrepresentableEncryptionContext',
        message: `encryption context pair ${JSON.stringify(bad[0])} contains ',' or ':', which Spark conf cannot carry`,
      });
    }
    sparkConf[sparkConfKeys.context] = context.map(([k, v]) => `${k}:${v}`).join(',');
  }
  return { configurationOverrides: { diskEncryptionConfiguration: diskEncryption(setting) }, sparkConf };
}

export interface JobRunRequest {
  applicationId: string;
  executionRoleArn: string;
  jobDriver: JobDriver;
  name?: string;
  /** Idempotency token: the same token and request return the same job run. */
  clientToken: string;
  setting: EncryptionSetting;
}

export interface SubmittedJobRun {
  applicationId: string;
  jobRunId: string;
  arn: string;
  requestId?: string;
}

/** Submits a job run carrying the job-level encryption for `setting`. */
export async function startJobRun(
  clients: AwsClients,
  target: AwsTarget,
  request: JobRunRequest,
): Promise<SubmittedJobRun> {
  const { configurationOverrides } = jobOverrides(request.setting);
  const out = await awsCall('StartJobRun', () =>
    clients.emrServerless(target).send(
      new StartJobRunCommand({
        applicationId: request.applicationId,
        executionRoleArn: request.executionRoleArn,
        jobDriver: request.jobDriver,
        clientToken: request.clientToken,
        ...(request.name ? { name: request.name } : {}),
        ...(configurationOverrides.diskEncryptionConfiguration ? { configurationOverrides } : {}),
      }),
    ),
  );
  if (!out.jobRunId) throw malformed('StartJobRun', `no jobRunId for application ${request.applicationId}`);
  return {
    applicationId: out.applicationId ?? request.applicationId,
    jobRunId: out.jobRunId,
    arn: out.arn ?? '',
    ...(out.$metadata.requestId ? { requestId: out.$metadata.requestId } : {}),
  };
}

export interface JobRunView {
  jobRunId: string;
  arn: string;
  /** As AWS reports it (SUBMITTED ... SUCCESS, FAILED, CANCELLED). */
  state: string;
  stateDetails?: string;
  /** True only for SUCCESS, FAILED and CANCELLED; unknown states count as not finished. */
  finished: boolean;
  /**
   * The job's own disk-encryption override; undefined when it has none and inherits the
   * application's. GetJobRun returns the overrides as submitted, not the inherited configuration.
   */
  override?: EncryptionSetting;
}

/** Reads a job run; undefined when it does not exist. */
export async function getJobRun(
  clients: AwsClients,
  target: AwsTarget,
  ids: { applicationId: string; jobRunId: string },
): Promise<JobRunView | undefined> {
  try {
    const out = await awsCall('GetJobRun', () =>
      clients.emrServerless(target).send(new GetJobRunCommand(ids)),
    );
    const run = out.jobRun;
    if (!run || typeof run !== 'object') throw malformed('GetJobRun', `no jobRun for ${ids.jobRunId}`);
    const state: string = text(run.state) ?? 'Unknown';
    const stateDetails = text(run.stateDetails);
    const disk = run.configurationOverrides?.diskEncryptionConfiguration;
    return {
      jobRunId: text(run.jobRunId) || ids.jobRunId,
      arn: text(run.arn) ?? '',
      state,
      ...(stateDetails ? { stateDetails } : {}),
      finished: finishedJobStates.has(state),
      ...(text(disk?.encryptionKeyArn) ? { override: emrEncryption(disk) } : {}),
    };
  } catch (e) {
    if (e instanceof AwsCallError && e.failure.cause === 'NotFound') return undefined;
    throw e;
  }
}

// ---- Interactive sessions (EMR-012, EMR-013) -------------------------------------------------------

/** Session states after which nothing changes any more. */
export const endedSessionStates: ReadonlySet<string> = new Set(['TERMINATED', 'FAILED']);

export interface SessionRequest {
  applicationId: string;
  executionRoleArn: string;
  name?: string;
  idleTimeoutMinutes?: number;
  /** Extra spark-defaults properties; the disk properties are the operator's own and win. */
  sparkDefaults?: Record<string, string>;
  /** Idempotency token: the same token and request return the same session. */
  clientToken: string;
  setting: EncryptionSetting;
}

/**
 * The runtime configuration StartSession carries for `setting`: one spark-defaults classification with
 * the disk properties (EMR-008, EMR-013) over the extra properties; none when there is nothing to send.
 * Pure. Throws like jobOverrides for a context Spark conf cannot carry.
 */
export function sessionRuntimeConfiguration(
  setting: EncryptionSetting,
  sparkDefaults: Record<string, string> = {},
): Array<{ classification: string; properties: Record<string, string> }> {
  const properties = { ...sparkDefaults, ...jobOverrides(setting).sparkConf };
  return Object.keys(properties).length > 0 ? [{ classification: 'spark-defaults', properties }] : [];
}

export interface StartedSession {
  applicationId: string;
  sessionId: string;
  arn: string;
  requestId?: string;
}

/** Starts an interactive session whose disks use `setting`. */
export async function startSession(
  clients: AwsClients,
  target: AwsTarget,
  request: SessionRequest,
): Promise<StartedSession> {
  const runtimeConfiguration = sessionRuntimeConfiguration(request.setting, request.sparkDefaults);
  const out = await awsCall('StartSession', () =>
    clients.emrServerless(target).send(
      new StartSessionCommand({
        applicationId: request.applicationId,
        executionRoleArn: request.executionRoleArn,
        clientToken: request.clientToken,
        ...(request.name ? { name: request.name } : {}),
        ...(request.idleTimeoutMinutes !== undefined
          ? { idleTimeoutMinutes: request.idleTimeoutMinutes }
          : {}),
        ...(runtimeConfiguration.length > 0 ? { configurationOverrides: { runtimeConfiguration } } : {}),
      }),
    ),
  );
  if (!out.sessionId)
    throw malformed('StartSession', `no sessionId for application ${request.applicationId}`);
  return {
    applicationId: out.applicationId ?? request.applicationId,
    sessionId: out.sessionId,
    arn: out.arn ?? '',
    ...(out.$metadata.requestId ? { requestId: out.$metadata.requestId } : {}),
  };
}

export interface SessionView {
  sessionId: string;
  arn: string;
  /** As AWS reports it (SUBMITTED ... TERMINATED, FAILED). */
  state: string;
  stateDetails?: string;
  /** True only for TERMINATED and FAILED; unknown states count as live. */
  ended: boolean;
  /** The disk key the session asked for in its spark-defaults, as submitted; undefined when none. */
  requestedKeyArn?: string;
}

/** Reads a session; undefined when it does not exist. */
export async function getSession(
  clients: AwsClients,
  target: AwsTarget,
  ids: { applicationId: string; sessionId: string },
): Promise<SessionView | undefined> {
  try {
    const out = await awsCall('GetSession', () =>
      clients.emrServerless(target).send(new GetSessionCommand(ids)),
    );
    const session = out.session;
    if (!session || typeof session !== 'object')
      throw malformed('GetSession', `no session for ${ids.sessionId}`);
    const state: string = text(session.state) ?? 'Unknown';
    const stateDetails = text(session.stateDetails);
    const sparkDefaults = items(session.configurationOverrides?.runtimeConfiguration).find(
      (c) => c.classification === 'spark-defaults',
    );
    const requestedKeyArn = text(stringMap(sparkDefaults?.properties)[sparkConfKeys.keyArn]);
    return {
      sessionId: text(session.sessionId) || ids.sessionId,
      arn: text(session.arn) ?? '',
      state,
      ...(stateDetails ? { stateDetails } : {}),
      ended: endedSessionStates.has(state),
      ...(requestedKeyArn ? { requestedKeyArn } : {}),
    };
  } catch (e) {
    if (e instanceof AwsCallError && e.failure.cause === 'NotFound') return undefined;
    throw e;
  }
}

export interface TerminatedSession {
  outcome: 'Terminating' | 'NotFound';
  requestId?: string;
}

/** Asks AWS to terminate a session (TERMINATING, then TERMINATED); a missing session is reported, not thrown. */
export async function terminateSession(
  clients: AwsClients,
  target: AwsTarget,
  ids: { applicationId: string; sessionId: string },
): Promise<TerminatedSession> {
  try {
    const out = await awsCall('TerminateSession', () =>
      clients.emrServerless(target).send(new TerminateSessionCommand(ids)),
    );
    return {
      outcome: 'Terminating',
      ...(out.$metadata.requestId ? { requestId: out.$metadata.requestId } : {}),
    };
  } catch (e) {
    if (e instanceof AwsCallError && e.failure.cause === 'NotFound') return { outcome: 'NotFound' };
    throw e;
  }
}

export interface SessionSummaryView {
  sessionId: string;
  name?: string;
  state: string;
}

/** The application's sessions, newest first, optionally only in `states` (at most 20 pages of 50). */
export async function listSessions(
  clients: AwsClients,
  target: AwsTarget,
  request: { applicationId: string; states?: SessionState[] },
): Promise<SessionSummaryView[]> {
  const out: SessionSummaryView[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const res = await awsCall('ListSessions', () =>
      clients.emrServerless(target).send(
        new ListSessionsCommand({
          applicationId: request.applicationId,
          maxResults: 50,
          ...(request.states ? { states: request.states } : {}),
          ...(nextToken ? { nextToken } : {}),
        }),
      ),
    );
    for (const s of items(res.sessions)) {
      const sessionId = text(s.sessionId);
      if (!sessionId) continue;
      const name = text(s.name);
      out.push({ sessionId, state: text(s.state) ?? 'Unknown', ...(name ? { name } : {}) });
    }
    const next = text(res.nextToken);
    if (!next || next === nextToken) break;
    nextToken = next;
  }
  return out;
}
