// Observing a KmsKey: the key as KMS describes it (DescribeKey and its rotation state, through the
// key cache unless fresh), and whether the namespace may use it at all. Writes nothing.

import type { KmsKeyObject } from '../api/resources.ts';
import { AwsCallError, classifyAwsError } from '../aws/errors.ts';
import type { RotationFacts } from '../keys/key-facts.ts';
import { keyRefusal } from '../keys/tenancy.ts';
import { type KmsKeyReconcilerDeps, targetOf } from './kmskey.ts';
import type { KmsKeyObservation } from './kmskey-plan.ts';

/** DescribeKey and the rotation state, through the key cache unless `fresh`. */
export async function readKey(
  deps: KmsKeyReconcilerDeps,
  object: KmsKeyObject,
  fresh: boolean,
): Promise<KmsKeyObservation> {
  const target = targetOf(deps, object);
  const identity = object.status?.keyArn ?? object.spec.keyId;
  try {
    if (!identity) return { kind: 'notCreated' };
    const facts = await deps.keys.describe(target, identity, fresh ? { maxAgeMs: 0 } : {});
    if (!facts) return { kind: 'notFound' };
    let rotation: RotationFacts | undefined;
    try {
      // The completed-rotation list changes with the key material: read again when it does.
      rotation = await deps.keys.rotation(target, facts.arn, {
        ...(fresh ? { maxAgeMs: 0 } : {}),
        ...(facts.currentKeyMaterialId ? { version: facts.currentKeyMaterialId } : {}),
      });
    } catch (e) {
      // Keys that cannot rotate (asymmetric, imported) answer UnsupportedOperation: not an error here.
      if (
        !(e instanceof AwsCallError) ||
        (e.failure.cause !== 'InvalidSpec' && e.failure.cause !== 'KeyUnusable')
      )
        throw e;
    }
    return { kind: 'found', key: facts, rotation };
  } catch (e) {
    return { kind: 'error', failure: e instanceof AwsCallError ? e.failure : classifyAwsError(e) };
  }
}

/**
 * Tenancy: a key this namespace may not use is refused before anything acts on it. A key still to
 * be created is checked as `key/*` in its Region and account, so only a rule allowing any key
 * there lets the namespace create one.
 */
export async function refusalOf(
  deps: KmsKeyReconcilerDeps,
  object: KmsKeyObject,
  observed: KmsKeyObservation,
) {
  if (!deps.tenancy) return undefined;
  const target = targetOf(deps, object);
  let arn = observed.kind === 'found' ? observed.key.arn : undefined;
  if (!arn && observed.kind === 'notCreated') {
    const who = await deps.callerIdentity(target).catch(() => undefined);
    if (who) arn = `arn:aws:kms:${target.region}:${who.accountId}:key/*`;
  }
  const message = arn ? keyRefusal(deps.tenancy, object.metadata.namespace ?? '', arn) : undefined;
  return message ? { reason: 'KeyNotAllowed', message } : undefined;
}
