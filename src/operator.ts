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
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Logger } from 'pino';
import {
  cmkResources,
  type KeyReferenceGrantObject,
  type KeyReferencingObject,
  type KmsKeyObject,
  referencedKmsKey,
  referencingResources,
} from './api/resources.ts';
import { adapterFor } from './aws/adapters.ts';
import { type AwsClients, type AwsTarget, createAwsClients } from './aws/clients.ts';
import { callerIdentityCache } from './aws/identity.ts';
import { createRecentReads, type RecentReads } from './aws/recent-reads.ts';
import { listingMaxAgeMs } from './aws/region-listing.ts';
import { createEventIntake } from './events/intake.ts';
import { prometheusEventIntakeMetrics } from './events/metrics.ts';
import { createKeyInventory, type KeyInventory } from './keys/inventory.ts';
import { createKeyCache, type KeyReadKind, type KeyReads } from './keys/key-cache.ts';
import { createKeyPoll } from './keys/key-poll.ts';
import { keyArnsOf } from './keys/key-usage.ts';
import { rememberedPreflight } from './keys/preflight.ts';
import { referenceGranted as grantAllows } from './keys/reference-grants.ts';
import type { TenancyRules } from './keys/tenancy.ts';
import { controllerDefinitions, kmsKeyView } from './reconcile/controllers.ts';
import { type EmrApplicationObject, type JobRunObject, jobRunReconciler } from './reconcile/jobrun.ts';
import { cachedUsesOf, liveReferencesTo, liveUsesOf, referencesIn } from './reconcile/key-users.ts';
import { kmsKeyReconciler } from './reconcile/kmskey.ts';
import { keyCacheDrops } from './reconcile/kmskey-observe.ts';
import { createNudges } from './reconcile/nudges.ts';
import { registerResourceMetrics } from './reconcile/resource-metrics.ts';
import { type SessionObject, sessionReconciler } from './reconcile/session.ts';
import {
  type PolicyPreflight,
  specSeenClock,
  type WorkloadObject,
  workloadKinds,
  workloadReconciler,
} from './reconcile/workload.ts';
import { systemClock } from './runtime/clock.ts';
import type { Controller } from './runtime/controller.ts';
import { createEventRecorder, type EventRecorder } from './runtime/events.ts';
import { type HealthEndpoints, startHealthEndpoints } from './runtime/health.ts';
import {
  createKubeClient,
  type KubeClient,
  type KubeObject,
  loadKubeConfig,
  type ResourceType,
} from './runtime/kube.ts';
import { createLeaderElector, type LeaderElector } from './runtime/leader.ts';
import { createMemorySaver, type MemorySaverMode } from './runtime/memory-saver.ts';
import {
  createMetricsRegistry,
  prometheusClientMetrics,
  prometheusControllerMetrics,
  prometheusInventoryMetrics,
  prometheusKubeConnectionMetrics,
  prometheusProcessMetrics,
  prometheusSignalMetrics,
  prometheusWorkQueueMetrics,
} from './runtime/metrics.ts';
import { createStringPool, leanObject } from './runtime/trim.ts';
import { createTtlMemo } from './runtime/ttl-memo.ts';
import { createInformer, type Informer } from './runtime/watch.ts';
import { type KindCache, kindCache, wireController } from './runtime/wiring.ts';
import { createResyncGate } from './runtime/work-queue.ts';

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
  /** Connections the Kubernetes requests share at most (watches apart); default 32. */
  kubeConnections?: number;
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
  /**
   * V8's memory saver mode (src/runtime/memory-saver.ts): `auto` while no change is waiting or in
   * flight, `on` always. Process-wide, so left unset (off) by anything that runs operators side by
   * side in one process; `cmk-operator run` sets it (--memory-saver).
   */
  memorySaver?: MemorySaverMode;
  /** With `memorySaver: 'auto'`: the resident set to stay under (src/runtime/memory-saver.ts); 0: none. */
  memoryTargetBytes?: number;
  /** Key-policy pre-flight for workload switches (src/keys/preflight.ts). */
  policyPreflight?: PolicyPreflight;
  /** Per-namespace key and resource allow-lists (`--tenancy-config`). */
  tenancy?: TenancyRules;
  /**
   * How long KMS reads (DescribeKey, rotation, key policy, grant count) are reused across
   * reconciles. Default: 0.8 x resync, at most 5 minutes. Actions always re-read from KMS.
   */
  keyCacheTtlMs?: number;
  /**
   * Period of the key usage inventory's passes over the accounts and Regions the objects name
   * (src/keys/inventory.ts); 0 turns the inventory off (only Kubernetes then counts as a key's users).
   */
  inventoryPeriodMs?: number;
  /** AWS calls per second the inventory may make. Default 5. */
  inventoryCallsPerSecond?: number;
  /**
   * Period of the key-state poll (src/keys/key-poll.ts): every key something depends on is read
   * once per period and a change enqueues its holders and users. Default 30 s; 0 turns it off.
   */
  keyPollMs?: number;
  /** The SQS queue of CloudTrail events (src/events/intake.ts); off when unset. */
  eventQueue?: { url: string; region?: string };
}

export interface RunningOperator {
  identity: string;
  health: HealthEndpoints;
  isLeader(): boolean;
  /** Resolves when this process lost a leadership term it held. */
  lostLeadership: Promise<string>;
  stop(): Promise<void>;
}

export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const log = options.log;
  const identity =
    options.identity ?? `${process.env['POD_NAME'] ?? hostname()}_${randomBytes(4).toString('hex')}`;
  const registry = createMetricsRegistry({ defaultMetrics: true });
  const clientMetrics = prometheusClientMetrics(registry);
  const signalMetrics = prometheusSignalMetrics(registry);
  const kubeAccess = loadKubeConfig(options.kubeconfig);
  const kubeClientOptions = { userAgent: 'cmk-operator', onResponse: clientMetrics.kubeResponse };
  const kube = createKubeClient(kubeAccess, {
    ...kubeClientOptions,
    ...(options.kubeConnections ? { maxConnections: options.kubeConnections } : {}),
  });
  // The Lease on connections of its own: a leader whose requests all wait behind the reconciles'
  // (a slow API server, every --kube-connections busy) must still renew in time.
  const leaseKube = createKubeClient(kubeAccess, { ...kubeClientOptions, maxConnections: 2 });
  prometheusKubeConnectionMetrics(registry, kube.connections);
  const awsOptions = {
    sessionName: `cmk-operator-${identity}`.replace(/[^\w+=,.@-]/g, '-'),
    ...(options.awsCredentials ? { credentials: options.awsCredentials } : {}),
    // Role allow-lists, ExternalIds and the cmk.io/cluster + cmk.io/namespace session tags.
    ...(options.tenancy ? { tenancy: options.tenancy } : {}),
    clusterName: options.clusterName,
  };
  const aws = createAwsClients({ ...awsOptions, onCall: clientMetrics.awsCall });
  const events = createEventRecorder({ reportingInstance: identity }, { kube, log });
  const keys = createKeyCache(aws, {
    ttlMs: options.keyCacheTtlMs ?? keyCacheTtl(options.resyncMs, options.keyPollMs ?? 30_000),
  });

  const caches = watchedCaches(kube, options);
  // The workload reconciles' reads of their resources' encryption, which the inventory's passes
  // take instead of reading the same resources again (src/aws/recent-reads.ts).
  const recentReads = createRecentReads();
  const inventory = options.inventoryPeriodMs
    ? createKeyInventory(
        {
          // Its own clients, so its calls are counted apart (cmk_inventory_aws_calls_total).
          aws: createAwsClients({
            ...awsOptions,
            onCall: (service, operation, outcome) => {
              clientMetrics.awsCall(service, operation, outcome);
              signalMetrics.inventoryCalls.inc({ service, operation });
            },
          }),
          keys,
          recentReads,
          log: log.child({ component: 'inventory' }),
          now: Date.now,
        },
        {
          periodMs: options.inventoryPeriodMs,
          ...(options.inventoryCallsPerSecond ? { callsPerSecond: options.inventoryCallsPerSecond } : {}),
          targets: () => targetsOf(caches, options.defaultRegion),
        },
      )
    : undefined;
  const definitions = declareControllers(
    caches,
    { kube, aws, events, keys, recentReads },
    options,
    inventory,
  );
  // While any controller has a change waiting or in flight, at most 4 resyncs run across all of
  // them: at 10,000 objects the resyncs of one kind otherwise took the CPU a switch of another
  // kind needed (the switch did not converge). With nothing changing, resyncs run at full
  // concurrency, so a settled fleet is resynced as often as --resync says.
  const resyncGate = createResyncGate({ slotsWhileBusy: 4 });
  // V8's memory saver mode while nothing is changing, and while the resident set is above the
  // memory target (src/runtime/memory-saver.ts). A process-wide setting: only the process's own
  // operator (`cmk-operator run`) asks for it.
  let targetWarned = false;
  const memorySaver =
    options.memorySaver && options.memorySaver !== 'off'
      ? createMemorySaver({
          mode: options.memorySaver,
          clock: systemClock,
          ...(options.memoryTargetBytes ? { targetBytes: options.memoryTargetBytes } : {}),
          onChange: (on, why) =>
            log.debug(
              { memorySaver: on, why },
              on
                ? why === 'target'
                  ? 'above the memory target: memory saver on'
                  : 'settled: memory saver on'
                : why === 'target'
                  ? 'memory target let go or met: memory saver off'
                  : 'busy: memory saver off',
            ),
          onTargetUnreachable: (rssBytes) => {
            // Once at warn: a fleet this large needs a larger target; after that, at debug.
            const level = targetWarned ? 'debug' : 'warn';
            targetWarned = true;
            log[level](
              {
                rssMiB: Math.round(rssBytes / 2 ** 20),
                targetMiB: Math.round((options.memoryTargetBytes ?? 0) / 2 ** 20),
              },
              'the resident set stayed above --memory-target for a minute with the memory saver on: the operator holds more than that; raise --memory-target (trying again in 5 min)',
            );
          },
        })
      : undefined;
  // Changes count once this process reconciles: a standby's queues fill from its informers and are
  // never worked, and a standby is as settled as a process gets.
  let reconciling = false;
  if (memorySaver) resyncGate.onBusy((busy) => memorySaver.busy(busy && reconciling));
  const wiring = {
    log,
    concurrency: options.concurrency,
    resyncMs: options.resyncMs,
    queueMetrics: (name: string) => prometheusWorkQueueMetrics(registry, name),
    controllerMetrics: (name: string) => prometheusControllerMetrics(registry, name),
    resyncGate,
  };
  const controllers = definitions.map((d) => wireController(d, wiring));
  for (const i of caches.informers) i.start();
  const nudges = createNudges({
    ...caches,
    defaultRegion: options.defaultRegion,
    enqueue: (type, key) => {
      const i = definitions.findIndex((d) => d.root.type.plural === type.plural);
      if (i >= 0) controllers[i]!.queue.add(key);
    },
  });
  // The event queue: each CloudTrail event enqueues the objects it concerns (a key's cached reads
  // are dropped first, so the reconcile that follows reads KMS afresh).
  const eventQueue = options.eventQueue
    ? {
        ...options.eventQueue,
        client: new SQSClient({
          region: options.eventQueue.region ?? queueRegion(options.eventQueue.url) ?? options.defaultRegion,
          ...(options.awsCredentials ? { credentials: options.awsCredentials } : {}),
          // Longer than the 20-second long poll.
          requestHandler: { requestTimeout: 30_000 },
        }),
        metrics: prometheusEventIntakeMetrics(registry),
      }
    : undefined;
  const startEventIntake = (q: NonNullable<typeof eventQueue>, signal: AbortSignal) =>
    createEventIntake({
      client: q.client,
      queueUrl: q.url,
      log,
      signal,
      metrics: q.metrics,
      onTargets: (targets) => {
        for (const t of targets) {
          if (t.kind === 'key') {
            keys.invalidate(t.ref);
            nudges.key(t.ref);
          } else nudges.resource(t);
        }
      },
    });
  const keyPoll =
    (options.keyPollMs ?? 30_000) > 0
      ? createKeyPoll(
          { keys, log: log.child({ component: 'key-poll' }) },
          {
            periodMs: options.keyPollMs ?? 30_000,
            keys: nudges.keysInUse,
            onChange: (arn, _before, after) => {
              signalMetrics.keyPollChanges.inc();
              // A change this process already recorded (its own rotation, a state its KmsKeys
              // report) has re-run the key's users through their watches: nothing to nudge.
              if (recordedByKmsKeys(caches, arn, after)) return;
              nudges.key(arn);
            },
            onRead: (outcome) => signalMetrics.keyPollReads.inc({ outcome }),
          },
        )
      : undefined;

  // Work that runs only while leading, besides the controllers: the inventory's passes.
  const stopped = new AbortController();
  const leadership = runWhileLeading(
    {
      kube: leaseKube,
      log,
      identity,
      controllers,
      informers: caches.informers,
      onLeading: (signal) => {
        reconciling = true;
        memorySaver?.busy(resyncGate.busy());
        const term = AbortSignal.any([signal, stopped.signal]);
        void inventory?.start(term);
        void keyPoll?.start(term);
        if (eventQueue) startEventIntake(eventQueue, term);
      },
    },
    options,
  );
  // Per-object gauges read from the caches at scrape time (docs/metrics.md); leadership and readiness.
  registerResourceMetrics(registry, caches);
  if (inventory)
    prometheusInventoryMetrics(registry, () =>
      targetsOf(caches, options.defaultRegion).map((t) => ({
        region: t.region,
        unread: inventory.gaps(t).length,
        lastPassAt: inventory.lastPass(t),
      })),
    );
  prometheusProcessMetrics(registry, {
    lease: options.leaderElection.name,
    isLeader: leadership.isLeader,
    ready: () => caches.informers.every((i) => i.hasSynced()),
    ...(memorySaver ? { memorySaver: memorySaver.active } : {}),
  });
  const health = await startHealthEndpoints(
    {
      healthAddress: options.healthAddress,
      metricsAddress: options.metricsAddress,
      registry,
      informers: () => caches.informers,
    },
    { log },
  );

  let stopping: Promise<void> | undefined;
  return {
    identity,
    health,
    isLeader: leadership.isLeader,
    lostLeadership: leadership.lost,
    stop: () => {
      stopping ??= (async () => {
        log.info('stopping');
        stopped.abort();
        memorySaver?.stop();
        await leadership.stop(() => Promise.all(controllers.map((c) => c.stop({ deadlineMs: 20_000 }))));
        await events.flush();
        events.close();
        await Promise.all(caches.informers.map((i) => i.stop()));
        aws.destroy();
        eventQueue?.client.destroy();
        kube.close();
        leaseKube.close();
        await health.close();
      })();
      return stopping;
    },
  };
}

/** The informer caches the controllers read, over the watched namespaces (and this shard). */
function watchedCaches(kube: KubeClient, options: OperatorOptions) {
  const namespaces = options.namespaces.length > 0 ? options.namespaces : [undefined];
  // Every cache keeps objects lean and shares their repeated strings (src/runtime/trim.ts).
  const transform = leanObject(createStringPool());
  /** A cache of `type`; `owned` restricts it to this shard's objects. */
  function cacheOf<T extends KubeObject>(type: ResourceType, owned = true): KindCache<T> {
    const labelSelector = owned ? options.labelSelector : undefined;
    const informers = namespaces.map((namespace) =>
      createInformer<T>(
        { type, transform, ...(namespace ? { namespace } : {}), ...(labelSelector ? { labelSelector } : {}) },
        { kube, log: options.log.child({ informer: type.plural }) },
      ),
    );
    return kindCache(type, informers);
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
    const byArn = cache.indexBy((o) => keyArnsOf(o).map((u) => u.arn));
    const byResourceArn = cache.indexBy((o) => {
      const arn = (o.status as { resourceArn?: string } | undefined)?.resourceArn;
      return arn ? [arn] : [];
    });
    return { type, cache, byKey, byArn, byResourceArn };
  });
  const kmsKeysByArn = anyKmsKeys.indexBy((o) => (o.status?.keyArn ? [o.status.keyArn] : []));
  const grants = cacheOf<KeyReferenceGrantObject>(cmkResources.keyReferenceGrant);
  const informers = [
    ...kmsKeys.informers,
    ...(anyKmsKeys === kmsKeys ? [] : anyKmsKeys.informers),
    ...referencing.flatMap((r) => r.cache.informers),
    ...grants.informers,
  ];
  const ofKind = (type: ResourceType) => referencing.find((r) => r.type === type);
  return { kmsKeys, anyKmsKeys, kmsKeysByArn, referencing, grants, informers, ofKind };
}

/** The controllers with their reconcilers' dependencies: one per root kind. */
function declareControllers(
  caches: ReturnType<typeof watchedCaches>,
  clients: {
    kube: KubeClient;
    aws: AwsClients;
    events: EventRecorder;
    keys: KeyReads;
    recentReads: RecentReads;
  },
  options: OperatorOptions,
  inventory: KeyInventory | undefined,
) {
  const { kmsKeys, anyKmsKeys, kmsKeysByArn, referencing, grants, ofKind } = caches;
  const { kube, keys, recentReads } = clients;
  // Tags and MSF operation history of each resource: re-read whenever the resource changes (the
  // memo key carries its version) and before every action; otherwise they cost no steady-state read.
  const observeMemo = createTtlMemo({
    ttlMs: Math.max(60 * 60_000, 6 * options.resyncMs),
    maxEntries: 200_000,
  });
  const shared = {
    ...clients,
    ...(options.tenancy ? { tenancy: options.tenancy } : {}),
    callerIdentity: callerIdentityCache(clients.aws),
    defaultRegion: options.defaultRegion,
    now: Date.now,
  };
  const workloadShared = {
    ...shared,
    getKmsKey: (k: string) => anyKmsKeys.get(k),
    referenceGranted: (fromNamespace: string, keyNamespace: string, keyName: string) =>
      grantAllows(grants.list(), fromNamespace, keyNamespace, keyName),
    ...(options.policyPreflight ? { policyPreflight: rememberedPreflight(options.policyPreflight) } : {}),
  };

  // A KmsKey that changes what its workloads depend on (its spec, key ARN, usability, material)
  // drops what the key cache knew about the key before its workloads re-run (the controllers'
  // watches, attached after this). Keys of other shards count too: this shard's workloads use them.
  // This shard's own status writes drop only what they make suspect (keyCacheDrops): one that
  // records what this process has just read drops nothing, since those reads are the cache.
  const forget = (o: KmsKeyObject, only?: KeyReadKind[]) => {
    if (o.status?.keyArn) keys.invalidate(o.status.keyArn, only);
  };
  for (const i of anyKmsKeys.informers) {
    i.addHandlers({
      onUpdate: (previous, o) => {
        if (kmsKeyView(previous) === kmsKeyView(o)) return;
        const ours = kmsKeys.get(`${o.metadata.namespace ?? ''}/${o.metadata.name}`) !== undefined;
        const drops = ours ? keyCacheDrops(previous, o) : 'all';
        if (!drops) return;
        const only = drops === 'all' ? undefined : drops;
        forget(previous, only);
        forget(o, only);
      },
      onDelete: (o) => forget(o),
    });
  }

  const jobRuns = ofKind(cmkResources.emrServerlessJobRun);
  const sessions = ofKind(cmkResources.emrServerlessSession);
  const emrApplications = ofKind(cmkResources.emrServerlessApplication);
  return controllerDefinitions({
    defaultRegion: options.defaultRegion,
    kmsKeys,
    anyKmsKeys,
    grants,
    referencing: referencing.map((r) => r.cache),
    kmsKeysOf: (arn) => kmsKeysByArn.lookup(arn).filter((k) => kmsKeys.get(k) !== undefined),
    kmsKeyReconcile: kmsKeyReconciler({
      ...shared,
      clusterName: options.clusterName,
      getKmsKey: (key) => kmsKeys.get(key),
      referencesTo: (key) => referencesIn(referencing, key),
      // Uses of the key's ARN in any namespace, however the objects name it; every KmsKey declaring it.
      ...(inventory ? { inventory } : {}),
      managerOf: (resourceArn) => managerOf(referencing, resourceArn),
      usesOfKey: (arn, live) =>
        live && options.labelSelector
          ? liveUsesOf(kube, options.namespaces, arn, live)
          : cachedUsesOf(referencing, arn),
      declarationsOf: (arn) =>
        kmsKeysByArn
          .lookup(arn)
          .map((k) => anyKmsKeys.get(k))
          .filter((k): k is KmsKeyObject => k !== undefined),
      // A sharded cache does not see every workload: ask the API server before letting a key go.
      ...(options.labelSelector
        ? {
            liveReferencesTo: (key: string, signal: AbortSignal) =>
              liveReferencesTo(kube, options.namespaces, key, signal),
          }
        : {}),
    }),
    workloads: workloadKinds.flatMap((kind) => {
      const r = ofKind(kind.type);
      if (!r) return [];
      const reconcile = workloadReconciler({
        ...workloadShared,
        observeMemo,
        recentReads,
        // A resync wave's looks at settled Managed Flink applications share a listing (MSF-027).
        listingMaxAgeMs: listingMaxAgeMs(options.resyncMs),
        // A switch the spec asks for was decided when this process saw that spec: the key read
        // guarding it must be younger (invariant 1).
        specSeenAt: specSeenClock(r.cache.informers, Date.now),
        kind,
        clusterName: options.clusterName,
        getWorkload: (k) => r.cache.get(k) as WorkloadObject | undefined,
      });
      // Only storage that keeps old material until a restart (Flink) cares about a rotation.
      const followsMaterial = adapterFor(kind.service).capabilities.keepsMaterialUntilRestart;
      return [{ cache: r.cache, byKey: r.byKey, reconcile, followsMaterial }];
    }),
    ...(jobRuns && emrApplications
      ? {
          jobRuns: {
            cache: jobRuns.cache,
            byKey: jobRuns.byKey,
            applications: { cache: emrApplications.cache, byKey: emrApplications.byKey },
            reconcile: jobRunReconciler({
              ...workloadShared,
              type: cmkResources.emrServerlessJobRun,
              getJobRun: (k) => jobRuns.cache.get(k) as JobRunObject | undefined,
              getApplication: (k) => emrApplications.cache.get(k) as EmrApplicationObject | undefined,
            }),
          },
        }
      : {}),
    ...(sessions && emrApplications
      ? {
          sessions: {
            cache: sessions.cache,
            byKey: sessions.byKey,
            applications: { cache: emrApplications.cache, byKey: emrApplications.byKey },
            reconcile: sessionReconciler({
              ...workloadShared,
              type: cmkResources.emrServerlessSession,
              getSession: (k) => sessions.cache.get(k) as SessionObject | undefined,
              getApplication: (k) => emrApplications.cache.get(k) as EmrApplicationObject | undefined,
            }),
          },
        }
      : {}),
  });
}

/**
 * Whether every KmsKey declaring the key already reports what the key poll has just read (its
 * state, deletion date and material), so its users were re-run when that status was written.
 */
export function recordedByKmsKeys(
  caches: Pick<ReturnType<typeof watchedCaches>, 'kmsKeysByArn' | 'anyKmsKeys'>,
  arn: string,
  after: { state: string; deletionDate?: string; currentKeyMaterialId?: string } | undefined,
): boolean {
  if (!after) return false;
  const declaring = caches.kmsKeysByArn.lookup(arn).map((k) => caches.anyKmsKeys.get(k));
  return (
    declaring.length > 0 &&
    declaring.every(
      (k) =>
        k?.status?.keyState === after.state &&
        (k.status.deletionDate ?? undefined) === after.deletionDate &&
        (after.currentKeyMaterialId === undefined ||
          k.status.currentKeyMaterialId === after.currentKeyMaterialId),
    )
  );
}

/**
 * How long the key cache serves a read. Without the key poll, a little under a resync, so each
 * resync reads each key once and notices what changed outside Kubernetes. With it, the poll reads
 * every key in use each period (and refreshes the entry), so the rest (policy, rotation state) may
 * live four resyncs: KMS calls per key stay under two per resync, the poll's included. Five
 * minutes at most either way; actions never use it (they read fresh).
 */
export function keyCacheTtl(resyncMs: number, keyPollMs: number): number {
  return Math.min(5 * 60_000, keyPollMs > 0 ? 4 * resyncMs : Math.floor(resyncMs * 0.8));
}

/** The accounts and Regions the objects name (Region and role), for the inventory's passes. */
function targetsOf(caches: ReturnType<typeof watchedCaches>, defaultRegion: string): AwsTarget[] {
  const seen = new Map<string, AwsTarget>();
  // A role is assumed for a namespace: checked against its allow-list and tagged with it.
  // Called at every scrape, over every object: a target is built only for a key not seen yet.
  const add = (spec: { region?: string; roleArn?: string } | undefined, namespace = '') => {
    const region = spec?.region ?? defaultRegion;
    const key = spec?.roleArn ? `${region}|${spec.roleArn}|${namespace}` : region;
    if (seen.has(key)) return;
    seen.set(key, { region, ...(spec?.roleArn ? { roleArn: spec.roleArn, namespace } : {}) });
  };
  add(undefined);
  for (const k of caches.kmsKeys.list()) add(k.spec, k.metadata.namespace);
  for (const r of caches.referencing)
    for (const o of r.cache.list())
      add(o.spec as { region?: string; roleArn?: string }, o.metadata.namespace);
  return [...seen.values()];
}

/** The object of this cluster (this shard) that manages an AWS resource, as `Kind namespace/name`. */
function managerOf(
  referencing: ReturnType<typeof watchedCaches>['referencing'],
  resourceArn: string,
): string | undefined {
  for (const r of referencing) {
    const key = r.byResourceArn.lookup(resourceArn)[0];
    if (key) return `${r.type.kind} ${key}`;
  }
  return undefined;
}

/**
 * Runs the controllers only while this process holds the lease (or always, without leader
 * election): they start once every cache synced, with the term's signal, and stop the moment the
 * term ends; a lost term is final for this process.
 */
function runWhileLeading(
  parts: {
    kube: KubeClient;
    log: Logger;
    identity: string;
    controllers: Controller[];
    informers: Informer<KubeObject>[];
    /** Starts leader-only work besides the controllers, with the term's signal. */
    onLeading?(signal: AbortSignal): void;
  },
  options: OperatorOptions,
) {
  const { kube, log, identity, controllers, informers } = parts;
  let leading = false;
  let resolveLost: (reason: string) => void = () => {};
  const lost = new Promise<string>((resolve) => {
    resolveLost = resolve;
  });
  const startControllers = (signal: AbortSignal) => {
    leading = true;
    void Promise.all(informers.map((i) => i.waitForSync(signal)))
      .then(() => {
        if (signal.aborted) return;
        log.info({ identity }, 'caches synced; reconciling');
        for (const c of controllers) c.start(signal);
        parts.onLeading?.(signal);
      })
      .catch((e: unknown) => {
        if (!signal.aborted) log.error({ err: e }, 'cache sync failed');
      });
  };

  let elector: LeaderElector | undefined;
  const election = options.leaderElection;
  if (election.enabled) {
    elector = createLeaderElector(
      {
        namespace: election.namespace,
        name: election.name,
        identity,
        ...(election.leaseDurationMs ? { leaseDurationMs: election.leaseDurationMs } : {}),
        ...(election.renewDeadlineMs ? { renewDeadlineMs: election.renewDeadlineMs } : {}),
        ...(election.retryPeriodMs ? { retryPeriodMs: election.retryPeriodMs } : {}),
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
  return {
    lost,
    isLeader: () => (elector ? elector.isLeader() : true),
    /** Stops the controllers (`drain`), then releases the lease so the other replica takes over at once. */
    stop: async (drain: () => Promise<unknown>) => {
      leading = false;
      await drain();
      await elector?.stop();
    },
  };
}

/** The Region in an SQS queue URL (`https://sqs.<region>.amazonaws.com/...`), if it names one. */
export function queueRegion(url: string): string | undefined {
  return /^https:\/\/sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\//.exec(url)?.[1];
}
