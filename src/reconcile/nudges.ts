// What to look at again when AWS says something changed outside the operator (the key-state poll,
// the event queue): the KmsKey objects that hold a key and every object that depends on it; the
// object that manages a resource. Nudges only enqueue: the reconcile that follows reads AWS fresh
// and decides, so a duplicate, late or out-of-order signal costs one extra look, never a wrong
// action. Objects of other shards or unwatched namespaces are not in these caches and are not
// touched.

import type { KeyReferencingObject, KmsKeyObject } from '../api/resources.ts';
import { cmkResources } from '../api/resources.ts';
import type { AwsTarget } from '../aws/clients.ts';
import type { EventTarget } from '../events/parse.ts';
import { parseKeyArn } from '../keys/key-facts.ts';
import type { PolledKey } from '../keys/key-poll.ts';
import { keyArnsOf } from '../keys/key-usage.ts';
import type { ResourceType } from '../runtime/kube.ts';
import type { KindCache } from '../runtime/wiring.ts';

interface Index {
  lookup(value: string): string[];
}

export interface NudgeSources {
  /** This shard's KmsKey objects. */
  kmsKeys: KindCache<KmsKeyObject>;
  /** KmsKey keys by the key ARN in their status. */
  kmsKeysByArn: Index;
  referencing: Array<{
    type: ResourceType;
    cache: KindCache<KeyReferencingObject>;
    /** By the `namespace/name` of the KmsKey they reference. */
    byKey: Index;
    /** By the key ARNs their status ties them to. */
    byArn: Index;
    /** By the AWS resource ARN in their status. */
    byResourceArn: Index;
  }>;
  defaultRegion: string;
  enqueue(type: ResourceType, key: string): void;
}

/** A resource a CloudTrail event names, as precisely as the event allows (src/events/parse.ts). */
export type ResourceSignal = Omit<Extract<EventTarget, { kind: 'resource' }>, 'kind' | 'eventName'>;

const kindOfService: Record<ResourceSignal['service'], ResourceType> = {
  msf: cmkResources.flinkApplication,
  keyspaces: cmkResources.keyspacesTable,
  'emr-serverless': cmkResources.emrServerlessApplication,
};

/**
 * Whether a resource ARN is the one a signal names by name: the MSF application name, the Keyspaces
 * keyspace and table, or the EMR Serverless application id, in the signal's Region when it has one.
 */
export function resourceMatches(resourceArn: string, s: ResourceSignal): boolean {
  if (s.arn) return resourceArn === s.arn;
  const parts = resourceArn.split(':');
  if (s.region && parts[3] !== s.region) return false;
  const path = parts.slice(5).join(':');
  switch (s.service) {
    case 'msf':
      return s.name !== undefined && path === `application/${s.name}`;
    case 'keyspaces':
      return (
        s.keyspace !== undefined &&
        s.table !== undefined &&
        path.replace(/\/$/, '') === `/keyspace/${s.keyspace}/table/${s.table}`
      );
    case 'emr-serverless':
      return s.applicationId !== undefined && path === `/applications/${s.applicationId}`;
  }
}

export function createNudges(sources: NudgeSources) {
  const kmsKeyType = cmkResources.kmsKey;

  /** The KmsKeys of this shard that hold `ref` (a key ARN, a key id, or an alias name or ARN). */
  function holders(ref: string): KmsKeyObject[] {
    if (ref.startsWith('arn:') && ref.includes(':key/'))
      return sources.kmsKeysByArn
        .lookup(ref)
        .map((k) => sources.kmsKeys.get(k))
        .filter((k): k is KmsKeyObject => k !== undefined);
    const alias = aliasOf(ref);
    return sources.kmsKeys
      .list()
      .filter((k) =>
        alias
          ? k.spec.keyId === alias || k.spec.keyId?.endsWith(`:${alias}`) || k.spec.create?.alias === alias
          : k.status?.keyId === ref || k.spec.keyId === ref,
      );
  }

  return {
    /**
     * A key changed (state, policy, alias, rotation): its KmsKey objects, the objects that reference
     * them, and every object whose status ties it to the key. Returns how many were enqueued.
     */
    key(ref: string): number {
      const arns = new Set<string>();
      if (ref.startsWith('arn:') && ref.includes(':key/')) arns.add(ref);
      let n = 0;
      for (const k of holders(ref)) {
        sources.enqueue(kmsKeyType, `${k.metadata.namespace ?? ''}/${k.metadata.name}`);
        n++;
        if (k.status?.keyArn) arns.add(k.status.keyArn);
        for (const r of sources.referencing)
          for (const key of r.byKey.lookup(`${k.metadata.namespace ?? ''}/${k.metadata.name}`)) {
            sources.enqueue(r.type, key);
            n++;
          }
      }
      // An alias (or a key id) may also be written straight into a workload's spec.key.keyId.
      const alias = aliasOf(ref);
      for (const r of sources.referencing) {
        for (const arn of arns)
          for (const key of r.byArn.lookup(arn)) {
            sources.enqueue(r.type, key);
            n++;
          }
        if (alias || !ref.startsWith('arn:'))
          for (const o of r.cache.list()) {
            const keyId = (o.spec as { key?: { keyId?: string } }).key?.keyId;
            if (keyId !== undefined && (keyId === ref || (alias !== undefined && keyId.endsWith(alias)))) {
              sources.enqueue(r.type, `${o.metadata.namespace ?? ''}/${o.metadata.name}`);
              n++;
            }
          }
      }
      return n;
    },

    /** A resource changed outside the operator: the object that manages it. */
    resource(signal: ResourceSignal): number {
      const type = kindOfService[signal.service];
      const r = sources.referencing.find((x) => x.type.plural === type.plural);
      if (!r) return 0;
      const keys = signal.arn
        ? r.byResourceArn.lookup(signal.arn)
        : r.cache
            .list()
            .filter((o) => {
              const arn = (o.status as { resourceArn?: string } | undefined)?.resourceArn;
              return arn !== undefined && resourceMatches(arn, signal);
            })
            .map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`);
      for (const key of keys) sources.enqueue(r.type, key);
      return keys.length;
    },

    /**
     * The keys something depends on now: each KmsKey's key that objects reference, and each key an
     * object's status ties it to; read through the first holder's Region and role.
     */
    keysInUse(): PolledKey[] {
      const keys = new Map<string, PolledKey>();
      for (const k of sources.kmsKeys.list()) {
        const arn = k.status?.keyArn;
        if (!arn || keys.has(arn)) continue;
        const referenced = sources.referencing.some(
          (r) => r.byKey.lookup(`${k.metadata.namespace ?? ''}/${k.metadata.name}`).length > 0,
        );
        if (!referenced) continue;
        keys.set(arn, {
          arn,
          target: targetFor(arn, k, sources.defaultRegion),
          ...(k.status?.keyState
            ? {
                known: {
                  state: k.status.keyState,
                  ...(k.status.deletionDate ? { deletionDate: k.status.deletionDate } : {}),
                  ...(k.status.currentKeyMaterialId
                    ? { currentKeyMaterialId: k.status.currentKeyMaterialId }
                    : {}),
                },
              }
            : {}),
        });
      }
      for (const r of sources.referencing)
        for (const o of r.cache.list())
          for (const { arn } of keyArnsOf(o))
            if (!keys.has(arn))
              keys.set(arn, {
                arn,
                target: targetFor(arn, o, sources.defaultRegion),
              });
      return [...keys.values()];
    },
  };
}

/** `alias/x` from an alias name or alias ARN; undefined for anything else. */
function aliasOf(ref: string): string | undefined {
  return /(?:^|:)(alias\/.+)$/.exec(ref)?.[1];
}

/** Read a key in its own Region, through the role (and namespace) of the object that names it. */
function targetFor(arn: string, o: KmsKeyObject | KeyReferencingObject, defaultRegion: string): AwsTarget {
  const region = parseKeyArn(arn)?.region ?? defaultRegion;
  const roleArn = (o.spec as { roleArn?: string }).roleArn;
  return { region, ...(roleArn ? { roleArn, namespace: o.metadata.namespace ?? '' } : {}) };
}

export type Nudges = ReturnType<typeof createNudges>;
