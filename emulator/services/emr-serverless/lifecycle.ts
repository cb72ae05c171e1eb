// EMR Serverless lifecycle on the emulator timeline: application start/stop and idle auto-stop, job
// runs walking SUBMITTED -> SCHEDULED -> RUNNING -> SUCCESS/FAILED/CANCELLED, interactive sessions
// walking SUBMITTED -> STARTING -> STARTED -> IDLE -> (TERMINATING ->) TERMINATED (EMR-012), and jobs
// and sessions failing when their disk key stops being usable. Shared by the request handlers and
// the seed.

import { emrKeyVocabulary, requireKeyUsable } from '../../core/key-usable.ts';
import type { CallContext } from '../../core/service.ts';
import type { KeyView, World } from '../../core/world.ts';
import {
  activeJobStates,
  diskEncryptionContext,
  jobKeyProblem,
  keyDependentStates,
  keyFailure,
  liveSessionStates,
  minute,
  sessionKeyFailure,
  sessionKeyProblem,
} from './rules.ts';
import type {
  Application,
  AppState,
  DiskEncryption,
  EmrStore,
  JobRun,
  JobState,
  Session,
  SessionState,
} from './state.ts';

export interface EmrLifecycle {
  /** The key-usable chain worded the EMR way (EMR-002, EMR-006, EMR-011): the key, or ValidationException. */
  usableKey(ctx: CallContext, app: { id: string; arn: string }, disk: DiskEncryption): KeyView;
  setAppState(app: Application, state: AppState, at: number, details?: string): void;
  /** EMR-010: a new application is CREATED once its CREATING transition ends. */
  scheduleCreated(app: Application, at: number): void;
  startApp(app: Application, at: number): void;
  stopApp(app: Application, at: number, details?: string): void;
  /** Auto-stop: a STARTED application with no jobs stops after its idle timeout. */
  armIdle(app: Application, at: number): void;
  submitJob(job: JobRun, at: number): void;
  cancelJob(job: JobRun, at: number): void;
  /** EMR-012: a new session walks SUBMITTED -> STARTING -> STARTED -> IDLE once its application runs. */
  startSession(session: Session, at: number): void;
  terminateSession(session: Session, at: number): void;
}

export function createEmrLifecycle(world: World, store: EmrStore): EmrLifecycle {
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
    store.unindexJobKey(job);
    job.app.waiting.delete(job);
    job.app.activeJobs--;
    life.armIdle(job.app, at);
  }

  function runJob(job: JobRun, at: number): void {
    job.app.waiting.delete(job);
    if (job.state !== 'SCHEDULED') return;
    const problem = jobKeyProblem(
      job.keyArn,
      job.keyArn ? world.kms.findKey(job.keyArn, job.app.scope.region, job.app.scope.accountId) : undefined,
    );
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

  function setSessionState(session: Session, state: SessionState, at: number, details = ''): void {
    session.state = state;
    session.stateDetails = details;
    session.updatedAt = at;
  }

  function endSession(session: Session, state: 'TERMINATED' | 'FAILED', at: number, details: string): void {
    if (!liveSessionStates.has(session.state)) return;
    session.event?.cancel();
    session.event = undefined;
    setSessionState(session, state, at, details);
    session.endedAt = at;
    session.idleSince = undefined;
    store.unindexSessionKey(session);
    session.app.waitingSessions.delete(session);
    session.app.liveSessions--;
    life.armIdle(session.app, at);
  }

  /** STARTING, its application STARTED: the session starts (its key must still serve data), then idles. */
  function runSession(session: Session, at: number): void {
    session.app.waitingSessions.delete(session);
    if (session.state !== 'STARTING') return;
    const { region, accountId } = session.app.scope;
    const problem = sessionKeyProblem(
      session.keyArn,
      session.keyArn ? world.kms.findKey(session.keyArn, region, accountId) : undefined,
    );
    if (problem) {
      endSession(session, 'FAILED', at, problem);
      return;
    }
    setSessionState(session, 'STARTED', at);
    session.startedAt = at;
    const idleAt = at + world.transitionMs('emr-serverless.SESSION_STARTED');
    session.event = world.timeline.schedule(idleAt, `emr-serverless session ${session.id} IDLE`, () => {
      session.event = undefined;
      if (session.state !== 'STARTED') return;
      setSessionState(session, 'IDLE', idleAt);
      session.idleSince = idleAt;
      const timeoutAt = idleAt + session.idleTimeoutMinutes * minute;
      session.event = world.timeline.schedule(
        timeoutAt,
        `emr-serverless session ${session.id} idle timeout`,
        () => {
          session.event = undefined;
          endSession(
            session,
            'TERMINATED',
            timeoutAt,
            `Session terminated after ${session.idleTimeoutMinutes} idle minutes (idleTimeoutMinutes)`,
          );
        },
      );
    });
  }

  const life: EmrLifecycle = {
    usableKey(ctx, app, disk) {
      return requireKeyUsable(world.kms, emrKeyVocabulary, {
        service: 'emr-serverless',
        ref: disk.encryptionKeyArn,
        region: ctx.region,
        accountId: ctx.accountId,
        caller: ctx.caller,
        sourceArn: app.arn,
        encryptionContext: diskEncryptionContext(app.id, disk),
      });
    },

    setAppState(app, state, at, details) {
      app.state = state;
      app.updatedAt = at;
      app.stateDetails = details;
    },

    scheduleCreated(app, at) {
      const done = at + world.transitionMs('emr-serverless.CREATING');
      app.transition = world.timeline.schedule(done, `emr-serverless ${app.id} CREATED`, () => {
        app.transition = undefined;
        if (app.state === 'CREATING') life.setAppState(app, 'CREATED', done);
      });
    },

    startApp(app, at) {
      app.idle?.cancel();
      app.transition?.cancel();
      life.setAppState(app, 'STARTING', at);
      const done = at + world.transitionMs('emr-serverless.STARTING');
      app.transition = world.timeline.schedule(done, `emr-serverless ${app.id} STARTED`, () => {
        app.transition = undefined;
        if (app.state !== 'STARTING') return;
        life.setAppState(app, 'STARTED', done);
        for (const job of [...app.waiting]) runJob(job, done);
        for (const session of [...app.waitingSessions]) runSession(session, done);
        life.armIdle(app, done);
      });
    },

    stopApp(app, at, details) {
      app.idle?.cancel();
      app.transition?.cancel();
      life.setAppState(app, 'STOPPING', at, details);
      const done = at + world.transitionMs('emr-serverless.STOPPING');
      app.transition = world.timeline.schedule(done, `emr-serverless ${app.id} STOPPED`, () => {
        app.transition = undefined;
        if (app.state === 'STOPPING') life.setAppState(app, 'STOPPED', done, details);
      });
    },

    armIdle(app, at) {
      app.idle?.cancel();
      app.idle = undefined;
      const busy = app.activeJobs + app.liveSessions > 0;
      if (!app.autoStop.enabled || app.state !== 'STARTED' || busy) return;
      const due = at + app.autoStop.idleTimeoutMinutes * minute;
      app.idle = world.timeline.schedule(due, `emr-serverless ${app.id} idle auto-stop`, () => {
        app.idle = undefined;
        if (app.state === 'STARTED' && app.activeJobs + app.liveSessions === 0)
          life.stopApp(
            app,
            due,
            `Application auto-stopped after ${app.autoStop.idleTimeoutMinutes} idle minutes`,
          );
      });
    },

    submitJob(job, at) {
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
    },

    cancelJob(job, at) {
      job.event?.cancel();
      job.event = undefined;
      job.app.waiting.delete(job);
      store.unindexJobKey(job);
      setJobState(job, 'CANCELLING', at);
      const done = at + world.transitionMs('emr-serverless.JOB_CANCELLING');
      job.event = world.timeline.schedule(done, `emr-serverless job ${job.id} CANCELLED`, () => {
        job.event = undefined;
        finishJob(job, 'CANCELLED', done, 'Job run cancelled by user');
      });
    },

    startSession(session, at) {
      const startingAt = at + world.transitionMs('emr-serverless.SESSION_SUBMITTED');
      session.event = world.timeline.schedule(
        startingAt,
        `emr-serverless session ${session.id} STARTING`,
        () => {
          session.event = undefined;
          if (session.state !== 'SUBMITTED') return;
          setSessionState(session, 'STARTING', startingAt);
          const readyAt = startingAt + world.transitionMs('emr-serverless.SESSION_STARTING');
          session.event = world.timeline.schedule(
            readyAt,
            `emr-serverless session ${session.id} ready to start`,
            () => {
              session.event = undefined;
              if (session.state !== 'STARTING') return;
              if (session.app.state === 'STARTED') runSession(session, readyAt);
              else session.app.waitingSessions.add(session);
            },
          );
        },
      );
    },

    terminateSession(session, at) {
      session.event?.cancel();
      session.event = undefined;
      session.app.waitingSessions.delete(session);
      setSessionState(session, 'TERMINATING', at);
      session.idleSince = undefined;
      const done = at + world.transitionMs('emr-serverless.SESSION_TERMINATING');
      session.event = world.timeline.schedule(done, `emr-serverless session ${session.id} TERMINATED`, () => {
        session.event = undefined;
        endSession(session, 'TERMINATED', done, 'Session terminated by user');
      });
    },
  };

  // A job whose key becomes unusable while it still needs the key ends FAILED at once.
  world.kms.onKeyChange((key, deleted) => {
    if (!deleted && key.state === 'Enabled') return;
    const jobs = store.jobsOn(key.arn);
    if (!jobs) return;
    const now = world.clock.now();
    for (const job of [...jobs]) {
      if (keyDependentStates.has(job.state))
        finishJob(job, 'FAILED', now, keyFailure(key.arn, deleted ? 'deleted' : key.state));
    }
  });
  // So does a session (EMR-013): its worker disks need the key for as long as it lives.
  world.kms.onKeyChange((key, deleted) => {
    if (!deleted && key.state === 'Enabled') return;
    const sessions = store.sessionsOn(key.arn);
    if (!sessions) return;
    const now = world.clock.now();
    for (const session of [...sessions])
      endSession(session, 'FAILED', now, sessionKeyFailure(key.arn, deleted ? 'deleted' : key.state));
  });

  return life;
}
