// What the operator last read about each KMS key (DescribeKey, the rotation state, the key policy,
// the grant count), kept for a short time so that thousands of workloads on ten keys cost ten keys'
// worth of KMS reads, not thousands (KMS calls cost money and share one request quota per account).
//
// Guarantees (besides those of src/runtime/ttl-memo.ts):
// - `fresh: true` reads KMS (sharing a read of the same key already under way) and replaces the
//   entry: callers use it right before they act (a workload switch), so a safety decision never
//   rests on cached facts. With `freshSince`, a read begun at or after that moment serves too: the
//   switches of one wave share one read per key (src/reconcile/workload.ts decides the moment).
//   `maxAgeMs: 0` never shares: for exactly-once decisions (on-demand rotation).
// - A key described by another reference (an alias, a key id) is remembered under its ARN as well:
//   the next look by ARN is served from the same read.
// - `invalidate(keyArn, only?)` drops what is known about a key (every kind, or the kinds in `only`),
//   under whatever reference it was read (key id, ARN or alias). The operator calls it when a KmsKey
//   object changes, and after every KMS mutation it makes (after a rotation only: the description
//   and rotation state; a rotation leaves the policy and grants alone, KMS-009).
// - Targets (Region, role) never share entries: what one role may read says nothing about another.

import type { AwsClients, AwsTarget } from '../aws/clients.ts';
import {
  countGrants,
  describeKey,
  getKeyPolicy,
  listRecentRotations,
  readRotationStatus,
} from '../aws/kms.ts';
import { createTtlMemo } from '../runtime/ttl-memo.ts';
import type { KeyFacts, RotationFacts } from './key-facts.ts';

export interface KeyReadOptions {
  /**
   * Read from KMS, right before acting; a read of the same key already under way is shared, so a
   * burst of switches onto one key costs one read per round trip, not one per workload.
   */
  fresh?: boolean;
  /**
   * With `fresh`: a read begun at or after this moment (epoch ms) serves, finished or under way; a
   * read begun before it does not. Without it, `fresh` serves only a read still under way.
   */
  freshSince?: number;
  /** Serve only an entry at most this old; 0 always reads KMS (exactly-once decisions). */
  maxAgeMs?: number;
}

/**
 * What a slow-changing read depends on. The completed-rotation list changes only when the key
 * material does, the grant count only when the tables using the key do: given that, the entry is
 * kept until the version changes (or an hour passes), not just for the TTL.
 */
export interface KeyReadVersion {
  version?: string;
}

/** The kinds of read the cache keeps. */
export type KeyReadKind = 'describe' | 'rotation' | 'rotations' | 'policy' | 'grants';

export interface KeyReads {
  describe(target: AwsTarget, ref: string, options?: KeyReadOptions): Promise<KeyFacts | undefined>;
  /** Rotation status (TTL) and completed rotations (kept per `version`: the current key material). */
  rotation(
    target: AwsTarget,
    keyArn: string,
    options?: KeyReadOptions & KeyReadVersion,
  ): Promise<RotationFacts>;
  policy(target: AwsTarget, keyArn: string, options?: KeyReadOptions): Promise<string>;
  /** Grant count, kept per `version` (the tables using the key). */
  grants(target: AwsTarget, keyArn: string, options?: KeyReadOptions & KeyReadVersion): Promise<number>;
  /**
   * Forgets every entry about the key `keyArnOrRef` names (by ARN, id or the reference read); with
   * `only`, just those reads (e.g. `['describe', 'rotation']` when only its material changed).
   */
  invalidate(keyArnOrRef: string, only?: KeyReadKind[]): void;
}

/** Reads KMS through a TTL cache. `ttlMs: 0` turns caching off (every read goes to KMS). */
export function createKeyCache(
  aws: Pick<AwsClients, 'kms'>,
  options: {
    ttlMs: number;
    maxEntries?: number;
    now?: () => number;
  },
): KeyReads {
  const now = options.now ?? Date.now;
  const memo = createTtlMemo(options);
  // Versioned entries are replaced when what they depend on changes, so they may live long.
  const versioned = createTtlMemo({ ...options, ttlMs: Math.max(options.ttlMs, 60 * 60_000) });
  const memoFor = (o: KeyReadVersion | undefined) => (o?.version === undefined ? memo : versioned);
  const age = (o: KeyReadOptions | undefined) =>
    o?.maxAgeMs !== undefined
      ? { maxAgeMs: o.maxAgeMs }
      : o?.fresh
        ? // An entry's age counts from the moment its read began: younger than now - since began after it.
          {
            maxAgeMs: o.freshSince === undefined ? 0 : Math.max(0, now() - o.freshSince + 1),
            joinInFlight: true,
          }
        : {};
  // An entry's key ends with the reference it was read by; its aliases are the key's ARN and id.
  const sep = '\u0000';
  const entryKey = (kind: string, target: AwsTarget, ref: string) =>
    [kind, target.roleArn ?? '', target.region, ref].join(sep);
  const refOf = (name: string) => name.slice(name.lastIndexOf(sep) + 1);
  return {
    describe: async (target, ref, o) => {
      const aliases = (facts: KeyFacts | undefined) => (facts ? [facts.arn, facts.keyId] : []);
      let readNow = false;
      const facts = await memo.remember(
        entryKey('describe', target, ref),
        () => {
          readNow = true;
          return describeKey(aws.kms(target), ref);
        },
        { ...age(o), aliases },
      );
      // Read just now by another reference (an alias, a key id): the answer serves a look by ARN as
      // well (an answer served from the cache is not stored again: its age would be lost).
      if (readNow && facts && facts.arn !== ref)
        await memo.remember(entryKey('describe', target, facts.arn), async () => facts, {
          maxAgeMs: 0,
          aliases,
        });
      return facts;
    },
    rotation: async (target, keyArn, o) => {
      const status = memo.remember(
        entryKey('rotation', target, keyArn),
        () => readRotationStatus(aws.kms(target), keyArn),
        age(o),
      );
      const recent = memoFor(o).remember(
        entryKey(`rotations@${o?.version ?? ''}`, target, keyArn),
        () => listRecentRotations(aws.kms(target), keyArn),
        age(o),
      );
      // Both settle before either is looked at: a rejection left unawaited would end the process.
      const [rotationStatus, completed] = await Promise.all([status, recent]);
      return { ...rotationStatus, recent: completed };
    },
    policy: (target, keyArn, o) =>
      memo.remember(entryKey('policy', target, keyArn), () => getKeyPolicy(aws.kms(target), keyArn), age(o)),
    grants: (target, keyArn, o) =>
      memoFor(o).remember(
        entryKey(`grants@${o?.version ?? ''}`, target, keyArn),
        () => countGrants(aws.kms(target), keyArn),
        age(o),
      ),
    invalidate: (keyArnOrRef, only) => {
      const keyId = /:key\/(.+)$/.exec(keyArnOrRef)?.[1];
      // An entry's kind is its key's first part (`rotations@<version>` counts as `rotations`); a
      // bare name is the ARN or id a described key answers to.
      const kindOf = (name: string) =>
        (name.includes(sep) ? name.slice(0, name.indexOf(sep)).split('@')[0] : 'describe') as KeyReadKind;
      const about = (name: string) => {
        const ref = refOf(name);
        if (only && !only.includes(kindOf(name))) return false;
        return ref === keyArnOrRef || (keyId !== undefined && ref === keyId);
      };
      memo.forget(about);
      versioned.forget(about);
    },
  };
}
