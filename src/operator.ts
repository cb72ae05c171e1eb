// The operator process: informers (cache warm on every replica), one controller per root kind, the
// leader lease, health and metrics endpoints, and graceful shutdown.
//
// Guarantees:
// - No reconcile runs, so no AWS mutation and no status write happens, unless this process holds the
//   lease; each reconcile gets the term's AbortSignal and stops acting the moment leadership ends.
// - Losing leadership ends the process's acting life for good (`lostLeadership` resolves; the CLI
//   exits and Kubernetes restarts the pod, as controller-runtime does): a fresh process starts
//   from a clean queue and a fresh cache instead of reasoning about half-finished work.
// - SIGTERM/stop(): stop taking work, let in-flight reconciles finish (bounded), release the lease so
//   the other replica takes over at once, close watches and listeners.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import {
  cmkResources,
  type KeyReferenceGrantObject,
  type KeyReferencingObject,
  type KmsKeyObject,
  referencedKmsKey,
  referencingResources,
} from './api/resources.ts';
import { createAwsClients } from './aws/clients.ts';
import { callerIdentityCache } from './aws/identity.ts';
import { createKeyCache } from './keys/key-cache.ts';
import { referenceGranted as grantAllows } from './keys/reference-grants.ts';
import type { TenancyRules } from './keys/tenancy.ts';
import { type EmrApplicationObject, type JobRunObject, jobRunReconciler } from './reconcile/jobrun.ts';
import { isFinished } from './reconcile/jobrun-plan.ts';
import { kmsKeyReconciler } from './reconcile/kmskey.ts';
import {
  type PolicyPreflight,
  type WorkloadObject,
  workloadKinds,
  workloadReconciler,
} from './reconcile/workload.ts';
import { type Controller, createController } from './runtime/controller.ts';
import { createEventRecorder } from './runtime/events.ts';
import { type HealthEndpoints, startHealthEndpoints } from './runtime/health.ts';
import {
  createKubeClient,
  KubeApiError,
  type KubeObject,
  loadKubeConfig,
  objectKey,
  type ResourceType,
} from './runtime/kube.ts';
import { createLeaderElector, type LeaderElector } from './runtime/leader.ts';
import {
  createMetricsRegistry,
  prometheusClientMetrics,
  prometheusControllerMetrics,
  prometheusWorkQueueMetrics,
} from './runtime/metrics.ts';
import { createTtlMemo } from './runtime/ttl-memo.ts';
import { createInformer, type Index, type Informer, type InformerHandlers } from './runtime/watch.ts';
import { createWorkQueue, type WorkQueue } from './runtime/work-queue.ts';

export interface OperatorOptions {
  kubeconfig?: string;
  /** Namespaces to watch; every namespace when empty. */
  namespaces: string[];
  /**
   * Sharding by label: this process reconciles only cmk.io objects whose labels match (a
   * Kubernetes label selector, e.g. `cmk.io/shard=a`). KmsKeys of every shard stay readable, so a
   * workload may use a key another shard manages. Each shard needs its own Lease name.
   */
  labelSelector?: string;
  /** AWS credentials instead of the SDK's default chain (tests, tools). */
  awsCredentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  concurrency: number;
  resyncMs: number;
  healthAddress: string;
  metricsAddress: string;
  leaderElection: {
    enabled: boolean;
    namespace: string;
    name: string;
    /** Lease timing (defaults 15 s / 10 s / 2 s, as controller-runtime). */
    leaseDurationMs?: number;
    renewDeadlineMs?: number;
    retryPeriodMs?: number;
  };
  /** This process's identity in the lease, events and AWS sessions. */
  identity?: string;
  defaultRegion: string;
  clusterName: string;
  log: Logger;
  /** Key-policy pre-flight for workload switches (src/keys/preflight.ts). */
  policyPreflight?: PolicyPreflight;
  /** Per-namespace key and resource allow-lists (`--tenancy-config`). */
  tenancy?: TenancyRules;
  /**
   * How long KMS reads (DescribeKey, rotation, key policy, grant count) are reused across
   * reconciles. Default: 0.8 x resync, at most 5 minutes. Actions always re-read from KMS.
   */
  keyCacheTtlMs?: number;
}

/**
 * Whether a referencing object still uses its key: a job run that finished no longer does (its
 * disks are gone), so it neither holds the KmsKey's finalizer nor counts in its progress.
 */
function usesKey(o: KeyReferencingObject, type: ResourceType): boolean {
  if (type !== cmkResources.emrServerlessJobRun) return true;
  return !isFinished((o.status as { state?: string } | undefined)?.state);
}

/**
 * Whether an update is more than a status write (most often this operator's own): a new generation
 * (spec), or other metadata a reconcile reads (labels, annotations, finalizers, deletion). A status-only
 * update re-runs nothing: the reconcile that wrote it already said when to look again, and the
 * resync covers the rest (as controller-runtime's GenerationChangedPredicate does).
 */
function changedBeyondStatus(previous: KubeObject, o: KubeObject): boolean {
  const m = (x: KubeObject) =>
    JSON.stringify([
      x.metadata.generation ?? null,
      x.metadata.labels ?? null,
      x.metadata.annotations ?? null,
      x.metadata.finalizers ?? null,
      x.metadata.deletionTimestamp ?? null,
    ]);
  return m(previous) !== m(o);
}

/** Informer handlers that queue an object of the controller's own kind when it changes beyond status. */
function enqueueOnChange(queue: WorkQueue): InformerHandlers<KubeObject> {
  return {
    onAdd: (o) => queue.add(objectKey(o)),
    onUpdate: (previous, o) => {
      if (changedBeyondStatus(previous, o)) queue.add(objectKey(o));
    },
    onDelete: (o) => queue.add(objectKey(o)),
  };
}

/** Workload-triggered KmsKey reconciles wait this long, so a burst of progress costs one reconcile. */
const progressCoalesceMs = 1000;

/** What the KmsKey reconcile reads from a workload: where it is, and how far onto the key it got. */
function progressView(o: KeyReferencingObject): string {
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
    condition('MaterialCurrent'),
  ]);
}

/** What workloads read from a KmsKey: its spec, identity, usability and current material. */
function kmsKeyView(o: KmsKeyObject): string {
  const usable = o.status?.conditions?.find((c) => c.type === 'KeyUsable');
  return JSON.stringify([
    o.metadata.generation ?? null,
    o.metadata.deletionTimestamp ?? null,
    o.status?.keyArn ?? null,
    o.status?.currentKeyMaterialId ?? null,
    usable ? [usable.status, usable.reason, usable.message] : null,
  ]);
}

export interface RunningOperator {
  identity: string;
  health: HealthEndpoints;
  isLeader(): boolean;
  /** Resolves when this process lost a leadership term it held. */
  lostLeadership: Promise<string>;
  stop(): Promise<void>;
}

/** Informers of one kind across the watched namespaces, seen as one cache. */
interface KindCache<T extends KubeObject> {
  informers: Informer<T>[];
  get(key: string): T | undefined;
  indexBy(valuesOf: (o: T) => Iterable<string>): Index;
}

export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const log = options.log;
  const identity =
    options.identity ?? `${process.env['POD_NAME'] ?? hostname()}_${randomBytes(4).toString('hex')}`;
  const registry = createMetricsRegistry({ defaultMetrics: true });
  const clientMetrics = prometheusClientMetrics(registry);
  const kube = createKubeClient(loadKubeConfig(options.kubeconfig), {
    userAgent: 'cmk-operator',
    onResponse: clientMetrics.kubeResponse,
  });
  const aws = createAwsClients({
    sessionName: `cmk-operator-${identity}`.replace(/[^\w+=,.@-]/g, '-'),
    onCall: clientMetrics.awsCall,
    ...(options.awsCredentials ? { credentials: options.awsCredentials } : {}),
  });
  const events = createEventRecorder({ reportingInstance: identity }, { kube, log });
  const namespaces = options.namespaces.length > 0 ? options.namespaces : [undefined];

  /** A cache of `type` over the watched namespaces; `owned` restricts it to this shard's objects. */
  function cacheOf<T extends KubeObject>(type: ResourceType, owned = true): KindCache<T> {
    const labelSelector = owned ? options.labelSelector : undefined;
    const informers = namespaces.map((namespace) =>
      createInformer<T>(
        { type, ...(namespace ? { namespace } : {}), ...(labelSelector ? { labelSelector } : {}) },
        { kube, log: log.child({ informer: type.plural }) },
      ),
    );
    return {
      informers,
      get: (key) => {
        for (const i of informers) {
          const hit = i.get(key);
          if (hit) return hit;
        }
        return undefined;
      },
      indexBy: (valuesOf) => {
        const indexes = informers.map((i) => i.indexBy(valuesOf));
        return { lookup: (value) => indexes.flatMap((ix) => ix.lookup(value)) };
      },
    };
  }

  // The KmsKeys this process manages, and (when sharded) every KmsKey, for workloads to resolve.
  const kmsKeys = cacheOf<KmsKeyObject>(cmkResources.kmsKey);
  const anyKmsKeys = options.labelSelector ? cacheOf<KmsKeyObject>(cmkResources.kmsKey, false) : kmsKeys;
  const referencing = referencingResources.map((type) => {
    const cache = cacheOf<KeyReferencingObject>(type);
    const byKey = cache.indexBy((o) => {
      const ref = referencedKmsKey(o);
      return ref ? [ref] : [];
    });
    return { type, cache, byKey };
  });
  const grants = cacheOf<KeyReferenceGrantObject>(cmkResources.keyReferenceGrant);
  const allInformers = [
    ...kmsKeys.informers,
    ...(anyKmsKeys === kmsKeys ? [] : anyKmsKeys.informers),
    ...referencing.flatMap((r) => r.cache.informers),
    ...grants.informers,
  ];

  const queue = createWorkQueue({ metrics: prometheusWorkQueueMetrics(registry, 'kmskey') });
  for (const i of kmsKeys.informers) {
    i.addHandlers(enqueueOnChange(queue));
  }
  // A workload that starts or stops referencing a key, or whose progress onto it changes, re-runs
  // that key's reconcile (STYLE 16). Other status changes do not: with a thousand workloads on a key,
  // each of their status writes would otherwise re-run it. Progress is coalesced for a second.
  for (const r of referencing) {
    for (const i of r.cache.informers) {
      const enqueueRef = (o: KeyReferencingObject) => {
        const ref = referencedKmsKey(o);
        if (ref) queue.add(ref);
      };
      i.addHandlers({
        onAdd: enqueueRef,
        onUpdate: (previous, o) => {
          if (referencedKmsKey(previous) !== referencedKmsKey(o)) {
            enqueueRef(previous);
            enqueueRef(o);
          } else if (progressView(previous) !== progressView(o)) {
            const ref = referencedKmsKey(o);
            if (ref) queue.addAfter(ref, progressCoalesceMs);
          }
        },
        onDelete: enqueueRef,
      });
    }
  }

  // Every workload referencing a KmsKey, other shards' included, straight from the API server:
  // cluster-wide when RBAC allows it, else across the watched namespaces.
  const liveReferencesTo = async (key: string, signal: AbortSignal): Promise<KeyReferencingObject[]> => {
    const found: KeyReferencingObject[] = [];
    for (const type of referencingResources) {
      let items: KeyReferencingObject[];
      try {
        items = (await kube.list<KeyReferencingObject>(type, { signal })).items;
      } catch (e) {
        if (!(e instanceof KubeApiError && e.statusCode === 403) || options.namespaces.length === 0) throw e;
        items = [];
        for (const namespace of options.namespaces)
          items.push(...(await kube.list<KeyReferencingObject>(type, { namespace, signal })).items);
      }
      for (const o of items)
        if (referencedKmsKey(o) === key && usesKey(o, type)) found.push({ ...o, kind: o.kind ?? type.kind });
    }
    return found;
  };
  const callerIdentity = callerIdentityCache(aws);
  const keys = createKeyCache(aws, {
    ttlMs: options.keyCacheTtlMs ?? Math.min(5 * 60_000, Math.floor(options.resyncMs * 0.8)),
  });
  // Tags and MSF operation history of each resource: re-read whenever the resource changes (the
  // memo key carries its version) and before every action; otherwise they cost no steady-state read.
  const observeMemo = createTtlMemo({
    ttlMs: Math.max(60 * 60_000, 6 * options.resyncMs),
    maxEntries: 200_000,
  });
  const tenancy = options.tenancy ? { tenancy: options.tenancy } : {};
  const reconcile = kmsKeyReconciler({
    ...tenancy,
    kube,
    aws,
    keys,
    events,
    getKmsKey: (key) => kmsKeys.get(key),
    referencesTo: (key) =>
      referencing.flatMap((r) =>
        r.byKey
          .lookup(key)
          .map((k) => r.cache.get(k))
          .filter((o): o is KeyReferencingObject => o !== undefined && usesKey(o, r.type))
          .map((o) => ({ ...o, kind: o.kind ?? r.type.kind })),
      ),
    ...(options.labelSelector ? { liveReferencesTo } : {}),
    callerIdentity,
    defaultRegion: options.defaultRegion,
    clusterName: options.clusterName,
    now: Date.now,
  });
  const controllers: Controller[] = [
    createController(
      { name: 'kmskey', queue, reconcile, concurrency: options.concurrency, resyncMs: options.resyncMs },
      { log, metrics: prometheusControllerMetrics(registry, 'kmskey') },
    ),
  ];

  // ---- workload controllers: one per kind, one shared reconcile core ---------------------------
  const referenceGranted = (fromNamespace: string, keyNamespace: string, keyName: string) =>
    grants.informers.some((i) => grantAllows(i.list(), fromNamespace, keyNamespace, keyName));
  const workloadQueues: Array<{ enqueueReferencing(kmsKey: string): void; enqueueAll(): void }> = [];
  for (const wk of workloadKinds) {
    const r = referencing.find((x) => x.type === wk.type);
    if (!r) continue;
    const name = wk.type.kind.toLowerCase();
    const wq = createWorkQueue({ metrics: prometheusWorkQueueMetrics(registry, name) });
    for (const i of r.cache.informers) {
      i.addHandlers(enqueueOnChange(wq));
    }
    workloadQueues.push({
      enqueueReferencing: (kmsKey) => {
        for (const k of r.byKey.lookup(kmsKey)) wq.add(k);
      },
      enqueueAll: () => {
        for (const i of r.cache.informers) for (const k of i.keys()) wq.add(k);
      },
    });
    controllers.push(
      createController(
        {
          name,
          queue: wq,
          reconcile: workloadReconciler({
            ...tenancy,
            kube,
            aws,
            keys,
            observeMemo,
            events,
            kind: wk,
            getWorkload: (k) => r.cache.get(k) as WorkloadObject | undefined,
            getKmsKey: (k) => anyKmsKeys.get(k),
            referenceGranted,
            callerIdentity,
            ...(options.policyPreflight ? { policyPreflight: options.policyPreflight } : {}),
            defaultRegion: options.defaultRegion,
            clusterName: options.clusterName,
            now: Date.now,
          }),
          concurrency: options.concurrency,
          resyncMs: options.resyncMs,
        },
        { log, metrics: prometheusControllerMetrics(registry, name) },
      ),
    );
  }
  // ---- EMR Serverless job runs: their own controller, on the cache the KmsKey index already has --
  const jobRuns = referencing.find((x) => x.type === cmkResources.emrServerlessJobRun);
  const emrApplications = referencing.find((x) => x.type === cmkResources.emrServerlessApplication);
  if (jobRuns && emrApplications) {
    const name = cmkResources.emrServerlessJobRun.kind.toLowerCase();
    const jq = createWorkQueue({ metrics: prometheusWorkQueueMetrics(registry, name) });
    // Job runs by the EmrServerlessApplication (`namespace/name`) whose key they inherit.
    const byApplication = jobRuns.cache.indexBy((o) => {
      const ref = (o as JobRunObject).spec.applicationRef;
      return ref ? [`${o.metadata.namespace}/${ref.name}`] : [];
    });
    const enqueueOfApplication = (applicationKey: string) => {
      for (const k of byApplication.lookup(applicationKey)) jq.add(k);
    };
    for (const i of jobRuns.cache.informers) {
      i.addHandlers(enqueueOnChange(jq));
    }
    // An application that appears or changes its key re-runs the job runs that inherit from it.
    for (const i of emrApplications.cache.informers) {
      const onApplication = (o: KeyReferencingObject) => enqueueOfApplication(objectKey(o));
      i.addHandlers({ onAdd: onApplication, onUpdate: (_p, o) => onApplication(o), onDelete: onApplication });
    }
    workloadQueues.push({
      // A KmsKey reaches a job run directly (spec.key) or through its application's key.
      enqueueReferencing: (kmsKey) => {
        for (const k of jobRuns.byKey.lookup(kmsKey)) jq.add(k);
        for (const a of emrApplications.byKey.lookup(kmsKey)) enqueueOfApplication(a);
      },
      enqueueAll: () => {
        for (const i of jobRuns.cache.informers) for (const k of i.keys()) jq.add(k);
      },
    });
    controllers.push(
      createController(
        {
          name,
          queue: jq,
          reconcile: jobRunReconciler({
            ...tenancy,
            kube,
            aws,
            keys,
            events,
            type: cmkResources.emrServerlessJobRun,
            getJobRun: (k) => jobRuns.cache.get(k) as JobRunObject | undefined,
            getApplication: (k) => emrApplications.cache.get(k) as EmrApplicationObject | undefined,
            getKmsKey: (k) => anyKmsKeys.get(k),
            referenceGranted,
            callerIdentity,
            ...(options.policyPreflight ? { policyPreflight: options.policyPreflight } : {}),
            defaultRegion: options.defaultRegion,
            now: Date.now,
          }),
          concurrency: options.concurrency,
          resyncMs: options.resyncMs,
        },
        { log, metrics: prometheusControllerMetrics(registry, name) },
      ),
    );
  }

  // A KmsKey that changes what its workloads depend on (its spec, key ARN, usability, material)
  // re-runs every workload that references it, after dropping what the key cache knew about it.
  // Its progress counters and rotation bookkeeping change often and concern no workload. Keys of
  // other shards count too: this shard's workloads may use them.
  for (const i of anyKmsKeys.informers) {
    const fanOut = (o: KmsKeyObject) => {
      for (const q of workloadQueues) q.enqueueReferencing(objectKey(o));
    };
    const forget = (o: KmsKeyObject) => {
      if (o.status?.keyArn) keys.invalidate(o.status.keyArn);
    };
    i.addHandlers({
      onAdd: fanOut,
      onUpdate: (previous, o) => {
        if (kmsKeyView(previous) === kmsKeyView(o)) return;
        forget(previous);
        forget(o);
        fanOut(o);
      },
      onDelete: (o) => {
        forget(o);
        fanOut(o);
      },
    });
  }
  // Grants change rarely: re-run every workload (the cross-namespace check is in the reconcile).
  for (const i of grants.informers) {
    const all = () => {
      for (const q of workloadQueues) q.enqueueAll();
    };
    i.addHandlers({ onAdd: all, onUpdate: all, onDelete: all });
  }

  for (const i of allInformers) i.start();

  let leading = false;
  let resolveLost: (reason: string) => void = () => {};
  const lostLeadership = new Promise<string>((resolve) => {
    resolveLost = resolve;
  });
  const startControllers = (signal: AbortSignal) => {
    leading = true;
    void Promise.all(allInformers.map((i) => i.waitForSync(signal)))
      .then(() => {
        if (signal.aborted) return;
        log.info({ identity }, 'caches synced; reconciling');
        for (const c of controllers) c.start(signal);
      })
      .catch((e: unknown) => {
        if (!signal.aborted) log.error({ err: e }, 'cache sync failed');
      });
  };

  let elector: LeaderElector | undefined;
  if (options.leaderElection.enabled) {
    elector = createLeaderElector(
      {
        namespace: options.leaderElection.namespace,
        name: options.leaderElection.name,
        identity,
        ...(options.leaderElection.leaseDurationMs
          ? { leaseDurationMs: options.leaderElection.leaseDurationMs }
          : {}),
        ...(options.leaderElection.renewDeadlineMs
          ? { renewDeadlineMs: options.leaderElection.renewDeadlineMs }
          : {}),
        ...(options.leaderElection.retryPeriodMs
          ? { retryPeriodMs: options.leaderElection.retryPeriodMs }
          : {}),
        onStartedLeading: (signal) => {
          log.info({ identity }, 'became leader');
          startControllers(signal);
        },
        onStoppedLeading: (reason) => {
          if (!leading) return;
          leading = false;
          log.warn({ identity, reason }, 'leadership lost: stopping all reconciles');
          for (const c of controllers) void c.stop({ deadlineMs: 0 });
          resolveLost(reason);
        },
        onNewLeader: (holder) => log.info({ leader: holder }, 'leader observed'),
      },
      { kube, log },
    );
    elector.start();
  } else {
    startControllers(new AbortController().signal);
  }

  const health = await startHealthEndpoints(
    {
      healthAddress: options.healthAddress,
      metricsAddress: options.metricsAddress,
      registry,
      informers: () => allInformers,
    },
    { log },
  );

  let stopping: Promise<void> | undefined;
  return {
    identity,
    health,
    isLeader: () => (elector ? elector.isLeader() : true),
    lostLeadership,
    stop: () => {
      stopping ??= (async () => {
        log.info('stopping');
        leading = false;
        await Promise.all(controllers.map((c) => c.stop({ deadlineMs: 20_000 })));
        await elector?.stop();
        await events.flush();
        events.close();
        await Promise.all(allInformers.map((i) => i.stop()));
        aws.destroy();
        await health.close();
      })();
      return stopping;
    },
  };
}
