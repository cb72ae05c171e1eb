// The EmrServerlessSession reconciler: starts an interactive session once, on the key its manifest
// declares (its own key reference, else its application object's), follows its state and terminates
// it when the object is deleted. The decision is planSession (session-plan.ts); observation is
// session-observe.ts; this file supplies the action handlers; the generic executor
// (src/runtime/executor.ts) runs them and writes the status.
//
// Watches: EmrServerlessSessions; EmrServerlessApplications (mapped to the sessions that reference
// them); KmsKeys (directly or through the application); KeyReferenceGrants (src/reconcile/controllers.ts).
// Owns conditions: Ready, Reconciling, Stalled (kstatus), KeyUsable (pre-flight at the start) and
// SessionActive (STARTED, IDLE or BUSY).
//
// Exactly once: StartSession carries clientToken `cmk-<uid>` (the same token and request return the
// same session, EMR-012), the decision to start is taken on the object as stored in the API server
// (never the possibly stale cache), and status.sessionId is written right after the call. A crash or
// a failed status write in between leads to a second call with the same token and the same request
// (the spec is immutable, the key resolves to the same value), which returns the same session. If the
// key changed in that window AWS refuses the token (ConflictException): the object is Stalled
// (ClientTokenConflict) and nothing is started again.
//
// Never: starts while status.sessionId is set, or on a key that is unresolved or fails pre-flight
// (safety invariant 1); releases a deleted object before AWS reports its session ended; reads an ended
// session again; acts without the leader's signal. Every AWS mutation is an Event and an audit line.

import type { EmrServerlessSessionSpec } from '../api/workloads.ts';
import type { AwsClients } from '../aws/clients.ts';
import { getSession, startSession, terminateSession } from '../aws/emr-serverless.ts';
import { AwsCallError } from '../aws/errors.ts';
import type { Condition } from '../runtime/conditions.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { executor, type ReconcilerKind } from '../runtime/executor.ts';
import type { KubeClient, KubeObject, ResourceType } from '../runtime/kube.ts';
import type { SubmissionDeps } from './emr-submission.ts';
import { observeSession, type SessionObservation } from './session-observe.ts';
import {
  hasEnded,
  planSession,
  type SessionAction,
  type SessionPlan,
  type SessionStatusView,
  sessionFinalizer,
} from './session-plan.ts';
import { resync } from './types.ts';
import { keyLabel } from './workload-plan.ts';

export interface SessionObject extends KubeObject {
  spec: EmrServerlessSessionSpec;
  status?: SessionStatusView & { conditions?: Condition[]; observedGeneration?: number };
}

export interface SessionReconcilerDeps extends SubmissionDeps {
  kube: KubeClient;
  aws: AwsClients;
  events: EventRecorder;
  type: ResourceType;
  getSession(key: string): SessionObject | undefined;
  now(): number;
}

/** An ended session whose outcome is already in status: nothing to read, nothing to write. */
function settled(o: SessionObject): boolean {
  return (
    hasEnded(o.status?.state) &&
    o.status?.observedGeneration === o.metadata.generation &&
    !o.metadata.deletionTimestamp &&
    !o.metadata.finalizers?.includes(sessionFinalizer)
  );
}

export function sessionKind(
  deps: SessionReconcilerDeps,
): ReconcilerKind<SessionObject, SessionObservation, SessionAction, SessionPlan> {
  return {
    type: deps.type,
    finalizer: sessionFinalizer,
    get: deps.getSession,
    settled,
    observe: (object) => observeSession(deps, object),
    plan: (object, o) =>
      planSession({
        uid: object.metadata.uid ?? '',
        deleting: Boolean(object.metadata.deletionTimestamp),
        hasFinalizer: object.metadata.finalizers?.includes(sessionFinalizer) ?? false,
        status: object.status,
        ...o.inputs,
      }),
    // Starting is decided on the object as stored, not as cached: the cache may not show yet the
    // sessionId this process wrote a moment ago.
    decidedOnStored: new Set(['Start']),
    reobserveStored: true,
    handlers: {
      Start: async (action, ctx) => {
        const { spec } = ctx.object;
        let out: Awaited<ReturnType<typeof startSession>>;
        try {
          out = await startSession(deps.aws, ctx.observation.target, {
            applicationId: action.applicationId,
            executionRoleArn: spec.executionRoleArn,
            ...(spec.name ? { name: spec.name } : {}),
            ...(spec.idleTimeoutMinutes !== undefined ? { idleTimeoutMinutes: spec.idleTimeoutMinutes } : {}),
            ...(spec.sparkDefaults ? { sparkDefaults: spec.sparkDefaults } : {}),
            clientToken: action.clientToken,
            setting: action.setting,
          });
        } catch (e) {
          if (!(e instanceof AwsCallError) || e.failure.cause !== 'Conflict') throw e;
          // The token was used before with another request: a session may exist; never start another.
          const message = `StartSession refused clientToken ${action.clientToken}: ${e.failure.message}. A session was started for this object with other parameters (its key changed while starting); find it with aws emr-serverless list-sessions --application-id ${action.applicationId}`;
          ctx.record({
            type: 'Warning',
            reason: 'ClientTokenConflict',
            action: 'StartSession',
            note: message,
          });
          return { stalled: { reason: 'ClientTokenConflict', message } };
        }
        const keyText = keyLabel(action.setting);
        ctx.audit(
          'StartSession',
          {
            applicationId: out.applicationId,
            sessionId: out.sessionId,
            key: keyText,
            clientToken: action.clientToken,
          },
          out.requestId,
        );
        ctx.record({
          type: 'Normal',
          reason: 'SessionRequested',
          action: 'StartSession',
          note: `started session ${out.sessionId} on application ${out.applicationId} with disk key ${keyText}`,
        });
        return {
          status: {
            sessionId: out.sessionId,
            applicationId: out.applicationId,
            ...(out.arn ? { arn: out.arn } : {}),
            state: 'SUBMITTED',
            requestedAt: new Date(deps.now()).toISOString(),
            clientToken: action.clientToken,
          },
          mutated: true,
          progress: { reason: 'Submitted', message: `session ${out.sessionId} is SUBMITTED` },
        };
      },
      Terminate: async (action, ctx) => {
        const { target } = ctx.observation;
        try {
          const out = await terminateSession(deps.aws, target, action);
          ctx.audit('TerminateSession', { ...action, outcome: out.outcome }, out.requestId);
        } catch (e) {
          // It ended between the read and the call (EMR-012: AWS refuses to terminate an ended
          // session): nothing left to do, the next look releases the object.
          if (!(e instanceof AwsCallError) || e.failure.cause !== 'InvalidSpec') throw e;
          const now = await getSession(deps.aws, target, action);
          if (now && !now.ended) throw e;
          return { mutated: true };
        }
        ctx.record({
          type: 'Normal',
          reason: 'TerminateRequested',
          action: 'TerminateSession',
          note: `terminating session ${action.sessionId}: the object was deleted`,
        });
        return { mutated: true };
      },
    },
    subject: (object, _o, results) =>
      results.status.arn ?? object.status?.arn ?? `${object.metadata.namespace}/${object.metadata.name}`,
    prune: (conditions) => conditions,
    readiness: (stored, plan, results) => ({
      readyWhen: ['KeyUsable', 'SessionActive'],
      ready: {
        reason: 'SessionActive',
        message: `session ${stored.status?.sessionId ?? results.status.sessionId} is ${plan.status.state ?? stored.status?.state}`,
      },
      ...(plan.reconciling ? { inFlight: plan.reconciling } : {}),
    }),
    project: (stored, plan, _o, results) => {
      const status = { ...(stored.status ?? {}), ...plan.status, ...results.status };
      if (plan.dropKeyArn) delete status.keyArn;
      const { conditions: _c, observedGeneration: _g, ...rest } = status;
      return rest;
    },
  };
}

export function sessionReconciler(deps: SessionReconcilerDeps) {
  return executor(sessionKind(deps), deps, resync);
}
