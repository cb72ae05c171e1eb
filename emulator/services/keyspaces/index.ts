// The Amazon Keyspaces control-plane emulator (awsJson1_0, target KeyspacesService, SigV4 name
// `cassandra`). Contract: keyspaces and tables scoped by account+region; tables walk
// CREATING/UPDATING/DELETING -> ACTIVE/gone on the emulator timeline; a table on a customer managed
// key holds two KMS grants (one retired at deletion, one 42 days later), goes
// INACCESSIBLE_ENCRYPTION_CREDENTIALS while its key is unusable and is deleted after 7 days of that;
// at most 50 DDL operations run at once per account+region. Key policy decisions belong to KMS
// (world.kms.serviceUseDenied); this service never evaluates policies itself.
//
//   state.ts       the data model and store (scopes, keyspaces, tables, DDL count, key index)
//   rules.ts       constants, request validation and pure decisions with their rule ids
//   lifecycle.ts   grants and the timeline transitions (create, update, delete, lockout)
//   operations.ts  the request handlers
//   seed.ts        the `cassandra` seed section
// The key checks on CreateTable/UpdateTable are the shared chain in core/key-usable.ts, worded the
// Keyspaces way.
//
// Choices where AWS is UNCONFIRMED (docs/aws-behaviour.md), always the stricter reading:
// - kmsKeyIdentifier must be a key ARN in the caller's account and region; alias ARNs, bare key ids
//   and cross-account/cross-region keys are refused with ValidationException.
// - Every key problem (missing, not Enabled, not a symmetric customer managed key, KMS denies
//   Keyspaces, grant quota full) is a ValidationException, the way CQL reports "Invalid Request".
//   A full grant quota (KMS LimitExceededException) is a ValidationException too, not
//   ServiceQuotaExceeded: waiting does not fix it, so callers should not retry it blindly.
// - UpdateTable takes one setting per call; encryptionSpecification mixed with anything else is a
//   ValidationException; the only combination accepted is capacitySpecification with
//   autoScalingSpecification/replicaSpecifications.
// - Switching keys: two grants are created on the new key when UpdateTable is accepted; both grants
//   on the old key are retired when the update completes (old backups are re-wrapped, KS-007/008).
// - A CMK table whose key is unusable when CREATING finishes fails to create: it disappears and both
//   grants are retired (KS-021). An UPDATING table whose key is unusable at completion goes
//   INACCESSIBLE_ENCRYPTION_CREDENTIALS. Only ACTIVE tables accept UpdateTable.
// - INACCESSIBLE_ENCRYPTION_CREDENTIALS -> ACTIVE as soon as the key is Enabled again; the 7-day
//   countdown starts when the key change is seen and is cancelled on recovery.

import type { ServiceRuntime } from '../../core/service.ts';
import type { World } from '../../core/world.ts';
import { createTableLifecycle } from './lifecycle.ts';
import { keyspacesOperations } from './operations.ts';
import { seedKeyspaces } from './seed.ts';
import { createKeyspacesStore } from './state.ts';

export function createKeyspacesService(world: World): ServiceRuntime {
  const store = createKeyspacesStore(world);
  const life = createTableLifecycle(world, store);
  return {
    name: 'cassandra',
    protocol: 'awsJson1_0',
    targetPrefix: 'KeyspacesService',
    operations: keyspacesOperations(store, life),
    seed: (section) => seedKeyspaces(world, store, life, section),
    snapshot() {
      let keyspaces = 0;
      let tables = 0;
      const byStatus: Record<string, number> = {};
      for (const s of store.scopes.values()) {
        for (const ks of s.keyspaces.values()) {
          if (ks.system) continue;
          keyspaces++;
          for (const t of ks.tables.values()) {
            tables++;
            byStatus[t.status] = (byStatus[t.status] ?? 0) + 1;
          }
        }
      }
      return { keyspaces, tables, byStatus };
    },
  };
}
