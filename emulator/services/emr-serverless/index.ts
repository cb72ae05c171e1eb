// The EMR Serverless emulator (restJson1, SigV4 name `emr-serverless`, routes as in the SDK's
// schemas). Contract: applications scoped by account+region walk CREATING -> CREATED -> STARTING ->
// STARTED -> STOPPING -> STOPPED -> TERMINATED on the emulator timeline (auto-start on job
// submission, auto-stop after the idle timeout); UpdateApplication only in CREATED/STOPPED; job runs
// walk SUBMITTED -> SCHEDULED -> RUNNING -> SUCCESS, CANCELLING -> CANCELLED, or FAILED when their
// disk-encryption key stops being usable. Interactive sessions (EMR-012) walk SUBMITTED -> STARTING ->
// STARTED -> IDLE and end TERMINATED (TerminateSession, idle timeout) or FAILED (their key became
// unusable); a live session keeps its application started. Key policy decisions belong to KMS
// (world.kms.serviceUseDenied).
//
//   state.ts       the data model and store (scopes, applications, job runs, sessions, key indexes)
//   rules.ts       constants, request validation and pure decisions with their rule ids
//   lifecycle.ts   the timeline transitions of applications, job runs and sessions
//   operations.ts  the request handlers and their routes
//   views.ts       response shapes
//   seed.ts        the `emr-serverless` seed section
// The key checks are the shared chain in core/key-usable.ts, worded the EMR Serverless way.
//
// Choices where AWS is UNCONFIRMED (docs/aws-behaviour.md), always the stricter reading:
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
// - StartSession (EMR-013): the disk key is the spark-defaults property
//   spark.emr-serverless.disk.encryptionKeyArn (with ...encryptionContext as k1:v1,k2:v2); without it
//   the session inherits the application's key. The effective key goes through the same chain as
//   StartJobRun's. Sessions need interactiveConfiguration.sessionEnabled and emr-7.13.0 or later.
// - TERMINATED applications stay readable with GetApplication but are listed only when the states
//   filter asks for TERMINATED.

import type { ServiceRuntime } from '../../core/service.ts';
import type { World } from '../../core/world.ts';
import { createEmrLifecycle } from './lifecycle.ts';
import { emrRoutes } from './operations.ts';
import { seedEmr } from './seed.ts';
import { createEmrStore } from './state.ts';

export function createEmrServerlessService(world: World): ServiceRuntime {
  const store = createEmrStore(world);
  const life = createEmrLifecycle(world, store);
  return {
    name: 'emr-serverless',
    protocol: 'restJson1',
    routes: emrRoutes(store, life),
    seed: (section) => seedEmr(world, store, life, section),
    snapshot() {
      const byState: Record<string, number> = {};
      let jobs = 0;
      let sessions = 0;
      for (const app of store.apps.values()) {
        byState[app.state] = (byState[app.state] ?? 0) + 1;
        jobs += app.jobOrder.length;
        sessions += app.sessionOrder.length;
      }
      return { applications: store.apps.size, byState, jobRuns: jobs, sessions };
    },
  };
}
