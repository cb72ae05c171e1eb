// EMR Serverless request handlers and their routes (restJson1, as in the SDK's schemas): validate the
// input, apply the rules, change the store and start transitions through the lifecycle.

import type { CallContext, JsonObject, RestRequest, RestRoute } from '../../core/service.ts';
import type { EmrLifecycle } from './lifecycle.ts';
import {
  activeJobStates,
  appNamePattern,
  appStates,
  conflict,
  decodeToken,
  effectiveDisk,
  encodeToken,
  jobStates,
  liveSessionStates,
  maxTags,
  notFound,
  parseAutoStop,
  parseDisk,
  parseTags,
  passthroughMembers,
  queryInt,
  queryStates,
  queryTime,
  roleArnPattern,
  sessionDisk,
  sessionPrecondition,
  sessionStates,
  stateProblem,
  v,
  validateJobDriver,
  validateReleaseLabel,
  validation,
} from './rules.ts';
import {
  type Application,
  type AppState,
  applicationArn,
  type EmrStore,
  type JobRun,
  type Session,
} from './state.ts';
import {
  describeApp,
  describeJob,
  describeSession,
  summarizeApp,
  summarizeJob,
  summarizeSession,
} from './views.ts';

function requireState(app: Application, allowed: readonly AppState[]): void {
  const problem = stateProblem(app, allowed);
  if (problem) throw validation(problem);
}

/** A request's idempotency fingerprint: every member but the client token. */
function fingerprintOf(body: JsonObject): string {
  const { clientToken: _ignored, ...rest } = body;
  return JSON.stringify(rest);
}

/** The previous result for a replayed client token; ConflictException when the parameters differ. */
function replayed<T extends { fingerprint: string }>(
  tokens: Map<string, T>,
  clientToken: string | undefined,
  fingerprint: string,
): T | undefined {
  if (clientToken === undefined) return undefined;
  const previous = tokens.get(clientToken);
  if (previous && previous.fingerprint !== fingerprint)
    throw conflict(`clientToken ${clientToken} was already used with different parameters`);
  return previous;
}

export function emrRoutes(store: EmrStore, life: EmrLifecycle): RestRoute[] {
  function createApplication(ctx: CallContext, { body }: RestRequest) {
    const releaseLabel = v.str(body, 'releaseLabel', { min: 1, max: 64 });
    validateReleaseLabel(releaseLabel);
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

    const scope = store.scopeOf(ctx.accountId, ctx.region);
    const fingerprint = fingerprintOf(body);
    const previous = replayed(scope.clientTokens, clientToken, fingerprint);
    if (previous) return { applicationId: previous.app.id, name: previous.app.name, arn: previous.app.arn };

    const id = store.newId();
    if (disk) life.usableKey(ctx, { id, arn: applicationArn(ctx.region, ctx.accountId, id) }, disk);
    const config: JsonObject = {};
    for (const m of passthroughMembers) if (body[m] !== undefined && body[m] !== null) config[m] = body[m];
    if (architecture) config['architecture'] = architecture;
    const app = store.newApplication(scope, ctx.now, {
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
    life.scheduleCreated(app, ctx.now);
    return { applicationId: app.id, ...(app.name !== undefined ? { name: app.name } : {}), arn: app.arn };
  }

  function updateApplication(ctx: CallContext, { params, body }: RestRequest) {
    const app = store.appFor(ctx, params['applicationId']!);
    requireState(app, ['CREATED', 'STOPPED']);
    const releaseLabel = v.optStr(body, 'releaseLabel', { min: 1, max: 64 });
    if (releaseLabel !== undefined) validateReleaseLabel(releaseLabel);
    const disk = parseDisk(body);
    const autoStartRaw = v.optObject(body, 'autoStartConfiguration');
    const autoStopRaw = v.optObject(body, 'autoStopConfiguration');
    const architecture = v.optEnum(body, 'architecture', ['ARM64', 'X86_64'] as const);
    if (disk) life.usableKey(ctx, app, disk);

    // PATCH semantics: absent members stay as they are (EMR-004: `{}` clears the key).
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
    const list = store.scopeOf(ctx.accountId, ctx.region).apps;
    const out: JsonObject[] = [];
    let i = start;
    for (; i < list.length && out.length < max; i++) if (matches(list[i]!)) out.push(summarizeApp(list[i]!));
    while (i < list.length && !matches(list[i]!)) i++;
    return { applications: out, ...(i < list.length ? { nextToken: encodeToken(i) } : {}) };
  }

  function deleteApplication(ctx: CallContext, { params }: RestRequest) {
    const app = store.appFor(ctx, params['applicationId']!);
    requireState(app, ['CREATED', 'STOPPED']);
    app.idle?.cancel();
    app.transition?.cancel();
    life.setAppState(app, 'TERMINATED', ctx.now);
    return {};
  }

  function startApplication(ctx: CallContext, { params }: RestRequest) {
    const app = store.appFor(ctx, params['applicationId']!);
    if (app.state === 'STARTING' || app.state === 'STARTED') return {};
    requireState(app, ['CREATED', 'STOPPED']);
    life.startApp(app, ctx.now);
    return {};
  }

  function stopApplication(ctx: CallContext, { params }: RestRequest) {
    const app = store.appFor(ctx, params['applicationId']!);
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
    if (app.liveSessions > 0) {
      const live = app.sessionOrder
        .filter((x) => liveSessionStates.has(x.state))
        .map((x) => `${x.id} (${x.state})`);
      throw validation(
        `Application ${app.id} cannot be stopped while sessions are active: ${live.join(', ')}. Terminate them first`,
      );
    }
    life.stopApp(app, ctx.now);
    return {};
  }

  function startJobRun(ctx: CallContext, { params, body }: RestRequest) {
    const app = store.appFor(ctx, params['applicationId']!);
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

    const fingerprint = fingerprintOf(body);
    const previous = replayed(app.jobTokens, clientToken, fingerprint);
    if (previous) return { applicationId: app.id, jobRunId: previous.job.id, arn: previous.job.arn };

    if (app.state === 'TERMINATED' || app.state === 'CREATING' || app.state === 'STOPPING')
      throw validation(`Application ${app.id} is ${app.state} and cannot accept job runs`);
    const needsStart = app.state === 'CREATED' || app.state === 'STOPPED';
    if (needsStart && !app.autoStart)
      throw validation(
        `Application ${app.id} is ${app.state} and auto-start is disabled; start the application before submitting job runs`,
      );
    // EMR-003: a job-level key wins; without one the job inherits the application's.
    const effective = effectiveDisk(overrideDisk, app.disk);
    if (effective) life.usableKey(ctx, app, effective);

    const id = store.newId();
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
    store.indexJobKey(job);
    if (needsStart) life.startApp(app, ctx.now);
    life.submitJob(job, ctx.now);
    return { applicationId: app.id, jobRunId: id, arn: job.arn };
  }

  function getJobRun(ctx: CallContext, { params, query }: RestRequest) {
    const job = store.jobFor(ctx, params);
    const attempt = queryInt(query, 'attempt', 1, 1_000_000);
    if (attempt !== undefined && attempt !== 1)
      throw notFound(`Attempt ${attempt} of job run ${job.id} does not exist`);
    return { jobRun: describeJob(job, ctx.now) };
  }

  function listJobRuns(ctx: CallContext, { params, query }: RestRequest) {
    const app = store.appFor(ctx, params['applicationId']!);
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
    const job = store.jobFor(ctx, params);
    queryInt(query, 'shutdownGracePeriodInSeconds', 0, 1_000_000);
    if (job.state === 'CANCELLING') return { applicationId: job.app.id, jobRunId: job.id };
    if (!activeJobStates.has(job.state))
      throw validation(`Job run ${job.id} is already in a terminal state: ${job.state}`);
    life.cancelJob(job, ctx.now);
    return { applicationId: job.app.id, jobRunId: job.id };
  }

  // ---- Interactive sessions (EMR-012, EMR-013) -----------------------------------------------------

  function startSession(ctx: CallContext, { params, body }: RestRequest) {
    const app = store.appFor(ctx, params['applicationId']!);
    const executionRoleArn = v.str(body, 'executionRoleArn', { min: 20, max: 2048 });
    if (!roleArnPattern.test(executionRoleArn))
      throw validation(`Invalid executionRoleArn ${executionRoleArn}: expected an IAM role ARN`);
    const clientToken = v.optStr(body, 'clientToken', { min: 1, max: 64 });
    const name = v.optStr(body, 'name', { min: 1, max: 256 });
    const overrides = v.optObject(body, 'configurationOverrides');
    if (overrides) {
      const other = Object.keys(overrides).filter((k) => k !== 'runtimeConfiguration');
      if (other.length > 0)
        throw validation(
          `Unsupported configurationOverrides member ${other[0]}: only runtime configuration overrides are supported for sessions`,
        );
    }
    const disk = sessionDisk(overrides);
    const tags = parseTags(body, 'tags') ?? {};
    const idleTimeoutMinutes = v.optInt(body, 'idleTimeoutMinutes', { min: 1, max: 10_080 }) ?? 60;

    const fingerprint = fingerprintOf(body);
    const previous = replayed(app.sessionTokens, clientToken, fingerprint);
    if (previous) return { applicationId: app.id, sessionId: previous.session.id, arn: previous.session.arn };

    if (app.state === 'TERMINATED' || app.state === 'CREATING' || app.state === 'STOPPING')
      throw validation(`Application ${app.id} is ${app.state} and cannot start sessions`);
    const problem = sessionPrecondition(app);
    if (problem) throw validation(problem);
    const needsStart = app.state === 'CREATED' || app.state === 'STOPPED';
    if (needsStart && !app.autoStart)
      throw validation(
        `Application ${app.id} is ${app.state} and auto-start is disabled; start the application before starting sessions`,
      );
    // EMR-013: the spark-defaults disk key; without one the session inherits the application's.
    const effective = effectiveDisk(disk, app.disk);
    if (effective) life.usableKey(ctx, app, effective);

    const id = store.newId();
    const session: Session = {
      app,
      id,
      arn: `${app.arn}/sessions/${id}`,
      ...(name !== undefined ? { name } : {}),
      createdBy: ctx.caller.arn,
      createdAt: ctx.now,
      updatedAt: ctx.now,
      executionRoleArn,
      state: 'SUBMITTED',
      stateDetails: '',
      releaseLabel: app.releaseLabel,
      ...(overrides ? { configurationOverrides: structuredClone(overrides) } : {}),
      idleTimeoutMinutes,
      tags,
      ...(effective ? { keyArn: effective.encryptionKeyArn } : {}),
    };
    app.sessions.set(id, session);
    app.sessionOrder.push(session);
    if (clientToken !== undefined) app.sessionTokens.set(clientToken, { fingerprint, session });
    app.liveSessions++;
    app.idle?.cancel();
    app.idle = undefined;
    store.indexSessionKey(session);
    if (needsStart) life.startApp(app, ctx.now);
    life.startSession(session, ctx.now);
    return { applicationId: app.id, sessionId: id, arn: session.arn };
  }

  function listSessions(ctx: CallContext, { params, query }: RestRequest) {
    const app = store.appFor(ctx, params['applicationId']!);
    const max = queryInt(query, 'maxResults', 1, 50) ?? 50;
    const token = decodeToken(query.get('nextToken'));
    const states = queryStates(query, sessionStates);
    const after = queryTime(query, 'createdAtAfter');
    const before = queryTime(query, 'createdAtBefore');
    const matches = (x: Session) =>
      (!states || states.has(x.state)) &&
      (after === undefined || x.createdAt >= after) &&
      (before === undefined || x.createdAt <= before);
    // Newest first; the token is the index (in creation order) to continue from, as for job runs.
    const list = app.sessionOrder;
    const out: JsonObject[] = [];
    let i = token ?? list.length - 1;
    for (; i >= 0 && out.length < max; i--) if (matches(list[i]!)) out.push(summarizeSession(list[i]!));
    while (i >= 0 && !matches(list[i]!)) i--;
    return { sessions: out, ...(i >= 0 ? { nextToken: encodeToken(i) } : {}) };
  }

  function terminateSession(ctx: CallContext, { params }: RestRequest) {
    const session = store.sessionFor(ctx, params);
    const ids = { applicationId: session.app.id, sessionId: session.id };
    if (session.state === 'TERMINATING') return ids;
    if (!liveSessionStates.has(session.state))
      throw validation(`Session ${session.id} is already in a terminal state: ${session.state}`);
    life.terminateSession(session, ctx.now);
    return ids;
  }

  function tagResource(ctx: CallContext, { params, body }: RestRequest) {
    const tags = parseTags(body, 'tags');
    if (!tags)
      v.fail(
        "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null",
      );
    const r = store.resourceFor(ctx, params['resourceArn']!);
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
    const r = store.resourceFor(ctx, params['resourceArn']!);
    const next = { ...r.tags };
    for (const k of keys) delete next[k];
    r.tags = next;
    return {};
  }

  const app = '/applications/{applicationId}';
  const jobs = `${app}/jobruns`;
  const sessions = `${app}/sessions`;
  return [
    { method: 'POST', path: '/applications', operation: 'CreateApplication', handler: createApplication },
    { method: 'GET', path: '/applications', operation: 'ListApplications', handler: listApplications },
    {
      method: 'GET',
      path: app,
      operation: 'GetApplication',
      handler: (ctx, { params }) => ({
        application: describeApp(store.appFor(ctx, params['applicationId']!)),
      }),
    },
    { method: 'PATCH', path: app, operation: 'UpdateApplication', handler: updateApplication },
    { method: 'DELETE', path: app, operation: 'DeleteApplication', handler: deleteApplication },
    { method: 'POST', path: `${app}/start`, operation: 'StartApplication', handler: startApplication },
    { method: 'POST', path: `${app}/stop`, operation: 'StopApplication', handler: stopApplication },
    { method: 'POST', path: jobs, operation: 'StartJobRun', handler: startJobRun },
    { method: 'GET', path: jobs, operation: 'ListJobRuns', handler: listJobRuns },
    { method: 'GET', path: `${jobs}/{jobRunId}`, operation: 'GetJobRun', handler: getJobRun },
    { method: 'DELETE', path: `${jobs}/{jobRunId}`, operation: 'CancelJobRun', handler: cancelJobRun },
    { method: 'POST', path: sessions, operation: 'StartSession', handler: startSession },
    { method: 'GET', path: sessions, operation: 'ListSessions', handler: listSessions },
    {
      method: 'GET',
      path: `${sessions}/{sessionId}`,
      operation: 'GetSession',
      handler: (ctx, { params }) => ({ session: describeSession(store.sessionFor(ctx, params), ctx.now) }),
    },
    {
      method: 'DELETE',
      path: `${sessions}/{sessionId}`,
      operation: 'TerminateSession',
      handler: terminateSession,
    },
    { method: 'POST', path: '/tags/{resourceArn}', operation: 'TagResource', handler: tagResource },
    { method: 'DELETE', path: '/tags/{resourceArn}', operation: 'UntagResource', handler: untagResource },
    {
      method: 'GET',
      path: '/tags/{resourceArn}',
      operation: 'ListTagsForResource',
      handler: (ctx, { params }) => ({ tags: { ...store.resourceFor(ctx, params['resourceArn']!).tags } }),
    },
  ];
}
