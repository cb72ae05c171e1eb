// The operator's controllers, declared as data: one per root kind, with what each watches and how a
// change of a watched object maps to the root objects to reconcile again (src/runtime/wiring.ts
// wires them). The mappers are the fan-out rules, kept narrow on purpose: with a thousand workloads
// on a key, each of their status writes must not re-run the key's reconcile, and a KmsKey's progress
// counters concern no workload.

import type { KeyReferenceGrantObject, KeyReferencingObject, KmsKeyObject } from '../api/resources.ts';
import { referencedKmsKey } from '../api/resources.ts';
import { keyArnsOf } from '../keys/key-usage.ts';
import type { Reconcile } from '../runtime/controller.ts';
import { type KubeObject, objectKey } from '../runtime/kube.ts';
import type { Index } from '../runtime/watch.ts';
import {
  type ControllerDefinition,
  type Enqueue,
  type KindCache,
  type Watch,
  watch,
} from '../runtime/wiring.ts';
import { mayRunOnOldMaterial } from './key-progress.ts';

/**
 * Workload-triggered KmsKey reconciles wait this long, so a burst of progress costs one reconcile
 * (at 1,000 workloads on 10 keys a 1 s spacing cost 0.3 API writes per workload). The counts alone
 * are written less often still (progressWriteIntervalMs in key-progress.ts); the end of a move shows
 * this long after its last workload.
 */
export const progressCoalesceMs = 5000;

/** What the KmsKey reconcile reads from a workload: where it is, and how far onto the key it got. */
export function progressView(o: KeyReferencingObject): string {
  const status = (o.status ?? {}) as {
    current?: { keyArn?: string };
    keyArn?: string;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
  };
  const condition = (type: string) => {
    const c = status.conditions?.find((x) => x.type === type);
    return c ? [c.status, c.reason, c.message] : null;
  };
  return JSON.stringify([
    o.metadata.deletionTimestamp ?? null,
    o.metadata.finalizers?.length ?? 0,
    status.current?.keyArn ?? status.keyArn ?? null,
    condition('Ready'),
    condition('KeyUsable'),
    condition('MaterialCurrent'),
  ]);
}

/**
 * What depends on a KmsKey: its spec, identity, usability and current material (without
 * `material: false`: for workloads whose storage does not keep old material until a restart;
 * without `spec: false`: for the workloads, which read only its status, below).
 */
export function kmsKeyView(o: KmsKeyObject, options: { material?: boolean; spec?: boolean } = {}): string {
  const usable = o.status?.conditions?.find((c) => c.type === 'KeyUsable');
  return JSON.stringify([
    options.spec === false ? null : (o.metadata.generation ?? null),
    o.metadata.deletionTimestamp ?? null,
    o.status?.keyArn ?? null,
    options.material === false ? null : (o.status?.currentKeyMaterialId ?? null),
    usable ? [usable.status, usable.reason, usable.message] : null,
    // A Stalled KmsKey stalls its workloads (src/reconcile/key-resolution.ts).
    o.status?.conditions?.find((c) => c.type === 'Stalled')?.status ?? null,
  ]);
}

/**
 * KmsKey ← its users: a new workload re-runs its key at once (the key may have to grow its policy
 * for the workload's service before the workload can be adopted); one that moves between keys, or
 * whose progress onto its key changes, re-runs them after progressCoalesceMs: a fleet switch moves
 * hundreds of workloads a second, and each look at a key can write its counts.
 */
export function keyUsers(source: KindCache<KeyReferencingObject>): Watch {
  return watch(source, ({ object, previous }) => {
    const ref = referencedKmsKey(object);
    if (!previous) return ref ? [ref] : [];
    const before = referencedKmsKey(previous);
    if (before !== ref)
      return [before, ref]
        .filter((k): k is string => k !== undefined)
        .map((key) => ({ key, afterMs: progressCoalesceMs }));
    if (ref && progressView(previous) !== progressView(object))
      return [{ key: ref, afterMs: progressCoalesceMs }];
    return [];
  });
}

/**
 * KmsKey ← objects tied to its key by ARN (any namespace, however they name the key): when the
 * keys an object's status names change, the KmsKeys declaring those keys look again (coalesced), so
 * a deletion held for a user goes on once the user moved off the key.
 */
export function keyArnUsers(
  source: KindCache<KeyReferencingObject>,
  kmsKeysOf: (arn: string) => string[],
): Watch {
  return watch(source, ({ object, previous }) => {
    const now = keyArnsOf(object).map((u) => u.arn);
    const before = previous ? keyArnsOf(previous).map((u) => u.arn) : [];
    if (previous && now.join() === before.join()) return [];
    const arns = new Set([...now, ...before]);
    return [...arns].flatMap((arn) => kmsKeysOf(arn).map((key) => ({ key, afterMs: progressCoalesceMs })));
  });
}

/**
 * Workload ← KmsKey: a key that changes what its users depend on re-runs the users (`usersOf`).
 * They read its status, not its spec (key-resolution.ts: the key ARN, KeyUsable, Stalled): a spec
 * change reaches them once the key's own reconcile reports it there, and one that changes nothing
 * they read (a new on-demand rotation token, the rotation period, the deletion policy) re-runs
 * none of them. A new key material alone re-runs only the users that may still run on the old one
 * (`material`: all of them by default, none, or those a predicate names): a rotation needs no look
 * at a Keyspaces table or an EMR application (they pick the new material up without a call), nor at
 * a Flink application that reported it was not running (its next start uses the current material;
 * one started since is seen by its next look). At 10,000 workloads each look is an AWS read.
 */
export function keyChanges(
  source: KindCache<KmsKeyObject>,
  usersOf: (kmsKey: string) => Enqueue[],
  options: { material?: boolean | ((user: string) => boolean) } = {},
): Watch {
  const material = options.material ?? true;
  return watch(source, ({ object, previous }) => {
    const view = (o: KmsKeyObject) => kmsKeyView(o, { material: false, spec: false });
    if (!previous || view(previous) !== view(object)) return usersOf(objectKey(object));
    if (material === false || previous.status?.currentKeyMaterialId === object.status?.currentKeyMaterialId)
      return [];
    const users = usersOf(objectKey(object));
    return material === true ? users : users.filter((u) => material(typeof u === 'string' ? u : u.key));
  });
}

/** Workload ← KeyReferenceGrant: grants change rarely; every object is looked at again. */
export function grantChanges(source: KindCache<KeyReferenceGrantObject>, all: () => string[]): Watch {
  return watch(source, () => all());
}

export interface ControllerInputs {
  kmsKeys: KindCache<KmsKeyObject>;
  /** Every KmsKey, other shards' included (workloads may use them); `kmsKeys` when unsharded. */
  anyKmsKeys: KindCache<KmsKeyObject>;
  grants: KindCache<KeyReferenceGrantObject>;
  /**
   * The workload kinds, each with its cache, its index by referenced KmsKey, its reconcile and
   * whether it follows its key's material (default true; see keyChanges).
   */
  workloads: Array<{
    cache: KindCache<KeyReferencingObject>;
    byKey: Index;
    reconcile: Reconcile;
    followsMaterial?: boolean;
  }>;
  /** Every kind that references a KmsKey (workloads and job runs), for the KmsKey's own watches. */
  referencing: Array<KindCache<KeyReferencingObject>>;
  /** The KmsKeys (`namespace/name`) of this shard that declare a key ARN. */
  kmsKeysOf(arn: string): string[];
  jobRuns?: ApplicationChildInputs;
  /** EmrServerlessSessions, wired exactly as job runs. */
  sessions?: ApplicationChildInputs;
  kmsKeyReconcile: Reconcile;
  /** The Region of objects that name none (`--default-region`), for their quota scope. */
  defaultRegion?: string;
}

/** A kind whose objects run on an EmrServerlessApplication (spec.applicationRef): job runs, sessions. */
export interface ApplicationChildInputs {
  cache: KindCache<KeyReferencingObject>;
  byKey: Index;
  applications: { cache: KindCache<KeyReferencingObject>; byKey: Index };
  reconcile: Reconcile;
}

function applicationChildController(
  c: ControllerInputs,
  child: ApplicationChildInputs,
): ControllerDefinition {
  const { cache, byKey, applications, reconcile } = child;
  // Objects by the EmrServerlessApplication (`namespace/name`) whose key they inherit.
  const byApplication = cache.indexBy((o) => {
    const ref = (o.spec as { applicationRef?: { name: string } }).applicationRef;
    return ref ? [`${o.metadata.namespace}/${ref.name}`] : [];
  });
  return {
    name: cache.type.kind.toLowerCase(),
    root: cache as KindCache<never>,
    reconcile,
    watches: [
      // An application that appears or changes (its key) re-runs the objects that inherit from it.
      watch(applications.cache, ({ object }) => byApplication.lookup(objectKey(object))),
      // A KmsKey reaches them directly (spec.key) or through their application's key.
      keyChanges(c.anyKmsKeys, (k) => [
        ...byKey.lookup(k),
        ...applications.byKey.lookup(k).flatMap((a) => byApplication.lookup(a)),
      ]),
      grantChanges(c.grants, () => cache.keys()),
    ],
    quotaScope: (object) => quotaScope(object, c.defaultRegion),
  };
}

/**
 * The KmsKey controller's workers: twice `--concurrency`, at least 16. Keys are few and a look at one
 * is a few KMS reads and a status write, but a rotation asked for on every key at once (or a key
 * poll finding many changed) queued behind the workers: at 28 keys and 16 workers the second half
 * started its rotations about half a second after the first, and at the chart's 4 the seventh
 * batch several seconds after.
 */
export function kmsKeyWorkers(concurrency: number): number {
  return Math.max(16, 2 * concurrency);
}

/**
 * Which AWS request quota an object's reconcile spends, near enough to spread the work: AWS keeps
 * request quotas per account and Region (AWS-006), and the queue hands out keys spread across these
 * scopes. The scope is the Region the object names (`defaultRegion` when it names none) and, when it
 * names a role, the role's account (the ARN's fifth field). Job runs and sessions, which run in their
 * application's Region, count as the default Region's unless they name one.
 */
export function quotaScope(object: KubeObject, defaultRegion = ''): string {
  const spec = ((object as { spec?: unknown }).spec ?? {}) as { region?: unknown; roleArn?: unknown };
  const region = typeof spec.region === 'string' && spec.region !== '' ? spec.region : defaultRegion;
  const role = typeof spec.roleArn === 'string' ? spec.roleArn : '';
  const account = role === '' ? '' : role.split(':')[4] || role;
  return account === '' ? region : `${region}|${account}`;
}

/** The controllers, one per root kind. */
export function controllerDefinitions(c: ControllerInputs): ControllerDefinition[] {
  const scope = (object: KubeObject) => quotaScope(object, c.defaultRegion);
  const definitions: ControllerDefinition[] = [
    {
      name: 'kmskey',
      root: c.kmsKeys as KindCache<never>,
      reconcile: c.kmsKeyReconcile,
      watches: [...c.referencing.map(keyUsers), ...c.referencing.map((r) => keyArnUsers(r, c.kmsKeysOf))],
      workers: kmsKeyWorkers,
      quotaScope: scope,
    },
  ];
  for (const w of c.workloads) {
    definitions.push({
      name: w.cache.type.kind.toLowerCase(),
      root: w.cache as KindCache<never>,
      reconcile: w.reconcile,
      watches: [
        keyChanges(c.anyKmsKeys, (k) => w.byKey.lookup(k), {
          material: w.followsMaterial === false ? false : (user) => mayRunOnOldMaterial(w.cache.get(user)),
        }),
        grantChanges(c.grants, () => w.cache.keys()),
      ],
      quotaScope: scope,
    });
  }
  // Job runs and sessions: run on an application, on their own key or the application object's.
  if (c.jobRuns) definitions.push(applicationChildController(c, c.jobRuns));
  if (c.sessions) definitions.push(applicationChildController(c, c.sessions));
  return definitions;
}
