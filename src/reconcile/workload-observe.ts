// Observing a workload: what AWS reports for the resource, the key its spec resolves to, and the
// pre-flight verdict, gathered into the input of planWorkload. Shared by the workload reconciler and
// `kubectl cmk plan`, so the plugin shows exactly what the operator decides on.
//
// Writes nothing to AWS or Kubernetes; the only side effect is an Event (through deps.events) when
// the last operation is seen to have failed.

import { cmkResources, type KmsKeyObject } from '../api/resources.ts';
import type { KeyReference } from '../api/shared.ts';
import { adapterFor } from '../aws/adapters.ts';
import type { AwsClients, AwsTarget } from '../aws/clients.ts';
import { AwsCallError, classifyAwsError } from '../aws/errors.ts';
import type { CallerIdentity } from '../aws/identity.ts';
import type { RecentReads } from '../aws/recent-reads.ts';
import type { OperationStanding, WorkloadId, WorkloadService } from '../aws/workload.ts';
import type { KeyReads } from '../keys/key-cache.ts';
import { type TenancyRules, workloadRefusal } from '../keys/tenancy.ts';
import type { Condition } from '../runtime/conditions.ts';
import type { EventRecorder } from '../runtime/events.ts';
import type { KubeObject, ResourceType } from '../runtime/kube.ts';
import type { TtlMemo } from '../runtime/ttl-memo.ts';
import { type PolicyPreflight, preflightKey, resolveKey } from './key-resolution.ts';
import { observeMaterialSince } from './material-observe.ts';
import {
  keyLabel,
  type Preflight,
  type WorkloadObservation,
  type WorkloadPlanInput,
  type WorkloadSpecView,
  type WorkloadStatusView,
  workloadFinalizer,
} from './workload-plan.ts';

export interface WorkloadObject extends KubeObject {
  spec: WorkloadSpecView & {
    key: KeyReference;
    region?: string;
    roleArn?: string;
    applicationName?: string;
    keyspaceName?: string;
    tableName?: string;
    applicationId?: string;
    encryptionContext?: Record<string, string>;
    jobOverridesConfigMap?: { name: string };
  };
  status?: WorkloadStatusView & { conditions?: Condition[]; observedGeneration?: number } & Record<
      string,
      unknown
    >;
}

export interface WorkloadKind {
  type: ResourceType;
  service: WorkloadService;
  id(spec: WorkloadObject['spec']): WorkloadId;
}

/** The workload kinds the shared reconcile core serves, with how each names its AWS resource. */
export const workloadKinds: WorkloadKind[] = [
  {
    type: cmkResources.flinkApplication,
    service: 'ManagedFlink',
    id: (s) => ({ service: 'ManagedFlink', applicationName: s.applicationName ?? '' }),
  },
  {
    type: cmkResources.keyspacesTable,
    service: 'Keyspaces',
    id: (s) => ({ service: 'Keyspaces', keyspaceName: s.keyspaceName ?? '', tableName: s.tableName ?? '' }),
  },
  {
    type: cmkResources.emrServerlessApplication,
    service: 'EmrServerless',
    id: (s) => ({ service: 'EmrServerless', applicationId: s.applicationId ?? '' }),
  },
];

// Key resolution and pre-flight live in key-resolution.ts (shared with the job-run reconciler).
export type { PolicyPreflight };

/** What observeWorkload needs: the workload reconciler's dependencies without the Kubernetes writer. */
export interface WorkloadObserveDeps {
  aws: AwsClients;
  /** KMS reads, through the operator's key cache. */
  keys: KeyReads;
  /** Slow-changing AWS reads (tags, operation history) remembered between reconciles. */
  observeMemo?: TtlMemo;
  /** How old a listing a periodic light look shares may be (Managed Flink, MSF-027). */
  listingMaxAgeMs?: number;
  /** Where each read's encryption is recorded for the key usage inventory (src/aws/recent-reads.ts). */
  recentReads?: Pick<RecentReads, 'record' | 'forget'>;
  events: EventRecorder;
  kind: WorkloadKind;
  getKmsKey(key: string): KmsKeyObject | undefined;
  /** Whether workloads in `fromNamespace` may reference the KmsKey `namespace/name`. */
  referenceGranted(fromNamespace: string, kmsKeyNamespace: string, kmsKeyName: string): boolean;
  callerIdentity(target: AwsTarget): Promise<CallerIdentity>;
  /** Key-policy pre-flight; only the key-state chain runs when absent. */
  policyPreflight?: PolicyPreflight;
  defaultRegion: string;
  clusterName: string;
  /** The operator's per-namespace key and resource allow-lists. */
  tenancy?: TenancyRules;
  /**
   * AWS's answers to switches this process made whose intent alone is in status (the operation id,
   * a synchronous success), by answeredKey: the reconcile following the switch reads them here.
   */
  answered?: Map<string, LastOperation>;
  now(): number;
}

type LastOperation = NonNullable<WorkloadStatusView['lastOperation']>;

/**
 * Whether the workload's stored status says it is settled: Ready for its current generation, with
 * no change of this process in flight. Only then may a light look rest on a listing shared with
 * other looks (MSF-027): a listing a few seconds old may predate the end of a change, and a version
 * and status that did not move say nothing of a stop and start in between (a workload waiting for its
 * application to run on new key material, MaterialCurrent False, is not Ready, so it is read).
 */
export function settledAsStored(object: WorkloadObject, lastOperation: LastOperation | undefined): boolean {
  const status = object.status;
  return (
    lastOperation?.status !== 'InProgress' &&
    status?.observedGeneration === object.metadata.generation &&
    status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
  );
}

/** The key of a workload's entry in `answered`. */
export function answeredKey(object: WorkloadObject): string {
  return `${object.metadata.namespace ?? ''}/${object.metadata.name}/${object.metadata.uid ?? ''}`;
}

function isoNow(now: number): string {
  return new Date(now).toISOString();
}

/**
 * The AWS target (Region, role) of a workload spec; with a role, the object's namespace too (the
 * clients check it against the tenancy rules' role allow-list and tag the session with it).
 */
export function workloadTarget(
  deps: Pick<WorkloadObserveDeps, 'defaultRegion'>,
  spec: WorkloadObject['spec'],
  namespace?: string,
): AwsTarget {
  const region = spec.region ?? deps.defaultRegion;
  return { region, ...(spec.roleArn ? { roleArn: spec.roleArn, namespace: namespace ?? '' } : {}) };
}

export interface ObserveOptions {
  /**
   * The reconcile is about to act on what it sees: read the resource in full from AWS, bypassing
   * the observe memo. A reconcile plans on a light observation and, when the plan would change
   * anything in AWS, observes again this way first.
   */
  forActing?: boolean;
  /** Read the keys from KMS, not the key cache: the action rests on the key (a switch, a restart). */
  freshKeys?: boolean;
  /**
   * With `freshKeys`: a key read begun at or after this moment serves (the switches of one wave
   * share one read per key); without it only a read under way is shared.
   */
  freshSince?: number;
  /** The light observation this one repeats: its record of the last change is carried over. */
  previous?: WorkloadPlanInput;
  /**
   * With `forActing`: the resource's slow-changing facts (tags, MSF operation history) read at or
   * after this moment serve (otherwise: read again). A confirmation that re-reads the keys right
   * after this reconcile read the resource in full need not read them twice.
   */
  factsLoadedSince?: number;
  /**
   * A periodic look (a resync, poll or retry that came due), not one a change asked for (a watch
   * event, a nudge from the event queue or the key poll, a follow-up): a light one at a settled
   * workload may rest on a listing shared with other looks (MSF-027). A look someone's change asked
   * for never does: the listing may predate that change.
   */
  periodic?: boolean;
}

/**
 * The observe half of a reconcile: reads AWS (the resource, a finished operation), resolves the
 * desired key and runs the pre-flight; returns the input of planWorkload. Writes nothing to AWS or
 * Kubernetes; the only side effect is an Event (through deps.events) when the last operation is
 * seen to have failed.
 */
export async function observeWorkload(
  deps: WorkloadObserveDeps,
  object: WorkloadObject,
  options: ObserveOptions = {},
): Promise<WorkloadPlanInput> {
  const { kind } = deps;
  const adapter = adapterFor(kind.service);
  const spec = object.spec;
  const target = workloadTarget(deps, spec, object.metadata.namespace);
  const id = kind.id(spec);
  const claim = `${deps.clusterName}/${object.metadata.namespace}/${object.metadata.name}`;
  const now = deps.now();

  const fresh = options.freshKeys === true;
  const keyRead = fresh && options.freshSince !== undefined ? { freshSince: options.freshSince } : {};

  // The desired key does not depend on the resource: resolved while the resource is read.
  const resolving = resolveKey(deps, {
    namespace: object.metadata.namespace ?? '',
    key: spec.key,
    encryptionContext: spec.encryptionContext,
    target,
    fresh,
    ...keyRead,
  });
  // Its policy too, for the pre-flight below (served from the same read; a failure is its to report).
  if (deps.policyPreflight)
    void resolving.then(({ desired, facts }) => {
      if (desired.kind === 'resolved' && facts)
        deps.keys.policy(target, facts.arn, { fresh, ...keyRead }).catch(() => undefined);
    });

  // ---- observe -------------------------------------------------------------------------------
  let observed: WorkloadObservation;
  let lastOperation = object.status?.lastOperation;
  if (options.previous) lastOperation = options.previous.status?.lastOperation;
  // AWS's answer to the switch whose intent status records, if this process made it.
  const answered = deps.answered?.get(answeredKey(object));
  if (answered) {
    const same =
      lastOperation?.status === 'InProgress' &&
      lastOperation.startTime === answered.startTime &&
      lastOperation.toKey === answered.toKey;
    if (same) lastOperation = { ...lastOperation, ...answered };
    // Forgotten once used up (a synchronous answer) or once status has moved past it (the switch
    // ended, or a newer one began); a cache not yet showing the intent keeps it.
    const past =
      lastOperation?.startTime !== undefined &&
      (lastOperation.startTime > (answered.startTime ?? '') ||
        (lastOperation.startTime === answered.startTime && lastOperation.status !== 'InProgress'));
    if ((same && answered.status !== 'InProgress') || (!same && past))
      deps.answered?.delete(answeredKey(object));
  }
  try {
    const readAt = deps.now();
    const state = await adapter.observe(deps.aws, target, id, {
      ...(deps.observeMemo ? { memo: deps.observeMemo } : {}),
      forActing: options.forActing === true,
      ...(options.factsLoadedSince !== undefined ? { factsLoadedSince: options.factsLoadedSince } : {}),
      shareListing:
        options.periodic === true && options.forActing !== true && settledAsStored(object, lastOperation),
      now: deps.now,
      ...(deps.listingMaxAgeMs !== undefined ? { listingMaxAgeMs: deps.listingMaxAgeMs } : {}),
    });
    observed = state ? { kind: 'found', state } : { kind: 'notFound' };
    // What AWS answered to this look's own read, for the inventory (src/aws/recent-reads.ts). Not
    // an answer from a shared listing (state.readAt): its configuration is an earlier read's, which
    // the version vouches for; the inventory's full passes read such resources themselves.
    if (state && state.readAt === undefined) {
      // The version the inventory's listing shows (src/aws/inventory.ts): MSF's version id, EMR's
      // last-update time.
      const version =
        state.facts.service === 'ManagedFlink' && state.facts.applicationVersionId !== undefined
          ? String(state.facts.applicationVersionId)
          : state.facts.service === 'EmrServerless'
            ? state.facts.updatedAt
            : undefined;
      deps.recentReads?.record(state.resourceArn, state.encryption, readAt, version);
    }
    // Bring our record of the last change up to date from AWS.
    if (state && lastOperation?.status === 'InProgress') {
      let fromAws: OperationStanding | undefined;
      if (lastOperation.id && adapter.operation)
        fromAws = await adapter.operation(deps.aws, target, id, lastOperation.id, state);
      else if (state.settled && lastOperation.toKey === keyLabel(state.encryption))
        fromAws = { action: lastOperation.action, status: 'Succeeded' };
      if (fromAws && fromAws.status !== 'InProgress') {
        lastOperation = {
          ...lastOperation,
          status: fromAws.status,
          endTime: fromAws.endTime ?? isoNow(now),
          ...(fromAws.message ? { message: fromAws.message } : {}),
        };
        if (fromAws.status === 'Failed') {
          deps.events.record(
            { type: kind.type, object },
            {
              type: 'Warning',
              reason: 'SwitchFailed',
              action: lastOperation.action,
              note: `switch to ${lastOperation.toKey} failed: ${fromAws.message ?? 'no detail from AWS'}`,
            },
          );
        }
        // A success has no Event of its own: lastOperation and Ready record it, and the switch's
        // start was one (SwitchingKey); an Event per workload more costs a fleet switch N writes.
      }
    }
  } catch (e) {
    observed = { kind: 'error', failure: e instanceof AwsCallError ? e.failure : classifyAwsError(e) };
  }

  const { desired, facts } = await resolving;

  // Pre-flight whenever the desired key is a customer managed one: before a switch it guards the
  // switch (invariant 1); on the key it says whether the key can still serve the resource (a key
  // disabled, pending deletion, or whose policy no longer lets the service use it needs a person).
  // The key's state and policy come through the key cache: one read per key, not per workload.
  const caps = adapter.capabilities;
  let verdict: Preflight | undefined;
  if (
    desired.kind === 'resolved' &&
    desired.setting.type === 'CustomerManaged' &&
    observed.kind === 'found'
  ) {
    verdict = await preflightKey(deps, {
      service: kind.service,
      id,
      facts,
      setting: desired.setting,
      target,
      resourceArn: observed.state.resourceArn,
      fresh,
      ...keyRead,
    });
  }
  // Where the key being left must stay usable (Managed Flink, MSF-015: the switch snapshots the
  // running state under it, and restores from older snapshots still decrypt with it), it is checked
  // the same way.
  if (
    caps.outgoingKeyMustStayUsable &&
    desired.kind === 'resolved' &&
    observed.kind === 'found' &&
    observed.state.encryption.type === 'CustomerManaged' &&
    (desired.setting.type !== 'CustomerManaged' ||
      desired.setting.keyArn !== observed.state.encryption.keyArn) &&
    (verdict === undefined || verdict.ok)
  ) {
    const outgoing = observed.state.encryption;
    const outgoingFacts = await deps.keys
      .describe(target, outgoing.keyArn, { fresh, ...keyRead })
      .catch(() => undefined);
    const old = await preflightKey(deps, {
      service: kind.service,
      id,
      facts: outgoingFacts,
      setting: outgoing,
      target,
      resourceArn: observed.state.resourceArn,
      fresh,
      ...keyRead,
    });
    if (!old.ok) {
      verdict = {
        ok: false,
        reason: 'OutgoingKeyNotUsable',
        message: `the key being left (${outgoing.keyArn}) must stay usable for the switch (Flink snapshots the running state under it): ${old.message}`,
      };
    }
  }

  const refused =
    deps.tenancy && observed.kind === 'found'
      ? workloadRefusal(deps.tenancy, object.metadata.namespace ?? '', observed.state.resourceArn)
      : undefined;
  const refusal = refused ? { reason: 'ResourceNotAllowed', message: refused } : undefined;
  // Where running storage keeps its key material until a restart: when the current material became current.
  const materialSince = await observeMaterialSince(deps, {
    target,
    caps,
    desired,
    observed,
    status: object.status,
  });

  return {
    now,
    service: kind.service,
    capabilities: caps,
    spec,
    status: { ...object.status, ...(lastOperation ? { lastOperation } : {}) },
    deleting: Boolean(object.metadata.deletionTimestamp),
    hasFinalizer: object.metadata.finalizers?.includes(workloadFinalizer) ?? false,
    desired,
    preflight: verdict,
    observed,
    claim,
    ...(refusal ? { refusal } : {}),
    ...(materialSince ? { materialSince } : {}),
  };
}
