// What the operator last read about each KMS key (DescribeKey, the rotation state, the key policy,
// the grant count), kept for a short time so that thousands of workloads on ten keys cost ten keys'
// worth of KMS reads, not thousands (KMS calls cost money and share one request quota per account).
//
// Guarantees (besides those of src/runtime/ttl-memo.ts):
// - `fresh: true` reads KMS (sharing a read of the same key already under way) and replaces the
//   entry: callers use it right before they act (a workload switch), so a safety decision never
//   rests on cached facts. `maxAgeMs: 0` never shares: for exactly-once decisions (on-demand rotation).
// - `invalidate(keyArn)` drops everything known about a key, under whatever reference it was read
//   (key id, ARN or alias). The operator calls it when a KmsKey object changes, and after every KMS
//   mutation it makes.
// - Targets (Region, role) never share entries: what one role may read says nothing about another.

import type { AwsClients, AwsTarget } from '../aws/clients.ts';
import { countGrants, describeKey, getKeyPolicy, readRotation } from '../aws/kms.ts';
import { createTtlMemo } from '../runtime/ttl-memo.ts';
import type { KeyFacts, RotationFacts } from './key-facts.ts';

export interface KeyReadOptions {
  /**
   * Read from KMS, right before acting; a read of the same key already under way is shared, so a
   * burst of switches onto one key costs one read per round trip, not one per workload.
   */
  fresh?: boolean;
  /** Serve only an entry at most this old; 0 always reads KMS (exactly-once decisions). */
  maxAgeMs?: number;
}

export interface KeyReads {
  describe(target: AwsTarget, ref: string, options?: KeyReadOptions): Promise<KeyFacts | undefined>;
  rotation(target: AwsTarget, keyArn: string, options?: KeyReadOptions): Promise<RotationFacts>;
  policy(target: AwsTarget, keyArn: string, options?: KeyReadOptions): Promise<string>;
  grants(target: AwsTarget, keyArn: string, options?: KeyReadOptions): Promise<number>;
  /** Forgets every entry about the key `keyArnOrRef` names (by ARN, id or the reference read). */
  invalidate(keyArnOrRef: string): void;
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
  const memo = createTtlMemo(options);
  const age = (o: KeyReadOptions | undefined) =>
    o?.maxAgeMs !== undefined
      ? { maxAgeMs: o.maxAgeMs }
      : o?.fresh
        ? { maxAgeMs: 0, joinInFlight: true }
        : {};
  // An entry's key ends with the reference it was read by; its aliases are the key's ARN and id.
  const sep = '\u0000';
  const entryKey = (kind: string, target: AwsTarget, ref: string) =>
    [kind, target.roleArn ?? '', target.region, ref].join(sep);
  const refOf = (name: string) => name.slice(name.lastIndexOf(sep) + 1);
  return {
    describe: (target, ref, o) =>
      memo.remember(entryKey('describe', target, ref), () => describeKey(aws.kms(target), ref), {
        ...age(o),
        aliases: (facts) => (facts ? [facts.arn, facts.keyId] : []),
      }),
    rotation: (target, keyArn, o) =>
      memo.remember(
        entryKey('rotation', target, keyArn),
        () => readRotation(aws.kms(target), keyArn),
        age(o),
      ),
    policy: (target, keyArn, o) =>
      memo.remember(entryKey('policy', target, keyArn), () => getKeyPolicy(aws.kms(target), keyArn), age(o)),
    grants: (target, keyArn, o) =>
      memo.remember(entryKey('grants', target, keyArn), () => countGrants(aws.kms(target), keyArn), age(o)),
    invalidate: (keyArnOrRef) => {
      const keyId = /:key\/(.+)$/.exec(keyArnOrRef)?.[1];
      memo.forget((name) => {
        const ref = refOf(name);
        return ref === keyArnOrRef || (keyId !== undefined && ref === keyId);
      });
    },
  };
}
