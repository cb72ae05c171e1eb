// The one reconcile executor. Every kind (KmsKey, the three workloads, job runs) supplies the
// pieces that are its own: how to observe, a pure plan, a table of action handlers and a status
// projection. The executor owns the skeleton they share:
//
//   observe → plan → confirm (observe again, fuller, before acting; bounded) → decide one-shot
//   actions on the object as stored → act (abort checked before each action; a handler writes its
//   intent to status before its side effect) → audit + events → failure → outcome → one status
//   write → requeue.
//
// Guarantees:
// - No action runs once ctx.signal aborted (leadership lost, stopping): the reconcile ends with a
//   WaitingError and writes nothing more.
// - Actions run in plan order; the first one that fails ends the list. A failure AWS reported is
//   mapped once, by outcomeFor: stalled → Stalled=True and a TerminalError (no backoff retries);
//   transient → Reconciling=True (reason Retrying) and a TransientError (backoff). Anything that is
//   not an AWS failure is rethrown as it is, with no status write (the queue retries it); so is a
//   throttled first action, `quietThrottledRetries` times in a row (reason Throttled, no Event).
// - Status is written once at the end, only if it changed (and the kind does not hold the stored
//   one: a change in flight; nor is the only change in the kind's paced fields inside their wait,
//   which a look when the wait ends then writes), even when an action failed, from the object as
//   stored (recomputed after a conflict). Handlers may write earlier only through
//   ctx.recordNow or ctx.recordOutcomeNow (intent before side effect); the latter writes the status
//   the reconcile expects to end with, so an action whose answer adds nothing costs one write.
// - A reconcile starts from the object as this process last stored it while the cache still shows
//   the version that write replaced (ownWrites), never from an older one it knows is superseded.
// - Releasing the object (its finalizer removed while it is being deleted, or the object gone)
//   ends the reconcile at once: nothing more is read or written.
// - The controller decides requeues from what this returns or throws: a mutation looks again
//   soon; otherwise the plan's requeue, timed from the reconcile's start (a poll's interval is not
//   stretched by a slow look), with the resync covering settled objects.
//
// Never: looks at SDK error names (the adapters classify), retries an action itself, or writes
// status through any path but the status writer.

import type { Logger } from 'pino';
import type { AwsCallError } from '../aws/errors.ts';
import { AwsCallError as AwsCallErrorClass } from '../aws/errors.ts';
import { type Condition, conditionsByType, setCondition, withKstatus } from './conditions.ts';
import type { ReconcileContext, ReconcileResult } from './controller.ts';
import { TerminalError, TransientError, WaitingError } from './errors.ts';
import type { EventRecorder } from './events.ts';
import { addFinalizer, removeFinalizer } from './finalizers.ts';
import { isNotFound, type KubeClient, type KubeObject, type ResourceType } from './kube.ts';
import { type DesiredCondition, outcomeFor, type PlannedEvent, type PlanOutcome } from './outcome.ts';
import { sameAsJson, writeStatusIfChanged } from './status.ts';

/**
 * How many times in a row (the first attempt and the retries after it) an object's action throttled
 * through all of the SDK's attempts writes nothing (no status, no Event): at a fleet's scale a burst
 * above a quota throttles some calls that far, and each cost a Warning Event and two status writes.
 * The next time it is reported (Reconciling, reason Retrying, and a Warning Event).
 */
export const quietThrottledRetries = 3;

/** What every plan carries. Kinds add their own fields (status, lines...). */
export interface ExecutablePlan<A extends { type: string }> {
  actions: A[];
  conditions: DesiredCondition[];
  events: PlannedEvent[];
  outcome: PlanOutcome;
  requeueAfterMs: number;
}

/** An object with a status subresource. */
export type Reconciled = KubeObject & { status?: unknown };
type Status<O extends Reconciled> = NonNullable<O['status']>;
type Reason = { reason: string; message: string };

/** What a handler reports back. */
export interface ActionResult<S> {
  /** Status fields to merge into the final write. */
  status?: Partial<S>;
  /** The action changed AWS: look again soon to follow it. */
  mutated?: boolean;
  /** Look again this soon rather than after the usual transition wait (a change known to be quick). */
  followAfterMs?: number;
  /** Domain conditions this action decided (e.g. RotationCurrent=False after a refusal). */
  conditions?: DesiredCondition[];
  /** The action was refused in a way the handler dealt with; a person must act. Ends the list. */
  stalled?: Reason;
  /** The action cannot happen yet; look again after `retryAfterMs`. Ends the list. */
  deferred?: Reason & { retryAfterMs: number };
  /** Shown as Reconciling while the result settles (default: Progressing, when mutated). */
  progress?: Reason;
}

/** The results of every action of one reconcile, as the status projection sees them. */
export interface Results<S> {
  status: Partial<S>;
  conditions: DesiredCondition[];
  mutated: boolean;
  /** The soonest follow-up an action asked for. */
  followAfterMs?: number;
  /** The actions whose handlers returned (in order); a failed one is not among them. */
  completed: string[];
  stalled?: Reason;
  deferred?: Reason & { retryAfterMs: number };
  progress?: Reason;
  /** The AWS failure that ended the action list, with its outcome. */
  failure?: { action: string; error: AwsCallError; stalled: boolean; reason: string };
}

export interface ActionContext<O extends Reconciled, Obs = unknown> {
  /** The object as last stored (finalizer patches and intent writes replace it). */
  readonly object: O;
  /** The observation the plan was made on. */
  readonly observation: Obs;
  /** What the actions before this one did. */
  readonly results: Readonly<Results<Status<O>>>;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** Writes status now, before a side effect whose record a crash must not lose. */
  recordNow(patch: (stored: O) => Partial<Status<O>>, options?: { evenIfAborted?: boolean }): Promise<void>;
  /**
   * Writes now, before a side effect, the whole status this reconcile would end with if this action
   * returned `expected` (its intent, with the conditions and progress that go with it): when the
   * action's answer adds nothing, the final write has nothing left to say and is skipped.
   */
  recordOutcomeNow(expected: ActionResult<Status<O>>): Promise<void>;
  /** The audit record of an AWS mutation (structured log line; safety invariant 5). */
  audit(action: string, detail: Record<string, unknown>, requestId?: string): void;
  /** An Event on the object. */
  record(event: PlannedEvent): void;
}

export type ActionHandlers<O extends Reconciled, A extends { type: string }, P, Obs = unknown> = {
  [T in Exclude<A['type'], 'AddFinalizer' | 'RemoveFinalizer'>]: (
    action: Extract<A, { type: T }>,
    ctx: ActionContext<O, Obs>,
    plan: P,
  ) => Promise<ActionResult<Status<O>> | undefined>;
};

type Handler<O extends Reconciled, A, P, Obs> = (
  action: A,
  ctx: ActionContext<O, Obs>,
  plan: P,
) => Promise<ActionResult<Status<O>> | undefined>;

/** How kstatus reads this kind: which domain conditions make it Ready, and what Ready says. */
export interface Readiness {
  readyWhen: string[];
  ready: Reason;
  /** In flight for a reason of the kind's own (after failures, deferrals, the plan and progress). */
  inFlight?: Reason;
}

export interface KindDeps {
  kube: KubeClient;
  events: EventRecorder;
  now(): number;
}

/** A kind, as the executor drives it. `Obs` is everything `plan` needs besides the object. */
export interface ReconcilerKind<
  O extends Reconciled,
  Obs,
  A extends { type: string },
  P extends ExecutablePlan<A>,
> {
  type: ResourceType;
  finalizer: string;
  get(key: string): O | undefined;
  /** Nothing to read and nothing to write (a finished job run already recorded). */
  settled?(object: O): boolean;
  observe(object: O, ctx: ReconcileContext): Promise<Obs>;
  plan(object: O, observation: Obs): P;
  /**
   * Before acting on a plan made from a light observation: a fuller one to plan again on (fresh
   * reads, the API server's view, AWS asked again), or undefined to act on this one. Asked until
   * undefined; a kind that still asks for more after six rounds does not act (the reconcile waits).
   */
  confirm?(object: O, observation: Obs, plan: P, ctx: ReconcileContext): Promise<Obs | undefined>;
  /** Actions decided on the object as stored, never as cached (one-shot: repeating them is harm). */
  decidedOnStored?: ReadonlySet<A['type']>;
  /** A newer stored object needs a new observation, not only a new plan. */
  reobserveStored?: boolean;
  /** The Event recorded once the object is released (its finalizer removed while deleting). */
  released?: PlannedEvent;
  /**
   * Reads only the status needs, done once on the final observation. `sinceStatusWriteMs`: how long
   * ago this process last wrote the object's status (Infinity when it has not), so a read whose
   * result `paced` would hold anyway can be put off; `lookAgainIn(ms)` asks for the look that makes
   * it (the reconcile is requeued within `ms`).
   */
  complete?(
    object: O,
    observation: Obs,
    plan: P,
    ctx: ReconcileContext,
    written: { sinceStatusWriteMs: number; lookAgainIn(ms: number): void },
  ): Promise<Obs>;
  handlers: ActionHandlers<O, A, P, Obs>;
  /** Bookkeeping after an action failed in AWS (the failure itself is mapped by the executor). */
  onFailure?(
    action: A,
    error: AwsCallError,
    ctx: ActionContext<O, Obs>,
  ): Promise<Pick<ActionResult<Status<O>>, 'status' | 'conditions'> | undefined>;
  /** Work after the actions that never fails the reconcile (cache upkeep, published ConfigMaps). */
  afterActions?(
    object: O,
    observation: Obs,
    plan: P,
    results: Results<Status<O>>,
    ctx: ReconcileContext,
  ): Promise<void>;
  /** The audit subject: the AWS resource or key the actions act on. */
  subject(object: O, observation: Obs, results: Results<Status<O>>): string;
  /** Domain conditions to drop when the plan does not set them (a service has no such condition). */
  prune(conditions: Condition[], plan: P, object: O): Condition[];
  readiness(stored: O, plan: P, results: Results<Status<O>>): Readiness;
  /** The status without conditions and observedGeneration (the executor sets those). */
  project(stored: O, plan: P, observation: Obs, results: Results<Status<O>>): Status<O>;
  /**
   * The stored status stands although `next` differs from it (nothing is written): for a change in
   * flight whose stored record already says what a person or a tool needs until it ends.
   */
  holds?(stored: O, next: Status<O>, plan: P, results: Results<Status<O>>): boolean;
  /**
   * Status fields whose changes, when they are the only ones, may wait (counts that move all
   * through a change taking minutes): `wait` gets the stored and the new status and how long ago
   * this process last wrote the object's status (Infinity when it has not), and answers how many ms
   * the change waits (0: written now). While it waits the stored status stands and the reconcile
   * looks again when the wait ends. A change of any other field writes the whole status at once.
   */
  paced?: {
    fields: readonly string[];
    wait(stored: Status<O>, next: Status<O>, sinceWriteMs: number): number;
  };
  /** Requeue after a settled pass (default: the plan's). */
  settledRequeueMs?: number;
}

const maxConfirmations = 6;

/** A Reconcile for `kind`: the skeleton every kind shares. */
export function executor<O extends Reconciled, Obs, A extends { type: string }, P extends ExecutablePlan<A>>(
  kind: ReconcilerKind<O, Obs, A, P>,
  deps: KindDeps,
  options: { settledMs: number; transitioningMs: number },
) {
  const { type } = kind;
  const own = ownWrites<O>(deps.now);
  /** When this process last wrote each object's status, for `kind.paced` (insertion order, bounded). */
  const statusWrittenAt = new Map<string, number>();
  const maxStatusWrittenAt = 10_000;

  return async function reconcile(key: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const cached = kind.get(key);
    if (!cached || kind.settled?.(cached)) return {};
    const began = deps.now();
    let object: O = own.base(key, cached);
    /** The object as this process just stored it (a status write, a finalizer patch). */
    const stored = (next: O | undefined) => {
      if (next && next !== object) own.note(key, object, next);
      object = next ?? object;
    };

    // ---- observe, plan, confirm ----------------------------------------------------------------
    let observation = await kind.observe(object, ctx);
    let plan = kind.plan(object, observation);
    for (let round = 0; kind.confirm && plan.actions.length > 0; round++) {
      const fuller = await kind.confirm(object, observation, plan, ctx);
      if (!fuller) break;
      if (round >= maxConfirmations)
        throw new WaitingError(`${type.kind} ${key}: the observation did not settle before acting`, {
          reason: 'Confirming',
          retryAfterMs: options.transitioningMs,
        });
      observation = fuller;
      plan = kind.plan(object, observation);
    }
    // One-shot actions are decided on the object as stored: the cache may not yet show the status
    // this process wrote a moment ago, and acting on it would repeat the action.
    if (kind.decidedOnStored && plan.actions.some((a) => kind.decidedOnStored?.has(a.type))) {
      let stored: O;
      try {
        stored = await deps.kube.get<O>(type, refOf(object), { signal: ctx.signal });
      } catch (e) {
        if (isNotFound(e)) return {};
        throw e;
      }
      if (stored.metadata.resourceVersion !== object.metadata.resourceVersion) {
        object = stored;
        if (kind.reobserveStored) observation = await kind.observe(object, ctx);
        plan = kind.plan(object, observation);
      }
    }
    /** A read `complete` put off: the reconcile looks again within this long. */
    let putOffMs: number | undefined;
    if (kind.complete)
      observation = await kind.complete(object, observation, plan, ctx, {
        sinceStatusWriteMs: sinceWriteMs(key),
        lookAgainIn: (ms) => {
          putOffMs = Math.min(putOffMs ?? Infinity, Math.max(0, ms));
        },
      });
    if (plan.actions.length > 0)
      ctx.log.debug(
        { actions: plan.actions.map((a) => a.type), resourceVersion: object.metadata.resourceVersion },
        'planned',
      );

    // ---- act -------------------------------------------------------------------------------------
    const results: Results<Status<O>> = { status: {}, conditions: [], mutated: false, completed: [] };
    // The status the reconcile ends with, from the object as stored and what the actions did (`done`:
    // their results, or for an intent write those results as if the action under way had returned).
    const statusOf = (stored: O, done: Results<Status<O>>): O['status'] => {
      const stamp = { generation: object.metadata.generation, now: deps.now() };
      const generation = object.metadata.generation ?? 0;
      let conditions: Condition[] =
        ((stored.status as { conditions?: Condition[] } | undefined)?.conditions as
          | Condition[]
          | undefined) ?? [];
      for (const c of [...plan.conditions, ...done.conditions])
        conditions = setCondition(conditions, c, stamp);
      conditions = kind.prune(conditions, plan, object);
      const readiness = kind.readiness(stored, plan, done);
      const { stalled, reconciling } = kstatusOf(plan.outcome, done, readiness);
      conditions = withKstatus(
        conditions,
        {
          ...(stalled ? { stalled } : {}),
          ...(reconciling && !stalled ? { reconciling } : {}),
          readyWhen: readiness.readyWhen,
          ready: readiness.ready,
        },
        stamp,
      );
      return {
        ...kind.project(stored, plan, observation, done),
        observedGeneration: generation,
        conditions,
      } as O['status'];
    };
    /** How long a change of the paced fields waits, when it is the only change (else undefined). */
    let pacedMs: number | undefined;
    const compute = (stored: O) => {
      pacedMs = undefined;
      const next = statusOf(stored, results);
      if (stored.status === undefined) return next;
      if (kind.holds?.(stored, next as Status<O>, plan, results)) return stored.status;
      const wait = kind.paced && pacedWait(kind.paced, stored.status, next, key);
      if (wait) {
        pacedMs = wait;
        return stored.status;
      }
      return next;
    };
    const record = (event: PlannedEvent) => deps.events.record({ type, object }, event);
    const actionContext: ActionContext<O, Obs> = {
      get object() {
        return object;
      },
      observation,
      results,
      log: ctx.log,
      signal: ctx.signal,
      recordNow: async (patch, recordOptions = {}) => {
        const written = await writeStatusIfChanged<O>(
          { kube: deps.kube },
          type,
          object,
          (stored) => ({ ...(stored.status ?? {}), ...patch(stored) }) as O['status'],
          recordOptions.evenIfAborted ? {} : { signal: ctx.signal },
        );
        stored(written.object);
      },
      recordOutcomeNow: async (expected) => {
        const done: Results<Status<O>> = {
          ...results,
          status: { ...results.status },
          conditions: [...results.conditions],
          completed: [...results.completed],
        };
        merge(done, expected);
        const written = await writeStatusIfChanged<O>(
          { kube: deps.kube },
          type,
          object,
          (current) => statusOf(current, done),
          { signal: ctx.signal },
        );
        stored(written.object);
      },
      audit: (action, detail, requestId) => {
        const subject = kind.subject(object, observation, results);
        ctx.log.info(
          { audit: true, action, object: key, kind: type.kind, subject, requestId, ...detail },
          `${action} on ${subject}`,
        );
      },
      record,
    };

    for (const action of plan.actions) {
      if (ctx.signal.aborted)
        throw new WaitingError('leadership lost or stopping', { reason: 'Stopping', retryAfterMs: 1000 });
      try {
        if (action.type === 'AddFinalizer') {
          const added = await addFinalizer({ kube: deps.kube }, type, object, kind.finalizer, {
            signal: ctx.signal,
          });
          if (!added) return {};
          stored(added);
          continue;
        }
        if (action.type === 'RemoveFinalizer') {
          const removed = await removeFinalizer({ kube: deps.kube }, type, object, kind.finalizer, {
            signal: ctx.signal,
          });
          if (!removed || object.metadata.deletionTimestamp) {
            if (kind.released) record(kind.released);
            return {};
          }
          stored(removed);
          continue;
        }
        const handler = (kind.handlers as unknown as Record<string, Handler<O, A, P, Obs>>)[action.type];
        if (!handler) throw new Error(`${type.kind}: no handler for action ${action.type}`);
        const result = await handler(action, actionContext, plan);
        results.completed.push(action.type);
        if (result) merge(results, result);
        if (result?.stalled || result?.deferred) break;
      } catch (e) {
        if (!(e instanceof AwsCallErrorClass)) throw e;
        // Throttled through the SDK's attempts, as the first action of this reconcile: the last
        // attempt was refused before it acted (AWS-006), and whatever an earlier attempt did is
        // covered as for any failed call, by the intent written before it and the fresh read the
        // retry plans from. The first few times it is pacing, not news: the queue's backoff retries
        // it with no Warning Event and no status write (an intent written before the call stands,
        // and the retry finds it already stored). A throttle that persists is reported as any
        // failure, and so is one after another action of this reconcile acted (its results are
        // written with the failure).
        if (
          e.failure.cause === 'Throttled' &&
          ctx.retries < quietThrottledRetries &&
          results.completed.length === 0
        )
          throw new TransientError(failureText(e), { reason: 'Throttled', cause: e });
        const outcome = outcomeFor(e.failure, 'act');
        const message = `${action.type} failed: ${e.failure.code}: ${e.failure.message}`;
        record({ type: 'Warning', reason: `${action.type}Failed`, action: action.type, note: message });
        const extra = await kind.onFailure?.(action, e, actionContext);
        if (extra) merge(results, extra);
        results.failure = {
          action: action.type,
          error: e,
          stalled: outcome.kind === 'stalled',
          reason: outcome.reason,
        };
        break;
      }
    }
    if (kind.afterActions) await kind.afterActions(object, observation, plan, results, ctx);
    for (const e of plan.events) record(e);

    // ---- status: once, at the end -----------------------------------------------------------
    const written = await writeStatusIfChanged<O>({ kube: deps.kube }, type, object, compute, {
      signal: ctx.signal,
    });
    if (written.written) {
      if (kind.paced) {
        statusWrittenAt.delete(key);
        statusWrittenAt.set(key, deps.now());
        if (statusWrittenAt.size > maxStatusWrittenAt)
          statusWrittenAt.delete(statusWrittenAt.keys().next().value!);
      }
      // Which top-level status fields moved: what a write cost is for, when counting writes.
      if (ctx.log.isLevelEnabled('debug'))
        ctx.log.debug(
          { conflicts: written.conflicts, changed: changedFields(object, written.object) },
          'status written',
        );
      stored(written.object);
    }

    // ---- how the reconcile ends -------------------------------------------------------------
    const failure = results.failure;
    if (failure) {
      const message = failureText(failure.error);
      if (failure.stalled) throw new TerminalError(message, { reason: failure.reason, cause: failure.error });
      throw new TransientError(message, { reason: failure.reason, cause: failure.error });
    }
    if (results.deferred)
      throw new WaitingError(results.deferred.message, {
        reason: results.deferred.reason,
        retryAfterMs: results.deferred.retryAfterMs,
      });
    // A paced change not written yet is written at the look its wait ends in; a read put off is
    // made at the look asked for.
    const soonest = (r: ReconcileResult): ReconcileResult => {
      const within = Math.min(pacedMs ?? Infinity, putOffMs ?? Infinity);
      return within === Infinity ? r : { requeueAfterMs: Math.min(r.requeueAfterMs ?? Infinity, within) };
    };
    if (results.mutated)
      return soonest({
        requeueAfterMs: Math.min(results.followAfterMs ?? Infinity, options.transitioningMs),
      });
    // Settled: the controller's jittered resync decides; anything sooner is capped at it there.
    if (plan.requeueAfterMs >= options.settledMs) return soonest({});
    // A look the plan asks for at an interval (a poll: a rotation in progress twice a second) is
    // timed from this look's start, so a slow look (a busy process, a slow API server) does not
    // stretch the interval by its own length; at least a quarter of the interval apart.
    const elapsed = deps.now() - began;
    return soonest({
      requeueAfterMs: Math.max(Math.ceil(plan.requeueAfterMs / 4), plan.requeueAfterMs - elapsed),
    });
  };

  /** The wait of a change of paced fields, when they are all that changed in the status; else 0. */
  function pacedWait(
    paced: NonNullable<typeof kind.paced>,
    stored: O['status'],
    next: O['status'],
    key: string,
  ): number {
    // Compared as the status writer compares: the new status as JSON would carry it.
    const before = stored as Record<string, unknown>;
    const after = next as Record<string, unknown>;
    if (paced.fields.every((field) => sameAsJson(before[field], after[field]))) return 0;
    const unpaced = { ...after };
    for (const field of paced.fields) unpaced[field] = before[field];
    if (!sameAsJson(stored, unpaced)) return 0;
    return paced.wait(stored as Status<O>, next as Status<O>, sinceWriteMs(key));
  }

  /** How long ago this process last wrote `key`'s status (Infinity: not since it started, or not paced). */
  function sinceWriteMs(key: string): number {
    const writtenAt = statusWrittenAt.get(key);
    return writtenAt === undefined ? Infinity : deps.now() - writtenAt;
  }
}

/** The top-level status fields (conditions by type) that differ between two versions of an object. */
export function changedFields(before: Reconciled | undefined, after: Reconciled | undefined): string[] {
  const a = (before?.status ?? {}) as Record<string, unknown>;
  const b = (after?.status ?? {}) as Record<string, unknown>;
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (k === 'conditions') continue;
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) out.push(k);
  }
  const ca = conditionsByType(a['conditions'] as Condition[] | undefined);
  const cb = conditionsByType(b['conditions'] as Condition[] | undefined);
  for (const t of new Set([...ca.keys(), ...cb.keys()]))
    if (JSON.stringify(ca.get(t)) !== JSON.stringify(cb.get(t))) out.push(`conditions.${t}`);
  return out;
}

/** How long an object this process wrote is kept for the cache to catch up with (see ownWrites). */
export const ownWriteMs = 10_000;

/**
 * The objects this process stored last, kept until the cache shows them (at most ownWriteMs): a
 * reconcile that follows its own write before the watch has delivered it starts from what it wrote,
 * not from the version the write replaced (planning on that version, its status write would
 * conflict: a failed PUT and a GET; during a fleet switch a KmsKey's progress is written every
 * second or so, faster than a busy API server's watch delivers). resourceVersions are compared for
 * equality only (they are opaque): while the cache still shows the version this process's writes
 * replaced, nothing newer than the last write is known; any other version in the cache is newer
 * (the watch delivered the write, or a change after it) and wins.
 */
export function ownWrites<O extends KubeObject>(now: () => number) {
  const entries = new Map<string, { replaced: string | undefined; object: O; at: number }>();
  return {
    note(key: string, before: O, after: O): void {
      const previous = entries.get(key);
      const chained =
        previous && previous.object.metadata.resourceVersion === before.metadata.resourceVersion;
      entries.delete(key);
      const at = now();
      entries.set(key, {
        replaced: chained ? previous.replaced : before.metadata.resourceVersion,
        object: after,
        at,
      });
      // Oldest first (re-inserted on each write): drop the ones the cache has surely caught up with.
      for (const [k, e] of entries) {
        if (at - e.at <= ownWriteMs) break;
        entries.delete(k);
      }
    },
    base(key: string, cached: O): O {
      const e = entries.get(key);
      if (!e) return cached;
      const behind =
        now() - e.at <= ownWriteMs &&
        cached.metadata.uid === e.object.metadata.uid &&
        cached.metadata.resourceVersion === e.replaced;
      if (behind) return e.object;
      entries.delete(key);
      return cached;
    },
    size: () => entries.size,
  };
}

/** `Operation: Code: message`, as a failed call is reported in status and in the thrown error. */
function failureText(error: AwsCallError): string {
  return `${error.operation}: ${error.failure.code}: ${error.failure.message}`;
}

function refOf(object: KubeObject): { name: string; namespace: string } {
  return { name: object.metadata.name, namespace: object.metadata.namespace ?? '' };
}

function merge<S>(into: Results<S>, result: ActionResult<S>): void {
  if (result.status) Object.assign(into.status as object, result.status);
  if (result.conditions) into.conditions.push(...result.conditions);
  if (result.mutated) into.mutated = true;
  if (result.followAfterMs !== undefined)
    into.followAfterMs = Math.min(into.followAfterMs ?? Infinity, result.followAfterMs);
  if (result.stalled) into.stalled = result.stalled;
  if (result.deferred) into.deferred = result.deferred;
  if (result.progress) into.progress = result.progress;
}

/**
 * Stalled and Reconciling, in one order for every kind: a failure or refusal that needs a person,
 * then the plan's own stall; in flight: a failed action being retried, an action deferred, the
 * plan waiting, a mutation settling, the kind's own in-flight work.
 */
export function kstatusOf<S>(
  outcome: PlanOutcome,
  results: Results<S>,
  readiness: Pick<Readiness, 'inFlight'>,
): { stalled?: Reason; reconciling?: Reason } {
  const failure = results.failure;
  const failureMessage = failure ? failureText(failure.error) : '';
  const stalled =
    failure?.stalled === true
      ? { reason: failure.reason, message: failureMessage }
      : (results.stalled ??
        (outcome.kind === 'stalled' ? { reason: outcome.reason, message: outcome.message } : undefined));
  if (stalled) return { stalled };
  const reconciling = failure
    ? { reason: failure.reason, message: failure.error.message }
    : results.deferred
      ? { reason: results.deferred.reason, message: results.deferred.message }
      : outcome.kind === 'waiting'
        ? { reason: outcome.reason, message: outcome.message }
        : (results.progress ??
          (results.mutated
            ? { reason: 'Progressing', message: 'changes requested from AWS; checking they took effect' }
            : readiness.inFlight));
  return reconciling ? { reconciling } : {};
}
