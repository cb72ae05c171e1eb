// `world.kms`: the only way the workload services (MSF, Keyspaces, EMR Serverless) reach KMS. Key
// lookups, KMS's verdict on a service using a key for a caller (evaluated by emulator/policy.ts the way
// the service's own KMS calls would be), service grants, and key-change notifications.

import type { KmsAccess, World } from '../../core/world.ts';
import { serviceUseDenied } from '../../policy.ts';
import { err, requestPrincipal } from './rules.ts';
import { type Grant, type KmsStore, view } from './state.ts';

export function kmsAccess(world: World, store: KmsStore): KmsAccess {
  return {
    findKey(ref, region, accountId) {
      const k = store.lookup(ref, region, accountId).key;
      return k ? view(k) : undefined;
    },
    serviceUseDenied(req) {
      const k = store.keyByRef(req.key.arn);
      if (!k) return `Key '${req.key.arn}' does not exist`;
      const p = requestPrincipal(req.caller);
      return serviceUseDenied(k.policy, {
        service: req.service,
        keyArn: k.arn,
        caller: {
          arn: req.caller.arn,
          accountId: req.caller.accountId,
          iamAllow: req.caller.iamAllow,
          roleArn: p.kind === 'aws' ? p.roleArn : undefined,
        },
        region: req.region,
        accountId: req.accountId,
        sourceArn: req.sourceArn,
        encryptionContext: req.encryptionContext,
      });
    },
    createServiceGrant(keyId, grant) {
      const k = store.keyByRef(keyId);
      if (!k) throw err.notFound(`Key '${keyId}' does not exist`);
      const g: Grant = {
        keyId: k.arn,
        grantId: store.hex(64),
        name: grant.name,
        granteeServicePrincipal: grant.granteeServicePrincipal,
        operations: [...grant.operations],
        creationDate: world.clock.now(),
        issuingAccount: `arn:aws:iam::${k.accountId}:root`,
        ...(grant.retiringServicePrincipal
          ? { retiringServicePrincipal: grant.retiringServicePrincipal }
          : {}),
        ...(grant.encryptionContextSubset
          ? { constraints: { EncryptionContextSubset: { ...grant.encryptionContextSubset } } }
          : {}),
      };
      store.storeGrant(k, g);
      return g.grantId;
    },
    retireServiceGrant(keyId, grantId) {
      const k = store.keyByRef(keyId);
      if (k) store.removeGrant(k, grantId);
    },
    grantCount(keyId) {
      return store.keyByRef(keyId)?.grants.size ?? 0;
    },
    onKeyChange(listener) {
      store.onKeyChange(listener);
    },
  };
}
