// What the operator last read about each KMS key (DescribeKey, the rotation state, the key policy,
// the grant count), kept for a short time so that thousands of workloads on ten keys cost ten keys'
// worth of KMS reads, not thousands (KMS calls cost money and share one request quota per account).
//
// Guarantees:
// - An entry is served only while younger than the TTL; a read that fails is never cached.
// - `fresh: true` always goes to KMS and replaces the entry: callers use it right before they act
//   (a workload switch, an on-demand rotation), so safety decisions never rest on cached facts.
// - `invalidate(keyArn)` drops everything known about a key, under whatever reference it was read
//   (key id, ARN or alias). The operator calls it when a KmsKey object changes, and after every KMS
//   mutation it makes.
// - Concurrent reads of the same entry share one request (no thundering herd after expiry).
// - Bounded: at most `maxEntries`, the oldest dropped first.

import type { KMSClient } from '@aws-sdk/client-kms';
import type { AwsClients, AwsTarget } from '../aws/clients.ts';
import { countGrants, describeKey, getKeyPolicy, readRotation } from '../aws/kms.ts';
import type { KeyFacts, RotationFacts } from './key-facts.ts';

export interface KeyReadOptions {
  /** Read from KMS even when a young entry exists (and replace it). */
  fresh?: boolean;
}

export interface KeyReads {
  describe(target: AwsTarget, ref: string, options?: KeyReadOptions): Promise<KeyFacts | undefined>;
  rotation(target: AwsTarget, keyArn: string, options?: KeyReadOptions): Promise<RotationFacts>;
  policy(target: AwsTarget, keyArn: string, options?: KeyReadOptions): Promise<string>;
  grants(target: AwsTarget, keyArn: string, options?: KeyReadOptions): Promise<number>;
  /** Forgets every entry about the key `keyArnOrRef` names (by ARN, id or the reference read). */
  invalidate(keyArnOrRef: string): void;
}

export interface KeyCacheOptions {
  ttlMs: number;
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  at: number;
  value: Promise<unknown>;
  /** Every name the entry answers to: the reference read, and once known the key's ARN and id. */
  names: Set<string>;
}

type Kind = 'describe' | 'rotation' | 'policy' | 'grants';

/** Reads KMS through a TTL cache. `ttlMs: 0` turns caching off (every read goes to KMS). */
export function createKeyCache(aws: Pick<AwsClients, 'kms'>, options: KeyCacheOptions): KeyReads {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 10_000;
  const ttlMs = options.ttlMs;
  const entries = new Map<string, Entry>();
  const cacheKey = (kind: Kind, target: AwsTarget, ref: string) =>
    `${kind}\u0000${target.roleArn ?? ''}\u0000${target.region}\u0000${ref}`;

  function read<T>(
    kind: Kind,
    target: AwsTarget,
    ref: string,
    readOptions: KeyReadOptions | undefined,
    load: (kms: KMSClient) => Promise<T>,
    namesOf: (value: T) => string[] = () => [],
  ): Promise<T> {
    const k = cacheKey(kind, target, ref);
    const hit = entries.get(k);
    if (hit && !readOptions?.fresh && now() - hit.at < ttlMs) return hit.value as Promise<T>;
    const entry: Entry = { at: now(), value: Promise.resolve(), names: new Set([ref]) };
    const value = load(aws.kms(target)).then(
      (v) => {
        for (const n of namesOf(v)) entry.names.add(n);
        return v;
      },
      (e: unknown) => {
        // Failures are not remembered: the next caller asks KMS again.
        if (entries.get(k) === entry) entries.delete(k);
        throw e;
      },
    );
    entry.value = value;
    entries.delete(k);
    entries.set(k, entry);
    if (entries.size > maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest !== undefined) entries.delete(oldest);
    }
    return value;
  }

  return {
    describe: (target, ref, o) =>
      read(
        'describe',
        target,
        ref,
        o,
        (kms) => describeKey(kms, ref),
        (facts) => (facts ? [facts.arn, facts.keyId] : []),
      ),
    rotation: (target, keyArn, o) => read('rotation', target, keyArn, o, (kms) => readRotation(kms, keyArn)),
    policy: (target, keyArn, o) => read('policy', target, keyArn, o, (kms) => getKeyPolicy(kms, keyArn)),
    grants: (target, keyArn, o) => read('grants', target, keyArn, o, (kms) => countGrants(kms, keyArn)),
    invalidate: (keyArnOrRef) => {
      const keyId = /:key\/(.+)$/.exec(keyArnOrRef)?.[1];
      for (const [k, entry] of entries) {
        if (entry.names.has(keyArnOrRef) || (keyId !== undefined && entry.names.has(keyId)))
          entries.delete(k);
      }
    },
  };
}
